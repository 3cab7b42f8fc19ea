//! Tests of the paper venue: matching and accounting on [`PaperExchange`] directly, then one run
//! through `connect()` and the writer.

use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal_macros::dec;

use super::*;
use crate::venue::CancelOrder;
use perpbot_model::{
    BookUpdateKind, ClientOrderId, ConnectionState, Fill, Level, Liquidity, Lots, NewOrder,
    OrderRequest, OrderUpdateKind, Position, PositionSide, Side, Ticks, Timestamp, VenueOrderId,
};

const M: MarketId = MarketId(1338);
const T0: Timestamp = Timestamp(1_700_000_000_000_000_000);

fn spec() -> MarketSpec {
    MarketSpec::kana_apt_testnet()
}

fn snapshot(bids: &[(u64, u64)], asks: &[(u64, u64)]) -> SourceEvent {
    let levels = |v: &[(u64, u64)]| v.iter().map(|&(p, l)| Level::new(p, l)).collect();
    SourceEvent::snapshot(M, levels(bids), levels(asks))
}

fn trade(price: u64, lots: u64, aggressor: Side) -> SourceEvent {
    SourceEvent::Trade {
        market: M,
        price: Ticks(price),
        lots: Lots(lots),
        aggressor,
    }
}

/// Bids 5000×1000, 4999×2000; asks 5001×1000, 5002×1000 (1 lot = 0.001 APT, 1 tick = 0.001 USDT).
fn exchange() -> PaperExchange {
    exchange_configured(&PaperConfig::default())
}

fn req(id: u64, order: NewOrder) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId(id),
        order,
    }
}

fn buy(lots: u64, price: u64) -> NewOrder {
    NewOrder::limit(M, Side::Buy, Lots(lots), Ticks(price))
}

fn sell(lots: u64, price: u64) -> NewOrder {
    NewOrder::limit(M, Side::Sell, Lots(lots), Ticks(price))
}

fn orders(
    ex: &mut PaperExchange,
    cancel: Vec<CancelOrder>,
    place: Vec<OrderRequest>,
) -> (RequestOutcome, Vec<Event>) {
    ex.execute(
        &VenueRequest::Orders {
            market: M,
            cancel,
            place,
        },
        T0,
    )
}

fn place(ex: &mut PaperExchange, place: Vec<OrderRequest>) -> Vec<Event> {
    let (outcome, events) = orders(ex, Vec::new(), place);
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    events
}

