//! Tick to intent: the raw bytes of a Kana `orderbook` push in, a risk-approved requote out —
//! the reaction time of the bot to a market move, measured through the real code path.
//!
//! Timed per tick, in the order the engine runs it (`EngineCore::on_venue_event`, `deliver`,
//! `process_outbox`):
//! 1. `KanaDecoder::decode` of the frame (20 levels: 10 bids, 10 asks, human units);
//! 2. `State::set_now` and `State::apply` (the book is replaced), the run report's
//!    `PerformanceTracker::observe`, `State::take_acknowledged`, and `RiskEngine::evaluate` when
//!    the PnL version moved (as the engine runs it; the bench ran it on every tick before);
//! 3. the built-in `market_maker` (`MarketMaker::from_params` with `config/sim.toml`'s
//!    `[strategy.params]`) deciding in `on_event` through a `Context`, inside `catch_unwind`, as
//!    the engine does;
//! 4. every emitted intent through `RiskEngine::check` (`config/sim.toml`'s `[risk]`) and, for
//!    an approved replace, its new orders tracked in the state — the intent is then ready for the
//!    executor.
//!
//! The account starts long 2 APT at 5.500 (an inventory the quotes lean against, and PnL that
//! the risk and drawdown checks recompute whenever the mid moves) with a funding rate set.
//!
//! Not timed: building the frame (a mid walk, one tick of 100 ms each) and what the executor and
//! the venue would do afterwards (cancels confirmed, new orders acknowledged with venue ids), so
//! the next tick sees resting quotes like a live run. The crossing from the WebSocket task to the
//! engine task (a bounded channel) is not part of this figure.
//!
//! Criterion reports the mean. The issue asks for the distribution, so `cargo bench` also prints
//! p50 / p99 / p99.9 / max over 200,000 ticks timed one by one with `std::time::Instant` (about
//! 20–30 ns of timer overhead included in each sample), split into ticks that produced an intent
//! and ticks that did not.

mod common;

use std::hint::black_box;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use perpbot::model::{
    ClientOrderId, Event, FundingRate, Intent, Lots, MarketSpec, OrderEvent, Position,
    PositionSide, PositionUpdate, Timestamp, TradingState, VenueOrderId,
};
use perpbot::report::PerformanceTracker;
use perpbot::risk::{Approved, RiskEngine};
use perpbot::state::State;
use perpbot::strategies::market_maker::MarketMaker;
use perpbot::strategy::{Context, Outbox, Strategy};
use perpbot::venue::kana::decode::{KanaDecoder, KanaUnits};
use rust_decimal::Decimal;

use common::{APT, APT_MID_TICKS, Lcg, T0_SECS};

/// Simulated time between two orderbook pushes.
const TICK: Duration = Duration::from_millis(100);

/// Ticks timed one by one for the distribution.
const DISTRIBUTION_TICKS: usize = 200_000;

/// Decoder, state, strategy and risk wired as the engine wires them, plus the untimed stand-in
/// for the executor and venue.
struct Pipeline {
    decoder: KanaDecoder,
    state: State,
    strategy: MarketMaker,
    risk: RiskEngine,
    tracker: PerformanceTracker,
    outbox: Outbox,
    events: Vec<Event>,
    approved: Vec<Approved>,
    /// The PnL version the limits were last evaluated at (the engine's `limits_checked_at`).
    limits_checked_at: Option<u64>,
    now: Timestamp,
    next_venue_id: u128,
    /// Frame input: the mid walk and its generator.
    rng: Lcg,
    mid: u64,
    spec: MarketSpec,
}

