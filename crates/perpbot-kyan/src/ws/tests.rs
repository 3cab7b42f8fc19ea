//! The private WebSocket against a mock server on 127.0.0.1: handshake shapes, dedupe, gaps,
//! rotation before the cap, session recovery and its fallback.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use perpbot_model::clock::Clock;
use perpbot_model::{ConnectionState, Event, Fill};

use super::*;
use crate::config::{FeeFields, Secret};
use crate::decode::{KyanDecoder, MarketEntry};
use crate::state::SharedState;

type Server = WebSocketStream<TcpStream>;

/// Counts calls (`.0`); the first `.1` calls fail.
struct FakeResync(AtomicU64, AtomicU64);

#[async_trait::async_trait]
impl Resync for FakeResync {
    async fn fetch(&self) -> Result<Fetched, String> {
        self.0.fetch_add(1, Ordering::Relaxed);
        if self.1.load(Ordering::Relaxed) > 0 {
            self.1.fetch_sub(1, Ordering::Relaxed);
            return Err("REST down".into());
        }
        Ok(Fetched {
            orders: json!({"orders":[]}),
            positions: json!({"margin_accounts":[]}),
            state: json!([]),
            trades: None,
        })
    }
}

const MAKER: &str = "0x1111111111111111111111111111111111111111";

struct Harness {
    conns: mpsc::Receiver<Server>,
    events: mpsc::Receiver<Event>,
    resync: Arc<FakeResync>,
    stats: Arc<WsStats>,
}

async fn start(tune: impl FnOnce(&mut WsConfig)) -> Harness {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let (ctx, conns) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
            if ctx.send(ws).await.is_err() {
                return;
            }
        }
    });
    let mut config = WsConfig::new(&url, Secret::new("test_key".into()));
    config.backoff_initial = Duration::from_millis(10);
    config.backoff_max = Duration::from_millis(20);
    config.connect_timeout = Duration::from_secs(2);
    tune(&mut config);
    let btc = MarketEntry::new(
        perpbot_model::MarketId(1),
        "BTC_USDC-PERPETUAL",
        rust_decimal::Decimal::ONE,
        rust_decimal::Decimal::new(1, 4),
    )
    .unwrap();
    let decoder = KyanDecoder::new(
        vec![btc],
        FeeFields::Amount,
        Arc::new(SharedState::default()),
    );
    let subs = Subscriptions {
        maker: MAKER.into(),
        account: MAKER.into(),
        instruments: vec!["BTC_USDC-PERPETUAL".into()],
        pairs: vec!["BTC_USDC".into()],
    };
    let resync = Arc::new(FakeResync(AtomicU64::new(0), AtomicU64::new(0)));
    let (tx, events) = mpsc::channel(256);
    let (_task, stats) = spawn(
        config,
        subs,
        decoder,
        AccountSync {
            resync: resync.clone(),
            since: perpbot_model::Timestamp(0),
            requests: Arc::new(tokio::sync::Notify::new()),
        },
        tx,
        Clock::system(),
    );
    Harness {
        conns,
        events,
        resync,
        stats,
    }
}