fn rejected(outcome: RequestOutcome) -> String {
    match outcome {
        RequestOutcome::Rejected { reason, .. } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

fn fills(events: &[Event]) -> Vec<&Fill> {
    events.iter().filter_map(Event::as_fill).collect()
}

fn position(ex: &PaperExchange, side: PositionSide) -> Option<Position> {
    ex.positions().into_iter().find(|p| p.side == side)
}

fn margins(ex: &PaperExchange) -> Decimal {
    ex.positions().iter().map(|p| p.margin).sum()
}

#[test]
fn crossing_limit_fills_at_book_prices_across_levels_with_taker_fee() {
    let mut ex = exchange();
    let (outcome, events) = orders(&mut ex, Vec::new(), vec![req(1, buy(1500, 5002))]);
    assert_eq!(
        outcome,
        RequestOutcome::Accepted {
            placed: vec![(ClientOrderId(1), Some(VenueOrderId(1)))],
        }
    );
    let f = fills(&events);
    assert_eq!(f.len(), 2);
    assert_eq!(
        (f[0].price, f[0].lots, f[0].fee),
        (Ticks(5001), Lots(1000), dec!(0.0025005))
    );
    assert_eq!(
        (f[1].price, f[1].lots, f[1].fee),
        (Ticks(5002), Lots(500), dec!(0.0012505))
    );
    assert!(
        f.iter()
            .all(|f| f.liquidity == Liquidity::Taker && f.client_id == Some(ClientOrderId(1)))
    );
    assert_eq!((f[0].trade_id.0, f[1].trade_id.0), (1, 2));
    // The book delta comes first and the consumed size is gone from the paper book.
    let Event::Book(delta) = &events[0] else {
        panic!("{:?}", events[0])
    };
    assert_eq!(delta.kind, BookUpdateKind::Delta);
    assert_eq!(delta.asks, vec![Level::new(5001, 0), Level::new(5002, 500)]);
    assert_eq!(ex.book(M).unwrap().best_ask(), Some(Level::new(5002, 500)));
    // Then positions, then balance: margin 7.502 at 1x, fees 0.003751.
    assert!(
        matches!(&events[events.len() - 2], Event::Position(u) if u.snapshot && u.positions.len() == 1)
    );
    let Some(Event::Balance(b)) = events.last() else {
        panic!("{events:?}")
    };
    assert_eq!(
        (b.available, b.total),
        (dec!(9992.494249), dec!(9999.996249))
    );
    let long = position(&ex, PositionSide::Long).unwrap();
    assert_eq!(
        (long.lots, long.margin, long.leverage),
        (Lots(1500), dec!(7.502), 1)
    );
    assert!(long.liquidation_price.is_some());
    assert_eq!(ex.resting_orders(), 0, "fully filled, nothing rests");
}

#[test]
fn remainder_of_a_crossing_limit_rests_and_reserves_margin() {
    let mut ex = exchange();
    place(&mut ex, vec![req(1, buy(1500, 5001))]);
    assert_eq!(ex.resting_orders(), 1);
    // 1000 filled at 5001 (margin 5.001, fee 0.0025005); 500 rest at 5001 (reserve 2.5005).
    assert_eq!(
        ex.available(),
        dec!(10000) - dec!(5.001) - dec!(0.0025005) - dec!(2.5005)
    );
    assert_eq!(ex.total(), dec!(10000) - dec!(0.0025005));
}

#[test]
fn post_only_that_crosses_rejects_the_whole_request() {
    let mut ex = exchange();
    place(&mut ex, vec![req(1, buy(500, 4998))]);
    let before = (ex.available(), ex.resting_orders());
    let cancel = CancelOrder {
        client_id: ClientOrderId(1),
        venue_id: None,
        market: M,
        side: Side::Buy,
        direction: perpbot_model::Direction::Open,
    };
    let (outcome, events) = orders(
        &mut ex,
        vec![cancel],
        vec![req(2, buy(500, 5001)), req(3, buy(500, 5001).post_only())],
    );
    let reason = rejected(outcome);
    assert!(
        reason.contains("c3") && reason.contains("E_POST_OR_ABORT_CROSSES_SPREAD (Econia 13)"),
        "{reason}"
    );
    assert!(events.is_empty());
    assert_eq!(
        (ex.available(), ex.resting_orders()),
        before,
        "cancel and first place undone"
    );
    assert_eq!(
        ex.book(M).unwrap().best_ask(),
        Some(Level::new(5001, 1000)),
        "no liquidity taken"
    );
    // No ids were used up by the refused request.
    let (outcome, _) = orders(&mut ex, Vec::new(), vec![req(4, buy(500, 4990))]);
    assert!(
        matches!(outcome, RequestOutcome::Accepted { placed, .. } if placed[0].1 == Some(VenueOrderId(2)))
    );
}

#[test]
fn resting_bid_fills_only_after_the_queue_ahead_has_traded() {
    let mut ex = exchange();
    place(&mut ex, vec![req(1, buy(1000, 5000).post_only())]);
    // 1000 lots of the book are ahead of us at 5000.
    let events = ex.on_source(&trade(5000, 600, Side::Sell), T0);
    assert!(fills(&events).is_empty(), "600 < 1000 ahead: {events:?}");
    let events = ex.on_source(&trade(5000, 700, Side::Sell), T0);
    let f = fills(&events);
    assert_eq!(f.len(), 1, "{events:?}");
    assert_eq!(
        (f[0].lots, f[0].price, f[0].liquidity, f[0].fee),
        (Lots(300), Ticks(5000), Liquidity::Maker, dec!(0))
    );
    assert_eq!(position(&ex, PositionSide::Long).unwrap().lots, Lots(300));
    assert_eq!(ex.resting_orders(), 1, "700 lots still rest");
    // A buy-aggressor trade at our price does not touch a bid.
    assert!(fills(&ex.on_source(&trade(5000, 5000, Side::Buy), T0)).is_empty());
}

/// The standard book on an exchange with queue model `queue`.
fn exchange_with(queue: super::QueueModel) -> PaperExchange {
    exchange_configured(&PaperConfig {
        queue,
        ..PaperConfig::default()
    })
}

/// An exchange with `config`, started, with a book of two levels a side around 5,000.
fn exchange_configured(config: &PaperConfig) -> PaperExchange {
    let mut ex = PaperExchange::new(config, vec![spec()]);
    ex.start(T0);
    ex.on_source(
        &snapshot(&[(5000, 1000), (4999, 2000)], &[(5001, 1000), (5002, 1000)]),
        T0,
    );
    ex
}

#[test]
fn trade_through_never_fills_at_our_own_price_only_through_it() {
    let mut ex = exchange_with(super::QueueModel::TradeThrough);
    place(&mut ex, vec![req(1, buy(1000, 5000).post_only())]);
    // Far more than the queue ahead trades at our price: still nothing.
    assert!(fills(&ex.on_source(&trade(5000, 5000, Side::Sell), T0)).is_empty());
    // A trade below our bid goes through it: filled in full, as maker.
    let events = ex.on_source(&trade(4999, 1, Side::Sell), T0);
    assert_eq!(fills(&events)[0].lots, Lots(1000));
}

#[test]
fn the_probabilistic_queue_advances_on_part_of_a_shrink_the_risk_averse_one_does_not() {
    let shrink = SourceEvent::Delta {
        market: M,
        side: Side::Buy,
        price: Ticks(5000),
        lots: Lots(1500),
    };
    let grow = SourceEvent::Delta {
        market: M,
        side: Side::Buy,
        price: Ticks(5000),
        lots: Lots(2000),
    };
    // 1000 ahead of us, then 1000 join behind, then 500 leave the level.
    let mut filled = Vec::new();
    for queue in [
        super::QueueModel::RiskAverse,
        super::QueueModel::Probabilistic { power: 2 },
    ] {
        let mut ex = exchange_with(queue);
        place(&mut ex, vec![req(1, buy(1000, 5000).post_only())]);
        ex.on_source(&grow, T0);
        ex.on_source(&shrink, T0);
        let events = ex.on_source(&trade(5000, 1000, Side::Sell), T0);
        filled.push(fills(&events).first().map_or(Lots(0), |f| f.lots));
    }
    // Risk-averse: the 500 left from behind, 1000 still ahead, the 1000-lot trade fills nothing.
    // Probabilistic (equal sides): half the shrink was ahead, so 250 of the trade reach us.
    assert_eq!(filled, vec![Lots(0), Lots(250)]);
}

#[test]
fn book_updates_lower_the_queue_ahead() {
    let mut ex = exchange();
    place(&mut ex, vec![req(1, buy(1000, 5000).post_only())]);
    ex.on_source(
        &SourceEvent::Delta {
            market: M,
            side: Side::Buy,
            price: Ticks(5000),
            lots: Lots(200),
        },
        T0,
    );
    // Only 200 ahead now; a trade of 500 fills 300.
    let events = ex.on_source(&trade(5000, 500, Side::Sell), T0);
    assert_eq!(fills(&events)[0].lots, Lots(300));
}

#[test]
fn trading_or_crossing_through_fills_fully_as_maker_without_fee() {
    let mut ex = exchange();
    place(
        &mut ex,
        vec![
            req(1, buy(1000, 4999).post_only()),
            req(2, sell(500, 5003).post_only()),
        ],
    );
    // A sell trade below our bid fills all of it, whatever the queue.
    let events = ex.on_source(&trade(4998, 1, Side::Sell), T0);
    let f = fills(&events);
    assert_eq!(
        (f.len(), f[0].lots, f[0].price, f[0].fee),
        (1, Lots(1000), Ticks(4999), dec!(0))
    );
    assert_eq!(f[0].liquidity, Liquidity::Maker);
    // The book's bids move up through our ask at 5003: filled at 5003.
    let events = ex.on_source(&snapshot(&[(5004, 100)], &[(5006, 100)]), T0);
    let f = fills(&events);
    assert_eq!(
        (f.len(), f[0].lots, f[0].price, f[0].side),
        (1, Lots(500), Ticks(5003), Side::Sell)
    );
    assert_eq!(ex.resting_orders(), 0);
    assert!(
        position(&ex, PositionSide::Long).is_some() && position(&ex, PositionSide::Short).is_some()
    );
}

#[test]
fn open_long_then_close_higher_realises_exact_pnl_and_releases_margin() {
    let mut ex = exchange();
    let open = NewOrder::market(M, Side::Buy, Lots(1000)).with_leverage(2);
    place(&mut ex, vec![req(1, open)]);
    let long = position(&ex, PositionSide::Long).unwrap();
    assert_eq!((long.entry_price, long.margin), (dec!(5.001), dec!(2.5005)));
    assert_eq!(ex.available() + margins(&ex), dec!(10000) - dec!(0.0025005));

    ex.on_source(&snapshot(&[(5101, 2000)], &[(5103, 2000)]), T0);
    let close = NewOrder::market(M, Side::Sell, Lots(1000))
        .closing()
        .with_leverage(2);
    let events = place(&mut ex, vec![req(2, close)]);
    let f = fills(&events);
    assert_eq!(
        (f[0].price, f[0].realized_pnl, f[0].fee),
        (Ticks(5101), dec!(0.1), dec!(0.0025505))
    );
    assert!(ex.positions().is_empty());
    assert!(
        matches!(&events[events.len() - 2], Event::Position(u) if u.positions.is_empty() && u.snapshot)
    );
    // starting + realised − fees, all free again.
    let expected = dec!(10000) + dec!(0.1) - dec!(0.0025005) - dec!(0.0025505);
    assert_eq!((ex.available(), ex.total()), (expected, expected));
}

#[test]
fn hedge_mode_keeps_a_long_and_a_short() {
    let mut ex = exchange();
    place(
        &mut ex,
        vec![
            req(
                1,
                NewOrder::market(M, Side::Buy, Lots(500)).with_leverage(2),
            ),
            req(
                2,
                NewOrder::market(M, Side::Sell, Lots(700)).with_leverage(5),
            ),
        ],
    );
    let long = position(&ex, PositionSide::Long).unwrap();
    let short = position(&ex, PositionSide::Short).unwrap();
    assert_eq!(
        (long.lots, long.leverage, short.lots, short.leverage),
        (Lots(500), 2, Lots(700), 5)
    );
    assert_eq!(short.entry_price, dec!(5.0));
    // Closing the short leaves the long alone.
    place(
        &mut ex,
        vec![req(
            3,
            NewOrder::market(M, Side::Buy, Lots(700))
                .closing()
                .with_leverage(5),
        )],
    );
    assert!(position(&ex, PositionSide::Short).is_none());
    assert_eq!(position(&ex, PositionSide::Long).unwrap().lots, Lots(500));
}

#[test]
fn leverage_must_match_the_position() {
    let mut ex = exchange();
    place(
        &mut ex,
        vec![req(
            1,
            NewOrder::market(M, Side::Buy, Lots(500)).with_leverage(2),
        )],
    );
    let (outcome, _) = orders(
        &mut ex,
        Vec::new(),
        vec![req(2, buy(500, 4990).with_leverage(3))],
    );
    let reason = rejected(outcome);
    assert!(
        reason.contains("c2") && reason.contains("Kana 1005"),
        "{reason}"
    );
    let (outcome, _) = orders(
        &mut ex,
        Vec::new(),
        vec![req(3, sell(500, 5010).closing().with_leverage(3))],
    );
    assert!(rejected(outcome).contains("Kana 1004"));
    let (outcome, _) = orders(
        &mut ex,
        Vec::new(),
        vec![req(4, buy(500, 4990).with_leverage(21))],
    );
    assert!(rejected(outcome).contains("E_INVALID_LEVERAGE (Kana 1006)"));
}

#[test]
fn size_depth_close_and_balance_rules() {
    let mut ex = exchange();
    let reason =
        |ex: &mut PaperExchange, o: NewOrder| rejected(orders(ex, Vec::new(), vec![req(9, o)]).0);
    assert!(reason(&mut ex, buy(499, 4990)).contains("E_SIZE_TOO_SMALL"));
    assert!(reason(&mut ex, buy(500, 0)).contains("E_PRICE_0"));
    assert!(reason(&mut ex, NewOrder::market(M, Side::Buy, Lots(2500))).contains("Kana 1007"));
    assert!(reason(&mut ex, buy(2500, 5002).fill_or_abort()).contains("E_MIN_BASE_NOT_TRADED"));
    assert!(
        reason(&mut ex, buy(500, 4000).fill_or_abort())
            .contains("E_FILL_OR_ABORT_NOT_CROSS_SPREAD")
    );
    assert!(reason(&mut ex, sell(500, 6000).closing()).contains("Kana 1011"));
    // 10000 USDT buys at most ~2000 APT at 1x: 3 000 000 lots at 5 is 15000 USDT.
    assert!(reason(&mut ex, buy(3_000_000, 4000)).contains("insufficient available balance"));
    assert!(
        reason(&mut ex, NewOrder::market(MarketId(7), Side::Buy, Lots(500))).contains("market 7")
    );

    // A close may not exceed the position minus resting closes.
    place(
        &mut ex,
        vec![req(1, NewOrder::market(M, Side::Buy, Lots(1500)))],
    );
    place(&mut ex, vec![req(2, sell(1000, 5010).closing())]);
    assert!(reason(&mut ex, sell(600, 5011).closing()).contains("Kana 1011"));
    place(&mut ex, vec![req(3, sell(500, 5011).closing())]);
    // Fill-or-abort that fits fills completely.
    place(&mut ex, vec![req(4, buy(500, 5002).fill_or_abort())]);
    // Self-match: a buy reaching our own resting ask is refused.
    assert!(reason(&mut ex, buy(500, 5010)).contains("E_SELF_MATCH"));
    // Duplicate client id.
    assert!(
        rejected(orders(&mut ex, Vec::new(), vec![req(2, buy(500, 4000))]).0)
            .contains("already rests")
    );
}

#[test]
fn cancel_emits_cancelled_and_releases_the_reserve() {
    let mut ex = exchange();
    place(&mut ex, vec![req(1, buy(1000, 4990).with_leverage(2))]);
    assert_eq!(ex.available(), dec!(10000) - dec!(2.495));
    let cancel = |id: u64| CancelOrder {
        client_id: ClientOrderId(id),
        venue_id: None,
        market: M,
        side: Side::Buy,
        direction: perpbot_model::Direction::Open,
    };
    let (outcome, events) = orders(&mut ex, vec![cancel(1)], Vec::new());
    assert_eq!(outcome, RequestOutcome::Accepted { placed: Vec::new() });
    let Event::Order(u) = &events[0] else {
        panic!("{events:?}")
    };
    assert_eq!(
        (u.client_id, u.venue_id, &u.kind),
        (
            Some(ClientOrderId(1)),
            Some(VenueOrderId(1)),
            &OrderUpdateKind::Cancelled
        )
    );
    assert!(matches!(events.last(), Some(Event::Balance(b)) if b.available == dec!(10000)));
    let reason = rejected(orders(&mut ex, vec![cancel(1)], Vec::new()).0);
    assert!(
        reason.contains("cancel c1") && reason.contains("Econia 22"),
        "{reason}"
    );
}

#[test]
fn take_profit_closes_the_position_at_market_when_the_mid_reaches_it() {
    let mut ex = exchange();
    place(
        &mut ex,
        vec![req(1, NewOrder::market(M, Side::Buy, Lots(1000)))],
    );
    let set = |price| VenueRequest::SetTakeProfit {
        market: M,
        position: PositionSide::Long,
        price,
    };
    assert!(matches!(
        ex.execute(&set(Some(Ticks(5050))), T0).0,
        RequestOutcome::Accepted { .. }
    ));
    assert_eq!(
        position(&ex, PositionSide::Long).unwrap().take_profit,
        Some(dec!(5.05))
    );
    // Mid 5049.5: not yet.
    assert!(fills(&ex.on_source(&snapshot(&[(5048, 5000)], &[(5051, 5000)]), T0)).is_empty());
    // Mid 5050: fires, closes at the bid as taker.
    let events = ex.on_source(&snapshot(&[(5049, 5000)], &[(5051, 5000)]), T0);
    let f = fills(&events);
    assert_eq!(
        (f.len(), f[0].price, f[0].lots, f[0].client_id),
        (1, Ticks(5049), Lots(1000), None)
    );
    assert_eq!(
        (f[0].liquidity, f[0].realized_pnl),
        (Liquidity::Taker, dec!(0.048))
    );
    assert!(ex.positions().is_empty());
    // TP/SL on a flat position is refused.
    assert!(rejected(ex.execute(&set(Some(Ticks(5100))), T0).0).contains("no long position"));
}

#[test]
fn stop_loss_and_close_position_and_orphaned_closes() {
    let mut ex = exchange();
    place(
        &mut ex,
        vec![req(1, NewOrder::market(M, Side::Sell, Lots(1000)))],
    );
    place(&mut ex, vec![req(2, buy(500, 4900).closing())]);
    let close = VenueRequest::ClosePosition {
        market: M,
        position: PositionSide::Short,
        lots: Lots(1000),
        leverage: 1,
    };
    let (outcome, events) = ex.execute(&close, T0);
    assert!(matches!(outcome, RequestOutcome::Accepted { .. }));
    assert_eq!(fills(&events)[0].price, Ticks(5001));
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Order(u) if u.kind == OrderUpdateKind::Cancelled)),
        "the resting close lost its position: {events:?}"
    );
    assert_eq!(ex.resting_orders(), 0);
    assert!(rejected(ex.execute(&close, T0).0).contains("no short position"));

    // Short stop-loss fires when the mid rises to it.
    place(
        &mut ex,
        vec![req(3, NewOrder::market(M, Side::Sell, Lots(1000)))],
    );
    let sl = VenueRequest::SetStopLoss {
        market: M,
        position: PositionSide::Short,
        price: Some(Ticks(5100)),
    };
    assert!(matches!(
        ex.execute(&sl, T0).0,
        RequestOutcome::Accepted { .. }
    ));
    let events = ex.on_source(&snapshot(&[(5099, 5000)], &[(5101, 5000)]), T0);
    assert_eq!(fills(&events)[0].price, Ticks(5101));
    assert!(ex.positions().is_empty());
}

