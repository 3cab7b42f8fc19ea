use super::*;

fn book() -> OrderBook {
    let mut b = OrderBook::new();
    b.replace(
        &[Level::new(98, 10), Level::new(100, 5), Level::new(99, 7)],
        &[Level::new(103, 4), Level::new(101, 2), Level::new(102, 6)],
        Timestamp(1_000),
    );
    b
}

#[test]
fn snapshot_sorts_and_exposes_best_first() {
    let b = book();
    assert_eq!(b.best_bid(), Some(Level::new(100, 5)));
    assert_eq!(b.best_ask(), Some(Level::new(101, 2)));
    let bids: Vec<u64> = b.bids().map(|l| l.price.0).collect();
    let asks: Vec<u64> = b.asks().map(|l| l.price.0).collect();
    assert_eq!(bids, vec![100, 99, 98]);
    assert_eq!(asks, vec![101, 102, 103]);
    assert_eq!(b.mid_x2(), Some(201));
    assert_eq!(b.mid_ticks(), Some(rust_decimal::Decimal::new(1005, 1)));
    assert_eq!(b.spread_ticks(), Some(1));
    assert!(!b.is_crossed());
}

#[test]
fn snapshots_in_any_order_give_the_sorted_deduplicated_book() {
    // The general path, spelled out: drop empty levels, sort worst to best (stable), keep
    // the last size listed for a price.
    fn expected(src: &[Level], bids: bool) -> Vec<Level> {
        let mut v: Vec<Level> = src.iter().copied().filter(|l| !l.lots.is_zero()).collect();
        v.sort_by(|a, b| {
            if bids {
                a.price.cmp(&b.price)
            } else {
                b.price.cmp(&a.price)
            }
        });
        let mut out: Vec<Level> = Vec::new();
        for l in v {
            match out.last_mut() {
                Some(last) if last.price == l.price => *last = l,
                _ => out.push(l),
            }
        }
        out.reverse();
        out
    }
    let mut next = crate::test_rng::below(11);
    let mut book = OrderBook::new();
    for _ in 0..2_000 {
        let len = next(12) as usize;
        let mut levels: Vec<Level> = (0..len)
            .map(|_| Level::new(100 + next(15), next(4)))
            .collect();
        match next(3) {
            0 => levels.sort_by_key(|l| l.price),
            1 => levels.sort_by_key(|l| std::cmp::Reverse(l.price)),
            _ => {}
        }
        book.replace(&levels, &levels, Timestamp(1));
        assert_eq!(book.bids().collect::<Vec<_>>(), expected(&levels, true));
        assert_eq!(book.asks().collect::<Vec<_>>(), expected(&levels, false));
    }
}

#[test]
fn snapshot_replaces_everything_and_drops_zero_levels() {
    let mut b = book();
    b.replace(
        &[Level::new(50, 1), Level::new(49, 0)],
        &[],
        Timestamp(2_000),
    );
    assert_eq!(b.depth(), (1, 0));
    assert_eq!(b.best_ask(), None);
    assert_eq!(b.mid_x2(), None);
    // Duplicate prices in a snapshot keep the last size listed.
    b.replace(
        &[Level::new(50, 1), Level::new(50, 9)],
        &[],
        Timestamp(3_000),
    );
    assert_eq!(b.best_bid(), Some(Level::new(50, 9)));
}

#[test]
fn deltas_insert_update_and_delete() {
    let mut b = book();
    b.apply_delta(Side::Buy, Ticks(100), Lots(8), Timestamp(2));
    assert_eq!(b.best_bid(), Some(Level::new(100, 8)));
    b.apply_delta(Side::Buy, Ticks(100), Lots(0), Timestamp(3));
    assert_eq!(b.best_bid(), Some(Level::new(99, 7)));
    b.apply_delta(Side::Buy, Ticks(97), Lots(1), Timestamp(4)); // new worst level
    b.apply_delta(Side::Sell, Ticks(100), Lots(3), Timestamp(5)); // new best ask
    b.apply_delta(Side::Sell, Ticks(150), Lots(3), Timestamp(6)); // new worst ask
    b.apply_delta(Side::Sell, Ticks(999), Lots(0), Timestamp(7)); // delete of a missing level
    let bids: Vec<u64> = b.bids().map(|l| l.price.0).collect();
    let asks: Vec<u64> = b.asks().map(|l| l.price.0).collect();
    assert_eq!(bids, vec![99, 98, 97]);
    assert_eq!(asks, vec![100, 101, 102, 103, 150]);
    assert_eq!(b.lots_at(Side::Sell, Ticks(102)), Lots(6));
    assert_eq!(b.lots_at(Side::Sell, Ticks(104)), Lots(0));
    assert_eq!(b.updated_at(), Some(Timestamp(7)));
}