async fn recv_json(ws: &mut Server) -> Value {
    loop {
        let m = tokio::time::timeout(Duration::from_secs(3), ws.next())
            .await
            .expect("a client message")
            .unwrap()
            .unwrap();
        if let Message::Text(t) = m {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

async fn send(ws: &mut Server, v: Value) {
    ws.send(Message::text(v.to_string())).await.unwrap();
}

/// Answer auth, subscribe and enable_session_recovery; returns the subscribe message.
async fn handshake(ws: &mut Server, token: &str) -> Value {
    let auth = recv_json(ws).await;
    assert_eq!(auth["type"], "auth");
    assert_eq!(auth["api_key"], "test_key");
    send(
        ws,
        json!({"kind":"response","type":"auth","id":auth["id"],"success":true,"timestamp_ms":1}),
    )
    .await;
    let sub = recv_json(ws).await;
    assert_eq!(sub["type"], "subscribe");
    send(ws, json!({"kind":"response","type":"subscribe","id":sub["id"],"success":true,"subscriptions":sub["subscriptions"]})).await;
    let rec = recv_json(ws).await;
    assert_eq!(rec["type"], "enable_session_recovery");
    send(ws, json!({"kind":"response","type":"enable_session_recovery","id":rec["id"],"success":true,"recovery_token":token,"ttl_seconds":30})).await;
    sub
}

fn trade_event(message_id: &str, seq: u64, trade: u128) -> Value {
    json!({"kind":"event","type":"trade","timestamp_ms":1_700_000_000_000u64,"message_id":message_id,"seq_id":seq,
        "subscription":{"channel":"trade","query":{"account":MAKER}},
        "data":{"trade_id":format!("{trade:032x}"),"order_id":format!("{:032x}", trade + 1000),"size":0.001,"direction":"buy",
            "instrument_name":"BTC_USDC-PERPETUAL","average_price":65000,"maker_fee":0,"taker_fee":0,"systemic_risk_fee":0,"timestamp":1_700_000_000_000u64}})
}

/// Events until `pred` matches (or a timeout), returning all seen.
async fn until(events: &mut mpsc::Receiver<Event>, pred: impl Fn(&Event) -> bool) -> Vec<Event> {
    let mut seen = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(3), events.recv())
            .await
            .expect("event in time")
            .unwrap();
        let done = pred(&e);
        seen.push(e);
        if done {
            return seen;
        }
    }
}

fn is_state(s: ConnectionState) -> impl Fn(&Event) -> bool {
    move |e| matches!(e, Event::Connection(c) if c.state == s)
}

fn fills(events: &[Event]) -> Vec<&Fill> {
    events.iter().filter_map(Event::as_fill).collect()
}

#[tokio::test]
async fn handshake_shapes_dedupe_gaps_and_malformed_frames() {
    let mut h = start(|_| {}).await;
    let mut ws = h.conns.recv().await.unwrap();
    let sub = handshake(&mut ws, "tok1").await;
    // [D] one subscribe with an array of subscriptions.
    let subs = sub["subscriptions"].as_array().unwrap();
    let find = |ch: &str| {
        subs.iter()
            .find(|s| s["channel"] == ch)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(find("orderbook_maker")["query"]["maker"], MAKER);
    assert_eq!(find("position")["query"]["account"], MAKER);
    assert_eq!(
        find("funding")["query"]["instrument_name"],
        "BTC_USDC-PERPETUAL"
    );
    assert_eq!(find("index_price")["query"]["pair"], "BTC_USDC");
    for ch in [
        "trade",
        "account_state",
        "instruments",
        "transfer",
        "mmp",
        "bankruptcy",
        "account_liquidation",
    ] {
        assert!(!find(ch).is_null(), "{ch} subscribed");
    }
    let seen = until(&mut h.events, is_state(ConnectionState::Resynced)).await;
    assert!(is_state(ConnectionState::Connected)(&seen[0]));
    assert!(seen.iter().any(|e| matches!(e, Event::OpenOrders(_))));
    assert_eq!(h.resync.0.load(Ordering::Relaxed), 1);

    send(&mut ws, trade_event("m1", 1, 1)).await;
    ws.send(Message::text("{not json")).await.unwrap();
    send(&mut ws, trade_event("m1", 2, 1)).await; // duplicate message id
    send(&mut ws, trade_event("m3", 3, 3)).await;
    let seen = until(
        &mut h.events,
        |e| matches!(e, Event::Fill(f) if f.venue_id == Some(perpbot_model::VenueOrderId(1003))),
    )
    .await;
    assert_eq!(fills(&seen).len(), 2);
    assert_eq!(h.stats.duplicates.load(Ordering::Relaxed), 1);
    assert_eq!(h.stats.decode_errors.load(Ordering::Relaxed), 1);
    // seq 4 skipped: a REST resync follows.
    send(&mut ws, trade_event("m5", 5, 5)).await;
    until(&mut h.events, is_state(ConnectionState::Resynced)).await;
    assert_eq!(h.resync.0.load(Ordering::Relaxed), 2);
    assert_eq!(h.stats.gaps.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn the_connection_is_replaced_before_the_cap_without_losing_an_event() {
    let mut h = start(|c| {
        c.session_max = Duration::from_millis(300);
        c.overlap = Duration::from_millis(300);
    })
    .await;
    let mut old = h.conns.recv().await.unwrap();
    handshake(&mut old, "tok1").await;
    until(&mut h.events, is_state(ConnectionState::Resynced)).await;
    // The rotation: a second connection is opened while the first stays up.
    let mut fresh = h.conns.recv().await.unwrap();
    // An event on the old connection while the new one authenticates.
    send(&mut old, trade_event("m1", 1, 1)).await;
    handshake(&mut fresh, "tok2").await;
    // The same event on both during the overlap, then one only on the new.
    send(&mut old, trade_event("m2", 2, 2)).await;
    send(&mut fresh, trade_event("m2", 1, 2)).await;
    send(&mut fresh, trade_event("m3", 2, 3)).await;
    let seen = until(
        &mut h.events,
        |e| matches!(e, Event::Fill(f) if f.venue_id == Some(perpbot_model::VenueOrderId(1003))),
    )
    .await;
    let f = fills(&seen);
    assert_eq!(
        f.iter().map(|f| f.venue_id.unwrap().0).collect::<Vec<_>>(),
        vec![1001, 1002, 1003]
    );
    assert!(!seen.iter().any(is_state(ConnectionState::Reconnecting)));
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(h.stats.rotations.load(Ordering::Relaxed), 1);
    assert_eq!(h.stats.reconnects.load(Ordering::Relaxed), 0);
    assert_eq!(h.stats.gaps.load(Ordering::Relaxed), 0);
    // The old connection was closed by the client.
    let closed = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            match old.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                _ => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok());
}

#[tokio::test]
async fn a_reconnect_recovers_the_session_and_falls_back_when_recovery_fails() {
    let mut h = start(|_| {}).await;
    let mut ws = h.conns.recv().await.unwrap();
    handshake(&mut ws, "tok1").await;
    send(&mut ws, trade_event("m1", 1, 1)).await;
    until(&mut h.events, |e| matches!(e, Event::Fill(_))).await;
    ws.close(None).await.unwrap();
    drop(ws);
    until(&mut h.events, is_state(ConnectionState::Reconnecting)).await;

    // The first message of the new connection is recover_session with the token.
    let mut ws = h.conns.recv().await.unwrap();
    let first = recv_json(&mut ws).await;
    assert_eq!(first["type"], "recover_session");
    assert_eq!(first["recovery_token"], "tok1");
    assert_eq!(first["api_key"], "test_key");
    // Replay: m1 again (dropped) and m2 missed while down; then the answer.
    send(&mut ws, trade_event("m1", 1, 1)).await;
    send(&mut ws, trade_event("m2", 2, 2)).await;
    send(
        &mut ws,
        json!({"kind":"response","type":"recover_session","success":true,"recovery_token":"tok2"}),
    )
    .await;
    let seen = until(&mut h.events, is_state(ConnectionState::Resynced)).await;
    assert_eq!(
        fills(&seen)
            .iter()
            .map(|f| f.venue_id.unwrap().0)
            .collect::<Vec<_>>(),
        vec![1002]
    );
    assert_eq!(h.stats.recoveries.load(Ordering::Relaxed), 1);

    // Next drop: recovery refused → auth + subscribe on the same connection, then resync.
    ws.close(None).await.unwrap();
    drop(ws);
    let mut ws = h.conns.recv().await.unwrap();
    let first = recv_json(&mut ws).await;
    assert_eq!(first["recovery_token"], "tok2");
    send(
        &mut ws,
        json!({"kind":"response","type":"recover_session","success":false,"error":"expired"}),
    )
    .await;
    handshake(&mut ws, "tok3").await;
    until(&mut h.events, is_state(ConnectionState::Resynced)).await;
    assert_eq!(h.stats.recovery_failures.load(Ordering::Relaxed), 1);
    assert_eq!(h.resync.0.load(Ordering::Relaxed), 3);
}

#[tokio::test]
async fn a_failed_resync_is_retried_until_resynced_and_query_fields_reach_the_decoder() {
    let mut h = start(|c| c.resync_retry = Duration::from_millis(50)).await;
    h.resync.1.store(2, Ordering::Relaxed);
    let mut ws = h.conns.recv().await.unwrap();
    handshake(&mut ws, "tok1").await;
    until(&mut h.events, is_state(ConnectionState::Resynced)).await;
    assert_eq!(h.resync.0.load(Ordering::Relaxed), 3);
    // `funding` naming its instrument only in the subscription query.
    send(
        &mut ws,
        json!({"kind":"event","type":"funding","timestamp_ms":1,"message_id":"f1","seq_id":1,
        "subscription":{"channel":"funding","query":{"instrument_name":"BTC_USDC-PERPETUAL"}},
        "data":{"funding_rate":0.0001,"timestamp":1}}),
    )
    .await;
    let seen = until(&mut h.events, |e| matches!(e, Event::Funding(_))).await;
    assert!(
        matches!(seen.last(), Some(Event::Funding(f)) if f.market == perpbot_model::MarketId(1))
    );
}

/// The next connection the client opens within `within`, if any.
async fn next_within(conns: &mut mpsc::Receiver<Server>, within: Duration) -> Option<Server> {
    tokio::time::timeout(within, conns.recv())
        .await
        .ok()
        .flatten()
}

/// Answer a reconnect: refuse its session recovery, then the full handshake.
async fn rehandshake(ws: &mut Server) {
    let first = recv_json(ws).await;
    assert_eq!(first["type"], "recover_session");
    send(
        ws,
        json!({"kind":"response","type":"recover_session","success":false,"error":"expired"}),
    )
    .await;
    handshake(ws, "tok").await;
}

/// Kyan's session cap is a planned end: the client reconnects at once. Any other close (and a
/// cap close straight after connecting) waits out the back-off.
#[tokio::test]
async fn a_session_cap_close_reconnects_at_once_and_other_closes_back_off() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let mut h = start(|c| {
        c.backoff_initial = Duration::from_secs(2);
        c.backoff_max = Duration::from_secs(2);
    })
    .await;
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.into(),
        }))
    };

    let mut ws = h.conns.recv().await.unwrap();
    handshake(&mut ws, "tok1").await;
    tokio::time::sleep(CAP_CLOSE_MIN_UPTIME + Duration::from_millis(100)).await;
    ws.send(close(4000, "session expired")).await.unwrap();
    let mut ws = next_within(&mut h.conns, Duration::from_millis(500))
        .await
        .expect("a cap close reconnects without the 1-2 s back-off");
    rehandshake(&mut ws).await;

    // A normal close after the same uptime is not the cap: the back-off (1-2 s) applies.
    tokio::time::sleep(CAP_CLOSE_MIN_UPTIME + Duration::from_millis(100)).await;
    ws.send(close(1000, "bye")).await.unwrap();
    assert!(
        next_within(&mut h.conns, Duration::from_millis(500))
            .await
            .is_none(),
        "an early normal close backs off"
    );
    let mut ws = next_within(&mut h.conns, Duration::from_secs(3))
        .await
        .expect("the reconnect after the back-off");
    rehandshake(&mut ws).await;

    // A cap close straight after connecting is a misbehaving server: back off.
    ws.send(close(4000, "session expired")).await.unwrap();
    assert!(
        next_within(&mut h.conns, Duration::from_millis(500))
            .await
            .is_none(),
        "a cap close without uptime backs off"
    );
    assert!(
        next_within(&mut h.conns, Duration::from_secs(5))
            .await
            .is_some()
    );
    assert_eq!(h.stats.reconnects.load(Ordering::Relaxed), 3);
}

#[test]
fn a_close_is_the_session_cap_by_code_4000_or_an_expiry_reason() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
    let frame = |code: u16, reason: &'static str| CloseFrame {
        code: CloseCode::from(code),
        reason: reason.into(),
    };
    assert!(is_session_cap_close(Some(&frame(4000, ""))));
    assert!(is_session_cap_close(Some(&frame(1000, "Session Expired"))));
    assert!(!is_session_cap_close(Some(&frame(1000, "bye"))));
    assert!(!is_session_cap_close(Some(&frame(1011, "internal error"))));
    assert!(!is_session_cap_close(None));
}