#[test]
fn config_defaults_toml_and_validation() {
    let c: PaperConfig = toml::from_str(
        "starting_balance = \"10000\"\nmaker_fee_rate = \"0\"\ntaker_fee_rate = \"0.0005\"\n[source]\nseed = 7\nstep_ms = 250\n",
    )
    .unwrap();
    assert_eq!(c.taker_fee_rate, dec!(0.0005));
    assert_eq!(
        (c.source.seed, c.source.levels, c.event_buffer),
        (7, 10, 4096)
    );
    assert_eq!(
        c,
        PaperConfig {
            source: RandomWalkConfig {
                seed: 7,
                ..RandomWalkConfig::default()
            },
            ..PaperConfig::default()
        }
    );
    assert!(
        toml::from_str::<PaperConfig>("taker_fee = 1").is_err(),
        "unknown keys fail"
    );
    assert!(PaperConfig::default().validate().is_ok());
    let bad = PaperConfig {
        taker_fee_rate: dec!(1),
        ..PaperConfig::default()
    };
    assert_eq!(
        bad.validate().unwrap_err(),
        "venue.paper.taker_fee_rate must be within 0..1"
    );
    let bad = PaperConfig {
        event_buffer: 0,
        ..PaperConfig::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .contains("venue.paper.event_buffer")
    );
}

