//! The exchange core without I/O: netting positions, margin refusals, funding between a long
//! and a short, MMP, the heartbeat, liquidation, and the MMP type hash.

use alloy_primitives::{Address, U256, address};
use alloy_sol_types::SolStruct;
use perpbot_model::{Ticks, Timestamp};
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::auth::MMPConfigUpdate;
use super::config::KyanSimConfig;
use super::core::{Core, MmpConfig, Position};
use super::ledger::trade;
use super::trading::NewOrder;

const A: Address = address!("0x00000000000000000000000000000000000000aa");
const B: Address = address!("0x00000000000000000000000000000000000000bb");
const BTC: usize = 0;
const T0: u64 = 1_760_000_000;

fn core(fund: Decimal) -> Core {
    let cfg = KyanSimConfig {
        synthetic: None,
        auto_fund_usdc: fund,
        ..KyanSimConfig::default()
    };
    let mut c = Core::new(cfg, 7).unwrap();
    c.now = Timestamp::from_secs(T0);
    c
}

/// A BTC order of `contracts` at `price` (tick 1, lot 0.0001).
fn order(
    maker: Address,
    buy: bool,
    price: u64,
    contracts: Decimal,
    post_only: bool,
    mmp: bool,
) -> NewOrder {
    NewOrder {
        maker,
        inst: BTC,
        buy,
        price: Ticks(price),
        lots: u64::try_from((contracts * dec!(10000)).mantissa()).unwrap()
            / 10u64.pow((contracts * dec!(10000)).scale()),
        post_only,
        mmp,
        deadline: 0,
        signature: String::new(),
    }
}

#[test]
fn positions_net_with_average_price_and_realised_pnl() {
    let mut p = Position::default();
    assert_eq!(trade(&mut p, 10, dec!(1), dec!(100)), dec!(0));
    assert_eq!(trade(&mut p, 30, dec!(3), dec!(104)), dec!(0));
    assert_eq!(p.avg, dec!(103), "(1·100 + 3·104) / 4");
    // Sell 2 of 4 at 110: +14 realised, the average stays.
    assert_eq!(trade(&mut p, -20, dec!(2), dec!(110)), dec!(14));
    assert_eq!((p.lots, p.avg), (20, dec!(103)));
    // Sell 5: closes 2 (+2·(100−103) = −6) and opens a short of 3 at 100.
    assert_eq!(trade(&mut p, -50, dec!(5), dec!(100)), dec!(-6));
    assert_eq!((p.lots, p.avg), (-30, dec!(100)));
}

#[test]
fn a_fill_moves_both_parties_with_fees_as_usdc_amounts() {
    let mut c = core(dec!(1000000));
    c.place_limit(order(A, false, 100_000, dec!(0.5), true, false))
        .unwrap();
    let v = c
        .place_limit(order(B, true, 100_000, dec!(0.2), false, false))
        .unwrap();
    assert_eq!(v["order_state"], "filled");
    let (a, b) = (c.truth(A), c.truth(B));
    assert_eq!(a.position("BTC_USDC-PERPETUAL"), dec!(-0.2));
    assert_eq!(b.position("BTC_USDC-PERPETUAL"), dec!(0.2));
    // Notional 20,000: maker 0 + systemic 0.25 bp = 0.5; taker 8 bp + 0.25 bp = 16.5.
    assert_eq!(a.fees_paid, dec!(0.5));
    assert_eq!(b.fees_paid, dec!(16.5));
    assert_eq!(b.account("BTC_USDC").unwrap().collateral, dec!(999983.5));
    assert_eq!(a.open_orders[0].remaining, dec!(0.3));
}

#[test]
fn an_order_beyond_equity_is_refused_insufficient_margin_and_leaves_nothing() {
    let mut c = core(dec!(1000));
    // IM 10 %: 0.2 BTC bid at 90,000 needs 1,800 > 1,000; 0.1 needs 900, and 0.0112 more
    // (+100.8) passes 1,000.
    let r = c.place_limit(order(A, true, 90_000, dec!(0.2), true, false));
    assert_eq!(r.unwrap_err().code, "INSUFFICIENT_MARGIN");
    assert!(c.truth(A).open_orders.is_empty());
    c.place_limit(order(A, true, 90_000, dec!(0.1), true, false))
        .unwrap();
    let r = c.place_limit(order(A, true, 90_000, dec!(0.0112), true, false));
    assert_eq!(r.unwrap_err().code, "INSUFFICIENT_MARGIN");
    assert_eq!(c.truth(A).open_orders.len(), 1);
}

