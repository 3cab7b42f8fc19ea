//! Unit tests of the synchronous engine core: no runtime, no sockets, time passed in. Each test
//! steps an [`EngineCore`] by hand and reads the venue work it decides ([`Job`]s), the state and
//! what the strategy heard.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rust_decimal::Decimal;

use super::EngineConfig;
use super::EngineCore;
use crate::executor::{ExecReport, Job, RateLimitConfig};
use crate::risk::RiskConfig;
use crate::strategy::{Context, Strategy, StrategyError};
use crate::venue::{RequestOutcome, TxCosts, VenueCapabilities, VenueRequest};
use perpbot_model::{
    BookUpdate, BookUpdateKind, ClientOrderId, Event, Level, Lots, MarketId, MarketSpec, NewOrder,
    OrderStatus, OrderUpdateKind, RejectReason, Side, Ticks, Timestamp, TradingState, VenueOrderId,
};

const M: MarketId = MarketId(1338);
const T0: Timestamp = Timestamp(1_750_000_000_000_000_000);

fn at(secs: u64) -> Timestamp {
    T0.plus(Duration::from_secs(secs))
}

type Reaction = Box<dyn FnMut(&Event, &mut Context<'_>) + Send>;
type OnStart = Box<dyn FnMut(&mut Context<'_>) + Send>;

/// A strategy that records every event it hears and reacts with a closure.
struct Probe {
    heard: Arc<Mutex<Vec<Event>>>,
    on_start: Option<OnStart>,
    react: Reaction,
}

impl Strategy for Probe {
    fn name(&self) -> &str {
        "probe"
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        if let Some(f) = &mut self.on_start {
            f(ctx);
        }
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.heard.lock().unwrap().push(event.clone());
        (self.react)(event, ctx);
        Ok(())
    }
}

/// A bid of 500 lots at `price` ticks: well inside the default risk limits.
fn bid(price: u64) -> NewOrder {
    NewOrder::limit(M, Side::Buy, Lots(500), Ticks(price))
}

/// Quote one bid at 5518 on every book update.
fn quote_on_book() -> Reaction {
    Box::new(|e, ctx| {
        if matches!(e, Event::Book(_)) {
            ctx.place(bid(5518));
        }
    })
}

fn book(ts: Timestamp) -> Event {
    Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(5518, 1)],
        asks: vec![Level::new(5522, 1)],
        ts,
    })
}

const CAPS: VenueCapabilities = VenueCapabilities {
    atomic_replace: true,
    max_batch: 8,
    client_order_ids: true,
    one_restriction_per_batch: false,
    position_triggers: true,
    closing_orders: true,
    net_positions: false,
};

struct Rig {
    core: EngineCore,
    heard: Arc<Mutex<Vec<Event>>>,
}

/// The engine settings every rig starts from: no status lines.
fn quiet() -> EngineConfig {
    EngineConfig {
        status_interval_ms: 0,
        ..EngineConfig::default()
    }
}

impl Rig {
    fn with(react: Reaction, risk: RiskConfig, rate_limits: RateLimitConfig) -> Rig {
        Rig::with_config(react, risk, rate_limits, quiet())
    }

    fn with_config(
        react: Reaction,
        risk: RiskConfig,
        rate_limits: RateLimitConfig,
        config: EngineConfig,
    ) -> Rig {
        let heard = Arc::new(Mutex::new(Vec::new()));
        let probe = Probe {
            heard: Arc::clone(&heard),
            on_start: None,
            react,
        };
        Rig::configured(probe, risk, rate_limits, config, heard)
    }

    fn from_probe(
        probe: Probe,
        risk: RiskConfig,
        rate_limits: RateLimitConfig,
        heard: Arc<Mutex<Vec<Event>>>,
    ) -> Rig {
        Rig::configured(probe, risk, rate_limits, quiet(), heard)
    }

