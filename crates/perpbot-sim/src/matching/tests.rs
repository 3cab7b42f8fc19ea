//! Tests of the simulator's matching engine.

use crate::matching::*;
use crate::{Abort, CancelReason};
use perpbot_aptos::{AccountAddress, EconiaAbort, KanaAbort};
use perpbot_model::{
    Direction, Level, Lots, MAX_PRICE_TICKS, MarketSpec, OrderKind, PositionSide, Restriction,
    Side, Ticks, VenueOrderId,
};

const A: AccountAddress = AccountAddress::new([0xa; 32]);
const B: AccountAddress = AccountAddress::new([0xb; 32]);
const C: AccountAddress = AccountAddress::new([0xc; 32]);

fn book() -> MatchingBook {
    MatchingBook::new(MarketSpec::kana_apt_testnet(), MatchingConfig::default())
}

fn book_with(config: MatchingConfig) -> MatchingBook {
    MatchingBook::new(MarketSpec::kana_apt_testnet(), config)
}

fn sell(account: AccountAddress, lots: u64, price: u64) -> PlaceOrder {
    PlaceOrder::limit(account, Side::Sell, Lots(lots), Ticks(price))
}

fn buy(account: AccountAddress, lots: u64, price: u64) -> PlaceOrder {
    PlaceOrder::limit(account, Side::Buy, Lots(lots), Ticks(price))
}

fn market_buy(account: AccountAddress, lots: u64) -> PlaceOrder {
    PlaceOrder::market(account, Side::Buy, Lots(lots))
}

fn econia(e: EconiaAbort) -> Result<PlaceResult, Abort> {
    Err(Abort::Econia(e))
}

/// (maker account, price, lots) of each fill.
fn fills(r: &PlaceResult) -> Vec<(AccountAddress, u64, u64)> {
    r.fills
        .iter()
        .map(|m| (m.maker_account, m.price.0, m.lots.0))
        .collect()
}

/// Owners and sizes of a level's queue, front first.
fn queue(book: &MatchingBook, side: Side) -> Vec<(AccountAddress, u64)> {
    let mut v: Vec<&RestingOrder> = [A, B, C]
        .iter()
        .flat_map(|a| book.orders_of(*a))
        .filter(|o| o.side == side)
        .collect();
    v.sort_by_key(|o| (o.price, o.id));
    v.iter().map(|o| (o.account, o.lots.0)).collect()
}

#[test]
fn price_time_priority_between_two_makers_at_one_price() {
    let mut b = book();
    b.place(&sell(A, 1000, 5520)).unwrap();
    b.place(&sell(B, 1000, 5520)).unwrap();
    let r = b.place(&market_buy(C, 1500)).unwrap();
    assert_eq!(fills(&r), vec![(A, 5520, 1000), (B, 5520, 500)]);
    assert_eq!(b.best_ask(), Some(Level::new(5520, 500)));
    assert_eq!(queue(&b, Side::Sell), vec![(B, 500)]);
}

#[test]
fn better_price_fills_first_regardless_of_time() {
    let mut b = book();
    b.place(&sell(A, 1000, 5521)).unwrap();
    b.place(&sell(B, 1000, 5520)).unwrap();
    let r = b.place(&buy(C, 1500, 5521)).unwrap();
    assert_eq!(fills(&r), vec![(B, 5520, 1000), (A, 5521, 500)]);
    assert_eq!(r.rested, None);
    // Bids too: the higher bid fills first.
    b.place(&buy(A, 1000, 5500)).unwrap();
    b.place(&buy(B, 1000, 5510)).unwrap();
    let r = b
        .place(&PlaceOrder::market(C, Side::Sell, Lots(1200)))
        .unwrap();
    assert_eq!(fills(&r), vec![(B, 5510, 1000), (A, 5500, 200)]);
}

#[test]
fn partial_fill_keeps_the_makers_place_in_the_queue() {
    let mut b = book();
    b.place(&sell(A, 2000, 5520)).unwrap();
    b.place(&sell(B, 1000, 5520)).unwrap();
    let r = b.place(&market_buy(C, 500)).unwrap();
    assert_eq!(fills(&r), vec![(A, 5520, 500)]);
    assert_eq!(r.fills[0].maker_remaining, Lots(1500));
    assert_eq!(queue(&b, Side::Sell), vec![(A, 1500), (B, 1000)]);
    let r = b.place(&market_buy(C, 1600)).unwrap();
    assert_eq!(fills(&r), vec![(A, 5520, 1500), (B, 5520, 100)]);
    assert_eq!(r.fills[0].maker_remaining, Lots(0));
}

