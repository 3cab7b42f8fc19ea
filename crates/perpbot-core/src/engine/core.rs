//! The engine's step logic, synchronous: venue event → state → strategy → risk → executor
//! decisions, with the time passed in.
//!
//! It does no I/O of its own but the journal's and the limits file's writes: what it wants sent
//! leaves as the executor's [`Job`]s ([`EngineCore::take_jobs`]), and outcomes come back through
//! [`EngineCore::on_report`]. The async runner ([`super::Engine`]) feeds it from the venue's
//! channels and the wall clock; a backtest feeds it recorded events at CPU speed. It is the
//! [`State`]'s one writer: the executor's conclusions come back as [`Derived`] and are applied
//! here.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::time::Duration;

use rust_decimal::Decimal;
use tracing::{error, info, warn};

use super::EngineConfig;
use super::summary::{Finished, ReconciliationStats, RunSummary};
use crate::executor::{Derived, ExecReport, ExecStats, Executor, Job, RateLimitConfig};
use crate::gas::GasMeter;
use crate::reconcile::Reconciler;
use crate::report::PerformanceTracker;
use crate::risk::{Approved, RiskConfig, RiskEngine};
use crate::state::State;
use crate::strategy::{Context, Outbox, Strategy, StrategyError, TimerCommand};
use crate::venue::{CancelOrder, TxCosts, VenueCapabilities};
use perpbot_model::{
    ClientOrderId, ConnectionState, Direction, Event, Intent, MarketId, MarketSpec, OrderStatus,
    TimerId, Timestamp, TradingState,
};

/// Longest time between two passes that drop finished orders from the state (they are made
/// more often when the retention, [`EngineConfig::finished_order_retention_ms`], is shorter).
const PRUNE_AT_MOST_EVERY: Duration = Duration::from_secs(60);
/// How often the risk limits' history is saved (and at every trip and at shutdown).
const LIMITS_SAVE_EVERY: Duration = Duration::from_secs(5);

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct TimerEntry {
    due: Timestamp,
    seq: u64,
    id: TimerId,
    every: Option<Duration>,
}

/// State, strategy, risk and executor, stepped by the caller.
pub struct EngineCore {
    state: State,
    strategy: Box<dyn Strategy>,
    pub(super) risk: RiskEngine,
    executor: Executor,
    outbox: Outbox,
    pending: VecDeque<Event>,
    timers: BinaryHeap<Reverse<TimerEntry>>,
    cancelled_timers: HashSet<TimerId>,
    timer_seq: u64,
    config: EngineConfig,
    pub(super) risk_rejections: u64,
    /// Of those, by the check that refused.
    pub(super) rejections_by_check: HashMap<perpbot_model::RejectReason, u64>,
    pub(super) strategy_errors: u64,
    pub(super) tracker: PerformanceTracker,
    /// Set when the strategy panicked: it gets no more calls and trading is halted.
    strategy_failure: Option<String>,
    /// Markets whose quotes were pulled for a stale book (until it updates again).
    stale_pulled: HashSet<MarketId>,
    reconciler: Reconciler,
    pub(super) reconciliation: ReconciliationStats,
    /// Gas paid so far, priced into PnL and the budgets.
    gas: GasMeter,
    /// The venue's own transaction costs as last reported ([`EngineCore::on_tick`]).
    tx_costs: TxCosts,
    /// Where the risk limits' history is saved ([`crate::limits`]); none = not saved.
    limits_file: Option<PathBuf>,
    /// When the limits were last saved.
    limits_saved: Option<Timestamp>,
    /// The state's PnL version when the PnL limits were last evaluated.
    limits_checked_at: Option<u64>,
    /// Set when a second stop request ended the shutdown's wait for cancels.
    shutdown_interrupted: bool,
    /// The write-ahead journal, when one is configured.
    journal: Option<crate::journal::Journal>,
    /// When finished orders were last dropped from the state ([`PRUNE_EVERY`]).
    last_prune: Timestamp,
    /// Since when the venue's stream has been reconnecting (none while up).
    pub(super) disconnected_since: Option<Timestamp>,
    /// When the venue's stream last started reconnecting.
    pub(super) last_reconnect: Option<Timestamp>,
    /// Buffers for one event's approved intents and the executor's conclusions, kept empty
    /// between calls so that a request costs no allocation for the engine's bookkeeping.
    scratch_approved: Vec<Approved>,
    scratch_derived: Vec<Derived>,
    scratch_events: Vec<Event>,
}

