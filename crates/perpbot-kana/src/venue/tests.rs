use super::*;
use crate::config::{Network, SecretSource};
use axum::Json;
use axum::extract::Query;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::routing::get;
use perpbot_aptos::node::fake_node::{FakeNode, Inner, LookupReply, fast_poll};
use perpbot_core::venue::{RequestOutcome, VenueRequest};
use perpbot_model::{
    ClientOrderId, ConnectionState, Event, Lots, NewOrder, OrderRequest, Side, Ticks, Timestamp,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Mutex;

const PKG: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6";
const PROFILE: &str = "0x3c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e";

fn market_info() -> Value {
    json!({"success": true, "message": "Market information fetched successfully", "data": [{
            "__variant__": "V1", "base_decimals": 8, "base_name": "APT/USDC", "counter": "0",
            "lot_size": "100000", "maintenance_margin": "250", "market_id": "1338", "market_status": 1,
            "max_leverage": "20", "max_lots": "150000000", "max_position_value": "125000000",
            "min_lots": "500", "quote_decimals": 6, "quote_precision": 3, "tick_size": "1"}]})
}

async fn ws_session(mut socket: WebSocket, subscriptions: Arc<Mutex<Vec<String>>>) {
    while let Some(Ok(msg)) = socket.recv().await {
        if let Message::Text(text) = msg {
            let text = text.to_string();
            let is_book = text.contains("\"orderbook\"");
            subscriptions.lock().unwrap().push(text);
            if is_book {
                let frame = r#"{"data":[{"is_ask":true,"last_updated":1746177751,"market_id":"1338","price":"5.522","size":"10"},{"is_ask":false,"last_updated":1746177751,"market_id":"1338","price":"5.518","size":"12.5"}],"message":"orderbook"}"#;
                if socket.send(Message::Text(frame.into())).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Kana REST + WebSocket on one loopback server.
async fn fake_kana(
    subscriptions: Arc<Mutex<Vec<String>>>,
    api_keys: Arc<Mutex<Vec<String>>>,
) -> String {
    let keys = Arc::clone(&api_keys);
    let place = move |headers: axum::http::HeaderMap, Query(q): Query<HashMap<String, String>>| {
        let keys = Arc::clone(&keys);
        async move {
            keys.lock().unwrap().push(
                headers
                    .get("x-api-key")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string(),
            );
            Json(json!({"success": true, "message": "ok", "data": {
                    "function": format!("{PKG}::perpetual_scripts::place_limit_order"), "typeArguments": [],
                    "functionArguments": [q["marketId"], true, false, "2500", "5518", "2", 3, "0", "0"]}}))
        }
    };
    let app = axum::Router::new()
        .route("/getMarketInfo", get(|| async { Json(market_info()) }))
        .route(
            "/getProfileAddress",
            get(|| async { Json(json!({"success": true, "message": "ok", "data": PROFILE})) }),
        )
        .route(
            "/getOpenOrders",
            get(|| async {
                Json(json!({"success": true, "message": "There are no open orders", "data": []}))
            }),
        )
        .route(
            "/getPositions",
            get(|| async { Json(json!({"success": true, "message": "ok", "data": []})) }),
        )
        .route("/placeLimitOrder", get(place))
        .route(
            "/ws/",
            get(move |ws: WebSocketUpgrade| {
                let subs = Arc::clone(&subscriptions);
                async move { ws.on_upgrade(move |socket| ws_session(socket, subs)) }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("{addr}")
}

fn secret_file(name: &str, value: &str) -> SecretSource {
    let path = std::env::temp_dir().join(format!("perpbot-{name}-{}", std::process::id()));
    std::fs::write(&path, value).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // Key files must be owner-only, or loading refuses them.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    SecretSource {
        env: None,
        file: Some(path),
    }
}

#[tokio::test]
async fn connect_resolves_the_account_streams_resyncs_and_trades() {
    let key = PrivateKey::from_seed_bytes([5u8; 32]);
    let mut inner = Inner {
        chain_id: 2,
        ..Inner::default()
    };
    inner.accounts.insert(key.address(), 3);
    inner.modules.insert(
            (AccountAddress::from_hex(PKG).unwrap(), "perpetual_scripts".into()),
            json!({"address": PKG, "name": "perpetual_scripts", "friends": [], "structs": [],
                   "exposed_functions": [{"name": "place_limit_order", "visibility": "public", "is_entry": true,
                     "is_view": false, "generic_type_params": [], "return": [],
                     "params": ["&signer", "u64", "bool", "bool", "u64", "u64", "u64", "u8", "u64", "u64"]}]}),
        );
    inner.lookup_replies = vec![LookupReply::Committed {
        success: true,
        vm_status: "Executed successfully".into(),
    }]
    .into();
    let node = FakeNode::start(inner).await;
    let subscriptions = Arc::new(Mutex::new(Vec::new()));
    let api_keys = Arc::new(Mutex::new(Vec::new()));
    let host = fake_kana(Arc::clone(&subscriptions), Arc::clone(&api_keys)).await;
    let config = KanaConfig {
        network: Network::Testnet,
        rest_url: format!("http://{host}"),
        ws_url: format!("ws://{host}/ws/"),
        node_url: node.base.clone(),
        chain_id: 2,
        api_key: secret_file("api", "test-api-key"),
        private_key: secret_file("key", &format!("ed25519-priv-0x{}", hex::encode([5u8; 32]))),
        i_understand_this_is_mainnet: false,
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 60,
        confirm_timeout_ms: 1_000,
        request_timeout_ms: 2_000,
        max_batch: 10,
        delegate_for: None,
        package: None,
        balance_poll_ms: 0,
        faucet_package: None,
    };
    let clock = Clock::starting_at(Timestamp::from_secs(1_746_177_751));
    let ws = WsConfig {
        url: config.ws_url.clone(),
        backoff_initial: Duration::from_millis(10),
        ..WsConfig::default()
    };
    let venue = Box::new(KanaVenue::new(config, clock).with_ws_config(ws));
    let mut session = venue.connect(&[MarketId(1338)]).await.expect("connects");
    assert_eq!(session.markets[0].lot_size, 100_000);

    // Connected → REST resync (open orders, positions) → Resynced; the book streams meanwhile.
    let mut seen = Vec::new();
    let resynced =
        |e: &Event| matches!(e, Event::Connection(c) if c.state == ConnectionState::Resynced);
    while !(seen.iter().any(|e| matches!(e, Event::Book(_))) && seen.iter().any(resynced)) {
        let e = tokio::time::timeout(Duration::from_secs(5), session.events.recv())
            .await
            .expect("event in time")
            .expect("stream open");
        seen.push(e);
    }
    let names: Vec<&str> = seen
        .iter()
        .map(|e| match e {
            Event::Connection(c) if c.state == ConnectionState::Connected => "connected",
            Event::Connection(c) if c.state == ConnectionState::Resynced => "resynced",
            Event::OpenOrders(_) => "open_orders",
            Event::Position(_) => "positions",
            Event::Book(_) => "book",
            _ => "other",
        })
        .collect();
    let resynced = names
        .iter()
        .position(|n| *n == "resynced")
        .unwrap_or_else(|| panic!("no resynced: {names:?}"));
    assert_eq!(names[0], "connected", "{names:?}");
    assert!(
        names[..resynced].contains(&"open_orders") && names[..resynced].contains(&"positions"),
        "{names:?}"
    );
    let Some(Event::Book(book)) = seen.iter().find(|e| matches!(e, Event::Book(_))) else {
        panic!()
    };
    assert_eq!(
        (book.bids[0].price, book.bids[0].lots),
        (Ticks(5518), Lots(12_500))
    );
    let subs = subscriptions.lock().unwrap().clone();
    let profile_long = AccountAddress::from_hex(PROFILE).unwrap().to_hex_long();
    assert!(
        subs.iter()
            .any(|s| s.contains("\"orderbook\"") && s.contains("\"1338\"")),
        "{subs:?}"
    );
    assert!(
        subs.iter()
            .any(|s| s.contains("\"positions\"") && s.contains(&profile_long)),
        "profile normalised: {subs:?}"
    );

    // The writer half: REST payload → signed transaction → committed.
    let order = NewOrder::limit(MarketId(1338), Side::Buy, Lots(2500), Ticks(5518))
        .post_only()
        .with_leverage(2);
    let request = VenueRequest::Orders {
        market: MarketId(1338),
        cancel: vec![],
        place: vec![OrderRequest {
            client_id: ClientOrderId(1),
            order,
        }],
    };
    let outcome = session
        .writer
        .execute(request, &perpbot_core::venue::RequestContext::none())
        .await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
    let received = node.lock().received.clone();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].sequence_number, 3);
    assert_eq!(
        api_keys.lock().unwrap().as_slice(),
        ["test-api-key"],
        "x-api-key sent"
    );
    let _ = fast_poll;
}

/// `getMarketInfo` for 1338 (active) and 1339 (status 2), on loopback.
async fn markets_with_status() -> KanaRest {
    let info = |Query(q): Query<HashMap<String, String>>| async move {
        let id = q.get("marketId").cloned().unwrap_or_default();
        let mut v = market_info();
        v["data"][0]["market_id"] = json!(id);
        v["data"][0]["market_status"] = json!(if id == "1339" { 2 } else { 1 });
        Json(v)
    };
    let app = axum::Router::new().route("/getMarketInfo", get(info));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    KanaRest::new(
        &format!("http://{addr}"),
        None,
        Duration::from_secs(2),
        RetryPolicy::none(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_market_that_is_not_active_is_left_out_and_alone_it_fails_the_connect() {
    let rest = markets_with_status().await;
    let specs = market_specs(&rest, &[MarketId(1338), MarketId(1339)])
        .await
        .unwrap();
    let ids: Vec<MarketId> = specs.iter().map(|s| s.id).collect();
    assert_eq!(ids, [MarketId(1338)], "the paused market is not traded");
    let err = market_specs(&rest, &[MarketId(1339)]).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("1339") && text.contains("market_status 2"),
        "{text}"
    );
}
