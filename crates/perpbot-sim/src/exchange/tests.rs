//! Tests of the simulator's transaction layer: calls encoded the way the real client encodes
//! them (REST-style JSON arguments → ABI → BCS), executed by [`Exchange`].

use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::{Value, json};

use crate::abi::{DELEGATED_SCRIPTS, PERPETUAL_SCRIPTS, module_abi};
use crate::exchange::*;
use crate::{Abort, profile_address};
use perpbot_aptos::{
    AccountAddress, EconiaAbort, EntryFunction, KanaAbort, VmStatus, encode_entry_function,
};
use perpbot_model::{
    Direction, Liquidity, Lots, MarketId, MarketSpec, OrderKind, PositionSide, Ticks, Timestamp,
    VenueOrderId,
};

const APT: MarketId = MarketId(1338);
const T0: u64 = 1_747_382_400;

fn wallet(n: u8) -> AccountAddress {
    AccountAddress::new([n; 32])
}

fn profile(n: u8) -> AccountAddress {
    profile_address(&wallet(n))
}

fn kana(k: KanaAbort) -> TxError {
    TxError::Abort(Abort::Kana(k))
}

fn econia(e: EconiaAbort) -> TxError {
    TxError::Abort(Abort::Econia(e))
}

/// An exchange with the APT market and a clock.
struct Sim {
    ex: Exchange,
    secs: u64,
}

impl Sim {
    fn new() -> Sim {
        let mut ex = Exchange::new(ExchangeConfig::default());
        ex.add_market(MarketSpec::kana_apt_testnet());
        Sim { ex, secs: T0 }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_secs(self.secs)
    }

    fn encode(&self, module: &str, function: &str, args: Vec<Value>) -> EntryFunction {
        let abi = module_abi(self.ex.package(), module).unwrap();
        encode_entry_function(&abi, function, &[], &args).unwrap()
    }

    fn call(
        &mut self,
        sender: u8,
        module: &str,
        function: &str,
        args: Vec<Value>,
    ) -> Result<TxEffects, TxError> {
        self.secs += 1;
        let call = self.encode(module, function, args);
        self.ex.execute(wallet(sender), &call, self.now())
    }

    fn direct(
        &mut self,
        sender: u8,
        function: &str,
        args: Vec<Value>,
    ) -> Result<TxEffects, TxError> {
        self.call(sender, PERPETUAL_SCRIPTS, function, args)
    }

    fn deposit(&mut self, who: u8, usdt: u64) {
        let to = wallet(who).to_string();
        self.ex.mint_wallet(wallet(who), usdt * 1_000_000);
        self.direct(
            who,
            "deposit",
            vec![json!(to), json!((usdt * 1_000_000).to_string())],
        )
        .unwrap();
    }

    /// `place_limit_order` arguments (no TP/SL, restriction as given).
    fn limit_args(
        long: bool,
        close: bool,
        lots: u64,
        price: u64,
        lev: u64,
        restriction: u8,
    ) -> Vec<Value> {
        vec![
            json!(APT.0.to_string()),
            json!(long),
            json!(close),
            json!(lots.to_string()),
            json!(price.to_string()),
            json!(lev.to_string()),
            json!(restriction),
            json!("0"),
            json!("0"),
        ]
    }

    fn limit(
        &mut self,
        who: u8,
        long: bool,
        close: bool,
        lots: u64,
        price: u64,
        lev: u64,
    ) -> Result<TxEffects, TxError> {
        self.direct(
            who,
            "place_limit_order",
            Sim::limit_args(long, close, lots, price, lev, 0),
        )
    }

    fn market(
        &mut self,
        who: u8,
        long: bool,
        close: bool,
        lots: u64,
        lev: u64,
    ) -> Result<TxEffects, TxError> {
        self.direct(
            who,
            "place_market_order",
            vec![
                json!(APT.0.to_string()),
                json!(long),
                json!(close),
                json!(lots.to_string()),
                json!(lev.to_string()),
                json!("0"),
                json!("0"),
            ],
        )
    }

    fn available(&self, who: u8) -> Decimal {
        self.ex.ledger().available(profile(who))
    }

    /// Alice (1) long 1 APT at 5.5, 10x, from Bob's (2) resting short.
    fn alice_long_from_bob() -> Sim {
        let mut s = Sim::new();
        s.deposit(1, 1000);
        s.deposit(2, 1000);
        s.limit(2, false, false, 1000, 5500, 10).unwrap();
        s.market(1, true, false, 1000, 10).unwrap();
        s
    }
}

/// One batch order: (is_limit, long, close, lots, price, leverage).
type BatchOrder = (bool, bool, bool, u64, u64, u64);

