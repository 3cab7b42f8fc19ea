//! Kana's documented samples are the contract (`tests/fixtures/kana/`, verbatim from the docs):
//! the client decodes every one of them, and the simulator's WebSocket frames and REST answers
//! have each sample's shape (keys and JSON value types) in the sample's doc generation. The
//! simulator also serves the G2 REST spellings with the same records as their G5 twins, and
//! answers every error in the `{success, message, data}` envelope.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use perpbot::aptos::{AccountAddress, GasConfig, NodeClient, PrivateKey, Submitter};
use perpbot::clock::Clock;
use perpbot::config::Secret;
use perpbot::model::{
    ClientOrderId, Direction, Event, Lots, MarketId, MarketSpec, NewOrder, OrderRequest, Rounding,
    Side, Ticks, Timestamp,
};
use perpbot::sim::server::wire_shape::{PositionSideField, TimestampForm, WireShape};
use perpbot::sim::server::{SimConfig, SimHandle, start};
use perpbot::venue::kana::decode::{
    KanaDecoder, KanaUnits, builtin_specs, specs_from_market_info_json,
};
use perpbot::venue::kana::rest::{KanaRest, RetryPolicy};
use perpbot::venue::kana::writer::{KanaWriter, WriterConfig};
use perpbot::venue::{RequestContext, RequestOutcome, VenueRequest, VenueWriter};
use serde_json::Value;
use tokio::time::{Instant, sleep, timeout};
use tokio_tungstenite::tungstenite::Message;

const APT: MarketId = MarketId(1338);

/// The doc generation a sample's content belongs to (reference §0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gen {
    /// The old indexer host: raw integer units, string timestamps, `is_long`.
    G2,
    /// The G4 hosts: human decimals, number timestamps, `transaction_version`.
    G4,
}

impl Gen {
    /// The `[venue.sim.wire]` setting that speaks this generation's documented shape.
    fn wire(self) -> WireShape {
        match self {
            Gen::G2 => WireShape {
                timestamps: TimestampForm::String,
                position_side: PositionSideField::IsLong,
                fill_order_ids: false,
            },
            Gen::G4 => WireShape {
                timestamps: TimestampForm::Number,
                position_side: PositionSideField::TradeSide,
                fill_order_ids: false,
            },
        }
    }

    /// The units the client reads this generation's WebSocket in (§7.6).
    fn units(self) -> KanaUnits {
        match self {
            Gen::G2 => KanaUnits::Raw,
            Gen::G4 => KanaUnits::Human,
        }
    }
}

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/kana/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

// ---------------------------------------------------------------------------------------------
// 1. The client decodes every documented sample
// ---------------------------------------------------------------------------------------------

/// One WebSocket sample: its file, generation, and what decoding it must give: the kinds of
/// the events (in order) and the reasons of the records it skips.
struct WsSample {
    file: &'static str,
    generation: Gen,
    events: &'static [&'static str],
    skips: &'static [&'static str],
}

const WS_SAMPLES: &[WsSample] = &[
    WsSample {
        file: "ws_positions_g2.json",
        generation: Gen::G2,
        events: &["Position"],
        skips: &[],
    },
    WsSample {
        file: "ws_trade_history_g2.json",
        generation: Gen::G2,
        events: &["Fill"],
        skips: &[],
    },
    WsSample {
        file: "ws_open_orders_empty_g2.json",
        generation: Gen::G2,
        events: &["OpenOrders"],
        skips: &[],
    },
    WsSample {
        file: "ws_open_orders_g2.json",
        generation: Gen::G2,
        events: &["OpenOrders"],
        skips: &[],
    },
    WsSample {
        file: "ws_order_history_g2.json",
        generation: Gen::G2,
        events: &["Order", "Order"],
        skips: &[],
    },
    WsSample {
        file: "ws_orderbook_g2.json",
        generation: Gen::G2,
        events: &["Book"],
        skips: &[],
    },
    WsSample {
        file: "ws_recent_trades_g4.json",
        generation: Gen::G4,
        events: &["Trade"],
        // Both counterparties of one match are listed (§7.4): one trade, one leg skipped.
        skips: &["the other side of a match already emitted"],
    },
    WsSample {
        file: "ws_live_funding_rate_g4.json",
        generation: Gen::G4,
        events: &["Funding", "Funding", "Funding"],
        skips: &[],
    },
];

