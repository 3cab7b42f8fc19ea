use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::{FillRow, Markouts, MidTrack, Series};
use perpbot_model::{MarketId, MarketSpec, Side, Timestamp};

const A: MarketId = MarketId(1);
const B: MarketId = MarketId(2);

fn secs(s: u64) -> Timestamp {
    Timestamp(s * 1_000_000_000)
}

fn fill(at: u64, market: MarketId, side: Side, price: Decimal, size: Decimal) -> FillRow {
    FillRow {
        ts: secs(at),
        market,
        side,
        price,
        size,
    }
}

/// Market A's mid is 100 from 0 s, 101 from 5 s, 99 from 30 s, seen until 100 s; market B's is
/// 50 from 2 s, seen until 12 s.
fn series(fills: Vec<FillRow>) -> Series {
    let mut s = Series::new(
        vec![MarketSpec::kana_apt_testnet()],
        Duration::from_secs(60),
    );
    let track = |changes: Vec<(u64, Decimal)>, until| MidTrack {
        changes: changes.into_iter().map(|(t, m)| (secs(t), m)).collect(),
        seen_until: secs(until),
    };
    s.mids.insert(
        A,
        track(vec![(0, dec!(100)), (5, dec!(101)), (30, dec!(99))], 100),
    );
    s.mids.insert(B, track(vec![(2, dec!(50))], 12));
    s.fills = fills;
    s
}

/// (fills, pnl) at 1 s, 10 s and 60 s.
fn markouts(s: &Series) -> Vec<(u64, u64, Decimal)> {
    Markouts::of(s)
        .0
        .into_iter()
        .map(|m| (m.horizon_s, m.fills, m.pnl))
        .collect()
}

#[test]
fn markouts_price_each_fill_at_the_mid_standing_each_horizon_later() {
    let s = series(vec![
        // Bought at 100.5 at 4 s: mids 101 (5 s), 101 (14 s), 99 (64 s).
        fill(4, A, Side::Buy, dec!(100.5), dec!(2)),
        // Sold at 50.5 at 1 s on B: mid 50 at 2 s and 11 s; past what B's data covers at 61 s.
        fill(1, B, Side::Sell, dec!(50.5), dec!(1)),
        // Sold at 101 at 29 s: mids 99 (30 s), 99 (39 s); 89 s is still covered (A to 100 s).
        fill(29, A, Side::Sell, dec!(101), dec!(1)),
        // Bought at 98 at 50 s: 99 at 51 s and 60 s; 110 s is past A's data.
        fill(50, A, Side::Buy, dec!(98), dec!(1)),
        // A market with no mids at all: never counted.
        fill(60, MarketId(9), Side::Buy, dec!(1), dec!(1)),
    ]);
    assert_eq!(
        markouts(&s),
        vec![
            // 1 + 0.5 + 2 + 1
            (1, 4, dec!(4.5)),
            // 1 + 0.5 + 2 + 1
            (10, 4, dec!(4.5)),
            // −3 + 2
            (60, 2, dec!(-1)),
        ]
    );
}

#[test]
fn a_fill_out_of_time_order_still_gets_the_mid_of_its_own_time() {
    // The second fill is earlier than the first: the forward-only reading would give it the
    // 99 standing at 31 s instead of the 100 standing at 3 s.
    let s = series(vec![
        fill(30, A, Side::Buy, dec!(99), dec!(1)),
        fill(2, A, Side::Buy, dec!(99), dec!(1)),
    ]);
    assert_eq!(markouts(&s)[0], (1, 2, dec!(1)));
}

#[test]
fn before_the_first_mid_the_first_one_seen_stands() {
    let s = series(vec![fill(0, B, Side::Buy, dec!(49), dec!(1))]);
    assert_eq!(markouts(&s)[0], (1, 1, dec!(1)));
}

/// Books that move no mid only move the time the mids are known until; a markout due after
/// the last mid change but before the last book still counts.
#[test]
fn books_that_move_no_mid_still_extend_what_the_mids_cover() {
    use perpbot_core::state::State;
    use perpbot_model::{BookUpdate, BookUpdateKind, Event, Level};

    let spec = MarketSpec::kana_apt_testnet();
    let mut state = State::new(std::slice::from_ref(&spec));
    let mut s = Series::new(vec![spec.clone()], Duration::from_secs(60));
    let book = |bids: Vec<Level>, asks: Vec<Level>, at| {
        Event::Book(BookUpdate {
            market: spec.id,
            kind: BookUpdateKind::Snapshot,
            bids,
            asks,
            ts: secs(at),
        })
    };
    // Mid 5.0 (ticks 4,990 and 5,010 at 0.001) from 0 s.
    state.set_now(secs(0));
    assert!(state.apply(&book(
        vec![Level::new(4_990, 10)],
        vec![Level::new(5_010, 10)],
        0
    )));
    s.observe_book(spec.id, secs(0), &state);
    s.fills
        .push(fill(0, spec.id, Side::Buy, dec!(4.99), dec!(1)));
    // Sizes change for 20 s; the mid does not.
    for at in 1..=20 {
        state.set_now(secs(at));
        let size = 10 + at;
        assert!(state.apply(&book(
            vec![Level::new(4_990, size)],
            vec![Level::new(5_010, size)],
            at
        )));
        s.observe_book(spec.id, secs(at), &state);
    }
    // 1 s and 10 s are covered (books until 20 s), 60 s is not.
    let m = markouts(&s);
    assert_eq!(m[0], (1, 1, dec!(0.01)));
    assert_eq!(m[1], (10, 1, dec!(0.01)));
    assert_eq!(m[2], (60, 0, dec!(0)));
    // A book of another market flushes the time into the first market's track.
    s.observe_book(MarketId(77), secs(21), &state);
    assert_eq!(markouts(&s)[1], (10, 1, dec!(0.01)));
}