impl EngineCore {
    /// A core trading `markets` on a venue that can do `caps`, starting at time `now`.
    pub fn new(
        markets: &[MarketSpec],
        caps: VenueCapabilities,
        strategy: Box<dyn Strategy>,
        risk: RiskConfig,
        rate_limits: RateLimitConfig,
        config: EngineConfig,
        now: Timestamp,
    ) -> EngineCore {
        let gas = GasMeter::new(&risk.gas_coin, risk.gas_coin_price);
        let mut core = EngineCore {
            state: State::new(markets),
            strategy,
            risk: RiskEngine::new(risk),
            executor: Executor::new(caps, rate_limits),
            outbox: Outbox::new(0),
            pending: VecDeque::new(),
            scratch_approved: Vec::new(),
            scratch_derived: Vec::new(),
            scratch_events: Vec::new(),
            timers: BinaryHeap::new(),
            cancelled_timers: HashSet::new(),
            timer_seq: 0,
            config,
            risk_rejections: 0,
            rejections_by_check: HashMap::new(),
            strategy_errors: 0,
            tracker: PerformanceTracker::new(),
            strategy_failure: None,
            stale_pulled: HashSet::new(),
            reconciler: if caps.net_positions {
                Reconciler::netting()
            } else {
                Reconciler::new()
            },
            reconciliation: ReconciliationStats::default(),
            gas,
            tx_costs: TxCosts::default(),
            limits_file: None,
            limits_saved: None,
            limits_checked_at: None,
            shutdown_interrupted: false,
            journal: None,
            last_prune: Timestamp(0),
            disconnected_since: None,
            last_reconnect: None,
        };
        core.set_now(now);
        core
    }

    /// Move the core's time to `now` (it never goes back for the rate limits).
    fn set_now(&mut self, now: Timestamp) {
        self.state.set_now(now);
        self.executor.set_now(now);
    }

    /// For journal recovery only (the runner settles what an earlier process left open).
    pub(super) fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    /// Record from here on in `journal`, continuing client and request ids after the ones
    /// recovery found.
    pub(super) fn attach_journal(
        &mut self,
        journal: crate::journal::Journal,
        report: &crate::journal::RecoveryReport,
    ) {
        self.outbox = Outbox::new(report.max_client_id);
        self.executor
            .set_journal(journal.clone(), report.max_request_id);
        self.journal = Some(journal);
    }

    /// The journal's counters, when one is kept.
    pub fn journal_stats(&self) -> Option<crate::journal::JournalStats> {
        self.journal.as_ref().map(crate::journal::Journal::stats)
    }

    /// After each step: let the journal record what changed.
    pub fn after_step(&self) {
        if let Some(journal) = &self.journal {
            journal.after_step(&self.state);
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// True once the kill switch has been pulled (until re-armed in a later run).
    pub fn is_killed(&self) -> bool {
        self.risk.is_killed()
    }

    /// The executor's counters.
    pub fn executor_stats(&self) -> &ExecStats {
        self.executor.stats()
    }

    /// The strategy's name.
    pub fn strategy_name(&self) -> &str {
        self.strategy.name()
    }

    /// Venue work decided and not yet started, in order; the runner performs each.
    pub fn take_jobs(&mut self) -> std::vec::Drain<'_, Job> {
        self.executor.take_jobs()
    }

    /// Whether [`EngineCore::take_jobs`] has anything to give (checked on every event by a
    /// backtest, which decides something on few of them).
    pub fn has_jobs(&self) -> bool {
        self.executor.has_jobs()
    }

    /// When the next strategy timer is due.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.peek().map(|Reverse(t)| t.due)
    }

