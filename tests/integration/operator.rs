//! Operating the real `perpbot` binary as a person or a supervisor would: SIGTERM and a second
//! signal, the kill switch from another directory, exit codes, a closed stdout, `check-config`,
//! credentials checked before any file is made, and loss limits that survive a restart.
//!
//! The bot trades a standalone simulator started in this process on 127.0.0.1; after each run
//! the simulator's own books say whether anything of the bot's is still resting. Every wait has
//! a deadline.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::{TempDir, owner_only};
use perpbot::aptos::{AccountAddress, PrivateKey};
use perpbot::clock::Clock;
use perpbot::config::{Config, Secret};
use perpbot::sim::server::{SimConfig, SimHandle, start};
use perpbot::venue::kana::rest::{KanaRest, RetryPolicy};

/// A throwaway key for the simulator's chain (never used anywhere else).
const KEY: &str = "0x3a1f5c7e9b2d4f6a8c0e1f3b5d7a9c2e4f6b8d0a1c3e5f7b9d2a4c6e8f0b1d3a";

const BIN: &str = env!("CARGO_BIN_EXE_perpbot");

async fn simulator(block_latency_ms: u64) -> SimHandle {
    let config = SimConfig {
        block_latency_ms,
        ..SimConfig::default()
    };
    start(config, "127.0.0.1:0".parse().unwrap(), Clock::system())
        .await
        .unwrap()
}

/// A bot config in `dir` with relative paths (kill switch, journal, key files), as an operator
/// writes one next to its secrets.
fn bot_config(dir: &Path, sim: &SimHandle, risk_extra: &str, engine_extra: &str) -> PathBuf {
    owner_only(&dir.join("api_key"), "sim");
    owner_only(&dir.join("key"), KEY);
    let text = format!(
        r#"markets = [1338]

[venue]
kind = "kana"

[venue.kana]
network = "local"
rest_url = "{rest}"
ws_url = "{ws}"
node_url = "{node}"
chain_id = 4
api_key = {{ file = "api_key" }}
private_key = {{ file = "key" }}
gas_unit_price = 100
expiration_secs = 5
confirm_timeout_ms = 4000

[strategy]
name = "market_maker"

[strategy.params]
market = 1338
order_size = "1"
max_inventory = "5"
min_requote_ms = 200

[risk]
max_order_notional = "1000"
max_position_notional = "5000"
max_total_notional = "10000"
price_band_bps = 300
{risk_extra}

[engine]
shutdown_timeout_ms = 20000
status_interval_ms = 1000
kill_switch_file = "bot.kill"
{engine_extra}
"#,
        rest = sim.rest_url,
        ws = sim.ws_url,
        node = sim.node_url,
    );
    let path = dir.join("bot.toml");
    std::fs::write(&path, text).unwrap();
    path
}

struct Bot {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Bot {
    /// Start `perpbot run` from `cwd` (not the config's folder).
    fn start(cwd: &Path, config: &Path, extra: &[&str], logs: &Path) -> Bot {
        Bot::start_with(&["--log-level", "info"], cwd, config, extra, logs)
    }

