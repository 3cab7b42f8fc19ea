//! Engine throughput: events per second through `Engine` + the `market_maker` strategy + risk +
//! executor over the paper venue (its matching, queue-aware resting fills, fees and positions).
//!
//! One run: a fresh paper venue fed by a `ScriptedSource` of `SOURCE_EVENTS` pre-built steps 50 ms
//! apart (simulated) — full 20-level book snapshots from a mid walk, and every fourth step a
//! public trade near the touch that can fill the bot's quotes — and a fresh `Engine` running the
//! market maker with `config/sim.toml`'s params, risk limits and rate limits. Tokio's clock is
//! paused, so the 50 ms gaps, the strategy's 500 ms requote timer and the engine's own ticks pass
//! in simulated time while the CPU runs flat out: the wall time is pure processing.
//!
//! Timed (wall clock, `std::time::Instant`): from `Engine::run` being started until the strategy
//! has seen the last source event — the venue task replaying the source and matching, the event
//! channel, `State::apply`, the strategy, risk, the executor's batching, rate limiting and spawned
//! request tasks, the paper venue executing them and the outcomes coming back as events. Venue
//! start, engine construction and the shutdown (cancel everything, wait for confirmation) are not
//! timed. The strategy is wrapped in a counter (one extra boxed future per event).
//!
//! Criterion's throughput is source events per second; `cargo bench` also prints one run's
//! totals: every event the strategy received (source events plus order updates, fills,
//! positions, balances and timers), fills and requests.
//!
//! A second function runs the same script through the backtest
//! (`perpbot::backtest::run_market_data`): the same strategy, config and paper exchange, driven
//! by the synchronous engine core on the backtest's simulated clock instead of tasks and
//! channels (300 ms order latency, the backtest's default). Timed: the whole `run_market_data`
//! call. Its line in the printout gives the events the engine core handled per second.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use perpbot::clock::Clock;
use perpbot::engine::{Control, Engine, EngineConfig, RunSummary};
use perpbot::model::{BookUpdateKind, Event, Lots, MarketSpec, Side, Ticks, Timestamp};
use perpbot::strategies::market_maker::MarketMaker;
use perpbot::strategy::{Context, Strategy, StrategyError};
use perpbot::venue::Venue;
use perpbot::venue::paper::{PaperConfig, PaperVenue, ScriptedSource, SourceEvent, SourceStep};
use tokio::sync::{mpsc, oneshot};

use common::{APT, APT_MID_TICKS, Lcg, T0_SECS};

/// Source steps per run.
const SOURCE_EVENTS: u64 = 20_000;

/// Simulated time between source steps.
const STEP: Duration = Duration::from_millis(50);

/// The market maker, counting what it is handed; reports the wall time at the last source event.
struct Counting {
    inner: MarketMaker,
    target: u64,
    source_seen: u64,
    delivered: Arc<AtomicU64>,
    done: Option<oneshot::Sender<Instant>>,
}

impl Strategy for Counting {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.inner.on_start(ctx)
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.delivered.fetch_add(1, Ordering::Relaxed);
        let result = self.inner.on_event(event, ctx);
        let from_source = match event {
            Event::Book(b) => b.kind == BookUpdateKind::Snapshot,
            Event::Trade(_) => true,
            _ => false,
        };
        if from_source {
            self.source_seen += 1;
            if self.source_seen == self.target
                && let Some(done) = self.done.take()
            {
                let _ = done.send(Instant::now());
            }
        }
        result
    }

    fn on_stop(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.inner.on_stop(ctx)
    }
}

/// The scripted market: snapshots of 10 levels a side from a mid walk, every fourth step a
/// public trade within 3 ticks of the mid.
fn script(n: u64) -> Vec<SourceStep> {
    let mut rng = Lcg(7);
    let mut mid = APT_MID_TICKS;
    (0..n)
        .map(|i| {
            let event = if i % 4 == 3 {
                let aggressor = if rng.next().is_multiple_of(2) {
                    Side::Buy
                } else {
                    Side::Sell
                };
                let offset = 1 + rng.next() % 3;
                let price = match aggressor {
                    Side::Buy => mid + offset,
                    Side::Sell => mid - offset,
                };
                SourceEvent::Trade {
                    market: APT,
                    price: Ticks(price),
                    lots: Lots(500 + rng.next() % 5000),
                    aggressor,
                }
            } else {
                mid = mid + rng.next() % 3 - 1;
                SourceEvent::snapshot(
                    APT,
                    common::levels(&mut rng, mid, 10, true),
                    common::levels(&mut rng, mid, 10, false),
                )
            };
            SourceStep { after: STEP, event }
        })
        .collect()
}

/// What one run measured.
struct RunResult {
    wall: Duration,
    delivered: u64,
    summary: RunSummary,
}