#[test]
fn funding_is_paid_by_the_long_to_the_short_when_the_book_is_rich() {
    let mut c = core(dec!(1000000));
    // A long 1 BTC, B short 1 BTC at 100,000 (the index).
    c.place_limit(order(B, false, 100_000, dec!(1), true, false))
        .unwrap();
    c.place_limit(order(A, true, 100_000, dec!(1), false, false))
        .unwrap();
    // The book trades 1 % over the index: bid 101,000 / ask 101,100 (spread < 1 % of index).
    c.place_limit(order(A, true, 101_000, dec!(0.01), true, false))
        .unwrap();
    c.place_limit(order(B, false, 101_100, dec!(0.01), true, false))
        .unwrap();
    let before = (c.truth(A).funding_paid, c.truth(B).funding_paid);
    assert_eq!(before, (dec!(0), dec!(0)));
    c.tick(Timestamp::from_secs(T0 + 3600), true);
    // premium 0.0105 → −0.0005 dead zone → clamp 0.005 → /8 = 0.000625 per hour.
    assert_eq!(c.instruments[BTC].funding_rate, dec!(0.000625));
    assert_eq!(
        c.truth(A).funding_paid,
        dec!(62.5),
        "1 BTC × 100,000 × 0.000625"
    );
    assert_eq!(c.truth(B).funding_paid, dec!(-62.5));
    let funding: Vec<_> = c.events.iter().filter(|e| e.channel == "funding").collect();
    assert_eq!(funding.len(), 2, "one per instrument");
}

#[test]
fn mmp_cancels_only_mmp_orders_and_freezes_them() {
    let mut c = core(dec!(1000000));
    let cfg = MmpConfig {
        active: true,
        interval: 60,
        frozen_time: 30,
        quantity_limit: dec!(0),
        delta_limit: dec!(0.1),
        vega_limit: dec!(0),
    };
    c.mmp_configure(A, "BTC_USDC", cfg);
    c.place_limit(order(A, true, 99_000, dec!(0.1), true, true))
        .unwrap();
    c.place_limit(order(A, true, 98_000, dec!(0.1), true, true))
        .unwrap();
    c.place_limit(order(A, true, 97_000, dec!(0.1), true, false))
        .unwrap();
    c.place_limit(order(A, false, 101_000, dec!(0.1), true, true))
        .unwrap();
    c.events.clear();
    // B sells 0.1 into A's best (mmp) bid: |delta| reaches the limit.
    c.place_limit(order(B, false, 99_000, dec!(0.1), false, false))
        .unwrap();
    let left = c.truth(A).open_orders;
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(!left[0].mmp);
    assert!(c.events.iter().any(|e| e.kind == "mmp_triggered"));
    let cancels = c
        .events
        .iter()
        .filter(|e| e.kind == "cancel_order" && e.channel == "orderbook_maker");
    assert!(cancels.clone().count() == 2 && cancels.clone().all(|e| e.data[0]["mmp"] == true));
    // Frozen: mmp orders refused, others accepted; after 30 s mmp orders go again.
    let r = c.place_limit(order(A, true, 96_000, dec!(0.1), true, true));
    assert_eq!(r.unwrap_err().code, "MMP_FROZEN");
    c.place_limit(order(A, true, 96_000, dec!(0.1), true, false))
        .unwrap();
    c.now = Timestamp::from_secs(T0 + 31);
    c.place_limit(order(A, true, 95_000, dec!(0.1), true, true))
        .unwrap();
}

#[test]
fn an_expired_heartbeat_cancels_every_order_and_zero_disarms() {
    let mut c = core(dec!(1000000));
    c.place_limit(order(A, true, 99_000, dec!(0.1), true, false))
        .unwrap();
    c.place_limit(order(A, false, 101_000, dec!(0.1), true, true))
        .unwrap();
    c.heartbeat(A, 5);
    c.tick(Timestamp::from_secs(T0 + 4), false);
    assert_eq!(c.truth(A).open_orders.len(), 2);
    c.tick(Timestamp::from_secs(T0 + 5), false);
    assert!(c.truth(A).open_orders.is_empty());
    c.place_limit(order(A, true, 99_000, dec!(0.1), true, false))
        .unwrap();
    c.heartbeat(A, 5);
    c.heartbeat(A, 0);
    c.tick(Timestamp::from_secs(T0 + 100), false);
    assert_eq!(c.truth(A).open_orders.len(), 1);
}

