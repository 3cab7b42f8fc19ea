//! The L2 order book of one market, keyed by integer ticks.
//!
//! Each side is a [`ladder`]: the sizes of the ticks in a window around the best price, indexed
//! directly, with a bitset of occupied ticks, and the deeper levels in a sorted overflow. An
//! update near the top of the book (what dominates real traffic) is an indexed write and a bit
//! flip; the best level is kept, and found again from the bitset with a few `leading_zeros` when
//! it is removed. Levels come out as sorted iterators, best first. Replacing from a full snapshot
//! (what Kana sends) reuses the memory.
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

mod ladder;

use super::Timestamp;
use super::event::{BookUpdate, BookUpdateKind};
use super::order::Side;
use super::units::{Lots, Ticks, ratio};
use ladder::{Ladder, Levels};

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

/// L2 book of one market: each side a [`ladder`] — a dense tick-indexed window around the best
/// price with a bitset of occupied ticks, plus a sorted overflow for deeper levels — so an update
/// near the top is an indexed write and the best level is always one read away.
#[derive(Clone, Default)]
pub struct OrderBook {
    bids: Ladder<true>,
    asks: Ladder<false>,
    updated_at: Option<Timestamp>,
}

/// The levels of one side of an [`OrderBook`], best first; `.rev()` gives them worst first.
pub enum SideLevels<'a> {
    /// Bids.
    Bids(Levels<'a, true>),
    /// Asks.
    Asks(Levels<'a, false>),
}

impl Iterator for SideLevels<'_> {
    type Item = Level;

    #[inline]
    fn next(&mut self) -> Option<Level> {
        match self {
            SideLevels::Bids(l) => l.next(),
            SideLevels::Asks(l) => l.next(),
        }
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        match self {
            SideLevels::Bids(l) => l.size_hint(),
            SideLevels::Asks(l) => l.size_hint(),
        }
    }
}

impl DoubleEndedIterator for SideLevels<'_> {
    #[inline]
    fn next_back(&mut self) -> Option<Level> {
        match self {
            SideLevels::Bids(l) => l.next_back(),
            SideLevels::Asks(l) => l.next_back(),
        }
    }
}

impl ExactSizeIterator for SideLevels<'_> {}

impl PartialEq for OrderBook {
    /// Equal levels on both sides and the same update time (however the windows are placed).
    fn eq(&self, other: &OrderBook) -> bool {
        self.updated_at == other.updated_at
            && self.bids().eq(other.bids())
            && self.asks().eq(other.asks())
    }
}

impl Eq for OrderBook {}

impl std::fmt::Debug for OrderBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrderBook")
            .field("bids", &self.bids().collect::<Vec<_>>())
            .field("asks", &self.asks().collect::<Vec<_>>())
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

impl OrderBook {
    /// An empty book that has never been updated (allocates nothing until a level arrives).
    pub fn new() -> OrderBook {
        OrderBook::default()
    }

    /// Replace the whole book from a snapshot. Levels may come in any order; zero-size levels are
    /// dropped and a price listed twice keeps its last size.
    pub fn replace(&mut self, bids: &[Level], asks: &[Level], now: Timestamp) {
        self.bids.clear();
        self.asks.clear();
        // Zero-size levels are skipped (not applied as removals), so an earlier entry for the
        // same price survives them; a later non-zero entry overwrites an earlier one.
        for l in bids.iter().filter(|l| !l.lots.is_zero()) {
            self.bids.set(l.price.0, l.lots.0);
        }
        for l in asks.iter().filter(|l| !l.lots.is_zero()) {
            self.asks.set(l.price.0, l.lots.0);
        }
        self.updated_at = Some(now);
    }

    /// Apply a book update from a venue's stream: a snapshot replaces the book, a delta sets
    /// each level it lists (through [`BookUpdate::levels`], which picks a one-sided update's
    /// side once).
    #[inline]
    pub fn apply_update(&mut self, update: &BookUpdate) {
        match update.kind {
            BookUpdateKind::Snapshot => self.replace(&update.bids, &update.asks, update.ts),
            BookUpdateKind::Delta => {
                for (side, l) in update.levels() {
                    self.apply_delta(side, l.price, l.lots, update.ts);
                }
            }
        }
    }

    /// Set the size at one price (`lots == 0` removes the level).
    #[inline]
    pub fn apply_delta(&mut self, side: Side, price: Ticks, lots: Lots, now: Timestamp) {
        match side {
            Side::Buy => self.bids.set(price.0, lots.0),
            Side::Sell => self.asks.set(price.0, lots.0),
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
    #[inline]
    pub fn best_bid(&self) -> Option<Level> {
        self.bids.best()
    }

    /// Best ask.
    #[inline]
    pub fn best_ask(&self) -> Option<Level> {
        self.asks.best()
    }

    /// Best level on a side.
    pub fn best(&self, side: Side) -> Option<Level> {
        match side {
            Side::Buy => self.best_bid(),
            Side::Sell => self.best_ask(),
        }
    }

    /// Bids, best first.
    pub fn bids(&self) -> SideLevels<'_> {
        SideLevels::Bids(self.bids.iter())
    }

    /// Asks, best first.
    pub fn asks(&self) -> SideLevels<'_> {
        SideLevels::Asks(self.asks.iter())
    }

    /// Levels of one side, best first.
    pub fn levels(&self, side: Side) -> SideLevels<'_> {
        match side {
            Side::Buy => self.bids(),
            Side::Sell => self.asks(),
        }
    }

    /// Size resting at exactly `price` on `side` (zero when there is no such level).
    pub fn lots_at(&self, side: Side, price: Ticks) -> Lots {
        Lots(match side {
            Side::Buy => self.bids.lots_at(price.0),
            Side::Sell => self.asks.lots_at(price.0),
        })
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
        self.bids.len() == 0 && self.asks.len() == 0
    }
}

#[cfg(test)]
mod tests;