    fn configured(
        probe: Probe,
        risk: RiskConfig,
        rate_limits: RateLimitConfig,
        config: EngineConfig,
        heard: Arc<Mutex<Vec<Event>>>,
    ) -> Rig {
        let mut core = EngineCore::new(
            &[MarketSpec::kana_apt_testnet()],
            CAPS,
            Box::new(probe),
            risk,
            rate_limits,
            config,
            T0,
        );
        assert!(core.start(T0));
        Rig { core, heard }
    }

    fn new(react: Reaction) -> Rig {
        Rig::with(react, RiskConfig::default(), RateLimitConfig::default())
    }

    fn jobs(&mut self) -> Vec<Job> {
        self.core.take_jobs().collect()
    }

    fn heard(&self) -> Vec<Event> {
        self.heard.lock().unwrap().clone()
    }

    /// Answer every `Execute` job as the venue accepting it, placed orders with venue ids.
    fn accept(&mut self, jobs: Vec<Job>, now: Timestamp) {
        for job in jobs {
            let Job::Execute { id, request, .. } = job else {
                panic!("not an execute: {job:?}")
            };
            let placed = match &*request {
                VenueRequest::Orders { place, .. } => place
                    .iter()
                    .map(|r| {
                        let venue_id = VenueOrderId(u128::from(r.client_id.0) + 1000);
                        (r.client_id, Some(venue_id))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            let outcome = RequestOutcome::Accepted { placed };
            self.core.on_report(ExecReport { id, outcome }, now);
        }
    }
}

/// The orders each `Execute` job places and cancels, in order.
fn shapes(jobs: &[Job]) -> Vec<(usize, usize)> {
    jobs.iter()
        .map(|j| match j {
            Job::Execute { request, .. } => match &**request {
                VenueRequest::Orders { cancel, place, .. } => (cancel.len(), place.len()),
                other => panic!("not an order request: {other:?}"),
            },
            other => panic!("not an execute: {other:?}"),
        })
        .collect()
}

#[test]
fn a_book_update_reaches_the_strategy_and_its_order_leaves_as_one_request() {
    let mut rig = Rig::new(quote_on_book());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    assert_eq!(shapes(&jobs), vec![(0, 1)]);
    assert_eq!(
        rig.core.state().order_status(ClientOrderId(1)),
        Some(OrderStatus::PendingNew),
        "tracked as soon as it was approved"
    );
    assert!(matches!(&rig.heard()[..], [Event::Book(_)]));
    assert!(rig.jobs().is_empty(), "each job is handed out once");
}

#[test]
fn an_accepted_request_opens_the_order_and_the_strategy_hears_of_it() {
    let mut rig = Rig::new(quote_on_book());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, at(1));
    let order = rig.core.state().order(ClientOrderId(1)).unwrap();
    assert_eq!(order.status, OrderStatus::Open);
    assert_eq!(order.venue_id, Some(VenueOrderId(1001)));
    let heard = rig.heard();
    let Some(Event::Order(update)) = heard.last() else {
        panic!("{heard:?}")
    };
    assert_eq!(update.kind, OrderUpdateKind::Accepted);
    assert_eq!(update.client_id, Some(ClientOrderId(1)));
    assert_eq!(update.ts, at(1), "stamped with the passed-in time");
}

#[test]
fn an_intent_over_a_limit_is_refused_before_it_leaves_and_the_strategy_hears_why() {
    let risk = RiskConfig {
        max_order_notional: Decimal::ONE,
        ..RiskConfig::default()
    };
    let mut rig = Rig::with(quote_on_book(), risk, RateLimitConfig::default());
    rig.core.on_venue_event(book(T0), T0);
    assert!(rig.jobs().is_empty(), "nothing reaches the venue");
    let heard = rig.heard();
    assert!(
        matches!(&heard[..], [Event::Book(_), Event::RiskRejected(r)] if r.reason != RejectReason::RateLimited),
        "{heard:?}"
    );
    assert_eq!(rig.core.state().live_order_count(None), 0);
}

#[test]
fn the_rate_budget_refills_by_the_passed_in_time_not_the_wall_clock() {
    let limits = RateLimitConfig {
        orders_per_second: 1,
        order_burst: 1,
        ..RateLimitConfig::default()
    };
    let mut rig = Rig::with(quote_on_book(), RiskConfig::default(), limits);
    rig.core.on_venue_event(book(T0), T0);
    assert_eq!(shapes(&rig.jobs()), vec![(0, 1)]);
    // The same instant: the budget is spent, the second quote is refused as rate limited.
    rig.core.on_venue_event(book(T0), T0);
    assert!(rig.jobs().is_empty());
    assert!(matches!(
        rig.heard().last(),
        Some(Event::RiskRejected(r)) if r.reason == RejectReason::RateLimited
    ));
    assert_eq!(
        rig.core.state().order_status(ClientOrderId(2)),
        Some(OrderStatus::Rejected)
    );
    // One simulated second later (no real time passed) the budget is back.
    rig.core.on_venue_event(book(at(1)), at(1));
    assert_eq!(shapes(&rig.jobs()), vec![(0, 1)]);
}

#[test]
fn timers_fire_when_the_passed_in_time_reaches_them() {
    let heard = Arc::new(Mutex::new(Vec::new()));
    let probe = Probe {
        heard: Arc::clone(&heard),
        on_start: Some(Box::new(|ctx| {
            ctx.set_timer(Duration::from_secs(5));
            ctx.set_interval(Duration::from_secs(2));
        })),
        react: Box::new(|_, _| {}),
    };
    let mut rig = Rig::from_probe(
        probe,
        RiskConfig::default(),
        RateLimitConfig::default(),
        heard,
    );
    assert_eq!(rig.core.next_timer(), Some(at(2)));
    let timers = |rig: &Rig| {
        rig.heard()
            .iter()
            .filter_map(|e| match e {
                Event::Timer(id) => Some(id.0),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    rig.core.fire_timers(at(1));
    assert!(timers(&rig).is_empty(), "nothing is due yet");
    rig.core.fire_timers(at(4));
    assert_eq!(
        timers(&rig),
        vec![2, 2],
        "the interval fired at 2 s and 4 s"
    );
    rig.core.fire_timers(at(5));
    assert_eq!(timers(&rig), vec![2, 2, 1], "the one-shot at 5 s, once");
    rig.core.fire_timers(at(100));
    assert_eq!(timers(&rig).iter().filter(|&&id| id == 1).count(), 1);
}

#[test]
fn the_kill_switch_cancels_every_order_halts_and_refuses_new_ones() {
    let mut rig = Rig::new(quote_on_book());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, T0);
    rig.core.kill("test", at(1));
    assert!(rig.core.is_killed());
    assert_eq!(
        shapes(&rig.jobs()),
        vec![(1, 0)],
        "one cancel for the resting bid"
    );
    assert!(
        rig.heard()
            .iter()
            .any(|e| matches!(e, Event::TradingState(c) if c.to == TradingState::Halted))
    );
    // Halted: the strategy's next quote does not leave.
    rig.core.on_venue_event(book(at(2)), at(2));
    assert!(rig.jobs().is_empty());
}

#[test]
fn a_panicking_strategy_is_stopped_and_everything_is_cancelled() {
    let mut books = 0;
    let react: Reaction = Box::new(move |e, ctx| {
        if matches!(e, Event::Book(_)) {
            books += 1;
            if books == 2 {
                panic!("strategy bug");
            }
            ctx.place(bid(5518));
        }
    });
    let mut rig = Rig::new(react);
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, T0);
    let calls_before = rig.heard().len();
    rig.core.on_venue_event(book(at(1)), at(1));
    assert_eq!(shapes(&rig.jobs()), vec![(1, 0)], "its order is cancelled");
    rig.core.on_venue_event(book(at(2)), at(2));
    assert_eq!(
        rig.heard().len(),
        calls_before + 1,
        "no call after the panic"
    );
    let finished = rig.core.finish(at(3), TxCosts::default());
    assert_eq!(finished.summary.trading_state, TradingState::Halted);
    assert!(
        finished
            .summary
            .strategy_failure
            .is_some_and(|f| f.contains("strategy bug"))
    );
}

#[test]
fn a_strategy_that_answers_every_refusal_with_a_new_order_is_cut_off() {
    let risk = RiskConfig {
        max_order_notional: Decimal::ONE,
        ..RiskConfig::default()
    };
    // Every refusal is answered with another refused order: without a budget, for ever.
    let react: Reaction = Box::new(|e, ctx| {
        if matches!(e, Event::Book(_) | Event::RiskRejected(_)) {
            ctx.place(bid(5518));
        }
    });
    let mut rig = Rig::with(react, risk, RateLimitConfig::default());
    rig.core.on_venue_event(book(T0), T0);
    let limit = EngineConfig::default().max_internal_events;
    assert_eq!(
        rig.heard().len(),
        limit,
        "the strategy is called at most max_internal_events times per venue event"
    );
    // The next venue event gets a fresh budget.
    rig.core.on_venue_event(book(at(1)), at(1));
    assert_eq!(rig.heard().len(), 2 * limit);
}

#[test]
fn shutdown_cancels_what_rests_and_the_summary_lists_what_the_venue_did_not_confirm() {
    let mut rig = Rig::new(quote_on_book());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, T0);
    rig.core.begin_shutdown(at(1));
    let cancels = rig.jobs();
    assert_eq!(shapes(&cancels), vec![(1, 0)]);
    assert_eq!(
        rig.core.state().order_status(ClientOrderId(1)),
        Some(OrderStatus::PendingCancel)
    );
    // Unconfirmed at the end: listed as left open.
    let mut unconfirmed = Rig::new(quote_on_book());
    unconfirmed.core.on_venue_event(book(T0), T0);
    let jobs = unconfirmed.jobs();
    unconfirmed.accept(jobs, T0);
    unconfirmed.core.begin_shutdown(at(1));
    let summary = unconfirmed.core.finish(at(2), TxCosts::default()).summary;
    assert_eq!(summary.left_open, vec![ClientOrderId(1)]);
    assert!(!summary.clean());
    // Confirmed: nothing left open.
    let Some(Job::Execute { id, .. }) = cancels.into_iter().next() else {
        panic!()
    };
    let outcome = RequestOutcome::Accepted { placed: vec![] };
    rig.core
        .on_report_in_shutdown(ExecReport { id, outcome }, at(2));
    assert_eq!(rig.core.state().live_order_count(None), 0);
    let summary = rig.core.finish(at(3), TxCosts::default()).summary;
    assert!(summary.clean());
    assert_eq!(summary.orders_sent, 1);
}

#[test]
fn quotes_on_a_book_that_stopped_updating_are_pulled_on_the_tick() {
    let mut rig = Rig::new(quote_on_book());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, T0);
    let stale_after = RiskConfig::default().stale_book_ms / 1000;
    rig.core.on_tick(at(stale_after), TxCosts::default());
    assert!(rig.jobs().is_empty(), "not stale yet");
    rig.core.on_tick(at(stale_after + 1), TxCosts::default());
    assert_eq!(shapes(&rig.jobs()), vec![(1, 0)]);
    rig.core.on_tick(at(stale_after + 2), TxCosts::default());
    assert!(rig.jobs().is_empty(), "pulled once, not on every tick");
}

#[test]
fn gas_the_venue_reports_is_priced_into_the_summary() {
    let mut rig = Rig::new(Box::new(|_, _| {}));
    let costs = TxCosts {
        transactions: 3,
        failed_transactions: 1,
        gas_units: 300,
        native_fee: Decimal::new(3, 4),
    };
    rig.core.on_tick(at(1), costs);
    let summary = rig.core.finish(at(2), costs).summary;
    assert_eq!(summary.tx_costs, costs);
    assert_eq!(summary.gas.native, Decimal::new(3, 4));
}

#[test]
fn a_pause_goes_reduce_only_cancels_opening_orders_and_refuses_new_ones() {
    let mut rig = Rig::new(quote_on_book());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, T0);
    rig.core.reduce_only("operator pause", at(1));
    assert_eq!(rig.core.status().trading_state, TradingState::ReduceOnly);
    assert_eq!(
        shapes(&rig.jobs()),
        vec![(1, 0)],
        "the opening bid is cancelled"
    );
    rig.core.on_venue_event(book(at(2)), at(2));
    assert!(rig.jobs().is_empty(), "a new opening bid is refused");
    // A halted bot is not un-halted by a pause.
    rig.core.kill("test", at(3));
    rig.core.reduce_only("again", at(4));
    assert_eq!(rig.core.status().trading_state, TradingState::Halted);
}

