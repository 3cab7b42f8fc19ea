//! SBS-1: apply one L2 delta and read the top of the book, 1,000,000 times, over a 500-level
//! book.
//!
//! Every contender starts from the same snapshot (built outside the timing) and applies the same
//! deltas in the same order; after each delta it reads the best bid and ask and folds them into
//! a checksum so the read cannot be optimised away. Every 10,000 deltas it records the best bid
//! and ask in ticks; [`gate`] then checks that every contender recorded the same sequence.
//!
//! Inputs are converted to each library's own types before timing (barter: `Decimal` levels
//! wrapped in an `OrderBookEvent::Update` each, as its Binance transformer hands them over;
//! hftbacktest: `f64` price and size), so only the book work is timed.

use std::hint::black_box;
use std::time::{Duration, Instant};

use barter_data::books::{Level as BarterLevel, OrderBook as BarterBook};
use barter_data::subscription::book::OrderBookEvent;
use hftbacktest::depth::{
    HashMapMarketDepth, INVALID_MAX, INVALID_MIN, L2MarketDepth, MarketDepth, ROIVectorMarketDepth,
};
use perpbot::model::{Level, Lots, OrderBook, Side, Ticks, Timestamp};
use rust_decimal::Decimal;

use crate::input::{Delta, LOT, MID0, Snapshot, TICK};

/// Deltas in the run.
pub const DELTAS: usize = 1_000_000;
/// Deltas between two correctness checkpoints.
pub const CHECK_EVERY: usize = 10_000;

/// Best bid and ask in ticks at one checkpoint (`None` for an empty side).
pub type Top = (Option<i64>, Option<i64>);

/// One timed run: elapsed time, the checkpoints, and the checksum of every top-of-book read.
#[derive(Debug, Clone)]
pub struct Run {
    /// Time to apply all deltas (with their top-of-book reads).
    pub elapsed: Duration,
    /// Best bid/ask every [`CHECK_EVERY`] deltas.
    pub tops: Vec<Top>,
    /// Sum of all reads (kept so the reads are real work).
    pub checksum: u64,
}

/// The input in each contender's own representation, prepared once.
pub struct Prepared {
    snapshot: Snapshot,
    deltas: Vec<Delta>,
    barter_snapshot: BarterBook,
    barter_updates: Vec<OrderBookEvent>,
    f64_deltas: Vec<(bool, f64, f64)>,
}

fn dec_price(ticks: u64) -> Decimal {
    Decimal::new(ticks as i64, 1)
}

fn dec_size(lots: u64) -> Decimal {
    Decimal::new(lots as i64, 3)
}

fn dec_ticks(d: Decimal) -> i64 {
    // Price = ticks / 10; exact for every value the generator makes.
    (d.mantissa() * 10 / 10i128.pow(d.scale())) as i64
}

impl Prepared {
    /// Convert the snapshot and deltas for every contender.
    pub fn new(snapshot: Snapshot, deltas: Vec<Delta>) -> Prepared {
        let lv = |&(p, q): &(u64, u64)| BarterLevel::new(dec_price(p), dec_size(q));
        let barter_snapshot = BarterBook::new(
            0,
            None,
            snapshot.bids.iter().map(lv),
            snapshot.asks.iter().map(lv),
        );
        let barter_updates = deltas
            .iter()
            .enumerate()
            .map(|(i, d)| {
                let one = [BarterLevel::new(dec_price(d.price), dec_size(d.lots))];
                let none: [BarterLevel; 0] = [];
                let book = if d.is_bid {
                    BarterBook::new(i as u64 + 1, None, one, none)
                } else {
                    BarterBook::new(i as u64 + 1, None, none, one)
                };
                OrderBookEvent::Update(book)
            })
            .collect();
        let f64_deltas = deltas
            .iter()
            .map(|d| (d.is_bid, d.price as f64 * TICK, d.lots as f64 * LOT))
            .collect();
        Prepared {
            snapshot,
            deltas,
            barter_snapshot,
            barter_updates,
            f64_deltas,
        }
    }
}

/// perpbot's `OrderBook`: integer ticks and lots, sorted vectors with the best level last.
pub fn run_perpbot(p: &Prepared) -> Run {
    let mut book = OrderBook::new();
    let bids: Vec<Level> = p
        .snapshot
        .bids
        .iter()
        .map(|&(px, q)| Level::new(px, q))
        .collect();
    let asks: Vec<Level> = p
        .snapshot
        .asks
        .iter()
        .map(|&(px, q)| Level::new(px, q))
        .collect();
    book.replace(&bids, &asks, Timestamp(0));
    let mut tops = Vec::with_capacity(DELTAS / CHECK_EVERY);
    let mut sum = 0u64;
    let start = Instant::now();
    for (c, chunk) in p.deltas.chunks(CHECK_EVERY).enumerate() {
        for (i, d) in chunk.iter().enumerate() {
            let side = if d.is_bid { Side::Buy } else { Side::Sell };
            let now = Timestamp((c * CHECK_EVERY + i) as u64);
            book.apply_delta(side, Ticks(d.price), Lots(d.lots), now);
            let b = book.best_bid().map_or(0, |l| l.price.0);
            let a = book.best_ask().map_or(0, |l| l.price.0);
            sum = sum.wrapping_add(b ^ a);
        }
        tops.push((
            book.best_bid().map(|l| l.price.0 as i64),
            book.best_ask().map(|l| l.price.0 as i64),
        ));
    }
    let elapsed = start.elapsed();
    Run {
        elapsed,
        tops,
        checksum: black_box(sum),
    }
}

