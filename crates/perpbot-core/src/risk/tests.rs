use super::*;
use perpbot_model::{
    BookUpdate, BookUpdateKind, Event, Level, MarketSpec, NewOrder, OrderEvent, Position,
    PositionUpdate, Ticks,
};
use rust_decimal_macros::dec;

const M: MarketId = MarketId(1338);

/// APT book around 5.520 (bid 5.518, ask 5.522), fresh at t = 1 s.
fn state() -> State {
    let mut s = State::new(&[MarketSpec::kana_apt_testnet()]);
    s.set_now(Timestamp::from_secs(1));
    s.apply(&Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(5518, 10_000)],
        asks: vec![Level::new(5522, 10_000)],
        ts: Timestamp::from_secs(1),
    }));
    s
}

fn bid(id: u64, lots: u64, price: u64) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId(id),
        order: NewOrder::limit(M, Side::Buy, Lots(lots), Ticks(price)),
    }
}

fn check_place(r: &mut RiskEngine, s: &State, req: OrderRequest) -> Result<(), RejectReason> {
    let d = r.check(Intent::Place(req), s);
    match d.refused.first() {
        Some(rej) => Err(rej.reason),
        None => Ok(()),
    }
}

fn engine() -> RiskEngine {
    RiskEngine::new(RiskConfig::default())
}

#[test]
fn a_sane_order_is_approved() {
    let d = engine().check(Intent::Place(bid(1, 1000, 5518)), &state());
    assert!(d.refused.is_empty(), "{:?}", d.refused);
    assert!(matches!(
        d.approved.map(Approved::into_intent),
        Some(Intent::Place(_))
    ));
}

#[test]
fn grid_and_market_bounds() {
    let (mut r, s) = (engine(), state());
    assert_eq!(
        check_place(&mut r, &s, bid(1, 499, 5518)),
        Err(RejectReason::InvalidOrder)
    );
    let mut lev = bid(2, 1000, 5518);
    lev.order.leverage = 21;
    assert_eq!(
        check_place(&mut r, &s, lev.clone()),
        Err(RejectReason::Leverage)
    );
    lev.order.leverage = 11; // market allows 20, config 10
    assert_eq!(check_place(&mut r, &s, lev), Err(RejectReason::Leverage));
    let mut unknown = bid(3, 1000, 5518);
    unknown.order.market = MarketId(9);
    assert_eq!(
        check_place(&mut r, &s, unknown),
        Err(RejectReason::UnknownMarket)
    );
}

#[test]
fn order_size_and_notional() {
    let mut cfg = RiskConfig {
        max_order_notional: dec!(50),
        ..RiskConfig::default()
    };
    cfg.markets.insert(
        "1338".into(),
        MarketLimits {
            max_order_size: Some(dec!(5)),
            max_position_size: None,
        },
    );
    let (mut r, s) = (RiskEngine::new(cfg), state());
    // 6 APT > max_order_size 5.
    assert_eq!(
        check_place(&mut r, &s, bid(1, 6000, 5518)),
        Err(RejectReason::OrderSize)
    );
    // 5 APT at 5.518 = 27.59 ≤ 50: fine. 9.1 APT would be 50.2 > 50 but is above size first;
    r.config.markets.clear();
    assert_eq!(check_place(&mut r, &s, bid(2, 5000, 5518)), Ok(()));
    assert_eq!(
        check_place(&mut r, &s, bid(3, 9100, 5518)),
        Err(RejectReason::OrderSize)
    );
}

#[test]
fn price_band_refuses_fat_fingers() {
    let (mut r, s) = (engine(), state());
    // Mid 5.520; 5 % band → [5.244, 5.796].
    assert_eq!(check_place(&mut r, &s, bid(1, 1000, 5244)), Ok(()));
    assert_eq!(
        check_place(&mut r, &s, bid(2, 1000, 5243)),
        Err(RejectReason::PriceBand)
    );
    let mut ask = bid(3, 1000, 5797);
    ask.order.side = Side::Sell;
    assert_eq!(check_place(&mut r, &s, ask), Err(RejectReason::PriceBand));
}

