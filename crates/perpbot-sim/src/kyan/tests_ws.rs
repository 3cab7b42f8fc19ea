//! The private WebSocket and the public stream as a client meets them: auth, both subscribe
//! forms, the maker book feed (snapshot, post, update, edit as cancel + post, cancel), trade
//! records with the id rules, `seq_id`, session recovery, the session cap, and Centrifugo's
//! connect / recover / ping with exact L2 notionals.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rust_decimal_macros::dec;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use super::tests_rest::{BTC, Trader, call, quiet, sim_with};
use super::*;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

async fn send(ws: &mut Ws, v: Value) {
    ws.send(Message::Text(v.to_string().into())).await.unwrap();
}

/// The next JSON frame (pings and pongs skipped), or `None` on close / 3 s of silence.
async fn next(ws: &mut Ws) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => return serde_json::from_str(t.as_str()).ok(),
            Ok(Some(Ok(Message::Close(_)))) | Ok(None) | Ok(Some(Err(_))) | Err(_) => return None,
            Ok(Some(Ok(_))) => {}
        }
    }
}

/// The next frame satisfying `f`.
async fn until(ws: &mut Ws, f: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = next(ws).await.expect("a frame before silence");
        if f(&v) {
            return v;
        }
    }
}

async fn authed(h: &KyanSimHandle) -> Ws {
    let mut ws = connect(&h.ws_url).await;
    send(
        &mut ws,
        json!({"type": "auth", "api_key": h.api_key(), "id": "a1"}),
    )
    .await;
    let r = next(&mut ws).await.unwrap();
    assert_eq!(
        (r["type"].as_str(), r["success"].as_bool(), r["id"].as_str()),
        (Some("auth"), Some(true), Some("a1"))
    );
    ws
}

fn event(kind: &'static str) -> impl Fn(&Value) -> bool {
    move |v| v["kind"] == "event" && v["type"] == kind
}

#[tokio::test]
async fn a_bad_key_is_refused_and_gets_no_events() {
    let (h, _) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut ws = connect(&h.ws_url).await;
    send(
        &mut ws,
        json!({"type": "auth", "api_key": "wrong", "id": 1}),
    )
    .await;
    let r = next(&mut ws).await.unwrap();
    assert_eq!(
        (r["success"].as_bool(), r["error"].as_str()),
        (Some(false), Some("Failed to validate api key"))
    );
    send(
        &mut ws,
        json!({"type": "subscribe", "id": 2, "channel": "instruments"}),
    )
    .await;
    let r = next(&mut ws).await.unwrap();
    assert_eq!(
        (r["type"].as_str(), r["error"].as_str()),
        (Some("error"), Some("Not Authorized"))
    );
    h.stop();
}

