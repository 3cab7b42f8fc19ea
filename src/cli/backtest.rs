//! `perpbot record` and `perpbot backtest`: write a venue's market data down, and run a
//! strategy over what was written, in simulated time.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, Result, anyhow, bail};
use clap::{Args, Subcommand, ValueEnum};
use tracing::{error, info, warn};

use super::{load_config, outln, start_embedded_sim};
use crate::backtest::recording::{Manifest, Recorder, RecorderOptions, RecordingReader};
use crate::backtest::{Outcome, Setup};
use crate::config::{Config, VenueKind};
use crate::model::Timestamp;
use crate::model::clock::{Clock, parse_duration};
use crate::strategy::StrategyRegistry;

/// `perpbot record`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RecordArgs {
    /// What to do with a recording instead of making one.
    #[command(subcommand)]
    pub command: Option<RecordCommand>,
    /// Config naming the venue and the markets (`sim` records the embedded simulator).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Folder to write the recording into (created; hourly files are appended to).
    #[arg(long, required = true)]
    pub out: Option<PathBuf>,
    /// Stop after this long (`90s`, `10m`, `2h`); without it, until Ctrl-C or SIGTERM.
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
}

/// `perpbot record …` on an existing recording.
#[derive(Debug, Subcommand)]
pub enum RecordCommand {
    /// Write a recording's book levels, trades and funding as normalised tables (Parquet), for
    /// Polars, DuckDB, DataFusion or Spark.
    Export(ExportArgs),
}

/// Export formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// Apache Parquet: `book.parquet`, `trades.parquet`, `funding.parquet`.
    Parquet,
}

/// `perpbot record export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The recording folder.
    #[arg(long)]
    pub data: PathBuf,
    /// The format.
    #[arg(long, value_enum, default_value = "parquet")]
    pub format: ExportFormat,
    /// Folder to write the tables into (created).
    #[arg(long)]
    pub out: PathBuf,
    /// From this time (RFC 3339 UTC or unix seconds).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Up to (not including) this time.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<Timestamp>,
}

/// `perpbot backtest`.
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Config of the strategy, risk, rate limits, `[venue.paper]` (fees, queue model) and
    /// `[backtest]` (latency, gas, seed).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The recording folder (`perpbot record --out`).
    #[arg(long)]
    pub data: PathBuf,
    /// Replay from this time (RFC 3339 UTC, `2026-12-06T07:00:00Z`, or unix seconds).
    #[arg(long, value_parser = parse_time)]
    pub from: Option<Timestamp>,
    /// Replay up to (not including) this time.
    #[arg(long, value_parser = parse_time)]
    pub to: Option<Timestamp>,
    /// Write the time series (mid, own quotes, position, PnL) as CSV to this file.
    #[arg(long)]
    pub series: Option<PathBuf>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Write charts (price with quotes and fills, position, PnL) as SVG into this folder, with
    /// an `index.html` that shows them.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Sweep a strategy param over values, `name=v1,v2,…` (repeat for a grid); the runs go in
    /// parallel on every core and print one table.
    #[arg(long = "sweep", value_parser = parse_sweep)]
    pub sweeps: Vec<(String, Vec<toml::Value>)>,
    /// The sweep table's order: `net_pnl` (default), `total_pnl`, `fills`, `drawdown`,
    /// `markout_10s`.
    #[arg(long, default_value = "net_pnl")]
    pub sort_by: String,
    /// Write the sweep table as CSV to this file.
    #[arg(long)]
    pub sweep_out: Option<PathBuf>,
}