fn event_kind(e: &Event) -> &'static str {
    match e {
        Event::Book(_) => "Book",
        Event::Trade(_) => "Trade",
        Event::BestPrice(_) => "BestPrice",
        Event::Fill(_) => "Fill",
        Event::Position(_) => "Position",
        Event::Funding(_) => "Funding",
        Event::Order(_) => "Order",
        Event::OpenOrders(_) => "OpenOrders",
        _ => "other",
    }
}

/// The markets the samples use: 396 (G2, on the 1338 grid: [INF] of `builtin_specs`), 1338, and
/// the mainnet ids of the funding sample (14, 15, 16; a rate needs no grid, the APT grid is
/// borrowed).
fn sample_specs() -> Vec<MarketSpec> {
    let mut specs = builtin_specs();
    for id in [14, 15, 16] {
        specs.push(MarketSpec {
            id: MarketId(id),
            name: format!("mainnet {id}"),
            ..MarketSpec::kana_apt_testnet()
        });
    }
    specs
}

/// Decode a frame with a fresh decoder for its generation: the event kinds and skip reasons.
fn decode_sample(frame: &str, generation: Gen) -> (Vec<&'static str>, Vec<String>) {
    let mut decoder = KanaDecoder::new(sample_specs(), generation.units()).unwrap();
    let mut events = Vec::new();
    // Before every sample's time, so no history record counts as old.
    decoder
        .decode(frame, Timestamp(0), &mut events)
        .unwrap_or_else(|e| panic!("refused: {e}"));
    assert!(
        decoder.last_record_issues().is_empty(),
        "records refused: {:?}",
        decoder.last_record_issues()
    );
    let mut skips = Vec::new();
    for (reason, n) in decoder.last_skips().reasons() {
        for _ in 0..n {
            skips.push(reason.to_string());
        }
    }
    (events.iter().map(event_kind).collect(), skips)
}

#[test]
fn every_documented_websocket_sample_decodes_to_events_or_reasoned_skips() {
    for s in WS_SAMPLES {
        let (events, skips) = decode_sample(fixture(s.file).trim_end(), s.generation);
        assert_eq!(events, s.events, "{}: events", s.file);
        assert_eq!(skips, s.skips, "{}: skips", s.file);
        assert!(!events.is_empty() || !skips.is_empty(), "{}", s.file);
    }
}

