//! Tests of the simulator's perp accounting, alone and wired to the matching engine the way the
//! simulator's transaction layer will use it.

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use crate::accounting::*;
use crate::matching::{MatchingBook, MatchingConfig, PlaceOrder, PlaceResult};
use crate::{Abort, FundingModel, profile_address};
use perpbot_aptos::{AccountAddress, KanaAbort};
use perpbot_model::{
    Direction, Liquidity, Lots, MarketId, MarketSpec, OrderKind, PositionSide, Side, Ticks,
    Timestamp,
};

const APT: MarketId = MarketId(1338);

fn wallet(n: u8) -> AccountAddress {
    AccountAddress::new([n; 32])
}

fn kana(k: KanaAbort) -> Abort {
    Abort::Kana(k)
}

/// A ledger with the APT market and funded profiles for wallets 1..=n (`usdt` each).
fn setup(n: u8, usdt: u64) -> (Ledger, Vec<AccountAddress>) {
    let mut ledger = Ledger::new(LedgerConfig::default());
    ledger.add_market(MarketSpec::kana_apt_testnet());
    let profiles = (1..=n)
        .map(|i| ledger.deposit(wallet(i), usdt * 1_000_000))
        .collect();
    (ledger, profiles)
}

fn leg(
    account: AccountAddress,
    side: PositionSide,
    direction: Direction,
    liquidity: Liquidity,
    lots: u64,
    price: u64,
    leverage: u32,
) -> FillLeg {
    FillLeg {
        account,
        side,
        direction,
        liquidity,
        lots: Lots(lots),
        price: Ticks(price),
        leverage,
        order_id: None,
        take_profit: None,
        stop_loss: None,
    }
}

/// One transaction the way the simulator runs it: ledger check, book, then book every fill and
/// reserve what rested — all inside the book's transaction so an abort undoes the book too.
fn trade(
    book: &mut MatchingBook,
    ledger: &mut Ledger,
    order: &PlaceOrder,
) -> Result<PlaceResult, Abort> {
    let margin_price = match order.kind {
        OrderKind::Limit => order.price.unwrap_or(Ticks(0)),
        OrderKind::Market => book
            .walk(order.side, order.lots, None)
            .worst_price
            .unwrap_or(Ticks(0)),
    };
    ledger.check_order(APT, order, margin_price)?;
    let mut scratch = ledger.clone();
    let result = book.atomically(|book| {
        let r = book.place(order)?;
        for m in &r.fills {
            scratch.apply_match(APT, order, m, order.time)?;
        }
        if r.rested.is_some()
            && let Some(resting) = book.order(r.order_id)
        {
            scratch.reserve(APT, resting);
        }
        Ok(r)
    })?;
    *ledger = scratch;
    Ok(result)
}

#[test]
fn taker_fee_is_exactly_five_basis_points_and_maker_pays_nothing() {
    // Reference §3.3: 2.5 APT at 5.518 = 13.795 USDT notional → taker fee 0.0068975.
    let (mut ledger, p) = setup(2, 100);
    let taker = ledger
        .apply_fill(
            APT,
            &leg(
                p[0],
                PositionSide::Long,
                Direction::Open,
                Liquidity::Taker,
                2500,
                5518,
                10,
            ),
            Timestamp(1),
        )
        .unwrap();
    assert_eq!(taker.fee, dec!(0.0068975));
    assert_eq!(taker.margin_change, dec!(1.3795));
    let maker = ledger
        .apply_fill(
            APT,
            &leg(
                p[1],
                PositionSide::Short,
                Direction::Open,
                Liquidity::Maker,
                2500,
                5518,
                10,
            ),
            Timestamp(1),
        )
        .unwrap();
    assert_eq!(maker.fee, Decimal::ZERO);
    assert_eq!(
        ledger.available(p[0]),
        dec!(100) - dec!(1.3795) - dec!(0.0068975)
    );
    assert_eq!(ledger.available(p[1]), dec!(100) - dec!(1.3795));
    assert_eq!(ledger.fees_collected(), dec!(0.0068975));
    // The old WS sample: 1 APT at 6.05, 2x → margin 3.025, fee 0.003025.
    let out = ledger
        .apply_fill(
            APT,
            &leg(
                p[0],
                PositionSide::Short,
                Direction::Open,
                Liquidity::Taker,
                1000,
                6050,
                2,
            ),
            Timestamp(2),
        )
        .unwrap();
    assert_eq!((out.margin_change, out.fee), (dec!(3.025), dec!(0.003025)));
}