#[test]
fn no_restriction_rests_the_remainder_at_its_price() {
    let mut b = book();
    b.place(&sell(A, 1000, 5520)).unwrap();
    let r = b.place(&buy(C, 1500, 5525)).unwrap();
    assert_eq!(fills(&r), vec![(A, 5520, 1000)]);
    assert_eq!(r.rested, Some(Lots(500)));
    assert_eq!(b.best_bid(), Some(Level::new(5525, 500)));
    assert_eq!(b.best_ask(), None);
    let resting = b.order(r.order_id).unwrap();
    assert_eq!(
        (resting.lots, resting.original_lots),
        (Lots(500), Lots(1500))
    );
}

#[test]
fn fill_or_abort_fills_everything_or_aborts_without_a_trace() {
    let mut b = book();
    b.place(&sell(A, 1000, 5520)).unwrap();
    b.place(&sell(B, 1000, 5522)).unwrap();
    let before = b.depth(10);
    // Crosses, but only 1000 lots are within the limit: E_MIN_BASE_NOT_TRADED, nothing traded.
    let foa = |lots, price| buy(C, lots, price).with_restriction(Restriction::FillOrAbort);
    assert_eq!(
        b.place(&foa(1500, 5521)),
        econia(EconiaAbort::MinBaseNotTraded)
    );
    assert_eq!(b.depth(10), before);
    // Does not cross at all: E_FILL_OR_ABORT_NOT_CROSS_SPREAD.
    assert_eq!(
        b.place(&foa(500, 5519)),
        econia(EconiaAbort::FillOrAbortNotCrossSpread)
    );
    // Fully fillable: fills and never rests.
    let r = b.place(&foa(1500, 5522)).unwrap();
    assert_eq!(r.filled(), Lots(1500));
    assert_eq!(r.rested, None);
    assert_eq!(b.best_ask(), Some(Level::new(5522, 500)));
}

#[test]
fn post_only_aborts_when_it_would_cross_and_rests_otherwise() {
    let mut b = book();
    b.place(&sell(A, 1000, 5520)).unwrap();
    let post = |price| buy(C, 1000, price).with_restriction(Restriction::PostOnly);
    assert_eq!(
        b.place(&post(5520)),
        econia(EconiaAbort::PostOrAbortCrossesSpread)
    );
    assert_eq!(
        b.place(&post(5600)),
        econia(EconiaAbort::PostOrAbortCrossesSpread)
    );
    let r = b.place(&post(5519)).unwrap();
    assert!(r.fills.is_empty());
    assert_eq!(r.rested, Some(Lots(1000)));
    assert_eq!(b.best_bid(), Some(Level::new(5519, 1000)));
}

#[test]
fn market_order_walks_levels_and_insufficient_liquidity_aborts_with_1007() {
    let mut b = book();
    for (who, price) in [(A, 5520), (B, 5521), (A, 5523)] {
        b.place(&sell(who, 1000, price)).unwrap();
    }
    let before = b.depth(10);
    assert_eq!(
        b.place(&market_buy(C, 5000)),
        Err(Abort::Kana(KanaAbort::InsufficientLiquidityInOrderbook))
    );
    assert_eq!(
        b.depth(10),
        before,
        "a refused market order changes nothing"
    );
    let r = b.place(&market_buy(C, 2500)).unwrap();
    assert_eq!(
        fills(&r),
        vec![(A, 5520, 1000), (B, 5521, 1000), (A, 5523, 500)]
    );
    assert_eq!(r.rested, None);
    // A market order ignores price and restriction.
    let mut odd = market_buy(C, 500).with_restriction(Restriction::PostOnly);
    odd.price = Some(Ticks(1));
    assert_eq!(b.place(&odd).unwrap().filled(), Lots(500));
    // Empty side: 1007 as well.
    assert_eq!(
        b.place(&market_buy(C, 500)),
        Err(Abort::Kana(KanaAbort::InsufficientLiquidityInOrderbook))
    );
}

#[test]
fn market_order_can_fill_partially_when_configured() {
    let mut b = book_with(MatchingConfig {
        market_shortfall: MarketShortfall::FillPartial,
        ..MatchingConfig::default()
    });
    b.place(&sell(A, 1000, 5520)).unwrap();
    let r = b.place(&market_buy(C, 1500)).unwrap();
    assert_eq!(r.filled(), Lots(1000));
    assert_eq!(
        r.unfilled,
        Some((Lots(500), CancelReason::NotEnoughLiquidity))
    );
    assert_eq!(r.rested, None);
    assert!(b.is_empty());
}