/// The open-orders pair as the docs print it (empty snapshot, then the order) on one decoder.
#[test]
fn the_open_orders_samples_decode_in_sequence() {
    let mut decoder = KanaDecoder::new(sample_specs(), KanaUnits::Raw).unwrap();
    let mut events = Vec::new();
    for file in ["ws_open_orders_empty_g2.json", "ws_open_orders_g2.json"] {
        decoder
            .decode(fixture(file).trim_end(), Timestamp(0), &mut events)
            .unwrap();
    }
    let sizes: Vec<usize> = events
        .iter()
        .map(|e| match e {
            Event::OpenOrders(o) => o.orders.len(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(sizes, [0, 1]);
}

/// A local stand-in for Kana's REST host that answers each path with a fixed body (only
/// 127.0.0.1; no network).
async fn canned(answers: HashMap<&'static str, String>) -> (String, tokio::task::JoinHandle<()>) {
    let answers = Arc::new(answers);
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let answers = answers.clone();
        async move {
            match answers.get(uri.path()) {
                Some(body) => (
                    axum::http::StatusCode::OK,
                    [("content-type", "application/json")],
                    body.clone(),
                ),
                None => (
                    axum::http::StatusCode::NOT_FOUND,
                    [("content-type", "application/json")],
                    String::new(),
                ),
            }
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, task)
}

fn client(url: &str) -> KanaRest {
    KanaRest::new(
        url,
        Some(Secret::new("sim".into())),
        Duration::from_secs(5),
        RetryPolicy::none(),
    )
    .unwrap()
}

/// The sample's `data` in a success envelope.
fn in_envelope(sample: &Value) -> String {
    serde_json::json!({"success": true, "message": "sample", "data": sample["data"]}).to_string()
}

#[tokio::test]
async fn every_documented_rest_sample_decodes_through_the_rest_client() {
    // Market info (G2, market 301) → a spec, by the offline reader and by the client.
    let info = fixture("rest_getMarketInfo_301.json");
    let specs = specs_from_market_info_json(&info).expect("the 301 sample gives a spec");
    assert_eq!(specs.len(), 1);
    assert_eq!(
        (specs[0].id, specs[0].lot_size, specs[0].tick_size),
        (MarketId(301), 150_000_000, 1)
    );

    // The G2 WebSocket records are also the REST records' documented shapes (§4.4.1-§4.4.4
    // cite them): the client's REST record types read them too.
    let mut answers = HashMap::new();
    answers.insert("/getMarketInfo", info);
    answers.insert("/getProfileAddress", fixture("rest_getProfileAddress.json"));
    answers.insert("/getPositions", in_envelope(&json("ws_positions_g2.json")));
    answers.insert(
        "/getOpenOrders",
        in_envelope(&json("ws_open_orders_g2.json")),
    );
    answers.insert(
        "/getOrderHistory",
        in_envelope(&json("ws_order_history_g2.json")),
    );
    answers.insert(
        "/getTradeHistory",
        in_envelope(&json("ws_trade_history_g2.json")),
    );
    answers.insert(
        "/getAllTrades",
        in_envelope(&json("ws_recent_trades_g4.json")),
    );
    let (url, task) = canned(answers).await;
    let rest = client(&url);
    let spec = rest.market_spec(MarketId(301)).await.expect("market info");
    assert_eq!(spec, specs[0]);

    // The profile address: 63 hex digits in the sample (§1.3), normalised by the client.
    let wallet = AccountAddress::from_hex(
        "0xd01e3a233632a41463bd6d289e99e69e1b50815c7afff710e1c992659a8722f3",
    )
    .unwrap();
    let profile = rest.profile_address(wallet).await.expect("profile address");
    assert_eq!(
        profile,
        "0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e"
    );

    let positions = rest.positions(wallet, None).await.expect("positions");
    assert_eq!(positions.parse().unwrap().len(), 1);
    assert_eq!(positions.parse().unwrap()[0].is_long(), Some(false));
    let orders = rest.open_orders(wallet, None).await.expect("open orders");
    assert_eq!(orders.parse().unwrap().len(), 1);
    let history = rest.order_history(wallet, None).await.expect("history");
    assert_eq!(history.parse().unwrap().len(), 2);
    let fills = rest.trade_history(wallet, None).await.expect("fills");
    assert_eq!(fills.parse().unwrap().len(), 1);
    let trades = rest.all_trades(APT).await.expect("all trades");
    assert_eq!(trades.parse().unwrap().len(), 2);
    task.abort();
}

// ---------------------------------------------------------------------------------------------
// 2. The simulator speaks each sample's shape
// ---------------------------------------------------------------------------------------------

/// A JSON value's type, as a shape sees it.
fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The keys of a set of records and the types each takes.
fn shape_of<'a>(
    records: impl IntoIterator<Item = &'a Value>,
) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut shape: BTreeMap<String, BTreeSet<&'static str>> = BTreeMap::new();
    for r in records {
        let Some(obj) = r.as_object() else {
            panic!("not a record: {r}");
        };
        for (k, v) in obj {
            shape.entry(k.clone()).or_default().insert(type_of(v));
        }
    }
    shape
}

/// Every way `actual` departs from the documented shape: a documented key missing, a value of
/// another type, a key the sample lacks that is not in `allowed` (keys a later generation
/// documents, each with its reference line at the call).
fn departures(
    documented: &BTreeMap<String, BTreeSet<&'static str>>,
    actual: &Value,
    allowed: &[&str],
) -> Vec<String> {
    let mut out = Vec::new();
    let Some(obj) = actual.as_object() else {
        return vec![format!("not an object: {actual}")];
    };
    for (key, types) in documented {
        match obj.get(key) {
            None => out.push(format!("documented key {key:?} missing")),
            Some(v) if !types.contains(type_of(v)) => out.push(format!(
                "{key:?} is {} where the sample has {types:?}",
                type_of(v)
            )),
            Some(_) => {}
        }
    }
    for key in obj.keys() {
        if !documented.contains_key(key) && !allowed.contains(&key.as_str()) {
            out.push(format!("key {key:?} is not in the sample"));
        }
    }
    out
}

/// Check each record of `records` against the records of the sample `file`.
fn assert_records_match(what: &str, file: &str, records: &[Value], allowed: &[&str]) {
    let sample = json(file);
    let documented = shape_of(sample["data"].as_array().expect("sample data is a list"));
    assert!(!records.is_empty(), "{what}: the simulator sent no records");
    for r in records {
        let d = departures(&documented, r, allowed);
        assert!(d.is_empty(), "{what} vs {file}: {d:?}\nsimulator: {r}");
    }
}

/// Check a frame's envelope and records against a sample (a list `data`, `message` = topic).
fn assert_frame_matches(topic: &str, file: &str, frame: &Value, allowed: &[&str]) {
    let sample = json(file);
    let envelope = |v: &Value| -> BTreeMap<String, &'static str> {
        v.as_object()
            .map(|o| o.iter().map(|(k, v)| (k.clone(), type_of(v))).collect())
            .unwrap_or_default()
    };
    let (mut documented, actual) = (envelope(&sample), envelope(frame));
    if topic == "recent_trades" {
        // The recent_trades sample alone has no `message` (§7.3 notes it as a doc slip); the
        // simulator names the topic like every other frame, and the client routes either.
        documented.insert("message".into(), "string");
    }
    assert_eq!(actual, documented, "{topic}: envelope of {frame}");
    assert_eq!(frame["message"], topic);
    let records = frame["data"].as_array().cloned().unwrap_or_default();
    assert_records_match(&format!("ws {topic}"), file, &records, allowed);
}

