//! Order book benchmarks on books generated with the LCG (seeded, identical every run).
//!
//! Timed:
//! - `replace_snapshot_{20,500}_levels_per_side`: `OrderBook::replace` from a full snapshot with
//!   the sides listed best first (as Kana sends them), into a book whose memory is reused — what
//!   every Kana `orderbook` push costs after decoding;
//! - `delta_apply_and_top_of_book_500_levels`: one `OrderBook::apply_delta` followed by reading
//!   the best bid and ask, over a 500-level-a-side book, with the delta stream (SBS-1
//!   generator, seed 42: the mid moves by r % 3 − 1 with probability 1/100, side r % 2, offset
//!   1 + r % 50 ticks from the mid, 1 in 5 a delete, else 1 + r % 5000 lots). 1,000,000 deltas
//!   are generated up front and replayed in a ring, so generation is not timed.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use perpbot::model::{Lots, OrderBook, Side, Ticks, Timestamp};

use common::{Lcg, levels};

/// The mid: tick 1,000,000.
const MID: u64 = 1_000_000;

fn snapshot(c: &mut Criterion) {
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(1));
    for n in [20u64, 500] {
        let mut rng = Lcg(42);
        let bids = levels(&mut rng, MID, n, true);
        let asks = levels(&mut rng, MID, n, false);
        let mut book = OrderBook::new();
        group.bench_function(format!("replace_snapshot_{n}_levels_per_side"), |b| {
            b.iter(|| book.replace(black_box(&bids), black_box(&asks), Timestamp(1)))
        });
        assert_eq!(book.depth(), (n as usize, n as usize));
    }
    group.finish();
}

/// The SBS-1 delta stream of the issue.
fn delta_stream(rng: &mut Lcg, n: usize) -> Vec<(Side, Ticks, Lots)> {
    let mut mid = MID;
    (0..n)
        .map(|_| {
            if rng.next().is_multiple_of(100) {
                mid = mid + rng.next() % 3 - 1;
            }
            let side = if rng.next().is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            };
            let offset = 1 + rng.next() % 50;
            let price = match side {
                Side::Buy => mid - offset,
                Side::Sell => mid + offset,
            };
            let lots = if rng.next().is_multiple_of(5) {
                0
            } else {
                1 + rng.next() % 5000
            };
            (side, Ticks(price), Lots(lots))
        })
        .collect()
}

fn deltas(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let mut book = OrderBook::new();
    book.replace(
        &levels(&mut rng, MID, 500, true),
        &levels(&mut rng, MID, 500, false),
        Timestamp(0),
    );
    let deltas = delta_stream(&mut rng, 1_000_000);
    let mut group = c.benchmark_group("book");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("delta_apply_and_top_of_book_500_levels", |b| {
        b.iter(|| {
            let (side, price, lots) = deltas[i % deltas.len()];
            i += 1;
            book.apply_delta(side, price, lots, Timestamp(i as u64));
            black_box((book.best_bid(), book.best_ask()))
        })
    });
    group.finish();
}

criterion_group!(benches, snapshot, deltas);
criterion_main!(benches);
