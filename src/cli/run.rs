//! `perpbot run`: load, check, connect, trade until told to stop, then cancel, report and exit
//! with a code that says how it ended ([`super::exit`]).
//!
//! Stopping: SIGINT (Ctrl-C) and SIGTERM (Docker, systemd, Kubernetes) do the same thing: stop
//! the strategy, cancel every order, wait a bounded time for the venue to confirm, print the
//! report. A second one during that wait stops waiting and reports what is still open. SIGHUP
//! is ignored (perpbot has no config reload; a closed terminal must not leave orders resting).
//! SIGUSR1 pulls the kill switch.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{Context as _, Result};
use serde::Serialize;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::exit;
use super::{RunArgs, connect_venue, load_config, open_journal};
use crate::clock::Clock;
use crate::config::{Config, VenueKind};
use crate::engine::{Control, Engine, RunSummary};
use crate::model::TradingState;
use crate::outln;
use crate::strategy::StrategyRegistry;

/// The `--report` JSON: what ran, where and when, then the run's summary.
#[derive(Debug, Serialize)]
pub struct RunReport<'a> {
    /// perpbot's version.
    pub version: &'static str,
    /// The config file (`null` for the embedded default).
    pub config_file: Option<PathBuf>,
    /// `sim`, `paper` or `kana`.
    pub venue: &'static str,
    /// `testnet`, `mainnet` or `local` for Kana; none for the simulator and paper.
    pub network: Option<String>,
    /// Seed of the simulator's synthetic market (sim and paper), if any.
    pub seed: Option<u64>,
    /// Start (RFC 3339, UTC).
    pub started_at: String,
    /// End (RFC 3339, UTC).
    pub ended_at: String,
    /// The summary.
    #[serde(flatten)]
    pub summary: &'a RunSummary,
}

/// The exit code for how a run ended: orders left open outranks a halt, which outranks success.
pub fn exit_code(summary: &RunSummary) -> u8 {
    if !summary.clean() {
        exit::ORDERS_LEFT_OPEN
    } else if summary.trading_state != TradingState::Active {
        exit::HALTED
    } else {
        exit::SUCCESS
    }
}

/// Check, before any file is created, that what the config needs to trade is there: the
/// mainnet confirmation and the secrets.
pub fn preflight(config: &Config, mainnet_flag: bool) -> Result<()> {
    let problems = config.not_ready(mainnet_flag);
    if !problems.is_empty() {
        return Err(exit::invalid_config(problems.join("; ")));
    }
    Ok(())
}