// Keys the simulator adds that a later generation documents (allowed by name, per record):
/// `available_order_size`: the G4/G5 position record, reference §4.4.2.
const LATER_POSITION: &[&str] = &["available_order_size", "transaction_version"];
/// `leverage`, `order_value`, `transaction_version`: the G4 `recent_trades` sample (§7.4,
/// fixture `ws_recent_trades_g4.json`); `entry_price`: the G5 fill record, §4.4.4.
const LATER_FILL: &[&str] = &[
    "leverage",
    "order_value",
    "transaction_version",
    "entry_price",
];
/// `transaction_version`: G4 records, §2.2 and §4.4.1.
const LATER_OPEN_ORDER: &[&str] = &["transaction_version"];
/// `total_filled`, `remaining_size`, `total_trade_size`: `fetchOrderStatusById`, §4.4.3;
/// `transaction_version`: §4.4.3 ("G4/G5 add `transaction_version`").
const LATER_ORDER: &[&str] = &[
    "total_filled",
    "remaining_size",
    "total_trade_size",
    "transaction_version",
];
/// `__variant__` and `creator` (G3+), `market_status` (G4): §3.2.
const LATER_MARKET: &[&str] = &["__variant__", "creator", "market_status"];
/// The G4 fill record adds nothing on the WebSocket; REST adds `entry_price` (§4.4.4).
const G4_REST_FILL: &[&str] = &["entry_price"];

fn sim_config() -> SimConfig {
    let mut c = SimConfig {
        block_latency_ms: 30,
        ..SimConfig::default()
    };
    c.synthetic.step_ms = 30;
    c
}

