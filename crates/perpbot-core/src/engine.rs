//! The engine: one task that owns all state and runs venue → state → strategy → risk → executor.
//!
//! Each venue event is applied to the [`State`], then handed to the strategy; the intents the
//! strategy emits are checked by the [`RiskEngine`] one by one (approved orders are tracked at
//! once, so the next check sees them) and the approved ones go to the [`Executor`] as one batch.
//! Refusals and request outcomes come back as events through the same path, so the strategy sees
//! everything in one order.
//!
//! Shutdown (Ctrl-C, [`Control::Shutdown`]) stops the strategy, cancels every open order, waits a
//! bounded time for the venue to confirm, and reports what is left in the [`RunSummary`].

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet, VecDeque};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{error, info, warn};

use crate::executor::{ExecReport, ExecStats, Executor, RateLimitConfig};
use crate::gas::GasMeter;
use crate::reconcile::Reconciler;
use crate::report::{Performance, PerformanceTracker};
use crate::risk::{Approved, RiskConfig, RiskEngine};
use crate::state::State;
use crate::strategy::{Context, Outbox, Strategy, StrategyError, TimerCommand};
use crate::venue::{CancelOrder, VenueSession, VenueWriter};
use crate::watchdog::{self, Heartbeat};
use perpbot_model::clock::Clock;
use perpbot_model::{
    ClientOrderId, ConnectionState, Direction, Event, Intent, MarketId, OrderStatus, TimerId,
    Timestamp, TradingState,
};

/// How often finished orders are dropped from the state.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// How long a finished order stays in the state after its last change: long enough for a late
/// fill or acknowledgement to find it and for a strategy to look back at recent orders.
const KEEP_FINISHED_ORDERS: Duration = Duration::from_secs(600);
/// How often the risk limits' history is saved (and at every trip and at shutdown).
const LIMITS_SAVE_EVERY: Duration = Duration::from_secs(5);

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
        }
    }
}

/// Commands from outside the engine (signal handlers, the CLI, tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// Stop gracefully: cancel everything and exit.
    Shutdown,
    /// Pull the kill switch: cancel everything and halt trading, but keep running.
    Kill(String),
}

/// What a run did, printed at the end and returned to the caller.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Strategy name.
    pub strategy: String,
    /// Trading state at the end.
    pub trading_state: TradingState,
    /// Fills seen.
    pub fills: u64,
    /// Of which maker fills.
    pub maker_fills: u64,
    /// PnL realised by fills (quote, before fees).
    pub realized_pnl: Decimal,
    /// Unrealised PnL at the last mids (quote).
    pub unrealized_pnl: Decimal,
    /// Fees paid (quote).
    pub fees: Decimal,
    /// realised − fees + unrealised (before gas).
    pub total_pnl: Decimal,
    /// What the venue's transactions cost in gas, in the chain's coin and in the quote.
    pub gas: crate::gas::GasCost,
    /// `total_pnl` − gas: what the run made or lost.
    pub net_pnl: Decimal,
    /// PnL and drawdown as the loss limits count them: over the loss window, earlier runs
    /// included when the limits are saved.
    pub limits_window_pnl: Decimal,
    /// Drawdown as the limits count it.
    pub limits_window_drawdown: Decimal,
    /// True when a second stop request cut short the wait for cancel confirmations.
    pub shutdown_interrupted: bool,
    /// Venue requests sent.
    pub requests_sent: u64,
    /// Orders sent.
    pub orders_sent: u64,
    /// Intents refused before leaving the process, by the risk check or the rate limiter.
    pub risk_rejections: u64,
    /// Requests the venue refused.
    pub venue_rejections: u64,
    /// Orders still live when the engine stopped (not confirmed cancelled).
    pub left_open: Vec<ClientOrderId>,
    /// Events the strategy could not handle (returned an error).
    pub strategy_errors: u64,
    /// Why the strategy was stopped, if it panicked (trading was then halted).
    pub strategy_failure: Option<String>,
    /// Fills per order sent (0 when none was sent).
    pub fill_ratio: f64,
    /// What the venue's own transactions cost (gas on Kana).
    pub tx_costs: crate::venue::TxCosts,
    /// What reconciliation with the venue found over the run.
    pub reconciliation: ReconciliationStats,
    /// Where the PnL came from, inventory and drawdown.
    pub performance: Performance,
}

impl RunSummary {
    /// True when every order was confirmed closed.
    pub fn clean(&self) -> bool {
        self.left_open.is_empty()
    }
}