#[test]
fn hedge_mode_keeps_a_long_and_a_short_in_one_market() {
    let (mut book, mut ledger) = (book(), setup(3, 1000).0);
    let [a, b, c] = profiles3();
    // a long 2 APT at 10x from b; a short 1 APT at 5x from c.
    trade(&mut book, &mut ledger, &sell_order(b, 2000, 5500, 10)).unwrap();
    trade(&mut book, &mut ledger, &market(a, Side::Buy, 2000, 10)).unwrap();
    trade(&mut book, &mut ledger, &buy_order(c, 1000, 5400, 5)).unwrap();
    trade(&mut book, &mut ledger, &market(a, Side::Sell, 1000, 5)).unwrap();
    let long = ledger.position(a, APT, PositionSide::Long).unwrap();
    let short = ledger.position(a, APT, PositionSide::Short).unwrap();
    assert_eq!(
        (long.lots, long.leverage, long.entry_price),
        (Lots(2000), 10, dec!(5.5))
    );
    assert_eq!(
        (short.lots, short.leverage, short.entry_price),
        (Lots(1000), 5, dec!(5.4))
    );
    assert_eq!(long.margin, dec!(1.1));
    assert_eq!(short.margin, dec!(1.08));
    assert_eq!(ledger.positions_of(a).count(), 2);
    // Closing the short does not touch the long.
    trade(&mut book, &mut ledger, &sell_order(b, 1000, 5300, 10)).unwrap();
    let close_short = market(a, Side::Buy, 1000, 5).with_direction(Direction::Close);
    trade(&mut book, &mut ledger, &close_short).unwrap();
    assert!(ledger.position(a, APT, PositionSide::Short).is_none());
    assert_eq!(
        ledger.position(a, APT, PositionSide::Long).unwrap().lots,
        Lots(2000)
    );
}

#[test]
fn closing_realises_pnl_and_releases_margin_pro_rata() {
    let (mut ledger, p) = setup(1, 100);
    let a = p[0];
    let open = |lots, price| {
        leg(
            a,
            PositionSide::Long,
            Direction::Open,
            Liquidity::Maker,
            lots,
            price,
            5,
        )
    };
    ledger
        .apply_fill(APT, &open(1000, 5000), Timestamp(1))
        .unwrap();
    ledger
        .apply_fill(APT, &open(1000, 6000), Timestamp(2))
        .unwrap();
    let p1 = ledger.position(a, APT, PositionSide::Long).unwrap();
    assert_eq!(
        (p1.lots, p1.entry_price, p1.margin),
        (Lots(2000), dec!(5.5), dec!(2.2))
    );
    let start = ledger.available(a);
    let close = |lots, price| {
        leg(
            a,
            PositionSide::Long,
            Direction::Close,
            Liquidity::Maker,
            lots,
            price,
            5,
        )
    };
    // Close half at 6.5: PnL (6.5 − 5.5) × 1 = 1, half the margin (1.1) back.
    let out = ledger
        .apply_fill(APT, &close(1000, 6500), Timestamp(3))
        .unwrap();
    assert_eq!((out.realized_pnl, out.margin_change), (dec!(1), dec!(-1.1)));
    assert_eq!(ledger.available(a), start + dec!(2.1));
    assert_eq!(
        ledger.position(a, APT, PositionSide::Long).unwrap().margin,
        dec!(1.1)
    );
    // Close the rest at 5: PnL −0.5, the rest of the margin back, position gone.
    let out = ledger
        .apply_fill(APT, &close(1000, 5000), Timestamp(4))
        .unwrap();
    assert_eq!((out.realized_pnl, out.position_lots), (dec!(-0.5), Lots(0)));
    assert!(ledger.position(a, APT, PositionSide::Long).is_none());
    assert_eq!(ledger.available(a), start + dec!(2.1) + dec!(0.6));
    assert_eq!(ledger.balance(a).unwrap().realized_pnl, dec!(0.5));
    // Closing more than the position → 1011, nothing changes.
    assert_eq!(
        ledger
            .apply_fill(APT, &close(1000, 5000), Timestamp(5))
            .unwrap_err(),
        kana(KanaAbort::TradeSizeExceedsExistingFilled)
    );
}

