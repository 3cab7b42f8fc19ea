//! Decoding with frames built exactly per `docs/design/kyan-wire.md` (and the \[S\] shapes).

use std::sync::Arc;

use rust_decimal_macros::dec;
use serde_json::{Value, json};

use perpbot_model::*;

use super::*;

const TAKER_ORDER: &str = "0000000000000000000000000000000a";
const MAKER_ORDER: &str = "0000000000000000000000000000000b";

pub(crate) fn btc() -> MarketEntry {
    MarketEntry::new(MarketId(1), "BTC_USDC-PERPETUAL", dec!(1), dec!(0.0001)).unwrap()
}

pub(crate) fn decoder() -> KyanDecoder {
    let eth = MarketEntry::new(MarketId(2), "ETH_USDC-PERPETUAL", dec!(0.1), dec!(0.001)).unwrap();
    KyanDecoder::new(
        vec![btc(), eth],
        FeeFields::Amount,
        Arc::new(SharedState::default()),
    )
}

fn trade(
    trade_id: &str,
    order_id: &str,
    dir: &str,
    size: Value,
    price: Value,
    maker_fee: Value,
    taker_fee: Value,
) -> Value {
    json!({"margin_account_id":"6c1e0f5e-0000-4000-8000-000000000001",
        "smart_account_address":"0x1111111111111111111111111111111111111111",
        "trade_id":trade_id,"order_id":order_id,"size":size,"timestamp":1_700_000_000_000u64,
        "direction":dir,"index_price":65000.0,"instrument_name":"BTC_USDC-PERPETUAL",
        "average_price":price,"limit_price":price,"liquidation":false,"taker_fee":taker_fee,
        "maker_fee":maker_fee,"systemic_risk_fee":0.01,"liquidation_fee":0,"realised_funding":0})
}

fn fills(events: &[Event]) -> Vec<&Fill> {
    events.iter().filter_map(Event::as_fill).collect()
}

const T0: Timestamp = Timestamp(0);

#[test]
fn a_maker_fill_opens_then_a_taker_fill_closes_with_exact_pnl_and_fees() {
    let mut d = decoder();
    let t = trade(
        "000000000000000000000000000000f1",
        MAKER_ORDER,
        "buy",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0),
    );
    let ev = d.private_event("trade", "trade", &t, T0).unwrap();
    let f = fills(&ev);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].direction, Direction::Open);
    assert_eq!(f[0].side, Side::Buy);
    assert_eq!(f[0].lots, Lots(100));
    assert_eq!(f[0].price, Ticks(65_000));
    // No fee and trade_id != order_id: maker. The systemic-risk fee is still charged.
    assert_eq!(f[0].liquidity, Liquidity::Maker);
    assert_eq!(f[0].fee, dec!(0.01));
    assert_eq!(f[0].venue_id, Some(VenueOrderId(0xb)));
    assert_eq!(f[0].ts, Timestamp::from_millis(1_700_000_000_000));
    // The smart account is learned from the record.
    assert_eq!(
        d.shared().smart_account().as_deref(),
        Some("0x1111111111111111111111111111111111111111")
    );

    // Sell 0.004 as taker at 65500.5 (off the $1 grid as an average): Close, PnL exact.
    let t = trade(
        TAKER_ORDER,
        TAKER_ORDER,
        "sell",
        json!(0.004),
        json!(65500.5),
        json!(0),
        json!(0.2),
    );
    let f = d.private_event("trade", "trade", &t, T0).unwrap();
    let f = fills(&f);
    assert_eq!(f[0].direction, Direction::Close);
    assert_eq!(f[0].liquidity, Liquidity::Taker);
    assert_eq!(f[0].realized_pnl, dec!(2.002)); // (65500.5 − 65000) × 0.004
    assert_eq!(f[0].fee, dec!(0.21));
    assert_eq!(f[0].price, Ticks(65_500));
    assert_eq!(d.net(MarketId(1)).lots, 60);
    assert_eq!(d.stats().channel("trade").inexact, 1);
}