#[test]
fn crossed_book_is_detected() {
    let mut b = book();
    b.apply_delta(Side::Buy, Ticks(101), Lots(1), Timestamp(2));
    assert!(b.is_crossed(), "locked (bid == ask) counts as crossed");
    b.apply_delta(Side::Buy, Ticks(102), Lots(1), Timestamp(3));
    assert_eq!(b.spread_ticks(), Some(-1));
}

/// Found by `tests/integration/prop_book.rs`: prices beyond `i64::MAX` (a raw-unit frame can carry any
/// `u64`) made `spread_ticks` and `mid_x2` overflow — a panic in debug builds, and in release
/// a crossed book reported as uncrossed.
#[test]
fn top_of_book_is_right_at_the_ends_of_u64() {
    let mut b = OrderBook::new();
    b.replace(
        &[Level::new(90, 1)],
        &[Level::new(1 << 63, 1)],
        Timestamp(1),
    );
    assert_eq!(b.spread_ticks(), Some(i64::MAX - 89));
    assert!(!b.is_crossed());
    assert_eq!(b.mid_x2(), Some((1 << 63) + 90));
    b.replace(
        &[Level::new(u64::MAX, 1)],
        &[Level::new(1, 1)],
        Timestamp(2),
    );
    assert!(b.is_crossed(), "bid u64::MAX is above ask 1");
    assert_eq!(b.spread_ticks(), Some(i64::MIN), "saturates, sign kept");
    assert_eq!(b.mid_x2(), None, "2·mid does not fit u64");
    b.replace(
        &[Level::new(1, 1)],
        &[Level::new(u64::MAX, 1)],
        Timestamp(3),
    );
    assert!(!b.is_crossed());
    assert_eq!(b.spread_ticks(), Some(i64::MAX));
}

/// Found by `tests/integration/prop_book.rs`: the average of a walk whose notional exceeds `Decimal`'s
/// 96-bit mantissa panicked.
#[test]
fn average_of_a_huge_walk_does_not_panic() {
    let mut b = OrderBook::new();
    b.replace(&[], &[Level::new(u64::MAX, u64::MAX)], Timestamp(1));
    let w = b.walk(Side::Buy, Lots(u64::MAX), None);
    assert_eq!(
        w.notional_ticks,
        u128::from(u64::MAX) * u128::from(u64::MAX)
    );
    assert_eq!(
        w.average_ticks(),
        Some(rust_decimal::Decimal::from(u64::MAX))
    );
}

#[test]
fn walking_depth_for_a_size() {
    let b = book();
    // Buy 10: 2 @101 + 6 @102 + 2 @103.
    let w = b.walk(Side::Buy, Lots(10), None);
    assert_eq!(w.filled, Lots(10));
    assert_eq!(w.notional_ticks, 2 * 101 + 6 * 102 + 2 * 103);
    assert_eq!(w.worst_price, Some(Ticks(103)));
    // A limit stops the walk.
    let w = b.walk(Side::Buy, Lots(10), Some(Ticks(102)));
    assert_eq!(w.filled, Lots(8));
    // More than the book holds fills only what is there.
    let w = b.walk(Side::Sell, Lots(100), None);
    assert_eq!(w.filled, Lots(22));
    assert_eq!(w.worst_price, Some(Ticks(98)));
}

#[test]
fn age_is_measured_from_the_last_update() {
    let mut b = OrderBook::new();
    assert_eq!(b.age_nanos(Timestamp(5)), None);
    b.replace(&[Level::new(1, 1)], &[], Timestamp(1_000));
    assert_eq!(b.age_nanos(Timestamp(4_000)), Some(3_000));
    b.clear();
    assert!(b.is_empty());
    assert_eq!(b.updated_at(), None);
}