#[tokio::test]
async fn the_maker_feed_shows_snapshot_post_update_edit_and_cancel_with_rising_seq_ids() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let (mut a, mut b) = (Trader::new(0, now), Trader::new(1, now));
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(false, "100100", "0.1", true, false)])),
        None,
    )
    .await;
    let mut ws = authed(&h).await;
    // [D] form, several at once.
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s1", "subscriptions": [
        {"channel": "orderbook_maker", "query": {"maker": a.hex()}},
        {"channel": "trade", "query": {"account": a.hex()}}]}),
    )
    .await;
    let r = until(&mut ws, |v| v["kind"] == "response").await;
    assert_eq!(
        (
            r["id"].as_str(),
            r["subscriptions"].as_array().map(Vec::len)
        ),
        (Some("s1"), Some(2)),
        "{r}"
    );
    // [S] form, one channel.
    send(
        &mut ws,
        json!({"type": "subscribe", "id": "s2", "channel": "trade", "query": {"account": b.hex()}}),
    )
    .await;
    let snap = until(&mut ws, event("ob_maker_orders")).await;
    assert_eq!(
        snap["data"]["orders"].as_array().map(Vec::len),
        Some(1),
        "{snap}"
    );
    let r = until(&mut ws, |v| v["kind"] == "response").await;
    assert_eq!(
        (r["id"].as_str(), r["success"].as_bool()),
        (Some("s2"), Some(true))
    );
    let mut seq = snap["seq_id"].as_u64().unwrap();
    let mut check = |v: &Value| {
        let s = v["seq_id"].as_u64().unwrap();
        assert_eq!(s, seq + 1, "seq_id rises by one: {v}");
        seq = s;
    };
    // post_order, then B takes 0.04 of it: update_order for A, trades for both with the id rules.
    let (_, posted) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(false, "100200", "0.2", true, false)])),
        None,
    )
    .await;
    let id = posted["posted"][0]["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    let post = until(&mut ws, event("post_order")).await;
    check(&post);
    assert_eq!(post["data"][0]["order_id"], json!(id));
    let (_, fill) = call(
        &h,
        "POST",
        "/market",
        Some(b.market(true, "0.14", "100200")),
        None,
    )
    .await;
    let trade_id = fill["trade_id"].as_str().unwrap().to_string();
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let v = next(&mut ws).await.expect("events");
        if v["kind"] == "event" {
            check(&v);
            seen.push(v);
        }
    }
    let updates: Vec<&Value> = seen
        .iter()
        .filter(|v| v["type"] == "update_order")
        .collect();
    assert_eq!(updates.len(), 2, "both of A's orders were hit");
    assert_eq!(updates[0]["data"][0]["order_state"], "filled");
    assert_eq!(updates[1]["data"][0]["order_state"], "open");
    let trades: Vec<&Value> = seen.iter().filter(|v| v["type"] == "trade").collect();
    assert_eq!(
        trades.len(),
        3,
        "one per maker fill, one for the taker order"
    );
    for t in &trades {
        assert_eq!(
            t["data"]["trade_id"],
            json!(trade_id),
            "one trade id for the taker order"
        );
    }
    let taker = trades
        .iter()
        .find(|t| t["data"]["smart_account_address"] == json!(b.hex()))
        .unwrap();
    assert_eq!(
        taker["data"]["order_id"],
        json!(trade_id),
        "taker: trade_id == order_id"
    );
    assert_eq!(taker["data"]["size"], json!(0.14));
    let makers: Vec<_> = trades
        .iter()
        .filter(|t| t["data"]["smart_account_address"] == json!(a.hex()))
        .collect();
    assert_eq!(makers.len(), 2);
    assert!(
        makers.iter().any(|t| t["data"]["order_id"] == json!(id)),
        "each maker record has its own order id"
    );
    assert!(
        makers
            .iter()
            .all(|t| t["data"]["order_id"] != json!(trade_id))
    );
    // An edit is cancel_order (old id) then post_order (new id); a cancel is cancel_order.
    call(
        &h,
        "PATCH",
        "/limit",
        Some(json!([a.edit(&id, "100300", "0.16")])),
        None,
    )
    .await;
    let c = until(&mut ws, event("cancel_order")).await;
    check(&c);
    assert_eq!(c["data"][0]["order_id"], json!(id));
    let p = until(&mut ws, event("post_order")).await;
    check(&p);
    assert_eq!(p["data"][0]["contracts"], json!(0.16));
    let new_id = p["data"][0]["order_id"].clone();
    assert_ne!(new_id, json!(id));
    h.stop();
}

#[tokio::test]
async fn a_recovered_session_replays_what_it_missed() {
    let (h, now) = sim_with(quiet(KyanSimConfig::default())).await;
    let mut a = Trader::new(0, now);
    let mut ws = authed(&h).await;
    send(&mut ws, json!({"type": "subscribe", "id": 1, "subscriptions": [{"channel": "orderbook_maker", "query": {"maker": a.hex()}}]})).await;
    until(&mut ws, event("ob_maker_orders")).await;
    send(&mut ws, json!({"type": "enable_session_recovery", "id": 2})).await;
    let r = until(&mut ws, |v| v["type"] == "enable_session_recovery").await;
    assert_eq!(r["ttl_seconds"], 30);
    let token = r["recovery_token"].as_str().unwrap().to_string();
    ws.close(None).await.ok();
    drop(ws);
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Missed while away.
    let (_, body) = call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(true, "90000", "0.1", true, false)])),
        None,
    )
    .await;
    let id = body["posted"][0]["order_id"].clone();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut ws = connect(&h.ws_url).await;
    send(
        &mut ws,
        json!({"type": "recover_session", "recovery_token": token, "api_key": h.api_key()}),
    )
    .await;
    let replayed = next(&mut ws).await.unwrap();
    assert_eq!(
        (replayed["type"].as_str(), replayed["seq_id"].as_u64()),
        (Some("post_order"), Some(1)),
        "{replayed}"
    );
    assert_eq!(replayed["data"][0]["order_id"], id);
    let r = next(&mut ws).await.unwrap();
    assert_eq!(
        (r["type"].as_str(), r["success"].as_bool()),
        (Some("recover_session"), Some(true)),
        "{r}"
    );
    assert_ne!(r["recovery_token"], json!(token));
    // The subscription lives on.
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([a.limit(true, "89000", "0.1", true, false)])),
        None,
    )
    .await;
    let p = until(&mut ws, event("post_order")).await;
    assert_eq!(p["seq_id"], 2);
    // A used token does not recover twice.
    let mut ws2 = connect(&h.ws_url).await;
    send(
        &mut ws2,
        json!({"type": "recover_session", "recovery_token": token, "api_key": h.api_key()}),
    )
    .await;
    assert_eq!(next(&mut ws2).await.unwrap()["success"], false);
    h.stop();
}