#[test]
fn stale_crossed_or_missing_book_refuses_new_orders() {
    let mut r = engine();
    let mut s = state();
    s.set_now(Timestamp::from_secs(7)); // 6 s old > 5 s
    assert_eq!(
        check_place(&mut r, &s, bid(1, 1000, 5518)),
        Err(RejectReason::StaleBook)
    );
    let mut s = state();
    s.apply(&Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Delta,
        bids: vec![Level::new(5530, 1)],
        asks: vec![],
        ts: Timestamp::from_secs(1),
    }));
    assert_eq!(
        check_place(&mut r, &s, bid(2, 1000, 5518)),
        Err(RejectReason::StaleBook)
    );
    let empty = State::new(&[MarketSpec::kana_apt_testnet()]);
    assert_eq!(
        check_place(&mut r, &empty, bid(3, 1000, 5518)),
        Err(RejectReason::StaleBook)
    );
}

#[test]
fn max_open_orders_counts_live_orders() {
    let mut r = RiskEngine::new(RiskConfig {
        max_open_orders: 2,
        ..RiskConfig::default()
    });
    let mut s = state();
    s.track_new_order(bid(1, 1000, 5518));
    s.track_new_order(bid(2, 1000, 5517));
    assert_eq!(
        check_place(&mut r, &s, bid(3, 1000, 5516)),
        Err(RejectReason::OpenOrders)
    );
    // A replace that cancels one makes room for one.
    let d = r.check(
        Intent::ReplaceQuotes {
            market: M,
            cancel: vec![ClientOrderId(1)],
            place: vec![bid(3, 1000, 5516), bid(4, 1000, 5515)],
        },
        &s,
    );
    let Some(Intent::ReplaceQuotes { place, cancel, .. }) = d.approved.map(Approved::into_intent)
    else {
        panic!()
    };
    assert_eq!(cancel, vec![ClientOrderId(1)]);
    assert_eq!(place.len(), 1, "second place would exceed the limit");
    assert_eq!(d.refused.len(), 1);
    assert_eq!(d.refused[0].reason, RejectReason::OpenOrders);
}

#[test]
fn position_limit_counts_resting_orders() {
    let mut cfg = RiskConfig::default();
    cfg.markets.insert(
        "1338".into(),
        MarketLimits {
            max_order_size: None,
            max_position_size: Some(dec!(3)),
        },
    );
    let mut r = RiskEngine::new(cfg);
    let mut s = state();
    let mut long = Position::flat(M, PositionSide::Long, Timestamp(1));
    long.lots = Lots(1000);
    long.entry_price = dec!(5.5);
    s.apply(&Event::Position(PositionUpdate {
        positions: vec![long],
        snapshot: true,
    }));
    s.track_new_order(bid(1, 1000, 5518));
    // 1 held + 1 resting + 1 new = 3 APT: allowed; one more lot is not.
    assert_eq!(check_place(&mut r, &s, bid(2, 1000, 5517)), Ok(()));
    assert_eq!(
        check_place(&mut r, &s, bid(3, 1001, 5517)),
        Err(RejectReason::PositionLimit)
    );
    // Total notional across markets.
    let mut r = RiskEngine::new(RiskConfig {
        max_total_notional: dec!(15),
        ..RiskConfig::default()
    });
    // position 1 APT @ mid 5.52 + resting 1 APT @ 5.518 = 11.038; +1 APT @ 5.517 = 16.555 > 15.
    assert_eq!(
        check_place(&mut r, &s, bid(4, 1000, 5517)),
        Err(RejectReason::PositionLimit)
    );
}

#[test]
fn closing_orders_cannot_exceed_the_position() {
    let (mut r, mut s) = (engine(), state());
    let mut short = Position::flat(M, PositionSide::Short, Timestamp(1));
    short.lots = Lots(2000);
    s.apply(&Event::Position(PositionUpdate {
        positions: vec![short],
        snapshot: true,
    }));
    let close = |id, lots| OrderRequest {
        client_id: ClientOrderId(id),
        order: NewOrder::limit(M, Side::Buy, Lots(lots), Ticks(5518)).closing(),
    };
    assert_eq!(check_place(&mut r, &s, close(1, 2000)), Ok(()));
    assert_eq!(
        check_place(&mut r, &s, close(1, 2001)),
        Err(RejectReason::PositionLimit)
    );
    s.track_new_order(close(1, 1500));
    assert_eq!(
        check_place(&mut r, &s, close(2, 501)),
        Err(RejectReason::PositionLimit)
    );
    assert_eq!(check_place(&mut r, &s, close(3, 500)), Ok(()));
}