async fn writer(h: &SimHandle, key: PrivateKey) -> (KanaWriter, MarketSpec) {
    let rest = Arc::new(client(&h.rest_url));
    let spec = rest.market_spec(APT).await.unwrap();
    let poll = crate::common::loopback_poll();
    let node = NodeClient::new(&h.node_url, Duration::from_secs(5))
        .unwrap()
        .with_poll_config(poll);
    let gas = GasConfig {
        max_gas_amount: 10_000,
        gas_unit_price: Some(100),
        expiration_secs: 30,
    };
    let submitter = Arc::new(Submitter::new(node, key, 4, gas));
    let config = WriterConfig {
        confirm_timeout: Duration::from_secs(5),
        max_batch: 10,
        delegate_for: None,
    };
    (
        KanaWriter::new(rest, submitter, vec![spec.clone()], config),
        spec,
    )
}

async fn wait_book(rest: &KanaRest, spec: &MarketSpec) -> (Ticks, Ticks) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let p = rest.market_price(APT).await.unwrap();
        if let (Some(bid), Some(ask)) = (p.best_bid, p.best_ask) {
            let ticks = |d| spec.price_to_ticks(d, Rounding::Exact).unwrap();
            return (ticks(bid), ticks(ask));
        }
        assert!(Instant::now() < deadline, "no two-sided book");
        sleep(Duration::from_millis(30)).await;
    }
}

async fn place(w: &KanaWriter, order: NewOrder) {
    let request = VenueRequest::Orders {
        market: APT,
        cancel: vec![],
        place: vec![OrderRequest {
            client_id: ClientOrderId(1),
            order,
        }],
    };
    let outcome = w.execute(request, &RequestContext::none()).await;
    assert!(
        matches!(outcome, RequestOutcome::Accepted { .. }),
        "{outcome:?}"
    );
}

/// A simulator with a long position (a limit buy that crossed the ask: a fill, a `Filled`
/// limit order) and a resting bid that adds to it (an open order carrying the position's
/// `trade_id`, as the G2 open-order sample does): every documented topic has records.
async fn driven_sim() -> (SimHandle, AccountAddress, AccountAddress) {
    let h = start(
        sim_config(),
        "127.0.0.1:0".parse().unwrap(),
        Clock::system(),
    )
    .await
    .unwrap();
    let key = PrivateKey::from_seed_bytes([61; 32]);
    let wallet = key.address();
    let rest = client(&h.rest_url);
    let (w, spec) = writer(&h, key).await;
    let (bid, ask) = wait_book(&rest, &spec).await;
    let mut buy = NewOrder::limit(APT, Side::Buy, Lots(1000), ask).with_leverage(2);
    buy.direction = Direction::Open;
    place(&w, buy).await;
    let mut rest_bid = NewOrder::limit(
        APT,
        Side::Buy,
        Lots(1000),
        Ticks(bid.0.saturating_sub(50).max(1)),
    )
    .post_only()
    .with_leverage(2);
    rest_bid.direction = Direction::Open;
    place(&w, rest_bid).await;
    let profile = AccountAddress::from_hex(&rest.profile_address(wallet).await.unwrap()).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let positions = rest.positions(wallet, Some(APT)).await.unwrap();
        let orders = rest.open_orders(wallet, Some(APT)).await.unwrap();
        let fills = rest.trade_history(wallet, Some(APT)).await.unwrap();
        if !positions.is_empty() && orders.len() == 1 && !fills.is_empty() {
            break;
        }
        assert!(Instant::now() < deadline, "the sim never showed the orders");
        sleep(Duration::from_millis(50)).await;
    }
    (h, wallet, profile)
}

/// Subscribe to one topic on a fresh connection and return its first frame.
async fn first_frame(h: &SimHandle, subscribe: Value) -> Value {
    let (mut ws, _) = tokio_tungstenite::connect_async(h.ws_url.as_str())
        .await
        .unwrap();
    ws.send(Message::Text(subscribe.to_string().into()))
        .await
        .unwrap();
    let topic = subscribe["topic"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let msg = timeout(left, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no {topic} frame"));
        if let Some(Ok(Message::Text(t))) = msg {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            if v["message"] == topic.as_str() {
                let _ = ws.close(None).await;
                return v;
            }
        }
    }
}

/// A REST answer: status and JSON body.
async fn get(h: &SimHandle, path_and_query: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}{path_and_query}", h.rest_url))
        .header("x-api-key", "sim")
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path_and_query}: {e}: {text}"));
    (status, body)
}