/// Totals of what reconciliation found (see [`crate::reconcile`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconciliationStats {
    /// Reconciliations run (start-up and after each reconnect).
    pub runs: u64,
    /// Venue orders adopted as external.
    pub adopted: u64,
    /// Orders the venue no longer listed, closed locally.
    pub gone: u64,
    /// Position differences explained (missed fills, TP/SL, liquidation).
    pub explained: u64,
    /// Position differences nothing explained (each switched trading to reduce-only).
    pub unexplained: u64,
}

/// What [`Engine::run`] hands back: the summary and the final state (for tools and tests).
#[derive(Debug)]
pub struct Finished {
    /// The run's summary.
    pub summary: RunSummary,
    /// The state at the end.
    pub state: State,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TimerEntry {
    due: Instant,
    seq: u64,
    id: TimerId,
    every: Option<Duration>,
}

/// One task's worth of trading: state, strategy, risk and executor over one venue session.
pub struct Engine {
    state: State,
    strategy: Box<dyn Strategy>,
    risk: RiskEngine,
    executor: Executor,
    reports: mpsc::Receiver<ExecReport>,
    events: mpsc::Receiver<Event>,
    outbox: Outbox,
    pending: VecDeque<Event>,
    timers: BinaryHeap<Reverse<TimerEntry>>,
    cancelled_timers: HashSet<TimerId>,
    timer_seq: u64,
    clock: Clock,
    config: EngineConfig,
    risk_rejections: u64,
    strategy_errors: u64,
    tracker: PerformanceTracker,
    /// Set when the strategy panicked: it gets no more calls and trading is halted.
    strategy_failure: Option<String>,
    writer: Arc<dyn VenueWriter>,
    heart: Arc<Heartbeat>,
    /// Markets whose quotes were pulled for a stale book (until it updates again).
    stale_pulled: HashSet<MarketId>,
    reconciler: Reconciler,
    reconciliation: ReconciliationStats,
    /// Gas paid so far, priced into PnL and the budgets.
    gas: GasMeter,
    /// Where the risk limits' history is saved ([`crate::limits`]); none = not saved.
    limits_file: Option<PathBuf>,
    /// When the limits were last saved.
    limits_saved: Option<Instant>,
    /// Set when a second stop request ended the shutdown's wait for cancels.
    shutdown_interrupted: bool,
    /// The write-ahead journal, when one is configured ([`Engine::attach_journal`]).
    journal: Option<crate::journal::Journal>,
    /// When finished orders were last dropped from the state ([`PRUNE_EVERY`]).
    last_prune: Timestamp,
}

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
        let (report_tx, reports) = mpsc::channel(1024);
        let gas = GasMeter::new(&risk.gas_coin, risk.gas_coin_price);
        let mut state = State::new(&session.markets);
        state.set_now(clock.now());
        Engine {
            state,
            strategy,
            risk: RiskEngine::new(risk),
            writer: Arc::clone(&session.writer),
            executor: Executor::new(session.writer, rate_limits, report_tx),
            reports,
            events: session.events,
            outbox: Outbox::new(0),
            pending: VecDeque::new(),
            timers: BinaryHeap::new(),
            cancelled_timers: HashSet::new(),
            timer_seq: 0,
            clock,
            config,
            risk_rejections: 0,
            strategy_errors: 0,
            tracker: PerformanceTracker::new(),
            strategy_failure: None,
            heart: Heartbeat::new(),
            stale_pulled: HashSet::new(),
            reconciler: Reconciler::new(),
            reconciliation: ReconciliationStats::default(),
            gas,
            limits_file: None,
            limits_saved: None,
            shutdown_interrupted: false,
            journal: None,
            last_prune: Timestamp(0),
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
        self.state.set_now(self.clock.now());
        let report = journal
            .recover(replay, &mut self.state, &*self.writer, resolve_timeout)
            .await;
        self.outbox = Outbox::new(report.max_client_id);
        self.executor
            .set_journal(journal.clone(), report.max_request_id);
        self.journal = Some(journal);
        report
    }