#[test]
fn loss_limit_switches_to_reduce_only_then_drawdown_to_halt() {
    let cfg = RiskConfig {
        max_loss: Some(dec!(1)),
        on_loss_limit: LimitAction::ReduceOnly,
        ..RiskConfig::default()
    };
    let mut r = RiskEngine::new(cfg);
    let mut s = state();
    let mut long = Position::flat(M, PositionSide::Long, Timestamp(1));
    long.lots = Lots(1000);
    long.entry_price = dec!(6.52); // mid 5.52 → −1.00
    s.apply(&Event::Position(PositionUpdate {
        positions: vec![long],
        snapshot: true,
    }));
    let change = r.evaluate(&s).expect("limit trips");
    assert_eq!(
        (change.from, change.to),
        (TradingState::Active, TradingState::ReduceOnly)
    );
    assert!(change.reason.contains("max_loss"), "{}", change.reason);
    assert_eq!(r.evaluate(&s), None, "no repeated switch");
    assert_eq!(
        check_place(&mut r, &s, bid(1, 1000, 5518)),
        Err(RejectReason::ReduceOnly)
    );
    let mut close = bid(2, 1000, 5522);
    close.order.side = Side::Sell;
    close.order.direction = Direction::Close;
    assert_eq!(
        check_place(&mut r, &s, close),
        Ok(()),
        "reducing orders still pass"
    );

    let mut r = RiskEngine::new(RiskConfig {
        max_drawdown: Some(dec!(0.5)),
        ..RiskConfig::default()
    });
    let mut s = state();
    let mut long = Position::flat(M, PositionSide::Long, Timestamp(1));
    long.lots = Lots(1000);
    long.entry_price = dec!(5.0); // +0.52
    s.apply(&Event::Position(PositionUpdate {
        positions: vec![long.clone()],
        snapshot: true,
    }));
    assert_eq!(r.evaluate(&s), None);
    long.entry_price = dec!(5.6); // −0.08: drawdown 0.60 from the 0.52 peak
    s.apply(&Event::Position(PositionUpdate {
        positions: vec![long],
        snapshot: true,
    }));
    assert_eq!(r.evaluate(&s).map(|c| c.to), Some(TradingState::Halted));
}

#[test]
fn kill_switch_halts_but_cancels_still_pass() {
    let (mut r, mut s) = (engine(), state());
    s.track_new_order(bid(1, 1000, 5518));
    let change = r.kill("operator").unwrap();
    assert_eq!(change.to, TradingState::Halted);
    assert!(r.is_killed());
    assert_eq!(
        check_place(&mut r, &s, bid(2, 1000, 5518)),
        Err(RejectReason::Halted)
    );
    let d = r.check(
        Intent::Cancel {
            market: M,
            client_id: ClientOrderId(1),
        },
        &s,
    );
    assert!(d.approved.is_some());
    let d = r.check(Intent::CancelAll { market: None }, &s);
    assert!(d.approved.is_some());
    let d = r.check(
        Intent::Cancel {
            market: M,
            client_id: ClientOrderId(42),
        },
        &s,
    );
    assert_eq!(d.refused[0].reason, RejectReason::UnknownOrder);
    // Limits never loosen by themselves.
    assert_eq!(r.switch(TradingState::Active, "x".into()), None);
}

#[test]
fn fee_budget_is_a_trailing_hour() {
    let mut r = RiskEngine::new(RiskConfig {
        fee_budget_per_hour: dec!(1),
        ..RiskConfig::default()
    });
    let mut s = state();
    r.record_cost(Timestamp::from_secs(1), dec!(0.6));
    r.record_cost(Timestamp::from_secs(2), dec!(0.4));
    assert_eq!(
        check_place(&mut r, &s, bid(1, 1000, 5518)),
        Err(RejectReason::FeeBudget)
    );
    s.set_now(Timestamp::from_secs(3601)); // the first cost left the window
    s.apply(&Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(5518, 10)],
        asks: vec![Level::new(5522, 10)],
        ts: Timestamp::from_secs(3601),
    }));
    assert_eq!(check_place(&mut r, &s, bid(2, 1000, 5518)), Ok(()));
    assert_eq!(r.cost_last_hour(Timestamp::from_secs(3601)), dec!(0.4));
}

