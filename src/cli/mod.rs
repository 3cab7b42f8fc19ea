//! The `perpbot` command line, as a library entry point: the `perpbot` binary calls
//! [`main_with`] with the built-in strategies, and a plugin binary calls it with its own
//! strategies registered beside them — same commands, same config files.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     let mut registry = perpbot::strategies::builtin_registry();
//!     // registry.register("my_strategy", |params| Ok(Box::new(MyStrategy::new(params)?)));
//!     perpbot::cli::main_with(registry)
//! }
//! ```
//!
//! (This module is the binary's front end, so it reports errors with `anyhow` like `main.rs`
//! would; the rest of the library uses typed `thiserror` errors.)

pub mod backtest;
pub mod check;
pub mod delegate;
pub mod emergency;
pub mod exit;
pub mod keygen;
pub mod kill;
pub mod kyan;
pub mod kyan_venue;
pub mod run;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tracing::{info, warn};

use crate::clock::{Clock, parse_duration};
use crate::config::{Config, VenueKind};
use crate::outln;
use crate::strategy::StrategyRegistry;
use crate::venue::paper::{PaperVenue, RandomWalkSource};
use crate::venue::{Venue, VenueSession};

/// The default config, also embedded so `perpbot run` works from any directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/sim.toml";
const EMBEDDED_DEFAULT_CONFIG: &str = include_str!("../../config/sim.toml");

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// perpbot — automated trading on perpetual-futures exchanges.
#[derive(Debug, Parser)]
#[command(name = "perpbot", version, about, after_help = exit::HELP)]
pub struct Cli {
    /// Log format.
    #[arg(long, value_enum, default_value = "pretty", global = true)]
    pub log_format: LogFormat,
    /// Log filter (e.g. `info`, `perpbot=debug`); RUST_LOG overrides it.
    #[arg(long, default_value = "info", global = true)]
    pub log_level: String,
    /// Write logs to this file instead of stderr, rotated daily (`perpbot.log` becomes
    /// `perpbot.log.2026-12-06`, …); written by a thread of its own, so a slow disk never holds
    /// the engine up.
    #[arg(long, global = true)]
    pub log_file: Option<PathBuf>,
    /// What to do (default: `run` with the default config).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a strategy (default: the market maker against the simulated market).
    Run(RunArgs),
    /// Load and validate a config file, including the strategy's params, and say whether it
    /// could trade as it is: missing secret variables or key files, the mainnet confirmation.
    CheckConfig(check::CheckArgs),
    /// Pull the kill switch of a running bot: it cancels everything, halts and acknowledges.
    /// Exits 0 once a bot acknowledged, 1 when none did within --timeout.
    Kill(kill::KillArgs),
    /// Re-arm the risk limits after a loss or drawdown limit stopped the bot: clears the trip
    /// saved next to the journal and counts loss and drawdown afresh from here.
    Rearm(kill::RearmArgs),
    /// Emergency, no bot needed: cancel every open order of the config's Kana account (or of
    /// --market), print each with its transaction, then what remains. Exit 4 if anything does.
    CancelAll(emergency::EmergencyArgs),
    /// Emergency, no bot needed: cancel the resting orders, then close every position at market
    /// (or those of --market); print each with its transaction, then what remains.
    Flatten(emergency::EmergencyArgs),
    /// Generate a fresh Ed25519 key into an owner-only key file and print its account address.
    Keygen(keygen::KeygenArgs),
    /// Aptos transaction tools (offline).
    #[command(subcommand)]
    Tx(TxCommand),
    /// Kyan tools (offline): sign an EIP-712 typed message.
    #[command(subcommand)]
    Kyan(kyan::KyanCommand),
    /// Run an exchange simulator standalone and print its URLs; Ctrl-C or SIGTERM stops it. Kana
    /// (the default: REST + WebSocket + Aptos node on loopback) or Kyan (`--venue kyan`: REST,
    /// private WebSocket and public Centrifugo stream, and the API key it accepts).
    Sim {
        /// Which venue to simulate: `kana` or `kyan`.
        #[arg(long, default_value = "kana", value_parser = ["kana", "kyan"])]
        venue: String,
        /// Config whose `[venue.sim]` (Kana) or `[venue.kyan_sim]` (Kyan) table configures the
        /// simulator (default: built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:8787")]
        bind: std::net::SocketAddr,
        /// Credit every new wallet (APT for gas and test USDT in its profile) instead of
        /// starting it empty. Without a config the simulator starts wallets empty, as a real
        /// network does: fund them through its faucets.
        #[arg(long)]
        fund_new_wallets: bool,
        /// Instead of serving, write a synthetic recording of the simulated market into this
        /// folder (for `perpbot backtest`), in simulated time: no sockets, no waiting.
        #[arg(long, requires = "length")]
        record: Option<PathBuf>,
        /// Length of the synthetic recording (`1h`, `30m`).
        #[arg(long, value_parser = parse_duration)]
        length: Option<Duration>,
        /// Seed of the synthetic market (default: the config's `[venue.sim.synthetic] seed`).
        #[arg(long)]
        seed: Option<u64>,
        /// Markets to record (default: the config's `markets`, or 1338).
        #[arg(long, value_delimiter = ',')]
        markets: Vec<u64>,
    },
    /// Decode recorded WebSocket frames (one per line on stdin) into normalised events, one JSON
    /// line each on stdout; undecodable frames go to stderr with the reason.
    Decode(DecodeArgs),
    /// List the configured venue's markets and their grids (Kana REST).
    Markets {
        /// Config naming the venue.
        #[arg(long, default_value = "config/testnet.toml")]
        config: PathBuf,
    },
    /// Register, remove or show the owner wallet's delegate: a trading key that cannot withdraw
    /// (run with the owner's key; see docs/mainnet.md).
    Delegate(delegate::DelegateArgs),
    /// Move collateral on Kana: deposit, withdraw, add margin (signed transactions).
    Funds {
        /// Config naming the venue and the key.
        #[arg(long, default_value = "config/testnet.toml")]
        config: PathBuf,
        /// What to do.
        #[command(subcommand)]
        action: FundsAction,
        /// Allow a mainnet config to move real money.
        #[arg(long, global = true)]
        i_understand_this_is_mainnet: bool,
    },
    /// Chaos soak: the config's strategy against the in-process simulator through the real Kana
    /// client with every fault injected at seeded rates; prints what was injected, how the bot
    /// handled it and whether anything was duplicated, orphaned, mis-positioned or over a risk
    /// limit (exit 1 if so). --duration is wall-clock time.
    Soak(crate::soak::SoakArgs),
    /// Record the configured venue's market data (books, trades, funding) with receive times
    /// into hourly compressed files, for `perpbot backtest`. `sim` records the embedded
    /// simulator.
    Record(backtest::RecordArgs),
    /// Run the config's strategy over a recording in simulated time, against the paper exchange
    /// with the `[backtest]` latency and gas models; print the run report (or, with --sweep, a
    /// table of runs over a grid of strategy params, in parallel).
    Backtest(backtest::BacktestArgs),
    /// Read a write-ahead journal: `show` prints one line per record, `export` one JSON object per
    /// record. A torn or unreadable tail is reported on stderr; the file is never changed.
    #[command(subcommand)]
    Journal(JournalCommand),
    /// Query the run history database (`[history]`): fills, a summary per day and the PnL of
    /// each run.
    History {
        /// The bot's config (for its database).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Only since this time (RFC 3339 UTC or unix seconds).
        #[arg(long, value_parser = backtest::parse_time)]
        since: Option<crate::model::Timestamp>,
        /// Only this market (its name, `APT-USD`).
        #[arg(long)]
        market: Option<String>,
        /// Print the fills as CSV instead.
        #[arg(long)]
        csv: bool,
    },
    /// Ask a running bot how it is (its `/status` on `[control] listen`): trading state, PnL,
    /// positions, open orders, limit headroom, latency.
    Status {
        /// The running bot's config (for its control address).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Ask this address instead of the config's.
        #[arg(long)]
        addr: Option<std::net::SocketAddr>,
        /// Print the JSON as it came.
        #[arg(long)]
        json: bool,
    },
    /// Show an account's balances, positions and open orders (Kana REST).
    Account {
        /// Config naming the venue.
        #[arg(long, default_value = "config/testnet.toml")]
        config: PathBuf,
        /// Wallet address (default: the address of the configured private key).
        #[arg(long)]
        address: Option<String>,
    },
}