    /// Take up the risk limits' history an earlier run saved in `path` (loss and drawdown over
    /// the loss window, the last hour's spend, a limit that tripped) and keep saving it there.
    /// A damaged file is an error: starting with fresh limits would forget a loss.
    pub fn restore_limits(&mut self, path: PathBuf) -> Result<(), crate::limits::LimitsFileError> {
        self.state.set_now(self.clock.now());
        match crate::limits::load(&path)? {
            Some(saved) => {
                let now = self.state.now();
                let change = self.risk.restore(&saved, now);
                let (pnl, drawdown) = self.risk.window_pnl_and_drawdown();
                info!(
                    file = %path.display(),
                    pnl = %pnl.round_dp(4),
                    drawdown = %drawdown.round_dp(4),
                    fees_last_hour = %self.risk.cost_last_hour(now).round_dp(4),
                    "risk limits restored: loss and drawdown count from the window's start, not this restart"
                );
                if let Some(change) = change {
                    error!(to = ?change.to, reason = %change.reason, "a risk limit stopped an earlier run and was not re-armed");
                    self.pending.push_back(Event::TradingState(change));
                }
            }
            None => {
                info!(file = %path.display(), "risk limits start afresh (no saved history yet)")
            }
        }
        self.limits_file = Some(path);
        self.save_limits();
        Ok(())
    }

    /// Save the risk limits' history, if a file is configured. A failure is logged, not fatal:
    /// the limits still hold in this process.
    fn save_limits(&mut self) {
        let Some(path) = &self.limits_file else {
            return;
        };
        let wall_ms = self.clock.now().0 / 1_000_000;
        let saved = self.risk.saved(self.state.now(), wall_ms);
        if let Err(e) = crate::limits::save(path, &saved) {
            warn!(error = %e, "risk limits not saved");
        }
        self.limits_saved = Some(Instant::now());
    }

    /// Re-check the PnL limits; on a trip, tighten trading and save the trip at once.
    fn evaluate_limits(&mut self) {
        if let Some(change) = self.risk.evaluate(&self.state) {
            warn!(from = ?change.from, to = ?change.to, reason = %change.reason, "trading state changed");
            let to = change.to;
            self.pending.push_back(Event::TradingState(change));
            self.on_trading_state(to);
            self.save_limits();
        }
    }