/// Batch arguments for place_multiple_orders.
fn batch(orders: &[BatchOrder], restriction: u8) -> Vec<Value> {
    let col = |f: &dyn Fn(&BatchOrder) -> Value| -> Value {
        Value::Array(orders.iter().map(f).collect())
    };
    vec![
        col(&|o| json!(o.0)),
        col(&|o| json!(o.1)),
        col(&|o| json!(o.2)),
        col(&|o| json!(o.3.to_string())),
        col(&|o| json!(o.4.to_string())),
        col(&|o| json!(o.5.to_string())),
        json!(restriction),
        json!([]),
        json!([]),
    ]
}

/// The order ids of a commit's `PlaceOrderEvent`s, in order. (That the real Kana client reads
/// the same ids from these events is checked on the client's side, `venue::kana::sim_tests`.)
fn placed_event_ids(events: &[Value]) -> Vec<u128> {
    events
        .iter()
        .filter(|e| {
            e["type"]
                .as_str()
                .is_some_and(|t| t.ends_with("::PlaceOrderEvent"))
        })
        .filter_map(|e| e["data"]["order_id"].as_str()?.parse().ok())
        .collect()
}

#[test]
fn a_market_order_fills_a_resting_limit_order_with_positions_and_fees() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    s.deposit(2, 1000);
    assert_eq!(s.available(1), dec!(1000));
    // Bob rests a 1 APT short at 5.500, 10x: it reserves margin 0.55 (maker fee 0).
    let placed = s.limit(2, false, false, 1000, 5500, 10).unwrap();
    let [ask_id] = placed.placed[..] else {
        panic!("{placed:?}")
    };
    assert_eq!(s.available(2), dec!(1000) - dec!(0.55));
    let open = s.ex.open_orders(profile(2), Some(APT));
    assert_eq!(open.len(), 1);
    assert_eq!(
        (
            open[0].order_id,
            open[0].order_type,
            open[0].price,
            open[0].remaining_size,
            open[0].status
        ),
        (ask_id, 2, Some(Ticks(5500)), Lots(1000), OrderState::Open)
    );
    assert_eq!(s.ex.depth(APT, 5).unwrap().1[0].lots, Lots(1000));

    // Alice buys it at market: taker fee 5 bp of 5.5.
    let fx = s.market(1, true, false, 1000, 10).unwrap();
    assert_eq!(fx.fills.len(), 2);
    let (maker, taker) = (&fx.fills[0], &fx.fills[1]);
    assert_eq!(
        (maker.address, maker.liquidity, maker.fee),
        (profile(2), Liquidity::Maker, Decimal::ZERO)
    );
    assert_eq!(
        (taker.address, taker.liquidity, taker.fee),
        (profile(1), Liquidity::Taker, dec!(0.00275))
    );
    assert_eq!((maker.order_type, taker.order_type), (2, 1));
    assert_eq!(
        (maker.price, maker.size, maker.order_value),
        (dec!(5.5), Lots(1000), dec!(5.5))
    );
    assert_eq!(maker.order_id, ask_id);
    assert_eq!(taker.order_id, fx.placed[0]);
    assert_ne!(maker.trade_id, taker.trade_id);

    let long = s.ex.positions(profile(1));
    let short = s.ex.positions(profile(2));
    assert_eq!(long.len(), 1);
    assert_eq!(
        (
            long[0].trade_side,
            long[0].size,
            long[0].entry_price,
            long[0].margin,
            long[0].leverage
        ),
        (PositionSide::Long, Lots(1000), dec!(5.5), dec!(0.55), 10)
    );
    assert_eq!(long[0].value, dec!(5.5));
    assert_eq!(long[0].trade_id, Some(taker.trade_id));
    assert_eq!(
        (short[0].trade_side, short[0].size, short[0].margin),
        (PositionSide::Short, Lots(1000), dec!(0.55))
    );
    assert_eq!(s.available(1), dec!(1000) - dec!(0.55) - dec!(0.00275));
    assert_eq!(s.available(2), dec!(1000) - dec!(0.55));
    assert_eq!(s.ex.ledger().fees_collected(), dec!(0.00275));
    // The maker's order is filled in its history; nothing rests.
    assert!(s.ex.open_orders(profile(2), None).is_empty());
    let rec = s.ex.order(APT, ask_id).unwrap();
    assert_eq!(
        (rec.status, rec.filled_size, rec.remaining_size),
        (OrderState::Filled, Lots(1000), Lots::ZERO)
    );
    assert_eq!(s.ex.trades(profile(1)).count(), 1);
    assert_eq!(s.ex.market_trades(APT).count(), 2);
    let market_rec = s.ex.order(APT, fx.placed[0]).unwrap();
    assert_eq!(
        (market_rec.kind, market_rec.status),
        (OrderKind::Market, OrderState::Filled)
    );
    // Events: the market order, then the trade.
    let names: Vec<&str> = fx.events.iter().map(|e| e.name).collect();
    assert_eq!(names, ["MarketOrderEvent", "TradeEvent"]);
    assert!(fx.accounts.contains(&profile(1)) && fx.accounts.contains(&profile(2)));

    // Closing half realises PnL and is typed as a decrease (5).
    // Bob bids to close half his short (a close rests as a bid; it commits 500 lots, type 6).
    let close = s.limit(2, false, true, 500, 5600, 10).unwrap();
    assert_eq!(close.orders[0].order_type, 6);
    assert_eq!(
        s.limit(3, false, false, 500, 5700, 10).unwrap_err(),
        kana(KanaAbort::LossGreaterThanCollateral)
    );
    s.deposit(3, 100);
    s.limit(3, true, false, 500, 5600, 10).unwrap();
    let fx = s
        .direct(
            1,
            "place_market_order",
            vec![
                json!("1338"),
                json!(true),
                json!(true),
                json!("500"),
                json!("10"),
                json!("0"),
                json!("0"),
            ],
        )
        .unwrap();
    let alice = fx.fills.iter().find(|f| f.address == profile(1)).unwrap();
    assert_eq!(
        (alice.direction, alice.order_type, alice.pnl),
        (Direction::Close, 5, dec!(0.05))
    );
}

