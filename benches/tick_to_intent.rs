//! Tick to intent: the raw bytes of a Kana `orderbook` push in, a risk-approved requote out as
//! the request the venue writer would send — the reaction time of the bot to a market move,
//! measured through the engine's own code, not a copy of it.
//!
//! Timed per tick:
//! 1. `KanaDecoder::decode` of the frame (20 levels: 10 bids, 10 asks, human units);
//! 2. `EngineCore::on_venue_event_ref` for each decoded event — what the engine task runs for a
//!    book update: the state (the book replaced), the run report's tracker, the PnL limits when
//!    the PnL moved, the built-in `market_maker` (`MarketMaker::from_params` with
//!    `config/sim.toml`'s `[strategy.params]`) inside `catch_unwind`, every intent through the
//!    risk checks (`config/sim.toml`'s `[risk]`), approved orders tracked, and the executor's
//!    dispatch (rate limits, in-flight record, the request built) — ending with the request as a
//!    job for the venue writer.
//!
//! The account starts long 2 APT at 5.500 (an inventory the quotes lean against, and PnL that
//! the risk and drawdown checks recompute whenever the mid moves) with a funding rate set.
//!
//! Not timed: building the frame (a mid walk, one tick of 100 ms each) and the venue's answer:
//! each request is reported accepted with fresh venue ids, as Kana's writer reports a committed
//! `cancelAndPlace` (the engine then marks the cancels cancelled and the new orders resting),
//! so the next tick sees resting quotes like a live run. Signing and sending are not part of
//! this figure (`benches/sign.rs` measures signing), nor is the crossing from the WebSocket
//! task to the engine task (a bounded channel).
//!
//! Criterion reports the mean. The issue asks for the distribution, so `cargo bench` also prints
//! p50 / p99 / p99.9 / max over 200,000 ticks timed one by one with `std::time::Instant` (about
//! 20–30 ns of timer overhead included in each sample), split into ticks that produced a request
//! and ticks that did not.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group};
use perpbot::engine::{EngineConfig, EngineCore};
use perpbot::executor::{ExecReport, Job};
use perpbot::model::{
    Event, FundingRate, Lots, MarketSpec, Position, PositionSide, PositionUpdate, Timestamp,
    VenueOrderId,
};
use perpbot::strategies::market_maker::MarketMaker;
use perpbot::venue::kana::decode::{KanaDecoder, KanaUnits};
use perpbot::venue::kana::writer::WriterConfig;
use perpbot::venue::{RequestOutcome, VenueRequest};
use rust_decimal::Decimal;

use common::{APT, APT_MID_TICKS, Lcg, T0_SECS};

/// Simulated time between two orderbook pushes.
const TICK: Duration = Duration::from_millis(100);

/// Ticks timed one by one for the distribution.
const DISTRIBUTION_TICKS: usize = 200_000;

/// The decoder and the engine core as the live bot wires them, plus the untimed stand-in for
/// the venue writer.
struct Pipeline {
    decoder: KanaDecoder,
    core: EngineCore,
    events: Vec<Event>,
    now: Timestamp,
    next_venue_id: u128,
    /// Requests the core handed to the venue writer.
    requests: u64,
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
        let strategy = MarketMaker::from_params(&config.strategy.params).expect("sim.toml params");
        let mut core = EngineCore::new(
            std::slice::from_ref(&spec),
            WriterConfig::default().capabilities(),
            Box::new(strategy),
            config.risk.clone(),
            config.rate_limits.clone(),
            EngineConfig::default(),
            now,
        );
        assert!(core.start(now), "market_maker starts");
        let mut p = Pipeline {
            decoder: KanaDecoder::new(vec![spec.clone()], KanaUnits::Auto).expect("spec"),
            core,
            events: Vec::with_capacity(4),
            now,
            next_venue_id: 12_907_057_702_855_018_828_273_522,
            requests: 0,
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
        p.core.on_venue_event(
            Event::Position(PositionUpdate {
                positions: vec![long],
                snapshot: true,
            }),
            now,
        );
        p.core.on_venue_event(
            Event::Funding(FundingRate {
                market: APT,
                rate: Decimal::new(1, 4),
                ts: now,
            }),
            now,
        );
        p.settle();
        p
    }

    /// The next push of the mid walk (not timed).
    fn next_frame(&mut self) -> String {
        self.now = self.now.plus(TICK);
        self.mid = self.mid + self.rng.next() % 3 - 1;
        common::orderbook_frame(&self.spec, &mut self.rng, self.mid, 10, self.now.as_secs())
    }

    /// The timed path: frame bytes → the engine's reaction, its requests waiting as jobs.
    fn tick(&mut self, frame: &str) {
        let now = self.now;
        // WebSocket task: decode with the receive time.
        self.decoder
            .decode(frame, now, &mut self.events)
            .expect("frame decodes");
        // Engine task: each event through the core.
        for event in &self.events {
            self.core.on_venue_event_ref(event, now);
        }
        self.events.clear();
    }

    /// Not timed: the venue writer sends each request and Kana commits it — the report names
    /// a fresh venue id for every placed order. Returns how many requests there were.
    fn settle(&mut self) -> usize {
        let mut sent = 0;
        loop {
            let jobs: Vec<Job> = self.core.take_jobs().collect();
            if jobs.is_empty() {
                break;
            }
            for job in jobs {
                let report = match job {
                    Job::Execute { id, request, .. } => {
                        sent += 1;
                        let placed = match request.as_ref() {
                            VenueRequest::Orders { place, .. } => place
                                .iter()
                                .map(|r| {
                                    self.next_venue_id += 1;
                                    (r.client_id, Some(VenueOrderId(self.next_venue_id)))
                                })
                                .collect(),
                            // Take-profit and stop-loss updates place nothing.
                            _ => Vec::new(),
                        };
                        ExecReport {
                            id,
                            outcome: RequestOutcome::Accepted { placed },
                        }
                    }
                    Job::Answer(report) => report,
                    Job::Resolve { .. } => panic!("nothing is ambiguous here"),
                };
                self.core.on_report(report, self.now);
            }
            // Cancels the executor held for an acknowledgement go out now.
            let _ = self.core.pump(self.now);
        }
        self.requests += sent as u64;
        sent
    }

    /// Risk refusals so far (the bench's inputs must never trip a limit).
    fn refusals(&self) -> u64 {
        self.core.status().counts.risk_rejections
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
                p.tick(black_box(&frame));
                total += start.elapsed();
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
        p.tick(black_box(&frame));
        let ns = start.elapsed().as_nanos() as u64;
        all.push(ns);
        if p.settle() > 0 {
            quoting.push(ns);
        } else {
            quiet.push(ns);
        }
    }
    println!();
    println!(
        "tick_to_intent distribution: {DISTRIBUTION_TICKS} ticks of 100 ms simulated time, \
         {} produced a request ({} requests in all), {} live orders at the end, {} risk refusals",
        quoting.len(),
        p.requests,
        p.core.state().live_order_count(None),
        p.refusals(),
    );
    assert_eq!(
        p.refusals(),
        0,
        "the bench's inputs must pass every risk check"
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