/// `perpbot run`.
pub async fn run(args: RunArgs, registry: StrategyRegistry) -> Result<ExitCode> {
    let started = SystemTime::now();
    let config = load_config(args.config.as_deref())?;
    preflight(&config, args.i_understand_this_is_mainnet)?;
    let strategy = registry.build(&config.strategy.name, &config.strategy.params)?;
    if let Some(path) = &config.engine.kill_switch_file
        && path.exists()
    {
        return Err(exit::CodedError {
            code: exit::HALTED,
            message: format!(
                "kill-switch file {} exists from an earlier kill; remove it to trade again",
                path.display()
            ),
        }
        .into());
    }
    let clock = Clock::system();
    let journal = match &config.engine.journal {
        Some(path) => Some(open_journal(&config, path)?),
        None => None,
    };
    let session = connect_venue(&config, clock).await?;
    let markets = session.markets.clone();
    info!(
        venue = ?config.venue.kind,
        markets = ?config.markets,
        strategy = %config.strategy.name,
        "connected; Ctrl-C or SIGTERM stops (cancels every order first)"
    );
    let mut engine = Engine::new(
        session,
        strategy,
        config.risk.clone(),
        config.rate_limits.clone(),
        config.engine.clone(),
        clock,
    );
    if let Some(path) = config.limits_file() {
        engine.restore_limits(path)?;
    }
    if let Some(opened) = journal {
        let timeout = Duration::from_millis(config.engine.journal_resolve_timeout_ms);
        let report = engine
            .attach_journal(opened.journal, opened.replay, timeout)
            .await;
        if !report.unresolved.is_empty() {
            warn!(requests = ?report.unresolved, "journaled requests still unresolved: their orders stay unknown");
        }
    }
    let (control_tx, control_rx) = mpsc::channel(8);
    spawn_signal_handlers(control_tx.clone());
    if let Some(addr) = args.metrics.or(config.control.listen) {
        let token = match &config.control.token {
            Some(source) => Some(source.load("control.token").map_err(exit::invalid_config)?),
            None => None,
        };
        let status = engine.watch_status();
        let latencies = engine.latency_samples();
        crate::control::serve(addr, status, control_tx.clone(), token, latencies)
            .await
            .with_context(|| format!("control endpoint on {addr}"))?;
    }
    if let Some(duration) = args.duration {
        let tx = control_tx.clone();
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            info!(secs = duration.as_secs_f64(), "run duration reached");
            let _ = tx.send(Control::Shutdown).await;
        });
    }
    let history = match config.history_database() {
        Some(path) => {
            let started_ms = clock.now().0 / 1_000_000;
            let history = crate::history::History::start(
                &path,
                &config.strategy.name,
                config.venue.kind.name(),
                markets.clone(),
                started_ms,
                engine.watch_status(),
                Duration::from_secs(config.history.sample_secs.max(1)),
            )
            .with_context(|| format!("history database {}", path.display()))?;
            engine.watch_fills(history.fills());
            Some(history)
        }
        None => None,
    };
    let alerts = match &config.alerts {
        Some(a) => {
            let url = a
                .webhook_url
                .load("alerts.webhook_url")
                .map_err(exit::invalid_config)?;
            Some(crate::alerts::start(a, url, engine.watch_status()))
        }
        None => None,
    };
    let dashboard = args
        .dashboard()
        .then(|| tokio::spawn(crate::tui::run(engine.watch_status(), control_tx.clone())));
    let finished = engine.run(control_rx).await;
    if let Some(task) = dashboard {
        // The engine is gone, so its status channel closed: the dashboard restores the
        // terminal and ends; the report is printed after it.
        let _ = task.await;
    }
    if let Some(history) = history {
        history.finish(&finished, &markets, Clock::system().now().0 / 1_000_000);
    }
    let summary = finished.summary;
    if let Some((handle, task)) = alerts {
        if let Some(alert) = crate::alerts::shutdown_alert(&summary, Clock::system().now()) {
            handle.send(alert);
        }
        drop(handle);
        // The queued alerts go out before the process ends (bounded: a dead webhook must not
        // hold the exit up).
        if tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .is_err()
        {
            warn!("alerts still unsent after 5 s; giving up on them");
        }
    }
    // The report goes to stdout; a reader that went away must not change how the run ends.
    if let Err(e) = print_summary(&summary) {
        warn!(error = %e, "the run report could not be printed");
    }
    if let Some(path) = &args.report {
        let report = RunReport {
            version: env!("CARGO_PKG_VERSION"),
            config_file: args.config.clone(),
            venue: config.venue.kind.name(),
            network: match config.venue.kind {
                VenueKind::Kana => config.venue.kana.as_ref().map(|k| k.network),
                VenueKind::Kyan => config.venue.kyan.as_ref().map(|k| k.network),
                _ => None,
            }
            .map(|n| format!("{n:?}").to_lowercase()),
            seed: match config.venue.kind {
                VenueKind::Sim | VenueKind::PaperSim => Some(config.venue.sim.synthetic.seed),
                VenueKind::Paper => Some(config.venue.paper.source.seed),
                VenueKind::KyanSim => {
                    Some(crate::cli::kyan_venue::sim_seed(&config.venue.kyan_sim))
                }
                VenueKind::Kana | VenueKind::PaperKana | VenueKind::Kyan => None,
            },
            started_at: rfc3339(started),
            ended_at: rfc3339(SystemTime::now()),
            summary: &summary,
        };
        write_report(path, &report)?;
        info!(path = %path.display(), "run report written");
    }
    Ok(ExitCode::from(exit_code(&summary)))
}

fn write_report(path: &Path, report: &RunReport<'_>) -> Result<()> {
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(path, json + "\n")
        .with_context(|| format!("writing the run report to {}", path.display()))
}

/// `2026-12-06T04:33:25.000Z` from a system time (UTC), as the journal writes times.
pub fn rfc3339(t: SystemTime) -> String {
    let ms = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    crate::journal::show::utc(ms)
}

/// SIGINT and SIGTERM stop the run (a second one stops the wait for cancels; a third exits at
/// once), SIGHUP is ignored, SIGUSR1 pulls the kill switch.
fn spawn_signal_handlers(tx: mpsc::Sender<Control>) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let stop = tx.clone();
        tokio::spawn(async move {
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                warn!("cannot listen for SIGINT/SIGTERM: stop the bot with the kill switch");
                return;
            };
            let mut received = 0u32;
            loop {
                let name = tokio::select! {
                    Some(()) = int.recv() => "SIGINT",
                    Some(()) = term.recv() => "SIGTERM",
                    else => return,
                };
                received += 1;
                match received {
                    1 => info!(
                        signal = name,
                        "stopping: cancelling every order, then the report (send it again to stop waiting)"
                    ),
                    2 => warn!(
                        signal = name,
                        "second stop signal: no more waiting for cancel confirmations"
                    ),
                    _ => {
                        eprintln!(
                            "third stop signal: exiting at once; orders may rest on the venue"
                        );
                        std::process::exit(i32::from(exit::ORDERS_LEFT_OPEN));
                    }
                }
                let _ = stop.send(Control::Shutdown).await;
            }
        });
        tokio::spawn(async move {
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                info!(
                    "SIGHUP ignored: perpbot does not reload its config; SIGTERM or Ctrl-C stops it"
                );
            }
        });
        tokio::spawn(async move {
            let Ok(mut usr1) = signal(SignalKind::user_defined1()) else {
                return;
            };
            while usr1.recv().await.is_some() {
                let _ = tx.send(Control::Kill("SIGUSR1".into())).await;
            }
        });
    }
    #[cfg(not(unix))]
    tokio::spawn(async move {
        while tokio::signal::ctrl_c().await.is_ok() {
            info!("Ctrl-C: stopping (press it again to stop waiting for cancels)");
            let _ = tx.send(Control::Shutdown).await;
        }
    });
}