/// `perpbot journal …`
#[derive(Debug, Subcommand)]
pub enum JournalCommand {
    /// One human line per record, then what a restart would resume.
    Show {
        /// The journal file (`[engine] journal`).
        #[arg(long)]
        journal: PathBuf,
    },
    /// One JSON object per record (JSON lines).
    Export {
        /// The journal file (`[engine] journal`).
        #[arg(long)]
        journal: PathBuf,
    },
}

/// `perpbot funds …`
#[derive(Debug, Subcommand)]
pub enum FundsAction {
    /// Deposit collateral (USDT) from the wallet into the trading profile.
    Deposit {
        /// Amount in collateral units (e.g. 10 = 10 USDT).
        #[arg(long)]
        amount: rust_decimal::Decimal,
    },
    /// Withdraw collateral of one market back to the wallet.
    Withdraw {
        /// Market id.
        #[arg(long)]
        market: u64,
        /// Amount in collateral units.
        #[arg(long)]
        amount: rust_decimal::Decimal,
    },
    /// Mint test USDT into the wallet from the testnet faucet module (`usdt::faucet`), before a
    /// deposit. Testnet and local networks only.
    Faucet {
        /// Amount in collateral units (e.g. 1000 = 1,000 test USDT).
        #[arg(long)]
        amount: rust_decimal::Decimal,
    },
    /// Add margin to a position (lowers its liquidation price).
    AddMargin {
        /// Market id.
        #[arg(long)]
        market: u64,
        /// `long` or `short`.
        #[arg(long)]
        side: String,
        /// Amount in collateral units.
        #[arg(long)]
        amount: rust_decimal::Decimal,
    },
}

/// Options of `decode`.
#[derive(Debug, clap::Args)]
pub struct DecodeArgs {
    /// Venue whose frames these are.
    #[arg(long, value_enum, default_value = "kana")]
    pub venue: DecodeVenue,
    /// Market specs: a saved `getMarketInfo` / `allMarkets` answer (default: the documented APT grid).
    #[arg(long)]
    pub market_info: Option<PathBuf>,
    /// Units of the frames: `auto` (raw for the old G2/G3 market ids), `human` or `raw`.
    #[arg(long, value_enum, default_value = "auto")]
    pub units: DecodeUnits,
}

/// Venues `decode` understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecodeVenue {
    /// Kana Perps WebSocket indexer frames.
    Kana,
}

/// Units of recorded Kana frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DecodeUnits {
    /// Decide per market id.
    Auto,
    /// Human decimals (current hosts).
    Human,
    /// Lots, ticks and quote sub-units (the old host).
    Raw,
}

/// `perpbot tx …`
#[derive(Debug, Subcommand)]
pub enum TxCommand {
    /// Build and sign an entry-function transaction offline and print, as JSON, the raw
    /// transaction, the signing message, the signed transaction and its hash. The key comes from
    /// PERPBOT_PRIVATE_KEY or --key-file. Nothing is sent anywhere.
    Sign(TxSignArgs),
}