#[test]
fn random_deltas_match_a_reference_map() {
    // Seeded; compare against BTreeMap as the obviously-correct model.
    use std::collections::BTreeMap;
    let mut next = crate::test_rng::seeded(42);
    let mut b = OrderBook::new();
    let mut bids = BTreeMap::new();
    let mut asks = BTreeMap::new();
    for i in 0..20_000u64 {
        let side = if next().is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        };
        let price = match side {
            Side::Buy => 900 + next() % 100,
            Side::Sell => 1000 + next() % 100,
        };
        let lots = if next().is_multiple_of(5) {
            0
        } else {
            1 + next() % 50
        };
        b.apply_delta(side, Ticks(price), Lots(lots), Timestamp(i));
        let map = if side == Side::Buy {
            &mut bids
        } else {
            &mut asks
        };
        if lots == 0 {
            map.remove(&price);
        } else {
            map.insert(price, lots);
        }
        assert_eq!(
            b.best_bid().map(|l| l.price.0),
            bids.keys().next_back().copied()
        );
        assert_eq!(b.best_ask().map(|l| l.price.0), asks.keys().next().copied());
    }
    let got: Vec<(u64, u64)> = b.bids().map(|l| (l.price.0, l.lots.0)).collect();
    let want: Vec<(u64, u64)> = bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
    assert_eq!(got, want);
}

#[test]
fn sparse_deep_and_crossing_deltas_match_a_reference_map() {
    // Wide, sparse and overlapping price ranges: updates far below the best, beyond the
    // best, on an empty side, and at prices of the other side (a crossed book).
    use std::collections::BTreeMap;
    let mut next = crate::test_rng::seeded(7);
    let mut b = OrderBook::new();
    let mut maps = [BTreeMap::new(), BTreeMap::new()];
    for i in 0..20_000u64 {
        let (side, map) = if next().is_multiple_of(2) {
            (Side::Buy, 0)
        } else {
            (Side::Sell, 1)
        };
        let price = match next() % 3 {
            0 => next() % 10_000,
            1 => 4_990 + next() % 20,
            _ => u64::MAX - next() % 3,
        };
        let lots = if next().is_multiple_of(3) {
            0
        } else {
            1 + next() % 9
        };
        b.apply_delta(side, Ticks(price), Lots(lots), Timestamp(i));
        if lots == 0 {
            maps[map].remove(&price);
        } else {
            maps[map].insert(price, lots);
        }
    }
    let got: Vec<(u64, u64)> = b.bids().map(|l| (l.price.0, l.lots.0)).collect();
    let want: Vec<(u64, u64)> = maps[0].iter().rev().map(|(p, q)| (*p, *q)).collect();
    assert_eq!(got, want);
    let got: Vec<(u64, u64)> = b.asks().map(|l| (l.price.0, l.lots.0)).collect();
    let want: Vec<(u64, u64)> = maps[1].iter().map(|(p, q)| (*p, *q)).collect();
    assert_eq!(got, want);
}

#[test]
fn size_at_a_price_is_found_on_either_side_and_zero_where_there_is_no_level() {
    let mut book = OrderBook::new();
    let bids: Vec<Level> = (0..500)
        .map(|i| Level::new(10_000 - 2 * i, 1 + i))
        .collect();
    let asks: Vec<Level> = (0..500)
        .map(|i| Level::new(10_002 + 2 * i, 7 + i))
        .collect();
    book.replace(&bids, &asks, Timestamp(1));
    for l in bids.iter() {
        assert_eq!(book.lots_at(Side::Buy, l.price), l.lots);
        // Between two levels, below the worst and above the best: nothing.
        assert_eq!(book.lots_at(Side::Buy, Ticks(l.price.0 - 1)), Lots::ZERO);
        assert_eq!(book.lots_at(Side::Sell, l.price), Lots::ZERO);
    }
    for l in asks.iter() {
        assert_eq!(book.lots_at(Side::Sell, l.price), l.lots);
        assert_eq!(book.lots_at(Side::Sell, Ticks(l.price.0 + 1)), Lots::ZERO);
    }
    assert_eq!(book.lots_at(Side::Buy, Ticks(10_001)), Lots::ZERO);
    assert_eq!(book.lots_at(Side::Sell, Ticks(10_001)), Lots::ZERO);
    assert_eq!(book.lots_at(Side::Buy, Ticks(u64::MAX)), Lots::ZERO);
    assert_eq!(book.lots_at(Side::Sell, Ticks(0)), Lots::ZERO);
    assert_eq!(OrderBook::new().lots_at(Side::Buy, Ticks(5)), Lots::ZERO);
}