#[test]
fn tick_and_lot_rejections_carry_econia_codes() {
    let mut b = book();
    assert_eq!(b.place(&buy(A, 1000, 0)), econia(EconiaAbort::Price0));
    assert_eq!(
        b.place(&buy(A, 1000, MAX_PRICE_TICKS + 1)),
        econia(EconiaAbort::PriceTooHigh)
    );
    assert!(b.place(&buy(A, 1000, MAX_PRICE_TICKS)).is_ok());
    assert_eq!(
        b.place(&buy(A, 499, 5000)),
        econia(EconiaAbort::SizeTooSmall)
    );
    assert_eq!(b.place(&buy(A, 0, 5000)), econia(EconiaAbort::SizeTooSmall));
    assert_eq!(
        b.place(&buy(A, 150_000_001, 5000)),
        econia(EconiaAbort::SizeBaseOverflow)
    );
    assert!(b.place(&buy(A, 500, 5000)).is_ok());
    let mut no_price = buy(A, 1000, 5000);
    no_price.price = None;
    assert_eq!(b.place(&no_price), econia(EconiaAbort::Price0));
    // Price checks come first, as in Econia.
    assert_eq!(b.place(&buy(A, 1, 0)), econia(EconiaAbort::Price0));
    // Restriction codes: 0, 1, 3 accepted; IOC (2) and unknown refused.
    assert_eq!(restriction_from_code(0), Ok(Restriction::None));
    assert_eq!(restriction_from_code(1), Ok(Restriction::FillOrAbort));
    assert_eq!(restriction_from_code(3), Ok(Restriction::PostOnly));
    for code in [2, 4, 255] {
        assert_eq!(
            restriction_from_code(code),
            Err(Abort::Econia(EconiaAbort::InvalidRestriction))
        );
    }
    assert_eq!(b.len(), 2);
}

#[test]
fn cancel_rules_own_other_unknown() {
    let mut b = book();
    let mine = b.place(&sell(A, 1000, 5520)).unwrap().order_id;
    assert_eq!(
        b.cancel(B, mine).unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidUser)
    );
    assert_eq!(
        b.cancel(A, VenueOrderId(mine.0 + (1 << 64))).unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidMarketOrderId)
    );
    assert_eq!(
        b.cancel(A, VenueOrderId(7)).unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidMarketOrderId)
    );
    let c = b.cancel(A, mine).unwrap();
    assert_eq!(
        (c.order.lots, c.reason),
        (Lots(1000), CancelReason::ManualCancel)
    );
    assert!(b.is_empty());
    assert_eq!(
        b.cancel(A, mine).unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidMarketOrderId)
    );
    // A filled order is gone as well.
    let id = b.place(&sell(A, 1000, 5520)).unwrap().order_id;
    b.place(&market_buy(C, 1000)).unwrap();
    assert_eq!(
        b.cancel(A, id).unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidMarketOrderId)
    );
}

#[test]
fn cancel_and_place_is_all_or_nothing() {
    let mut b = book();
    let a1 = b.place(&sell(A, 1000, 5520)).unwrap().order_id;
    let b1 = b.place(&sell(B, 1000, 5520)).unwrap().order_id;
    let a2 = b.place(&sell(A, 1000, 5520)).unwrap().order_id;
    let a3 = b.place(&buy(A, 1000, 5500)).unwrap().order_id;
    let before = (b.depth(10), queue(&b, Side::Sell), b.len());
    // Cancel two (one in the middle of nothing else, one at the back), place a good one and a
    // post-only that crosses: the whole batch aborts.
    let places = [
        buy(A, 1000, 5510),
        sell(A, 1000, 5500).with_restriction(Restriction::PostOnly),
    ];
    assert_eq!(
        b.cancel_and_place(A, &[a1, a3], &places).unwrap_err(),
        Abort::Econia(EconiaAbort::PostOrAbortCrossesSpread)
    );
    assert_eq!((b.depth(10), queue(&b, Side::Sell), b.len()), before);
    assert!(b.order(a1).is_some() && b.order(a3).is_some());
    // A failing cancel aborts too.
    assert_eq!(
        b.cancel_and_place(A, &[a2, b1], &[]).unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidUser)
    );
    assert_eq!(queue(&b, Side::Sell), vec![(A, 1000), (B, 1000), (A, 1000)]);
    // A place for another account is refused.
    assert_eq!(
        b.cancel_and_place(A, &[], &[sell(B, 1000, 5530)])
            .unwrap_err(),
        Abort::Econia(EconiaAbort::InvalidUser)
    );
    // The rolled-back batches consumed no order ids.
    let next = b.place(&buy(C, 500, 5000)).unwrap().order_id;
    assert_eq!(decode_order_id(next).0, decode_order_id(a3).0 + 1);
    // A good batch: requote the ask.
    let r = b
        .cancel_and_place(A, &[a1], &[sell(A, 2000, 5521)])
        .unwrap();
    assert_eq!(r.cancelled.len(), 1);
    assert_eq!(r.placed[0].rested, Some(Lots(2000)));
    assert_eq!(queue(&b, Side::Sell), vec![(B, 1000), (A, 1000), (A, 2000)]);
}