#[test]
fn a_fill_through_zero_splits_into_close_and_open_with_distinct_ids() {
    let mut d = decoder();
    let open = trade(
        "000000000000000000000000000000f1",
        MAKER_ORDER,
        "buy",
        json!(0.01),
        json!(60000),
        json!(0),
        json!(0),
    );
    d.private_event("trade", "trade", &open, T0).unwrap();
    // Sell 0.03 at 61000: close 0.01 (+10 USDC), open a 0.02 short.
    let cross = trade(
        "000000000000000000000000000000f2",
        "000000000000000000000000000000c1",
        "sell",
        json!(0.03),
        json!(61000),
        json!(0.3),
        json!(0),
    );
    let ev = d.private_event("trade", "trade", &cross, T0).unwrap();
    let f = fills(&ev);
    assert_eq!(f.len(), 2);
    assert_eq!(
        (f[0].direction, f[0].lots, f[0].realized_pnl),
        (Direction::Close, Lots(100), dec!(10))
    );
    assert_eq!(
        (f[1].direction, f[1].lots, f[1].realized_pnl),
        (Direction::Open, Lots(200), dec!(0))
    );
    assert_ne!(f[0].trade_id, f[1].trade_id);
    assert_eq!(f[0].fee + f[1].fee, dec!(0.31));
    assert_eq!(f[0].liquidity, Liquidity::Maker);
    assert_eq!(
        d.net(MarketId(1)),
        NetPosition {
            lots: -200,
            entry: dec!(61000)
        }
    );
}

#[test]
fn maker_and_taker_records_of_one_match_are_two_fills_and_a_repeat_is_dropped() {
    let mut d = decoder();
    let tid = "000000000000000000000000000000f1";
    let maker = trade(
        tid,
        MAKER_ORDER,
        "buy",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0),
    );
    let taker = trade(
        tid,
        tid,
        "sell",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0.5),
    );
    let a = d.private_event("trade", "trade", &maker, T0).unwrap();
    let b = d.private_event("trade", "trade", &taker, T0).unwrap();
    assert_ne!(fills(&a)[0].trade_id, fills(&b)[0].trade_id);
    assert!(
        d.private_event("trade", "trade", &maker, T0)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        d.stats()
            .channel("trade")
            .skipped
            .get(&SkipReason::RepeatFill),
        Some(&1)
    );
}

#[test]
fn fees_read_as_rates_when_configured() {
    let mut d = decoder();
    d.fee_fields = FeeFields::Rate;
    let t = trade(
        TAKER_ORDER,
        TAKER_ORDER,
        "buy",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0.0008),
    );
    let ev = d.private_event("trade", "trade", &t, T0).unwrap();
    // (0.0008 + 0.01 systemic) × 650 notional
    assert_eq!(fills(&ev)[0].fee, dec!(7.02));
}

#[test]
fn a_malformed_frame_is_an_error_naming_channel_and_field_and_is_counted() {
    let mut d = decoder();
    let mut t = trade(
        TAKER_ORDER,
        TAKER_ORDER,
        "buy",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0),
    );
    t["size"] = json!("lots");
    let e = d.private_event("trade", "trade", &t, T0).unwrap_err();
    assert_eq!((e.channel.as_str(), e.field.as_str()), ("trade", "size"));
    assert_eq!(d.stats().channel("trade").errors, 1);
    // The same fill, repaired, is still decoded (the broken one was not remembered).
    t["size"] = json!(0.01);
    let ev = d.private_event("trade", "trade", &t, T0).unwrap();
    assert_eq!(fills(&ev).len(), 1);
    // The position as the fill leaves it comes with it (Kyan pushes positions once a second).
    let Some(Event::Position(p)) = ev.last() else {
        panic!("{ev:?}")
    };
    assert!(!p.snapshot);
    assert_eq!(
        (
            p.positions[0].side,
            p.positions[0].lots,
            p.positions[1].lots
        ),
        (PositionSide::Long, Lots(100), Lots::ZERO)
    );
    assert_eq!(p.positions[0].entry_price, dec!(65000));
}