#[test]
fn place_multiple_is_atomic_and_one_bad_order_aborts_all() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    let before = (s.available(1), s.ex.depth(APT, 10));
    // Third order's leverage is above the market maximum (20): Kana 1006, nothing rests.
    let err = s
        .direct(1, "place_multiple_orders", {
            let mut a = vec![json!("1338")];
            a.extend(batch(
                &[
                    (true, true, false, 1000, 5000, 5),
                    (true, true, false, 1000, 4900, 5),
                    (true, true, false, 1000, 4800, 50),
                ],
                0,
            ));
            a
        })
        .unwrap_err();
    assert_eq!(err, kana(KanaAbort::InvalidLeverage));
    assert_eq!((s.available(1), s.ex.depth(APT, 10)), before);
    assert!(s.ex.open_orders(profile(1), None).is_empty());

    // The same batch without the bad order: both rest, ids in request order; the aborted
    // transaction consumed no order ids.
    let fx = s
        .direct(1, "place_multiple_orders", {
            let mut a = vec![json!("1338")];
            a.extend(batch(
                &[
                    (true, true, false, 1000, 5000, 5),
                    (true, true, false, 1000, 4900, 5),
                ],
                0,
            ));
            a
        })
        .unwrap();
    assert_eq!(fx.placed.len(), 2);
    assert_eq!(fx.placed[0].0 >> 64, 1, "first order id counter is 1");
    let open: Vec<VenueOrderId> =
        s.ex.open_orders(profile(1), None)
            .iter()
            .map(|o| o.order_id)
            .collect();
    assert_eq!(open, fx.placed);
    assert_eq!(s.available(1), dec!(1000) - dec!(1) - dec!(0.98));
}

#[test]
fn cancel_and_place_is_atomic() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    s.deposit(2, 1000);
    let bid = s.limit(1, true, false, 1000, 5000, 5).unwrap().placed[0];
    s.limit(2, false, false, 1000, 5500, 5).unwrap();
    let before = (
        s.available(1),
        s.ex.depth(APT, 10),
        s.ex.open_orders(profile(1), None),
    );
    let cancel_and_place = |orders: &[BatchOrder], restriction: u8| {
        let mut a = vec![json!("1338"), json!([bid.0.to_string()]), json!([true])];
        a.extend(batch(orders, restriction));
        a
    };
    // Requote: the new bid 5100 is fine, the post-only 5600 would cross Bob's ask → Econia 13.
    let err = s
        .direct(
            1,
            "cancel_and_place_multiple_orders",
            cancel_and_place(
                &[
                    (true, true, false, 1000, 5100, 5),
                    (true, true, false, 1000, 5600, 5),
                ],
                3,
            ),
        )
        .unwrap_err();
    assert_eq!(err, econia(EconiaAbort::PostOrAbortCrossesSpread));
    assert_eq!(
        err.vm_status(s.ex.package()),
        Abort::Econia(EconiaAbort::PostOrAbortCrossesSpread).vm_status()
    );
    assert_eq!(
        (
            s.available(1),
            s.ex.depth(APT, 10),
            s.ex.open_orders(profile(1), None)
        ),
        before
    );

    // Without the crossing order the requote goes through in one transaction.
    let fx = s
        .direct(
            1,
            "cancel_and_place_multiple_orders",
            cancel_and_place(&[(true, true, false, 1000, 5100, 5)], 3),
        )
        .unwrap();
    assert_eq!(fx.cancelled.len(), 1);
    assert_eq!(fx.cancelled[0].order_id, bid);
    let names: Vec<&str> = fx.events.iter().map(|e| e.name).collect();
    assert_eq!(names, ["CancelOrderEvent", "PlaceOrderEvent"]);
    let open = s.ex.open_orders(profile(1), None);
    assert_eq!((open.len(), open[0].price), (1, Some(Ticks(5100))));
    assert_eq!(s.ex.order(APT, bid).unwrap().status, OrderState::Cancelled);
    // The client's rule reads exactly the placed limit order's id (not the cancel's).
    let events = fx.events_json(s.ex.package());
    assert_eq!(placed_event_ids(&events), [fx.placed[0].0]);
}

