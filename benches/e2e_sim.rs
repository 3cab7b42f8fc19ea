//! End to end against the simulator: how many orders per second one account sustains through the
//! real Kana client, with sequence numbers pipelined.
//!
//! Setup (not timed): `perpbot::cli::connect_venue` with `config/sim.toml` (venue `sim`) — the
//! simulator started in-process on an ephemeral 127.0.0.1 port with its block latency set low,
//! the real Kana venue connected to it with the generated key (REST, WebSocket, node). The best
//! bid is read from the first WebSocket book.
//!
//! Timed (wall clock): `ORDERS` place requests, each one post-only bid of 0.5 APT 3 % below the
//! book (so it rests and never fills), sent through `VenueWriter::execute` with at most `window`
//! requests in flight — each is the writer's whole path: REST `placeLimitOrder` → payload check →
//! ABI encode → BCS → Ed25519 → `POST /v1/transactions` → waiting for the commit (the node
//! client long-polls `wait_by_hash`, which the simulator holds until the block is in, like a
//! fullnode; before that it polled `by_hash` at once, then after 200 ms, × 1.5 up to 2 s). The Submitter
//! hands out sequence numbers without waiting for earlier ones to commit. The run ends when every
//! request has its outcome; every outcome must be a commit (an expired, lost or refused
//! transaction — what a sequence-number stall produces — is counted and reported).
//!
//! Not timed: cancelling the orders afterwards (batches of 10 per transaction) so every burst
//! starts from the same book.
//!
//! Loopback only, bounded: a fixed number of orders, then the runtime (and the simulator with it)
//! is dropped. The executor's configured rate limit (`[rate_limits]`, 4 placing requests/s in
//! `sim.toml`) is a policy in front of this path and is not applied here: this measures what
//! the client and one account can carry.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, SamplingMode, Throughput, criterion_group};
use perpbot::clock::Clock;
use perpbot::model::{
    ClientOrderId, Direction, Event, Lots, NewOrder, OrderRequest, Side, Ticks, VenueOrderId,
};
use perpbot::venue::{CancelOrder, RequestOutcome, VenueRequest, VenueWriter};
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use common::APT;

/// Orders per timed burst.
const ORDERS: usize = 200;

/// The simulator's block latency for the criterion figure.
const BLOCK_LATENCY_MS: u64 = 10;

/// Requests in flight for the criterion figure.
const WINDOW: usize = 16;

/// A connected client and its simulator, on their own runtime (dropping it stops both).
struct Connected {
    runtime: Runtime,
    writer: Arc<dyn VenueWriter>,
    quiet_bid: u64,
    next_client_id: u64,
    block_latency_ms: u64,
}

/// What one burst did.
struct Burst {
    wall: Duration,
    latencies_us: Vec<u64>,
    committed: usize,
    failed: Vec<String>,
}

impl Connected {
    fn start(block_latency_ms: u64) -> Connected {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let (writer, bid) = runtime.block_on(async {
            let mut config = common::paper_config();
            config.engine.kill_switch_file = None;
            config.venue.sim.block_latency_ms = block_latency_ms;
            let session = perpbot::cli::connect_venue(&config, Clock::system())
                .await
                .expect("the Kana client connects to the simulator");
            let mut events = session.events;
            let bid = tokio::time::timeout(Duration::from_secs(20), async {
                loop {
                    match events.recv().await {
                        Some(Event::Book(b)) if b.market == APT && !b.bids.is_empty() => {
                            break b.bids.iter().map(|l| l.price.0).max().unwrap_or(0);
                        }
                        Some(_) => {}
                        None => panic!("the venue's event stream ended"),
                    }
                }
            })
            .await
            .expect("a book within 20 s");
            // Keep the stream flowing (a bounded channel nobody reads would hold the client up).
            tokio::spawn(async move { while events.recv().await.is_some() {} });
            (session.writer, bid)
        });
        Connected {
            runtime,
            writer,
            quiet_bid: bid * 97 / 100,
            next_client_id: 1_000,
            block_latency_ms,
        }
    }