#[tokio::test]
async fn the_session_cap_closes_with_4000() {
    let cfg = KyanSimConfig {
        session_cap_secs: 1,
        ..quiet(KyanSimConfig::default())
    };
    let (h, _) = sim_with(cfg).await;
    let mut ws = authed(&h).await;
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .unwrap()
        {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    let f = close.unwrap();
    assert_eq!(
        (f.code, f.reason.as_str()),
        (CloseCode::from(4000), "session expired")
    );
    h.stop();
}

#[tokio::test]
async fn the_public_stream_recovers_the_cached_book_with_exact_notionals_and_keeps_answering_clients()
 {
    let cfg = KyanSimConfig {
        ping_secs: 1,
        ..quiet(KyanSimConfig::default())
    };
    let (h, now) = sim_with(cfg).await;
    let (mut a, mut b) = (Trader::new(0, now), Trader::new(1, now));
    call(
        &h,
        "POST",
        "/limit",
        Some(json!([
            a.limit(false, "100010", "0.3", true, false),
            a.limit(true, "99990", "0.0007", true, false)
        ])),
        None,
    )
    .await;
    let second = json!([b.limit(false, "100010", "0.1", true, false)]);
    call(&h, "POST", "/limit", Some(second), None).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut ws = connect(&h.stream_url).await;
    send(&mut ws, json!({"id": 1, "connect": {}})).await;
    let r = next(&mut ws).await.unwrap();
    assert_eq!(
        (r["id"].as_i64(), r["connect"]["ping"].as_u64()),
        (Some(1), Some(1)),
        "{r}"
    );
    send(
        &mut ws,
        json!({"id": 2, "subscribe": {"channel": format!("l2:perps:{BTC}"), "recover": true}}),
    )
    .await;
    let r = until(&mut ws, |v| v["id"] == 2).await;
    let book = &r["subscribe"]["publications"][0]["data"];
    assert_eq!(
        book["asks"][0],
        json!(["100010", "40004", "2"]),
        "amount_usd = price × contracts, two orders: {r}"
    );
    assert_eq!(book["bids"][0], json!(["99990", "69.993", "1"]));
    // A silent client is closed after a few pings; an answering one stays.
    let mut silent = connect(&h.stream_url).await;
    send(&mut silent, json!({"id": 1, "connect": {}})).await;
    let mut pings = 0;
    let started = tokio::time::Instant::now();
    let mut silent_closed = false;
    while started.elapsed() < Duration::from_secs(6) {
        tokio::select! {
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) if t.as_str() == "{}" => {
                    pings += 1;
                    send(&mut ws, json!({})).await;
                }
                Some(Ok(_)) => {}
                other => panic!("the answering client was closed: {other:?}"),
            },
            m = silent.next(), if !silent_closed => match m {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => silent_closed = true,
                _ => {}
            },
        }
    }
    assert!(pings >= 5, "{pings}");
    assert!(silent_closed, "the silent client was closed");
    assert_eq!(h.truth(a.addr()).open_orders.len(), 2);
    assert_eq!(
        h.truth(a.addr()).open_orders[1].remaining,
        dec!(0.0007),
        "oldest first"
    );
    h.stop();
}