#[test]
fn cancel_by_id_checks_trade_side_and_owner() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    s.deposit(2, 1000);
    let id = s.limit(1, false, false, 1000, 6000, 4).unwrap().placed[0];
    assert_eq!(s.available(1), dec!(1000) - dec!(1.5));
    let cancel = |id: VenueOrderId, side: bool| {
        vec![json!("1338"), json!([id.0.to_string()]), json!([side])]
    };
    // A short-side order named as long: not found (22).
    assert_eq!(
        s.direct(1, "cancel_multiple_orders", cancel(id, true))
            .unwrap_err(),
        econia(EconiaAbort::InvalidMarketOrderId)
    );
    // Someone else's order (24).
    assert_eq!(
        s.direct(2, "cancel_multiple_orders", cancel(id, false))
            .unwrap_err(),
        econia(EconiaAbort::InvalidUser)
    );
    // Unknown id (22).
    assert_eq!(
        s.direct(
            1,
            "cancel_multiple_orders",
            cancel(VenueOrderId(id.0 + (1 << 64)), false)
        )
        .unwrap_err(),
        econia(EconiaAbort::InvalidMarketOrderId)
    );
    let fx = s
        .direct(1, "cancel_multiple_orders", cancel(id, false))
        .unwrap();
    assert_eq!(s.available(1), dec!(1000));
    assert!(s.ex.open_orders(profile(1), None).is_empty());
    let ev = &fx.events[0];
    assert_eq!(ev.name, "CancelOrderEvent");
    assert_eq!(ev.get("order_id"), Some(&json!(id.0.to_string())));
    assert_eq!(ev.get("trade_side"), Some(&json!(false)));
    assert_eq!(ev.get("order_type"), Some(&json!(2)));
    assert_eq!(
        ev.get("profile_address"),
        Some(&json!(profile(1).to_string()))
    );
    assert_eq!(ev.get("market_id"), Some(&json!("1338")));
    let node = ev.to_json(s.ex.package());
    assert!(
        node["type"]
            .as_str()
            .unwrap()
            .ends_with("::perpetual_core::CancelOrderEvent")
    );
    // Twice: no longer rests.
    assert_eq!(
        s.direct(1, "cancel_multiple_orders", cancel(id, false))
            .unwrap_err(),
        econia(EconiaAbort::InvalidMarketOrderId)
    );
}

#[test]
fn take_profit_fires_on_tick_as_a_taker_close() {
    let mut s = Sim::alice_long_from_bob();
    s.direct(
        1,
        "update_take_profit",
        vec![json!("1338"), json!(true), json!("6000")],
    )
    .unwrap();
    assert_eq!(s.ex.positions(profile(1))[0].tp, Some(dec!(6)));
    // No TP on a side without a position: 1011.
    assert_eq!(
        s.direct(
            1,
            "update_take_profit",
            vec![json!("1338"), json!(false), json!("6000")]
        )
        .unwrap_err(),
        kana(KanaAbort::TradeSizeExceedsExistingFilled)
    );
    // Carol bids 6.000 for the close to sell into.
    s.deposit(3, 1000);
    s.limit(3, true, false, 1000, 6000, 10).unwrap();
    // A mark below the TP does nothing.
    s.ex.set_index(APT, dec!(5.9));
    let quiet = s.ex.tick(Timestamp::from_secs(T0 + 100));
    assert!(quiet.fills.is_empty());
    let before = s.available(1);
    s.ex.set_index(APT, dec!(6));
    let fx = s.ex.tick(Timestamp::from_secs(T0 + 101));
    let alice = fx.fills.iter().find(|f| f.address == profile(1)).unwrap();
    assert_eq!(
        (alice.cause, alice.liquidity, alice.order_type),
        (FillCause::TakeProfit, Liquidity::Taker, 7)
    );
    assert_eq!((alice.pnl, alice.fee), (dec!(0.5), dec!(0.003)));
    assert!(s.ex.positions(profile(1)).is_empty());
    assert_eq!(
        s.available(1),
        before + dec!(0.55) + dec!(0.5) - dec!(0.003)
    );
    // Nothing left to trigger.
    assert!(s.ex.tick(Timestamp::from_secs(T0 + 102)).fills.is_empty());
}

