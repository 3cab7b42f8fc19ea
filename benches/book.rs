//! Order book benchmarks: full-snapshot replace (20 and 500 levels) and delta apply + best read,
//! on books generated with the project's LCG (seeded, identical every run).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use perpbot::model::{Level, Lots, OrderBook, Side, Ticks, Timestamp};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

fn levels(rng: &mut Lcg, mid: u64, n: u64, bid: bool) -> Vec<Level> {
    (1..=n)
        .map(|i| Level::new(if bid { mid - i } else { mid + i }, 1 + rng.next() % 5000))
        .collect()
}

fn snapshot(c: &mut Criterion) {
    for n in [20u64, 500] {
        let mut rng = Lcg(42);
        let bids = levels(&mut rng, 1_000_000, n, true);
        let asks = levels(&mut rng, 1_000_000, n, false);
        let mut book = OrderBook::new();
        c.bench_function(&format!("book/replace_snapshot_{n}_levels"), |b| {
            b.iter(|| book.replace(black_box(&bids), black_box(&asks), Timestamp(1)))
        });
    }
}

fn deltas(c: &mut Criterion) {
    let mut rng = Lcg(42);
    let mid = 1_000_000u64;
    let mut book = OrderBook::new();
    book.replace(
        &levels(&mut rng, mid, 500, true),
        &levels(&mut rng, mid, 500, false),
        Timestamp(0),
    );
    // Pre-generate deltas near the top of the book (offsets 1..=50), 1 in 5 a delete.
    let deltas: Vec<(Side, Ticks, Lots)> = (0..100_000)
        .map(|_| {
            let side = if rng.next().is_multiple_of(2) {
                Side::Buy
            } else {
                Side::Sell
            };
            let offset = 1 + rng.next() % 50;
            let price = if side == Side::Buy {
                mid - offset
            } else {
                mid + offset
            };
            let lots = if rng.next().is_multiple_of(5) {
                0
            } else {
                1 + rng.next() % 5000
            };
            (side, Ticks(price), Lots(lots))
        })
        .collect();
    let mut i = 0usize;
    c.bench_function("book/delta_apply_and_top_of_book_500_levels", |b| {
        b.iter(|| {
            let (side, price, lots) = deltas[i % deltas.len()];
            i += 1;
            book.apply_delta(side, price, lots, Timestamp(i as u64));
            black_box((book.best_bid(), book.best_ask()))
        })
    });
}

criterion_group!(benches, snapshot, deltas);
criterion_main!(benches);
