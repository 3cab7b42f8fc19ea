//! Property tests for the L2 order book (`perpbot::model::OrderBook`) against an obviously
//! correct reference model (one `BTreeMap` per side), over arbitrary sequences of snapshots,
//! deltas and clears — including crossed books, zero sizes and prices at the ends of `u64`.
//!
//! The default case count is small so that the normal `cargo test` stays fast (all three
//! `prop_*` files together take well under 5 s in a debug build). For a longer search set
//! `PROPTEST_CASES`, which overrides the default here:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release --test integration prop_book
//! ```
//!
//! A failure prints the minimal operation sequence and proptest stores its seed in
//! `tests/prop_book.proptest-regressions`; commit that file so the case is replayed on every run.

use std::collections::BTreeMap;

use perpbot::model::{Level, Lots, OrderBook, Side, Ticks, Timestamp};
use proptest::prelude::*;
use rust_decimal::Decimal;

/// Default cases; `PROPTEST_CASES` overrides (and `PROPTEST_RNG_SEED` the
/// fixed seed, [`crate::common::PROPTEST_SEED`]).
const CASES: u32 = 256;

fn config() -> ProptestConfig {
    crate::common::proptest_config(CASES)
}

#[derive(Debug, Clone)]
enum Op {
    Snapshot(Vec<(u64, u64)>, Vec<(u64, u64)>),
    Delta(Side, u64, u64),
    Clear,
}

/// Prices from a narrow band (so levels collide, and bids and asks cross often) plus the ends of
/// the `u64` range and the `i64` boundary.
fn price() -> impl Strategy<Value = u64> {
    prop_oneof![
        12 => 90u64..110,
        1 => Just(0u64),
        1 => Just(i64::MAX as u64),
        1 => Just(i64::MAX as u64 + 1),
        1 => Just(u64::MAX),
        1 => any::<u64>(),
    ]
}