#[test]
fn leverage_rules_at_order_time() {
    let (mut ledger, p) = setup(1, 100);
    let a = p[0];
    ledger
        .apply_fill(
            APT,
            &leg(
                a,
                PositionSide::Long,
                Direction::Open,
                Liquidity::Taker,
                1000,
                5000,
                10,
            ),
            Timestamp(1),
        )
        .unwrap();
    let open = |lev| PlaceOrder::limit(a, Side::Buy, Lots(1000), Ticks(5000)).with_leverage(lev);
    assert_eq!(
        ledger.check_order(APT, &open(5), Ticks(5000)).unwrap_err(),
        kana(KanaAbort::LeverageMismatchIncreasePosition)
    );
    assert!(ledger.check_order(APT, &open(10), Ticks(5000)).is_ok());
    let close = |lev, lots| {
        PlaceOrder::limit(a, Side::Sell, Lots(lots), Ticks(5000))
            .with_direction(Direction::Close)
            .with_leverage(lev)
    };
    assert_eq!(
        ledger
            .check_order(APT, &close(5, 1000), Ticks(5000))
            .unwrap_err(),
        kana(KanaAbort::LeverageMismatchClosePosition)
    );
    assert_eq!(
        ledger
            .check_order(APT, &close(10, 1001), Ticks(5000))
            .unwrap_err(),
        kana(KanaAbort::TradeSizeExceedsExistingFilled)
    );
    assert_eq!(
        ledger.check_order(APT, &close(10, 1000), Ticks(5000)),
        Ok(Decimal::ZERO)
    );
    assert_eq!(
        ledger.check_order(APT, &open(0), Ticks(5000)).unwrap_err(),
        kana(KanaAbort::InvalidLeverage)
    );
    assert_eq!(
        ledger.check_order(APT, &open(21), Ticks(5000)).unwrap_err(),
        kana(KanaAbort::InvalidLeverage)
    );
    assert_eq!(
        ledger
            .check_order(MarketId(9), &open(10), Ticks(5000))
            .unwrap_err(),
        kana(KanaAbort::MarketNotFound)
    );
    // A fill with another leverage is refused as well (and changes nothing).
    let before = ledger.position(a, APT, PositionSide::Long).cloned();
    assert_eq!(
        ledger
            .apply_fill(
                APT,
                &leg(
                    a,
                    PositionSide::Long,
                    Direction::Open,
                    Liquidity::Taker,
                    1000,
                    5000,
                    3
                ),
                Timestamp(2)
            )
            .unwrap_err(),
        kana(KanaAbort::LeverageMismatchIncreasePosition)
    );
    assert_eq!(ledger.position(a, APT, PositionSide::Long).cloned(), before);
}

#[test]
fn resting_orders_reserve_margin_and_commit_close_size() {
    let (mut book, mut ledger) = (book(), setup(3, 10).0);
    let [a, b, _] = profiles3();
    // 10 USDT at 2x covers 20 USDT of notional (minus the taker-fee allowance).
    let big = buy_order(a, 3000, 6700, 2);
    assert_eq!(
        trade(&mut book, &mut ledger, &big).unwrap_err(),
        kana(KanaAbort::LossGreaterThanCollateral)
    );
    let r = trade(&mut book, &mut ledger, &buy_order(a, 2000, 5000, 2)).unwrap();
    assert_eq!(ledger.balance(a).unwrap().reserved, dec!(5));
    assert_eq!(ledger.available(a), dec!(5));
    // Withdrawals cannot touch reserved margin.
    assert_eq!(
        ledger.withdraw(wallet(1), 5_000_001).unwrap_err(),
        kana(KanaAbort::InsufficientBalanceInTradingAccountToWithdraw)
    );
    // Another opening order on the same side must use the same leverage.
    assert_eq!(
        trade(&mut book, &mut ledger, &buy_order(a, 500, 5000, 3)).unwrap_err(),
        kana(KanaAbort::LeverageMismatchIncreasePosition)
    );
    // Half fills as maker: half the reservation becomes position margin.
    trade(&mut book, &mut ledger, &market(b, Side::Sell, 1000, 2)).unwrap();
    assert_eq!(ledger.balance(a).unwrap().reserved, dec!(2.5));
    assert_eq!(
        ledger.position(a, APT, PositionSide::Long).unwrap().margin,
        dec!(2.5)
    );
    assert_eq!(ledger.available(a), dec!(5));
    // A resting close commits its size: a second close cannot exceed what is left.
    let close = sell_order(a, 1000, 6000, 2).with_direction(Direction::Close);
    trade(&mut book, &mut ledger, &close).unwrap();
    assert_eq!(
        trade(&mut book, &mut ledger, &close).unwrap_err(),
        kana(KanaAbort::TradeSizeExceedsExistingFilled)
    );
    // Cancelling releases the reservation.
    book.cancel(a, r.order_id).unwrap();
    ledger.release(APT, r.order_id, None);
    assert_eq!(ledger.balance(a).unwrap().reserved, Decimal::ZERO);
    assert_eq!(ledger.available(a), dec!(7.5));
}

