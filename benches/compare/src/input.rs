//! The seeded input every contender sees: one LCG, one book snapshot, one stream of deltas (and,
//! for SBS-3, trades), exactly as issue 7 specifies.
//!
//! * LCG: `x = x·6364136223846793005 + 1442695040888963407` (wrapping `u64`), each draw is
//!   `x >> 33`; the seed is the initial `x` (the first draw already steps once).
//! * Grid: tick 0.1, lot 0.001; the generator's mid starts at tick 1,000,000.
//! * Snapshot: 500 levels a side, bids at `mid − 1 … mid − 500` drawn first, then asks at
//!   `mid + 1 … mid + 500`, each with `1 + r % 5000` lots.
//! * Per delta, in draw order: `r % 100 == 0` → the mid moves by `r % 3 − 1`; side `r % 2`
//!   (0 = bid); offset `1 + r % 50` ticks from the mid (below it for bids, above for asks);
//!   `r % 5 == 0` → size 0 (delete), else `1 + r % 5000` lots.
//! * SBS-3 (seed 7): per event `r % 10 == 0` → a trade (aggressor `r % 2`, 0 = buy lifting the
//!   ask at `mid + 1`, 1 = sell hitting the bid at `mid − 1`, size `1 + r % 5000` lots), else a
//!   delta as above; events are 100 µs apart.
//!
//! **One addition to the recipe, on purpose:** when the mid moves up by one tick the
//! ask resting at the new mid is deleted (and a bid at the new mid when it moves down), as an
//! exchange would publish when the level is traded through. The deletion is an extra delta that
//! takes no draw, so the random stream is unchanged. Without it the literal recipe leaves stale
//! levels on the wrong side of the moving mid and the book is crossed at 99 of the 100
//! checkpoints of SBS-1; hftbacktest's depths hide crossed levels by design (they move the
//! opposite best past the new one) while sorted books show them, so no correctness gate could
//! pass and the contenders would not be doing the same work. With the deletion the invariant
//! `bids < mid < asks` holds for every delta.

/// Price step in quote per coin (Binance-style BTCUSDT-like grid).
pub const TICK: f64 = 0.1;
/// Size step in coins.
pub const LOT: f64 = 0.001;
/// Where the generator's mid starts, in ticks.
pub const MID0: u64 = 1_000_000;
/// Levels per side in the snapshot.
pub const SNAPSHOT_LEVELS: u64 = 500;
/// Seed of SBS-1 and SBS-2.
pub const SEED_BOOK: u64 = 42;
/// Seed of SBS-3.
pub const SEED_BACKTEST: u64 = 7;
/// Time between SBS-3 events, in nanoseconds (100 µs).
pub const EVENT_SPACING_NS: i64 = 100_000;

/// The linear congruential generator.
#[derive(Debug, Clone)]
pub struct Lcg(u64);

impl Lcg {
    /// A generator whose state starts at `seed`.
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed)
    }

    /// Step once and return the top 31 bits.
    #[inline]
    pub fn draw(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
}

/// One level change: the new total size at a price (`lots == 0` deletes the level).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delta {
    /// True for the bid side.
    pub is_bid: bool,
    /// Price in ticks.
    pub price: u64,
    /// New size in lots.
    pub lots: u64,
}

/// One public trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trade {
    /// True when the aggressor bought (it lifts asks and can fill resting sells).
    pub buyer_aggressor: bool,
    /// Price in ticks.
    pub price: u64,
    /// Size in lots.
    pub lots: u64,
}

/// One SBS-3 market event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent {
    /// A book level changed.
    Delta(Delta),
    /// A trade printed.
    Trade(Trade),
}

/// The snapshot: bids best first, then asks best first, as `(price ticks, lots)`.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Bid levels, best (highest) first.
    pub bids: Vec<(u64, u64)>,
    /// Ask levels, best (lowest) first.
    pub asks: Vec<(u64, u64)>,
}

/// The stream generator: draws the snapshot on creation, then deltas (and trades) on demand.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: Lcg,
    mid: u64,
    /// The random delta drawn together with a mid move, emitted right after the move's deletion.
    pending: Option<Delta>,
}

impl Generator {
    /// A generator for `seed` and the snapshot it draws first.
    pub fn new(seed: u64) -> (Generator, Snapshot) {
        let mut rng = Lcg::new(seed);
        let mid = MID0;
        let bids = (1..=SNAPSHOT_LEVELS)
            .map(|i| (mid - i, 1 + rng.draw() % 5000))
            .collect();
        let asks = (1..=SNAPSHOT_LEVELS)
            .map(|i| (mid + i, 1 + rng.draw() % 5000))
            .collect();
        (
            Generator {
                rng,
                mid,
                pending: None,
            },
            Snapshot { bids, asks },
        )
    }