#[test]
fn rollback_restores_partially_filled_makers_and_queue_order() {
    let mut b = book();
    b.place(&sell(A, 1000, 5520)).unwrap();
    b.place(&sell(B, 1000, 5520)).unwrap();
    b.place(&sell(A, 1000, 5521)).unwrap();
    b.place(&sell(B, 700, 5522)).unwrap();
    let before = (b.depth(10), queue(&b, Side::Sell));
    // Fills three makers (one partially) and then runs out: 1007, everything restored.
    assert!(b.place(&market_buy(C, 5000)).is_err());
    assert_eq!((b.depth(10), queue(&b, Side::Sell)), before);
    // A partially filled front maker is restored too.
    let r = b
        .atomically(|book| {
            book.place(&market_buy(C, 500))?;
            Err::<(), _>(Abort::Kana(KanaAbort::Paused))
        })
        .unwrap_err();
    assert_eq!(r, Abort::Kana(KanaAbort::Paused));
    assert_eq!((b.depth(10), queue(&b, Side::Sell)), before);
}

#[test]
fn self_match_aborts_by_default_even_after_other_fills() {
    let mut b = book();
    b.place(&sell(B, 1000, 5520)).unwrap();
    b.place(&sell(A, 1000, 5520)).unwrap();
    let before = (b.depth(10), queue(&b, Side::Sell));
    // A's market buy fills B first, then reaches A's own ask: E_SELF_MATCH, nothing traded.
    assert_eq!(
        b.place(&market_buy(A, 1500)),
        econia(EconiaAbort::SelfMatch)
    );
    assert_eq!((b.depth(10), queue(&b, Side::Sell)), before);
    // Not reaching the own order is fine.
    assert_eq!(b.place(&market_buy(A, 800)).unwrap().filled(), Lots(800));
    // A limit that crosses its own order aborts (the own order is at the touch).
    assert_eq!(
        b.place(&buy(A, 1000, 5520).with_restriction(Restriction::None)),
        econia(EconiaAbort::SelfMatch)
    );
}

#[test]
fn self_match_cancel_maker_and_cancel_taker_when_configured() {
    let cfg = |self_match| MatchingConfig {
        self_match,
        ..MatchingConfig::default()
    };
    // Cancel-maker: A's own ask is cancelled and matching continues behind it.
    let mut b = book_with(cfg(SelfMatchBehavior::CancelMaker));
    let own = b.place(&sell(A, 1000, 5520)).unwrap().order_id;
    b.place(&sell(B, 1000, 5521)).unwrap();
    let r = b.place(&market_buy(A, 1000)).unwrap();
    assert_eq!(fills(&r), vec![(B, 5521, 1000)]);
    assert_eq!(r.cancelled.len(), 1);
    assert_eq!(r.cancelled[0].order.id, own);
    assert_eq!(r.cancelled[0].reason, CancelReason::SelfMatchMaker);
    assert!(b.is_empty());

    // Cancel-taker: the taker stops at its own order; the remainder neither trades nor rests.
    let mut b = book_with(cfg(SelfMatchBehavior::CancelTaker));
    b.place(&sell(B, 500, 5520)).unwrap();
    b.place(&sell(A, 1000, 5520)).unwrap();
    let r = b.place(&buy(A, 1500, 5525)).unwrap();
    assert_eq!(fills(&r), vec![(B, 5520, 500)]);
    assert_eq!(r.unfilled, Some((Lots(1000), CancelReason::SelfMatchTaker)));
    assert_eq!(r.rested, None);
    assert_eq!(b.best_ask(), Some(Level::new(5520, 1000)));

    // Cancel-both.
    let mut b = book_with(cfg(SelfMatchBehavior::CancelBoth));
    b.place(&sell(A, 1000, 5520)).unwrap();
    let r = b.place(&buy(A, 1500, 5525)).unwrap();
    assert_eq!(r.cancelled.len(), 1);
    assert_eq!(r.unfilled, Some((Lots(1500), CancelReason::SelfMatchTaker)));
    assert!(b.is_empty());
}