#[test]
fn funding_long_pays_short_receives_and_nets_to_zero() {
    let (mut book, mut ledger) = (book(), setup(3, 100).0);
    let [a, b, c] = profiles3();
    trade(&mut book, &mut ledger, &sell_order(b, 2000, 5000, 5)).unwrap();
    trade(&mut book, &mut ledger, &sell_order(c, 1000, 5000, 5)).unwrap();
    trade(&mut book, &mut ledger, &market(a, Side::Buy, 3000, 5)).unwrap();
    let margin = |l: &Ledger, who, side| l.position(who, APT, side).unwrap().margin;
    let before = (
        margin(&ledger, a, PositionSide::Long),
        margin(&ledger, b, PositionSide::Short),
        margin(&ledger, c, PositionSide::Short),
    );
    // +0.01 % at mark 6: long 3 APT pays 3 × 6 × 0.0001 = 0.0018; shorts receive 0.0012 + 0.0006.
    let s = ledger.apply_funding(APT, dec!(0.0001), dec!(6)).unwrap();
    assert_eq!(
        (s.longs_paid, s.shorts_received, s.to_insurance),
        (dec!(0.0018), dec!(0.0018), dec!(0))
    );
    assert_eq!(
        margin(&ledger, a, PositionSide::Long),
        before.0 - dec!(0.0018)
    );
    assert_eq!(
        margin(&ledger, b, PositionSide::Short),
        before.1 + dec!(0.0012)
    );
    assert_eq!(
        margin(&ledger, c, PositionSide::Short),
        before.2 + dec!(0.0006)
    );
    assert_eq!(ledger.balance(a).unwrap().funding_paid, dec!(0.0018));
    assert_eq!(ledger.balance(b).unwrap().funding_paid, dec!(-0.0012));
    // A negative rate reverses the flow.
    let s = ledger.apply_funding(APT, dec!(-0.0001), dec!(6)).unwrap();
    assert_eq!(
        (s.longs_paid, s.shorts_received),
        (dec!(-0.0018), dec!(-0.0018))
    );
    assert_eq!(margin(&ledger, a, PositionSide::Long), before.0);
}

#[test]
fn funding_is_settled_once_per_interval_with_the_configured_model() {
    let mut ledger = Ledger::new(LedgerConfig {
        funding: FundingModel::Premium {
            sensitivity: dec!(1),
            cap: dec!(0.001),
        },
        ..LedgerConfig::default()
    });
    ledger.add_market(MarketSpec::kana_apt_testnet());
    ledger.set_index(APT, dec!(5));
    let t0 = Timestamp::from_secs(1_747_382_400);
    assert_eq!(
        ledger.settle_funding(APT, t0),
        None,
        "the first call starts the clock"
    );
    assert_eq!(
        ledger.settle_funding(APT, Timestamp::from_secs(1_747_382_400 + 3599)),
        None
    );
    let s = ledger
        .settle_funding(APT, Timestamp::from_secs(1_747_382_400 + 3600))
        .unwrap();
    assert_eq!(
        (s.rate, s.mark),
        (Decimal::ZERO, dec!(5)),
        "mark = index → no premium"
    );
    // With the mid as mark, a premium over the index charges longs.
    let mut ledger = Ledger::new(LedgerConfig {
        mark_source: crate::MarkSource::Mid,
        funding: FundingModel::Premium {
            sensitivity: dec!(1),
            cap: dec!(0.001),
        },
        ..LedgerConfig::default()
    });
    ledger.add_market(MarketSpec::kana_apt_testnet());
    ledger.set_index(APT, dec!(5));
    ledger.set_mid(APT, Some(dec!(5.0025)));
    assert_eq!(ledger.mark(APT), Some(dec!(5.0025)));
    ledger.settle_funding(APT, t0);
    let s = ledger
        .settle_funding(APT, Timestamp::from_secs(1_747_382_400 + 7200))
        .unwrap();
    assert_eq!(s.rate, dec!(0.0005));
}

