//! What the unit tests of several modules share: a seeded generator and a second market grid.

use perpbot_model::{BookUpdate, BookUpdateKind, Event, Level, MarketId, MarketSpec, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A seeded generator (`rand_chacha`'s ChaCha8): each call gives a number below its argument
/// (which must not be 0). The same seed gives the same sequence, so a failing case can be
/// replayed.
pub(crate) fn below(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    move |n| rng.random_range(0..n)
}

/// A BTC-like grid (8 base and 6 quote decimals, lot 0.001, tick 0.1) beside Kana's APT one,
/// for tests that sum across markets of different grids.
pub(crate) fn btc_like(id: MarketId) -> MarketSpec {
    MarketSpec {
        id,
        name: "OTHER".into(),
        base_decimals: 8,
        quote_decimals: 6,
        lot_size: 100_000,
        tick_size: 100,
        ..MarketSpec::kana_apt_testnet()
    }
}

/// A one-level snapshot at a seeded bid between 1,000 and 5,999 ticks and an ask 1–3 ticks above
/// it (so the mid falls on half ticks too), at 1 s.
pub(crate) fn seeded_top_of_book(market: MarketId, next: &mut impl FnMut(u64) -> u64) -> Event {
    let bid = 1_000 + next(5_000);
    let ask = bid + 1 + next(3);
    top_of_book(market, bid, ask, Timestamp::from_secs(1))
}

/// A book snapshot of one level a side (10,000 lots each).
pub(crate) fn top_of_book(market: MarketId, bid: u64, ask: u64, ts: Timestamp) -> Event {
    Event::Book(BookUpdate {
        market,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(bid, 10_000)],
        asks: vec![Level::new(ask, 10_000)],
        ts,
    })
}