/// A success answer's `data` records, after checking its envelope's shape.
async fn rest_records(h: &SimHandle, path_and_query: &str) -> Vec<Value> {
    let (status, body) = get(h, path_and_query).await;
    assert_eq!(status, 200, "{path_and_query}: {body}");
    assert_envelope(&body, true, path_and_query);
    match &body["data"] {
        Value::Array(a) => a.clone(),
        other => vec![other.clone()],
    }
}

/// `{success: bool, message: string, data}` with nothing else (§2.1).
fn assert_envelope(body: &Value, success: bool, what: &str) {
    let keys: BTreeSet<&str> = body
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        BTreeSet::from(["success", "message", "data"]),
        "{what}: {body}"
    );
    assert_eq!(body["success"], success, "{what}: {body}");
    assert!(body["message"].is_string(), "{what}: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_simulator_speaks_every_documented_shape_in_its_generation() {
    let (h, wallet, profile) = driven_sim().await;
    let addr = profile.to_string();
    let subscribe = |topic: &str| serde_json::json!({"topic": topic, "address": addr});
    let market = |topic: &str| serde_json::json!({"topic": topic, "market_id": "1338"});

    // G2: the old host's samples.
    h.shared.core().config.wire = Gen::G2.wire();
    let cases: [(&str, Value, &str, &[&str]); 5] = [
        (
            "positions",
            subscribe("positions"),
            "ws_positions_g2.json",
            LATER_POSITION,
        ),
        (
            "trade_history",
            subscribe("trade_history"),
            "ws_trade_history_g2.json",
            LATER_FILL,
        ),
        (
            "open_orders",
            subscribe("open_orders"),
            "ws_open_orders_g2.json",
            LATER_OPEN_ORDER,
        ),
        (
            "order_history",
            subscribe("order_history"),
            "ws_order_history_g2.json",
            LATER_ORDER,
        ),
        (
            "orderbook",
            market("orderbook"),
            "ws_orderbook_g2.json",
            &[],
        ),
    ];
    for (topic, sub, file, allowed) in cases {
        let frame = first_frame(&h, sub).await;
        assert_frame_matches(topic, file, &frame, allowed);
    }
    let w = wallet.to_string();
    let rest_cases: [(String, &str, &[&str]); 5] = [
        (
            format!("/getPositions?userAddress={w}"),
            "ws_positions_g2.json",
            LATER_POSITION,
        ),
        (
            format!("/getOpenOrders?userAddress={w}"),
            "ws_open_orders_g2.json",
            LATER_OPEN_ORDER,
        ),
        (
            format!("/getOrderHistory?userAddress={w}"),
            "ws_order_history_g2.json",
            LATER_ORDER,
        ),
        (
            format!("/getTradeHistory?userAddress={w}"),
            "ws_trade_history_g2.json",
            LATER_FILL,
        ),
        (
            "/getMarketInfo?marketId=1338".to_owned(),
            "rest_getMarketInfo_301.json",
            LATER_MARKET,
        ),
    ];
    for (path, file, allowed) in rest_cases {
        let records = rest_records(&h, &path).await;
        assert_records_match(&format!("rest {path}"), file, &records, allowed);
    }
    // The profile address: `data` a string, as in the sample.
    let (status, body) = get(&h, &format!("/getProfileAddress?userAddress={w}")).await;
    assert_eq!(status, 200);
    assert_envelope(&body, true, "getProfileAddress");
    let sample = json("rest_getProfileAddress.json");
    assert_eq!(type_of(&body["data"]), type_of(&sample["data"]));
    assert_eq!(body["data"], addr.as_str());

    // G4: the new hosts' samples.
    h.shared.core().config.wire = Gen::G4.wire();
    let frame = first_frame(&h, market("recent_trades")).await;
    assert_frame_matches("recent_trades", "ws_recent_trades_g4.json", &frame, &[]);
    let frame = first_frame(&h, serde_json::json!({"topic": "live_funding_rate"})).await;
    assert_frame_matches(
        "live_funding_rate",
        "ws_live_funding_rate_g4.json",
        &frame,
        &[],
    );
    let records = rest_records(&h, "/getAllTrades?marketId=1338").await;
    assert_records_match(
        "rest getAllTrades",
        "ws_recent_trades_g4.json",
        &records,
        G4_REST_FILL,
    );
    h.stop();
}