#[test]
fn liquidation_of_a_2x_short_at_6_05_triggers_above_8_8537() {
    let (mut ledger, p) = setup(2, 100);
    let a = p[0];
    ledger
        .apply_fill(
            APT,
            &leg(
                a,
                PositionSide::Short,
                Direction::Open,
                Liquidity::Maker,
                1000,
                6050,
                2,
            ),
            Timestamp(1),
        )
        .unwrap();
    let pos = ledger.position(a, APT, PositionSide::Short).unwrap();
    assert_eq!(pos.margin, dec!(3.025));
    assert_eq!(pos.liquidation_price.unwrap().round_dp(4), dec!(8.8537));
    assert_eq!(
        pos.estimate_liquidation_price(&MarketSpec::kana_apt_testnet()),
        pos.liquidation_price
    );
    assert!(ledger.positions_to_liquidate(APT, dec!(8.853)).is_empty());
    assert!(ledger.positions_to_liquidate(APT, dec!(8.8536)).is_empty());
    let due = ledger.positions_to_liquidate(APT, dec!(8.8537));
    assert_eq!(due.len(), 1);
    assert_eq!(
        (due[0].account, due[0].side, due[0].lots),
        (a, PositionSide::Short, Lots(1000))
    );
    assert_eq!(ledger.positions_to_liquidate(APT, dec!(9)).len(), 1);
    // Liquidate at 8.8537: equity 3.025 − 2.8037 = 0.2213 split 50/30/20.
    let before = ledger.available(a);
    let out = ledger
        .liquidate(a, APT, PositionSide::Short, dec!(8.8537), Some(p[1]))
        .unwrap();
    assert_eq!(out.realized_pnl, dec!(-2.8037));
    assert_eq!(
        (out.to_trader, out.to_liquidator, out.to_insurance),
        (dec!(0.11065), dec!(0.06639), dec!(0.04426))
    );
    assert_eq!(ledger.available(a), before + dec!(0.11065));
    assert_eq!(ledger.insurance_fund(), dec!(0.04426));
    assert!(ledger.position(a, APT, PositionSide::Short).is_none());
    // Too late (equity negative): the fund covers the gap.
    ledger
        .apply_fill(
            APT,
            &leg(
                a,
                PositionSide::Long,
                Direction::Open,
                Liquidity::Maker,
                1000,
                5000,
                10,
            ),
            Timestamp(2),
        )
        .unwrap();
    let out = ledger
        .liquidate(a, APT, PositionSide::Long, dec!(4), None)
        .unwrap();
    assert_eq!((out.to_trader, out.to_insurance), (dec!(0), dec!(-0.5)));
}

#[test]
fn liquidation_of_a_long_respects_added_margin() {
    let (mut ledger, p) = setup(1, 100);
    let a = p[0];
    ledger
        .apply_fill(
            APT,
            &leg(
                a,
                PositionSide::Long,
                Direction::Open,
                Liquidity::Maker,
                1000,
                7000,
                10,
            ),
            Timestamp(1),
        )
        .unwrap();
    // Docs' example: long 7 @10x → ≈6.46.
    let liq = ledger
        .position(a, APT, PositionSide::Long)
        .unwrap()
        .liquidation_price
        .unwrap();
    assert_eq!(liq.round_dp(2), dec!(6.46));
    assert_eq!(ledger.positions_to_liquidate(APT, dec!(6.45)).len(), 1);
    assert!(ledger.positions_to_liquidate(APT, dec!(6.47)).is_empty());
    ledger
        .add_margin(a, APT, PositionSide::Long, 700_000)
        .unwrap();
    assert!(ledger.positions_to_liquidate(APT, dec!(6.45)).is_empty());
    let liq = ledger
        .position(a, APT, PositionSide::Long)
        .unwrap()
        .liquidation_price
        .unwrap();
    assert!(liq < dec!(6));
    assert_eq!(
        ledger
            .add_margin(a, APT, PositionSide::Short, 1)
            .unwrap_err(),
        kana(KanaAbort::TradeSizeExceedsExistingFilled)
    );
}