/// The dense window, its overflow and every re-centring against a `BTreeMap`: prices spread over
/// thousands of ticks around a drifting centre (so levels move in and out of the window), jumps
/// far above and below, the ends of the `u64` range, snapshots in between, and both ends of the
/// iterators at once.
#[test]
fn wide_and_drifting_deltas_match_a_reference_map_through_every_recentring() {
    use std::collections::BTreeMap;
    let mut next = crate::test_rng::seeded(7);
    let mut b = OrderBook::new();
    let mut maps: [BTreeMap<u64, u64>; 2] = [BTreeMap::new(), BTreeMap::new()];
    let mut centre: u64 = 1_000_000;
    for i in 0..60_000u64 {
        let r = next();
        if r.is_multiple_of(97) {
            centre = centre
                .saturating_add(next() % 2000)
                .saturating_sub(next() % 2000);
        }
        let side = if next().is_multiple_of(2) {
            Side::Buy
        } else {
            Side::Sell
        };
        let spread = match next() % 10 {
            0 => 5_000,
            1 | 2 => 600,
            _ => 60,
        };
        let offset = next() % spread;
        let price = match next() % 500 {
            0 => next() % 3,            // the bottom of the range
            1 => u64::MAX - next() % 3, // the top
            _ => match side {
                Side::Buy => centre.saturating_sub(offset),
                Side::Sell => centre.saturating_add(offset),
            },
        };
        let lots = if next().is_multiple_of(4) {
            0
        } else {
            1 + next() % 50
        };
        if i % 5_000 == 4_999 {
            // A snapshot of whatever the maps hold, worst first, with a duplicate and a zero.
            let level = |(p, q): (&u64, &u64)| Level::new(*p, *q);
            let mut bids: Vec<Level> = maps[0].iter().map(level).collect();
            let asks: Vec<Level> = maps[1].iter().rev().map(level).collect();
            if let Some(first) = bids.first().copied() {
                bids.push(Level::new(first.price.0, 0));
            }
            b.replace(&bids, &asks, Timestamp(i));
        }
        b.apply_delta(side, Ticks(price), Lots(lots), Timestamp(i));
        let map = &mut maps[usize::from(side == Side::Sell)];
        if lots == 0 {
            map.remove(&price);
        } else {
            map.insert(price, lots);
        }
        let [bids, asks] = &maps;
        assert_eq!(
            b.best_bid().map(|l| (l.price.0, l.lots.0)),
            bids.iter().next_back().map(|(p, q)| (*p, *q)),
            "step {i}"
        );
        assert_eq!(
            b.best_ask().map(|l| (l.price.0, l.lots.0)),
            asks.iter().next().map(|(p, q)| (*p, *q)),
            "step {i}"
        );
        assert_eq!(b.depth(), (bids.len(), asks.len()), "step {i}");
        let probe = price.wrapping_add(next() % 3).wrapping_sub(1);
        assert_eq!(
            b.lots_at(Side::Buy, Ticks(probe)).0,
            bids.get(&probe).copied().unwrap_or(0)
        );
        assert_eq!(
            b.lots_at(Side::Sell, Ticks(probe)).0,
            asks.get(&probe).copied().unwrap_or(0)
        );
        if i % 1_000 == 0 {
            let want_b: Vec<(u64, u64)> = bids.iter().rev().map(|(p, q)| (*p, *q)).collect();
            let want_a: Vec<(u64, u64)> = asks.iter().map(|(p, q)| (*p, *q)).collect();
            let got_b: Vec<(u64, u64)> = b.bids().map(|l| (l.price.0, l.lots.0)).collect();
            let got_a: Vec<(u64, u64)> = b.asks().map(|l| (l.price.0, l.lots.0)).collect();
            assert_eq!(got_b, want_b, "step {i}");
            assert_eq!(got_a, want_a, "step {i}");
            let rev_b: Vec<u64> = b.bids().rev().map(|l| l.price.0).collect();
            assert_eq!(rev_b, bids.keys().copied().collect::<Vec<_>>(), "step {i}");
            // Both ends at once meet in the middle without a gap or a repeat.
            let mut it = b.asks();
            let (mut front, mut back) = (Vec::new(), Vec::new());
            assert_eq!(it.len(), asks.len());
            loop {
                match (next() % 2, it.len()) {
                    (_, 0) => break,
                    (0, _) => front.extend(it.next().map(|l| l.price.0)),
                    _ => back.extend(it.next_back().map(|l| l.price.0)),
                }
            }
            assert_eq!(it.next(), None);
            front.extend(back.into_iter().rev());
            assert_eq!(front, asks.keys().copied().collect::<Vec<_>>(), "step {i}");
        }
    }
}

