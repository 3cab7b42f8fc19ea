//! The writer against the REST mock: outcomes a trader relies on.

use std::sync::Arc;
use std::time::Duration;

use rust_decimal_macros::dec;

use perpbot_core::venue::{
    CancelOrder, RefusalKind, RequestContext, RequestOutcome, VenueRequest, VenueWriter,
};
use perpbot_model::clock::Clock;
use perpbot_model::*;

use super::*;
use crate::decode::MarketEntry;
use crate::testutil::{Mock, api};

fn btc() -> MarketEntry {
    MarketEntry::new(MarketId(1), "BTC_USDC-PERPETUAL", dec!(1), dec!(0.0001)).unwrap()
}

fn writer(mock: &Mock, config: WriterConfig) -> (KyanWriter, Arc<SharedState>) {
    let shared = Arc::new(SharedState::default());
    (
        KyanWriter::new(
            api(&mock.url),
            vec![btc()],
            Arc::clone(&shared),
            config,
            Clock::system(),
        ),
        shared,
    )
}

fn place(id: u64, side: Side, lots: u64, price: u64) -> OrderRequest {
    OrderRequest {
        client_id: ClientOrderId(id),
        order: NewOrder::limit(MarketId(1), side, Lots(lots), Ticks(price)).post_only(),
    }
}

fn orders(cancel: Vec<CancelOrder>, place: Vec<OrderRequest>) -> VenueRequest {
    VenueRequest::Orders {
        market: MarketId(1),
        cancel,
        place,
    }
}

const ID_A: &str = "000000000000000000000000000000a1";

fn posted(price: u64, contracts: &str, id: &str, dir: &str) -> String {
    format!(
        r#"{{"instrument_name":"BTC_USDC-PERPETUAL","type":"good_til_cancelled","order_id":"{id}","order_state":"open","price":{price},"direction":"{dir}","post_only":true,"contracts":{contracts},"filled_contracts":0}}"#
    )
}

#[tokio::test]
async fn places_pair_with_posted_and_rejected_into_a_partial_outcome() {
    let mock = Mock::start().await;
    let (w, _) = writer(&mock, WriterConfig::default());
    mock.reply("POST /limit", 200, &format!(
        r#"{{"posted":[{}],"rejected":[{{"reason":"POST_ONLY_WOULD_CROSS","message":"would cross","instrument_name":"BTC_USDC-PERPETUAL","direction":"buy","price":66000,"contracts":0.001}}]}}"#,
        posted(67000, "0.002", ID_A, "sell")
    ));
    let out = w
        .execute(
            orders(
                vec![],
                vec![
                    place(1, Side::Buy, 10, 66000),
                    place(2, Side::Sell, 20, 67000),
                ],
            ),
            &RequestContext::none(),
        )
        .await;
    let RequestOutcome::Partial { placed, rejected } = out else {
        panic!("{out:?}")
    };
    assert_eq!(placed, vec![(ClientOrderId(2), Some(VenueOrderId(0xa1)))]);
    assert_eq!(rejected[0].0, ClientOrderId(1));
    assert!(
        rejected[0].1.starts_with("POST_ONLY_WOULD_CROSS"),
        "{rejected:?}"
    );
}