#[test]
fn equity_below_maintenance_liquidates_the_pair_account() {
    let mut c = core(dec!(1000));
    c.maker(B);
    if let Some(a) = c
        .makers
        .get_mut(&B)
        .and_then(|m| m.accounts.get_mut("BTC_USDC"))
    {
        a.collateral = dec!(1000000);
    }
    c.place_limit(order(B, false, 100_000, dec!(0.05), true, false))
        .unwrap();
    c.place_limit(order(A, true, 100_000, dec!(0.05), false, false))
        .unwrap();
    c.place_limit(order(B, true, 80_000, dec!(1), true, false))
        .unwrap();
    c.events.clear();
    // Index 100,000 → 81,000: A's equity ≈ 1000 − 2.5 fees... − 950 < MM.
    c.instruments[BTC].index = dec!(81000);
    c.tick(Timestamp::from_secs(T0 + 1), false);
    assert_eq!(c.truth(A).position("BTC_USDC-PERPETUAL"), dec!(0));
    assert!(c.events.iter().any(|e| e.kind == "account_liquidation"));
    assert!(
        c.events
            .iter()
            .any(|e| e.kind == "trade" && e.data["liquidation"] == true)
    );
}

#[test]
fn the_mmp_config_type_hash_is_the_reference_vector() {
    // [C] keccak256 of D's nine-field type string (reference §3.3).
    let m = MMPConfigUpdate {
        smartAccountAddress: A,
        pairSymbol: "BTC_USDC".into(),
        status: "active".into(),
        interval: U256::from(60),
        frozenTime: U256::from(30),
        quantityLimit: U256::ZERO,
        deltaLimit: U256::from(100_000),
        vegaLimit: U256::ZERO,
        deadline: U256::from(T0),
    };
    assert_eq!(
        format!("{:#x}", m.eip712_type_hash()),
        "0x274bac0d63ad2fce9a78130ddc233fa1e4480a51c4fb35a89c0f76d3f279dc8f"
    );
}

#[test]
fn an_account_over_its_initial_margin_can_still_close() {
    let mut c = core(dec!(1000));
    c.maker(B);
    if let Some(a) = c
        .makers
        .get_mut(&B)
        .and_then(|m| m.accounts.get_mut("BTC_USDC"))
    {
        a.collateral = dec!(1000000);
    }
    // A uses all its margin (IM 1,000 = equity), then the taker fee leaves it below IM.
    c.place_limit(order(B, false, 100_000, dec!(0.1), true, false))
        .unwrap();
    c.place_limit(order(A, true, 100_000, dec!(0.1), false, false))
        .unwrap();
    assert!(c.margin(A, "BTC_USDC").im > c.margin(A, "BTC_USDC").equity);
    // Flipping to a larger short grows the position: refused. Closing it: accepted.
    let r = c.place_limit(order(A, false, 100_500, dec!(0.3), true, false));
    assert_eq!(r.unwrap_err().code, "INSUFFICIENT_MARGIN");
    c.place_limit(order(A, false, 100_500, dec!(0.1), true, false))
        .unwrap();
}

#[test]
fn market_orders_are_ioc_by_default_and_fok_by_config() {
    let mut c = core(dec!(1000000));
    c.place_limit(order(A, false, 100_000, dec!(0.1), true, false))
        .unwrap();
    c.place_limit(order(A, false, 100_200, dec!(0.1), true, false))
        .unwrap();
    // IOC within 100,100: 0.1 fills, the other 0.2 is dropped (nothing rests for B).
    let out = c.place_market(B, BTC, true, 3_000, Ticks(100_100)).unwrap();
    assert_eq!(out.filled, 1_000);
    assert!(c.truth(B).open_orders.is_empty());
    assert_eq!(c.truth(B).position("BTC_USDC-PERPETUAL"), dec!(0.1));
    // FOK: all or nothing.
    c.cfg.market_fok = true;
    let r = c.place_market(B, BTC, true, 2_000, Ticks(100_300));
    assert_eq!(r.unwrap_err().code, "INSUFFICIENT_LIQUIDITY");
    assert_eq!(c.truth(B).position("BTC_USDC-PERPETUAL"), dec!(0.1));
    assert_eq!(
        c.truth(A).open_orders.len(),
        1,
        "the refused FOK took nothing"
    );
    c.place_market(B, BTC, true, 1_000, Ticks(100_300)).unwrap();
    assert_eq!(c.truth(B).position("BTC_USDC-PERPETUAL"), dec!(0.2));
}