impl Pipeline {
    fn new() -> Pipeline {
        let config = common::paper_config();
        let spec = MarketSpec::kana_apt_testnet();
        let now = Timestamp::from_secs(T0_SECS);
        let mut state = State::new(std::slice::from_ref(&spec));
        state.set_now(now);
        let mut strategy =
            MarketMaker::from_params(&config.strategy.params).expect("sim.toml params");
        let mut outbox = Outbox::new(0);
        {
            let mut ctx = Context::new(&state, TradingState::Active, &mut outbox);
            strategy.on_start(&mut ctx).expect("market_maker starts");
        }
        // on_start only sets its requote timer; timers are not part of this path.
        outbox.timers.clear();
        let mut p = Pipeline {
            decoder: KanaDecoder::new(vec![spec.clone()], KanaUnits::Auto).expect("spec"),
            state,
            strategy,
            risk: RiskEngine::new(config.risk.clone()),
            tracker: PerformanceTracker::new(),
            outbox,
            events: Vec::with_capacity(4),
            approved: Vec::with_capacity(4),
            limits_checked_at: None,
            now,
            next_venue_id: 12_907_057_702_855_018_828_273_522,
            rng: Lcg(42),
            mid: APT_MID_TICKS,
            spec,
        };
        // A market maker usually carries inventory, and funding moves its quotes: start long
        // 2 APT at 5.500 with a funding rate set, so PnL, skew and funding are on the path.
        let mut long = Position::flat(APT, PositionSide::Long, now);
        long.lots = Lots(2_000);
        long.entry_price = Decimal::new(55, 1);
        long.margin = Decimal::new(55, 1);
        long.leverage = 2;
        p.setup_event(Event::Position(PositionUpdate {
            positions: vec![long],
            snapshot: true,
        }));
        p.setup_event(Event::Funding(FundingRate {
            market: APT,
            rate: Decimal::new(1, 4),
            ts: now,
        }));
        p
    }

    /// Not timed: an account event applied and handed to the strategy, its intents approved.
    fn setup_event(&mut self, event: Event) {
        self.state.apply(&event);
        let mut ctx = Context::new(&self.state, self.risk.trading_state(), &mut self.outbox);
        self.strategy
            .on_event(&event, &mut ctx)
            .expect("market_maker");
        for intent in self.outbox.intents.drain(..) {
            let decision = self.risk.check(intent, &self.state);
            assert!(decision.refused.is_empty(), "{:?}", decision.refused);
        }
    }

    /// The next push of the mid walk (not timed).
    fn next_frame(&mut self) -> String {
        self.now = self.now.plus(TICK);
        self.mid = self.mid + self.rng.next() % 3 - 1;
        common::orderbook_frame(&self.spec, &mut self.rng, self.mid, 10, self.now.as_secs())
    }

    /// The timed path: frame bytes → approved intents (in `self.approved`). Returns how many.
    fn tick(&mut self, frame: &str) -> usize {
        self.approved.clear();
        let now = self.now;
        // WebSocket task: decode with the receive time.
        self.decoder
            .decode(frame, now, &mut self.events)
            .expect("frame decodes");
        // Engine task, per event: `on_venue_event`.
        for event in self.events.drain(..) {
            self.state.set_now(now);
            if !self.state.apply(&event) {
                continue;
            }
            self.tracker.observe(&event, &self.state);
            debug_assert!(self.state.take_acknowledged().is_empty());
            // As the engine does: the PnL limits move only with PnL.
            if self.limits_checked_at != Some(self.state.pnl_version()) {
                self.limits_checked_at = Some(self.state.pnl_version());
                let _ = self.risk.evaluate(&self.state);
            }
            // `deliver`: the strategy, a panic caught.
            let outcome = {
                let mut ctx =
                    Context::new(&self.state, self.risk.trading_state(), &mut self.outbox);
                std::panic::catch_unwind(AssertUnwindSafe(|| {
                    self.strategy.on_event(&event, &mut ctx)
                }))
            };
            assert!(matches!(outcome, Ok(Ok(()))), "market_maker failed");
            // `process_outbox`: every intent through risk; approved orders tracked at once.
            self.outbox.timers.clear();
            for intent in self.outbox.intents.drain(..) {
                let decision = self.risk.check(intent, &self.state);
                assert!(
                    decision.refused.is_empty(),
                    "risk refused: {:?}",
                    decision.refused
                );
                if let Some(a) = decision.approved {
                    if let Intent::ReplaceQuotes { place, .. } = a.intent() {
                        for req in place {
                            self.state.track_new_order(req.clone());
                        }
                    }
                    self.approved.push(a);
                }
            }
        }
        self.approved.len()
    }

