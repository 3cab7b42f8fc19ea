//! The engine: one task that owns all state and runs venue → state → strategy → risk → executor.
//!
//! Each venue event is applied to the [`State`], then handed to the strategy; the intents the
//! strategy emits are checked by the risk engine one by one (approved orders are tracked at
//! once, so the next check sees them) and the approved ones go to the executor as one batch.
//! Refusals and request outcomes come back as events through the same path, so the strategy sees
//! everything in one order.
//!
//! The step logic is [`EngineCore`], synchronous, with time passed in. [`Engine`] is its async
//! runner: it feeds the core from the venue's channels, the wall clock and the control channel,
//! performs the venue work the core decides in spawned tasks, and keeps the stall watchdog fed.
//!
//! Shutdown (Ctrl-C, [`Control::Shutdown`]) stops the strategy, cancels every open order, waits a
//! bounded time for the venue to confirm, and reports what is left in the [`RunSummary`].

mod core;
pub mod status;
mod summary;
#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::executor::{ExecReport, Job, RateLimitConfig, RequestId, spawn_job};
use crate::risk::RiskConfig;
use crate::state::State;
use crate::strategy::Strategy;
use crate::venue::{SentHook, VenueSession, VenueWriter};
use crate::watchdog::{self, Heartbeat};
use perpbot_model::Event;
use perpbot_model::clock::Clock;

pub use self::core::EngineCore;
pub use status::Status;
pub use summary::{Finished, ReconciliationStats, RunSummary};

/// The file a running bot writes when it has acted on the kill-switch file `kill_file`: its
/// name with `.ack` appended. `perpbot kill` waits for it.
pub fn kill_ack_file(kill_file: &std::path::Path) -> PathBuf {
    crate::limits::appended(kill_file, ".ack")
}

/// Engine settings, from `[engine]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// How long shutdown waits for the venue to confirm cancels (ms).
    pub shutdown_timeout_ms: u64,
    /// How often a status line is logged (ms); 0 turns it off.
    pub status_interval_ms: u64,
    /// When this file exists the kill switch is pulled (`perpbot kill` creates it).
    pub kill_switch_file: Option<PathBuf>,
    /// Most events the strategy may cause in reaction to one venue event (guards against a
    /// strategy that answers every rejection with a new order).
    pub max_internal_events: usize,
    /// When the engine makes no progress for this long (ms), a watchdog cancels every live order
    /// directly through the venue; 0 turns it off.
    pub stall_timeout_ms: u64,
    /// Write-ahead journal file ([`crate::journal`]); absent = no journal. When the file exists
    /// at start-up, what the last process left open is settled before trading resumes.
    pub journal: Option<PathBuf>,
    /// When journal records are fsynced: `write_ahead` (requests and transactions before they
    /// leave; the rest batched), `every_record` or `none`.
    pub journal_sync: crate::journal::JournalSync,
    /// How often the journal writes a snapshot of live orders and positions (ms).
    pub journal_snapshot_ms: u64,
    /// Longest wait at start-up for the venue to say how journaled requests ended (ms); covers a
    /// Kana transaction's expiry, after which an unseen transaction is known not to execute.
    pub journal_resolve_timeout_ms: u64,
    /// How long a finished order (filled, cancelled, rejected or expired) stays in the state
    /// after its last change (ms). Late fills and acknowledgements find it there, and strategies
    /// can look it up; then it is dropped, so a long run's memory stays bounded. The passes
    /// that drop them run every retention or every minute, whichever is sooner, so an order may
    /// stay up to that much longer; 0 drops each one at the first tick after it ends. Only a
    /// strategy that looks back at old orders needs much: a market maker's backtest that keeps
    /// none runs faster (BENCHMARKS.md, SBS-3, thirteenth session).
    pub finished_order_retention_ms: u64,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            shutdown_timeout_ms: 10_000,
            status_interval_ms: 5_000,
            kill_switch_file: None,
            max_internal_events: 64,
            stall_timeout_ms: 5_000,
            journal: None,
            journal_sync: crate::journal::JournalSync::WriteAhead,
            journal_snapshot_ms: 10_000,
            journal_resolve_timeout_ms: 90_000,
            finished_order_retention_ms: 600_000,
        }
    }
}