/// What the simulator sends in a documented shape, the client decodes without a refused
/// record (the samples' shapes are the contract both ways).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_decodes_the_simulators_documented_shapes() {
    let (h, _, profile) = driven_sim().await;
    let addr = profile.to_string();
    for generation in [Gen::G2, Gen::G4] {
        h.shared.core().config.wire = generation.wire();
        let mut decoder =
            KanaDecoder::new(vec![MarketSpec::kana_apt_testnet()], KanaUnits::Human).unwrap();
        for topic in ["positions", "trade_history", "open_orders", "order_history"] {
            let frame = first_frame(&h, serde_json::json!({"topic": topic, "address": addr})).await;
            let mut events = Vec::new();
            let n = decoder
                .decode(&frame.to_string(), Timestamp(0), &mut events)
                .unwrap_or_else(|e| panic!("{generation:?} {topic}: {e}"));
            assert!(n > 0, "{generation:?} {topic}: no events");
            assert!(
                decoder.last_record_issues().is_empty(),
                "{generation:?} {topic}: {:?}",
                decoder.last_record_issues()
            );
        }
        for topic in ["orderbook", "recent_trades"] {
            let frame =
                first_frame(&h, serde_json::json!({"topic": topic, "market_id": "1338"})).await;
            let mut events = Vec::new();
            decoder
                .decode(&frame.to_string(), Timestamp(0), &mut events)
                .unwrap_or_else(|e| panic!("{generation:?} {topic}: {e}"));
            assert!(
                decoder.last_record_issues().is_empty(),
                "{generation:?} {topic}: {:?}",
                decoder.last_record_issues()
            );
        }
    }
    h.stop();
}