/// Options of `tx sign`.
#[derive(Debug, clap::Args)]
pub struct TxSignArgs {
    /// Module ABI as JSON (the node's `GET /v1/accounts/{addr}/module/{name}` answer, or its `abi`).
    #[arg(long)]
    pub abi: PathBuf,
    /// `ADDRESS::MODULE::FUNCTION`.
    #[arg(long)]
    pub function: String,
    /// Type arguments as a JSON array of strings.
    #[arg(long, default_value = "[]")]
    pub type_args: String,
    /// Arguments as a JSON array (u64/u128 as decimal strings, addresses as hex strings).
    #[arg(long)]
    pub args: String,
    /// Sender's sequence number.
    #[arg(long)]
    pub sequence: u64,
    /// Maximum gas units.
    #[arg(long)]
    pub max_gas: u64,
    /// Gas unit price in octas.
    #[arg(long)]
    pub gas_price: u64,
    /// Expiration, Unix seconds.
    #[arg(long)]
    pub expiration: u64,
    /// Chain id (1 mainnet, 2 testnet, 4 local).
    #[arg(long)]
    pub chain_id: u8,
    /// Read the private key from this file (owner-only permissions) instead of PERPBOT_PRIVATE_KEY.
    #[arg(long)]
    pub key_file: Option<PathBuf>,
}

/// Options of `run`.
#[derive(Debug, Default, clap::Args)]
pub struct RunArgs {
    /// Config file (default: config/sim.toml, or the embedded copy of it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Stop after this long: `45s`, `10m`, `1h` or plain seconds.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Also write the run report as JSON to this file when the run ends.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Allow a mainnet config to trade real money.
    #[arg(long)]
    pub i_understand_this_is_mainnet: bool,
    /// Serve `/metrics`, `/status` and the control endpoint on this address (overrides
    /// `[control] listen`; `127.0.0.1:9187`).
    #[arg(long)]
    pub metrics: Option<std::net::SocketAddr>,
    /// Show the live dashboard (the default when standard output is a terminal); logs then go
    /// to `--log-file`, or `perpbot.log` in the current folder.
    #[arg(long, conflicts_with = "no_tui")]
    pub tui: bool,
    /// Plain log lines instead of the dashboard, even on a terminal.
    #[arg(long)]
    pub no_tui: bool,
}

impl RunArgs {
    /// Whether the dashboard owns the terminal.
    pub fn dashboard(&self) -> bool {
        self.tui || (!self.no_tui && std::io::IsTerminal::is_terminal(&std::io::stdout()))
    }
}

/// Parse the command line and run it with the given strategies. Returns the process exit code
/// ([`exit`]: 0 success, 1 runtime failure, 2 usage, 3 invalid config, 4 orders left open,
/// 5 halted by a risk limit or the kill switch).
pub fn main_with(registry: StrategyRegistry) -> ExitCode {
    let cli = Cli::parse();
    let command = cli.command.unwrap_or(Command::Run(RunArgs::default()));
    // The dashboard owns the terminal: the logs go to a file then.
    let log_file = match (&cli.log_file, &command) {
        (Some(f), _) => Some(f.clone()),
        (None, Command::Run(args)) if args.dashboard() => Some(PathBuf::from("perpbot.log")),
        _ => None,
    };
    // Held until the process ends: dropping it flushes the log file's last lines.
    let _log_guard = match init_logging(cli.log_format, &cli.log_level, log_file.as_deref()) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(exit::INVALID_CONFIG);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let code = match runtime.block_on(execute(command, registry)) {
        Ok(code) => code,
        Err(e) => exit::report(&e),
    };
    // Tasks still blocked on a socket or stdin must not hold the exit up.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}

fn init_logging(
    format: LogFormat,
    level: &str,
    file: Option<&Path>,
) -> Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard, ansi) = match file {
        Some(path) => {
            let name = path
                .file_name()
                .ok_or_else(|| anyhow::anyhow!("--log-file {}: not a file name", path.display()))?;
            let dir = match path.parent() {
                Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
                _ => PathBuf::from("."),
            };
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("--log-file: cannot create {}", dir.display()))?;
            let appender = tracing_appender::rolling::daily(&dir, name);
            let (writer, guard) = tracing_appender::non_blocking(appender);
            (
                tracing_subscriber::fmt::writer::BoxMakeWriter::new(writer),
                Some(guard),
                false,
            )
        }
        // Logs go to stderr: stdout carries the command's output (the run report, JSON) alone.
        None => (
            tracing_subscriber::fmt::writer::BoxMakeWriter::new(std::io::stderr),
            None,
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
        ),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        // Colours only on a terminal: a log file or a collector gets plain text.
        .with_ansi(ansi)
        .with_target(false);
    let result = match format {
        LogFormat::Pretty => builder.compact().try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if result.is_err() {
        eprintln!("warning: logging was already initialised");
    }
    Ok(guard)
}