#[test]
fn a_position_snapshot_becomes_hedge_positions_and_seeds_the_tracker() {
    let mut d = decoder();
    let rest = json!({"margin_accounts":[{"id":"a","pair_id":"BTC_USDC","deposits":1000,"withdrawals":0,
        "realised_pnl":0,"accrued_funding":0,"liquidation":false,
        "smart_account_address":"0x2222222222222222222222222222222222222222",
        "positions":[{"id":"p","instrument":"BTC_USDC-PERPETUAL","instrument_type":"perp","size":-0.025,"average_price":64000,"entry_fees":0.1}]}]});
    let ev = d.positions("positions", &rest, true, T0).unwrap();
    let Event::Position(PositionUpdate {
        positions,
        snapshot,
    }) = &ev[0]
    else {
        panic!("{ev:?}")
    };
    assert!(*snapshot);
    let btc_short = positions
        .iter()
        .find(|p| p.market == MarketId(1) && p.side == PositionSide::Short)
        .unwrap();
    assert_eq!(
        (btc_short.lots, btc_short.entry_price),
        (Lots(250), dec!(64000))
    );
    let btc_long = positions
        .iter()
        .find(|p| p.market == MarketId(1) && p.side == PositionSide::Long)
        .unwrap();
    assert!(btc_long.lots.is_zero());
    // ETH is not listed: flat on both sides.
    assert_eq!(
        positions
            .iter()
            .filter(|p| p.market == MarketId(2) && p.lots.is_zero())
            .count(),
        2
    );
    assert_eq!(
        d.net(MarketId(1)),
        NetPosition {
            lots: -250,
            entry: dec!(64000)
        }
    );

    // The WS `position` event for BTC: now long 0.01.
    let ws = json!({"margin_account":"a","market":"BTC","positions":[{"id":"p","margin_account_id":"a",
        "instrument_name":"BTC_USDC-PERPETUAL","size":0.01,"average_price":65000,"entry_fee":0,
        "instrument_type":"perp","mark_price":65010,"current_funding_rate":0.0001,"position_greeks":{"delta":0.01}}]});
    let ev = d.private_event("position", "position", &ws, T0).unwrap();
    let Event::Position(u) = &ev[0] else { panic!() };
    assert!(!u.snapshot);
    assert_eq!(u.positions.len(), 2);
    assert_eq!(u.positions[0].side, PositionSide::Long);
    assert_eq!(u.positions[0].lots, Lots(100));
    // One push that disagrees may race a fill still on its way: the tracker waits…
    assert_eq!(d.net(MarketId(1)).lots, -250);
    // …and follows when the next push says the same.
    d.private_event("position", "position", &ws, T0).unwrap();
    assert_eq!(d.net(MarketId(1)).lots, 100);
}

#[test]
fn a_position_push_ahead_of_its_trade_does_not_count_the_fill_twice() {
    let mut d = decoder();
    let ws = |size: f64| json!({"margin_account":"a","market":"BTC","positions":[{"instrument_name":"BTC_USDC-PERPETUAL","size":size,"average_price":65000,"instrument_type":"perp"}]});
    // The push already includes a buy of 0.01 whose trade event comes after it.
    d.private_event("position", "position", &ws(0.01), T0)
        .unwrap();
    let t = trade(
        "000000000000000000000000000000f1",
        MAKER_ORDER,
        "buy",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0),
    );
    let ev = d.private_event("trade", "trade", &t, T0).unwrap();
    assert_eq!(fills(&ev)[0].direction, Direction::Open);
    assert_eq!(d.net(MarketId(1)).lots, 100);
    d.private_event("position", "position", &ws(0.01), T0)
        .unwrap();
    assert_eq!(d.net(MarketId(1)).lots, 100);
}

#[test]
fn maker_order_snapshots_in_both_shapes_and_book_events() {
    let order = json!({"instrument_name":"BTC_USDC-PERPETUAL","type":"good_til_cancelled","order_id":MAKER_ORDER,
        "order_state":"open","price":64000,"direction":"sell","post_only":true,"maker":"0xab","taker":null,
        "mmp":false,"liquidation":false,"creation_timestamp":1_700_000_000u64,"chain_id":421614,
        "contracts":0.01,"filled_contracts":0.004,"amount":640,"filled_amount":256});
    let mut d = decoder();
    for data in [
        json!({"maker":"0xab","orders":[order.clone()]}),
        json!([order.clone()]),
    ] {
        let ev = d
            .private_event("ob_maker_orders", "orderbook_maker", &data, T0)
            .unwrap();
        let Event::OpenOrders(s) = &ev[0] else {
            panic!()
        };
        assert_eq!(s.market, None);
        let o = &s.orders[0];
        assert_eq!(
            (o.side, o.price, o.total, o.remaining),
            (Side::Sell, Ticks(64_000), Lots(100), Lots(60))
        );
        assert_eq!(o.venue_id, VenueOrderId(0xb));
        assert_eq!(o.updated_at, Timestamp::from_secs(1_700_000_000));
    }
    let ev = d
        .private_event("post_order", "orderbook_maker", &json!([order.clone()]), T0)
        .unwrap();
    assert!(matches!(
        &ev[0],
        Event::Order(OrderUpdate {
            kind: OrderUpdateKind::Accepted,
            ..
        })
    ));
    let mut cancelled = order.clone();
    cancelled["order_state"] = json!("cancelled");
    cancelled["mmp"] = json!(true);
    let ev = d
        .private_event("cancel_order", "orderbook_maker", &json!([cancelled]), T0)
        .unwrap();
    assert!(matches!(
        &ev[0],
        Event::Order(OrderUpdate {
            kind: OrderUpdateKind::Cancelled,
            ..
        })
    ));
    // A partial fill's update adds nothing to the fills: counted as skipped.
    let ev = d
        .private_event("update_order", "orderbook_maker", &json!([order]), T0)
        .unwrap();
    assert!(ev.is_empty());
    assert_eq!(
        d.stats()
            .channel("orderbook_maker")
            .skipped
            .get(&SkipReason::StatusWithoutEvent),
        Some(&1)
    );
}