async fn recv(s: &mut VenueSession) -> Event {
    s.events.recv().await.expect("event stream open")
}

#[tokio::test(start_paused = true)]
async fn end_to_end_through_connect_and_writer() {
    let steps = vec![
        SourceStep {
            after: Duration::ZERO,
            event: snapshot(&[(5000, 1000)], &[(5001, 1000), (5002, 1000)]),
        },
        SourceStep {
            after: Duration::from_millis(100),
            event: trade(5000, 1500, Side::Sell),
        },
    ];
    let venue = |steps| {
        let source = Box::new(ScriptedSource::new(steps));
        Box::new(PaperVenue::new(
            PaperConfig::default(),
            vec![spec()],
            source,
            Clock::starting_at(T0),
        ))
    };
    assert!(matches!(
        venue(Vec::new()).connect(&[MarketId(9)]).await,
        Err(VenueError::UnknownMarket {
            market: MarketId(9),
            ..
        })
    ));
    let mut s = venue(steps).connect(&[M]).await.unwrap();
    assert_eq!(s.markets, vec![spec()]);
    assert!(s.writer.capabilities().atomic_replace);
    assert!(
        matches!(recv(&mut s).await, Event::Connection(c) if c.stream == "paper" && c.state == ConnectionState::Connected)
    );
    assert!(
        matches!(recv(&mut s).await, Event::Balance(b) if b.available == dec!(10000) && b.ts == T0)
    );
    assert!(
        matches!(recv(&mut s).await, Event::Position(u) if u.positions.is_empty() && u.snapshot)
    );
    assert!(
        matches!(recv(&mut s).await, Event::Book(b) if b.kind == BookUpdateKind::Snapshot && b.ts == T0)
    );

    let request = VenueRequest::Orders {
        market: M,
        cancel: Vec::new(),
        place: vec![
            req(1, NewOrder::market(M, Side::Buy, Lots(1000))),
            req(2, buy(500, 5000).post_only()),
        ],
    };
    let outcome = s
        .writer
        .execute(request, &crate::venue::RequestContext::none())
        .await;
    let placed = vec![
        (ClientOrderId(1), Some(VenueOrderId(1))),
        (ClientOrderId(2), Some(VenueOrderId(2))),
    ];
    assert_eq!(outcome, RequestOutcome::Accepted { placed });
    assert!(matches!(recv(&mut s).await, Event::Book(b) if b.kind == BookUpdateKind::Delta));
    assert!(
        matches!(recv(&mut s).await, Event::Fill(f) if f.price == Ticks(5001) && f.fee == dec!(0.0025005) && f.ts == T0)
    );
    assert!(matches!(recv(&mut s).await, Event::Position(u) if u.positions.len() == 1));
    assert!(matches!(recv(&mut s).await, Event::Balance(_)));

    // 100 ms later the public trade of 1500 at 5000 gets past the 1000 ahead: our bid fills 500.
    assert!(
        matches!(recv(&mut s).await, Event::Trade(t) if t.ts == T0.plus(Duration::from_millis(100)))
    );
    let Event::Fill(f) = recv(&mut s).await else {
        panic!("expected our maker fill")
    };
    assert_eq!(
        (f.client_id, f.lots, f.liquidity),
        (Some(ClientOrderId(2)), Lots(500), Liquidity::Maker)
    );
    assert!(matches!(recv(&mut s).await, Event::Position(u) if u.positions[0].lots == Lots(1500)));
    // The reserve became position margin at the same price and fee 0: the balance is unchanged.
    assert!(s.events.try_recv().is_err());

    let resolve = s.writer.resolve(
        &VenueRequest::ClosePosition {
            market: M,
            position: PositionSide::Long,
            lots: Lots(1),
            leverage: 1,
        },
        None,
    );
    assert!(matches!(resolve.await, RequestOutcome::Rejected { .. }));

    // Dropping the stream stops the venue; the writer then refuses.
    let writer = s.writer.clone();
    drop(s);
    let close = VenueRequest::ClosePosition {
        market: M,
        position: PositionSide::Long,
        lots: Lots(1500),
        leverage: 1,
    };
    assert_eq!(
        writer
            .execute(close, &crate::venue::RequestContext::none())
            .await,
        RequestOutcome::rejected("paper venue stopped")
    );
}