#[test]
fn a_trigger_without_liquidity_is_reported_and_retried() {
    let mut s = Sim::alice_long_from_bob();
    s.direct(
        1,
        "update_stop_loss",
        vec![json!("1338"), json!(true), json!("5300")],
    )
    .unwrap();
    s.ex.set_index(APT, dec!(5.3));
    let fx = s.ex.tick(Timestamp::from_secs(T0 + 100));
    assert_eq!(fx.failed_triggers.len(), 1);
    assert_eq!(
        fx.failed_triggers[0].1,
        Abort::Kana(KanaAbort::InsufficientLiquidityInOrderbook)
    );
    assert_eq!(s.ex.positions(profile(1)).len(), 1);
    s.deposit(3, 1000);
    s.limit(3, true, false, 1000, 5300, 10).unwrap();
    let fx = s.ex.tick(Timestamp::from_secs(T0 + 101));
    assert_eq!(
        fx.fills
            .iter()
            .filter(|f| f.cause == FillCause::StopLoss)
            .count(),
        1
    );
    assert!(s.ex.positions(profile(1)).is_empty());
}

#[test]
fn funding_settles_on_tick_once_per_interval() {
    let mut s = Sim::alice_long_from_bob();
    s.ex.set_index(APT, dec!(5.5));
    assert!(s.ex.tick(Timestamp::from_secs(T0 + 10)).funding.is_empty()); // starts the clock
    assert!(
        s.ex.tick(Timestamp::from_secs(T0 + 3609))
            .funding
            .is_empty()
    );
    let fx = s.ex.tick(Timestamp::from_secs(T0 + 3610));
    assert_eq!(fx.funding.len(), 1);
    // 0.01 % of 1 APT · 5.5: the long pays, the short receives.
    assert_eq!(fx.funding[0].1.longs_paid, dec!(0.00055));
    assert_eq!(
        s.ex.positions(profile(1))[0].margin,
        dec!(0.55) - dec!(0.00055)
    );
    assert_eq!(
        s.ex.positions(profile(2))[0].margin,
        dec!(0.55) + dec!(0.00055)
    );
    assert_eq!(fx.events[0].name, "FundingEvent");
    assert!(fx.accounts.contains(&profile(1)) && fx.accounts.contains(&profile(2)));
}

#[test]
fn liquidation_on_tick_closes_at_the_mark_and_cancels_orphaned_closes() {
    let mut s = Sim::alice_long_from_bob();
    // A resting close of half the long.
    let close = s.limit(1, true, true, 500, 7000, 10).unwrap().placed[0];
    assert_eq!(
        s.ex.positions(profile(1))[0].available_order_size,
        Lots(500)
    );
    let liq = s.ex.positions(profile(1))[0].liq_price.unwrap();
    assert!(liq > dec!(5.07) && liq < dec!(5.08), "{liq}");
    s.ex.set_index(APT, dec!(5.08));
    assert!(
        s.ex.tick(Timestamp::from_secs(T0 + 100))
            .liquidations
            .is_empty()
    );
    s.ex.set_index(APT, dec!(5));
    let fx = s.ex.tick(Timestamp::from_secs(T0 + 101));
    assert_eq!(fx.liquidations.len(), 1);
    assert_eq!(
        (fx.liquidations[0].address, fx.liquidations[0].trade_side),
        (profile(1), PositionSide::Long)
    );
    assert!(s.ex.positions(profile(1)).is_empty());
    assert_eq!(
        fx.cancelled.iter().map(|c| c.order_id).collect::<Vec<_>>(),
        [close]
    );
    assert!(s.ex.open_orders(profile(1), None).is_empty());
    let rec = fx
        .fills
        .iter()
        .find(|f| f.cause == FillCause::Liquidation)
        .unwrap();
    assert_eq!(
        (rec.price, rec.size, rec.pnl, rec.order_type),
        (dec!(5), Lots(1000), dec!(-0.5), 7)
    );
    let names: Vec<&str> = fx.events.iter().map(|e| e.name).collect();
    assert_eq!(names, ["CancelOrderEvent", "LiquidationEvent"]);
    // Bob's short is untouched.
    assert_eq!(s.ex.positions(profile(2)).len(), 1);
}