#[test]
fn order_ids_encode_counter_side_and_price() {
    let mut b = book();
    let r1 = b.place(&sell(A, 1000, 5520)).unwrap();
    let r2 = b.place(&buy(B, 1000, 5500)).unwrap();
    let r3 = b.place(&market_buy(C, 500)).unwrap();
    assert_eq!(
        decode_order_id(r1.order_id),
        (1, Some((Side::Sell, Ticks(5520))))
    );
    assert_eq!(
        decode_order_id(r2.order_id),
        (2, Some((Side::Buy, Ticks(5500))))
    );
    assert_eq!(decode_order_id(r3.order_id), (3, None));
    assert_eq!(r3.order_id, VenueOrderId(3u128 << 64));
    assert_eq!(r3.fills[0].taker_order_id, r3.order_id);
    assert_eq!(r3.fills[0].maker_order_id, r1.order_id);
    assert!(r1.order_id < r2.order_id && r2.order_id < r3.order_id);
    assert_eq!(
        encode_order_id(9, Some((Side::Sell, Ticks(7)))),
        VenueOrderId((9u128 << 64) | (1 << 32) | 7)
    );
}

#[test]
fn depth_best_prices_and_open_orders_per_account() {
    let mut b = book();
    b.place(&sell(A, 1000, 5522)).unwrap();
    b.place(&sell(B, 600, 5520)).unwrap();
    b.place(&sell(A, 500, 5520)).unwrap();
    b.place(&buy(A, 800, 5510)).unwrap();
    b.place(&buy(C, 900, 5505)).unwrap();
    let (bids, asks) = b.depth(10);
    assert_eq!(bids, vec![Level::new(5510, 800), Level::new(5505, 900)]);
    assert_eq!(asks, vec![Level::new(5520, 1100), Level::new(5522, 1000)]);
    assert_eq!(b.depth(1).1, vec![Level::new(5520, 1100)]);
    assert_eq!(b.mid_price(), Some(rust_decimal_macros::dec!(5.515)));
    let mine: Vec<(Side, u64, u64)> = b
        .orders_of(A)
        .map(|o| (o.side, o.price.0, o.lots.0))
        .collect();
    assert_eq!(
        mine,
        vec![
            (Side::Sell, 5522, 1000),
            (Side::Sell, 5520, 500),
            (Side::Buy, 5510, 800)
        ]
    );
    assert_eq!(b.orders_of(C).count(), 1);
    let walk = b.walk(Side::Buy, Lots(1500), None);
    assert_eq!(walk.filled, Lots(1500));
    assert_eq!(walk.worst_price, Some(Ticks(5522)));
    assert_eq!(walk.notional_ticks, 1100 * 5520 + 400 * 5522);
    assert_eq!(
        b.walk(Side::Buy, Lots(1500), Some(Ticks(5521))).filled,
        Lots(1100)
    );
}

#[test]
fn kana_flags_map_to_book_sides_and_positions() {
    assert_eq!(book_side(PositionSide::Long, Direction::Open), Side::Buy);
    assert_eq!(book_side(PositionSide::Long, Direction::Close), Side::Sell);
    assert_eq!(book_side(PositionSide::Short, Direction::Open), Side::Sell);
    assert_eq!(book_side(PositionSide::Short, Direction::Close), Side::Buy);
    let close_long = sell(A, 1000, 5520).with_direction(Direction::Close);
    assert_eq!(close_long.position_side(), PositionSide::Long);
    assert_eq!(close_long.kind, OrderKind::Limit);
}

#[test]
fn place_into_reuses_the_result_and_clears_it_on_abort() {
    let mut b = book();
    b.place(&sell(A, 1000, 5520)).unwrap();
    let mut out = PlaceResult::default();
    b.place_into(&market_buy(C, 500), &mut out).unwrap();
    assert_eq!(out.fills.len(), 1);
    assert!(b.place_into(&market_buy(C, 5000), &mut out).is_err());
    assert!(out.fills.is_empty());
    b.place_into(&buy(C, 500, 5000), &mut out).unwrap();
    assert!(out.fills.is_empty());
    assert_eq!(out.rested, Some(Lots(500)));
}