#[test]
fn gas_budget_is_a_trailing_hour_in_the_chain_coin() {
    let mut r = RiskEngine::new(RiskConfig {
        gas_budget_per_hour: Some(dec!(0.5)),
        ..RiskConfig::default()
    });
    let mut s = state();
    assert_eq!(check_place(&mut r, &s, bid(1, 1000, 5518)), Ok(()));
    r.record_gas(Timestamp::from_secs(1), dec!(0.3));
    r.record_gas(Timestamp::from_secs(2), dec!(0.2));
    assert_eq!(
        check_place(&mut r, &s, bid(2, 1000, 5518)),
        Err(RejectReason::FeeBudget)
    );
    s.set_now(Timestamp::from_secs(3601));
    s.apply(&Event::Book(BookUpdate {
        market: M,
        kind: BookUpdateKind::Snapshot,
        bids: vec![Level::new(5518, 10)],
        asks: vec![Level::new(5522, 10)],
        ts: Timestamp::from_secs(3601),
    }));
    assert_eq!(check_place(&mut r, &s, bid(3, 1000, 5518)), Ok(()));
    assert_eq!(r.gas_last_hour(Timestamp::from_secs(3601)), dec!(0.2));
    let bad = RiskConfig {
        gas_budget_per_hour: Some(dec!(0)),
        ..RiskConfig::default()
    };
    assert!(
        bad.validate(&[M])
            .unwrap_err()
            .contains("gas_budget_per_hour")
    );
}

#[test]
fn position_intents_need_a_position() {
    let (mut r, mut s) = (engine(), state());
    let tp = Intent::UpdateTakeProfit {
        market: M,
        position: PositionSide::Long,
        price: Some(Ticks(6000)),
    };
    assert_eq!(
        r.check(tp.clone(), &s).refused[0].reason,
        RejectReason::InvalidOrder
    );
    let mut long = Position::flat(M, PositionSide::Long, Timestamp(1));
    long.lots = Lots(1000);
    s.apply(&Event::Position(PositionUpdate {
        positions: vec![long],
        snapshot: true,
    }));
    assert!(r.check(tp, &s).approved.is_some());
    let _ = OrderEvent::Cancelled;
}

#[test]
fn config_validation_names_the_key() {
    let cfg = RiskConfig {
        price_band_bps: 0,
        ..RiskConfig::default()
    };
    assert!(
        cfg.validate(&[M])
            .unwrap_err()
            .contains("risk.price_band_bps")
    );
    let mut cfg = RiskConfig::default();
    cfg.markets.insert("77".into(), MarketLimits::default());
    assert!(cfg.validate(&[M]).unwrap_err().contains("risk.markets.77"));
    let err = toml::from_str::<RiskConfig>("max_leverge = 3")
        .unwrap_err()
        .to_string();
    assert!(err.contains("max_leverge"), "{err}");
    let cfg: RiskConfig = toml::from_str("max_leverage = 3").unwrap();
    assert!(cfg.validate(&[M]).is_ok());
}

fn balance(s: &mut State, available: Decimal, at_ms: u64) {
    s.apply(&Event::Balance(perpbot_model::Balance {
        available,
        total: available,
        ts: Timestamp(at_ms * 1_000_000),
    }));
}

fn replace(cancel: &[u64], place: OrderRequest) -> Intent {
    Intent::ReplaceQuotes {
        market: M,
        cancel: cancel.iter().map(|&c| ClientOrderId(c)).collect(),
        place: vec![place],
    }
}

fn refused(r: &mut RiskEngine, s: &State, intent: Intent) -> Option<RejectReason> {
    r.check(intent, s).refused.first().map(|rej| rej.reason)
}

