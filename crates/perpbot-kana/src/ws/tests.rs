use std::sync::Mutex;
use std::sync::atomic::AtomicUsize;

use axum::Router;
use axum::extract::ws::{Message as AxMessage, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use tokio::sync::Notify;

use super::*;
use crate::decode::KanaUnits;
use crate::rest::RetryPolicy;
use perpbot_model::{MarketSpec, Timestamp};

const PROFILE_63: &str = "0x3c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e";
const PROFILE: &str = "0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e";

/// The reference's orderbook sample (§7.4), moved to testnet market 1338 in human units.
const BOOK: &str = r#"{"data":[{"is_ask":true,"last_updated":"1739790988","market_id":"1338","price":"6.036","size":"169.32"},{"is_ask":false,"last_updated":"1739790988","market_id":"1338","price":"6.031","size":"174.998"}],"message":"orderbook"}"#;
/// The same with a bad number in one level.
const BAD_BOOK: &str = r#"{"data":[{"is_ask":true,"last_updated":"1739790988","market_id":"1338","price":"6.0x36","size":"169.32"},{"is_ask":false,"last_updated":"1739790988","market_id":"1338","price":"6.031","size":"174.998"}],"message":"orderbook"}"#;
/// An open-order record (§4.4.1) on market 1338.
const OPEN_ORDER: &str = r#"{"address":"0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e","market_id":"1338","leverage":2,"order_type":1,"timestamp":1746177750,"price":"5.518","total_size":"11.851","remaining_size":"11.851","order_value":"65.393818","order_id":"12907057702855018828273522","trade_id":"16528282690043758248332","last_updated":1746177751,"transaction_version":6704413443}"#;
/// A position record (§4.4.2) on market 1338.
const POSITION: &str = r#"{"address":"0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e","market_id":"1338","leverage":10,"trade_side":true,"size":"0.5","available_order_size":"0.5","value":"2.759","entry_price":"5.518","liq_price":"5.1","margin":"0.2759","tp":null,"sl":null,"trade_id":"16528282690043758248332","last_updated":1753165487,"transaction_version":3102182809}"#;
/// A fill record (§4.4.4) on market 1338: a taker buy of 11.851 that paid a fee.
const FILL: &str = r#"{"address":"0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e","leverage":2,"market_id":"1338","timestamp":1746177750,"size":"11.851","order_type":1,"price":"5.518","order_value":"65.393818","pnl":"0","fee":"0.0326969090000000006806411505","trade_id":"176609127761695247172922","last_updated":1746177751,"transaction_version":6704413443,"entry_price":null,"order_id":"12907057702855018828273522"}"#;

const WAIT: Duration = Duration::from_secs(2);

fn decoder() -> KanaDecoder {
    match KanaDecoder::new(vec![MarketSpec::kana_apt_testnet()], KanaUnits::Auto) {
        Ok(d) => d,
        Err(e) => panic!("decoder: {e}"),
    }
}

fn subs() -> Subscriptions {
    Subscriptions {
        markets: vec![MarketId(1338)],
        best_price: true,
        funding: true,
        ..Default::default()
    }
    .with_profile(PROFILE_63)
    .expect("valid profile")
}

fn expected_messages() -> Vec<String> {
    vec![
        r#"{"topic":"orderbook","market_id":"1338"}"#.to_owned(),
        r#"{"topic":"recent_trades","market_id":"1338"}"#.to_owned(),
        format!(r#"{{"topic":"positions","address":"{PROFILE}"}}"#),
        format!(r#"{{"topic":"open_orders","address":"{PROFILE}"}}"#),
        format!(r#"{{"topic":"order_history","address":"{PROFILE}"}}"#),
        format!(r#"{{"topic":"trade_history","address":"{PROFILE}"}}"#),
        r#"{"topic":"live_funding_rate"}"#.to_owned(),
        r#"{"topic":"bestPrice"}"#.to_owned(),
    ]
}

fn config(url: &str) -> WsConfig {
    WsConfig {
        url: url.to_owned(),
        ping_interval: Duration::from_secs(1),
        silence_timeout: Duration::from_secs(5),
        backoff_initial: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        connect_timeout: Duration::from_secs(1),
        resync_timeout: Duration::from_secs(1),
    }
}

// -- fixture ---------------------------------------------------------------------------------

/// What the fixture does on one connection, in order.
#[derive(Debug, Clone)]
enum Step {
    /// Read this many text frames (the subscriptions), recording them.
    AwaitText(usize),
    /// Send a text frame.
    Send(&'static str),
    /// Send a close frame and end the connection.
    Close,
    /// Neither read nor write (so pings go unanswered) for a long time.
    Hang,
    /// Keep reading (answering pings) and recording text frames until the client leaves.
    Drain,
}

struct FixtureState {
    /// Script per connection; the last one repeats.
    scripts: Vec<Vec<Step>>,
    accepted: AtomicUsize,
    received: mpsc::UnboundedSender<(usize, String)>,
    /// When each ping from the client arrived (while draining).
    pings: Mutex<Vec<Instant>>,
}

struct Fixture {
    url: String,
    state: Arc<FixtureState>,
    received: mpsc::UnboundedReceiver<(usize, String)>,
}

impl Fixture {
    async fn start(scripts: Vec<Vec<Step>>) -> Fixture {
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(FixtureState {
            scripts,
            accepted: AtomicUsize::new(0),
            received: tx,
            pings: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/ws/", get(upgrade))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fixture {
            url: format!("ws://{addr}/ws/"),
            state,
            received: rx,
        }
    }

    /// The next `n` text frames the fixture received, with the connection number.
    async fn texts(&mut self, n: usize) -> Vec<(usize, String)> {
        let mut out = Vec::new();
        while out.len() < n {
            match timeout(WAIT, self.received.recv()).await {
                Ok(Some(x)) => out.push(x),
                other => panic!("fixture got {} of {n} frames: {other:?}", out.len()),
            }
        }
        out
    }
}

async fn upgrade(ws: WebSocketUpgrade, State(state): State<Arc<FixtureState>>) -> Response {
    ws.on_upgrade(move |socket| serve_script(socket, state))
}

async fn serve_script(mut socket: WebSocket, state: Arc<FixtureState>) {
    let conn = state.accepted.fetch_add(1, Ordering::SeqCst);
    let steps = state
        .scripts
        .get(conn)
        .or(state.scripts.last())
        .cloned()
        .unwrap_or_default();
    for step in steps {
        match step {
            Step::AwaitText(n) => {
                let mut got = 0;
                while got < n {
                    match socket.recv().await {
                        Some(Ok(AxMessage::Text(t))) => {
                            got += 1;
                            let _ = state.received.send((conn, t.to_string()));
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
            }
            Step::Send(text) => {
                if socket.send(AxMessage::Text(text.into())).await.is_err() {
                    return;
                }
            }
            Step::Close => {
                let _ = socket.send(AxMessage::Close(None)).await;
                return;
            }
            Step::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                return;
            }
            Step::Drain => {
                // Reading is what answers pings (the pong goes out with the next read).
                while let Some(Ok(m)) = socket.recv().await {
                    match m {
                        AxMessage::Text(t) => {
                            let _ = state.received.send((conn, t.to_string()));
                        }
                        AxMessage::Ping(_) => {
                            if let Ok(mut pings) = state.pings.lock() {
                                pings.push(Instant::now());
                            }
                        }
                        _ => {}
                    }
                }
                return;
            }
        }
    }
}

/// A scripted [`Resync`]: fails the first `fail_first` calls, then (after `gate`, if any)
/// returns `frames`.
struct FakeResync {
    frames: Vec<String>,
    fail_first: usize,
    gate: Option<Arc<Notify>>,
    calls: AtomicUsize,
}

impl FakeResync {
    fn new(frames: Vec<String>) -> FakeResync {
        FakeResync {
            frames,
            fail_first: 0,
            gate: None,
            calls: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Resync for FakeResync {
    async fn resync(&self) -> Result<Vec<String>, String> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst);
        if call < self.fail_first {
            return Err(format!("scripted failure {call}"));
        }
        if let Some(gate) = &self.gate {
            gate.notified().await;
        }
        Ok(self.frames.clone())
    }
}

fn open_orders_frame() -> String {
    records_frame("open_orders", [OPEN_ORDER])
}

async fn next(rx: &mut mpsc::Receiver<Event>) -> Event {
    match timeout(WAIT, rx.recv()).await {
        Ok(Some(e)) => e,
        other => panic!("no event: {other:?}"),
    }
}

/// Next event must be a connection event in `state`.
async fn expect_state(rx: &mut mpsc::Receiver<Event>, state: ConnectionState) {
    match next(rx).await {
        Event::Connection(c) => {
            assert_eq!((c.stream.as_str(), c.state), (STREAM, state));
        }
        other => panic!("expected {state:?}, got {other:?}"),
    }
}

fn start(
    fixture: &Fixture,
    cfg: Option<WsConfig>,
    resync: Option<Arc<dyn Resync>>,
) -> (JoinHandle<()>, Arc<WsStats>, mpsc::Receiver<Event>) {
    let (tx, rx) = mpsc::channel(16);
    let cfg = cfg.unwrap_or_else(|| config(&fixture.url));
    let clock = Clock::starting_at(Timestamp::from_secs(1_750_000_000));
    let (task, stats) = spawn(cfg, subs(), decoder(), resync, tx, clock);
    (task, stats, rx)
}

// -- tests -----------------------------------------------------------------------------------

#[test]
fn messages_are_the_reference_json() {
    assert_eq!(subs().messages(), expected_messages());
    assert_eq!(subs().profile.as_deref(), Some(PROFILE));

    let mut s = Subscriptions {
        markets: vec![MarketId(1338), MarketId(1339), MarketId(1338)],
        ..Default::default()
    };
    assert_eq!(
        s.messages(),
        [
            r#"{"topic":"orderbook","market_id":"1338"}"#,
            r#"{"topic":"recent_trades","market_id":"1338"}"#,
            r#"{"topic":"orderbook","market_id":"1339"}"#,
            r#"{"topic":"recent_trades","market_id":"1339"}"#,
        ]
    );
    s.profile = Some("not an address".into());
    assert_eq!(
        s.messages().len(),
        4,
        "an invalid profile subscribes nothing"
    );
    s.profile = Some(PROFILE_63.to_uppercase().replace("0X", "0x"));
    s.live_history = true;
    let m = s.messages();
    assert_eq!(m.len(), 10);
    assert_eq!(
        m[4],
        format!(r#"{{"topic":"positions","address":"{PROFILE}"}}"#)
    );
    assert_eq!(
        m[9],
        format!(r#"{{"topic":"live_trade_history","address":"{PROFILE}"}}"#)
    );
    assert!(Subscriptions::default().with_profile("0xzz").is_err());
    // Every message is valid JSON.
    for m in expected_messages().iter().chain(&m) {
        assert!(serde_json::from_str::<serde_json::Value>(m).is_ok(), "{m}");
    }
}

#[test]
fn backoff_grows_jittered_and_capped() {
    let cfg = WsConfig::default();
    for attempt in 0..40 {
        let d = cfg.backoff(attempt);
        let base = Duration::from_secs(1)
            .saturating_mul(1 << attempt.min(20))
            .min(Duration::from_secs(30));
        assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
    }
    let zero = WsConfig {
        backoff_initial: Duration::ZERO,
        ..WsConfig::default()
    };
    assert_eq!(zero.backoff(3), Duration::ZERO);
}

#[test]
fn records_frame_feeds_the_decoder() {
    assert_eq!(
        records_frame("open_orders", []),
        r#"{"data":[],"message":"open_orders"}"#
    );
    let mut d = decoder();
    let mut out = Vec::new();
    let frame = records_frame("positions", [POSITION]);
    assert_eq!(d.decode(&frame, Timestamp(0), &mut out), Ok(1));
    let Event::Position(p) = &out[0] else {
        panic!("{out:?}")
    };
    assert!(p.snapshot);
    assert_eq!(p.positions.len(), 1);
}

/// Test 1: the fixture receives exactly the §7.2 messages.
#[tokio::test]
async fn subscribes_with_the_reference_messages() {
    let mut fx = Fixture::start(vec![vec![Step::Drain]]).await;
    let (task, stats, mut rx) = start(&fx, None, None);
    let got: Vec<String> = fx.texts(8).await.into_iter().map(|(_, t)| t).collect();
    assert_eq!(got, expected_messages());
    expect_state(&mut rx, ConnectionState::Connected).await;
    expect_state(&mut rx, ConnectionState::Resynced).await;
    assert_eq!(stats.snapshot().connects, 1);
    task.abort();
}

/// Test 2: Connected → resync's OpenOrders → Resynced → the fixture's Book.
#[tokio::test]
async fn frames_flow_after_resync() {
    let fx = Fixture::start(vec![vec![
        Step::AwaitText(8),
        Step::Send(BOOK),
        Step::Drain,
    ]])
    .await;
    let resync = Arc::new(FakeResync::new(vec![open_orders_frame()]));
    let (task, stats, mut rx) = start(&fx, None, Some(resync.clone()));
    expect_state(&mut rx, ConnectionState::Connected).await;
    match next(&mut rx).await {
        Event::OpenOrders(o) => {
            assert_eq!(o.market, None, "profile-wide snapshot");
            assert_eq!(o.orders.len(), 1);
            assert_eq!(
                (o.orders[0].price.0, o.orders[0].remaining.0),
                (5518, 11851)
            );
        }
        other => panic!("expected OpenOrders, got {other:?}"),
    }
    expect_state(&mut rx, ConnectionState::Resynced).await;
    match next(&mut rx).await {
        Event::Book(b) => {
            assert_eq!(b.market, MarketId(1338));
            assert_eq!((b.asks[0].price.0, b.asks[0].lots.0), (6036, 169320));
            assert_eq!((b.bids[0].price.0, b.bids[0].lots.0), (6031, 174998));
        }
        other => panic!("expected Book, got {other:?}"),
    }
    let s = stats.snapshot();
    assert_eq!((s.connects, s.frames, s.events, s.resyncs), (1, 1, 2, 1));
    assert_eq!(resync.calls.load(Ordering::SeqCst), 1);
    task.abort();
}

/// Test 3: a bad number and invalid JSON are skipped and counted; the connection stays up.
#[tokio::test]
async fn malformed_frames_are_skipped() {
    let fx = Fixture::start(vec![vec![
        Step::AwaitText(8),
        Step::Send(BAD_BOOK),
        Step::Send("{not json"),
        Step::Send(BOOK),
        Step::Drain,
    ]])
    .await;
    let (task, stats, mut rx) = start(&fx, None, None);
    expect_state(&mut rx, ConnectionState::Connected).await;
    expect_state(&mut rx, ConnectionState::Resynced).await;
    match next(&mut rx).await {
        Event::Book(b) => assert_eq!(b.asks[0].price.0, 6036),
        other => panic!("expected Book, got {other:?}"),
    }
    let s = stats.snapshot();
    assert_eq!((s.connects, s.reconnects), (1, 0));
    assert_eq!((s.frames, s.decode_errors, s.events), (3, 2, 1));
    task.abort();
}

/// One odd record inside a frame is left out and counted; the frame's good record still
/// arrives and the connection stays up.
#[tokio::test]
async fn an_odd_record_is_left_out_and_counted_while_the_rest_of_its_frame_arrives() {
    const FILLS: &str = r#"{"data":[{"fee":"0.01","market_id":"1338","order_type":9,"price":"5.518","size":"1","timestamp":1746177751,"trade_id":"1","transaction_version":1},{"fee":"0.01","market_id":"1338","order_type":1,"price":"5.518","size":"1","timestamp":1746177751,"trade_id":"2","transaction_version":2}],"message":"trade_history"}"#;
    let fx = Fixture::start(vec![vec![
        Step::AwaitText(8),
        Step::Send(FILLS),
        Step::Drain,
    ]])
    .await;
    let (task, stats, mut rx) = start(&fx, None, None);
    expect_state(&mut rx, ConnectionState::Connected).await;
    expect_state(&mut rx, ConnectionState::Resynced).await;
    match next(&mut rx).await {
        Event::Fill(f) => assert_eq!((f.price.0, f.lots.0), (5518, 1000)),
        other => panic!("expected Fill, got {other:?}"),
    }
    let s = stats.snapshot();
    assert_eq!(
        (s.frames, s.decode_errors, s.record_issues, s.reconnects),
        (1, 0, 1, 0)
    );
    task.abort();
}

/// Test 4: the server closes after one frame; the client reconnects, resubscribes, resyncs.
#[tokio::test]
async fn reconnects_resubscribes_and_resyncs() {
    let mut fx = Fixture::start(vec![
        vec![Step::AwaitText(8), Step::Send(BOOK), Step::Close],
        vec![Step::Drain],
    ])
    .await;
    let resync = Arc::new(FakeResync::new(vec![open_orders_frame()]));
    let (task, stats, mut rx) = start(&fx, None, Some(resync.clone()));
    expect_state(&mut rx, ConnectionState::Connected).await;
    assert!(matches!(next(&mut rx).await, Event::OpenOrders(_)));
    expect_state(&mut rx, ConnectionState::Resynced).await;
    assert!(matches!(next(&mut rx).await, Event::Book(_)));
    expect_state(&mut rx, ConnectionState::Reconnecting).await;
    expect_state(&mut rx, ConnectionState::Connected).await;
    assert!(matches!(next(&mut rx).await, Event::OpenOrders(_)));
    expect_state(&mut rx, ConnectionState::Resynced).await;

    let got = fx.texts(16).await;
    let first: Vec<String> = got
        .iter()
        .filter(|(c, _)| *c == 0)
        .map(|(_, t)| t.clone())
        .collect();
    let second: Vec<String> = got
        .iter()
        .filter(|(c, _)| *c == 1)
        .map(|(_, t)| t.clone())
        .collect();
    assert_eq!(first, expected_messages());
    assert_eq!(second, expected_messages());
    assert_eq!(fx.state.accepted.load(Ordering::SeqCst), 2);
    let s = stats.snapshot();
    assert_eq!((s.connects, s.reconnects, s.resyncs), (2, 1, 2));
    assert_eq!(resync.calls.load(Ordering::SeqCst), 2);
    task.abort();
}

/// Test 5: a server that says nothing and answers no ping is dropped after the silence
/// timeout.
#[tokio::test]
async fn silence_triggers_reconnect() {
    let fx = Fixture::start(vec![vec![Step::Hang], vec![Step::Drain]]).await;
    let cfg = WsConfig {
        ping_interval: Duration::from_millis(50),
        silence_timeout: Duration::from_millis(200),
        ..config(&fx.url)
    };
    let started = Instant::now();
    let (task, stats, mut rx) = start(&fx, Some(cfg), None);
    expect_state(&mut rx, ConnectionState::Connected).await;
    expect_state(&mut rx, ConnectionState::Resynced).await;
    expect_state(&mut rx, ConnectionState::Reconnecting).await;
    assert!(started.elapsed() >= Duration::from_millis(200));
    expect_state(&mut rx, ConnectionState::Connected).await;
    expect_state(&mut rx, ConnectionState::Resynced).await;
    let s = stats.snapshot();
    assert_eq!((s.connects, s.reconnects, s.silence_timeouts), (2, 1, 1));
    task.abort();
}

/// The reference's ping interval is the default (§7.1: 20 s), well below the silence
/// timeout that pongs keep at bay.
#[test]
fn default_ping_interval_is_20_s_below_the_silence_timeout() {
    let cfg = WsConfig::default();
    assert_eq!(cfg.ping_interval, Duration::from_secs(20));
    assert_eq!(cfg.silence_timeout, Duration::from_secs(60));
}

/// Semantics under test: pings go out once per `ping_interval`, and a pong counts as life,
/// so a peer that answers pings but sends no data at all is **not** dropped by the silence
/// detector.
#[tokio::test]
async fn pings_go_out_each_interval_and_a_peer_that_only_answers_them_stays_connected() {
    const PINGS: usize = 40;
    let fx = Fixture::start(vec![vec![Step::Drain]]).await;
    let interval = Duration::from_millis(25);
    let cfg = WsConfig {
        ping_interval: interval,
        silence_timeout: Duration::from_millis(400),
        ..config(&fx.url)
    };
    let started = Instant::now();
    let (task, stats, mut rx) = start(&fx, Some(cfg), None);
    expect_state(&mut rx, ConnectionState::Connected).await;
    expect_state(&mut rx, ConnectionState::Resynced).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    let pings = loop {
        let n = fx.state.pings.lock().map(|p| p.len()).unwrap_or(0);
        if n >= PINGS {
            break n;
        }
        assert!(Instant::now() < deadline, "only {n} pings arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // Never more than one per interval (a tokio interval never fires early), and the last
    // of them came ≥ 40 × 25 ms = 1 s after connecting: more than twice the silence timeout
    // without a single data frame.
    let elapsed = started.elapsed();
    let most = elapsed.as_millis() / interval.as_millis() + 1;
    assert!(
        pings as u128 <= most,
        "{pings} pings in {elapsed:?} is more than one per interval"
    );
    let s = stats.snapshot();
    assert_eq!(
        (s.connects, s.reconnects, s.silence_timeouts, s.frames),
        (1, 0, 0, 0),
        "{s:?}"
    );
    assert!(rx.try_recv().is_err(), "no Reconnecting");
    task.abort();
}

/// A server that accepts, sends one frame and closes each connection right away: a frame
/// alone does not make the connection healthy, so the back-off keeps growing.
#[tokio::test]
async fn a_frame_alone_does_not_reset_the_reconnect_backoff() {
    let fx = Fixture::start(vec![vec![
        Step::AwaitText(8),
        Step::Send(BOOK),
        Step::Close,
    ]])
    .await;
    let (task, stats, mut rx) = start(&fx, None, None);
    let mut connected = 0;
    while connected < 3 {
        if let Event::Connection(c) = next(&mut rx).await
            && c.state == ConnectionState::Connected
        {
            connected += 1;
        }
    }
    // Two losses are behind us, each after a frame: two back-off steps, not a reset to one.
    let s = stats.snapshot();
    assert!(s.frames >= 2, "{s:?}");
    assert!(s.reconnect_attempt >= 2, "{s:?}");
    task.abort();
}

/// A failing resync withholds Resynced while market data keeps flowing; a later attempt
/// succeeds.
#[tokio::test]
async fn failed_resync_withholds_resynced_until_retry_succeeds() {
    let fx = Fixture::start(vec![vec![
        Step::AwaitText(8),
        Step::Send(BOOK),
        Step::Drain,
    ]])
    .await;
    let gate = Arc::new(Notify::new());
    let resync = Arc::new(FakeResync {
        frames: vec![open_orders_frame()],
        fail_first: 2,
        gate: Some(gate.clone()),
        calls: AtomicUsize::new(0),
    });
    let (task, stats, mut rx) = start(&fx, None, Some(resync.clone()));
    expect_state(&mut rx, ConnectionState::Connected).await;
    assert!(
        matches!(next(&mut rx).await, Event::Book(_)),
        "market data while unresynced"
    );
    // Let the retries run into the gate: nothing may arrive meanwhile.
    let deadline = Instant::now() + WAIT;
    while resync.calls.load(Ordering::SeqCst) < 3 {
        assert!(Instant::now() < deadline, "resync not retried");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(
        rx.try_recv().is_err(),
        "no Resynced before a resync succeeded"
    );
    gate.notify_one();
    assert!(matches!(next(&mut rx).await, Event::OpenOrders(_)));
    expect_state(&mut rx, ConnectionState::Resynced).await;
    let s = stats.snapshot();
    assert_eq!((s.resync_failures, s.resyncs, s.connects), (2, 1, 1));
    task.abort();
}

/// A resync answer the decoder refuses is a failed resync too.
#[tokio::test]
async fn undecodable_resync_frame_is_a_failed_resync() {
    let fx = Fixture::start(vec![vec![Step::Drain]]).await;
    let resync = Arc::new(FakeResync::new(vec![
        open_orders_frame(),
        "{oops".to_owned(),
    ]));
    let (task, stats, mut rx) = start(&fx, None, Some(resync.clone()));
    expect_state(&mut rx, ConnectionState::Connected).await;
    // Each attempt delivers the good frame; none may be followed by Resynced.
    for _ in 0..3 {
        assert!(matches!(next(&mut rx).await, Event::OpenOrders(_)));
    }
    let s = stats.snapshot();
    assert!(s.resync_failures >= 2 && s.decode_errors >= 2, "{s:?}");
    assert_eq!(s.resyncs, 0);
    task.abort();
}

/// Connecting to a dead port retries quietly; dropping the receiver ends the task.
#[tokio::test]
async fn task_ends_when_the_receiver_is_dropped() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dead = format!("ws://{}/ws/", listener.local_addr().expect("addr"));
    drop(listener);
    let (tx, rx) = mpsc::channel(4);
    let clock = Clock::starting_at(Timestamp(0));
    let (task, stats) = spawn(config(&dead), subs(), decoder(), None, tx, clock);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(stats.snapshot().connects, 0);
    drop(rx);
    assert!(timeout(WAIT, task).await.is_ok(), "task did not end");

    // Also while connected and idle.
    let fx = Fixture::start(vec![vec![Step::Drain]]).await;
    let (task, _stats, mut rx) = start(&fx, None, None);
    expect_state(&mut rx, ConnectionState::Connected).await;
    drop(rx);
    assert!(timeout(WAIT, task).await.is_ok(), "task did not end");
}

// -- RestResync against a loopback REST fixture ------------------------------------------------

#[derive(Default)]
struct RestLog {
    queries: Mutex<Vec<(String, String)>>,
}

async fn rest_fixture() -> (String, Arc<RestLog>) {
    async fn orders(
        State(log): State<Arc<RestLog>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> String {
        log.queries
            .lock()
            .expect("lock")
            .push(("orders".into(), format!("{q:?}")));
        format!(r#"{{"success":true,"message":"ok","data":[{OPEN_ORDER}]}}"#)
    }
    async fn positions(
        State(log): State<Arc<RestLog>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> String {
        log.queries
            .lock()
            .expect("lock")
            .push(("positions".into(), format!("{q:?}")));
        format!(r#"{{"success":true,"message":"ok","data":[{POSITION}]}}"#)
    }
    async fn fills(
        State(log): State<Arc<RestLog>>,
        Query(q): Query<std::collections::HashMap<String, String>>,
    ) -> String {
        let mut q: Vec<(String, String)> = q.into_iter().collect();
        q.sort();
        log.queries
            .lock()
            .expect("lock")
            .push(("fills".into(), format!("{q:?}")));
        format!(r#"{{"success":true,"message":"ok","data":[{FILL}]}}"#)
    }
    let log = Arc::new(RestLog::default());
    let app = Router::new()
        .route("/getOpenOrders", get(orders))
        .route("/getPositions", get(positions))
        .route("/getFillsForGivenTimestamp", get(fills))
        .with_state(Arc::clone(&log));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), log)
}

#[tokio::test]
async fn rest_resync_fetches_the_fills_missed_since_the_previous_one() {
    let (base, log) = rest_fixture().await;
    let rest =
        KanaRest::new(&base, None, Duration::from_secs(2), RetryPolicy::none()).expect("client");
    let wallet = AccountAddress::from_hex("0x1234").expect("wallet");
    let clock = Clock::starting_at(Timestamp::from_secs(1_746_177_800));
    let resync = RestResync::new(Arc::new(rest), wallet, Vec::new()).with_missed_fills(clock);
    // The first resync (start-up) reads no fills: earlier ones are history.
    let first = resync.resync().await.expect("resync");
    assert_eq!(first.len(), 2);
    assert!(
        log.queries
            .lock()
            .expect("lock")
            .iter()
            .all(|(k, _)| k != "fills")
    );
    // Later ones read the fills since the previous one, first, as a trade_history frame.
    let second = resync.resync().await.expect("resync");
    assert_eq!(second.len(), 3);
    let mut d = decoder();
    let mut out = Vec::new();
    for f in &second {
        d.decode(f, Timestamp(0), &mut out).expect("decodes");
    }
    let Some(Event::Fill(fill)) = out.first() else {
        panic!("the missed fill comes first: {out:?}")
    };
    assert_eq!(fill.lots.0, 11_851);
    assert!(matches!(&out[1], Event::OpenOrders(_)));
    assert!(matches!(&out[2], Event::Position(_)));
    let queries = log.queries.lock().expect("lock").clone();
    let (_, q) = queries
        .iter()
        .find(|(k, _)| k == "fills")
        .expect("fills read");
    let from = 1_746_177_800 - MISSED_FILLS_SLACK_SECS;
    let to = 1_746_177_800 + MISSED_FILLS_SLACK_SECS;
    assert!(
        q.contains(&format!(r#"("fromTimestamp", "{from}")"#)),
        "{q}"
    );
    assert!(q.contains(&format!(r#"("toTimestamp", "{to}")"#)), "{q}");
}

#[tokio::test]
async fn rest_resync_wraps_rest_records_as_frames() {
    let (base, log) = rest_fixture().await;
    let rest =
        KanaRest::new(&base, None, Duration::from_secs(2), RetryPolicy::none()).expect("client");
    let wallet = AccountAddress::from_hex("0x1234").expect("wallet");
    let rest = Arc::new(rest);

    let frames = RestResync::new(Arc::clone(&rest), wallet, Vec::new())
        .resync()
        .await
        .expect("resync");
    assert_eq!(frames.len(), 2);
    let mut d = decoder();
    let mut out = Vec::new();
    for f in &frames {
        d.decode(f, Timestamp(0), &mut out).expect("decodes");
    }
    assert!(matches!(&out[0], Event::OpenOrders(o) if o.orders.len() == 1));
    assert!(matches!(&out[1], Event::Position(p) if p.snapshot && p.positions.len() == 1));
    {
        let q = log.queries.lock().expect("lock");
        assert_eq!(q.len(), 2);
        assert!(
            q.iter()
                .all(|(_, q)| q.contains("userAddress") && !q.contains("marketId"))
        );
    }

    // Per market: one call per market and endpoint, merged into one frame per topic.
    let frames = RestResync::new(rest, wallet, vec![MarketId(1338), MarketId(1339)])
        .resync()
        .await
        .expect("resync");
    assert_eq!(frames.len(), 2);
    let mut out = Vec::new();
    for f in &frames {
        d.decode(f, Timestamp(0), &mut out).expect("decodes");
    }
    assert!(matches!(&out[0], Event::OpenOrders(o) if o.orders.len() == 2));
    assert_eq!(log.queries.lock().expect("lock").len(), 6);
}