#[tokio::test(start_paused = true)]
async fn a_full_event_channel_holds_the_simulation_back() {
    let cfg = PaperConfig {
        event_buffer: 2,
        ..PaperConfig::default()
    };
    let source = RandomWalkSource::new(cfg.source.clone(), &[spec()]);
    let venue = Box::new(PaperVenue::new(
        cfg,
        vec![spec()],
        Box::new(source),
        Clock::starting_at(T0),
    ));
    let mut s = venue.connect(&[M]).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    // Nothing was read for 10 s of steps, yet only the channel's capacity is buffered; reading
    // resumes the stream where it stopped.
    assert_eq!(s.events.len(), 2);
    assert!(matches!(recv(&mut s).await, Event::Connection(_)));
    assert!(matches!(recv(&mut s).await, Event::Balance(_)));
    assert!(matches!(recv(&mut s).await, Event::Position(_)));
    // The first step was due at T0 but could only be applied once there was room.
    assert!(
        matches!(recv(&mut s).await, Event::Book(b) if b.ts == T0.plus(Duration::from_secs(10)))
    );
}

/// A refused request leaves every part of the exchange as it was (orders, account, ids, books),
/// whatever its steps had done before the one that failed.
#[test]
fn a_refused_request_leaves_the_whole_exchange_unchanged() {
    let mut ex = exchange();
    place(
        &mut ex,
        vec![req(1, buy(500, 4998)), req(2, sell(500, 5003))],
    );
    // A fill on the books, so the account holds a position too.
    place(&mut ex, vec![req(3, buy(500, 5001))]);
    let cancel = |id: u64, side: Side| CancelOrder {
        client_id: ClientOrderId(id),
        venue_id: None,
        market: M,
        side,
        direction: perpbot_model::Direction::Open,
    };
    let requests = [
        // Takes liquidity and fills, then a place with a client id that already rests.
        (
            vec![cancel(1, Side::Buy)],
            vec![req(4, buy(500, 5002)), req(2, buy(500, 4990))],
        ),
        // Post-only only: a cancel and a resting place, then one that would cross.
        (
            vec![cancel(2, Side::Sell)],
            vec![
                req(5, buy(500, 4997).post_only()),
                req(6, buy(500, 5002).post_only()),
            ],
        ),
        // A cancel of an order that does not rest, after one that does.
        (vec![cancel(1, Side::Buy), cancel(99, Side::Buy)], vec![]),
    ];
    for (cancels, places) in requests {
        let before = format!("{ex:?}");
        let (outcome, events) = orders(&mut ex, cancels, places);
        rejected(outcome);
        assert!(events.is_empty());
        assert_eq!(format!("{ex:?}"), before);
    }
    let before = format!("{ex:?}");
    let (outcome, _) = ex.execute(
        &VenueRequest::ClosePosition {
            market: M,
            position: PositionSide::Short,
            lots: Lots(500),
            leverage: 1,
        },
        T0,
    );
    rejected(outcome);
    assert_eq!(format!("{ex:?}"), before, "a close of no position");
    // The exchange still works after the refusals: the next ids follow the last accepted ones.
    let (outcome, _) = orders(&mut ex, Vec::new(), vec![req(7, buy(500, 4996))]);
    assert_eq!(
        outcome,
        RequestOutcome::Accepted {
            placed: vec![(ClientOrderId(7), Some(VenueOrderId(4)))],
        }
    );
}