fn lots() -> impl Strategy<Value = u64> {
    prop_oneof![8 => 1u64..50, 3 => Just(0u64), 1 => Just(u64::MAX)]
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn op() -> impl Strategy<Value = Op> {
    let levels = || proptest::collection::vec((price(), lots()), 0..12);
    prop_oneof![
        1 => (levels(), levels()).prop_map(|(b, a)| Op::Snapshot(b, a)),
        12 => (side(), price(), lots()).prop_map(|(s, p, l)| Op::Delta(s, p, l)),
        1 => Just(Op::Clear),
    ]
}

/// The reference book: price → lots per side.
#[derive(Debug, Default)]
struct Model {
    bids: BTreeMap<u64, u64>,
    asks: BTreeMap<u64, u64>,
    updated_at: Option<Timestamp>,
}

impl Model {
    fn side(&self, side: Side) -> &BTreeMap<u64, u64> {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    /// Levels of a side, best first.
    fn levels(&self, side: Side) -> Vec<(u64, u64)> {
        let map = self.side(side).iter().map(|(p, l)| (*p, *l));
        match side {
            Side::Buy => map.rev().collect(),
            Side::Sell => map.collect(),
        }
    }

    fn apply(&mut self, op: &Op, now: Timestamp) {
        match op {
            // Documented rule: zero-size levels are dropped and a price listed twice keeps its
            // last (non-zero) size.
            Op::Snapshot(bids, asks) => {
                for (map, levels) in [(&mut self.bids, bids), (&mut self.asks, asks)] {
                    map.clear();
                    for (p, l) in levels.iter().filter(|(_, l)| *l != 0) {
                        map.insert(*p, *l);
                    }
                }
                self.updated_at = Some(now);
            }
            Op::Delta(side, p, l) => {
                let map = match side {
                    Side::Buy => &mut self.bids,
                    Side::Sell => &mut self.asks,
                };
                if *l == 0 {
                    map.remove(p);
                } else {
                    map.insert(*p, *l);
                }
                self.updated_at = Some(now);
            }
            Op::Clear => *self = Model::default(),
        }
    }

    /// Walk the opposite side for a taker, the obvious way.
    fn walk(&self, taker: Side, want: u64, limit: Option<u64>) -> (u64, u128, Option<u64>) {
        let (mut filled, mut notional, mut worst) = (0u64, 0u128, None);
        for (p, l) in self.levels(taker.opposite()) {
            let ok = match (taker, limit) {
                (_, None) => true,
                (Side::Buy, Some(lim)) => p <= lim,
                (Side::Sell, Some(lim)) => p >= lim,
            };
            if filled == want || !ok {
                break;
            }
            let take = (want - filled).min(l);
            filled += take;
            notional += u128::from(take) * u128::from(p);
            worst = Some(p);
        }
        (filled, notional, worst)
    }
}

fn apply(book: &mut OrderBook, op: &Op, now: Timestamp) {
    let levels = |v: &[(u64, u64)]| {
        v.iter()
            .map(|(p, l)| Level::new(*p, *l))
            .collect::<Vec<_>>()
    };
    match op {
        Op::Snapshot(b, a) => book.replace(&levels(b), &levels(a), now),
        Op::Delta(side, p, l) => book.apply_delta(*side, Ticks(*p), Lots(*l), now),
        Op::Clear => book.clear(),
    }
}

/// Everything observable about the book agrees with the model.
fn check(book: &OrderBook, model: &Model, probes: &[u64]) -> Result<(), TestCaseError> {
    for side in [Side::Buy, Side::Sell] {
        let got: Vec<(u64, u64)> = book.levels(side).map(|l| (l.price.0, l.lots.0)).collect();
        prop_assert_eq!(&got, &model.levels(side), "{:?} levels", side);
        prop_assert!(
            got.iter().all(|(_, l)| *l != 0),
            "no zero-size level is kept"
        );
        let best = model.levels(side).first().map(|(p, l)| Level::new(*p, *l));
        prop_assert_eq!(book.best(side), best);
        for p in probes.iter().chain(model.side(side).keys()) {
            let want = model.side(side).get(p).copied().unwrap_or(0);
            prop_assert_eq!(book.lots_at(side, Ticks(*p)), Lots(want));
        }
    }
    let bids: Vec<_> = book.bids().map(|l| l.price.0).collect();
    prop_assert!(bids.windows(2).all(|w| w[0] > w[1]), "bids best first");
    let asks: Vec<_> = book.asks().map(|l| l.price.0).collect();
    prop_assert!(asks.windows(2).all(|w| w[0] < w[1]), "asks best first");
    prop_assert_eq!(book.best_bid(), book.best(Side::Buy));
    prop_assert_eq!(book.best_ask(), book.best(Side::Sell));
    prop_assert_eq!(book.depth(), (model.bids.len(), model.asks.len()));
    prop_assert_eq!(
        book.is_empty(),
        model.bids.is_empty() && model.asks.is_empty()
    );
    prop_assert_eq!(book.updated_at(), model.updated_at);

    // Top of book, computed in wide integers.
    let top = model.bids.keys().next_back().zip(model.asks.keys().next());
    prop_assert_eq!(book.is_crossed(), top.is_some_and(|(b, a)| b >= a));
    match top {
        None => {
            prop_assert_eq!(book.spread_ticks(), None);
            prop_assert_eq!(book.mid_x2(), None);
            prop_assert_eq!(book.mid_ticks(), None);
        }
        Some((&b, &a)) => {
            let spread = i128::from(a) - i128::from(b);
            if let Ok(s) = i64::try_from(spread) {
                prop_assert_eq!(book.spread_ticks(), Some(s));
            }
            // 2·mid exactly, or None when it does not fit u64 (documented).
            let sum = u64::try_from(u128::from(a) + u128::from(b)).ok();
            prop_assert_eq!(book.mid_x2(), sum);
            prop_assert_eq!(
                book.mid_ticks(),
                sum.map(|m| Decimal::from(m) / Decimal::TWO)
            );
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Arbitrary snapshots, deltas and clears: the book matches the reference model after every
    /// operation, and nothing panics.
    #[test]
    fn book_matches_reference_model(
        ops in proptest::collection::vec(op(), 0..60),
        probes in proptest::collection::vec(price(), 0..6),
    ) {
        let mut book = OrderBook::new();
        let mut model = Model::default();
        check(&book, &model, &probes)?;
        for (i, op) in ops.iter().enumerate() {
            let now = Timestamp(i as u64 + 1);
            apply(&mut book, op, now);
            model.apply(op, now);
            check(&book, &model, &probes)?;
        }
    }

    /// Walking the book for a size, with or without a limit, matches the obvious walk over the
    /// model; the walk never fills more than asked or than rests.
    #[test]
    fn walk_matches_reference_model(
        ops in proptest::collection::vec(op(), 0..40),
        walks in proptest::collection::vec(
            (side(), prop_oneof![0u64..200, Just(u64::MAX)], proptest::option::of(price())),
            1..8,
        ),
    ) {
        let mut book = OrderBook::new();
        let mut model = Model::default();
        for (i, op) in ops.iter().enumerate() {
            apply(&mut book, op, Timestamp(i as u64));
            model.apply(op, Timestamp(i as u64));
        }
        for (taker, want, limit) in walks {
            let w = book.walk(taker, Lots(want), limit.map(Ticks));
            let (filled, notional, worst) = model.walk(taker, want, limit);
            prop_assert_eq!(w.filled, Lots(filled));
            prop_assert_eq!(w.notional_ticks, notional);
            prop_assert_eq!(w.worst_price, worst.map(Ticks));
            prop_assert!(w.filled.0 <= want);
            if filled > 0 {
                let avg = w.average_ticks();
                prop_assert!(avg.is_some(), "an average for every non-empty walk");
                let avg = avg.unwrap_or_default();
                // Between the best and the worst price touched.
                let worst = Decimal::from(worst.unwrap_or_default());
                match taker {
                    Side::Buy => prop_assert!(avg <= worst, "{} > {}", avg, worst),
                    Side::Sell => prop_assert!(avg >= worst, "{} < {}", avg, worst),
                }
                if notional < (1u128 << 96) {
                    // Within Decimal's mantissa: the plain quotient.
                    prop_assert_eq!(avg, Decimal::from(notional) / Decimal::from(filled));
                } else {
                    // Wider: correct to 28 significant digits, so within one tick of the whole
                    // part (a fraction of .999… may round up to the next integer).
                    let whole = Decimal::from(notional / u128::from(filled));
                    prop_assert!(avg >= whole && avg <= whole + Decimal::ONE, "{} vs {}", avg, whole);
                }
            } else {
                prop_assert_eq!(w.average_ticks(), None);
            }
        }
    }
}