#[tokio::test]
async fn an_ambiguous_place_is_resolved_by_reading_open_orders_never_by_resending() {
    let mock = Mock::start().await;
    let (w, _) = writer(&mock, WriterConfig::default());
    mock.reply("POST /limit", 503, "unavailable");
    let req = orders(
        vec![],
        vec![
            place(1, Side::Sell, 20, 67000),
            place(2, Side::Buy, 10, 60000),
        ],
    );
    let out = w.execute(req.clone(), &RequestContext::none()).await;
    let RequestOutcome::Ambiguous { token, .. } = out else {
        panic!("{out:?}")
    };
    // The order did go through: it rests.
    mock.reply(
        "GET /orders",
        200,
        &format!(r#"{{"orders":[{}]}}"#, posted(67000, "0.002", ID_A, "sell")),
    );
    let resolved = w.resolve(&req, token.as_deref()).await;
    let RequestOutcome::Partial { placed, rejected } = resolved else {
        panic!("{resolved:?}")
    };
    assert_eq!(placed, vec![(ClientOrderId(1), Some(VenueOrderId(0xa1)))]);
    assert_eq!(rejected[0].0, ClientOrderId(2));
    assert_eq!(mock.requests("POST /limit").len(), 1, "never resent");
    assert!(
        mock.requests("GET /orders")[0]
            .query
            .contains("instrument_name=BTC_USDC-PERPETUAL")
    );
}

#[tokio::test]
async fn cancels_go_before_places_and_a_refused_cancel_stops_the_places() {
    let mock = Mock::start().await;
    let (w, _) = writer(&mock, WriterConfig::default());
    let cancel = CancelOrder {
        client_id: ClientOrderId(9),
        venue_id: Some(VenueOrderId(0xa1)),
        market: MarketId(1),
        side: Side::Sell,
        direction: Direction::Open,
    };
    mock.reply("DELETE /orders", 200, r#"{"orders_cancelled":["000000000000000000000000000000a1"],"orders_pending_cancel":[],"rejected_cancellations":[],"orders_not_found":[]}"#);
    mock.reply(
        "POST /limit",
        200,
        &format!(
            r#"{{"posted":[{}],"rejected":[]}}"#,
            posted(67000, "0.002", ID_A, "sell")
        ),
    );
    let out = w
        .execute(
            orders(vec![cancel.clone()], vec![place(1, Side::Sell, 20, 67000)]),
            &RequestContext::none(),
        )
        .await;
    assert!(matches!(out, RequestOutcome::Accepted { .. }), "{out:?}");
    let seen = mock
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| format!("{} {}", s.method, s.path))
        .collect::<Vec<_>>();
    assert_eq!(seen, vec!["DELETE /orders", "POST /limit"]);

    mock.reply(
        "DELETE /orders",
        401,
        r#"{"error":"UNAUTHORIZED","message":"bad key"}"#,
    );
    let out = w
        .execute(
            orders(vec![cancel], vec![place(1, Side::Sell, 20, 67000)]),
            &RequestContext::none(),
        )
        .await;
    assert!(matches!(out, RequestOutcome::Rejected { .. }), "{out:?}");
    assert_eq!(mock.requests("POST /limit").len(), 1);
}

#[tokio::test]
async fn tp_sl_and_ioc_are_refused_without_a_request_and_mmp_freezes_refuse_places() {
    let mock = Mock::start().await;
    let (w, shared) = writer(
        &mock,
        WriterConfig {
            mmp: true,
            ..WriterConfig::default()
        },
    );
    let out = w
        .execute(
            VenueRequest::SetTakeProfit {
                market: MarketId(1),
                position: PositionSide::Long,
                price: Some(Ticks(70000)),
            },
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(&out, RequestOutcome::Rejected { reason, .. } if reason.contains("take-profit")),
        "{out:?}"
    );
    let out = w
        .execute(
            VenueRequest::SetStopLoss {
                market: MarketId(1),
                position: PositionSide::Long,
                price: None,
            },
            &RequestContext::none(),
        )
        .await;
    assert!(matches!(out, RequestOutcome::Rejected { .. }));
    let mut fok = place(1, Side::Buy, 10, 60000);
    fok.order.restriction = Restriction::FillOrAbort;
    let out = w
        .execute(orders(vec![], vec![fok]), &RequestContext::none())
        .await;
    assert!(
        matches!(&out, RequestOutcome::Rejected { reason, .. } if reason.contains("fill-or-abort")),
        "{out:?}"
    );
    shared.freeze("BTC_USDC", u64::MAX);
    let out = w
        .execute(
            orders(vec![], vec![place(1, Side::Buy, 10, 60000)]),
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(&out, RequestOutcome::Rejected { reason, .. } if reason.contains("market-maker protection")),
        "{out:?}"
    );
    assert!(mock.seen.lock().unwrap().is_empty(), "nothing was sent");
    assert!(!w.capabilities().position_triggers && !w.capabilities().closing_orders);
}

#[tokio::test]
async fn a_close_is_a_market_order_opposite_the_position_limited_around_the_index() {
    let mock = Mock::start().await;
    let (w, shared) = writer(&mock, WriterConfig::default());
    shared.set_index("BTC_USDC", dec!(65000));
    mock.reply("POST /market", 200, r#"{"trade_id":"000000000000000000000000000000f1","instrument_name":"BTC_USDC-PERPETUAL","direction":"sell","price":64990,"contracts":0.002,"filled_contracts":0.002,"order_state":"filled"}"#);
    let out = w
        .execute(
            VenueRequest::ClosePosition {
                market: MarketId(1),
                position: PositionSide::Long,
                lots: Lots(20),
                leverage: 1,
            },
            &RequestContext::none(),
        )
        .await;
    assert!(matches!(out, RequestOutcome::Accepted { .. }), "{out:?}");
    let body = mock.requests("POST /market")[0].json();
    assert_eq!(body["market_order"]["direction"], "sell");
    assert_eq!(body["market_order"]["contracts"], serde_json::json!(0.002));
    // 1 % below the index, rounded down to the $1 grid.
    assert_eq!(body["limit_price"], serde_json::json!(64350));
    // A write refused with a code maps to its kind.
    mock.reply(
        "POST /market",
        400,
        r#"{"error":"INSUFFICIENT_MARGIN","message":"no"}"#,
    );
    let out = w
        .execute(
            VenueRequest::ClosePosition {
                market: MarketId(1),
                position: PositionSide::Short,
                lots: Lots(20),
                leverage: 1,
            },
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(
            out,
            RequestOutcome::Rejected {
                kind: RefusalKind::InsufficientMargin,
                ..
            }
        ),
        "{out:?}"
    );
}

#[tokio::test]
async fn heartbeats_flow_only_while_the_engine_keeps_calling() {
    let mock = Mock::start().await;
    let config = WriterConfig {
        heartbeat_interval: Duration::from_millis(20),
        alive_window: Duration::from_millis(100),
        ..WriterConfig::default()
    };
    let (mut w, _) = writer(&mock, config);
    w.start_heartbeat();
    // Not alive yet: nothing.
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(mock.requests("POST /heartbeat").len(), 0);
    for _ in 0..10 {
        w.engine_alive();
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let while_alive = mock.requests("POST /heartbeat").len();
    assert!(while_alive >= 5, "{while_alive}");
    let body = mock.requests("POST /heartbeat")[0].json();
    assert_eq!(body["timeout"], 15);
    assert!(body["signature"].as_str().is_some());
    // The engine stops calling: heartbeats stop, Kyan's own timer will cancel.
    tokio::time::sleep(Duration::from_millis(150)).await;
    let after_stop = mock.requests("POST /heartbeat").len();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(mock.requests("POST /heartbeat").len(), after_stop);
    // Dropping the writer ends the task.
    drop(w);
}

#[tokio::test]
async fn a_replaced_order_already_gone_stops_the_places_and_cancels_count_as_done() {
    let mock = Mock::start().await;
    let (w, _) = writer(&mock, WriterConfig::default());
    let cancel = CancelOrder {
        client_id: ClientOrderId(9),
        venue_id: Some(VenueOrderId(0xa1)),
        market: MarketId(1),
        side: Side::Sell,
        direction: Direction::Open,
    };
    mock.reply("DELETE /orders", 200, r#"{"orders_cancelled":[],"orders_pending_cancel":[],"rejected_cancellations":[],"orders_not_found":["000000000000000000000000000000a1"]}"#);
    let out = w
        .execute(
            orders(vec![cancel.clone()], vec![place(1, Side::Sell, 20, 67000)]),
            &RequestContext::none(),
        )
        .await;
    let RequestOutcome::Partial { placed, rejected } = out else {
        panic!("{out:?}")
    };
    assert!(placed.is_empty());
    assert_eq!(rejected[0].0, ClientOrderId(1));
    assert!(mock.requests("POST /limit").is_empty());

    // The cancel went through but every place was refused: Partial, so the executor closes the
    // cancelled order instead of believing it still rests.
    mock.reply("DELETE /orders", 200, r#"{"orders_cancelled":["000000000000000000000000000000a1"],"orders_pending_cancel":[],"rejected_cancellations":[],"orders_not_found":[]}"#);
    mock.reply("POST /limit", 200, r#"{"posted":[],"rejected":[{"reason":"INSUFFICIENT_MARGIN","message":"no","instrument_name":"BTC_USDC-PERPETUAL","direction":"sell","price":67000,"contracts":0.002}]}"#);
    let out = w
        .execute(
            orders(vec![cancel], vec![place(1, Side::Sell, 20, 67000)]),
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(&out, RequestOutcome::Partial { placed, .. } if placed.is_empty()),
        "{out:?}"
    );
}

#[tokio::test]
async fn an_ambiguous_cancel_resolves_without_claiming_places_that_were_never_sent() {
    let mock = Mock::start().await;
    let (w, _) = writer(&mock, WriterConfig::default());
    let cancel = CancelOrder {
        client_id: ClientOrderId(9),
        venue_id: Some(VenueOrderId(0xa1)),
        market: MarketId(1),
        side: Side::Sell,
        direction: Direction::Open,
    };
    mock.reply("DELETE /orders", 504, "gateway timeout");
    // The replacement has the same price and size as the order being cancelled.
    let req = orders(vec![cancel], vec![place(1, Side::Sell, 20, 67000)]);
    let out = w.execute(req.clone(), &RequestContext::none()).await;
    let RequestOutcome::Ambiguous { token, .. } = out else {
        panic!("{out:?}")
    };
    assert!(mock.requests("POST /limit").is_empty());
    // The old order still rests: the cancel did not happen and nothing was placed.
    mock.reply(
        "GET /orders",
        200,
        &format!(r#"{{"orders":[{}]}}"#, posted(67000, "0.002", ID_A, "sell")),
    );
    let out = w.resolve(&req, token.as_deref()).await;
    assert!(
        matches!(&out, RequestOutcome::Rejected { reason, .. } if reason.contains("still resting")),
        "{out:?}"
    );
    // It is gone: cancels done, the place reported as not sent.
    mock.reply("GET /orders", 200, r#"{"orders":[]}"#);
    let out = w.resolve(&req, token.as_deref()).await;
    assert!(
        matches!(&out, RequestOutcome::Partial { placed, rejected } if placed.is_empty() && rejected[0].1.contains("not sent")),
        "{out:?}"
    );
}

#[tokio::test]
async fn an_ambiguous_requote_at_the_same_price_and_size_never_claims_the_order_it_repeats() {
    let mock = Mock::start().await;
    let (w, _) = writer(&mock, WriterConfig::default());
    // The first quote is placed and reported with its id.
    mock.reply(
        "POST /limit",
        200,
        &format!(
            r#"{{"posted":[{}],"rejected":[]}}"#,
            posted(67000, "0.002", ID_A, "sell")
        ),
    );
    let first = w
        .execute(
            orders(vec![], vec![place(1, Side::Sell, 20, 67000)]),
            &RequestContext::none(),
        )
        .await;
    assert!(
        matches!(first, RequestOutcome::Accepted { .. }),
        "{first:?}"
    );
    // The same quote again (another level of the ladder, same second): ambiguous.
    mock.reply("POST /limit", 503, "unavailable");
    let again = orders(vec![], vec![place(2, Side::Sell, 20, 67000)]);
    let RequestOutcome::Ambiguous { token, .. } =
        w.execute(again.clone(), &RequestContext::none()).await
    else {
        panic!("not ambiguous")
    };
    // Only the first one rests: the second never took effect, and must not take its id.
    mock.reply(
        "GET /orders",
        200,
        &format!(r#"{{"orders":[{}]}}"#, posted(67000, "0.002", ID_A, "sell")),
    );
    let resolved = w.resolve(&again, token.as_deref()).await;
    assert!(
        matches!(&resolved, RequestOutcome::Rejected { .. }),
        "the order {ID_A} belongs to the first quote: {resolved:?}"
    );
}