    /// Release queued cancels the budget allows by `now`; how long until the next may go.
    pub fn pump(&mut self, now: Timestamp) -> Option<Duration> {
        self.set_now(now);
        self.executor.pump()
    }

    /// Every live order, addressed for a cancel: what the stall watchdog would cancel.
    pub fn live_cancels(&self) -> Vec<CancelOrder> {
        self.state
            .live_orders(None)
            .map(|o| CancelOrder {
                client_id: o.client_id(),
                venue_id: o.venue_id,
                market: o.market(),
                side: o.request.order.side,
                direction: o.request.order.direction,
            })
            .collect()
    }

    /// Start the strategy. `false` when it failed to (the run then goes straight to shutdown).
    pub fn start(&mut self, now: Timestamp) -> bool {
        info!(strategy = self.strategy.name(), "engine starting");
        self.set_now(now);
        let started = {
            let mut ctx = Context::new(&self.state, self.risk.trading_state(), &mut self.outbox);
            std::panic::catch_unwind(AssertUnwindSafe(|| self.strategy.on_start(&mut ctx)))
        };
        match started {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                error!(error = %e, "strategy failed to start; shutting down");
                self.strategy_errors += 1;
                return false;
            }
            Err(panic) => {
                self.strategy_panicked("on_start", panic.as_ref());
                return false;
            }
        }
        self.process_outbox();
        self.drain_pending();
        true
    }

    /// A request's outcome: applied to its orders, and the strategy hears of it.
    pub fn on_report(&mut self, report: ExecReport, now: Timestamp) {
        self.set_now(now);
        let mut derived = std::mem::take(&mut self.scratch_derived);
        self.executor
            .on_report_into(report, &self.state, &mut derived);
        let mut events = std::mem::take(&mut self.scratch_events);
        self.apply_derived(&mut derived, &mut events);
        self.scratch_derived = derived;
        queue_all(&mut self.pending, &mut events);
        self.scratch_events = events;
        self.executor.release_cancels_after_ack(&self.state);
        self.drain_pending();
    }

    /// Hand approved intents to the executor and apply what it concludes; the events it
    /// derives (order updates, rate-limit refusals) are returned for the caller to queue.
    fn dispatch(&mut self, mut approved: Vec<Approved>) -> Vec<Event> {
        let mut events = Vec::new();
        self.dispatch_into(&mut approved, &mut events);
        events
    }

    /// [`EngineCore::dispatch`], draining `approved` and appending to `events`.
    fn dispatch_into(&mut self, approved: &mut Vec<Approved>, events: &mut Vec<Event>) {
        let mut derived = std::mem::take(&mut self.scratch_derived);
        self.executor
            .dispatch_into(approved, &self.state, &mut derived);
        let from = events.len();
        self.apply_derived(&mut derived, events);
        self.scratch_derived = derived;
        for e in events.iter().skip(from) {
            if let Event::RiskRejected(r) = e {
                self.risk_rejections += 1;
                *self.rejections_by_check.entry(r.reason).or_default() += 1;
                info!(reason = ?r.reason, detail = %r.detail, "order refused by the rate limiter");
            }
        }
    }

    /// Apply the executor's conclusions to the state (the core is its one writer), draining
    /// `derived` and appending what the strategy hears of to `events`.
    fn apply_derived(&mut self, derived: &mut Vec<Derived>, events: &mut Vec<Event>) {
        for d in derived.drain(..) {
            d.apply(&mut self.state, events);
        }
    }

    /// The state (for inspection in tests and tools).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// Take up the risk limits' history an earlier run saved in `path` (loss and drawdown over
    /// the loss window, the last hour's spend, a limit that tripped) and keep saving it there.
    /// A damaged file is an error: starting with fresh limits would forget a loss.
    pub fn restore_limits(
        &mut self,
        path: PathBuf,
        now: Timestamp,
    ) -> Result<(), crate::limits::LimitsFileError> {
        self.set_now(now);
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
        let wall_ms = self.state.now().0 / 1_000_000;
        let saved = self.risk.saved(self.state.now(), wall_ms);
        if let Err(e) = crate::limits::save(path, &saved) {
            warn!(error = %e, "risk limits not saved");
        }
        self.limits_saved = Some(self.state.now());
    }

    /// Re-check the PnL limits; on a trip, tighten trading and save the trip at once.
    fn evaluate_limits(&mut self) {
        self.limits_checked_at = Some(self.state.pnl_version());
        if let Some(change) = self.risk.evaluate(&self.state) {
            warn!(from = ?change.from, to = ?change.to, reason = %change.reason, "trading state changed");
            let to = change.to;
            self.pending.push_back(Event::TradingState(change));
            self.on_trading_state(to);
            self.save_limits();
        }
    }

    /// The engine's own periodic duties: drop long-finished orders, price the gas the venue
    /// reports (`costs`, its running total) into PnL and the budgets, save the limits, and pull
    /// quotes resting on a book that went stale (the venue stopped sending).
    pub fn on_tick(&mut self, now: Timestamp, costs: TxCosts) {
        self.set_now(now);
        // Finished orders are kept a while (late fills, the strategy's look back), then dropped,
        // so a bot that runs for weeks does not hold every order it ever placed; between prunes,
        // every tick sets them apart from the live ones, which the order path works in.
        let now = self.state.now();
        let keep = Duration::from_millis(self.config.finished_order_retention_ms);
        if now.since(self.last_prune) >= keep.min(PRUNE_AT_MOST_EVERY) {
            self.state.prune_orders(keep);
            self.last_prune = now;
        } else {
            self.state.retire_finished_orders();
        }

        // Gas the venue's transactions have paid since the last tick: the budgets, and PnL.
        self.tx_costs = costs;
        let gas = costs.native_fee;
        self.gas.update(gas, &self.state, &mut self.risk, now);
        // Gas moves PnL, and the loss window slides with time even when PnL stands still.
        self.evaluate_limits();
        if self
            .limits_saved
            .is_none_or(|at| now.since(at) >= LIMITS_SAVE_EVERY)
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
            let events = self.dispatch(cancel.into_iter().collect());
            self.pending.extend(events);
        }
        self.drain_pending();
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
    fn deliver(&mut self, event: &Event) {
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

    /// A venue event: applied to the state, then handed to the strategy, whose intents are
    /// checked and dispatched; fees and fills reach risk and the reconciler on the way.
    pub fn on_venue_event(&mut self, event: Event, now: Timestamp) {
        let event = self.with_client_id(event);
        self.on_venue_event_ref(&event, now);
    }

    /// [`EngineCore::on_venue_event`] for an event the caller keeps: market data a backtest or
    /// a paper venue hands over without giving up its buffers. An order update or fill without
    /// a client id gets none filled in here (use `on_venue_event` for those).
    pub fn on_venue_event_ref(&mut self, event: &Event, now: Timestamp) {
        self.set_now(now);
        if let Event::Fill(f) = event {
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
        if let Event::Connection(c) = event {
            match c.state {
                ConnectionState::Reconnecting => {
                    warn!(stream = %c.stream, "venue stream reconnecting; book data may be stale");
                    self.disconnected_since.get_or_insert(now);
                    self.last_reconnect = Some(now);
                }
                ConnectionState::Disconnected => {
                    self.disconnected_since.get_or_insert(now);
                }
                ConnectionState::Connected | ConnectionState::Resynced => {
                    self.disconnected_since = None;
                }
            }
        }
        let ids_may_have_arrived = matches!(
            event,
            Event::OpenOrders(_) | Event::Order(_) | Event::Fill(_)
        );
        let resynced =
            matches!(event, Event::Connection(c) if c.state == ConnectionState::Resynced);
        if let (Some(journal), Event::Fill(f)) = (&self.journal, event) {
            journal.record_fill(f);
        }
        let accepted = self.state.apply(event);
        if accepted {
            self.tracker.observe(event, &self.state);
            if let Event::Fill(f) = event {
                self.reconciler.on_fill(f);
            }
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
            self.executor.release_cancels_after_ack(&self.state);
        }
        // PnL limits move only with PnL (the tick re-checks them as time passes the window).
        if self.limits_checked_at != Some(self.state.pnl_version()) {
            self.evaluate_limits();
        }
        // The event goes to the strategy first, then what it caused (acknowledgements, a
        // trading-state change), as if it had been queued ahead of them; every entry point
        // drains the queue, so nothing waits there from before. Delivered from here, it is
        // neither copied into the queue nor out of it.
        let budget = self.config.max_internal_events;
        if accepted && budget == 0 {
            self.drop_pending(1);
            return;
        }
        if accepted {
            self.deliver(event);
        }
        self.drain_pending_within(budget.saturating_sub(usize::from(accepted)));
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
        let events = self.dispatch(cancel);
        self.pending.extend(events);
    }

    /// Go reduce-only (an operator's pause): opening orders are cancelled and refused from now
    /// on; closing ones still go. A halted bot stays halted.
    pub fn reduce_only(&mut self, reason: &str, now: Timestamp) {
        self.set_now(now);
        if self.risk.trading_state() != TradingState::Active {
            return;
        }
        warn!(%reason, "trading goes reduce-only");
        if let Some(change) = self
            .risk
            .restrict(TradingState::ReduceOnly, reason.to_string())
        {
            let to = change.to;
            self.pending.push_back(Event::TradingState(change));
            self.on_trading_state(to);
        }
        self.drain_pending();
    }

    /// Pull the kill switch: cancel everything and halt trading (the process keeps running).
    pub fn kill(&mut self, reason: &str, now: Timestamp) {
        self.set_now(now);
        error!(%reason, "KILL SWITCH: cancelling everything and halting");
        if let Some(change) = self.risk.kill(reason) {
            self.pending.push_back(Event::TradingState(change));
        }
        self.on_trading_state(TradingState::Halted);
        self.drain_pending();
    }

    /// Hand queued events to the strategy, processing what it emits, until none are left.
    fn drain_pending(&mut self) {
        self.drain_pending_within(self.config.max_internal_events);
    }

    /// [`Self::drain_pending`] with `budget` deliveries left of the reaction limit.
    fn drain_pending_within(&mut self, mut budget: usize) {
        while let Some(event) = self.pending.pop_front() {
            if budget == 0 {
                self.drop_pending(1);
                break;
            }
            budget -= 1;
            self.deliver(&event);
        }
    }

    /// The reaction limit is reached: the queued events and `more` taken out of it already
    /// are dropped, with a warning.
    fn drop_pending(&mut self, more: usize) {
        warn!(
            dropped = self.pending.len() + more,
            "strategy reaction limit reached; events dropped"
        );
        self.pending.clear();
    }

    /// Apply the strategy's timer commands and risk-check and dispatch its intents.
    fn process_outbox(&mut self) {
        for cmd in self.outbox.timers.drain(..) {
            match cmd {
                TimerCommand::Once { id, after } => {
                    self.timer_seq += 1;
                    self.timers.push(Reverse(TimerEntry {
                        due: self.state.now().plus(after),
                        seq: self.timer_seq,
                        id,
                        every: None,
                    }));
                }
                TimerCommand::Every { id, every } => {
                    let every = every.max(Duration::from_millis(1));
                    self.timer_seq += 1;
                    self.timers.push(Reverse(TimerEntry {
                        due: self.state.now().plus(every),
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
        // The outbox's and the approved list's buffers are kept for the next event.
        let mut intents = std::mem::take(&mut self.outbox.intents);
        let mut approved = std::mem::take(&mut self.scratch_approved);
        for intent in intents.drain(..) {
            let decision = self.risk.check(intent, &self.state);
            for refusal in decision.refused {
                self.risk_rejections += 1;
                *self.rejections_by_check.entry(refusal.reason).or_default() += 1;
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
        self.outbox.intents = intents;
        let mut events = std::mem::take(&mut self.scratch_events);
        self.dispatch_into(&mut approved, &mut events);
        self.scratch_approved = approved;
        queue_all(&mut self.pending, &mut events);
        self.scratch_events = events;
    }

    /// Fire the strategy's timers due by `now`, in order.
    pub fn fire_timers(&mut self, now: Timestamp) {
        self.set_now(now);
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
                t.due = t.due.plus(every);
                self.timers.push(Reverse(t));
            }
        }
        self.drain_pending();
    }

    /// Log a status line per market and one for the account.
    pub fn log_status(&self) {
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
                position = %spec.signed_size(s.net_lots(spec.id)),
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

    /// Begin shutdown: stop the strategy (only the cancels it asks for go out), then cancel
    /// every order. The runner then waits for confirmations, feeding
    /// [`EngineCore::on_report_in_shutdown`] and [`EngineCore::on_venue_event_in_shutdown`].
    pub fn begin_shutdown(&mut self, now: Timestamp) {
        info!("shutting down: stopping the strategy and cancelling open orders");
        self.set_now(now);
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
        drop(self.dispatch(vec![Approved::cancel_all(None)]));
    }

    /// During shutdown, a request's outcome: applied, and whatever still rests is cancelled
    /// (orders acknowledged after the cancel-all, in flight at the time, or whose cancel was
    /// refused). The strategy hears nothing more.
    pub fn on_report_in_shutdown(&mut self, report: ExecReport, now: Timestamp) {
        self.set_now(now);
        let mut derived = self.executor.on_report(report, &self.state);
        self.apply_derived(&mut derived, &mut Vec::new());
        self.executor.release_cancels_after_ack(&self.state);
        self.cancel_what_rests();
    }

    /// During shutdown, a venue event: applied; an open-orders list can confirm an order of
    /// unknown outcome, which is then cancelled too.
    pub fn on_venue_event_in_shutdown(&mut self, event: Event, now: Timestamp) {
        self.set_now(now);
        if self.state.apply(&event) {
            self.tracker.observe(&event, &self.state);
        }
        self.executor.release_cancels_after_ack(&self.state);
        if matches!(event, Event::OpenOrders(_) | Event::Order(_)) {
            self.cancel_what_rests();
        }
    }

    /// A second stop request ended the wait for cancel confirmations.
    pub fn interrupt_shutdown(&mut self) {
        warn!("second stop request: not waiting for cancel confirmations any more");
        self.shutdown_interrupted = true;
    }

    /// End the run: price the last gas (`costs`), save the limits, journal what is left open
    /// and summarise.
    pub fn finish(mut self, now: Timestamp, costs: TxCosts) -> Finished {
        self.set_now(now);
        self.tx_costs = costs;
        self.gas
            .update(costs.native_fee, &self.state, &mut self.risk, now);
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
            // Shutting down: the strategy hears nothing more.
            drop(self.dispatch(vec![Approved::cancel_all(None)]));
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
            tx_costs: self.tx_costs,
            reconciliation: self.reconciliation,
            attributed_fills: s.anomalies().attributed_fills,
            unattributed_fills: s.anomalies().unknown_order_fills,
        }
    }
}

/// Move `events` to the back of the queue, in order. One push each: `VecDeque::extend` from a
/// drain is a large body of code (it copies around the ring's wrap) for the one or two events
/// a request yields, and it ran on every order, evicting the hot path from the instruction
/// cache.
fn queue_all(pending: &mut VecDeque<Event>, events: &mut Vec<Event>) {
    for event in events.drain(..) {
        pending.push_back(event);
    }
}

fn opt(v: Option<Decimal>) -> String {
    v.map_or_else(|| "-".to_string(), |d| d.to_string())
}