/// Commands from outside the engine (signal handlers, the CLI, the control endpoint, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Stop gracefully: cancel everything and exit.
    Shutdown,
    /// Pull the kill switch: cancel everything and halt trading, but keep running.
    Kill(String),
    /// Pause quoting: go reduce-only (opening orders cancelled), keep running.
    ReduceOnly(String),
}

/// The async runner around an [`EngineCore`] over one venue session.
pub struct Engine {
    core: EngineCore,
    writer: Arc<dyn VenueWriter>,
    events: mpsc::Receiver<Event>,
    reports_tx: mpsc::Sender<ExecReport>,
    reports: mpsc::Receiver<ExecReport>,
    clock: Clock,
    heart: Arc<Heartbeat>,
    /// The journal's hook, handed to every venue call ([`crate::venue::RequestContext`]).
    on_sent: Option<SentHook>,
    /// Where the status goes on every tick, once someone watches ([`Engine::watch_status`]).
    status: Option<watch::Sender<Arc<Status>>>,
    /// When each request in flight was handed to the venue.
    sent_at: HashMap<RequestId, Instant>,
    /// The latest request latencies (decision to first outcome), for the status's percentiles.
    latencies: VecDeque<Duration>,
    /// Latencies not yet taken by a metrics scrape ([`Engine::latency_samples`]).
    latency_sink: Option<Arc<Mutex<Vec<f64>>>>,
    /// Where a copy of every fill goes ([`Engine::watch_fills`]).
    fill_tap: Option<mpsc::Sender<perpbot_model::Fill>>,
    /// The latest fills, for the status.
    recent_fills: VecDeque<status::FillLine>,
    /// The venue stream's counters, where it keeps them.
    stream_stats: Option<crate::venue::StreamStats>,
}

/// How many fills the status shows.
const RECENT_FILLS: usize = 8;

/// How many recent latencies the status's percentiles are taken over.
const LATENCY_WINDOW: usize = 1024;
/// Most latencies kept for a scrape that has not come (older ones are dropped).
const LATENCY_SINK_MAX: usize = 10_000;

impl Engine {
    /// Assemble an engine over a connected venue session.
    pub fn new(
        session: VenueSession,
        strategy: Box<dyn Strategy>,
        risk: RiskConfig,
        rate_limits: RateLimitConfig,
        config: EngineConfig,
        clock: Clock,
    ) -> Engine {
        let (reports_tx, reports) = mpsc::channel(1024);
        let core = EngineCore::new(
            &session.markets,
            session.writer.capabilities(),
            strategy,
            risk,
            rate_limits,
            config,
            clock.now(),
        );
        Engine {
            core,
            stream_stats: session.stream_stats,
            writer: session.writer,
            events: session.events,
            reports_tx,
            reports,
            clock,
            heart: Heartbeat::new(),
            on_sent: None,
            status: None,
            sent_at: HashMap::new(),
            latencies: VecDeque::with_capacity(LATENCY_WINDOW),
            latency_sink: None,
            fill_tap: None,
            recent_fills: VecDeque::with_capacity(RECENT_FILLS),
        }
    }

    /// Send a copy of every fill the venue reports to `tx` (a history database). A full queue
    /// drops the copy, never holds up the engine.
    pub fn watch_fills(&mut self, tx: mpsc::Sender<perpbot_model::Fill>) {
        self.fill_tap = Some(tx);
    }

    fn tap(&mut self, event: &Event) {
        let Event::Fill(f) = event else {
            return;
        };
        if let Some(tx) = &self.fill_tap
            && tx.try_send((**f).clone()).is_err()
        {
            warn!("fill copy dropped: its receiver is slow or gone");
        }
        if let Some(spec) = self.core.state().spec(f.market) {
            if self.recent_fills.len() == RECENT_FILLS {
                self.recent_fills.pop_front();
            }
            self.recent_fills.push_back(status::FillLine {
                ts: self.clock.now(),
                market: spec.name.clone(),
                side: f.side,
                price: spec.ticks_to_price(f.price),
                size: spec.lots_to_size(f.lots),
                liquidity: f.liquidity,
            });
        }
    }

    /// A view of the running bot, renewed on every engine tick (250 ms) and at the end.
    pub fn watch_status(&mut self) -> watch::Receiver<Arc<Status>> {
        match &self.status {
            Some(tx) => tx.subscribe(),
            None => {
                let (tx, rx) = watch::channel(Arc::new(self.status_now()));
                self.status = Some(tx);
                rx
            }
        }
    }