#[test]
fn delegated_calls_need_a_registered_delegate_and_act_for_the_owner() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    let (owner, delegate) = (wallet(1), 9u8);
    let args = |extra: Option<u64>| {
        let mut a = vec![json!(owner.to_string())];
        if let Some(i) = extra {
            a.push(json!(i.to_string()));
        }
        a.extend(Sim::limit_args(true, false, 1000, 5000, 5, 0));
        a
    };
    let place = |s: &mut Sim, sender: u8| {
        s.call(
            sender,
            DELEGATED_SCRIPTS,
            "place_delegated_limit_order",
            args(None),
        )
    };
    let err = place(&mut s, delegate).unwrap_err();
    assert_eq!(err, kana(KanaAbort::NotKana));
    assert!(
        matches!(VmStatus::parse(&err.vm_status(s.ex.package())), VmStatus::MoveAbort(a) if a.code == 1001)
    );
    // The owner itself is not its own delegate either.
    assert_eq!(place(&mut s, 1).unwrap_err(), kana(KanaAbort::NotKana));

    s.ex.set_delegate(owner, wallet(delegate));
    let fx = place(&mut s, delegate).unwrap();
    let open = s.ex.open_orders(profile(1), None);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].order_id, fx.placed[0]);
    assert!(s.ex.open_orders(profile(delegate), None).is_empty());
    assert_eq!(s.available(1), dec!(1000) - dec!(1));
    // Another wallet is still refused; profile index 0 works, others are refused (24).
    assert_eq!(place(&mut s, 8).unwrap_err(), kana(KanaAbort::NotKana));
    s.call(
        delegate,
        DELEGATED_SCRIPTS,
        "place_delegated_limit_order_with_profile",
        args(Some(0)),
    )
    .unwrap();
    assert_eq!(
        s.call(
            delegate,
            DELEGATED_SCRIPTS,
            "place_delegated_limit_order_with_profile",
            args(Some(1))
        )
        .unwrap_err(),
        econia(EconiaAbort::InvalidUser)
    );
    // The delegate cancels the owner's order.
    let cancel = vec![
        json!(owner.to_string()),
        json!("1338"),
        json!([fx.placed[0].0.to_string()]),
        json!([true]),
    ];
    s.call(
        delegate,
        DELEGATED_SCRIPTS,
        "cancel_delegated_orders",
        cancel,
    )
    .unwrap();
    assert_eq!(s.ex.open_orders(profile(1), None).len(), 1);
    // Removing the delegation refuses again.
    s.ex.remove_delegate(owner);
    assert_eq!(
        place(&mut s, delegate).unwrap_err(),
        kana(KanaAbort::NotKana)
    );
}

#[test]
fn calls_that_do_not_decode_are_errors_never_panics() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    let good = s.encode(
        PERPETUAL_SCRIPTS,
        "place_limit_order",
        Sim::limit_args(true, false, 1000, 5000, 5, 0),
    );
    let run =
        |s: &mut Sim, call: &EntryFunction| s.ex.execute(wallet(1), call, Timestamp::from_secs(T0));
    let mut short = good.clone();
    short.args.pop();
    let err = run(&mut s, &short).unwrap_err();
    assert!(matches!(err, TxError::Invalid(_)), "{err}");
    assert_eq!(
        err.vm_status(s.ex.package()),
        "NUMBER_OF_ARGUMENTS_MISMATCH"
    );
    let mut wrong = good.clone();
    wrong.args[1] = vec![7, 7]; // a bool
    let err = run(&mut s, &wrong).unwrap_err();
    assert_eq!(
        err.vm_status(s.ex.package()),
        "FAILED_TO_DESERIALIZE_ARGUMENT"
    );
    assert!(err.to_string().contains("argument 1"), "{err}");
    let mut truncated = good.clone();
    truncated.args[0] = vec![1, 2, 3]; // a u64 needs 8 bytes
    assert!(matches!(
        run(&mut s, &truncated).unwrap_err(),
        TxError::Invalid(_)
    ));
    let mut garbage = good.clone();
    garbage.args.iter_mut().for_each(|a| a.clear());
    assert!(matches!(
        run(&mut s, &garbage).unwrap_err(),
        TxError::Invalid(_)
    ));
    // Vectors of different lengths fail like an out-of-range borrow.
    let err = s
        .direct(
            1,
            "cancel_multiple_orders",
            vec![json!("1338"), json!(["1", "2"]), json!([true])],
        )
        .unwrap_err();
    assert!(matches!(err, TxError::VectorLength { .. }));
    assert!(matches!(
        VmStatus::parse(&err.vm_status(s.ex.package())),
        VmStatus::ExecutionFailure { .. }
    ));
    // An unknown market is Kana 1003.
    let mut other = Sim::limit_args(true, false, 1000, 5000, 5, 0);
    other[0] = json!("7");
    assert_eq!(
        s.direct(1, "place_limit_order", other).unwrap_err(),
        kana(KanaAbort::MarketNotFound)
    );
    // Leverage beyond u32 is an invalid leverage, not a panic.
    let huge = Sim::limit_args(true, false, 1000, 5000, u64::MAX, 0);
    assert_eq!(
        s.direct(1, "place_limit_order", huge).unwrap_err(),
        kana(KanaAbort::InvalidLeverage)
    );
    // Nothing of it changed anything.
    assert!(s.ex.open_orders(profile(1), None).is_empty());
    assert_eq!(s.available(1), dec!(1000));
}

