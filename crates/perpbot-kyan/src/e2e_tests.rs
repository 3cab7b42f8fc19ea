//! The whole venue wired together against mocks on 127.0.0.1 (REST, private WebSocket, public
//! stream): connect, place, see the order and its fill come back as events.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

use perpbot_core::venue::{RequestContext, RequestOutcome, Venue, VenueRequest};
use perpbot_model::clock::Clock;
use perpbot_model::*;

use crate::config::{KyanConfig, Secret};
use crate::signing::KyanSigner;
use crate::testutil::{KEY, Mock};
use crate::{KyanCredentials, KyanVenue};

async fn ws_server() -> (
    String,
    tokio::sync::mpsc::Receiver<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            if let Ok(ws) = tokio_tungstenite::accept_async(tcp).await
                && tx.send(ws).await.is_err()
            {
                return;
            }
        }
    });
    (url, rx)
}

async fn next_json(ws: &mut tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>) -> Value {
    loop {
        if let Message::Text(t) = ws.next().await.unwrap().unwrap() {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

#[tokio::test]
async fn place_an_order_and_see_it_rest_and_fill() {
    let rest = Mock::start().await;
    let maker = format!("{:#x}", KyanSigner::from_hex(KEY).unwrap().address());
    rest.default_reply("GET /api/v1/exchange_info", 200, r#"{"orderConstraints":{"priceIncrements":{"BTC_USDC":1},"perpetuals":{"sizeIncrements":{"BTC_USDC":0.0001}}}}"#);
    rest.default_reply("GET /orders", 200, r#"{"orders":[]}"#);
    rest.default_reply(
        &format!("GET /positions/{maker}"),
        200,
        r#"{"margin_accounts":[]}"#,
    );
    rest.default_reply(
        &format!("GET /account_state/{maker}"),
        200,
        r#"{"margin_accounts":[{"pair":"BTC_USDC","margin_account":1,"im":0,"equity":1000}]}"#,
    );
    let order_id = "0000000000000000000000000000abcd";
    rest.default_reply("POST /limit", 200, &format!(r#"{{"posted":[{{"instrument_name":"BTC_USDC-PERPETUAL","order_id":"{order_id}","order_state":"open","price":64000,"direction":"buy","contracts":0.001,"filled_contracts":0}}],"rejected":[]}}"#));
    let (ws_url, mut private) = ws_server().await;
    let (stream_url, mut public) = ws_server().await;
    let config: KyanConfig = serde_json::from_value(
        json!({"network":"local","rest_url":rest.url,"ws_url":ws_url,
        "stream_url":stream_url,"chain_id":421614,"heartbeat_interval_ms":50,
        "markets":[{"id":1,"instrument":"BTC_USDC-PERPETUAL"}]}),
    )
    .unwrap();
    let creds = KyanCredentials {
        api_key: Secret::new("test_key".into()),
        key: KyanSigner::from_hex(KEY).unwrap(),
    };
    let mut session = Box::new(KyanVenue::new(config, Clock::system()).with_credentials(creds))
        .connect(&[MarketId(1)])
        .await
        .unwrap();

    // The private socket: auth, subscribe, recovery.
    let mut ws = private.recv().await.unwrap();
    for ty in ["auth", "subscribe", "enable_session_recovery"] {
        let m = next_json(&mut ws).await;
        assert_eq!(m["type"], ty);
        ws.send(Message::text(
            json!({"kind":"response","type":ty,"id":m["id"],"success":true,"recovery_token":"t"})
                .to_string(),
        ))
        .await
        .unwrap();
    }
    // The public stream connects and subscribes.
    let mut st = public.recv().await.unwrap();
    assert!(next_json(&mut st).await.get("connect").is_some());

    let writer = session.writer.clone();
    let place = OrderRequest {
        client_id: ClientOrderId(1),
        order: NewOrder::limit(MarketId(1), Side::Buy, Lots(10), Ticks(64_000)).post_only(),
    };
    let out = writer
        .execute(
            VenueRequest::Orders {
                market: MarketId(1),
                cancel: vec![],
                place: vec![place],
            },
            &RequestContext::none(),
        )
        .await;
    assert_eq!(
        out,
        RequestOutcome::Accepted {
            placed: vec![(ClientOrderId(1), Some(VenueOrderId(0xabcd)))]
        }
    );

    // Kyan tells the book and then the fill.
    let order = json!({"instrument_name":"BTC_USDC-PERPETUAL","order_id":order_id,"order_state":"open","price":64000,"direction":"buy","contracts":0.001,"filled_contracts":0});
    ws.send(Message::text(json!({"kind":"event","type":"post_order","timestamp_ms":1,"message_id":"m1","seq_id":1,"subscription":{"channel":"orderbook_maker","query":{"maker":maker}},"data":[order]}).to_string())).await.unwrap();
    ws.send(Message::text(json!({"kind":"event","type":"trade","timestamp_ms":2,"message_id":"m2","seq_id":2,"subscription":{"channel":"trade","query":{"account":maker}},
        "data":{"trade_id":"00000000000000000000000000000f01","order_id":order_id,"size":0.001,"direction":"buy","instrument_name":"BTC_USDC-PERPETUAL","average_price":64000,"maker_fee":0,"taker_fee":0,"systemic_risk_fee":0.0016,"timestamp":2}}).to_string())).await.unwrap();
    let mut accepted = false;
    let fill = loop {
        let e = tokio::time::timeout(Duration::from_secs(3), session.events.recv())
            .await
            .unwrap()
            .unwrap();
        match e {
            Event::Order(OrderUpdate {
                kind: OrderUpdateKind::Accepted,
                venue_id,
                ..
            }) => {
                assert_eq!(venue_id, Some(VenueOrderId(0xabcd)));
                accepted = true;
            }
            Event::Fill(f) => break f,
            _ => {}
        }
    };
    assert!(accepted);
    assert_eq!(
        (
            fill.venue_id,
            fill.lots,
            fill.price,
            fill.direction,
            fill.liquidity
        ),
        (
            Some(VenueOrderId(0xabcd)),
            Lots(10),
            Ticks(64_000),
            Direction::Open,
            Liquidity::Maker
        )
    );

    // The engine ticks: heartbeats go out.
    for _ in 0..6 {
        writer.engine_alive();
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    assert!(!rest.requests("POST /heartbeat").is_empty());
}