/// barter-data's `OrderBook`, fed through its only public mutation, `update(&OrderBookEvent)`.
pub fn run_barter(p: &Prepared) -> Run {
    let mut book = p.barter_snapshot.clone();
    let mut tops = Vec::with_capacity(DELTAS / CHECK_EVERY);
    let mut sum = 0u64;
    let start = Instant::now();
    for chunk in p.barter_updates.chunks(CHECK_EVERY) {
        for ev in chunk {
            book.update(ev);
            let b = book.bids().best().map_or(0, |l| l.price.mantissa() as u64);
            let a = book.asks().best().map_or(0, |l| l.price.mantissa() as u64);
            sum = sum.wrapping_add(b ^ a);
        }
        tops.push((
            book.bids().best().map(|l| dec_ticks(l.price)),
            book.asks().best().map(|l| dec_ticks(l.price)),
        ));
    }
    let elapsed = start.elapsed();
    Run {
        elapsed,
        tops,
        checksum: black_box(sum),
    }
}

fn snapshot_f64<D: L2MarketDepth>(depth: &mut D, s: &Snapshot) {
    for &(px, q) in &s.bids {
        depth.update_bid_depth(px as f64 * TICK, q as f64 * LOT, 0);
    }
    for &(px, q) in &s.asks {
        depth.update_ask_depth(px as f64 * TICK, q as f64 * LOT, 0);
    }
}

fn run_hbt<D: L2MarketDepth + MarketDepth>(p: &Prepared, mut depth: D) -> Run {
    snapshot_f64(&mut depth, &p.snapshot);
    let mut tops = Vec::with_capacity(DELTAS / CHECK_EVERY);
    let mut sum = 0u64;
    let top = |t: i64| (t != INVALID_MIN && t != INVALID_MAX).then_some(t);
    let start = Instant::now();
    for (c, chunk) in p.f64_deltas.chunks(CHECK_EVERY).enumerate() {
        for (i, &(is_bid, px, qty)) in chunk.iter().enumerate() {
            let ts = (c * CHECK_EVERY + i) as i64;
            if is_bid {
                depth.update_bid_depth(px, qty, ts);
            } else {
                depth.update_ask_depth(px, qty, ts);
            }
            let (b, a) = (depth.best_bid_tick(), depth.best_ask_tick());
            sum = sum.wrapping_add((b ^ a) as u64);
        }
        tops.push((top(depth.best_bid_tick()), top(depth.best_ask_tick())));
    }
    let elapsed = start.elapsed();
    Run {
        elapsed,
        tops,
        checksum: black_box(sum),
    }
}

/// hftbacktest's `HashMapMarketDepth`.
pub fn run_hbt_hashmap(p: &Prepared) -> Run {
    run_hbt(p, HashMapMarketDepth::new(TICK, LOT))
}

/// hftbacktest's `ROIVectorMarketDepth`, its range of interest wide enough for the whole run
/// (±2,000 ticks around the start; the mid wanders well under 200 ticks).
pub fn run_hbt_roi(p: &Prepared) -> Run {
    let lb = (MID0 - 2_000) as f64 * TICK;
    let ub = (MID0 + 2_000) as f64 * TICK;
    run_hbt(p, ROIVectorMarketDepth::new(TICK, LOT, lb, ub))
}

/// The correctness gate: every contender's checkpoints equal the first one's, and so does the
/// checksum of its top-of-book reads after every single delta (`bid ^ ask` in ticks, summed).
/// Returns a message naming the first disagreement.
pub fn gate(runs: &[(&str, &Run)]) -> Result<(), String> {
    let Some((ref_name, reference)) = runs.first() else {
        return Ok(());
    };
    for (name, run) in &runs[1..] {
        if run.checksum != reference.checksum {
            return Err(format!(
                "SBS-1 gate: the top-of-book reads of {name} and {ref_name} differ (checksums {} and {})",
                run.checksum, reference.checksum
            ));
        }
        if run.tops.len() != reference.tops.len() {
            return Err(format!(
                "SBS-1 gate: {name} recorded {} checkpoints, {ref_name} {}",
                run.tops.len(),
                reference.tops.len()
            ));
        }
        for (i, (a, b)) in reference.tops.iter().zip(&run.tops).enumerate() {
            if a != b {
                return Err(format!(
                    "SBS-1 gate: after {} deltas {ref_name} has best bid/ask {a:?} but {name} has {b:?}",
                    (i + 1) * CHECK_EVERY
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::{SEED_BOOK, deltas};

    #[test]
    fn all_books_agree_on_a_short_run() {
        let (snap, d) = deltas(SEED_BOOK, 50_000);
        let p = Prepared::new(snap, d);
        let runs = [
            run_perpbot(&p),
            run_barter(&p),
            run_hbt_hashmap(&p),
            run_hbt_roi(&p),
        ];
        let named: Vec<(&str, &Run)> = ["perpbot", "barter", "hbt-hash", "hbt-roi"]
            .into_iter()
            .zip(runs.iter())
            .collect();
        gate(&named).unwrap();
        assert_eq!(runs[0].tops.len(), 5);
        assert!(runs[0].tops.iter().all(|(b, a)| b.is_some() && a.is_some()));
    }
}