/// Contiguous levels wider than the window, so every re-centring has a level exactly at each of
/// its edges: climbing above the window, then removing the best one by one down through the
/// overflow, on both sides, checked against a `BTreeMap` at every step.
#[test]
fn contiguous_levels_survive_recentring_at_the_window_edges() {
    use std::collections::BTreeMap;
    for side in [Side::Buy, Side::Sell] {
        let mut b = OrderBook::new();
        let mut map = BTreeMap::new();
        let check = |b: &OrderBook, map: &BTreeMap<u64, u64>, step: &str| {
            let got: Vec<(u64, u64)> = b.levels(side).map(|l| (l.price.0, l.lots.0)).collect();
            let mut want: Vec<(u64, u64)> = map.iter().map(|(p, q)| (*p, *q)).collect();
            if side == Side::Buy {
                want.reverse();
            }
            assert_eq!(got, want, "{side:?} {step}");
            assert_eq!(b.levels(side).len(), map.len(), "{side:?} {step}");
        };
        let set = |b: &mut OrderBook, map: &mut BTreeMap<u64, u64>, p: u64, q: u64| {
            b.apply_delta(side, Ticks(p), Lots(q), Timestamp(p));
            if q == 0 {
                map.remove(&p);
            } else {
                map.insert(p, q);
            }
        };
        // Worst to best, then best to worst: both directions of growth.
        for p in (10_000..10_700).step_by(1) {
            set(&mut b, &mut map, p, p % 7 + 1);
        }
        check(&b, &map, "filled upwards");
        for p in (9_300..10_000).rev() {
            set(&mut b, &mut map, p, p % 5 + 1);
        }
        check(&b, &map, "filled downwards");
        // Far above and far below, then back.
        for p in [11_500, 8_000, 10_350, 12_900, 7_100] {
            set(&mut b, &mut map, p, 9);
            check(&b, &map, &format!("jump to {p}"));
            // Touch every level again: one misplaced across a window edge would now show twice.
            let prices: Vec<u64> = map.keys().copied().collect();
            for q in prices {
                set(&mut b, &mut map, q, q % 3 + 1);
            }
            check(&b, &map, &format!("rewritten after the jump to {p}"));
        }
        // Remove the best level one at a time until the side is empty.
        while let Some(best) = b.best(side) {
            set(&mut b, &mut map, best.price.0, 0);
            if map.len() % 37 == 0 {
                check(&b, &map, &format!("after removing {}", best.price.0));
            }
            let want_best = match side {
                Side::Buy => map.keys().next_back(),
                Side::Sell => map.keys().next(),
            };
            assert_eq!(b.best(side).map(|l| l.price.0), want_best.copied());
        }
        assert!(map.is_empty());
        assert_eq!(b.depth(), (0, 0));
    }
}

/// A stream's update applies as its kind says: a snapshot replaces the book, a delta sets (or,
/// at zero size, removes) each level it lists, on both sides.
#[test]
fn a_book_update_replaces_on_a_snapshot_and_sets_levels_on_a_delta() {
    use crate::event::{BookUpdate, BookUpdateKind};
    use crate::{Lots, MarketId};
    let update = |kind, bids: &[(u64, u64)], asks: &[(u64, u64)], t| BookUpdate {
        market: MarketId(1),
        kind,
        bids: bids.iter().map(|&(p, l)| Level::new(p, l)).collect(),
        asks: asks.iter().map(|&(p, l)| Level::new(p, l)).collect(),
        ts: Timestamp(t),
    };
    let mut book = OrderBook::new();
    book.apply_delta(Side::Buy, Ticks(1), Lots(9), Timestamp(0));
    book.apply_update(&update(
        BookUpdateKind::Snapshot,
        &[(99, 5)],
        &[(101, 6)],
        1,
    ));
    assert_eq!(
        book.best_bid(),
        Some(Level::new(99, 5)),
        "the old level is gone"
    );
    assert_eq!(book.depth(), (1, 1));
    book.apply_update(&update(
        BookUpdateKind::Delta,
        &[(99, 0), (98, 2)],
        &[(100, 3)],
        2,
    ));
    assert_eq!(book.best_bid(), Some(Level::new(98, 2)));
    assert_eq!(book.best_ask(), Some(Level::new(100, 3)));
    assert_eq!(book.depth(), (1, 2));
    assert_eq!(book.updated_at(), Some(Timestamp(2)));
}