#[test]
fn an_order_whose_margin_exceeds_the_collateral_is_refused_with_its_own_reason() {
    let (mut r, mut s) = (engine(), state());
    // Nothing known of the collateral yet: nothing to check against.
    assert_eq!(check_place(&mut r, &s, bid(1, 2000, 5518)), Ok(()));
    s.set_now(Timestamp::from_secs(2));
    balance(&mut s, dec!(10), 2_000);
    // 1 APT at 5.518, leverage 1: 5.518 of margin fits in 10; 2 APT (11.036) does not, unless
    // at leverage 2.
    assert_eq!(check_place(&mut r, &s, bid(1, 1000, 5518)), Ok(()));
    let d = r.check(Intent::Place(bid(2, 2000, 5518)), &s);
    let rej = d.refused.first().expect("refused");
    assert_eq!(rej.reason, RejectReason::InsufficientMargin);
    assert!(
        rej.detail.contains("11.036") && rej.detail.contains("10"),
        "{}",
        rej.detail
    );
    let mut levered = bid(3, 2000, 5518);
    levered.order.leverage = 2;
    assert_eq!(check_place(&mut r, &s, levered), Ok(()));
    // A close needs no margin.
    let mut close = bid(4, 5000, 5518);
    close.order.direction = Direction::Close;
    assert_ne!(
        check_place(&mut r, &s, close),
        Err(RejectReason::InsufficientMargin)
    );
}

#[test]
fn orders_the_venue_has_not_counted_yet_reserve_margin_and_cancels_free_it() {
    let (mut r, mut s) = (engine(), state());
    // Order 1 rests before the balance report: the venue's 6 available already excludes it.
    s.track_new_order(bid(1, 1000, 5518));
    s.set_now(Timestamp::from_secs(2));
    balance(&mut s, dec!(6), 2_000);
    assert_eq!(check_place(&mut r, &s, bid(2, 1000, 5518)), Ok(()));
    // Order 2 is placed after it: its 5.518 is not in the figure yet, so one more does not fit.
    s.set_now(Timestamp::from_secs(3));
    s.track_new_order(bid(2, 1000, 5518));
    assert_eq!(
        check_place(&mut r, &s, bid(3, 1000, 5518)),
        Err(RejectReason::InsufficientMargin)
    );
    // Replacing order 2 frees what it reserved.
    assert_eq!(refused(&mut r, &s, replace(&[2], bid(3, 1000, 5518))), None);
    // Replacing order 1 frees its margin in the venue's own figure: 2 APT fit only then.
    assert_eq!(
        refused(&mut r, &s, replace(&[], bid(4, 1000, 5518))),
        Some(RejectReason::InsufficientMargin)
    );
    assert_eq!(
        refused(&mut r, &s, replace(&[1, 2], bid(4, 2000, 5518))),
        None
    );
    // A fresh report that counts everything resets the reckoning.
    balance(&mut s, dec!(0.5), 3_000);
    assert_eq!(
        check_place(&mut r, &s, bid(5, 1000, 5518)),
        Err(RejectReason::InsufficientMargin)
    );
}

#[test]
fn per_market_limits_are_found_by_the_id_in_decimal_and_only_by_it() {
    let mut markets = BTreeMap::new();
    for key in ["0", "7", "1338", "18446744073709551615", "007"] {
        markets.insert(key.to_string(), MarketLimits::default());
    }
    for id in [0u64, 7, 1338, u64::MAX] {
        assert!(
            super::market_limits(&markets, MarketId(id)).is_some(),
            "{id}"
        );
    }
    for id in [1u64, 70, 1337, u64::MAX - 1] {
        assert!(
            super::market_limits(&markets, MarketId(id)).is_none(),
            "{id}"
        );
    }
    assert!(super::market_limits(&BTreeMap::new(), MarketId(7)).is_none());
}