#[test]
fn take_profit_and_stop_loss_triggers() {
    let (mut ledger, p) = setup(2, 100);
    let (a, b) = (p[0], p[1]);
    let mut long = leg(
        a,
        PositionSide::Long,
        Direction::Open,
        Liquidity::Taker,
        1000,
        5000,
        5,
    );
    long.take_profit = Some(Ticks(5500));
    long.stop_loss = Some(Ticks(4800));
    ledger.apply_fill(APT, &long, Timestamp(1)).unwrap();
    ledger
        .apply_fill(
            APT,
            &leg(
                b,
                PositionSide::Short,
                Direction::Open,
                Liquidity::Maker,
                1000,
                5000,
                5,
            ),
            Timestamp(1),
        )
        .unwrap();
    ledger
        .set_take_profit(b, APT, PositionSide::Short, Some(Ticks(4500)))
        .unwrap();
    ledger
        .set_stop_loss(b, APT, PositionSide::Short, Some(Ticks(5200)))
        .unwrap();
    let reasons = |ledger: &Ledger, mark| -> Vec<(AccountAddress, PositionSide, TriggerReason)> {
        ledger
            .triggered(APT, mark)
            .iter()
            .map(|t| (t.account, t.side, t.reason))
            .collect()
    };
    assert!(reasons(&ledger, dec!(5)).is_empty());
    assert_eq!(
        reasons(&ledger, dec!(5.5)),
        vec![
            (a, PositionSide::Long, TriggerReason::TakeProfit),
            (b, PositionSide::Short, TriggerReason::StopLoss)
        ]
    );
    assert_eq!(
        reasons(&ledger, dec!(4.8)),
        vec![(a, PositionSide::Long, TriggerReason::StopLoss)]
    );
    assert_eq!(
        reasons(&ledger, dec!(4.5)),
        vec![
            (a, PositionSide::Long, TriggerReason::StopLoss),
            (b, PositionSide::Short, TriggerReason::TakeProfit)
        ]
    );
    assert!(reasons(&ledger, dec!(5.19)).is_empty());
    // The closing order for a trigger: a market close at the position's leverage.
    let trig = ledger.triggered(APT, dec!(5.5))[0];
    let order = ledger.close_order(&trig, Timestamp(9)).unwrap();
    assert_eq!(
        (
            order.side,
            order.direction,
            order.kind,
            order.lots,
            order.leverage
        ),
        (
            Side::Sell,
            Direction::Close,
            OrderKind::Market,
            Lots(1000),
            5
        )
    );
    // Clearing and unknown positions.
    ledger
        .set_take_profit(a, APT, PositionSide::Long, None)
        .unwrap();
    ledger
        .set_stop_loss(a, APT, PositionSide::Long, None)
        .unwrap();
    assert_eq!(
        reasons(&ledger, dec!(6)),
        vec![(b, PositionSide::Short, TriggerReason::StopLoss)]
    );
    assert!(
        ledger
            .set_stop_loss(a, APT, PositionSide::Short, Some(Ticks(1)))
            .is_err()
    );
}

#[test]
fn deposits_withdrawals_and_profiles() {
    let mut ledger = Ledger::new(LedgerConfig::default());
    ledger.add_market(MarketSpec::kana_apt_testnet());
    let w = wallet(9);
    assert_eq!(
        ledger.withdraw(w, 1).unwrap_err(),
        kana(KanaAbort::InsufficientBalanceInTradingAccountToWithdraw)
    );
    let profile = ledger.deposit(w, 10_000_000);
    assert_eq!(profile, profile_address(&w));
    assert_eq!(ledger.balance(profile).unwrap().wallet, w);
    assert_eq!(ledger.available(profile), dec!(10));
    assert_eq!(ledger.deposit(w, 500_000), profile);
    assert_eq!(ledger.available(profile), dec!(10.5));
    assert_eq!(
        ledger.withdraw(w, 10_500_001).unwrap_err(),
        kana(KanaAbort::InsufficientBalanceInTradingAccountToWithdraw)
    );
    ledger.withdraw(w, 10_000_000).unwrap();
    assert_eq!(ledger.available(profile), dec!(0.5));
    ledger.withdraw(w, 500_000).unwrap();
    assert_eq!(ledger.available(profile), Decimal::ZERO);
    // Margin in a position is not withdrawable.
    ledger.deposit(w, 10_000_000);
    ledger
        .apply_fill(
            APT,
            &leg(
                profile,
                PositionSide::Long,
                Direction::Open,
                Liquidity::Maker,
                2000,
                5000,
                2,
            ),
            Timestamp(1),
        )
        .unwrap();
    assert_eq!(ledger.available(profile), dec!(5));
    assert!(ledger.withdraw(w, 5_000_001).is_err());
    assert!(ledger.withdraw(w, 5_000_000).is_ok());
}