    /// The state (for inspection in tests and tools).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Run until shutdown is asked for or the venue stream ends, then cancel everything and
    /// return the summary and final state.
    pub async fn run(mut self, mut control: mpsc::Receiver<Control>) -> Finished {
        info!(strategy = self.strategy.name(), "engine starting");
        self.state.set_now(self.clock.now());
        let started = {
            let mut ctx = Context::new(&self.state, self.risk.trading_state(), &mut self.outbox);
            std::panic::catch_unwind(AssertUnwindSafe(|| self.strategy.on_start(&mut ctx)))
        };
        match started {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %e, "strategy failed to start; shutting down");
                self.strategy_errors += 1;
                return self.shutdown_with(Some(&mut control)).await;
            }
            Err(panic) => {
                self.strategy_panicked("on_start", panic.as_ref());
                return self.shutdown_with(Some(&mut control)).await;
            }
        }
        self.process_outbox();
        self.drain_pending().await;

        let stall = Duration::from_millis(self.config.stall_timeout_ms);
        let watchdog = (!stall.is_zero())
            .then(|| watchdog::spawn(Arc::clone(&self.heart), Arc::clone(&self.writer), stall));
        let mut tick = tokio::time::interval(watchdog::TICK);

        let status_every = Duration::from_millis(self.config.status_interval_ms.max(1));
        let mut status = tokio::time::interval_at(Instant::now() + status_every, status_every);
        let mut kill_file_check = tokio::time::interval(Duration::from_secs(1));
        let mut control_open = true;
        loop {
            let next_timer = self.timers.peek().map(|Reverse(t)| t.due);
            let pump_wait = self.executor.pump();
            tokio::select! {
                biased;
                ctrl = control.recv(), if control_open => match ctrl {
                    Some(Control::Shutdown) => break,
                    Some(Control::Kill(reason)) => self.kill(&reason).await,
                    // Nobody can send commands any more: keep running until the venue ends.
                    None => control_open = false,
                },
                Some(report) = self.reports.recv() => {
                    self.state.set_now(self.clock.now());
                    let events = self.executor.on_report(report, &mut self.state);
                    self.pending.extend(events);
                    self.drain_pending().await;
                }
                event = self.events.recv() => match event {
                    Some(event) => self.on_venue_event(event).await,
                    None => {
                        error!("venue stream ended; shutting down");
                        break;
                    }
                },
                _ = sleep_until_opt(next_timer) => self.fire_timers().await,
                _ = sleep_opt(pump_wait) => {}
                _ = kill_file_check.tick(), if self.config.kill_switch_file.is_some() => {
                    self.check_kill_file().await;
                }
                _ = status.tick(), if self.config.status_interval_ms > 0 => self.log_status(),
                _ = tick.tick() => self.on_tick().await,
            }
            if let Some(journal) = &self.journal {
                journal.after_step(&self.state);
            }
        }
        if let Some(w) = watchdog {
            w.abort();
        }
        self.shutdown_with(Some(&mut control)).await
    }

    /// The engine's own periodic duties: beat the watchdog's heart with the orders it would
    /// cancel, and pull quotes resting on a book that went stale (the venue stopped sending).
    async fn on_tick(&mut self) {
        self.state.set_now(self.clock.now());
        let live: Vec<CancelOrder> = self
            .state
            .live_orders(None)
            .map(|o| CancelOrder {
                client_id: o.client_id(),
                venue_id: o.venue_id,
                market: o.market(),
                side: o.request.order.side,
                direction: o.request.order.direction,
            })
            .collect();
        self.heart.beat(live);

        // Finished orders are kept a while (late fills, the strategy's look back), then dropped,
        // so a bot that runs for weeks does not hold every order it ever placed.
        let now = self.state.now();
        if now.since(self.last_prune) >= PRUNE_EVERY {
            self.state.prune_orders(KEEP_FINISHED_ORDERS);
            self.last_prune = now;
        }

        // Gas the venue's transactions have paid since the last tick: the budgets, and PnL.
        let gas = self.writer.tx_costs().native_fee;
        if self.gas.update(gas, &self.state, &mut self.risk, now) {
            self.evaluate_limits();
        }
        if self
            .limits_saved
            .is_none_or(|at| at.elapsed() >= LIMITS_SAVE_EVERY)
        {
            self.save_limits();
        }

        let stale_ms = self.risk.config().stale_book_ms;
        if stale_ms == 0 {
            return;
        }
        let now = self.state.now();
        let mut pull = Vec::new();
        for spec in self.state.markets() {
            let stale = self
                .state
                .book(spec.id)
                .and_then(|b| b.age_nanos(now))
                .is_some_and(|age| age > stale_ms.saturating_mul(1_000_000));
            if !stale {
                self.stale_pulled.remove(&spec.id);
            } else if self.state.live_order_count(Some(spec.id)) > 0
                && !self.stale_pulled.contains(&spec.id)
            {
                pull.push(spec.id);
            }
        }
        for market in pull {
            warn!(%market, stale_ms, "market data stale: pulling every order in the market");
            self.stale_pulled.insert(market);
            let cancel = self
                .risk
                .check(
                    Intent::CancelAll {
                        market: Some(market),
                    },
                    &self.state,
                )
                .approved;
            let events = self
                .executor
                .dispatch(cancel.into_iter().collect(), &mut self.state);
            self.pending.extend(events);
        }
        self.drain_pending().await;
    }

    /// A strategy that panicked is done: report it, cancel everything and halt.
    fn strategy_panicked(&mut self, during: &str, panic: &(dyn std::any::Any + Send)) {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a non-string panic".to_string());
        let reason = format!("strategy panicked in {during}: {message}");
        error!(%reason, "the strategy is stopped; cancelling everything and halting");
        self.strategy_errors += 1;
        self.strategy_failure = Some(reason.clone());
        self.pending.clear();
        self.outbox.intents.clear();
        // The kill switch's own steps, without handing anything more to the strategy.
        self.risk.kill(&reason);
        self.on_trading_state(TradingState::Halted);
    }

    /// One strategy callback for `event`, a panic caught and turned into a halt.
    async fn deliver(&mut self, event: &Event) {
        if self.strategy_failure.is_some() {
            return;
        }
        let outcome: Result<Result<(), StrategyError>, _> = {
            let mut ctx = Context::new(&self.state, self.risk.trading_state(), &mut self.outbox);
            std::panic::catch_unwind(AssertUnwindSafe(|| self.strategy.on_event(event, &mut ctx)))
        };
        match outcome {
            Ok(Ok(())) => self.process_outbox(),
            Ok(Err(e)) => {
                self.strategy_errors += 1;
                warn!(error = %e, "strategy returned an error");
                self.process_outbox();
            }
            Err(panic) => self.strategy_panicked("on_event", panic.as_ref()),
        }
    }

    async fn on_venue_event(&mut self, event: Event) {
        self.state.set_now(self.clock.now());
        if let Event::Fill(f) = &event {
            self.risk.record_cost(f.ts, f.fee);
            if let Some(spec) = self.state.spec(f.market) {
                info!(
                    market = %spec.name,
                    side = ?f.side,
                    direction = ?f.direction,
                    size = %spec.lots_to_size(f.lots),
                    price = %spec.ticks_to_price(f.price),
                    liquidity = ?f.liquidity,
                    fee = %f.fee,
                    "fill"
                );
            }
        }
        if let Event::Connection(c) = &event
            && c.state == ConnectionState::Reconnecting
        {
            warn!(stream = %c.stream, "venue stream reconnecting; book data may be stale");
        }
        let ids_may_have_arrived = matches!(
            event,
            Event::OpenOrders(_) | Event::Order(_) | Event::Fill(_)
        );
        let event = self.with_client_id(event);
        let resynced =
            matches!(&event, Event::Connection(c) if c.state == ConnectionState::Resynced);
        if let (Some(journal), Event::Fill(f)) = (&self.journal, &event) {
            journal.record_fill(f);
        }
        if self.state.apply(&event) {
            self.tracker.observe(&event, &self.state);
            if let Event::Fill(f) = &event {
                self.reconciler.on_fill(f);
            }
            self.pending.push_back(event);
        }
        if resynced {
            self.reconcile();
        }
        let now = self.state.now();
        for (client_id, venue_id, market) in self.state.take_acknowledged() {
            self.pending
                .push_back(Event::Order(perpbot_model::OrderUpdate {
                    market,
                    client_id: Some(client_id),
                    venue_id: Some(venue_id),
                    kind: perpbot_model::OrderUpdateKind::Accepted,
                    ts: now,
                }));
        }
        if ids_may_have_arrived {
            self.executor.release_cancels_after_ack(&mut self.state);
        }
        self.evaluate_limits();
        self.drain_pending().await;
    }

    /// Venues without client ids (Kana) report orders and fills by venue id only; the strategy
    /// gets them with its own id filled in.
    fn with_client_id(&self, mut event: Event) -> Event {
        match &mut event {
            Event::Order(u) if u.client_id.is_none() => {
                u.client_id = u.venue_id.and_then(|v| self.state.client_id_for(v));
            }
            Event::Fill(f) if f.client_id.is_none() => {
                f.client_id = f.venue_id.and_then(|v| self.state.client_id_for(v));
            }
            _ => {}
        }
        event
    }

    /// Compare the venue's freshly resynchronised picture with ours (see [`crate::reconcile`]):
    /// adopt, close, explain — and on anything unexplained, go reduce-only and raise an alert.
    /// Never places an order.
    fn reconcile(&mut self) {
        let now = self.state.now();
        let findings = self.reconciler.reconcile(&mut self.state);
        let r = &mut self.reconciliation;
        r.runs += 1;
        r.adopted += findings.adopted.len() as u64;
        r.gone += findings.gone.len() as u64;
        r.explained += findings.explained.len() as u64;
        r.unexplained += findings.unexplained.len() as u64;
        for p in &findings.inherited {
            info!(market = %p.market, side = ?p.side, lots = p.venue, "reconcile: position held at start-up");
        }
        for d in &findings.explained {
            warn!(market = %d.market, side = ?d.side, expected = d.expected, venue = d.venue, explanation = %d.explanation, "reconcile: position difference explained");
        }
        let order_update = |client_id, market, venue_id, kind| {
            Event::Order(perpbot_model::OrderUpdate {
                market,
                client_id: Some(client_id),
                venue_id,
                kind,
                ts: now,
            })
        };
        for id in findings.adopted.iter().chain(&findings.gone) {
            if let Some(o) = self.state.order(*id) {
                let kind = if o.status.is_live() {
                    perpbot_model::OrderUpdateKind::Accepted
                } else {
                    perpbot_model::OrderUpdateKind::Cancelled
                };
                self.pending
                    .push_back(order_update(*id, o.market(), o.venue_id, kind));
            }
        }
        if findings.unexplained.is_empty() {
            return;
        }
        let detail = findings
            .unexplained
            .iter()
            .map(|d| {
                format!(
                    "{} {:?}: expected {} lots, venue has {} ({})",
                    d.market, d.side, d.expected, d.venue, d.explanation
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        error!(%detail, "reconcile: position mismatch nothing explains; trading goes reduce-only");
        self.pending.push_back(Event::Alert(perpbot_model::Alert {
            kind: perpbot_model::AlertKind::ReconciliationMismatch,
            detail: detail.clone(),
            ts: now,
        }));
        if let Some(change) = self.risk.restrict(
            TradingState::ReduceOnly,
            format!("reconciliation: {detail}"),
        ) {
            let to = change.to;
            self.pending.push_back(Event::TradingState(change));
            self.on_trading_state(to);
        }
    }

    /// Cancel what the new trading state no longer allows to rest.
    fn on_trading_state(&mut self, to: TradingState) {
        let cancel: Vec<Approved> = match to {
            TradingState::Active => Vec::new(),
            TradingState::Halted => vec![Approved::cancel_all(None)],
            TradingState::ReduceOnly => {
                let opening: Vec<(perpbot_model::MarketId, ClientOrderId)> = self
                    .state
                    .live_orders(None)
                    .filter(|o| o.request.order.direction == Direction::Open)
                    .map(|o| (o.market(), o.client_id()))
                    .collect();
                opening
                    .into_iter()
                    .filter_map(|(market, client_id)| {
                        self.risk
                            .check(Intent::Cancel { market, client_id }, &self.state)
                            .approved
                    })
                    .collect()
            }
        };
        let events = self.executor.dispatch(cancel, &mut self.state);
        self.pending.extend(events);
    }

    /// Act on the kill-switch file: halt (once) and acknowledge, so `perpbot kill` can tell
    /// the operator that a bot really stopped. A new kill after the acknowledgement was taken
    /// away is acknowledged again.
    async fn check_kill_file(&mut self) {
        let Some(path) = self.config.kill_switch_file.clone() else {
            return;
        };
        if !path.exists() {
            return;
        }
        if !self.risk.is_killed() {
            let reason = format!("kill file {} present", path.display());
            self.kill(&reason).await;
        }
        let ack = kill_ack_file(&path);
        if !ack.exists() {
            let text = format!(
                "halted pid={} live_orders={} (cancels sent)\n",
                std::process::id(),
                self.state.live_order_count(None)
            );
            match std::fs::write(&ack, text) {
                Ok(()) => info!(file = %ack.display(), "kill switch acknowledged"),
                Err(e) => {
                    warn!(file = %ack.display(), error = %e, "cannot acknowledge the kill switch")
                }
            }
        }
    }

    async fn kill(&mut self, reason: &str) {
        error!(%reason, "KILL SWITCH: cancelling everything and halting");
        if let Some(change) = self.risk.kill(reason) {
            self.pending.push_back(Event::TradingState(change));
        }
        self.on_trading_state(TradingState::Halted);
        self.drain_pending().await;
    }

    /// Hand queued events to the strategy, processing what it emits, until none are left.
    async fn drain_pending(&mut self) {
        let mut budget = self.config.max_internal_events;
        while let Some(event) = self.pending.pop_front() {
            if budget == 0 {
                warn!(
                    dropped = self.pending.len() + 1,
                    "strategy reaction limit reached; events dropped"
                );
                self.pending.clear();
                break;
            }
            budget -= 1;
            self.deliver(&event).await;
        }
    }

    /// Apply the strategy's timer commands and risk-check and dispatch its intents.
    fn process_outbox(&mut self) {
        for cmd in self.outbox.timers.drain(..) {
            match cmd {
                TimerCommand::Once { id, after } => {
                    self.timer_seq += 1;
                    self.timers.push(Reverse(TimerEntry {
                        due: Instant::now() + after,
                        seq: self.timer_seq,
                        id,
                        every: None,
                    }));
                }
                TimerCommand::Every { id, every } => {
                    let every = every.max(Duration::from_millis(1));
                    self.timer_seq += 1;
                    self.timers.push(Reverse(TimerEntry {
                        due: Instant::now() + every,
                        seq: self.timer_seq,
                        id,
                        every: Some(every),
                    }));
                }
                TimerCommand::Cancel(id) => {
                    self.cancelled_timers.insert(id);
                }
            }
        }
        if self.outbox.intents.is_empty() {
            return;
        }
        let intents: Vec<Intent> = self.outbox.intents.drain(..).collect();
        let mut approved = Vec::with_capacity(intents.len());
        for intent in intents {
            let decision = self.risk.check(intent, &self.state);
            for refusal in decision.refused {
                self.risk_rejections += 1;
                info!(intent = refusal.intent.name(), reason = ?refusal.reason, detail = %refusal.detail, "intent refused");
                self.pending.push_back(Event::RiskRejected(refusal));
            }
            if let Some(a) = decision.approved {
                match a.intent() {
                    Intent::Place(req) => self.state.track_new_order(req.clone()),
                    Intent::ReplaceQuotes { place, .. } => {
                        for req in place {
                            self.state.track_new_order(req.clone());
                        }
                    }
                    _ => {}
                }
                approved.push(a);
            }
        }
        let events = self.executor.dispatch(approved, &mut self.state);
        for e in &events {
            if let Event::RiskRejected(r) = e {
                self.risk_rejections += 1;
                info!(reason = ?r.reason, detail = %r.detail, "order refused by the rate limiter");
            }
        }
        self.pending.extend(events);
    }

    async fn fire_timers(&mut self) {
        let now = Instant::now();
        self.state.set_now(self.clock.now());
        while let Some(Reverse(t)) = self.timers.peek() {
            if t.due > now {
                break;
            }
            let Some(Reverse(mut t)) = self.timers.pop() else {
                break;
            };
            if self.cancelled_timers.remove(&t.id) {
                continue;
            }
            self.pending.push_back(Event::Timer(t.id));
            if let Some(every) = t.every {
                t.due += every;
                self.timers.push(Reverse(t));
            }
        }
        self.drain_pending().await;
    }

    fn log_status(&self) {
        let s = &self.state;
        let (fills, maker) = s.fill_counts();
        for spec in s.markets() {
            let book = s.book(spec.id);
            let bid = book
                .and_then(|b| b.best_bid())
                .map(|l| spec.ticks_to_price(l.price));
            let ask = book
                .and_then(|b| b.best_ask())
                .map(|l| spec.ticks_to_price(l.price));
            let quotes: Vec<String> = s
                .live_orders(Some(spec.id))
                .filter_map(|o| {
                    let side = match o.request.order.side {
                        perpbot_model::Side::Buy => "bid",
                        perpbot_model::Side::Sell => "ask",
                    };
                    Some(format!(
                        "{side} {}@{}",
                        spec.lots_to_size(o.remaining()),
                        spec.ticks_to_price(o.request.order.price?)
                    ))
                })
                .collect();
            info!(
                market = %spec.name,
                bid = %opt(bid),
                ask = %opt(ask),
                position = %signed_size(spec, s.net_lots(spec.id)),
                quotes = %quotes.join(" "),
                "status"
            );
        }
        let perf = self.tracker.performance();
        info!(
            pnl = %self.risk.net_pnl(s).round_dp(4),
            spread = %perf.spread_capture.round_dp(4),
            inventory = %perf.inventory_pnl.round_dp(4),
            fees = %s.fees_paid().round_dp(4),
            gas = %self.risk.gas_in_quote().round_dp(4),
            fills,
            maker_fills = maker,
            trading = ?self.risk.trading_state(),
            "account"
        );
    }

    /// Stop the strategy, cancel everything, wait (bounded) for confirmations, summarise. A
    /// further stop request on `control` (a second Ctrl-C or SIGTERM) ends the wait at once:
    /// the summary then lists what is still open.
    async fn shutdown_with(
        mut self,
        mut control: Option<&mut mpsc::Receiver<Control>>,
    ) -> Finished {
        info!("shutting down: stopping the strategy and cancelling open orders");
        self.state.set_now(self.clock.now());
        if self.strategy_failure.is_none() {
            let stopped = {
                let mut ctx =
                    Context::new(&self.state, self.risk.trading_state(), &mut self.outbox);
                std::panic::catch_unwind(AssertUnwindSafe(|| self.strategy.on_stop(&mut ctx)))
            };
            match stopped {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    self.strategy_errors += 1;
                    warn!(error = %e, "strategy failed while stopping");
                }
                Err(panic) => {
                    self.strategy_errors += 1;
                    error!(
                        panic = ?panic.downcast_ref::<&str>(),
                        "strategy panicked while stopping; cancelling everything anyway"
                    );
                    self.outbox.intents.clear();
                }
            }
        }
        // Only cancels leave during shutdown: drop whatever else the strategy asked for.
        self.outbox.intents.retain(Intent::is_cancel_only);
        self.process_outbox();
        let events = self
            .executor
            .dispatch(vec![Approved::cancel_all(None)], &mut self.state);
        drop(events);

        let deadline = Instant::now() + Duration::from_millis(self.config.shutdown_timeout_ms);
        while self.state.live_order_count(None) > 0 {
            let pump_wait = self.executor.pump();
            tokio::select! {
                Some(report) = self.reports.recv() => {
                    self.state.set_now(self.clock.now());
                    let _ = self.executor.on_report(report, &mut self.state);
                    // Orders acknowledged after the cancel-all (in flight at the time), or whose
                    // cancel was refused, need a cancel of their own.
                    self.cancel_what_rests();
                }
                Some(event) = self.events.recv() => {
                    self.state.set_now(self.clock.now());
                    if self.state.apply(&event) {
                        self.tracker.observe(&event, &self.state);
                    }
                    self.executor.release_cancels_after_ack(&mut self.state);
                    // An open-orders list can confirm an order of unknown outcome: cancel it too.
                    if matches!(event, Event::OpenOrders(_) | Event::Order(_)) {
                        self.cancel_what_rests();
                    }
                }
                _ = sleep_opt(pump_wait) => {}
                _ = tokio::time::sleep_until(deadline) => break,
                stop = recv_opt(&mut control) => match stop {
                    Some(Control::Shutdown) => {
                        warn!("second stop request: not waiting for cancel confirmations any more");
                        self.shutdown_interrupted = true;
                        break;
                    }
                    Some(Control::Kill(_)) => {}
                    None => control = None,
                },
            }
        }
        self.state.set_now(self.clock.now());
        let gas = self.writer.tx_costs().native_fee;
        let now = self.state.now();
        self.gas.update(gas, &self.state, &mut self.risk, now);
        self.risk.evaluate(&self.state);
        self.save_limits();
        let left_open: Vec<ClientOrderId> = self
            .state
            .live_orders(None)
            .map(|o| o.client_id())
            .collect();
        if let Some(journal) = &self.journal {
            journal.record_shutdown(&self.state, &left_open);
        }
        if left_open.is_empty() {
            info!("all orders confirmed closed");
        } else {
            error!(orders = ?left_open, "orders could not be confirmed cancelled before the timeout");
        }
        let summary = self.summary(left_open);
        Finished {
            summary,
            state: self.state,
        }
    }

    /// During shutdown: cancel every order that rests and has no cancel on its way.
    fn cancel_what_rests(&mut self) {
        let resting = self.state.live_orders(None).any(|o| {
            matches!(
                o.status,
                OrderStatus::PendingNew | OrderStatus::Open | OrderStatus::PartiallyFilled
            )
        });
        if resting {
            let _ = self
                .executor
                .dispatch(vec![Approved::cancel_all(None)], &mut self.state);
        }
    }

    fn summary(&self, left_open: Vec<ClientOrderId>) -> RunSummary {
        let s = &self.state;
        let (fills, maker_fills) = s.fill_counts();
        let stats: &ExecStats = self.executor.stats();
        let (limits_window_pnl, limits_window_drawdown) = self.risk.window_pnl_and_drawdown();
        RunSummary {
            strategy: self.strategy.name().to_string(),
            trading_state: self.risk.trading_state(),
            fills,
            maker_fills,
            realized_pnl: s.realized_pnl(),
            unrealized_pnl: s.unrealized_pnl(),
            fees: s.fees_paid(),
            total_pnl: s.total_pnl(),
            gas: self.gas.cost(&self.risk),
            net_pnl: self.risk.net_pnl(s),
            limits_window_pnl,
            limits_window_drawdown,
            shutdown_interrupted: self.shutdown_interrupted,
            requests_sent: stats.requests_sent,
            orders_sent: stats.orders_sent,
            risk_rejections: self.risk_rejections,
            venue_rejections: stats.rejected_requests,
            left_open,
            strategy_errors: self.strategy_errors,
            strategy_failure: self.strategy_failure.clone(),
            fill_ratio: if stats.orders_sent == 0 {
                0.0
            } else {
                fills as f64 / stats.orders_sent as f64
            },
            performance: self.tracker.performance(),
            tx_costs: self.writer.tx_costs(),
            reconciliation: self.reconciliation,
        }
    }
}

/// A net position in base units, negative when short.
fn signed_size(spec: &perpbot_model::MarketSpec, net_lots: i128) -> Decimal {
    let lots = u64::try_from(net_lots.unsigned_abs()).unwrap_or(u64::MAX);
    let size = spec.lots_to_size(perpbot_model::Lots(lots));
    if net_lots < 0 { -size } else { size }
}

fn opt(v: Option<Decimal>) -> String {
    v.map_or_else(|| "-".to_string(), |d| d.to_string())
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn recv_opt(control: &mut Option<&mut mpsc::Receiver<Control>>) -> Option<Control> {
    match control {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(d: Option<Duration>) {
    match d {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}