#[test]
fn account_state_sums_pair_accounts_into_one_balance() {
    let mut d = decoder();
    let btc = json!({"pair":"BTC_USDC","timestamp":1,"margin_account":1,"im":100,"mm":80,"matrix_risk":0,
        "delta_risk":0,"roll_risk":0,"unrealised_pnl":0,"equity":1000.5,"portfolio_greeks":{"delta":0},
        "liquidation":false,"collateral":1000,"positions":[]});
    d.private_event("account_state", "account_state", &btc, T0)
        .unwrap();
    let eth = json!({"margin_accounts":[{"pair":"ETH_USDC","margin_account":2,"im":"50","equity":"200"}]});
    let ev = d.account_state("account_state", &eth, T0).unwrap();
    assert_eq!(
        ev,
        vec![Event::Balance(Balance {
            available: dec!(1050.5),
            total: dec!(1200.5),
            ts: T0
        })]
    );
}

#[test]
fn mmp_and_liquidation_raise_alerts_and_freeze_the_pair() {
    let mut d = decoder();
    let now = Timestamp::from_millis(1_700_000_000_000);
    let ev = d
        .private_event(
            "mmp_triggered",
            "mmp",
            &json!({"smart_account_address":"0x1","pair_symbol":"BTC_USDC",
        "frozen_until":1_700_000_030_000u64,"frozen_duration_seconds":30}),
            now,
        )
        .unwrap();
    assert!(matches!(
        &ev[0],
        Event::Alert(Alert {
            kind: AlertKind::MarketMakerProtection,
            ..
        })
    ));
    assert_eq!(
        d.shared().frozen_until("BTC_USDC", 1_700_000_000_000),
        Some(1_700_000_030_000)
    );
    assert_eq!(d.shared().frozen_until("BTC_USDC", 1_700_000_030_000), None);
    let ev = d.private_event("bankruptcy", "bankruptcy", &json!({"smart_account_address":"0x1","pair":"BTC_USDC","margin_account":1,"timestamp":1}), now).unwrap();
    assert!(matches!(
        &ev[0],
        Event::Alert(Alert {
            kind: AlertKind::Liquidation,
            ..
        })
    ));
    // Channels without an event are counted with a reason.
    assert!(
        d.private_event("deposit", "transfer", &json!({}), now)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        d.stats()
            .channel("transfer")
            .skipped
            .get(&SkipReason::ChannelWithoutEvent),
        Some(&1)
    );
}

#[test]
fn public_l2_converts_notional_to_lots_rounding_down_and_counts_inexact() {
    let mut d = decoder();
    let data = json!({"timestamp":1_700_000_000_000u64,"bids":[["65000","650","1"],["64999","651","2"],["64998","3","1"]],"asks":[["65001","6500.1","1"]]});
    let ev = d.public("l2:perps:BTC_USDC-PERPETUAL", &data, T0).unwrap();
    let Event::Book(b) = &ev[0] else { panic!() };
    assert_eq!(b.kind, BookUpdateKind::Snapshot);
    assert_eq!(
        b.bids,
        vec![Level::new(65_000, 100), Level::new(64_999, 100)]
    );
    assert_eq!(b.asks, vec![Level::new(65_001, 1000)]);
    let s = d.stats().channel("l2:perps");
    assert_eq!(s.inexact, 2); // $651 at 64999 and $3 at 64998
    assert_eq!(s.skipped.get(&SkipReason::LevelBelowOneLot), Some(&1));

    let ev = d
        .public(
            "l2:bbo:BTC_USDC-PERPETUAL",
            &json!([1_700_000_000_000u64, "65000", "650", "", ""]),
            T0,
        )
        .unwrap();
    assert_eq!(
        ev,
        vec![Event::BestPrice(BestPrice {
            market: MarketId(1),
            bid: Some(Ticks(65_000)),
            ask: None,
            ts: Timestamp::from_millis(1_700_000_000_000)
        })]
    );
    let ev = d
        .public(
            "trades_perp:BTC_USDC-PERPETUAL",
            &json!(["65000", "-0.002", 1_700_000_000_000u64]),
            T0,
        )
        .unwrap();
    let Event::Trade(t) = &ev[0] else { panic!() };
    assert_eq!((t.lots, t.aggressor), (Lots(20), Some(Side::Sell)));
    let ev = d.public("market:funding:current:BTC_USDC-PERPETUAL", &json!({"instrument_name":"BTC_USDC-PERPETUAL","period":"1h","rate_yearly":"0.876","rate_hourly":"0.0001","timestamp_ms":1}), T0).unwrap();
    assert!(matches!(&ev[0], Event::Funding(FundingRate { rate, .. }) if *rate == dec!(0.0001)));
    assert!(
        d.public(
            "market:index_price:BTC_USDC",
            &json!({"pair":"BTC_USDC","value":"65001.5","timestamp_ms":1}),
            T0
        )
        .unwrap()
        .is_empty()
    );
    assert_eq!(d.shared().index("BTC_USDC"), Some(dec!(65001.5)));
}