/// A refusal carries the kind the live Kana writer reads from the same venue code, so the
/// executor takes the same path in a backtest as live: above all, a replace whose cancelled
/// quote has just filled is the market maker's race, not an error.
#[test]
fn refusals_carry_the_kind_the_live_writer_would_give() {
    use crate::venue::RefusalKind;
    let kind = |outcome: RequestOutcome| match outcome {
        RequestOutcome::Rejected { kind, .. } => kind,
        other => panic!("expected a rejection, got {other:?}"),
    };
    let mut ex = exchange();
    place(&mut ex, vec![req(1, buy(500, 4998))]);
    let gone = CancelOrder {
        client_id: ClientOrderId(7),
        venue_id: None,
        market: M,
        side: Side::Buy,
        direction: perpbot_model::Direction::Open,
    };
    // A replace whose cancel names an order that does not rest: the whole request is refused.
    let (outcome, events) = orders(&mut ex, vec![gone], vec![req(2, buy(500, 4997))]);
    assert!(events.is_empty());
    assert_eq!(kind(outcome), RefusalKind::UnknownOrder);
    let single =
        |ex: &mut PaperExchange, o: NewOrder| kind(orders(ex, Vec::new(), vec![req(9, o)]).0);
    assert_eq!(
        single(&mut ex, buy(500, 5001).post_only()),
        RefusalKind::PostOnlyWouldCross
    );
    assert_eq!(
        single(&mut ex, buy(3_000_000, 4000)),
        RefusalKind::InsufficientMargin
    );
    assert_eq!(single(&mut ex, buy(499, 4990)), RefusalKind::Other);
    assert_eq!(
        single(&mut ex, buy(500, 5010).closing()),
        RefusalKind::Other
    );
    // Nothing above changed what rests.
    assert_eq!(ex.resting_orders(), 1);
}

