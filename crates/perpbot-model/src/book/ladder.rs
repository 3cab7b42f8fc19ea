//! One side of an [`OrderBook`](super::OrderBook): a dense, tick-indexed window around the best
//! price with a bitset of occupied ticks, and a sorted overflow for the levels below the window.
//!
//! Prices are handled as **ranks**, where a higher rank is always a better price: the price
//! itself for bids, its bitwise complement (`u64::MAX − price`) for asks. One layout then serves
//! both sides.
//!
//! * The window holds the sizes of the ranks `base .. base + WINDOW`, one `u64` per tick
//!   (0 = no level), and a bitset of the occupied slots. An update inside it is an indexed write
//!   and a bit flip; the best level is the highest set bit, kept in `best` and found again with
//!   `leading_zeros` over a few words when the best level is removed. This is what makes updates
//!   near the top of the book — nearly all real traffic — cost a few nanoseconds whatever the
//!   depth (hftbacktest's `ROIVectorMarketDepth` does the same over a fixed price range; here the
//!   range follows the market and nothing outside it is lost).
//! * Levels worse than the window (rank < `base`) live in `overflow`, sorted by ascending rank
//!   (best last), updated by binary search as the old sorted-vector book did. No level is ever
//!   better than the window: an insert above it re-centres the window first.
//! * Invariant: the window holds a level whenever the side has one (when its last level goes, the
//!   window re-centres onto the best of the overflow), and `best` is its highest occupied slot.
//! * The window re-centres so the best level sits at 3/4 of it: room for a quarter of a window of
//!   improvement and three quarters of depth below. It also re-centres when the best drifts into
//!   the bottom eighth, so activity near the top keeps to the fast path. Re-centring moves levels
//!   between the window and the overflow: O(levels moved), and rare (the best must drift by tens
//!   of ticks).
//!
//! The window is allocated on the first level that enters it, so an empty book costs nothing.

use super::Level;
use crate::units::{Lots, Ticks};

/// Ticks in the dense window.
pub(super) const WINDOW: usize = 256;
const WORDS: usize = WINDOW / 64;
/// Where the best level is put when the window re-centres.
const ANCHOR: u64 = (WINDOW as u64 * 3) / 4;
/// Below this slot the best level has drifted too far down: re-centre.
const LOW_WATER: usize = WINDOW / 8;

/// One side of a book. `BID` selects the rank mapping.
#[derive(Clone, Default)]
pub(super) struct Ladder<const BID: bool> {
    /// Rank of slot 0.
    base: u64,
    /// Size at rank `base + i`; empty until a level first enters the window.
    slots: Vec<u64>,
    /// Bit `i` is set when `slots[i]` is not zero.
    occupied: [u64; WORDS],
    /// The highest occupied slot.
    best: Option<usize>,
    /// Levels in the window.
    in_window: usize,
    /// Levels worse than the window, ascending rank (best last).
    overflow: Vec<Level>,
}

/// A price's rank on a side: higher is better.
#[inline(always)]
fn rank<const BID: bool>(price: u64) -> u64 {
    if BID { price } else { !price }
}

impl<const BID: bool> Ladder<BID> {
    /// Number of levels.
    #[inline]
    pub(super) fn len(&self) -> usize {
        self.in_window + self.overflow.len()
    }

    /// The best level.
    #[inline]
    pub(super) fn best(&self) -> Option<Level> {
        match self.best {
            Some(i) => Some(self.level_at(i)),
            None => self.overflow.last().copied(),
        }
    }

    #[inline(always)]
    fn level_at(&self, slot: usize) -> Level {
        Level {
            price: Ticks(rank::<BID>(self.base + slot as u64)),
            lots: Lots(self.slots.get(slot).copied().unwrap_or(0)),
        }
    }

    /// Remove every level (keeps the window's memory).
    pub(super) fn clear(&mut self) {
        if self.in_window > 0 {
            for w in 0..WORDS {
                let mut word = self.occupied[w];
                while word != 0 {
                    let bit = word.trailing_zeros() as usize;
                    word &= word - 1;
                    if let Some(s) = self.slots.get_mut(w * 64 + bit) {
                        *s = 0;
                    }
                }
            }
        }
        self.occupied = [0; WORDS];
        self.best = None;
        self.in_window = 0;
        self.overflow.clear();
    }