// ---------------------------------------------------------------------------------------------
// 3. The G2 spellings, and errors in the envelope
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_spellings_return_the_records_of_their_g5_twins() {
    let (h, wallet, _) = driven_sim().await;
    let w = wallet.to_string();
    let pairs = [
        (
            format!("/getOpenOrderIds?address={w}&marketId=1338"),
            format!("/getAllOpenOrderIds?userAddress={w}&marketId=1338"),
        ),
        (
            format!("/getTradingAccountBalance?address={w}&marketId=1338"),
            format!("/getProfileBalanceSnapshot?userAddress={w}"),
        ),
        (
            format!("/getOrderHistory?address={w}&marketId=1338&offset=0&limit=10&order=asc"),
            format!("/getOrderHistory?userAddress={w}&marketId=1338"),
        ),
        (
            format!(
                "/getFills?marketId=1338&address={w}&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
            ),
            format!(
                "/getFillsForGivenTimestamp?userAddress={w}&marketId=1338&fromTimestamp=0&toTimestamp=4102444800"
            ),
        ),
    ];
    for (old, new) in pairs {
        let (a, b) = (rest_records(&h, &old).await, rest_records(&h, &new).await);
        assert!(
            !a.is_empty() && a.first() != Some(&Value::Null),
            "{old}: nothing"
        );
        assert_eq!(a, b, "{old} vs {new}");
    }
    // getFills by order id: the buy's fills only; the resting bid has none.
    let fills = rest_records(
        &h,
        &format!(
            "/getFills?marketId=1338&address={w}&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z"
        ),
    )
    .await;
    let (status, body) = get(&h, &format!("/getTradeHistory?userAddress={w}")).await;
    assert_eq!(status, 200);
    let with_ids: Vec<Value> = body["data"].as_array().cloned().unwrap_or_default();
    assert_eq!(fills.len(), with_ids.len());
    // Without `address`: every party's fills of the market, ours among them.
    let market = rest_records(
        &h,
        "/getFills?marketId=1338&from=1970-01-01T00:00:00Z&to=2100-01-01T00:00:00Z",
    )
    .await;
    assert!(market.len() >= fills.len());
    for f in &fills {
        assert!(market.contains(f), "{f} missing from the market's fills");
    }
    // A window before every fill: none.
    let none = rest_records(
        &h,
        &format!(
            "/getFills?marketId=1338&address={w}&from=2000-01-01T00:00:00Z&to=2000-01-02T00:00:00Z"
        ),
    )
    .await;
    assert!(none.is_empty(), "{none:?}");
    // G2 paging: limit 1 from each end.
    let first = rest_records(
        &h,
        &format!("/getOrderHistory?address={w}&marketId=1338&limit=1&order=asc"),
    )
    .await;
    let last = rest_records(
        &h,
        &format!("/getOrderHistory?address={w}&marketId=1338&limit=1&order=desc"),
    )
    .await;
    let all = rest_records(
        &h,
        &format!("/getOrderHistory?address={w}&marketId=1338&order=asc"),
    )
    .await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(first, all[..1]);
    assert_eq!(last, all[1..]);
    let skipped = rest_records(
        &h,
        &format!("/getOrderHistory?address={w}&marketId=1338&offset=1&order=asc"),
    )
    .await;
    assert_eq!(skipped, all[1..]);
    h.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_and_unknown_paths_are_answered_in_the_envelope() {
    let h = start(
        sim_config(),
        "127.0.0.1:0".parse().unwrap(),
        Clock::system(),
    )
    .await
    .unwrap();
    let w = PrivateKey::from_seed_bytes([62; 32]).address().to_string();
    let cases: Vec<(String, u16, &str)> = vec![
        ("/noSuchEndpoint".into(), 404, "/noSuchEndpoint"),
        ("/getfills".into(), 404, "/getfills"),
        (
            format!("/getFills?address={w}&from=2024-11-21T00:00:00Z&to=2024-11-21T23:59:59Z"),
            400,
            "marketId",
        ),
        (
            format!("/getFills?marketId=1338&address={w}&to=2024-11-21T23:59:59Z"),
            400,
            "from",
        ),
        (
            format!("/getFills?marketId=1338&address={w}&from=2024-11-21&to=21/11/2024"),
            400,
            "to",
        ),
        (
            format!(
                "/getFills?marketId=1338&address={w}&from=2024-13-21T00:00:00Z&to=2024-11-21T23:59:59Z"
            ),
            400,
            "from",
        ),
        (
            format!(
                "/getFills?marketId=1338&address={w}&from=2024-11-22T00:00:00Z&to=2024-11-21T00:00:00Z"
            ),
            400,
            "from",
        ),
        (
            format!(
                "/getFills?marketId=1338&address={w}&from=2024-11-21T00:00:00Z&to=2024-11-22T00:00:00Z&orderId=x"
            ),
            400,
            "orderId",
        ),
        ("/getOpenOrderIds?marketId=1338".into(), 400, "address"),
        (format!("/getOpenOrderIds?address={w}"), 400, "marketId"),
        (
            "/getTradingAccountBalance?marketId=1338".into(),
            400,
            "address",
        ),
        (
            format!("/getTradingAccountBalance?address={w}"),
            400,
            "marketId",
        ),
        (
            format!("/getTradingAccountBalance?address={w}&marketId=9"),
            400,
            "marketId",
        ),
        (
            format!("/getOrderHistory?address={w}&marketId=1338&limit=-1"),
            400,
            "limit",
        ),
        (
            format!("/getOrderHistory?address={w}&marketId=1338&offset=-3"),
            400,
            "offset",
        ),
        (
            format!("/getOrderHistory?address={w}&marketId=1338&order=up"),
            400,
            "order",
        ),
        (format!("/getOrderHistory?address={w}"), 400, "marketId"),
        ("/getOrderHistory?marketId=1338".into(), 400, "userAddress"),
    ];
    for (path, status, names) in cases {
        let (got, body) = get(&h, &path).await;
        assert_eq!(got, status, "{path}: {body}");
        assert_envelope(&body, false, &path);
        assert_eq!(body["data"], Value::Null, "{path}");
        let message = body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(names),
            "{path}: {message:?} does not name {names}"
        );
    }
    h.stop();
}
