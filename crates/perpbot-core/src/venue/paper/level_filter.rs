//! Which book levels may hold one of our resting orders, so that a book change elsewhere skips
//! the scan of the orders.
//!
//! The paper exchange asks "does an order of ours rest at this level?" on every book delta, and
//! almost always the answer is no (SBS-3: one delta in twenty). Scanning the orders to learn
//! that costs a loop whose length changes with every request, and its exit is mispredicted. A
//! 64-bit mask per side, one bit per bucket of `(market, price)`, answers "no" for most deltas
//! with one well-predicted branch; a set bit only means "scan" (two levels can share a bucket).
//! Counts per bucket let a bit be cleared when its last order goes. Written by hand: a bloom
//! crate would hash with more work than the one multiplication this needs, and none keeps
//! counts for removal in 512 bytes.

use perpbot_model::{MarketId, Side, Ticks};

const BUCKETS: usize = 64;

/// Resting orders counted per side and bucket of `(market, price)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct LevelFilter {
    counts: [[u32; BUCKETS]; 2],
    mask: [u64; 2],
}

impl Default for LevelFilter {
    fn default() -> Self {
        LevelFilter {
            counts: [[0; BUCKETS]; 2],
            mask: [0; 2],
        }
    }
}

// Indexing below cannot go out of range: `side_index` is 0 or 1 and `bucket` is below
// `BUCKETS`, whatever the input.
fn side_index(side: Side) -> usize {
    match side {
        Side::Buy => 0,
        Side::Sell => 1,
    }
}

/// The bucket of a level: neighbouring prices of one market fall in different buckets (a maker
/// quotes at and near the touch, where most deltas land too), and markets are spread by a
/// multiplicative hash so that two markets' quotes at equal tick counts rarely share one.
fn bucket(market: MarketId, price: Ticks) -> usize {
    (market
        .0
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(price.0)
        % BUCKETS as u64) as usize
}

impl LevelFilter {
    /// One more order at the level.
    pub fn add(&mut self, market: MarketId, side: Side, price: Ticks) {
        let (s, b) = (side_index(side), bucket(market, price));
        let c = &mut self.counts[s][b];
        *c = c.saturating_add(1);
        self.mask[s] |= 1 << b;
    }

    /// One order fewer at the level (one that [`LevelFilter::add`] counted).
    pub fn sub(&mut self, market: MarketId, side: Side, price: Ticks) {
        let (s, b) = (side_index(side), bucket(market, price));
        let c = &mut self.counts[s][b];
        *c = c.saturating_sub(1);
        if *c == 0 {
            self.mask[s] &= !(1 << b);
        }
    }

    /// False when no order rests at the level; true when one may.
    #[inline]
    pub fn may_hold(&self, market: MarketId, side: Side, price: Ticks) -> bool {
        self.mask[side_index(side)] & (1 << bucket(market, price)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_level_is_held_while_any_order_rests_there() {
        let (m, p) = (MarketId(7), Ticks(1_000));
        let mut f = LevelFilter::default();
        assert!(!f.may_hold(m, Side::Buy, p));
        f.add(m, Side::Buy, p);
        f.add(m, Side::Buy, p);
        assert!(f.may_hold(m, Side::Buy, p));
        assert!(!f.may_hold(m, Side::Sell, p), "the other side is apart");
        assert!(
            !f.may_hold(m, Side::Buy, Ticks(1_001)),
            "a neighbour is apart"
        );
        f.sub(m, Side::Buy, p);
        assert!(f.may_hold(m, Side::Buy, p), "one order is still there");
        f.sub(m, Side::Buy, p);
        assert!(!f.may_hold(m, Side::Buy, p));
        assert_eq!(f, LevelFilter::default());
    }
}