    /// Request latencies in seconds as they are measured, for a metrics histogram: the holder
    /// takes them out (`std::mem::take`) when it scrapes.
    pub fn latency_samples(&mut self) -> Arc<Mutex<Vec<f64>>> {
        Arc::clone(
            self.latency_sink
                .get_or_insert_with(|| Arc::new(Mutex::new(Vec::new()))),
        )
    }

    fn status_now(&self) -> Status {
        let mut status = self.core.status();
        status.recent_fills = self.recent_fills.iter().cloned().collect();
        status.stream = self.stream_stats.as_ref().map(|read| read());
        if !self.latencies.is_empty() {
            let mut sorted: Vec<Duration> = self.latencies.iter().copied().collect();
            sorted.sort_unstable();
            let at = |q: f64| {
                let i = ((sorted.len() - 1) as f64 * q).round() as usize;
                sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1_000.0)
            };
            status.latency = Some(status::Latency {
                samples: sorted.len(),
                p50_ms: at(0.5),
                p99_ms: at(0.99),
            });
        }
        status
    }

    fn publish_status(&self) {
        if let Some(tx) = &self.status {
            tx.send_replace(Arc::new(self.status_now()));
        }
    }

    /// A request's outcome arrived: note its latency the first time.
    fn measure(&mut self, report: &ExecReport) {
        let Some(sent) = self.sent_at.remove(&report.id) else {
            return;
        };
        let latency = sent.elapsed();
        if self.latencies.len() == LATENCY_WINDOW {
            self.latencies.pop_front();
        }
        self.latencies.push_back(latency);
        if let Some(sink) = &self.latency_sink
            && let Ok(mut samples) = sink.lock()
            && samples.len() < LATENCY_SINK_MAX
        {
            samples.push(latency.as_secs_f64());
        }
    }

    /// Resume from a write-ahead journal before [`Engine::run`]: settle the requests an earlier
    /// process left without an outcome (asking the venue, never resending), re-track its live
    /// orders under their old client ids, continue client and request ids after the journal's,
    /// and record everything from here on ([`crate::journal`]).
    pub async fn attach_journal(
        &mut self,
        journal: crate::journal::Journal,
        replay: crate::journal::Fold,
        resolve_timeout: Duration,
    ) -> crate::journal::RecoveryReport {
        let now = self.clock.now();
        let state = self.core.state_mut();
        state.set_now(now);
        let report = journal
            .recover(replay, state, &*self.writer, resolve_timeout)
            .await;
        self.on_sent = Some(journal.signed_hook());
        self.core.attach_journal(journal, &report);
        report
    }

    /// Take up the risk limits' history an earlier run saved in `path` (loss and drawdown over
    /// the loss window, the last hour's spend, a limit that tripped) and keep saving it there.
    /// A damaged file is an error: starting with fresh limits would forget a loss.
    pub fn restore_limits(&mut self, path: PathBuf) -> Result<(), crate::limits::LimitsFileError> {
        self.core.restore_limits(path, self.clock.now())
    }

    /// The state (for inspection in tests and tools).
    pub fn state(&self) -> &State {
        self.core.state()
    }

    /// Start the venue work the core decided, each in a task of its own.
    fn start_jobs(&mut self) {
        for job in self.core.take_jobs() {
            if let Job::Execute { id, .. } = &job {
                self.sent_at.insert(*id, Instant::now());
            }
            spawn_job(
                job,
                Arc::clone(&self.writer),
                self.on_sent.clone(),
                self.reports_tx.clone(),
            );
        }
    }

    /// Run until shutdown is asked for or the venue stream ends, then cancel everything and
    /// return the summary and final state.
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) -> Finished {
        let started = self.core.start(self.clock.now());
        self.start_jobs();
        if !started {
            return self.shutdown(&mut control).await;
        }

        let config = self.core.config().clone();
        let stall = Duration::from_millis(config.stall_timeout_ms);
        let watchdog = (!stall.is_zero()).then(|| {
            watchdog::spawn(
                Arc::clone(&self.heart),
                Arc::clone(&self.writer),
                self.on_sent.clone(),
                stall,
            )
        });
        let mut tick = tokio::time::interval(watchdog::TICK);
        let status_every = Duration::from_millis(config.status_interval_ms.max(1));
        let mut status = tokio::time::interval_at(Instant::now() + status_every, status_every);
        let mut kill_file_check = tokio::time::interval(Duration::from_secs(1));
        let mut control_open = true;
        loop {
            let next_timer = self.core.next_timer().map(|t| self.clock.instant_at(t));
            let pump_wait = self.core.pump(self.clock.now());
            self.start_jobs();
            tokio::select! {
                biased;
                ctrl = control.recv(), if control_open => match ctrl {
                    Some(Control::Shutdown) => break,
                    Some(Control::Kill(reason)) => self.core.kill(&reason, self.clock.now()),
                    Some(Control::ReduceOnly(reason)) => {
                        self.core.reduce_only(&reason, self.clock.now());
                    }
                    // Nobody can send commands any more: keep running until the venue ends.
                    None => control_open = false,
                },
                Some(report) = self.reports.recv() => {
                    self.measure(&report);
                    self.core.on_report(report, self.clock.now());
                }
                event = self.events.recv() => match event {
                    Some(event) => {
                        self.tap(&event);
                        self.core.on_venue_event(event, self.clock.now());
                    }
                    None => {
                        error!("venue stream ended; shutting down");
                        break;
                    }
                },
                _ = sleep_until_opt(next_timer) => self.core.fire_timers(self.clock.now()),
                _ = sleep_opt(pump_wait) => {}
                _ = kill_file_check.tick(), if config.kill_switch_file.is_some() => {
                    self.check_kill_file();
                }
                _ = status.tick(), if config.status_interval_ms > 0 => self.core.log_status(),
                _ = tick.tick() => {
                    self.heart.beat(self.core.live_cancels());
                    self.writer.engine_alive();
                    self.core.on_tick(self.clock.now(), self.writer.tx_costs());
                    self.publish_status();
                }
            }
            self.start_jobs();
            self.core.after_step();
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        self.shutdown(&mut control).await
    }

    /// Act on the kill-switch file: halt (once) and acknowledge, so `perpbot kill` can tell
    /// the operator that a bot really stopped. A new kill after the acknowledgement was taken
    /// away is acknowledged again.
    fn check_kill_file(&mut self) {
        let Some(path) = self.core.config().kill_switch_file.clone() else {
            return;
        };
        if !path.exists() {
            return;
        }
        if !self.core.is_killed() {
            let reason = format!("kill file {} present", path.display());
            self.core.kill(&reason, self.clock.now());
            self.start_jobs();
        }
        let ack = kill_ack_file(&path);
        if !ack.exists() {
            let text = format!(
                "halted pid={} live_orders={} (cancels sent)\n",
                std::process::id(),
                self.core.state().live_order_count(None)
            );
            match std::fs::write(&ack, text) {
                Ok(()) => info!(file = %ack.display(), "kill switch acknowledged"),
                Err(e) => {
                    warn!(file = %ack.display(), error = %e, "cannot acknowledge the kill switch")
                }
            }
        }
    }

    /// Stop the strategy, cancel everything, wait (bounded) for confirmations, summarise. A
    /// further stop request on `control` (a second Ctrl-C or SIGTERM) ends the wait at once:
    /// the summary then lists what is still open.
    async fn shutdown(mut self, control: &mut mpsc::Receiver<Control>) -> Finished {
        self.core.begin_shutdown(self.clock.now());
        self.start_jobs();
        let timeout = Duration::from_millis(self.core.config().shutdown_timeout_ms);
        let deadline = Instant::now() + timeout;
        let mut control_open = true;
        while self.core.state().live_order_count(None) > 0 {
            let pump_wait = self.core.pump(self.clock.now());
            self.start_jobs();
            tokio::select! {
                Some(report) = self.reports.recv() => {
                    self.measure(&report);
                    self.core.on_report_in_shutdown(report, self.clock.now());
                }
                Some(event) = self.events.recv() => {
                    self.tap(&event);
                    self.core.on_venue_event_in_shutdown(event, self.clock.now());
                }
                _ = sleep_opt(pump_wait) => {}
                _ = tokio::time::sleep_until(deadline) => break,
                stop = control.recv(), if control_open => match stop {
                    Some(Control::Shutdown) => {
                        self.core.interrupt_shutdown();
                        break;
                    }
                    Some(Control::Kill(_) | Control::ReduceOnly(_)) => {}
                    None => control_open = false,
                },
            }
            self.start_jobs();
        }
        self.publish_status();
        self.core.finish(self.clock.now(), self.writer.tx_costs())
    }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