#[test]
fn placement_events_carry_the_ids_the_real_client_reads() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    s.deposit(2, 1000);
    s.limit(2, false, false, 1000, 5500, 10).unwrap();
    // Two limit orders and a market order (which fills against Bob's ask), in one transaction.
    let fx = s
        .direct(1, "place_multiple_orders", {
            let mut a = vec![json!("1338")];
            a.extend(batch(
                &[
                    (true, true, false, 1000, 5000, 10),
                    (false, true, false, 1000, 0, 10),
                    (true, true, false, 1000, 4900, 10),
                ],
                0,
            ));
            a
        })
        .unwrap();
    assert_eq!(fx.placed.len(), 3);
    let events = fx.events_json(s.ex.package());
    let limits: Vec<u128> = vec![fx.placed[0].0, fx.placed[2].0];
    assert_eq!(placed_event_ids(&events), limits);
    for e in &events {
        assert!(
            e["type"]
                .as_str()
                .unwrap()
                .starts_with(&s.ex.package().to_hex_short())
        );
        assert!(e["data"].is_object());
    }
    // Every placement event names its order, and the ids are the resting orders'.
    let open: Vec<u128> =
        s.ex.open_orders(profile(1), None)
            .iter()
            .map(|o| o.order_id.0)
            .collect();
    assert_eq!(open, limits);
}

#[test]
fn collapse_closes_both_hedge_sides() {
    let mut s = Sim::alice_long_from_bob();
    // Alice also goes short 1 APT from Carol's bid.
    s.deposit(3, 1000);
    s.limit(3, true, false, 2000, 5400, 5).unwrap();
    s.market(1, false, false, 1000, 5).unwrap();
    assert_eq!(s.ex.positions(profile(1)).len(), 2);
    // Liquidity for the long's close: Carol's remaining bid takes it; for the short's close Dave asks.
    s.deposit(4, 1000);
    s.limit(4, false, false, 1000, 5450, 5).unwrap();
    let fx = s
        .direct(1, "collapse_position", vec![json!("1338")])
        .unwrap();
    assert!(s.ex.positions(profile(1)).is_empty());
    assert_eq!(
        fx.fills.iter().filter(|f| f.address == profile(1)).count(),
        2
    );
    assert_eq!(
        s.direct(1, "collapse_position", vec![json!("1338")])
            .unwrap_err(),
        kana(KanaAbort::TradeSizeExceedsExistingFilled)
    );
}

#[test]
fn withdraw_and_add_margin() {
    let mut s = Sim::alice_long_from_bob();
    s.direct(
        1,
        "add_margin",
        vec![json!("1338"), json!(true), json!("450000")],
    )
    .unwrap();
    assert_eq!(s.ex.positions(profile(1))[0].margin, dec!(1));
    let avail = s.available(1);
    s.direct(1, "withdraw", vec![json!("1338"), json!("1000000")])
        .unwrap();
    assert_eq!(s.available(1), avail - dec!(1));
    assert_eq!(
        s.direct(1, "withdraw", vec![json!("1338"), json!("999999000000")])
            .unwrap_err(),
        kana(KanaAbort::InsufficientBalanceInTradingAccountToWithdraw)
    );
    assert_eq!(
        s.direct(1, "withdraw", vec![json!("9"), json!("1")])
            .unwrap_err(),
        kana(KanaAbort::MarketNotFound)
    );
}

#[test]
fn the_same_calls_give_the_same_effects() {
    let run = || {
        let mut s = Sim::alice_long_from_bob();
        let mut out = vec![s.limit(2, false, false, 700, 5600, 10).unwrap()];
        out.push(s.market(1, true, false, 700, 10).unwrap());
        s.ex.set_index(APT, dec!(5.55));
        out.push(s.ex.tick(Timestamp::from_secs(T0 + 5000)));
        out.push(s.ex.tick(Timestamp::from_secs(T0 + 9000)));
        out
    };
    assert_eq!(run(), run());
}

/// A wallet registers its delegate on chain (`add_delegate`), which then trades for it until the
/// delegation lapses or is removed; a delegate cannot register delegates for the owner.
#[test]
fn delegation_is_granted_expired_and_removed_by_entry_functions() {
    let mut s = Sim::new();
    s.deposit(1, 1000);
    let (owner, delegate) = (wallet(1), 9u8);
    let place = |s: &mut Sim| {
        let mut a = vec![json!(owner.to_string())];
        a.extend(Sim::limit_args(true, false, 1000, 5000, 5, 0));
        s.call(
            delegate,
            DELEGATED_SCRIPTS,
            "place_delegated_limit_order",
            a,
        )
    };
    assert_eq!(place(&mut s).unwrap_err(), kana(KanaAbort::NotKana));
    // Granted until T0 + 10 (each call advances the clock one second).
    let until = T0 + 10;
    let fx = s
        .direct(
            1,
            "add_delegate",
            vec![
                json!(wallet(delegate).to_string()),
                json!(until.to_string()),
            ],
        )
        .unwrap();
    assert_eq!(fx.events[0].name, "DelegateAddedEvent");
    assert_eq!(s.ex.delegate_of(owner), Some(wallet(delegate)));
    place(&mut s).unwrap();
    assert_eq!(s.ex.open_orders(profile(1), None).len(), 1);
    s.secs = until;
    assert_eq!(
        place(&mut s).unwrap_err(),
        kana(KanaAbort::NotKana),
        "lapsed"
    );
    // Extended without expiry (0), then removed.
    s.direct(
        1,
        "add_delegate",
        vec![json!(wallet(delegate).to_string()), json!("0")],
    )
    .unwrap();
    place(&mut s).unwrap();
    assert_eq!(s.ex.open_orders(profile(1), None).len(), 2);
    let fx = s.direct(1, "remove_delegate", vec![]).unwrap();
    assert_eq!(fx.events[0].name, "DelegateRemovedEvent");
    assert_eq!(place(&mut s).unwrap_err(), kana(KanaAbort::NotKana));
    assert!(
        s.direct(1, "remove_delegate", vec![])
            .unwrap()
            .events
            .is_empty()
    );
    // The delegate's own add_delegate registers a delegate of the delegate, not of the owner.
    s.direct(
        delegate,
        "add_delegate",
        vec![json!(wallet(delegate).to_string()), json!("0")],
    )
    .unwrap();
    assert_eq!(place(&mut s).unwrap_err(), kana(KanaAbort::NotKana));
    assert_eq!(s.ex.delegate_of(owner), None);
}