/// One run on a fresh paused-clock runtime.
fn run_once(steps: Vec<SourceStep>) -> RunResult {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("tokio runtime");
    runtime.block_on(async move {
        let config = common::paper_config();
        let clock = Clock::starting_at(Timestamp::from_secs(T0_SECS));
        let venue = PaperVenue::new(
            PaperConfig::default(),
            vec![MarketSpec::kana_apt_testnet()],
            Box::new(ScriptedSource::new(steps)),
            clock,
        );
        let session = Box::new(venue)
            .connect(&[APT])
            .await
            .expect("paper venue connects");
        let delivered = Arc::new(AtomicU64::new(0));
        let (done_tx, done_rx) = oneshot::channel();
        let strategy = Counting {
            inner: MarketMaker::from_params(&config.strategy.params).expect("sim.toml params"),
            target: SOURCE_EVENTS,
            source_seen: 0,
            delivered: Arc::clone(&delivered),
            done: Some(done_tx),
        };
        let engine = Engine::new(
            session,
            Box::new(strategy),
            config.risk.clone(),
            config.rate_limits.clone(),
            EngineConfig {
                status_interval_ms: 0,
                kill_switch_file: None,
                ..config.engine.clone()
            },
            clock,
        );
        let (control_tx, control_rx) = mpsc::channel(1);
        let start = Instant::now();
        let handle = tokio::spawn(engine.run(control_rx));
        let end = done_rx.await.expect("the strategy saw every source event");
        let wall = end.duration_since(start);
        let delivered = delivered.load(Ordering::Relaxed);
        control_tx
            .send(Control::Shutdown)
            .await
            .expect("engine running");
        let finished = handle.await.expect("engine task");
        RunResult {
            wall,
            delivered,
            summary: finished.summary,
        }
    })
}

/// The script as a backtest's market data: each step at its simulated time.
fn market_data(steps: &[SourceStep]) -> Vec<(Timestamp, SourceEvent)> {
    let mut at = Timestamp::from_secs(T0_SECS);
    steps
        .iter()
        .map(|s| {
            at = at.plus(s.after);
            (at, s.event.clone())
        })
        .collect()
}

/// One backtest of the script; the outcome and the wall time of the run.
fn backtest_once(data: Vec<(Timestamp, SourceEvent)>) -> (Duration, perpbot::backtest::Outcome) {
    let config = common::paper_config();
    let setup = perpbot::backtest::Setup {
        manifest: perpbot::backtest::Manifest {
            venue: "kana".into(),
            markets: vec![MarketSpec::kana_apt_testnet()],
            units: "human".into(),
            source: "benches/engine.rs".into(),
        },
        strategy: Box::new(
            MarketMaker::from_params(&config.strategy.params).expect("sim.toml params"),
        ),
        risk: config.risk.clone(),
        rate_limits: config.rate_limits.clone(),
        engine: EngineConfig {
            status_interval_ms: 0,
            kill_switch_file: None,
            ..config.engine.clone()
        },
        paper: PaperConfig::default(),
        models: perpbot::backtest::Models::default(),
    };
    let start = Instant::now();
    let outcome = perpbot::backtest::run_market_data(setup, data).expect("backtest runs");
    (start.elapsed(), outcome)
}

fn engine(c: &mut Criterion) {
    let steps = script(SOURCE_EVENTS);
    let data = market_data(&steps);
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(SOURCE_EVENTS));
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("paper_market_maker_20k_source_events", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| run_once(steps.clone()).wall)
                .sum::<Duration>()
        })
    });
    group.bench_function("backtest_market_maker_20k_source_events", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| backtest_once(data.clone()).0)
                .sum::<Duration>()
        })
    });
    group.finish();
}

/// One run's totals, printed (not asserted).
fn report() {
    let r = run_once(script(SOURCE_EVENTS));
    let s = &r.summary;
    let secs = r.wall.as_secs_f64();
    println!();
    println!(
        "engine: {SOURCE_EVENTS} source events in {:.1} ms: {:.0} source events/s; \
         {} events delivered to the strategy: {:.0} events/s",
        secs * 1e3,
        SOURCE_EVENTS as f64 / secs,
        r.delivered,
        r.delivered as f64 / secs
    );
    println!(
        "  fills {} (maker {}), requests sent {}, orders sent {}, risk/rate refusals {}, \
         venue rejections {}, strategy errors {}, left open {}",
        s.fills,
        s.maker_fills,
        s.requests_sent,
        s.orders_sent,
        s.risk_rejections,
        s.venue_rejections,
        s.strategy_errors,
        s.left_open.len()
    );
    let (wall, outcome) = backtest_once(market_data(&script(SOURCE_EVENTS)));
    let r = &outcome.report;
    let secs = wall.as_secs_f64();
    println!(
        "backtest: {SOURCE_EVENTS} source events in {:.1} ms: {:.0} source events/s; \
         {} events handled by the engine core: {:.0} events/s; fills {}, requests sent {}",
        secs * 1e3,
        SOURCE_EVENTS as f64 / secs,
        r.engine_events,
        r.engine_events as f64 / secs,
        r.summary.fills,
        r.summary.requests_sent
    );
    println!();
}

criterion_group!(benches, engine);

fn main() {
    if common::benchmarking() {
        report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