/// The total exposure summed in integers (10⁻¹⁸ units) equals the sum of each position's and order's own
/// decimal notional (the way it was computed before), over seeded states: two markets of
/// different grids, mids on half ticks, a market without a book (positions at entry), closing
/// orders (not counted), and a replace's cancels and additions.
#[test]
fn total_exposure_in_integers_equals_the_decimal_sum() {
    let apt = MarketSpec::kana_apt_testnet();
    let other = crate::test_support::btc_like(MarketId(7));
    let bookless = MarketSpec {
        id: MarketId(9),
        name: "NOBOOK".into(),
        ..apt.clone()
    };
    let specs = [apt, other, bookless];
    let mut next = crate::test_support::below(0x9E37_79B9_7F4A_7C15u64);
    for _ in 0..300 {
        let mut s = State::new(&specs);
        s.set_now(Timestamp::from_secs(1));
        for spec in specs.iter().take(2) {
            s.apply(&crate::test_support::seeded_top_of_book(spec.id, &mut next));
        }
        let mut positions = Vec::new();
        for spec in &specs {
            for side in [PositionSide::Long, PositionSide::Short] {
                if next(2) == 0 {
                    let mut p = Position::flat(spec.id, side, Timestamp(1));
                    p.lots = Lots(1 + next(1_000_000));
                    p.entry_price = Decimal::new(1 + next(10_000_000) as i64, 4);
                    positions.push(p);
                }
            }
        }
        s.apply(&Event::Position(PositionUpdate {
            positions,
            snapshot: true,
        }));
        let mut ids = Vec::new();
        for i in 0..next(6) {
            let spec = &specs[next(3) as usize];
            let side = if next(2) == 0 { Side::Buy } else { Side::Sell };
            let mut order = NewOrder::limit(
                spec.id,
                side,
                Lots(1 + next(100_000)),
                Ticks(1 + next(9_000)),
            );
            if next(4) == 0 {
                order = order.closing();
            }
            let id = ClientOrderId(100 + i);
            s.track_new_order(OrderRequest {
                client_id: id,
                order,
            });
            ids.push(id);
        }
        let cancelled: Vec<ClientOrderId> = ids.iter().copied().filter(|_| next(3) == 0).collect();
        let added: Vec<OrderRequest> = (0..next(3))
            .map(|i| OrderRequest {
                client_id: ClientOrderId(500 + i),
                order: NewOrder::limit(
                    specs[next(2) as usize].id,
                    Side::Sell,
                    Lots(1 + next(5_000)),
                    Ticks(1 + next(9_000)),
                ),
            })
            .collect();
        let scope = Scope {
            cancelled: &cancelled,
            added: &added,
        };
        let positions: Decimal = s
            .positions()
            .map(|p| {
                let spec = s.spec(p.market).expect("configured");
                let mid = s.mid_price(p.market).unwrap_or(p.entry_price);
                spec.notional_at(p.lots, mid)
            })
            .sum();
        let orders: Decimal = s
            .live_orders(None)
            .filter(|o| !cancelled.contains(&o.client_id()))
            .map(|o| (&o.request.order, o.remaining()))
            .chain(added.iter().map(|r| (&r.order, r.order.lots)))
            .filter(|(o, _)| o.direction == Direction::Open)
            .map(|(o, lots)| {
                s.spec(o.market)
                    .expect("configured")
                    .notional(lots, o.price.expect("limit"))
            })
            .sum();
        let want = positions + orders;
        let (market, side) = (specs[next(3) as usize].id, Side::Buy);
        let live = LiveTotals::of(&s, market, side, &scope);
        let got = engine().total_exposure(&s, &live);
        // The same pass sums the resting size on one market and side, by direction.
        let (mut opening, mut closing) = (0, 0);
        for (o, lots) in s
            .live_orders(None)
            .filter(|o| !cancelled.contains(&o.client_id()))
            .map(|o| (&o.request.order, o.remaining()))
            .chain(added.iter().map(|r| (&r.order, r.order.lots)))
            .filter(|(o, _)| o.market == market && o.side == side)
        {
            match o.direction {
                Direction::Open => opening += lots.0,
                Direction::Close => closing += lots.0,
            }
        }
        assert_eq!(
            (live.same_side.opening, live.same_side.closing),
            (opening, closing)
        );
        assert_eq!(crate::atto::to_decimal(got), want.normalize());
        assert_eq!(
            got,
            crate::atto::from_decimal(want, crate::atto::Round::Down)
        );
    }
}

/// With no loss or drawdown limit nothing trips, but the window still keeps the PnL's history
/// (the status shows it, the limits file saves it), as it does with limits.
#[test]
fn without_pnl_limits_the_window_still_keeps_the_history() {
    let mut r = engine();
    let mut s = state();
    let mut long = Position::flat(M, PositionSide::Long, Timestamp(1));
    long.lots = Lots(1000);
    for (entry, want_pnl, want_drawdown) in [
        (dec!(5.0), dec!(0.52), dec!(0)),
        (dec!(5.6), dec!(-0.08), dec!(0.60)),
        (dec!(5.3), dec!(0.22), dec!(0.30)),
    ] {
        long.entry_price = entry;
        s.apply(&Event::Position(PositionUpdate {
            positions: vec![long.clone()],
            snapshot: true,
        }));
        assert_eq!(r.evaluate(&s), None);
        assert_eq!(r.window_pnl_and_drawdown(), (want_pnl, want_drawdown));
    }
}

