//! The L2 order book of one market, keyed by integer ticks.
//!
//! Each side is a sorted `Vec<Level>` with the **best level at the end**, so the updates that
//! dominate real traffic (near the top of the book) insert or remove close to the end and move few
//! elements, and the best price is one indexed read. Finding a price searches only the last
//! `|best − price| + 1` levels (no more levels than ticks can lie between them), so an update
//! near the top costs a few comparisons whatever the depth of the book. Replacing from a full snapshot (what Kana
//! sends) reuses the vectors' memory.
//!
//! ```
//! use perpbot_model::{Level, Lots, OrderBook, Side, Ticks, Timestamp};
//!
//! let mut book = OrderBook::new();
//! book.replace(
//!     &[Level::new(5518, 100), Level::new(5517, 300)],
//!     &[Level::new(5523, 200)],
//!     Timestamp(1),
//! );
//! assert_eq!(book.best_bid(), Some(Level::new(5518, 100)));
//! assert_eq!(book.spread_ticks(), Some(5));
//! book.apply_delta(Side::Buy, Ticks(5518), Lots(0), Timestamp(2)); // delete the level
//! assert_eq!(book.best_bid().map(|l| l.price), Some(Ticks(5517)));
//! ```

use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::order::Side;
use super::units::{Lots, Ticks, ratio};

/// One price level: the total resting size at a price.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level {
    pub price: Ticks,
    /// Total size at that price.
    pub lots: Lots,
}

impl Level {
    /// A level from raw integers.
    pub const fn new(price: u64, lots: u64) -> Level {
        Level {
            price: Ticks(price),
            lots: Lots(lots),
        }
    }
}

/// The result of walking the book for a size: how much could fill and at what cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthWalk {
    /// Size available up to the requested size.
    pub filled: Lots,
    /// Sum of `lots · ticks` over the levels used (for the average price).
    pub notional_ticks: u128,
    /// Worst (last) price touched.
    pub worst_price: Option<Ticks>,
}

impl DepthWalk {
    /// Average price of the walk in fractional ticks (`None` when nothing filled).
    pub fn average_ticks(&self) -> Option<rust_decimal::Decimal> {
        // The average is at most the worst price (a u64), so the ratio always fits.
        (!self.filled.is_zero())
            .then(|| ratio(self.notional_ticks, u128::from(self.filled.0)))
            .flatten()
    }
}

/// L2 book of one market. Bids are stored ascending and asks descending, so the best level of
/// each side is the last element.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBook {
    bids: Vec<Level>,
    asks: Vec<Level>,
    updated_at: Option<Timestamp>,
}

impl OrderBook {
    /// An empty book that has never been updated.
    pub fn new() -> OrderBook {
        OrderBook::default()
    }

    /// Replace the whole book from a snapshot. Levels may come in any order; zero-size levels are
    /// dropped and a price listed twice keeps its last size.
    pub fn replace(&mut self, bids: &[Level], asks: &[Level], now: Timestamp) {
        fill_side(&mut self.bids, bids, |a, b| a.cmp(&b));
        fill_side(&mut self.asks, asks, |a, b| b.cmp(&a));
        self.updated_at = Some(now);
    }

    /// Set the size at one price (`lots == 0` removes the level).
    pub fn apply_delta(&mut self, side: Side, price: Ticks, lots: Lots, now: Timestamp) {
        let levels = match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        // Index of the first level that is better than `price` (everything from there is better).
        let idx = better_from(levels, side, price);
        // Walking back one more step tells whether the level exists.
        if idx > 0 && levels[idx - 1].price == price {
            if lots.is_zero() {
                levels.remove(idx - 1);
            } else {
                levels[idx - 1].lots = lots;
            }
        } else if !lots.is_zero() {
            levels.insert(idx, Level { price, lots });
        }
        self.updated_at = Some(now);
    }