/// Deposits and withdrawals (single and multi-market) are kept as records; `settle_pnl` checks
/// the market and changes nothing.
#[test]
fn transfers_are_recorded_and_multi_market_withdrawals_draw_once() {
    let mut s = Sim::new();
    let mut btc = MarketSpec::kana_apt_testnet();
    btc.id = MarketId(1339);
    s.ex.add_market(btc);
    s.deposit(1, 100);
    s.direct(1, "withdraw", vec![json!("1338"), json!("2500000")])
        .unwrap();
    let before = s.available(1);
    let fx = s
        .direct(
            1,
            "withdraw_multiple_markets",
            vec![json!("1000000"), json!(["1338", "1339"])],
        )
        .unwrap();
    assert_eq!(fx.events[0].name, "WithdrawEvent");
    assert_eq!(s.available(1), before - dec!(1));
    for markets in [json!(["1338", "9"]), json!([])] {
        assert_eq!(
            s.direct(1, "withdraw_multiple_markets", vec![json!("1"), markets])
                .unwrap_err(),
            kana(KanaAbort::MarketNotFound)
        );
    }
    assert_eq!(
        s.direct(
            1,
            "withdraw_multiple_markets",
            vec![json!("999000000000"), json!(["1338"])]
        )
        .unwrap_err(),
        kana(KanaAbort::InsufficientBalanceInTradingAccountToWithdraw)
    );
    let records: Vec<_> = s.ex.transfers(profile(1)).cloned().collect();
    let summary: Vec<_> = records
        .iter()
        .map(|t| (t.kind, t.market, t.markets.len(), t.amount, t.wallet))
        .collect();
    assert_eq!(
        summary,
        [
            (TransferKind::Deposit, None, 0, dec!(100), wallet(1)),
            (TransferKind::Withdraw, Some(APT), 0, dec!(2.5), wallet(1)),
            (TransferKind::Withdraw, None, 2, dec!(1), wallet(1)),
        ]
    );
    assert!(records.windows(2).all(|w| w[0].id < w[1].id));
    let fx = s.direct(1, "settle_pnl", vec![json!("1338")]).unwrap();
    assert!(fx.is_empty());
    assert_eq!(
        s.direct(1, "settle_pnl", vec![json!("9")]).unwrap_err(),
        kana(KanaAbort::MarketNotFound)
    );
    // The faucet is a deposit too.
    let profile = s.ex.faucet(wallet(3), 5_000_000, s.now());
    let faucet: Vec<_> =
        s.ex.transfers(profile)
            .map(|t| (t.kind, t.amount))
            .collect();
    assert_eq!(faucet, [(TransferKind::Deposit, dec!(5))]);
}

/// Each funding settlement leaves one record per position with what its margin gained.
#[test]
fn funding_payments_are_recorded_per_position() {
    let mut s = Sim::alice_long_from_bob();
    s.ex.set_index(APT, dec!(5.5));
    s.ex.tick(Timestamp::from_secs(T0 + 10));
    s.ex.tick(Timestamp::from_secs(T0 + 3610));
    let long: Vec<_> = s.ex.funding_history(profile(1)).cloned().collect();
    let short: Vec<_> = s.ex.funding_history(profile(2)).cloned().collect();
    let [l] = long.as_slice() else {
        panic!("{long:?}")
    };
    let [r] = short.as_slice() else {
        panic!("{short:?}")
    };
    assert_eq!(
        (l.trade_side, l.size, l.rate, l.mark, l.amount),
        (
            PositionSide::Long,
            Lots(1000),
            dec!(0.0001),
            dec!(5.5),
            dec!(-0.00055)
        )
    );
    assert_eq!(
        (r.trade_side, r.amount),
        (PositionSide::Short, dec!(0.00055))
    );
    assert_eq!(l.timestamp, Timestamp::from_secs(T0 + 3610));
    assert!(l.trade_id.is_some());
}