#[test]
fn a_round_trip_through_book_and_ledger_conserves_money() {
    let (mut book, mut ledger) = (book(), setup(3, 100).0);
    let [a, b, c] = profiles3();
    trade(&mut book, &mut ledger, &sell_order(b, 3000, 5500, 5)).unwrap();
    trade(&mut book, &mut ledger, &market(a, Side::Buy, 2000, 5)).unwrap();
    trade(&mut book, &mut ledger, &market(c, Side::Buy, 1000, 3)).unwrap();
    ledger.apply_funding(APT, dec!(0.0002), dec!(5.6)).unwrap();
    // Everyone closes at other prices.
    trade(
        &mut book,
        &mut ledger,
        &buy_order(b, 3000, 5400, 5).with_direction(Direction::Close),
    )
    .unwrap();
    trade(
        &mut book,
        &mut ledger,
        &market(a, Side::Sell, 2000, 5).with_direction(Direction::Close),
    )
    .unwrap();
    trade(
        &mut book,
        &mut ledger,
        &market(c, Side::Sell, 1000, 3).with_direction(Direction::Close),
    )
    .unwrap();
    assert_eq!(ledger.positions_in(APT).count(), 0);
    let held: Decimal = [a, b, c]
        .iter()
        .map(|x| ledger.balance(*x).unwrap().collateral)
        .sum();
    assert_eq!(
        held + ledger.fees_collected() + ledger.insurance_fund(),
        dec!(300)
    );
    // Realised PnL is zero-sum.
    let pnl: Decimal = [a, b, c]
        .iter()
        .map(|x| ledger.balance(*x).unwrap().realized_pnl)
        .sum();
    assert_eq!(pnl, Decimal::ZERO);
    // Taker fees only: a and c took on open and close; b made both times.
    assert_eq!(ledger.balance(b).unwrap().fees_paid, Decimal::ZERO);
    assert_eq!(
        ledger.fees_collected(),
        (dec!(16.5) + dec!(16.2)) * dec!(0.0005)
    );
}

#[test]
fn an_aborted_transaction_leaves_book_and_ledger_untouched() {
    let (mut book, mut ledger) = (book(), setup(3, 100).0);
    let [a, b, _] = profiles3();
    trade(&mut book, &mut ledger, &sell_order(b, 1000, 5500, 5)).unwrap();
    let (depth, before) = (book.depth(5), ledger.available(b));
    // The market buy would need more than the book has: 1007 after checks pass.
    assert_eq!(
        trade(&mut book, &mut ledger, &market(a, Side::Buy, 2000, 5)).unwrap_err(),
        kana(KanaAbort::InsufficientLiquidityInOrderbook)
    );
    assert_eq!((book.depth(5), ledger.available(b)), (depth, before));
    assert!(ledger.position(b, APT, PositionSide::Short).is_none());
}

// ---- helpers ----

fn book() -> MatchingBook {
    MatchingBook::new(MarketSpec::kana_apt_testnet(), MatchingConfig::default())
}

fn profiles3() -> [AccountAddress; 3] {
    [
        profile_address(&wallet(1)),
        profile_address(&wallet(2)),
        profile_address(&wallet(3)),
    ]
}

fn sell_order(account: AccountAddress, lots: u64, price: u64, leverage: u32) -> PlaceOrder {
    PlaceOrder::limit(account, Side::Sell, Lots(lots), Ticks(price)).with_leverage(leverage)
}

fn buy_order(account: AccountAddress, lots: u64, price: u64, leverage: u32) -> PlaceOrder {
    PlaceOrder::limit(account, Side::Buy, Lots(lots), Ticks(price)).with_leverage(leverage)
}

fn market(account: AccountAddress, side: Side, lots: u64, leverage: u32) -> PlaceOrder {
    PlaceOrder::market(account, side, Lots(lots)).with_leverage(leverage)
}