    /// The next delta.
    pub fn next_delta(&mut self) -> Delta {
        if let Some(d) = self.pending.take() {
            return d;
        }
        let r = &mut self.rng;
        let mut sweep = None;
        if r.draw().is_multiple_of(100) {
            match r.draw() % 3 {
                0 => {
                    self.mid -= 1;
                    sweep = Some(Delta {
                        is_bid: true,
                        price: self.mid,
                        lots: 0,
                    });
                }
                2 => {
                    self.mid += 1;
                    sweep = Some(Delta {
                        is_bid: false,
                        price: self.mid,
                        lots: 0,
                    });
                }
                _ => {}
            }
        }
        let is_bid = r.draw().is_multiple_of(2);
        let offset = 1 + r.draw() % 50;
        let lots = if r.draw().is_multiple_of(5) {
            0
        } else {
            1 + r.draw() % 5000
        };
        let price = if is_bid {
            self.mid - offset
        } else {
            self.mid + offset
        };
        let delta = Delta {
            is_bid,
            price,
            lots,
        };
        match sweep {
            Some(s) => {
                self.pending = Some(delta);
                s
            }
            None => delta,
        }
    }

    /// The next SBS-3 event (10 % trades at mid ± 1, the rest deltas).
    pub fn next_event(&mut self) -> MarketEvent {
        if let Some(d) = self.pending.take() {
            return MarketEvent::Delta(d);
        }
        if self.rng.draw().is_multiple_of(10) {
            let buyer_aggressor = self.rng.draw().is_multiple_of(2);
            let lots = 1 + self.rng.draw() % 5000;
            let price = if buyer_aggressor {
                self.mid + 1
            } else {
                self.mid - 1
            };
            MarketEvent::Trade(Trade {
                buyer_aggressor,
                price,
                lots,
            })
        } else {
            MarketEvent::Delta(self.next_delta())
        }
    }
}

/// The snapshot and the first `n` deltas of `seed`.
pub fn deltas(seed: u64, n: usize) -> (Snapshot, Vec<Delta>) {
    let (mut g, snap) = Generator::new(seed);
    let d = (0..n).map(|_| g.next_delta()).collect();
    (snap, d)
}

/// The snapshot and the first `n` SBS-3 events of `seed`.
pub fn events(seed: u64, n: usize) -> (Snapshot, Vec<MarketEvent>) {
    let (mut g, snap) = Generator::new(seed);
    let e = (0..n).map(|_| g.next_event()).collect();
    (snap, e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn lcg_first_draws_are_pinned() {
        let mut r = Lcg::new(42);
        let first: Vec<u64> = (0..5).map(|_| r.draw()).collect();
        assert_eq!(first, PINNED_SEED_42);
        let mut r = Lcg::new(7);
        assert_eq!(r.draw(), PINNED_SEED_7_FIRST);
    }

    // Computed independently (Python, arbitrary-precision integers masked to 64 bits).
    const PINNED_SEED_42: [u64; 5] = [PIN0, PIN1, PIN2, PIN3, PIN4];
    const PIN0: u64 = 1220265334;
    const PIN1: u64 = 484179026;
    const PIN2: u64 = 886563538;
    const PIN3: u64 = 1353769503;
    const PIN4: u64 = 1460606294;
    const PINNED_SEED_7_FIRST: u64 = 1059165278;

    #[test]
    fn snapshot_and_first_deltas_are_pinned() {
        let (mut g, snap) = Generator::new(42);
        assert_eq!(snap.bids.len(), 500);
        assert_eq!(snap.asks.len(), 500);
        assert_eq!(snap.bids[0].0, MID0 - 1);
        assert_eq!(snap.asks[0].0, MID0 + 1);
        assert_eq!(snap.bids[0].1, 1 + PIN0 % 5000);
        assert_eq!(snap.bids[1].1, 1 + PIN1 % 5000);
        let first: Vec<Delta> = (0..3).map(|_| g.next_delta()).collect();
        assert_eq!(first, PINNED_FIRST_DELTAS);
    }

    const PINNED_FIRST_DELTAS: [Delta; 3] = [
        Delta {
            is_bid: false,
            price: 1000038,
            lots: 3938,
        },
        Delta {
            is_bid: true,
            price: 999975,
            lots: 720,
        },
        Delta {
            is_bid: true,
            price: 999992,
            lots: 0,
        },
    ];

    #[test]
    fn the_book_never_crosses() {
        let (snap, deltas) = deltas(42, 200_000);
        let mut bids: BTreeMap<u64, u64> = snap.bids.iter().copied().collect();
        let mut asks: BTreeMap<u64, u64> = snap.asks.iter().copied().collect();
        for d in deltas {
            let side = if d.is_bid { &mut bids } else { &mut asks };
            if d.lots == 0 {
                side.remove(&d.price);
            } else {
                side.insert(d.price, d.lots);
            }
            let (b, a) = (bids.keys().next_back(), asks.keys().next());
            assert!(b < a, "crossed: bid {b:?} ask {a:?}");
        }
    }

    #[test]
    fn a_tenth_of_events_are_trades_at_mid_plus_or_minus_one() {
        let (_, ev) = events(7, 100_000);
        let trades = ev
            .iter()
            .filter(|e| matches!(e, MarketEvent::Trade(_)))
            .count();
        assert!((9_000..11_000).contains(&trades), "{trades} trades");
    }
}