    /// `perpbot GLOBAL… run --config CONFIG EXTRA…` from `cwd`, its output in `logs`.
    fn start_with(global: &[&str], cwd: &Path, config: &Path, extra: &[&str], logs: &Path) -> Bot {
        let out = logs.join(format!("{}.out", extra.join("_").replace(['/', '.'], "")));
        let err = out.with_extension("err");
        let child = Command::new(BIN)
            .current_dir(cwd)
            .args(global)
            .args(["run", "--config"])
            .arg(config)
            .args(extra)
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("the perpbot binary starts");
        Bot { child, out, err }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill -{name}");
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    fn wait(&mut self, within: Duration) -> ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the bot did not stop within {within:?}\nstdout:\n{}\nstderr:\n{}",
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Wait until the log shows `what` (stderr), or fail.
    fn wait_for_log(&mut self, what: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.stderr().contains(what) {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the bot exited ({status}) before logging {what:?}:\n{}",
                    self.stderr()
                );
            }
            assert!(
                Instant::now() < deadline,
                "no {what:?} in the log within {within:?}:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

fn wallet() -> AccountAddress {
    KEY.parse::<PrivateKey>().unwrap().address()
}

fn rest(sim: &SimHandle) -> KanaRest {
    KanaRest::new(
        &sim.rest_url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap()
}

/// Orders of the bot resting on the simulator's books.
async fn resting(sim: &SimHandle) -> usize {
    rest(sim).open_orders(wallet(), None).await.unwrap().len()
}

async fn wait_until_resting(sim: &SimHandle, bot: &mut Bot) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while resting(sim).await == 0 {
        if let Some(status) = bot.child.try_wait().unwrap() {
            panic!(
                "the bot exited ({status}) before quoting:\n{}",
                bot.stderr()
            );
        }
        assert!(Instant::now() < deadline, "no quotes:\n{}", bot.stderr());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_cancels_everything_prints_the_report_and_exits_zero() {
    let dir = TempDir::new("op-sigterm");
    let sim = simulator(250).await;
    let config = bot_config(&dir.0, &sim, "", "");
    let report = dir.0.join("report.json");
    let report_arg = report.to_str().unwrap();
    let mut bot = Bot::start(
        &dir.0,
        &config,
        &["--duration", "2m", "--report", report_arg],
        &dir.0,
    );
    wait_until_resting(&sim, &mut bot).await;
    bot.wait_for_log("status", Duration::from_secs(10));
    bot.signal("TERM");
    let status = bot.wait(Duration::from_secs(40));
    let (out, err) = (bot.stdout(), bot.stderr());
    assert_eq!(status.code(), Some(0), "clean exit\n{out}\n{err}");
    assert_eq!(
        resting(&sim).await,
        0,
        "nothing of the bot rests on the venue"
    );
    assert!(
        out.contains("── run report"),
        "the report is on stdout:\n{out}"
    );
    assert!(out.contains("PnL net of gas"), "{out}");
    assert!(out.contains("open orders left  none"), "{out}");
    assert!(!out.contains("INFO"), "no log line on stdout:\n{out}");
    assert!(err.contains("SIGTERM"), "the signal is logged:\n{err}");
    assert!(
        !err.contains("── run report"),
        "the report is not in the log"
    );
    // Transaction-level lines are DEBUG: nothing at INFO names a hash.
    assert!(
        !err.contains("transaction accepted into mempool") && !err.contains("hash="),
        "transaction lines at INFO:\n{err}"
    );
    // The status line shows a signed position (no `long=` flag).
    let status_line = err.lines().find(|l| l.contains(" status ")).unwrap();
    assert!(
        status_line.contains("position=") && !status_line.contains("long="),
        "{status_line}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(json["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(json["venue"], "kana");
    assert_eq!(json["network"], "local");
    assert_eq!(json["config_file"], config.to_str().unwrap());
    assert!(json["started_at"].as_str().unwrap().ends_with('Z'));
    assert!(json["ended_at"].as_str().unwrap() >= json["started_at"].as_str().unwrap());
    assert_eq!(json["left_open"], serde_json::json!([]));
    assert_eq!(json["gas"]["coin"], "APT");
    let gas: rust_decimal::Decimal = json["gas"]["in_quote"].as_str().unwrap().parse().unwrap();
    let total: rust_decimal::Decimal = json["total_pnl"].as_str().unwrap().parse().unwrap();
    let net: rust_decimal::Decimal = json["net_pnl"].as_str().unwrap().parse().unwrap();
    assert!(gas > rust_decimal::Decimal::ZERO, "transactions paid gas");
    assert_eq!(net, total - gas, "PnL is net of gas");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_signal_stops_waiting_and_exits_with_the_orders_left_open_code() {
    let dir = TempDir::new("op-second");
    // Slow blocks: a cancel cannot confirm before the second signal lands.
    let sim = simulator(2500).await;
    let config = bot_config(&dir.0, &sim, "", "");
    let mut bot = Bot::start(&dir.0, &config, &["--duration", "5m"], &dir.0);
    wait_until_resting(&sim, &mut bot).await;
    bot.signal("INT");
    bot.wait_for_log("stopping", Duration::from_secs(5));
    // The cancel-all is on its way to the node by now; its block is 2.5 s away.
    tokio::time::sleep(Duration::from_millis(700)).await;
    bot.signal("TERM");
    let status = bot.wait(Duration::from_secs(15));
    let out = bot.stdout();
    assert_eq!(
        status.code(),
        Some(4),
        "orders left open\n{out}\n{}",
        bot.stderr()
    );
    assert!(out.contains("OPEN ORDERS LEFT"), "{out}");
    assert!(out.contains("second stop signal"), "{out}");
    // The cancels sent before the second signal still land.
    let deadline = Instant::now() + Duration::from_secs(20);
    while resting(&sim).await > 0 {
        assert!(Instant::now() < deadline, "the cancel-all never landed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_from_another_directory_halts_the_running_bot() {
    let dir = TempDir::new("op-kill");
    let elsewhere = TempDir::new("op-kill-cwd");
    let sim = simulator(250).await;
    let config = bot_config(&dir.0, &sim, "", "");

    // No bot yet: `kill` says so and fails, instead of claiming a halt.
    let lonely = Command::new(BIN)
        .current_dir(&elsewhere.0)
        .args(["kill", "--timeout", "1s", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(lonely.status.code(), Some(1));
    let said = String::from_utf8_lossy(&lonely.stderr);
    assert!(said.contains("no running bot acknowledged"), "{said}");
    std::fs::remove_file(dir.0.join("bot.kill")).unwrap();

    // The bot runs from `dir`'s parent; kill runs from `elsewhere`, and both find `dir/bot.kill`.
    let mut bot = Bot::start(
        dir.0.parent().unwrap(),
        &config,
        &["--duration", "20s"],
        &dir.0,
    );
    wait_until_resting(&sim, &mut bot).await;
    let kill = Command::new(BIN)
        .current_dir(&elsewhere.0)
        .args(["kill", "--timeout", "15s", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&kill.stdout);
    assert_eq!(kill.status.code(), Some(0), "{said}\n{}", bot.stderr());
    assert!(said.contains("acknowledged by the running bot"), "{said}");
    assert!(dir.0.join("bot.kill.ack").exists());
    let deadline = Instant::now() + Duration::from_secs(20);
    while resting(&sim).await > 0 {
        assert!(Instant::now() < deadline, "the kill did not clear the book");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let status = bot.wait(Duration::from_secs(40));
    let out = bot.stdout();
    assert_eq!(status.code(), Some(5), "halted by the kill switch\n{out}");
    assert!(out.contains("trading state     Halted"), "{out}");

    // A new start on the same config refuses while the kill file is there.
    let refused = Command::new(BIN)
        .current_dir(&elsewhere.0)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(5));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("kill-switch file"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_limit_tripped_by_gas_survives_a_restart_until_rearmed() {
    let dir = TempDir::new("op-limits");
    let sim = simulator(250).await;
    // A loss limit below the gas of one transaction (about 0.003 USDT here): the first trips it.
    let config = bot_config(
        &dir.0,
        &sim,
        "max_loss = \"0.001\"\non_loss_limit = \"halt\"",
        "journal = \"bot.journal\"",
    );
    let mut first = Bot::start(&dir.0, &config, &["--duration", "30s"], &dir.0);
    first.wait_for_log("reached max_loss", Duration::from_secs(30));
    first.signal("TERM");
    let status = first.wait(Duration::from_secs(40));
    assert_eq!(status.code(), Some(5), "{}", first.stdout());
    assert_eq!(resting(&sim).await, 0);
    let saved = dir.0.join("bot.journal.limits");
    assert!(saved.exists(), "the limits are saved next to the journal");

    // A restart does not re-arm: it starts halted and places nothing.
    let mut second = Bot::start(
        &dir.0,
        &config,
        &["--duration", "3s", "--report", "r2.json"],
        &dir.0,
    );
    let status = second.wait(Duration::from_secs(60));
    let err = second.stderr();
    assert_eq!(status.code(), Some(5), "{}\n{err}", second.stdout());
    assert!(err.contains("a risk limit stopped an earlier run"), "{err}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("r2.json")).unwrap()).unwrap();
    assert_eq!(report["orders_sent"], 0, "a restarted bot stays halted");

    // Only the operator re-arms.
    let rearm = Command::new(BIN)
        .args(["rearm", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&rearm.stdout);
    assert_eq!(rearm.status.code(), Some(0), "{said}");
    assert!(
        said.contains("re-armed") && said.contains("max_loss"),
        "{said}"
    );
    let mut third = Bot::start(
        &dir.0,
        &config,
        &["--duration", "4s", "--report", "r3.json"],
        &dir.0,
    );
    third.wait(Duration::from_secs(60));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.0.join("r3.json")).unwrap()).unwrap();
    assert!(
        report["orders_sent"].as_u64().unwrap() > 0,
        "trading again after the re-arm:\n{}",
        third.stderr()
    );
}

#[test]
fn exit_codes_tell_usage_config_and_secrets_apart() {
    let dir = TempDir::new("op-codes");
    let usage = Command::new(BIN)
        .args(["run", "--no-such-flag"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));

    let bad = dir.0.join("bad.toml");
    std::fs::write(&bad, "markets = [1338]\n[venue]\nkind = \"sim\"\n[strategy]\nname = \"market_maker\"\n[risk]\nmax_loss = \"-1\"\n").unwrap();
    let invalid = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(invalid.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("risk.max_loss"));

    let help = Command::new(BIN).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for line in [
        "0  success",
        "2  usage error",
        "3  invalid config",
        "4  orders left open",
        "5  stopped after a risk limit",
    ] {
        assert!(help.contains(line), "--help lists {line:?}:\n{help}");
    }

    // A run duration reads like every other duration.
    for flag in ["45s", "10m", "1h", "30"] {
        let out = Command::new(BIN)
            .args(["run", "--config", "/nonexistent.toml", "--duration", flag])
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(3),
            "--duration {flag} parses; the config fails"
        );
    }
}

#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sim.toml");
    let mut child = Command::new(BIN)
        .args(["check-config", "--effective"])
        .arg(&config)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader is gone before the first line is written
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn check_config_names_missing_secrets_and_the_mainnet_confirmation() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let check = |file: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut cmd = Command::new(BIN);
        cmd.args(["check-config"])
            .arg(root.join(file))
            .args(extra)
            .env_remove("KANA_API_KEY")
            .env_remove("PERPBOT_PRIVATE_KEY");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = check("config/testnet.toml", &[], &[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(
        out.contains("KANA_API_KEY") && out.contains("PERPBOT_PRIVATE_KEY"),
        "{out}"
    );
    let secrets = [("KANA_API_KEY", "k"), ("PERPBOT_PRIVATE_KEY", KEY)];
    let (code, out) = check("config/testnet.toml", &secrets, &[]);
    assert_eq!(code, Some(0), "{out}");
    let (code, out) = check("config/mainnet.toml", &secrets, &[]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("--i-understand-this-is-mainnet"), "{out}");
    let (code, out) = check(
        "config/mainnet.toml",
        &secrets,
        &["--i-understand-this-is-mainnet", "--effective"],
    );
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("MAINNET"), "{out}");
    assert!(
        out.contains("loss_window") && out.contains("stall_timeout_ms"),
        "defaults shown:\n{out}"
    );
    assert!(
        !out.contains(&KEY[2..]),
        "no secret in the effective config"
    );
}

#[test]
fn credentials_are_checked_before_any_file_is_created() {
    let dir = TempDir::new("op-creds");
    let testnet =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("config/testnet.toml"))
            .unwrap();
    let config = dir.0.join("testnet.toml");
    std::fs::write(&config, testnet).unwrap();
    let out = Command::new(BIN)
        .args(["run", "--config"])
        .arg(&config)
        .env_remove("KANA_API_KEY")
        .env_remove("PERPBOT_PRIVATE_KEY")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("PERPBOT_PRIVATE_KEY"), "{err}");
    let made: Vec<_> = std::fs::read_dir(&dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        made,
        vec![std::ffi::OsString::from("testnet.toml")],
        "no journal was created"
    );
}

#[test]
fn every_shipped_trading_config_sets_a_kill_switch_and_live_ones_a_gas_budget() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("config"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(root.join("examples/plugin/plugin.toml"));
    for file in files {
        let config = Config::load(&file).unwrap();
        let kill = config
            .engine
            .kill_switch_file
            .as_ref()
            .unwrap_or_else(|| panic!("{} sets no kill switch", file.display()));
        assert!(
            kill.starts_with(file.parent().unwrap()),
            "{}: the kill file resolves next to the config, got {}",
            file.display(),
            kill.display()
        );
        if config.venue.kind == perpbot::config::VenueKind::Kana {
            assert!(
                config.risk.gas_budget_per_hour.is_some(),
                "{} ships no gas budget",
                file.display()
            );
            assert!(
                config.engine.journal.is_some(),
                "{}: limits survive restarts",
                file.display()
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_are_pure_json_lines_on_stderr_and_sighup_is_ignored() {
    let dir = TempDir::new("op-json");
    let sim = simulator(250).await;
    let config = bot_config(&dir.0, &sim, "", "");
    let mut bot = Bot::start_with(
        &["--log-format", "json"],
        &dir.0,
        &config,
        &["--duration", "1m"],
        &dir.0,
    );
    wait_until_resting(&sim, &mut bot).await;
    bot.signal("HUP");
    bot.wait_for_log("SIGHUP ignored", Duration::from_secs(5));
    assert!(
        bot.child.try_wait().unwrap().is_none(),
        "SIGHUP did not stop the bot"
    );
    bot.signal("TERM");
    let status = bot.wait(Duration::from_secs(40));
    assert_eq!(status.code(), Some(0));
    let err = bot.stderr();
    assert!(err.lines().count() > 3);
    for line in err.lines() {
        let parsed: Result<serde_json::Value, _> = serde_json::from_str(line);
        assert!(parsed.is_ok(), "not a JSON line on stderr: {line}");
    }
    let out = bot.stdout();
    assert!(
        out.contains("── run report") && !out.contains("\"level\""),
        "{out}"
    );
    assert_eq!(resting(&sim).await, 0);
}

#[test]
fn log_file_takes_the_logs_and_rotates_by_day() {
    let dir = TempDir::new("log-file");
    let log = dir.0.join("logs/bot.log");
    let out = Command::new(env!("CARGO_BIN_EXE_perpbot"))
        .args([
            "--log-file",
            log.to_str().unwrap(),
            "run",
            "--duration",
            "2s",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("engine starting"),
        "logs left stderr: {stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("run report"));
    let files: Vec<_> = std::fs::read_dir(dir.0.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    assert!(files[0].starts_with("bot.log."), "dated: {files:?}");
    let text = std::fs::read_to_string(dir.0.join("logs").join(&files[0])).unwrap();
    assert!(text.contains("engine starting"), "{text}");
    assert!(!text.contains("\u{1b}["), "no colour codes in a file");
}

#[test]
fn the_systemd_unit_waits_longer_than_the_bot_cancels_and_does_not_restart_a_halt() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/perpbot.service"
    ))
    .unwrap();
    let value = |key: &str| {
        unit.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap_or_else(|| panic!("{key} missing"))
            .trim()
            .to_string()
    };
    assert_eq!(value("KillSignal"), "SIGTERM");
    let stop: u64 = value("TimeoutStopSec").parse().unwrap();
    for config in ["config/testnet.toml", "config/mainnet.toml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(config);
        let c = perpbot::config::Config::load(&path).unwrap();
        assert!(
            stop * 1000 > c.engine.shutdown_timeout_ms + 5_000,
            "{config}: systemd would kill the bot while it still waits for cancels"
        );
    }
    let prevent: Vec<u8> = value("RestartPreventExitStatus")
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    assert!(prevent.contains(&perpbot::cli::exit::HALTED));
    assert!(prevent.contains(&perpbot::cli::exit::INVALID_CONFIG));
    let docker =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Dockerfile")).unwrap();
    assert!(docker.contains("STOPSIGNAL SIGTERM") && docker.contains("USER perpbot"));
}

#[test]
fn every_run_lands_in_the_history_and_the_runs_add_up() {
    let dir = TempDir::new("history");
    let config = dir.0.join("bot.toml");
    let base =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/config/sim.toml")).unwrap();
    std::fs::write(
        &config,
        format!("{base}\n[history]\ndatabase = \"history.sqlite\"\nsample_secs = 1\n"),
    )
    .unwrap();
    let perpbot = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_perpbot"))
            .args(args)
            .env("RUST_LOG", "warn")
            .output()
            .unwrap()
    };
    let cfg = config.to_str().unwrap();
    for _ in 0..2 {
        let out = perpbot(&["run", "--config", cfg, "--duration", "5s"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert!(
        dir.0.join("history.sqlite").exists(),
        "relative to the config's folder"
    );
    let out = perpbot(&["history", "--config", cfg]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let runs: Vec<&str> = text
        .lines()
        .filter(|l| l.trim_start().starts_with("run "))
        .collect();
    assert_eq!(runs.len(), 2, "{text}");
    // The total is the sum of the runs' net PnL.
    let net = |line: &str| -> f64 {
        line.split("net ")
            .nth(1)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let total: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("all runs: net "))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        (total - runs.iter().map(|l| net(l)).sum::<f64>()).abs() < 1e-6,
        "{text}"
    );
    // The fills as CSV, one per fill the runs reported.
    let out = perpbot(&["history", "--config", cfg, "--csv", "--market", "APT-USD"]);
    let csv = String::from_utf8_lossy(&out.stdout);
    assert!(
        csv.starts_with("ts_ms,market,side,price,size,fee,liquidity,run\n"),
        "{csv}"
    );
    let fills_reported: usize = runs
        .iter()
        .map(|l| {
            l.split("  ")
                .find(|p| p.ends_with("fills"))
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(csv.lines().count() - 1, fills_reported, "{csv}\n{text}");
    // A market with no fills is empty, not an error.
    let out = perpbot(&["history", "--config", cfg, "--csv", "--market", "NOPE"]);
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 1);
}