    /// Size at exactly `price` (zero when there is no level).
    pub(super) fn lots_at(&self, price: u64) -> u64 {
        let r = rank::<BID>(price);
        match r.checked_sub(self.base) {
            Some(off) if off < WINDOW as u64 => self.slots.get(off as usize).copied().unwrap_or(0),
            Some(_) => 0,
            None => {
                let i = self.overflow_index(r);
                match self.overflow.get(i) {
                    Some(l) if l.price.0 == price => l.lots.0,
                    _ => 0,
                }
            }
        }
    }

    /// Set the size at `price`; zero removes the level.
    #[inline]
    pub(super) fn set(&mut self, price: u64, lots: u64) {
        let r = rank::<BID>(price);
        if self.len() == 0 {
            if lots == 0 {
                return;
            }
            self.recentre(r);
        }
        match r.checked_sub(self.base) {
            Some(off) if off < WINDOW as u64 => self.set_slot(off as usize, lots),
            // Above the window: no level can be there, so a removal has nothing to do.
            Some(_) => {
                if lots != 0 {
                    self.recentre(r);
                    if let Some(off) = r.checked_sub(self.base) {
                        self.set_slot(off as usize, lots);
                    }
                }
            }
            None => self.set_overflow(r, price, lots),
        }
    }

    #[inline]
    fn set_slot(&mut self, slot: usize, lots: u64) {
        let Some(cell) = self.slots.get_mut(slot) else {
            return;
        };
        let old = std::mem::replace(cell, lots);
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        match (old == 0, lots == 0) {
            (true, false) => {
                self.occupied[word] |= bit;
                self.in_window += 1;
                if self.best.is_none_or(|b| slot > b) {
                    self.best = Some(slot);
                }
            }
            (false, true) => {
                self.occupied[word] &= !bit;
                self.in_window -= 1;
                if self.best == Some(slot) {
                    self.best = self.highest_below(slot);
                    match self.best {
                        None if !self.overflow.is_empty() => {
                            let next = self.overflow.last().map(|l| rank::<BID>(l.price.0));
                            if let Some(r) = next {
                                self.recentre(r);
                            }
                        }
                        Some(b) if b < LOW_WATER => self.recentre(self.base + b as u64),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }

    /// Index in `overflow` of the first level whose rank is not below `r`.
    #[inline]
    fn overflow_index(&self, r: u64) -> usize {
        self.overflow
            .partition_point(|l| rank::<BID>(l.price.0) < r)
    }

    fn set_overflow(&mut self, r: u64, price: u64, lots: u64) {
        let i = self.overflow_index(r);
        let exists = self.overflow.get(i).is_some_and(|l| l.price.0 == price);
        match (exists, lots == 0) {
            (true, true) => {
                self.overflow.remove(i);
            }
            (true, false) => {
                if let Some(l) = self.overflow.get_mut(i) {
                    l.lots = Lots(lots);
                }
            }
            (false, false) => self.overflow.insert(i, Level::new(price, lots)),
            (false, true) => {}
        }
    }

    /// Move the window so rank `r` sits at [`ANCHOR`], shifting levels between the window and the
    /// overflow so that every level stays exactly once, in order.
    fn recentre(&mut self, r: u64) {
        // The window's top slot must not pass the largest rank.
        let new_base = r.saturating_sub(ANCHOR).min(u64::MAX - (WINDOW as u64 - 1));
        if self.slots.is_empty() {
            self.slots = vec![0; WINDOW];
        }
        // The window's levels, worst first; they are all better than the overflow's.
        let mut moved: Vec<Level> = Vec::with_capacity(self.in_window);
        for w in 0..WORDS {
            let mut word = self.occupied[w];
            while word != 0 {
                let bit = word.trailing_zeros() as usize;
                word &= word - 1;
                let slot = w * 64 + bit;
                moved.push(self.level_at(slot));
                if let Some(s) = self.slots.get_mut(slot) {
                    *s = 0;
                }
            }
        }
        self.occupied = [0; WORDS];
        self.best = None;
        self.in_window = 0;
        self.base = new_base;
        // Levels of the old window now below the new one join the overflow's top, in order.
        let mut keep = Vec::with_capacity(moved.len());
        for l in moved {
            if rank::<BID>(l.price.0) < new_base {
                self.overflow.push(l);
            } else {
                keep.push(l);
            }
        }
        // Overflow levels the new window now covers come back (they sit at its end).
        while let Some(l) = self.overflow.last().copied() {
            let lr = rank::<BID>(l.price.0);
            if lr < new_base || lr - new_base >= WINDOW as u64 {
                break;
            }
            self.overflow.pop();
            self.place_in_window(lr, l.lots.0);
        }
        for l in keep {
            let r = rank::<BID>(l.price.0);
            if !self.place_in_window(r, l.lots.0) {
                // Cannot happen (the new window covers every kept level), but a level is never
                // dropped: it goes where its rank says.
                self.set_overflow(r, l.price.0, l.lots.0);
            }
        }
    }

    /// Put a level into its window slot; false when its rank is outside the window.
    fn place_in_window(&mut self, r: u64, lots: u64) -> bool {
        let Some(off) = r.checked_sub(self.base).filter(|&o| o < WINDOW as u64) else {
            return false;
        };
        let slot = off as usize;
        let Some(cell) = self.slots.get_mut(slot) else {
            return false;
        };
        if *cell == 0 {
            self.occupied[slot / 64] |= 1 << (slot % 64);
            self.in_window += 1;
        }
        *cell = lots;
        if self.best.is_none_or(|b| slot > b) {
            self.best = Some(slot);
        }
        true
    }

    /// The highest occupied slot below `limit`.
    #[inline]
    fn highest_below(&self, limit: usize) -> Option<usize> {
        if limit == 0 {
            return None;
        }
        let last = limit - 1;
        let mut w = last / 64;
        let keep = last % 64;
        let mut word = self.occupied[w]
            & if keep == 63 {
                u64::MAX
            } else {
                (1u64 << (keep + 1)) - 1
            };
        loop {
            if word != 0 {
                return Some(w * 64 + 63 - word.leading_zeros() as usize);
            }
            if w == 0 {
                return None;
            }
            w -= 1;
            word = self.occupied[w];
        }
    }

    /// The lowest occupied slot at or above `start`.
    #[inline]
    fn lowest_from(&self, start: usize) -> Option<usize> {
        if start >= WINDOW {
            return None;
        }
        let mut w = start / 64;
        let mut word = self.occupied[w] & (u64::MAX << (start % 64));
        loop {
            if word != 0 {
                return Some(w * 64 + word.trailing_zeros() as usize);
            }
            w += 1;
            if w == WORDS {
                return None;
            }
            word = self.occupied[w];
        }
    }

    /// The levels, best first.
    pub(super) fn iter(&self) -> Levels<'_, BID> {
        Levels {
            ladder: self,
            front_slot: WINDOW,
            front_over: self.overflow.len(),
            back_over: 0,
            back_slot: 0,
            remaining: self.len(),
        }
    }
}

/// The levels of one side, best first (and worst first from the back).
#[derive(Clone)]
pub struct Levels<'a, const BID: bool> {
    ladder: &'a Ladder<BID>,
    /// Window slots below this are still to come from the front.
    front_slot: usize,
    /// Overflow indices below this are still to come from the front (after the window).
    front_over: usize,
    /// Overflow indices from this on are still to come from the back.
    back_over: usize,
    /// Window slots from this on are still to come from the back (after the overflow).
    back_slot: usize,
    /// Levels not yet yielded from either end; the two ends never cross because of it.
    remaining: usize,
}

impl<const BID: bool> Iterator for Levels<'_, BID> {
    type Item = Level;

    #[inline]
    fn next(&mut self) -> Option<Level> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if let Some(slot) = self.ladder.highest_below(self.front_slot) {
            self.front_slot = slot;
            return Some(self.ladder.level_at(slot));
        }
        self.front_slot = 0;
        self.front_over = self.front_over.checked_sub(1)?;
        self.ladder.overflow.get(self.front_over).copied()
    }

    #[inline]
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<const BID: bool> DoubleEndedIterator for Levels<'_, BID> {
    #[inline]
    fn next_back(&mut self) -> Option<Level> {
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        if let Some(l) = self.ladder.overflow.get(self.back_over) {
            self.back_over += 1;
            return Some(*l);
        }
        let slot = self.ladder.lowest_from(self.back_slot)?;
        self.back_slot = slot + 1;
        Some(self.ladder.level_at(slot))
    }
}

impl<const BID: bool> ExactSizeIterator for Levels<'_, BID> {}