/// The integer comparisons are exact at the limits: an order whose notional or margin equals
/// the limit or the collateral passes, one tick more is refused; a margin that does not divide
/// by the leverage rounds up (refusing rather than under-counting).
#[test]
fn limits_and_margin_are_exact_at_the_boundary() {
    // 1 APT at 5.518 = 5.518 notional.
    let mut r = RiskEngine::new(RiskConfig {
        max_order_notional: dec!(5.518),
        ..RiskConfig::default()
    });
    let mut s = state();
    assert_eq!(check_place(&mut r, &s, bid(1, 1000, 5518)), Ok(()));
    assert_eq!(
        check_place(&mut r, &s, bid(2, 1000, 5519)),
        Err(RejectReason::OrderSize)
    );
    // A limit finer than the quote's sub-units: 5.5179999 is below 5.518.
    let mut r = RiskEngine::new(RiskConfig {
        max_order_notional: dec!(5.5179999),
        ..RiskConfig::default()
    });
    assert_eq!(
        check_place(&mut r, &s, bid(3, 1000, 5518)),
        Err(RejectReason::OrderSize)
    );

    let mut r = engine();
    s.set_now(Timestamp::from_secs(2));
    balance(&mut s, dec!(5.518), 2_000);
    assert_eq!(check_place(&mut r, &s, bid(4, 1000, 5518)), Ok(()));
    assert_eq!(
        check_place(&mut r, &s, bid(5, 1000, 5519)),
        Err(RejectReason::InsufficientMargin)
    );
    // 5.519 / 3 = 1.8396666…: rounded up it exceeds 1.839666666666666666 by a hair, and fits
    // 1.839666666666666667.
    let mut levered = bid(6, 1000, 5519);
    levered.order.leverage = 3;
    balance(&mut s, dec!(1.839666666666666666), 2_000);
    assert_eq!(
        check_place(&mut r, &s, levered.clone()),
        Err(RejectReason::InsufficientMargin)
    );
    balance(&mut s, dec!(1.839666666666666667), 2_000);
    assert_eq!(check_place(&mut r, &s, levered), Ok(()));
}

/// The loss and drawdown limits, compared as integers, trip exactly at their values: a loss
/// of `max_loss` trips and one a hair smaller does not; the same for the drawdown.
#[test]
fn loss_and_drawdown_limits_trip_exactly_at_their_values() {
    let mut long = Position::flat(M, PositionSide::Long, Timestamp(1));
    long.lots = Lots(1000);
    let evaluate_at = |r: &mut RiskEngine, entry: Decimal| {
        let mut s = state();
        let mut p = long.clone();
        p.entry_price = entry;
        s.apply(&Event::Position(PositionUpdate {
            positions: vec![p],
            snapshot: true,
        }));
        r.evaluate(&s)
    };
    // The state's mid is 5.52: an entry of 6.04 is a loss of 0.52.
    let loss = |max_loss| {
        RiskEngine::new(RiskConfig {
            max_loss: Some(max_loss),
            ..RiskConfig::default()
        })
    };
    assert_eq!(evaluate_at(&mut loss(dec!(0.52)), dec!(6.039999)), None);
    let change = evaluate_at(&mut loss(dec!(0.52)), dec!(6.04)).expect("trips at the limit");
    assert!(
        change.reason.contains("loss 0.52 reached"),
        "{}",
        change.reason
    );

    // A peak of +0.52 (entry 5.00), then a fall of 0.30 to +0.22 (entry 5.30).
    let drawdown = || {
        RiskEngine::new(RiskConfig {
            max_drawdown: Some(dec!(0.30)),
            ..RiskConfig::default()
        })
    };
    let mut r = drawdown();
    assert_eq!(evaluate_at(&mut r, dec!(5.00)), None);
    assert_eq!(evaluate_at(&mut r, dec!(5.299999)), None);
    let change = evaluate_at(&mut r, dec!(5.30)).expect("trips at the limit");
    assert!(
        change.reason.contains("drawdown 0.3 reached"),
        "{}",
        change.reason
    );
}