async fn execute(command: Command, registry: StrategyRegistry) -> Result<ExitCode> {
    match command {
        Command::Run(args) => run::run(args, registry).await,
        Command::CheckConfig(args) => check::check_config(&args, &registry),
        Command::Kill(args) => kill::kill(&args).await,
        Command::Rearm(args) => kill::rearm(&args),
        Command::CancelAll(args) => emergency::run(&args, emergency::Action::CancelAll).await,
        Command::Flatten(args) => emergency::run(&args, emergency::Action::Flatten).await,
        Command::Keygen(args) => keygen::keygen(&args),
        Command::Tx(TxCommand::Sign(args)) => {
            let report = tx_sign(&args)?;
            outln!("{}", serde_json::to_string_pretty(&report)?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Kyan(command) => kyan::run(command),
        Command::Decode(args) => decode(&args),
        Command::Sim {
            venue,
            config,
            bind,
            ..
        } if venue == "kyan" => kyan_venue::serve(config.as_deref(), bind).await,
        Command::Sim {
            config,
            bind,
            fund_new_wallets,
            record,
            length,
            seed,
            markets,
            ..
        } => {
            let (mut sim, configured) = match config {
                Some(path) => {
                    let c = Config::load(&path)?;
                    (c.venue.sim, c.markets)
                }
                None => {
                    // Empty wallets: the path from nothing (faucets, deposit) is the one a
                    // client takes on a real network.
                    let mut sim = crate::sim::server::SimConfig {
                        auto_fund: rust_decimal::Decimal::ZERO,
                        ..crate::sim::server::SimConfig::default()
                    };
                    sim.gas.apt_balance = rust_decimal::Decimal::ZERO;
                    (sim, vec![1338])
                }
            };
            if fund_new_wallets {
                let funded = crate::sim::server::SimConfig::default();
                sim.auto_fund = funded.auto_fund;
                sim.gas.apt_balance = funded.gas.apt_balance;
            }
            if let Some(seed) = seed {
                sim.synthetic.seed = seed;
            }
            if let (Some(dir), Some(length)) = (record, length) {
                let markets = if markets.is_empty() {
                    configured
                } else {
                    markets
                };
                return backtest::synthetic_recording(sim, &dir, length, &markets);
            }
            let api_key = sim.api_key.clone();
            let chain_id = sim.chain_id;
            let usdt = sim.faucet_package.clone();
            let empty = sim.auto_fund.is_zero() && sim.gas.apt_balance.is_zero();
            let handle = crate::sim::server::start(sim, bind, Clock::system())
                .await
                .map_err(anyhow::Error::msg)?;
            outln!("Kana REST   {}   (x-api-key: {api_key})", handle.rest_url)?;
            outln!("WebSocket   {}", handle.ws_url)?;
            outln!("Aptos node  {}   (chain id {chain_id})", handle.node_url)?;
            outln!(
                "Faucet      {}   (Aptos faucet API for gas: POST /fund {{\"address\", \"amount\"}}; test USDT: {usdt}::usdt::faucet)",
                handle.faucet_url
            )?;
            if empty {
                outln!(
                    "Wallets start empty: gas from the faucet, test USDT from usdt::faucet, then deposit (docs/testnet.md)."
                )?;
            }
            outln!("Ctrl-C or SIGTERM stops the simulator.")?;
            wait_for_stop_signal().await?;
            handle.stop();
            Ok(ExitCode::SUCCESS)
        }
        Command::Soak(args) if soaks_kyan(&args)? => {
            let config = load_config(args.config.as_deref())?;
            let settings = args.kyan_settings(&config);
            let report = crate::soak::kyan::run(&config, &registry, &settings).await?;
            outln!("{}", report.table().trim_end_matches('\n'))?;
            if let Some(path) = &args.report {
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::write(path, json + "\n")
                    .with_context(|| format!("writing the soak report to {}", path.display()))?;
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Soak(args) => {
            let config = load_config(args.config.as_deref())?;
            let settings = args.settings(&config);
            let report = crate::soak::run(&config, &registry, &settings).await?;
            outln!("{}", report.table().trim_end_matches('\n'))?;
            if let Some(path) = &args.report {
                let json = serde_json::to_string_pretty(&report)?;
                std::fs::write(path, json + "\n")
                    .with_context(|| format!("writing the soak report to {}", path.display()))?;
            }
            Ok(if report.passed() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Journal(command) => journal_command(&command),
        Command::Record(args) => backtest::record(&args).await,
        Command::Backtest(args) => backtest::backtest(&args, &registry),
        Command::Markets { config } => markets(&config).await,
        Command::Account { config, address } => account(&config, address.as_deref()).await,
        Command::Status { config, addr, json } => status(config.as_deref(), addr, json).await,
        Command::History {
            config,
            since,
            market,
            csv,
        } => history(config.as_deref(), since, market.as_deref(), csv),
        Command::Delegate(args) => delegate::run(args).await,
        Command::Funds {
            config,
            action,
            i_understand_this_is_mainnet,
        } => funds(&config, action, i_understand_this_is_mainnet).await,
    }
}

/// Wait for Ctrl-C or, on Unix, SIGTERM (how Docker and systemd stop a process).
pub(crate) async fn wait_for_stop_signal() -> Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
        tokio::select! {
            r = tokio::signal::ctrl_c() => r.context("waiting for Ctrl-C")?,
            _ = term.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")
    }
}

/// `perpbot journal show|export`: read-only; damage is reported on stderr, not fatal.
fn journal_command(command: &JournalCommand) -> Result<ExitCode> {
    use crate::journal::show::{write_export, write_show};
    let (path, show) = match command {
        JournalCommand::Show { journal } => (journal, true),
        JournalCommand::Export { journal } => (journal, false),
    };
    let scan = crate::journal::format::read_file(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .map_err(|n| {
            anyhow::anyhow!(
                "{} is not a perpbot journal (it starts with {})",
                path.display(),
                n.found
            )
        })?;
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let written = if show {
        write_show(&scan, &mut stdout.lock(), &mut stderr.lock())
    } else {
        write_export(&scan, &mut stdout.lock(), &mut stderr.lock())
    };
    match written {
        // The reader went away (`journal show | head`): not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        other => {
            other.context("writing the journal out")?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Open the journal `[engine] journal` names for this run's venue.
fn open_journal(config: &Config, path: &Path) -> Result<crate::journal::Opened> {
    use crate::journal::record::SessionRecord;
    use crate::journal::{Journal, JournalOptions};
    let chain_id = match config.venue.kind {
        VenueKind::Paper | VenueKind::PaperKana | VenueKind::PaperSim => None,
        VenueKind::Sim => Some(config.venue.sim.chain_id),
        VenueKind::Kana => config.venue.kana.as_ref().map(|k| k.chain_id),
        // The journal's chain id is Aptos's (a byte); Kyan's chains are Arbitrum's.
        VenueKind::Kyan | VenueKind::KyanSim => None,
    };
    let session = SessionRecord {
        venue: config.venue.kind.name().into(),
        chain_id,
        pid: std::process::id(),
        version: env!("CARGO_PKG_VERSION").into(),
        // The embedded simulator and the paper venue start afresh with the process.
        carries_over: matches!(config.venue.kind, VenueKind::Kana | VenueKind::Kyan),
        // Kana transactions go through the journal's hook between signing and sending.
        signs_before_send: matches!(config.venue.kind, VenueKind::Kana | VenueKind::Sim),
    };
    let options = JournalOptions {
        sync: config.engine.journal_sync,
        snapshot_every: Duration::from_millis(config.engine.journal_snapshot_ms.max(1)),
        ..JournalOptions::default()
    };
    let opened = Journal::open(path, options, session)?;
    if let (Some(torn), Some(kept)) = (&opened.torn, &opened.saved_tail) {
        warn!(journal = %path.display(), %torn, kept = %kept.display(), "journal had a torn tail (a crash mid-write): ignored");
    }
    info!(
        journal = %path.display(),
        records = opened.records,
        live_orders = opened.replay.orders.len(),
        open_requests = opened.replay.open.len(),
        "journal opened"
    );
    Ok(opened)
}

/// The environment variable `tx sign` and live venues read the private key from.
pub const PRIVATE_KEY_ENV: &str = "PERPBOT_PRIVATE_KEY";

/// Read a private key from a file, refusing files that others can read.
pub fn read_key_file(path: &Path) -> Result<crate::aptos::PrivateKey> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            bail!(
                "key file {} has permissions {mode:03o}; it must be readable by its owner only (chmod 600)",
                path.display()
            );
        }
    }
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("cannot read key file {}", path.display()))?,
    );
    let first = text.lines().next().unwrap_or("").trim();
    first
        .parse()
        .map_err(|e| anyhow::anyhow!("key file {}: {e}", path.display()))
}

/// Build and sign the transaction `tx sign` describes.
pub fn tx_sign(args: &TxSignArgs) -> Result<crate::aptos::SignedTxnReport> {
    use crate::aptos::{EntryFunctionId, MoveModule, MoveModuleBytecode, RawTransaction};
    let key = match &args.key_file {
        Some(path) => read_key_file(path)?,
        None => {
            let text = zeroize::Zeroizing::new(std::env::var(PRIVATE_KEY_ENV).map_err(|_| {
                anyhow::anyhow!("no key: set {PRIVATE_KEY_ENV} or pass --key-file")
            })?);
            text.trim()
                .parse()
                .map_err(|e| anyhow::anyhow!("{PRIVATE_KEY_ENV}: {e}"))?
        }
    };
    let abi_text = std::fs::read_to_string(&args.abi)
        .with_context(|| format!("cannot read {}", args.abi.display()))?;
    let abi: MoveModule = match serde_json::from_str::<MoveModuleBytecode>(&abi_text) {
        Ok(MoveModuleBytecode { abi: Some(abi), .. }) => abi,
        _ => serde_json::from_str(&abi_text)
            .with_context(|| format!("{}: not a module ABI", args.abi.display()))?,
    };
    let id: EntryFunctionId = args
        .function
        .parse()
        .with_context(|| format!("--function {}", args.function))?;
    if id.module.address != abi.address || id.module.name.as_str() != abi.name.as_str() {
        bail!(
            "--function {} is not in the ABI's module {}::{}",
            args.function,
            abi.address,
            abi.name
        );
    }
    let type_args: Vec<String> = serde_json::from_str(&args.type_args)
        .context("--type-args must be a JSON array of strings")?;
    let call_args: Vec<serde_json::Value> =
        serde_json::from_str(&args.args).context("--args must be a JSON array")?;
    let call =
        crate::aptos::encode_entry_function(&abi, id.function.as_str(), &type_args, &call_args)?;
    let raw = RawTransaction {
        sender: key.address(),
        sequence_number: args.sequence,
        payload: call.into(),
        max_gas_amount: args.max_gas,
        gas_unit_price: args.gas_price,
        expiration_timestamp_secs: args.expiration,
        chain_id: args.chain_id,
    };
    Ok(crate::aptos::sign_to_report(raw, &key)?)
}

fn decode(args: &DecodeArgs) -> Result<ExitCode> {
    use crate::venue::kana::decode::{
        KanaDecoder, KanaUnits, builtin_specs, decode_lines, specs_from_market_info_json,
    };
    let DecodeVenue::Kana = args.venue;
    let specs = match &args.market_info {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            specs_from_market_info_json(&text)
                .with_context(|| format!("{}: not a market-info answer", path.display()))?
        }
        None => builtin_specs(),
    };
    let units = match args.units {
        DecodeUnits::Auto => KanaUnits::Auto,
        DecodeUnits::Human => KanaUnits::Human,
        DecodeUnits::Raw => KanaUnits::Raw,
    };
    let mut decoder = KanaDecoder::new(specs, units)?.with_funding_for_any_market();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let summary = decode_lines(stdin.lock(), stdout.lock(), stderr.lock(), &mut decoder)
        .context("reading stdin")?;
    eprintln!(
        "decoded {} frames: {} events, {} records skipped (reasons above), {} undecodable",
        summary.frames, summary.events, summary.skipped, summary.errors
    );
    Ok(ExitCode::SUCCESS)
}

/// The Kana section of a config, or a clear error.
fn kana_config(path: &Path) -> Result<(Config, crate::config::KanaConfig)> {
    let config = Config::load(path)?;
    let kana = config
        .venue
        .kana
        .clone()
        .ok_or_else(|| anyhow::anyhow!("{}: venue.kana is not configured", path.display()))?;
    Ok((config, kana))
}

/// A Kana REST client for a config; the API key is optional for reads (sent when set).
fn kana_rest(kana: &crate::config::KanaConfig) -> Result<crate::venue::kana::rest::KanaRest> {
    let api_key = match kana.api_key.load("venue.kana.api_key") {
        Ok(key) => Some(key),
        Err(e) => {
            warn!("{e}; calling the REST API without a key");
            None
        }
    };
    Ok(crate::venue::kana::rest::KanaRest::new(
        &kana.rest_url,
        api_key,
        Duration::from_millis(kana.request_timeout_ms),
        crate::venue::kana::rest::RetryPolicy::default(),
    )?)
}

async fn funds(path: &Path, action: FundsAction, mainnet_flag: bool) -> Result<ExitCode> {
    use crate::venue::RequestOutcome;
    use crate::venue::kana::venue::KanaAccess;
    use crate::venue::kana::writer::KanaWriter;
    let (config, kana) = kana_config(path)?;
    config
        .check_mainnet_confirmation(mainnet_flag)
        .map_err(exit::invalid_config)?;
    let access = KanaAccess::open(&kana).await?;
    let wallet = access.wallet;
    if let FundsAction::Faucet { amount } = action {
        return faucet(&kana, &access, amount).await;
    }
    let package = kana.package_address().map_err(exit::invalid_config)?;
    let writer = KanaWriter::new(access.rest, access.submitter, Vec::new(), access.writer)
        .with_package(package);
    let outcome = match action {
        FundsAction::Deposit { amount } => writer.deposit(wallet, amount).await,
        FundsAction::Withdraw { market, amount } => {
            writer
                .withdraw(wallet, crate::model::MarketId(market), amount)
                .await
        }
        FundsAction::Faucet { .. } => unreachable!("handled above"),
        FundsAction::AddMargin {
            market,
            side,
            amount,
        } => {
            let side = match side.as_str() {
                "long" => crate::model::PositionSide::Long,
                "short" => crate::model::PositionSide::Short,
                other => bail!("--side must be long or short, not {other:?}"),
            };
            writer
                .add_margin(crate::model::MarketId(market), side, amount)
                .await
        }
    };
    match outcome {
        RequestOutcome::Accepted { .. } => {
            outln!("done")?;
            Ok(ExitCode::SUCCESS)
        }
        RequestOutcome::Ambiguous { reason, token } => {
            outln!(
                "outcome unknown ({reason}); check transaction {} before retrying",
                token.unwrap_or_default()
            )?;
            Ok(ExitCode::from(exit::FAILURE))
        }
        RequestOutcome::Rejected { reason, .. } => bail!("refused: {reason}"),
        RequestOutcome::Partial { .. } => bail!("unexpected partial outcome"),
    }
}

/// `funds faucet`: call the test-USDT module's `usdt::faucet(amount)` (reference §1.4 \[DOC\]) with
/// the trading key, and wait for the commit. The amount is in collateral units, converted to
/// 6-decimal sub-units exactly (a finer amount is refused, never rounded).
async fn faucet(
    kana: &crate::config::KanaConfig,
    access: &crate::venue::kana::venue::KanaAccess,
    amount: rust_decimal::Decimal,
) -> Result<ExitCode> {
    use crate::aptos::{EntryFunction, EntryFunctionId};
    use std::str::FromStr;
    if kana.network == crate::config::Network::Mainnet {
        bail!("there is no test-USDT faucet on mainnet");
    }
    let faucet = kana.faucet_address().map_err(exit::invalid_config)?;
    let sub_units = (amount * rust_decimal::Decimal::from(1_000_000u64)).normalize();
    let units = if sub_units.fract().is_zero() && sub_units > rust_decimal::Decimal::ZERO {
        rust_decimal::prelude::ToPrimitive::to_u64(&sub_units)
    } else {
        None
    }
    .ok_or_else(|| {
        exit::invalid_config(format!(
            "--amount {amount}: a positive amount of test USDT with at most 6 decimals"
        ))
    })?;
    let id = EntryFunctionId::from_str(&format!("{faucet}::usdt::faucet"))?;
    let payload = EntryFunction {
        module: id.module,
        function: id.function,
        ty_args: Vec::new(),
        // BCS of a u64: eight little-endian bytes.
        args: vec![units.to_le_bytes().to_vec()],
    };
    let wait = Duration::from_millis(kana.confirm_timeout_ms);
    let (submitted, outcome) = access.submitter.submit_and_confirm(payload, wait).await?;
    match outcome {
        crate::aptos::node::TxnOutcome::Committed { .. } => {
            outln!(
                "minted {amount} test USDT to {} (transaction {})",
                access.wallet,
                submitted.hash
            )?;
            Ok(ExitCode::SUCCESS)
        }
        other => bail!(
            "the faucet transaction {} did not execute: {other:?}",
            submitted.hash
        ),
    }
}

async fn markets(path: &Path) -> Result<ExitCode> {
    let (_, kana) = kana_config(path)?;
    let rest = kana_rest(&kana)?;
    let specs = rest.all_market_specs().await?;
    outln!(
        "{:>6}  {:<12} {:>12} {:>12} {:>10} {:>8} {:>6}",
        "id",
        "name",
        "lot",
        "tick",
        "min size",
        "max lev",
        "mm %"
    )?;
    for s in specs {
        outln!(
            "{:>6}  {:<12} {:>12} {:>12} {:>10} {:>8} {:>6}",
            s.id.0,
            s.name,
            s.lot_in_coins(),
            s.tick_in_price(),
            s.lots_to_size(crate::model::Lots(s.min_lots)),
            s.max_leverage,
            s.maintenance_margin_rate() * rust_decimal::Decimal::from(100)
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn account(path: &Path, address: Option<&str>) -> Result<ExitCode> {
    use crate::aptos::AccountAddress;
    let (_, kana) = kana_config(path)?;
    let wallet = match address {
        Some(a) => AccountAddress::from_hex(a).with_context(|| format!("--address {a}"))?,
        None => {
            let secret = kana
                .private_key
                .load("venue.kana.private_key")
                .map_err(anyhow::Error::msg)?;
            let key: crate::aptos::PrivateKey = secret
                .expose()
                .parse()
                .map_err(|e| anyhow::anyhow!("venue.kana.private_key: {e}"))?;
            key.address()
        }
    };
    let rest = kana_rest(&kana)?;
    outln!("wallet           {wallet}")?;
    outln!("profile          {}", rest.profile_address(wallet).await?)?;
    outln!(
        "wallet balance   {}",
        rest.wallet_account_balance(wallet).await?
    )?;
    outln!(
        "trading balance  {}",
        rest.profile_balance_snapshot(wallet).await?
    )?;
    outln!(
        "APT (gas)        {}",
        rest.account_apt_balance(wallet).await?
    )?;
    let positions = rest.positions(wallet, None).await?;
    outln!("positions        {}", positions.len())?;
    for record in positions.raw() {
        outln!("  {record}")?;
    }
    let orders = rest.open_orders(wallet, None).await?;
    outln!("open orders      {}", orders.len())?;
    for record in orders.raw() {
        outln!("  {record}")?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Load the config named on the command line, or the default (from disk, else embedded).
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None if Path::new(DEFAULT_CONFIG_PATH).exists() => {
            Ok(Config::load(Path::new(DEFAULT_CONFIG_PATH))?)
        }
        None => Ok(Config::from_toml_str(EMBEDDED_DEFAULT_CONFIG)?),
    }
}

/// Start the simulator on loopback and return a Kana venue pointed at it, with a generated key
/// (derived from the simulator's seed, so runs are reproducible) and the simulator's API key.
pub async fn embedded_sim(
    config: &Config,
    clock: Clock,
) -> Result<crate::venue::kana::venue::KanaVenue> {
    let (kana, credentials) = start_embedded_sim(config, clock).await?;
    Ok(crate::venue::kana::venue::KanaVenue::new(kana, clock).with_credentials(credentials))
}

/// Start the simulator of `[venue.sim]` on loopback for the life of the process; the Kana
/// settings that reach it and the credentials it accepts.
pub async fn start_embedded_sim(
    config: &Config,
    clock: Clock,
) -> Result<(
    crate::config::KanaConfig,
    crate::venue::kana::venue::Credentials,
)> {
    use crate::venue::kana::venue::Credentials;
    let sim = &config.venue.sim;
    let handle = crate::sim::server::start(sim.clone(), "127.0.0.1:0".parse()?, clock)
        .await
        .map_err(anyhow::Error::msg)?;
    info!(rest = %handle.rest_url, ws = %handle.ws_url, node = %handle.node_url, "simulator started");
    let key_seed: [u8; 32] = {
        use sha3::{Digest, Sha3_256};
        let mut h = Sha3_256::new();
        h.update(b"perpbot embedded simulator bot");
        h.update(sim.synthetic.seed.to_le_bytes());
        h.finalize().into()
    };
    let key = crate::aptos::PrivateKey::from_seed_bytes(key_seed);
    let kana = crate::config::KanaConfig {
        network: crate::config::Network::Testnet,
        rest_url: handle.rest_url.clone(),
        ws_url: handle.ws_url.clone(),
        node_url: handle.node_url.clone(),
        chain_id: sim.chain_id,
        api_key: crate::config::SecretSource::default(),
        private_key: crate::config::SecretSource::default(),
        i_understand_this_is_mainnet: false,
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
        confirm_timeout_ms: 10_000,
        request_timeout_ms: 5_000,
        max_batch: 10,
        delegate_for: None,
        // The app knows both sides: the client signs only the simulator's package.
        package: Some(sim.package.clone()),
        balance_poll_ms: 5_000,
        faucet_package: None,
    };
    let credentials = Credentials {
        api_key: crate::config::Secret::new(sim.api_key.clone()),
        key,
    };
    // The simulator keeps running in its tasks for the life of the process.
    std::mem::forget(handle);
    Ok((kana, credentials))
}

/// Whether `perpbot soak` runs the Kyan soak: its config is the Kyan simulator's.
fn soaks_kyan(args: &crate::soak::SoakArgs) -> Result<bool> {
    Ok(load_config(args.config.as_deref())?.venue.kind == VenueKind::KyanSim)
}

/// Connect the venue a config names.
pub async fn connect_venue(config: &Config, clock: Clock) -> Result<VenueSession> {
    let venue: Box<dyn Venue> = match config.venue.kind {
        VenueKind::Paper => {
            let specs = config.venue.markets.clone();
            let source = RandomWalkSource::try_new(config.venue.paper.source.clone(), &specs)
                .map_err(anyhow::Error::msg)?;
            Box::new(PaperVenue::new(
                config.venue.paper.clone(),
                specs,
                Box::new(source),
                clock,
            ))
        }
        VenueKind::Sim => Box::new(embedded_sim(config, clock).await?),
        VenueKind::PaperSim => {
            let (kana, credentials) = start_embedded_sim(config, clock).await?;
            Box::new(paper_on_live_book(config, &kana, Some(credentials.api_key), clock).await?)
        }
        VenueKind::PaperKana => {
            let kana = config
                .venue
                .kana
                .clone()
                .ok_or_else(|| anyhow::anyhow!("venue.kana is missing"))?;
            // \[INF\] The public topics need no key; one is sent to REST only when configured.
            let api_key = match (&kana.api_key.env, &kana.api_key.file) {
                (None, None) => None,
                _ => Some(
                    kana.api_key
                        .load("venue.kana.api_key")
                        .map_err(anyhow::Error::msg)?,
                ),
            };
            Box::new(paper_on_live_book(config, &kana, api_key, clock).await?)
        }
        VenueKind::Kana => {
            let kana = config
                .venue
                .kana
                .clone()
                .ok_or_else(|| anyhow::anyhow!("venue.kana is missing"))?;
            Box::new(crate::venue::kana::venue::KanaVenue::new(kana, clock))
        }
        VenueKind::Kyan => Box::new(kyan_venue::live(config, clock)?),
        VenueKind::KyanSim => Box::new(kyan_venue::embedded(config, clock).await?),
    };
    let name = venue.name();
    venue
        .connect(&config.market_ids())
        .await
        .with_context(|| format!("connecting to {name}"))
}

/// The paper venue on a Kana-shaped live stream (Kana's or the embedded simulator's): the
/// public topics of the configured markets feed the paper exchange, which fills the strategy's
/// orders with `[venue.paper]`'s queue model. No key; no transaction is ever sent.
async fn paper_on_live_book(
    config: &Config,
    kana: &crate::config::KanaConfig,
    api_key: Option<crate::config::Secret>,
    clock: Clock,
) -> Result<PaperVenue> {
    let data = crate::venue::kana::market_data::subscribe(
        kana,
        api_key,
        &config.market_ids(),
        clock,
        None,
    )
    .await
    .context("subscribing to the live book")?;
    info!(ws = %kana.ws_url, "paper trading on the live book: fills are simulated, nothing is sent");
    let (feed, _converter) = crate::venue::kana::market_data::paper_feed(data.events);
    Ok(PaperVenue::live(
        config.venue.paper.clone(),
        data.markets,
        feed,
        clock,
    ))
}

/// `perpbot status`.
async fn status(
    config: Option<&Path>,
    addr: Option<std::net::SocketAddr>,
    json: bool,
) -> Result<ExitCode> {
    let addr = match addr {
        Some(a) => a,
        None => load_config(config)?.control.listen.ok_or_else(|| {
            exit::invalid_config("the config sets no [control] listen address; pass --addr")
        })?,
    };
    let url = format!("http://{addr}/status");
    // reqwest is built without a TLS provider of its own; the process installs one.
    crate::aptos::node::ensure_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()?;
    let body = client
        .get(&url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .with_context(|| format!("no running bot answered on {url}"))?
        .text()
        .await?;
    if json {
        outln!("{body}")?;
        return Ok(ExitCode::SUCCESS);
    }
    let s: serde_json::Value = serde_json::from_str(&body).context("the answer is not JSON")?;
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(t) => t.clone(),
        serde_json::Value::Null => "-".into(),
        other => other.to_string(),
    };
    outln!(
        "{}  {}",
        text(&s["strategy"]),
        text(&s["trading_state"]).to_uppercase()
    )?;
    let p = &s["pnl"];
    outln!(
        "  PnL net {}  (before gas {} = spread {} + inventory {} − fees {} + funding {}; gas {})",
        text(&p["net"]),
        text(&p["before_gas"]),
        text(&p["spread_capture"]),
        text(&p["inventory"]),
        text(&p["fees"]),
        text(&p["funding"]),
        text(&p["gas"])
    )?;
    let l = &s["limits"];
    outln!(
        "  limits  window PnL {}, drawdown {}; headroom: loss {}, drawdown {}",
        text(&l["window_pnl"]),
        text(&l["drawdown"]),
        text(&l["loss_headroom"]),
        text(&l["drawdown_headroom"])
    )?;
    for m in s["markets"].as_array().into_iter().flatten() {
        outln!(
            "  {}  mid {}  position {} (notional {})",
            text(&m["name"]),
            text(&m["mid"]),
            text(&m["position"]),
            text(&m["notional"])
        )?;
        for o in m["orders"].as_array().into_iter().flatten() {
            outln!(
                "    {} {} @ {}  {}",
                text(&o["side"]),
                text(&o["remaining"]),
                text(&o["price"]),
                text(&o["status"])
            )?;
        }
    }
    let c = &s["counts"];
    outln!(
        "  fills {} ({} maker), requests {}, refused by venue {}, by risk {}",
        text(&c["fills"]),
        text(&c["maker_fills"]),
        text(&c["requests_sent"]),
        text(&c["venue_rejections"]),
        text(&c["risk_rejections"])
    )?;
    if let Some(lat) = s["latency"].as_object() {
        outln!(
            "  request latency p50 {:.0} ms, p99 {:.0} ms ({} requests)",
            lat.get("p50_ms")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0),
            lat.get("p99_ms")
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(0.0),
            lat.get("samples").map(text).unwrap_or_default()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `perpbot history`.
fn history(
    config: Option<&Path>,
    since: Option<crate::model::Timestamp>,
    market: Option<&str>,
    csv: bool,
) -> Result<ExitCode> {
    let config = load_config(config)?;
    let db = config.history_database().ok_or_else(|| {
        exit::invalid_config("no history database: set [history] database (or an engine journal)")
    })?;
    if !db.exists() {
        return Err(anyhow::anyhow!(
            "{}: no history yet (a run with this config writes it)",
            db.display()
        ));
    }
    let since_ms = since.map_or(0, |t| t.0 / 1_000_000);
    let fills = crate::history::fills(&db, since_ms, market)
        .with_context(|| format!("reading {}", db.display()))?;
    if csv {
        outln!("ts_ms,market,side,price,size,fee,liquidity,run")?;
        for row in &fills {
            outln!("{}", row.join(","))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    outln!("{} fills in {}", fills.len(), db.display())?;
    for row in fills.iter().rev().take(20).rev() {
        let [ts, market, side, price, size, fee, liquidity, run] = row;
        outln!("  {ts}  run {run}  {market}  {side} {size} @ {price}  fee {fee}  {liquidity}")?;
    }
    outln!("per day (UTC):")?;
    for d in crate::history::days(&db, since_ms, market)? {
        outln!(
            "  {}  {} fills, volume {:.4}, fees {:.6}",
            d.day,
            d.fills,
            d.volume,
            d.fees
        )?;
    }
    outln!("runs:")?;
    let mut total_net = rust_decimal::Decimal::ZERO;
    for run in crate::history::runs(&db, since_ms)? {
        let started = crate::journal::show::utc(run.started_ms);
        if let Ok(n) = run.net_pnl.parse::<rust_decimal::Decimal>() {
            total_net += n;
        }
        let net = if run.net_pnl.is_empty() {
            "(running or cut short)".to_string()
        } else {
            run.net_pnl
        };
        outln!(
            "  run {}  {started}  {}  {} fills  net {net}  before gas {}",
            run.id,
            run.strategy,
            run.fills,
            run.pnl_before_gas
        )?;
    }
    outln!("  all runs: net {}", total_net.round_dp(6))?;
    Ok(ExitCode::SUCCESS)
}