    /// Place `orders` resting bids with at most `window` in flight; then cancel them (untimed).
    fn burst(&mut self, orders: usize, window: usize) -> Burst {
        let first_id = self.next_client_id;
        self.next_client_id += orders as u64;
        let quiet_bid = self.quiet_bid;
        let writer = Arc::clone(&self.writer);
        self.runtime.block_on(async move {
            let slots = Arc::new(Semaphore::new(window));
            let mut tasks = JoinSet::new();
            let start = Instant::now();
            for i in 0..orders {
                let slot = Arc::clone(&slots)
                    .acquire_owned()
                    .await
                    .expect("semaphore open");
                let writer = Arc::clone(&writer);
                let client_id = ClientOrderId(first_id + i as u64);
                let price = Ticks(quiet_bid - (i as u64 % 20));
                tasks.spawn(async move {
                    let order = NewOrder::limit(APT, Side::Buy, Lots(500), price)
                        .post_only()
                        .with_leverage(2);
                    let request = VenueRequest::Orders {
                        market: APT,
                        cancel: vec![],
                        place: vec![OrderRequest { client_id, order }],
                    };
                    let sent = Instant::now();
                    let outcome = writer
                        .execute(request, &perpbot::venue::RequestContext::none())
                        .await;
                    drop(slot);
                    (client_id, sent.elapsed(), outcome)
                });
            }
            let mut latencies_us = Vec::with_capacity(orders);
            let mut resting: Vec<(ClientOrderId, VenueOrderId)> = Vec::new();
            let mut failed = Vec::new();
            while let Some(done) = tasks.join_next().await {
                let (client_id, took, outcome) = done.expect("request task");
                latencies_us.push(took.as_micros() as u64);
                match outcome {
                    RequestOutcome::Accepted { placed, .. } => {
                        resting.extend(placed.into_iter().filter_map(|(c, v)| Some((c, v?))));
                    }
                    other => failed.push(format!("{client_id}: {other:?}")),
                }
            }
            let wall = start.elapsed();
            let committed = orders - failed.len();
            cancel_all(&writer, &resting).await;
            Burst {
                wall,
                latencies_us,
                committed,
                failed,
            }
        })
    }
}

/// Cancel `orders` in batches of 10 (one transaction each), a few batches in flight.
async fn cancel_all(writer: &Arc<dyn VenueWriter>, orders: &[(ClientOrderId, VenueOrderId)]) {
    let mut tasks = JoinSet::new();
    for batch in orders.chunks(10) {
        let cancel = batch
            .iter()
            .map(|(client_id, venue_id)| CancelOrder {
                client_id: *client_id,
                venue_id: Some(*venue_id),
                market: APT,
                side: Side::Buy,
                direction: Direction::Open,
            })
            .collect();
        let writer = Arc::clone(writer);
        tasks.spawn(async move {
            let request = VenueRequest::Orders {
                market: APT,
                cancel,
                place: vec![],
            };
            writer
                .execute(request, &perpbot::venue::RequestContext::none())
                .await
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok(outcome) = done
            && !matches!(outcome, RequestOutcome::Accepted { .. })
        {
            eprintln!("e2e_sim: a cancel batch did not commit: {outcome:?}");
        }
    }
}

fn e2e(c: &mut Criterion) {
    let mut sim = Connected::start(BLOCK_LATENCY_MS);
    let mut group = c.benchmark_group("e2e_sim");
    group.throughput(Throughput::Elements(ORDERS as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.bench_function(
        format!("place_{ORDERS}_orders_window_{WINDOW}_block_{BLOCK_LATENCY_MS}ms"),
        |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| {
                        let burst = sim.burst(ORDERS, WINDOW);
                        assert!(burst.failed.is_empty(), "{:?}", burst.failed);
                        burst.wall
                    })
                    .sum::<Duration>()
            })
        },
    );
    group.finish();
}

/// One burst per setting, printed (not asserted): throughput, latency distribution, failures.
fn report() {
    println!();
    println!(
        "e2e_sim: orders placed through the Kana client against the simulator on 127.0.0.1, one account"
    );
    println!(
        "  {:>8} {:>7} {:>7} {:>10} {:>9} {:>9} {:>9} {:>9}",
        "block", "window", "orders", "orders/s", "p50", "p99", "max", "failed"
    );
    for (latency, runs) in [
        (
            BLOCK_LATENCY_MS,
            &[(1usize, 20usize), (4, ORDERS), (16, ORDERS), (64, ORDERS)][..],
        ),
        (250, &[(16, ORDERS)][..]),
    ] {
        let mut sim = Connected::start(latency);
        for &(window, orders) in runs {
            let mut b = sim.burst(orders, window);
            let [p50, p99, _, max] = common::percentiles(&mut b.latencies_us);
            println!(
                "  {:>6}ms {window:>7} {orders:>7} {:>10.1} {:>7.1}ms {:>7.1}ms {:>7.1}ms {:>9}",
                sim.block_latency_ms,
                b.committed as f64 / b.wall.as_secs_f64(),
                p50 as f64 / 1e3,
                p99 as f64 / 1e3,
                max as f64 / 1e3,
                b.failed.len()
            );
            for f in b.failed.iter().take(3) {
                println!("      {f}");
            }
        }
    }
    println!();
}

criterion_group!(benches, e2e);

fn main() {
    if common::benchmarking() {
        report();
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