#[test]
fn history_read_back_over_rest_restores_lost_fills_once_and_only_this_sessions() {
    let mut d = decoder();
    let at = |mut t: Value, ms: u64| {
        t["timestamp"] = json!(ms);
        t
    };
    // Seen on the WebSocket already.
    let seen = at(
        trade(
            "000000000000000000000000000000f1",
            MAKER_ORDER,
            "buy",
            json!(0.01),
            json!(65000),
            json!(0),
            json!(0),
        ),
        1_700_000_001_000,
    );
    assert_eq!(
        fills(&d.private_event("trade", "trade", &seen, T0).unwrap()).len(),
        1
    );
    // Lost on the WebSocket: two newer fills, listed newest first as the endpoint answers.
    let lost_1 = at(
        trade(
            "000000000000000000000000000000f2",
            MAKER_ORDER,
            "buy",
            json!(0.02),
            json!(64990),
            json!(0),
            json!(0),
        ),
        1_700_000_002_000,
    );
    let lost_2 = at(
        trade(
            "000000000000000000000000000000f3",
            MAKER_ORDER,
            "sell",
            json!(0.005),
            json!(65010),
            json!(0),
            json!(0),
        ),
        1_700_000_003_000,
    );
    // From before the session, a transfer, and a broken record.
    let old = at(
        trade(
            "000000000000000000000000000000f0",
            MAKER_ORDER,
            "buy",
            json!(1),
            json!(1),
            json!(0),
            json!(0),
        ),
        1_699_999_999_000,
    );
    let mut transfer = lost_1.clone();
    transfer["event_type"] = json!("transfer");
    let mut broken = lost_1.clone();
    broken["trade_id"] = json!("nope");
    broken["timestamp"] = json!(1_700_000_002_500u64);
    let page = json!({"data": [lost_2, broken, transfer, lost_1, seen, old], "has_more": false});
    let since = Timestamp::from_millis(1_700_000_000_000);
    let ev = d.history_trades("resync:history", &page, since);
    let f = fills(&ev);
    // Oldest first, each once; the one already seen is a repeat.
    assert_eq!(f.len(), 2, "{ev:?}");
    assert_eq!(
        (f[0].side, f[0].lots, f[0].direction),
        (Side::Buy, Lots(200), Direction::Open)
    );
    assert_eq!(
        (f[1].side, f[1].lots, f[1].direction),
        (Side::Sell, Lots(50), Direction::Close)
    );
    assert_eq!(d.net(MarketId(1)).lots, 100 + 200 - 50);
    let skipped = &d.stats().channel("resync:history").skipped;
    assert_eq!(skipped.get(&SkipReason::RepeatFill), Some(&1));
    assert_eq!(skipped.get(&SkipReason::BeforeSession), Some(&1));
    assert_eq!(skipped.get(&SkipReason::HistoryRecord), Some(&2));
    // Read again (the next resync): nothing new.
    assert!(fills(&d.history_trades("resync:history", &page, since)).is_empty());
    // A bare array and timestamps in seconds ([S]) read the same way.
    let mut d = decoder();
    let mut secs = trade(
        "000000000000000000000000000000f4",
        MAKER_ORDER,
        "buy",
        json!(0.01),
        json!(65000),
        json!(0),
        json!(0),
    );
    secs["timestamp"] = json!(1_700_000_005u64);
    assert_eq!(
        fills(&d.history_trades("h", &json!([secs]), since)).len(),
        1
    );
}