/// Record until the duration ends or a signal comes (or export a recording).
pub async fn record(args: &RecordArgs) -> Result<ExitCode> {
    if let Some(RecordCommand::Export(export)) = &args.command {
        return export_recording(export);
    }
    let out = args
        .out
        .as_deref()
        .ok_or_else(|| anyhow!("--out is required to record"))?;
    let config = load_config(args.config.as_deref())?;
    let clock = Clock::system();
    let (kana, api_key) = match config.venue.kind {
        VenueKind::Sim | VenueKind::PaperSim => {
            let (kana, credentials) = start_embedded_sim(&config, clock).await?;
            (kana, Some(credentials.api_key))
        }
        VenueKind::Kana | VenueKind::PaperKana => {
            let kana = config
                .venue
                .kana
                .clone()
                .ok_or_else(|| anyhow!("venue.kana is missing"))?;
            let key = match kana.api_key.load("venue.kana.api_key") {
                Ok(k) => Some(k),
                Err(e) => {
                    warn!("{e}; reading markets without an API key");
                    None
                }
            };
            (kana, key)
        }
        VenueKind::Paper => {
            bail!("venue.kind = \"paper\" has no live stream to record; record `kana` or `sim`")
        }
        VenueKind::Kyan | VenueKind::KyanSim => {
            bail!("recording Kyan's streams is not built yet; record `kana` or `sim`")
        }
    };
    let recorder = Arc::new(Mutex::new(Recorder::new(
        out,
        "kana",
        RecorderOptions::default(),
    )?));
    let failed = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let tap = {
        let recorder = Arc::clone(&recorder);
        let failed = Arc::clone(&failed);
        Arc::new(move |received: Timestamp, text: &str| {
            let result = match recorder.lock() {
                Ok(mut r) => r.record(received, text),
                Err(poisoned) => poisoned.into_inner().record(received, text),
            };
            if let Err(e) = result
                && !failed.swap(true, std::sync::atomic::Ordering::Relaxed)
            {
                error!(error = %e, "recording: a frame could not be written; stopping");
            }
        }) as crate::venue::kana::ws::FrameTap
    };
    let mut data = crate::venue::kana::market_data::subscribe(
        &kana,
        api_key,
        &config.market_ids(),
        clock,
        Some(tap),
    )
    .await
    .context("subscribing to market data")?;
    Manifest {
        venue: "kana".into(),
        markets: data.markets.clone(),
        units: crate::venue::kana::market_data::UNITS.into(),
        source: kana.ws_url.clone(),
    }
    .save(out)?;
    info!(out = %out.display(), markets = ?config.markets, "recording; Ctrl-C or SIGTERM stops");
    let stop = async {
        match args.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(stop);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let mut events = 0u64;
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            event = data.events.recv() => match event {
                Some(_) => events += 1,
                None => break,
            },
            _ = flush.tick() => {
                if failed.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                // A quiet market still gets its last frames onto disk.
                if let Ok(mut r) = recorder.lock()
                    && let Err(e) = r.flush()
                {
                    error!(error = %e, "recording: flush failed");
                    break;
                }
            }
            _ = &mut stop => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    data.task.abort();
    let (frames, bytes) = {
        let mut r = recorder
            .lock()
            .map_err(|_| anyhow!("recorder lock poisoned"))?;
        r.flush()?;
        (r.frames(), r.bytes_written())
    };
    outln!(
        "recorded {frames} frames ({bytes} bytes before compression, {events} events) into {}",
        out.display()
    )?;
    if failed.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(ExitCode::from(super::exit::FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

fn export_recording(args: &ExportArgs) -> Result<ExitCode> {
    let ExportFormat::Parquet = args.format;
    let stats = crate::backtest::export::to_parquet(&args.data, &args.out, args.from, args.to)?;
    outln!(
        "exported {} frames into {}: {} book levels, {} trades, {} funding records ({} frames undecodable)",
        stats.frames,
        args.out.display(),
        stats.book_rows,
        stats.trade_rows,
        stats.funding_rows,
        stats.decode_errors
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Write `length` of the simulator's synthetic market, in simulated time, as a recording of
/// `markets` in `dir`. It starts at the current hour, so its files are named like a live one's.
pub fn synthetic_recording(
    sim: crate::sim::server::SimConfig,
    dir: &Path,
    length: Duration,
    markets: &[u64],
) -> Result<ExitCode> {
    let ids: Vec<crate::model::MarketId> =
        markets.iter().map(|&m| crate::model::MarketId(m)).collect();
    let specs: Vec<crate::model::MarketSpec> = ids
        .iter()
        .map(|id| {
            sim.markets
                .iter()
                .find(|s| s.id == *id)
                .cloned()
                .ok_or_else(|| anyhow!("market {id} is not one of the simulator's"))
        })
        .collect::<Result<_>>()?;
    let now = Clock::system().now();
    let start = Timestamp::from_secs(now.0 / 1_000_000_000 / 3_600 * 3_600);
    let mut recorder = Recorder::new(dir, "kana", RecorderOptions::default())?;
    let mut failure = None;
    let frames = crate::sim::server::synthetic::frames(sim, start, length, &ids, |t, frame| {
        if failure.is_none()
            && let Err(e) = recorder.record(t, frame)
        {
            failure = Some(e);
        }
    })
    .map_err(|e| anyhow!("venue.sim: {e}"))?;
    if let Some(e) = failure {
        return Err(e.into());
    }
    recorder.flush()?;
    Manifest {
        venue: "kana".into(),
        markets: specs,
        units: "human".into(),
        source: "perpbot sim --record (synthetic, simulated time)".into(),
    }
    .save(dir)?;
    outln!(
        "recorded {frames} synthetic frames ({} of simulated time) into {}",
        format!("{} s", length.as_secs()),
        dir.display()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Run one backtest or a sweep.
pub fn backtest(args: &BacktestArgs, registry: &StrategyRegistry) -> Result<ExitCode> {
    let config = load_config(args.config.as_deref())?;
    let manifest = Manifest::load(&args.data)?;
    if !args.sweeps.is_empty() {
        return sweep(args, &config, &manifest, registry);
    }
    let outcome = run_one(args, &config, &manifest, registry, &config.strategy.params)?;
    print(&outcome)?;
    if let Some(path) = &args.series {
        outcome
            .series
            .write_csv(path)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.report {
        std::fs::write(path, serde_json::to_string_pretty(&outcome.report)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(dir) = &args.plot {
        let files = crate::backtest::plot::write_charts(
            &outcome.series,
            &outcome.report.summary.strategy,
            dir,
        )?;
        outln!(
            "  charts            {}",
            files.last().map_or(dir.clone(), Clone::clone).display()
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// One run with strategy params `params`.
fn run_one(
    args: &BacktestArgs,
    config: &Config,
    manifest: &Manifest,
    registry: &StrategyRegistry,
    params: &toml::Table,
) -> Result<Outcome> {
    let strategy = registry.build(&config.strategy.name, params)?;
    // A backtest writes nothing but its own output: no journal, no kill file, no saved limits.
    let mut engine = config.engine.clone();
    engine.journal = None;
    engine.kill_switch_file = None;
    let mut risk = config.risk.clone();
    risk.state_file = None;
    let setup = Setup {
        manifest: manifest.clone(),
        strategy,
        risk,
        rate_limits: config.rate_limits.clone(),
        engine,
        paper: config.venue.paper.clone(),
        models: config.backtest.clone(),
    };
    let mut reader = RecordingReader::open(&args.data, args.from, args.to)?;
    let mut outcome = crate::backtest::run(setup, reader.by_ref())?;
    // Counted by the reader as the run drained it (it was zero before: read too early).
    outcome.report.torn_files = reader.stats().torn_files;
    Ok(outcome)
}

fn print(outcome: &Outcome) -> Result<()> {
    let r = &outcome.report;
    super::run::print_summary(&r.summary)?;
    outln!(
        "  markouts          {}",
        r.markouts
            .0
            .iter()
            .map(|m| format!(
                "{} s: {} ({} fills)",
                m.horizon_s,
                m.pnl.round_dp(6),
                m.fills
            ))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    outln!(
        "  replayed          {} frames over {:.0} s of recorded time; {} undecodable, {} torn files, {} trades without a side",
        r.frames,
        r.simulated_seconds,
        r.decode_errors,
        r.torn_files,
        r.inferred_aggressors
    )?;
    Ok(())
}

/// One row of a sweep.
struct SweepRow {
    values: Vec<String>,
    outcome: Result<Outcome, String>,
}

fn metric(outcome: &Outcome, name: &str) -> rust_decimal::Decimal {
    let s = &outcome.report.summary;
    match name {
        "total_pnl" => s.total_pnl,
        "fills" => rust_decimal::Decimal::from(s.fills),
        "drawdown" => -s.performance.max_drawdown,
        "markout_10s" => outcome
            .report
            .markouts
            .0
            .iter()
            .find(|m| m.horizon_s == 10)
            .map_or(rust_decimal::Decimal::ZERO, |m| m.pnl),
        _ => s.net_pnl,
    }
}

fn sweep(
    args: &BacktestArgs,
    config: &Config,
    manifest: &Manifest,
    registry: &StrategyRegistry,
) -> Result<ExitCode> {
    const METRICS: [&str; 5] = ["net_pnl", "total_pnl", "fills", "drawdown", "markout_10s"];
    if !METRICS.contains(&args.sort_by.as_str()) {
        bail!(
            "--sort-by {:?}: one of {}",
            args.sort_by,
            METRICS.join(", ")
        );
    }
    // The grid: every combination of the swept values, the first key varying slowest.
    let mut grid: Vec<Vec<(String, toml::Value)>> = vec![Vec::new()];
    for (key, values) in &args.sweeps {
        grid = grid
            .into_iter()
            .flat_map(|combo| {
                values.iter().map(move |v| {
                    let mut c = combo.clone();
                    c.push((key.clone(), v.clone()));
                    c
                })
            })
            .collect();
    }
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    info!(runs = grid.len(), workers, "sweep");
    let next = std::sync::atomic::AtomicUsize::new(0);
    let rows: Mutex<Vec<(usize, SweepRow)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..workers.min(grid.len()) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Some(combo) = grid.get(i) else {
                        break;
                    };
                    let mut params = config.strategy.params.clone();
                    for (k, v) in combo {
                        params.insert(k.clone(), v.clone());
                    }
                    let outcome = run_one(args, config, manifest, registry, &params)
                        .map_err(|e| format!("{e:#}"));
                    let row = SweepRow {
                        values: combo.iter().map(|(_, v)| v.to_string()).collect(),
                        outcome,
                    };
                    if let Ok(mut rows) = rows.lock() {
                        rows.push((i, row));
                    }
                }
            });
        }
    });
    let mut rows: Vec<SweepRow> = {
        let mut rows = rows
            .into_inner()
            .map_err(|_| anyhow!("a sweep run panicked"))?;
        rows.sort_by_key(|(i, _)| *i);
        rows.into_iter().map(|(_, r)| r).collect()
    };
    rows.sort_by(|a, b| match (&a.outcome, &b.outcome) {
        (Ok(x), Ok(y)) => metric(y, &args.sort_by).cmp(&metric(x, &args.sort_by)),
        (Ok(_), Err(_)) => std::cmp::Ordering::Less,
        (Err(_), Ok(_)) => std::cmp::Ordering::Greater,
        (Err(_), Err(_)) => std::cmp::Ordering::Equal,
    });
    let keys: Vec<&str> = args.sweeps.iter().map(|(k, _)| k.as_str()).collect();
    let header = [keys.clone(), METRICS.to_vec(), vec!["maker_fills", "error"]].concat();
    let mut table = vec![header.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
    for row in &rows {
        let mut cells = row.values.clone();
        match &row.outcome {
            Ok(o) => {
                for m in METRICS {
                    let v = metric(o, m);
                    // Drawdown sorts as its negative; it prints as the drawdown.
                    let v = if m == "drawdown" { -v } else { v };
                    cells.push(v.round_dp(6).to_string());
                }
                cells.push(o.report.summary.maker_fills.to_string());
                cells.push(String::new());
            }
            Err(e) => {
                cells.extend(std::iter::repeat_n(String::new(), METRICS.len() + 1));
                cells.push(e.replace(',', ";"));
            }
        }
        table.push(cells);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|r| r.get(c).map_or(0, String::len))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:>w$}"))
            .collect();
        outln!("{}", line.join("  ").trim_end())?;
    }
    if let Some(path) = &args.sweep_out {
        let csv: Vec<String> = table.iter().map(|r| r.join(",")).collect();
        std::fs::write(path, csv.join("\n") + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if rows.iter().all(|r| r.outcome.is_err()) {
        return Ok(ExitCode::from(super::exit::FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

/// `name=v1,v2,…`, each value read as TOML (`0.05`, `2`, `true`, `"text"`) or else as a string.
fn parse_sweep(text: &str) -> Result<(String, Vec<toml::Value>), String> {
    let (name, values) = text
        .split_once('=')
        .ok_or_else(|| format!("{text:?}: expected name=value1,value2"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("{text:?}: the param name is empty"));
    }
    let values: Vec<toml::Value> = values
        .split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            toml::from_str::<toml::Table>(&format!("v = {v}"))
                .ok()
                .and_then(|mut t| t.remove("v"))
                .unwrap_or_else(|| toml::Value::String(v.to_string()))
        })
        .collect();
    if values.is_empty() {
        return Err(format!("{text:?}: no values"));
    }
    Ok((name.to_string(), values))
}

/// RFC 3339 in UTC (`2026-12-06T07:00:00Z`) or unix seconds.
pub fn parse_time(text: &str) -> Result<Timestamp, String> {
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(Timestamp::from_secs(secs));
    }
    let t = text.trim_end_matches('Z');
    let (date, time) = t
        .split_once('T')
        .ok_or_else(|| format!("{text:?}: expected 2026-12-06T07:00:00Z or unix seconds"))?;
    let num = |s: &str| {
        s.parse::<u64>()
            .map_err(|_| format!("{text:?}: {s:?} is not a number"))
    };
    let d: Vec<&str> = date.split('-').collect();
    let h: Vec<&str> = time.split(':').collect();
    let [y, mo, da] = d[..] else {
        return Err(format!("{text:?}: the date is not YYYY-MM-DD"));
    };
    let (hh, mi, ss) = match h[..] {
        [hh, mi] => (hh, mi, "0"),
        [hh, mi, ss] => (hh, mi, ss),
        _ => return Err(format!("{text:?}: the time is not HH:MM[:SS]")),
    };
    let (y, mo, da) = (num(y)?, num(mo)?, num(da)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&da) || y < 1970 {
        return Err(format!("{text:?}: not a date"));
    }
    // Days from civil (Howard Hinnant), for years from 1970.
    let (y2, m2) = if mo <= 2 {
        (y - 1, mo + 9)
    } else {
        (y, mo - 3)
    };
    let era = y2 / 400;
    let yoe = y2 - era * 400;
    let doy = (153 * m2 + 2) / 5 + da - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + num(hh)? * 3_600 + num(mi)? * 60 + num(ss)?;
    Ok(Timestamp::from_secs(secs))
}

/// A recording folder's frames, for tools and tests: how many there are.
pub fn count_frames(dir: &Path) -> Result<u64> {
    Ok(RecordingReader::open(dir, None, None)?.count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweeps_read_typed_values_and_name_bad_input() {
        let (k, v) = parse_sweep("gamma=0.01, 0.05,0.1").unwrap();
        assert_eq!(k, "gamma");
        assert_eq!(
            v,
            vec![
                toml::Value::Float(0.01),
                toml::Value::Float(0.05),
                toml::Value::Float(0.1)
            ]
        );
        let (_, v) = parse_sweep("order_size=\"1\",2,fixed").unwrap();
        assert_eq!(
            v,
            vec![
                toml::Value::String("1".into()),
                toml::Value::Integer(2),
                toml::Value::String("fixed".into())
            ]
        );
        assert!(parse_sweep("gamma").unwrap_err().contains("name=value"));
        assert!(parse_sweep("=1").unwrap_err().contains("empty"));
        assert!(parse_sweep("gamma=").unwrap_err().contains("no values"));
    }

    #[test]
    fn times_read_as_rfc3339_utc_or_unix_seconds() {
        assert_eq!(
            parse_time("1750000000").unwrap(),
            Timestamp::from_secs(1_750_000_000)
        );
        assert_eq!(
            parse_time("2025-06-15T15:06:40Z").unwrap(),
            Timestamp::from_secs(1_750_000_000)
        );
        assert_eq!(
            parse_time("2024-02-29T00:00").unwrap(),
            Timestamp::from_secs(1_709_164_800)
        );
        assert!(parse_time("2025-13-01T00:00:00Z").is_err());
        assert!(parse_time("yesterday").is_err());
    }
}