/// The run report, on stdout.
pub fn print_summary(s: &RunSummary) -> Result<()> {
    let p = &s.performance;
    let r = |d: rust_decimal::Decimal| d.round_dp(6);
    outln!()?;
    outln!(
        "── run report ({}, {:.0} s) ──",
        s.strategy,
        p.duration_secs
    )?;
    outln!(
        "  PnL net of gas    {} = PnL {} − gas {}",
        r(s.net_pnl),
        r(s.total_pnl),
        r(s.gas.in_quote)
    )?;
    outln!(
        "  PnL before gas    {} = spread {} + inventory {} − fees {} + funding {}",
        r(p.total_pnl),
        r(p.spread_capture),
        r(p.inventory_pnl),
        r(p.fees),
        r(p.funding)
    )?;
    outln!(
        "  venue PnL         {} (realised {} − fees + unrealised {}, from the venue's positions)",
        r(s.total_pnl),
        r(s.realized_pnl),
        r(s.unrealized_pnl)
    )?;
    if s.tx_costs.transactions > 0 || !s.gas.native.is_zero() {
        outln!(
            "  gas               {} {} = {} in quote, priced {}{}; {} transactions on chain ({} aborted), {} gas units",
            s.gas.native.normalize(),
            s.gas.coin,
            r(s.gas.in_quote),
            s.gas.price_source,
            if s.gas.unpriced.is_zero() {
                String::new()
            } else {
                format!(
                    " ({} {} not priced)",
                    s.gas.unpriced.normalize(),
                    s.gas.coin
                )
            },
            s.tx_costs.transactions,
            s.tx_costs.failed_transactions,
            s.tx_costs.gas_units,
        )?;
    }
    outln!(
        "  fills             {} ({} maker, {} taker); fill ratio {:.3} per order sent",
        s.fills,
        s.maker_fills,
        s.fills - s.maker_fills,
        s.fill_ratio
    )?;
    for m in &p.markets {
        outln!(
            "  {:<17} volume {}, avg |position| {}, max |position| {}, final {}",
            m.name,
            r(m.volume),
            r(m.avg_abs_inventory),
            r(m.max_abs_inventory),
            r(m.final_position)
        )?;
    }
    outln!("  max drawdown      {}", r(p.max_drawdown))?;
    outln!(
        "  loss limits       window PnL {} (net of gas), drawdown {}",
        r(s.limits_window_pnl),
        r(s.limits_window_drawdown)
    )?;
    outln!(
        "  requests sent     {} ({} orders); {} refused by the venue",
        s.requests_sent,
        s.orders_sent,
        s.venue_rejections
    )?;
    if s.attributed_fills + s.unattributed_fills > 0 {
        outln!(
            "  fills by match    {} matched to their order by market, side, price, size and time; {} owned by no order (TP/SL, liquidation or placed elsewhere)",
            s.attributed_fills,
            s.unattributed_fills
        )?;
    }
    let rc = &s.reconciliation;
    if rc.runs > 0 {
        outln!(
            "  reconciliations   {} ({} orders adopted, {} gone, {} position gaps explained, {} UNEXPLAINED)",
            rc.runs,
            rc.adopted,
            rc.gone,
            rc.explained,
            rc.unexplained
        )?;
    }
    if let Some(failure) = &s.strategy_failure {
        outln!("  STRATEGY STOPPED  {failure}")?;
    }
    outln!("  risk rejections   {}", s.risk_rejections)?;
    outln!("  trading state     {:?}", s.trading_state)?;
    if s.clean() {
        outln!("  open orders left  none")?;
    } else {
        outln!(
            "  OPEN ORDERS LEFT  {:?}{}",
            s.left_open,
            if s.shutdown_interrupted {
                " (the wait was cut short by a second stop signal)"
            } else {
                ""
            }
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_the_report_are_rfc3339_utc() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_531_605);
        assert_eq!(rfc3339(t), "2026-12-06T04:33:25.000Z");
        assert_eq!(rfc3339(SystemTime::UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
    }
}