/// The margin check at its edge: a balance of exactly the margin (and, for the part that
/// takes, the taker fee) passes, one quote sub-unit less is refused; a margin that is not a
/// whole number of sub-units (leverage 3) needs the sub-unit above it.
#[test]
fn the_margin_check_passes_exactly_enough_and_refuses_one_sub_unit_less() {
    let rate = PaperConfig::default().taker_fee_rate;
    // 500 lots at 4,990 rest: 2.495 USDT. 500 at 5,001 take from the best ask: 2.5005 USDT,
    // plus its fee.
    let taking = dec!(2.5005) + dec!(2.5005) * rate;
    let cases = [
        (dec!(2.495), buy(500, 4990), true),
        (dec!(2.494999), buy(500, 4990), false),
        (dec!(0.831667), buy(500, 4990).with_leverage(3), true),
        (dec!(0.831666), buy(500, 4990).with_leverage(3), false),
        (taking, buy(500, 5001), true),
        (taking - dec!(0.000001), buy(500, 5001), false),
    ];
    for (balance, order, passes) in cases {
        let mut ex = exchange_configured(&PaperConfig {
            starting_balance: balance,
            ..PaperConfig::default()
        });
        let (outcome, _) = orders(&mut ex, Vec::new(), vec![req(1, order.clone())]);
        if passes {
            assert!(
                matches!(outcome, RequestOutcome::Accepted { .. }),
                "{balance} for {order:?}: {outcome:?}"
            );
        } else {
            let reason = rejected(outcome);
            assert!(
                reason.contains("insufficient available balance"),
                "{reason}"
            );
        }
    }
}