    /// Not timed: the executor sends the approved intents and the venue confirms them — cancels
    /// cancelled, new orders acknowledged with a venue id.
    fn settle(&mut self) {
        for a in self.approved.drain(..) {
            let (cancel, place): (Vec<ClientOrderId>, Vec<ClientOrderId>) = match a.into_intent() {
                Intent::ReplaceQuotes { cancel, place, .. } => {
                    (cancel, place.iter().map(|r| r.client_id).collect())
                }
                Intent::CancelAll { .. } => (
                    self.state
                        .live_orders(None)
                        .map(|o| o.client_id())
                        .collect(),
                    Vec::new(),
                ),
                other => panic!("unexpected intent {other:?}"),
            };
            for id in cancel {
                self.state
                    .apply_order_event(id, &OrderEvent::CancelRequested);
                self.state.apply_order_event(id, &OrderEvent::Cancelled);
            }
            for id in place {
                self.next_venue_id += 1;
                let venue_id = Some(VenueOrderId(self.next_venue_id));
                self.state
                    .apply_order_event(id, &OrderEvent::Accepted { venue_id });
            }
        }
    }
}

fn tick_to_intent(c: &mut Criterion) {
    let mut p = Pipeline::new();
    for _ in 0..1_000 {
        let frame = p.next_frame();
        p.tick(&frame);
        p.settle();
    }
    let mut group = c.benchmark_group("tick_to_intent");
    group.throughput(Throughput::Elements(1));
    group.bench_function("orderbook_20_levels_to_approved_intent", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                let frame = p.next_frame();
                let start = Instant::now();
                let n = p.tick(black_box(&frame));
                total += start.elapsed();
                black_box(n);
                p.settle();
            }
            total
        })
    });
    group.finish();
}

/// p50 / p99 / p99.9 over `DISTRIBUTION_TICKS` ticks timed one by one (printed, not asserted).
fn distribution() {
    let mut p = Pipeline::new();
    for _ in 0..10_000 {
        let frame = p.next_frame();
        p.tick(&frame);
        p.settle();
    }
    let mut all = Vec::with_capacity(DISTRIBUTION_TICKS);
    let mut quoting = Vec::new();
    let mut quiet = Vec::new();
    for _ in 0..DISTRIBUTION_TICKS {
        let frame = p.next_frame();
        let start = Instant::now();
        let n = p.tick(black_box(&frame));
        let ns = start.elapsed().as_nanos() as u64;
        all.push(ns);
        if n > 0 {
            quoting.push(ns);
        } else {
            quiet.push(ns);
        }
        p.settle();
    }
    println!();
    println!(
        "tick_to_intent distribution: {DISTRIBUTION_TICKS} ticks of 100 ms simulated time, \
         {} produced an approved replace, {} orders tracked at the end",
        quoting.len(),
        p.state.live_order_count(None),
    );
    println!(
        "  {:<22} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "mean", "p50", "p99", "p99.9", "max"
    );
    for (name, samples) in [
        ("all ticks", &mut all),
        ("ticks with an intent", &mut quoting),
        ("ticks without", &mut quiet),
    ] {
        if samples.is_empty() {
            continue;
        }
        let m = samples.iter().sum::<u64>() as f64 / samples.len() as f64;
        let [p50, p99, p999, max] = common::percentiles(samples);
        println!(
            "  {name:<22} {:>7.0}ns {p50:>7}ns {p99:>7}ns {p999:>7}ns {max:>7}ns",
            m
        );
    }
    println!();
}

criterion_group!(benches, tick_to_intent);

fn main() {
    if common::benchmarking() {
        distribution();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