#[test]
fn the_status_shows_orders_pnl_and_limit_headroom_in_human_units() {
    let risk = RiskConfig {
        max_loss: Some(Decimal::from(50)),
        ..RiskConfig::default()
    };
    let mut rig = Rig::with(quote_on_book(), risk, RateLimitConfig::default());
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, T0);
    let status = rig.core.status();
    assert_eq!(status.strategy, "probe");
    let m = &status.markets[0];
    assert_eq!(m.name, "APT-USD");
    assert_eq!(m.mid, Some(Decimal::new(552, 2)));
    assert_eq!(m.orders.len(), 1);
    assert_eq!(m.orders[0].price, Some(Decimal::new(5518, 3)));
    assert_eq!(
        m.orders[0].remaining,
        Decimal::new(5, 1),
        "500 lots of 0.001 APT"
    );
    assert_eq!(status.limits.loss_headroom, Some(Decimal::from(50)));
    assert_eq!(status.counts.requests_sent, 1);
    assert_eq!(status.ts, T0);
}

#[test]
fn finished_orders_are_kept_for_the_configured_retention_then_dropped() {
    let config = EngineConfig {
        finished_order_retention_ms: 3_000,
        ..quiet()
    };
    let (risk, limits) = (RiskConfig::default(), RateLimitConfig::default());
    let mut rig = Rig::with_config(quote_on_book(), risk, limits, config);
    rig.core.on_venue_event(book(T0), T0);
    let jobs = rig.jobs();
    rig.accept(jobs, at(1));
    let cancelled = Event::Order(perpbot_model::OrderUpdate {
        market: M,
        client_id: None,
        venue_id: Some(VenueOrderId(1001)),
        kind: OrderUpdateKind::Cancelled,
        ts: at(2),
    });
    rig.core.on_venue_event(cancelled, at(2));
    let order = ClientOrderId(1);
    assert_eq!(
        rig.core.state().order_status(order),
        Some(OrderStatus::Cancelled)
    );
    // Passes that drop finished orders run every retention (3 s here): at 3 s and 6 s.
    for secs in 3..=5 {
        rig.core.on_tick(at(secs), TxCosts::default());
        assert_eq!(
            rig.core.state().order_status(order),
            Some(OrderStatus::Cancelled),
            "{} s after it ended, still kept",
            secs - 2
        );
    }
    assert_eq!(
        rig.core.state().client_id_for(VenueOrderId(1001)),
        Some(order)
    );
    rig.core.on_tick(at(6), TxCosts::default());
    assert_eq!(
        rig.core.state().order(order),
        None,
        "4 s after it ended, dropped"
    );
    assert_eq!(rig.core.state().client_id_for(VenueOrderId(1001)), None);
}