/// A fill's fee is `Decimal`'s own product, to the digit and the scale (reports print it), on
/// the integer path and past it: real notionals and rates, a rebate, a zero, products too long
/// for 28 places or 96 bits, and some past `Decimal`'s range.
#[test]
fn the_fee_is_the_decimal_product_to_the_digit_and_the_scale() {
    let spec = MarketSpec::kana_apt_testnet();
    let mut notionals: Vec<Decimal> = [(1, 1), (500, 5518), (2500, 5518), (150_000_000, 99_999)]
        .into_iter()
        .map(|(lots, ticks)| spec.notional(Lots(lots), Ticks(ticks)))
        .collect();
    notionals.extend([
        Decimal::ZERO,
        dec!(-13.795),
        Decimal::MAX,
        Decimal::new(1, 28),
        dec!(12345678901234567890.123456),
    ]);
    let rates = [
        Decimal::ZERO,
        dec!(0.0005),
        dec!(-0.0002),
        dec!(0.000123456789),
        Decimal::new(7, 28),
        dec!(79228162514264.337593543950),
    ];
    for n in notionals {
        for r in rates {
            let ours = super::exchange::fee_of(n, r);
            let Some(theirs) = n.checked_mul(r) else {
                // Past `Decimal`'s range: saturated with the product's sign, not a panic.
                let negative = n.is_sign_negative() != r.is_sign_negative();
                assert_eq!(ours, if negative { Decimal::MIN } else { Decimal::MAX });
                continue;
            };
            assert_eq!(ours, theirs, "{n} × {r}");
            assert_eq!(ours.to_string(), theirs.to_string(), "{n} × {r}");
        }
    }
}