    /// Clear both sides (e.g. when the stream disconnects and the book can no longer be trusted).
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.updated_at = None;
    }

    /// Best bid.
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.last().copied()
    }

    /// Best ask.
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.last().copied()
    }

    /// Best level on a side.
    pub fn best(&self, side: Side) -> Option<Level> {
        match side {
            Side::Buy => self.best_bid(),
            Side::Sell => self.best_ask(),
        }
    }

    /// Bids, best first.
    pub fn bids(&self) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator {
        self.bids.iter().rev()
    }

    /// Asks, best first.
    pub fn asks(&self) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator {
        self.asks.iter().rev()
    }

    /// Levels of one side, best first.
    pub fn levels(
        &self,
        side: Side,
    ) -> impl ExactSizeIterator<Item = &Level> + DoubleEndedIterator {
        match side {
            Side::Buy => self.bids.iter().rev(),
            Side::Sell => self.asks.iter().rev(),
        }
    }

    /// Size resting at exactly `price` on `side` (zero when there is no such level).
    pub fn lots_at(&self, side: Side, price: Ticks) -> Lots {
        let levels = match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        };
        // The level, if any, sits just before the first better one; a walk from the best would
        // cross the whole side for a price that has no level.
        let idx = better_from(levels, side, price);
        match idx.checked_sub(1).and_then(|i| levels.get(i)) {
            Some(l) if l.price == price => l.lots,
            _ => Lots::ZERO,
        }
    }

    /// Twice the mid price in ticks (exact; the mid itself may fall between two ticks). `None`
    /// when a side is empty, or when the sum does not fit `u64` (prices above 2^63 ticks, which
    /// no real book has; callers then treat the book as unusable).
    pub fn mid_x2(&self) -> Option<u64> {
        self.best_bid()?
            .price
            .0
            .checked_add(self.best_ask()?.price.0)
    }

    /// Mid price in fractional ticks.
    pub fn mid_ticks(&self) -> Option<rust_decimal::Decimal> {
        self.mid_x2()
            .map(|m| rust_decimal::Decimal::from(m) / rust_decimal::Decimal::TWO)
    }

    /// Best ask minus best bid, in ticks (negative when crossed). Saturates at the ends of `i64`
    /// (prices beyond 2^63 ticks), keeping the sign.
    pub fn spread_ticks(&self) -> Option<i64> {
        let (b, a) = (self.best_bid()?.price.0, self.best_ask()?.price.0);
        let spread = i128::from(a) - i128::from(b);
        Some(i64::try_from(spread).unwrap_or(if spread < 0 { i64::MIN } else { i64::MAX }))
    }

    /// True when the best bid is at or above the best ask — a book that cannot be real and should
    /// not be traded on.
    pub fn is_crossed(&self) -> bool {
        matches!((self.best_bid(), self.best_ask()), (Some(b), Some(a)) if b.price >= a.price)
    }

    /// Walk the side a taker of `taker_side` would consume, up to `lots`: what could fill, the
    /// notional and the worst price touched. Optionally stop at a limit price.
    pub fn walk(&self, taker_side: Side, lots: Lots, limit: Option<Ticks>) -> DepthWalk {
        let mut walk = DepthWalk {
            filled: Lots::ZERO,
            notional_ticks: 0,
            worst_price: None,
        };
        let book_side = taker_side.opposite();
        for level in self.levels(book_side) {
            let acceptable = match (taker_side, limit) {
                (_, None) => true,
                (Side::Buy, Some(l)) => level.price <= l,
                (Side::Sell, Some(l)) => level.price >= l,
            };
            let want = lots.0 - walk.filled.0;
            if want == 0 || !acceptable {
                break;
            }
            let take = want.min(level.lots.0);
            walk.filled = Lots(walk.filled.0 + take);
            walk.notional_ticks += u128::from(take) * u128::from(level.price.0);
            walk.worst_price = Some(level.price);
        }
        walk
    }

    /// When the book last changed.
    pub fn updated_at(&self) -> Option<Timestamp> {
        self.updated_at
    }

    /// Time since the last update, in nanoseconds; `None` if the book was never filled.
    pub fn age_nanos(&self, now: Timestamp) -> Option<u64> {
        self.updated_at.map(|t| now.0.saturating_sub(t.0))
    }

    /// Number of levels on each side (bids, asks).
    pub fn depth(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// True when neither side has a level.
    pub fn is_empty(&self) -> bool {
        self.bids.is_empty() && self.asks.is_empty()
    }
}

/// Index of the first level of `levels` (sorted worst → best, best last) that is strictly better
/// than `price` for `side`: everything from there to the end is better, everything before is not.
///
/// Prices are distinct integers, so at most `|best − price|` levels can be better than `price`:
/// the answer lies in the last `|best − price| + 1` slots. Updates cluster near the top of the
/// book, so that window is small (a few levels) and a binary search in it takes a handful of
/// steps, where a walk from the back would compare every level on the way.
#[inline]
fn better_from(levels: &[Level], side: Side, price: Ticks) -> usize {
    // One search per side, so the comparison is fixed inside the loop.
    match side {
        Side::Buy => better_from_side::<true>(levels, price.0),
        Side::Sell => better_from_side::<false>(levels, price.0),
    }
}

#[inline(always)]
fn better_from_side<const BID: bool>(levels: &[Level], price: u64) -> usize {
    let Some(best) = levels.last() else {
        return 0;
    };
    let distance = if BID {
        best.price.0.checked_sub(price)
    } else {
        price.checked_sub(best.price.0)
    };
    // `price` is better than the best level: nothing is better than it.
    let Some(distance) = distance else {
        return levels.len();
    };
    let window = usize::try_from(distance)
        .map_or(levels.len(), |d| d.saturating_add(1))
        .min(levels.len());
    let lo = levels.len() - window;
    lo + levels[lo..].partition_point(|l| {
        if BID {
            l.price.0 <= price
        } else {
            l.price.0 >= price
        }
    })
}

/// Refill one side from unsorted input, reusing its allocation. `order` sorts worst → best.
fn fill_side(
    dst: &mut Vec<Level>,
    src: &[Level],
    order: impl Fn(Ticks, Ticks) -> std::cmp::Ordering,
) {
    dst.clear();
    // A snapshot listed best first (as venues send it) or worst first, with no empty level and
    // no price twice, is already in order: copy it. This is what the general path below would
    // produce for it, without the sort.
    if src.iter().all(|l| !l.lots.is_zero()) {
        let before = |a: &Level, b: &Level| order(a.price, b.price).is_lt();
        if src.windows(2).all(|w| before(&w[1], &w[0])) {
            dst.extend(src.iter().rev());
            return;
        }
        if src.windows(2).all(|w| before(&w[0], &w[1])) {
            dst.extend_from_slice(src);
            return;
        }
    }
    dst.extend(src.iter().filter(|l| !l.lots.is_zero()));
    // Stable sort keeps input order within a price, so dedup below keeps the last one listed.
    dst.sort_by(|a, b| order(a.price, b.price));
    dedup_keep_last(dst);
}

fn dedup_keep_last(levels: &mut Vec<Level>) {
    let mut write = 0usize;
    for read in 0..levels.len() {
        if write > 0 && levels[write - 1].price == levels[read].price {
            levels[write - 1] = levels[read];
        } else {
            levels[write] = levels[read];
            write += 1;
        }
    }
    levels.truncate(write);
}

#[cfg(test)]
mod tests;
