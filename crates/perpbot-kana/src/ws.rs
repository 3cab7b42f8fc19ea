//! The Kana Perps WebSocket client (reference §1.1, §7): one task that keeps a subscription alive
//! and turns its frames into typed [`Event`]s through the [`KanaDecoder`].
//!
//! What the task does, in a loop:
//!
//! 1. connect (bounded by [`WsConfig::connect_timeout`]);
//! 2. send every subscribe message of [`Subscriptions::messages`] (the server has no unsubscribe
//!    and forgets subscriptions with the socket, so they are sent again on every connection);
//! 3. emit [`ConnectionState::Connected`] on stream [`STREAM`];
//! 4. run the [`Resync`] (if any) **while streaming**: its frames go through the same decoder;
//!    once it succeeds, emit [`ConnectionState::Resynced`]. Without a `Resync`, `Resynced`
//!    follows `Connected` at once (the account topics' first pushes are snapshots, §7.3);
//! 5. read frames: text → decoder → events, sent with `send().await` on the bounded channel (a
//!    slow engine is backpressure, never a growing queue); an undecodable frame is logged with
//!    topic, field and value, counted and skipped — the connection stays up (one odd record
//!    inside a frame is left out and logged the same way, see [`KanaDecoder`]); binary frames are
//!    counted and ignored; a WebSocket ping goes out every [`WsConfig::ping_interval`] (§7.1);
//! 6. when the server closes, the socket errors, or nothing at all (pongs included) arrives for
//!    [`WsConfig::silence_timeout`]: emit [`ConnectionState::Reconnecting`], sleep a jittered
//!    exponential back-off, and start again at 1. The back-off starts over only after a
//!    connection that stayed up for a healthy while (30 s): a server that accepts, sends its
//!    snapshot and drops the socket again is retried ever more slowly, not once a second.
//!
//! Liveness semantics: **any** frame proves the peer alive, a pong as much as data. A peer that
//! answers pings but publishes nothing (a quiet market, an account with no activity) stays
//! connected; only a peer that neither sends data nor answers pings for `silence_timeout` is
//! dropped. The ping interval must therefore be well below the silence timeout (20 s vs 60 s).
//!
//! **A bot must not trade on state it could not resync**: a failing resync (an error, a timeout,
//! or a frame of its answer the decoder refuses) is logged, counted and retried after a back-off,
//! and `Resynced` is withheld until one succeeds. Market data keeps streaming meanwhile, so a
//! strategy can still see books and pull quotes.
//!
//! The task ends when the events receiver is dropped (or when its `JoinHandle` is aborted). It
//! never panics on input.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use perpbot_model::clock::Clock;
//! use perpbot_model::{MarketId, MarketSpec};
//! use perpbot_kana::decode::{KanaDecoder, KanaUnits};
//! use perpbot_kana::ws::{self, Subscriptions, WsConfig};
//!
//! let decoder = KanaDecoder::new(vec![MarketSpec::kana_apt_testnet()], KanaUnits::Human)?;
//! let subs = Subscriptions { markets: vec![MarketId(1338)], funding: true, ..Default::default() }
//!     .with_profile("0x3c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e")?;
//! let (tx, mut rx) = tokio::sync::mpsc::channel(1024);
//! let (task, stats) = ws::spawn(WsConfig::default(), subs, decoder, None, tx, Clock::system());
//! while let Some(event) = rx.recv().await {
//!     println!("{event:?}");
//! }
//! # drop((task, stats)); Ok(()) }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use super::decode::{DecodeError, KanaDecoder, RecordIssue};
use super::rest::KanaRest;
use perpbot_aptos::{AccountAddress, AptosError};
use perpbot_model::clock::Clock;
use perpbot_model::{ConnectionEvent, ConnectionState, Event, MarketId};

/// WebSocket URL of the Kana Perps **testnet** indexer (reference §1.1).
pub const TESTNET_WS_URL: &str = "wss://perpetuals-indexer-ws-develop.kanalabs.io/ws/";
/// WebSocket URL of the Kana Perps **mainnet** indexer (reference §1.1).
pub const MAINNET_WS_URL: &str = "wss://perpetuals-indexer-ws.kana.trade/ws/";
/// The `stream` name of this client's [`ConnectionEvent`]s.
pub const STREAM: &str = "kana-ws";

/// A connection that stayed up this long counts as healthy: the back-off starts over.
const HEALTHY_AFTER: Duration = Duration::from_secs(30);
/// Longest error text kept in a log line.
const MAX_LOG_CHARS: usize = 300;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Connection settings. `Default` is the testnet host with the reference's 20 s ping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsConfig {
    /// `ws://` or `wss://` URL (e.g. [`TESTNET_WS_URL`], [`MAINNET_WS_URL`]).
    pub url: String,
    /// A WebSocket ping frame is sent this often (reference §7.1: 20 s).
    pub ping_interval: Duration,
    /// No frame of any kind (pongs included) for this long → the connection is dead (60 s).
    pub silence_timeout: Duration,
    /// First reconnect delay (1 s); doubles per failed attempt, jittered to 50–100 %.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (30 s).
    pub backoff_max: Duration,
    /// Bound on TCP + TLS + WebSocket handshake, and on sending the subscriptions (10 s).
    pub connect_timeout: Duration,
    /// Bound on one [`Resync::resync`] call; a timeout is a failed resync (30 s).
    pub resync_timeout: Duration,
}

impl Default for WsConfig {
    fn default() -> Self {
        WsConfig {
            url: TESTNET_WS_URL.to_owned(),
            ping_interval: Duration::from_secs(20),
            silence_timeout: Duration::from_secs(60),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            resync_timeout: Duration::from_secs(30),
        }
    }
}

impl WsConfig {
    /// The delay before retry number `attempt` (0-based): `backoff_initial · 2^attempt`, capped
    /// at `backoff_max`, then jittered uniformly into its upper half so that many clients
    /// dropped together do not reconnect in lock-step.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.min(20);
        let base = self
            .backoff_initial
            .saturating_mul(factor)
            .min(self.backoff_max);
        let nanos = u64::try_from(base.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        let jittered = rand::rng().random_range(nanos / 2..=nanos);
        Duration::from_nanos(jittered)
    }
}

// ---------------------------------------------------------------------------------------------
// Subscriptions
// ---------------------------------------------------------------------------------------------

/// What to subscribe to (reference §7.2).
///
/// Account topics need the **profile** address (§1.3), not the wallet: get it with
/// [`KanaRest::profile_address`] and set it with [`Subscriptions::with_profile`], which
/// normalises it to `0x` + 64 lowercase hex digits (the server's answer can drop a leading zero).
///
/// Topic choice for the profile: `positions`, `open_orders`, `order_history` and
/// `trade_history`. The `live_order_history` / `live_trade_history` topics push only the newest
/// record of the same histories, so they add nothing the history topics do not deliver — and
/// their record shapes are undocumented (§7.4 has no sample), so a field present in one topic
/// and missing in the other would give the same fill two deduplication keys in the decoder and
/// count it twice. They are therefore off unless [`Subscriptions::live_history`] is set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subscriptions {
    /// Markets whose `orderbook` and `recent_trades` to receive.
    pub markets: Vec<MarketId>,
    /// Profile address for the account topics, normalised `0x` + 64 hex; `None` → no account
    /// topics (market data only).
    pub profile: Option<String>,
    /// Subscribe to `bestPrice` (all markets).
    pub best_price: bool,
    /// Subscribe to `live_funding_rate` (all markets).
    pub funding: bool,
    /// Also subscribe to `live_order_history` and `live_trade_history` (see the type's docs for
    /// why this is off by default).
    pub live_history: bool,
}

impl Subscriptions {
    /// Set the profile address, normalised; fails when it is not 1–64 hex digits.
    pub fn with_profile(mut self, address: &str) -> Result<Subscriptions, AptosError> {
        self.profile = Some(AccountAddress::from_hex(address.trim())?.to_hex_long());
        Ok(self)
    }

    /// The subscribe messages, one JSON text per topic, exactly as §7.2 spells them
    /// (`market_id` as a string, `bestPrice` in camel case): per market `orderbook` and
    /// `recent_trades`; for the profile `positions`, `open_orders`, `order_history`,
    /// `trade_history` (and the `live_*` pair if asked); then `live_funding_rate` and
    /// `bestPrice`. A repeated market is sent once. A profile that is not a valid address is
    /// logged and its topics left out (it could never match anything).
    pub fn messages(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut seen: Vec<MarketId> = Vec::new();
        for &market in &self.markets {
            if seen.contains(&market) {
                continue;
            }
            seen.push(market);
            for topic in ["orderbook", "recent_trades"] {
                out.push(format!(
                    r#"{{"topic":"{topic}","market_id":"{}"}}"#,
                    market.0
                ));
            }
        }
        if let Some(profile) = &self.profile {
            match AccountAddress::from_hex(profile.trim()) {
                Ok(address) => {
                    let address = address.to_hex_long();
                    let mut topics =
                        vec!["positions", "open_orders", "order_history", "trade_history"];
                    if self.live_history {
                        topics.extend(["live_order_history", "live_trade_history"]);
                    }
                    for topic in topics {
                        out.push(format!(r#"{{"topic":"{topic}","address":"{address}"}}"#));
                    }
                }
                Err(e) => warn!(
                    stream = STREAM,
                    profile = %truncate(profile, 80),
                    error = %e,
                    "profile address is not valid; account topics not subscribed"
                ),
            }
        }
        if self.funding {
            out.push(r#"{"topic":"live_funding_rate"}"#.to_owned());
        }
        if self.best_price {
            out.push(r#"{"topic":"bestPrice"}"#.to_owned());
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Resync
// ---------------------------------------------------------------------------------------------

/// Fetches the account state after a (re)connect, as WebSocket-shaped frames.
///
/// Each returned string is one frame in the WS envelope (`{"data": [...], "message": "<topic>"}`,
/// reference §7.3) that the client feeds through the same decoder as live frames, so REST
/// answers and pushes share one code path. The whole answer must be complete: the client emits
/// [`ConnectionState::Resynced`] only when the call succeeded **and** every frame decoded.
///
/// The call runs while the socket streams: pushes that arrive meanwhile are delivered first, and
/// the answer's snapshots follow them. Neither source carries a sequence number (§7.5), so a
/// push newer than the REST read can be overridden by the older answer until the next push.
#[async_trait]
pub trait Resync: Send + Sync {
    /// Fetch the state; `Err` carries a human-readable reason for the log.
    async fn resync(&self) -> Result<Vec<String>, String>;
}

/// Wrap raw JSON records into one WS frame of `topic`: `{"data":[r1,r2,…],"message":"<topic>"}`.
/// Each record must be one JSON value (e.g. from [`super::rest::Records::raw`]).
pub fn records_frame<'a>(topic: &str, records: impl IntoIterator<Item = &'a str>) -> String {
    let topic = serde_json::to_string(topic).unwrap_or_else(|_| "\"\"".to_owned());
    let mut frame = String::from("{\"data\":[");
    for (i, record) in records.into_iter().enumerate() {
        if i > 0 {
            frame.push(',');
        }
        frame.push_str(record);
    }
    frame.push_str("],\"message\":");
    frame.push_str(&topic);
    frame.push('}');
    frame
}

/// A [`Resync`] over the REST API: `GET /getOpenOrders` and `GET /getPositions` for the
/// **wallet** (REST takes the wallet, the WS the profile — §1.3), each answer wrapped as one
/// `open_orders` / `positions` frame. With [`RestResync::with_missed_fills`], every resync after
/// the first also fetches the account's fills since the previous one
/// (`GET /getFillsForGivenTimestamp`) as a `trade_history` frame, placed first: fills the
/// socket missed while it was down reach the bot as fills (with their price and fee) before
/// the position list is compared, instead of being inferred from the position.
///
/// With no markets, each endpoint is called once without `marketId` (optional in G5, §4.4).
/// With markets, each endpoint is called per market and the records are **merged into one
/// frame**: one frame per market would not do, because the decoder reads an empty `open_orders`
/// list as "no orders in any market" and a `positions` frame as the complete set.
#[derive(Debug, Clone)]
pub struct RestResync {
    rest: Arc<KanaRest>,
    wallet: AccountAddress,
    markets: Vec<MarketId>,
    /// The clock of the venue's timestamps and the last point fills are known up to (Unix
    /// seconds), when missed fills are fetched.
    fills: Option<(Clock, Arc<std::sync::Mutex<Option<u64>>>)>,
}

/// How far before the last resync the fills read starts (and after now it ends): the indexer
/// lags the chain by seconds [INF], clocks differ, and fills already seen are dropped by trade
/// id anyway.
const MISSED_FILLS_SLACK_SECS: u64 = 120;

impl RestResync {
    /// A resync for `wallet`; `markets` empty → unfiltered calls (recommended), otherwise one
    /// call per market and endpoint.
    pub fn new(rest: Arc<KanaRest>, wallet: AccountAddress, markets: Vec<MarketId>) -> RestResync {
        RestResync {
            rest,
            wallet,
            markets,
            fills: None,
        }
    }

    /// Also fetch the fills since the previous resync (none on the first: what happened before
    /// the bot started is history, and its positions are taken as they are).
    pub fn with_missed_fills(mut self, clock: Clock) -> RestResync {
        self.fills = Some((clock, Arc::new(std::sync::Mutex::new(None))));
        self
    }

    /// The fills since the last point, as one frame, and the point the read reaches; no frame
    /// on the first call, or when the read fails (logged: the position comparison still catches
    /// what was missed). `None` when missed fills are not fetched.
    async fn missed_fills(&self) -> Option<(Option<String>, u64)> {
        let (clock, since) = self.fills.as_ref()?;
        let now = clock.now().as_secs();
        let last = *since.lock().unwrap_or_else(|p| p.into_inner());
        let Some(last) = last else {
            return Some((None, now));
        };
        let from = last.saturating_sub(MISSED_FILLS_SLACK_SECS);
        let to = now.saturating_add(MISSED_FILLS_SLACK_SECS);
        match self.rest.fills_between(self.wallet, from, to, None).await {
            Ok(fills) => {
                debug!(
                    from,
                    to,
                    fills = fills.raw().count(),
                    "resync: fills since the last point"
                );
                Some((Some(records_frame("trade_history", fills.raw())), now))
            }
            Err(e) => {
                warn!(error = %e, from, to, "resync: cannot read the fills since the last point; missed fills will be inferred from positions");
                // Keep the old point: the next resync reads from there again.
                Some((None, last))
            }
        }
    }

    /// The whole resync succeeded: fills are known up to `point`.
    fn fills_known_up_to(&self, point: u64) {
        if let Some((_, since)) = &self.fills {
            *since.lock().unwrap_or_else(|p| p.into_inner()) = Some(point);
        }
    }
}

#[async_trait]
impl Resync for RestResync {
    async fn resync(&self) -> Result<Vec<String>, String> {
        let filters: Vec<Option<MarketId>> = if self.markets.is_empty() {
            vec![None]
        } else {
            self.markets.iter().copied().map(Some).collect()
        };
        // Fills first: one that lands between this read and the positions read shows in the
        // positions and streams in later (the usual order); read the other way round, it would
        // be in the fills and not yet in the positions, and look unexplained.
        let fills = self.missed_fills().await;
        let mut orders = Vec::with_capacity(filters.len());
        let mut positions = Vec::with_capacity(filters.len());
        for market in filters {
            let o = self.rest.open_orders(self.wallet, market).await;
            orders.push(o.map_err(|e| format!("open orders: {e}"))?);
            let p = self.rest.positions(self.wallet, market).await;
            positions.push(p.map_err(|e| format!("positions: {e}"))?);
        }
        let (fills_frame, point) = fills.unzip();
        let mut frames = Vec::with_capacity(3);
        frames.extend(fills_frame.flatten());
        frames.push(records_frame(
            "open_orders",
            orders.iter().flat_map(|r| r.raw()),
        ));
        frames.push(records_frame(
            "positions",
            positions.iter().flat_map(|r| r.raw()),
        ));
        if let Some(point) = point {
            self.fills_known_up_to(point);
        }
        Ok(frames)
    }
}

// ---------------------------------------------------------------------------------------------
// Stats
// ---------------------------------------------------------------------------------------------

/// Counters of a running client, shared with the task (relaxed atomics).
#[derive(Debug, Default)]
pub struct WsStats {
    connects: AtomicU64,
    reconnects: AtomicU64,
    frames: AtomicU64,
    binary_frames: AtomicU64,
    decode_errors: AtomicU64,
    events: AtomicU64,
    resyncs: AtomicU64,
    resync_failures: AtomicU64,
    silence_timeouts: AtomicU64,
    record_issues: AtomicU64,
    reconnect_attempt: AtomicU64,
}

/// A copy of [`WsStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsCounters {
    /// WebSocket handshakes that succeeded.
    pub connects: u64,
    /// Established connections that were lost (each emitted `Reconnecting`).
    pub reconnects: u64,
    /// Text frames received (resync frames not included).
    pub frames: u64,
    /// Binary frames received and ignored.
    pub binary_frames: u64,
    /// Frames (live or resync) the decoder refused; each was logged and skipped.
    pub decode_errors: u64,
    /// Decoded events sent to the channel (connection events not included).
    pub events: u64,
    /// Resyncs that succeeded (each emitted `Resynced`).
    pub resyncs: u64,
    /// Resyncs that failed (error, timeout or an undecodable frame) and were retried.
    pub resync_failures: u64,
    /// Connections dropped because nothing arrived for `silence_timeout`.
    pub silence_timeouts: u64,
    /// Odd records left out of (or rounded in) frames that otherwise decoded; each was logged.
    pub record_issues: u64,
    /// Reconnect delays waited in a row since the last healthy connection (one that stayed up
    /// for 30 s); the delay doubles with each (up to `backoff_max`). 0 before any loss.
    pub reconnect_attempt: u64,
}

impl WsStats {
    /// The counters now.
    pub fn snapshot(&self) -> WsCounters {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WsCounters {
            connects: get(&self.connects),
            reconnects: get(&self.reconnects),
            frames: get(&self.frames),
            binary_frames: get(&self.binary_frames),
            decode_errors: get(&self.decode_errors),
            events: get(&self.events),
            resyncs: get(&self.resyncs),
            resync_failures: get(&self.resync_failures),
            silence_timeouts: get(&self.silence_timeouts),
            record_issues: get(&self.record_issues),
            reconnect_attempt: get(&self.reconnect_attempt),
        }
    }
}

fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

// ---------------------------------------------------------------------------------------------
// The task
// ---------------------------------------------------------------------------------------------

/// Start the client task. It runs until the receiver of `events` is dropped (or the handle is
/// aborted); see the module docs for what it emits and when. Use a `Resync` whenever account
/// topics are subscribed; `None` suits market data only.
pub fn spawn(
    config: WsConfig,
    subs: Subscriptions,
    decoder: KanaDecoder,
    resync: Option<Arc<dyn Resync>>,
    events: mpsc::Sender<Event>,
    clock: Clock,
) -> (JoinHandle<()>, Arc<WsStats>) {
    let stats = Arc::new(WsStats::default());
    let client = Client {
        messages: subs.messages(),
        config,
        decoder,
        resync,
        events,
        clock,
        stats: Arc::clone(&stats),
        scratch: Vec::new(),
    };
    (tokio::spawn(client.run()), stats)
}

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
type ResyncFuture = Pin<Box<dyn Future<Output = Result<Vec<String>, String>> + Send>>;

/// The events receiver is gone: the task ends.
struct Gone;

/// How a connection ended.
enum End {
    /// Lost (closed, error, silence); reconnect.
    Lost(String),
    /// The receiver is gone; stop.
    Gone,
}

/// What a session reports back to the reconnect loop.
struct Session {
    end: End,
    /// `Connected` was emitted (so losing it emits `Reconnecting`).
    announced: bool,
}

struct Client {
    config: WsConfig,
    messages: Vec<String>,
    decoder: KanaDecoder,
    resync: Option<Arc<dyn Resync>>,
    events: mpsc::Sender<Event>,
    clock: Clock,
    stats: Arc<WsStats>,
    scratch: Vec<Event>,
}

impl Client {
    async fn run(mut self) {
        if self.config.url.trim_start().starts_with("wss") {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let mut attempt: u32 = 0;
        loop {
            let connected = tokio::select! {
                biased;
                _ = self.events.closed() => return,
                r = self.connect() => r,
            };
            match connected {
                Ok(ws) => {
                    bump(&self.stats.connects);
                    info!(stream = STREAM, url = %self.config.url, "connected");
                    let started = Instant::now();
                    let session = self.session(ws).await;
                    let reason = match session.end {
                        End::Gone => return,
                        End::Lost(reason) => reason,
                    };
                    warn!(stream = STREAM, reason = %reason, "connection lost; reconnecting");
                    if session.announced {
                        bump(&self.stats.reconnects);
                        if self.emit(ConnectionState::Reconnecting).await.is_err() {
                            return;
                        }
                    }
                    // Only uptime proves a connection healthy: a server that sends a frame and
                    // drops the socket again must not reset the back-off.
                    if started.elapsed() >= HEALTHY_AFTER {
                        attempt = 0;
                    }
                }
                Err(reason) => {
                    warn!(stream = STREAM, url = %self.config.url, attempt, reason = %reason, "connect failed");
                }
            }
            let delay = self.config.backoff(attempt);
            attempt = attempt.saturating_add(1);
            self.stats
                .reconnect_attempt
                .store(u64::from(attempt), Ordering::Relaxed);
            debug!(
                stream = STREAM,
                ?delay,
                attempt,
                "waiting before reconnecting"
            );
            tokio::select! {
                biased;
                _ = self.events.closed() => return,
                _ = tokio::time::sleep(delay) => {}
            }
        }
    }

    async fn connect(&self) -> Result<Ws, String> {
        let handshake =
            tokio_tungstenite::connect_async_with_config(self.config.url.as_str(), None, true);
        match timeout(self.config.connect_timeout, handshake).await {
            Err(_) => Err(format!("timed out after {:?}", self.config.connect_timeout)),
            Ok(Err(e)) => Err(truncate(&e.to_string(), MAX_LOG_CHARS)),
            Ok(Ok((ws, _response))) => Ok(ws),
        }
    }

    async fn subscribe(&self, ws: &mut Ws) -> Result<(), String> {
        let send_all = async {
            for m in &self.messages {
                ws.feed(Message::text(m.as_str())).await?;
            }
            ws.flush().await
        };
        match timeout(self.config.connect_timeout, send_all).await {
            Err(_) => Err("timed out sending the subscriptions".to_owned()),
            Ok(Err(e)) => Err(format!("sending the subscriptions: {e}")),
            Ok(Ok(())) => Ok(()),
        }
    }

    /// One connection: subscribe, announce, resync, stream until it ends.
    async fn session(&mut self, mut ws: Ws) -> Session {
        let mut s = Session {
            end: End::Gone,
            announced: false,
        };
        if let Err(reason) = self.subscribe(&mut ws).await {
            s.end = End::Lost(reason);
            return s;
        }
        debug!(stream = STREAM, topics = self.messages.len(), "subscribed");
        if self.emit(ConnectionState::Connected).await.is_err() {
            return s;
        }
        s.announced = true;

        let mut resync_fut = self.start_resync();
        if resync_fut.is_none() && self.emit(ConnectionState::Resynced).await.is_err() {
            return s;
        }
        let mut resync_retry: Option<Instant> = None;
        let mut resync_attempt: u32 = 0;

        let period = self.config.ping_interval.max(Duration::from_millis(1));
        let mut ping = tokio::time::interval_at(Instant::now() + period, period);
        ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut last_rx = Instant::now();

        loop {
            let silent_at = last_rx + self.config.silence_timeout;
            tokio::select! {
                biased;
                result = poll_opt(&mut resync_fut) => {
                    resync_fut = None;
                    match self.apply_resync(result).await {
                        Err(Gone) => return s,
                        Ok(true) => {
                            if self.emit(ConnectionState::Resynced).await.is_err() {
                                return s;
                            }
                        }
                        Ok(false) => {
                            let delay = self.config.backoff(resync_attempt);
                            resync_attempt = resync_attempt.saturating_add(1);
                            resync_retry = Some(Instant::now() + delay);
                        }
                    }
                }
                _ = sleep_opt(resync_retry) => {
                    resync_retry = None;
                    resync_fut = self.start_resync();
                }
                _ = self.events.closed() => return s,
                msg = ws.next() => {
                    let msg = match msg {
                        None => {
                            s.end = End::Lost("stream ended".to_owned());
                            return s;
                        }
                        Some(Err(e)) => {
                            s.end = End::Lost(truncate(&format!("read error: {e}"), MAX_LOG_CHARS));
                            return s;
                        }
                        Some(Ok(msg)) => msg,
                    };
                    last_rx = Instant::now();
                    match msg {
                        Message::Text(text) => {
                            bump(&self.stats.frames);
                            if self.feed(text.as_str(), "live").await.is_err() {
                                return s;
                            }
                        }
                        Message::Binary(bytes) => {
                            bump(&self.stats.binary_frames);
                            debug!(stream = STREAM, len = bytes.len(), "binary frame ignored");
                        }
                        Message::Close(frame) => {
                            let why = frame.map_or_else(
                                || "no reason".to_owned(),
                                |f| format!("{} {}", f.code, truncate(f.reason.as_str(), 120)),
                            );
                            s.end = End::Lost(format!("closed by the server ({why})"));
                            return s;
                        }
                        // Pings are answered by tungstenite; pongs only prove liveness.
                        Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
                    }
                }
                _ = ping.tick() => {
                    let sent = timeout(
                        self.config.silence_timeout,
                        ws.send(Message::Ping(Default::default())),
                    )
                    .await;
                    match sent {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => {
                            s.end = End::Lost(truncate(&format!("ping failed: {e}"), MAX_LOG_CHARS));
                            return s;
                        }
                        Err(_) => {
                            s.end = End::Lost("ping could not be sent (peer not reading)".to_owned());
                            return s;
                        }
                    }
                }
                _ = sleep_until(silent_at) => {
                    bump(&self.stats.silence_timeouts);
                    s.end = End::Lost(format!("no frame for {:?}", self.config.silence_timeout));
                    return s;
                }
            }
        }
    }

    fn start_resync(&self) -> Option<ResyncFuture> {
        let resync = Arc::clone(self.resync.as_ref()?);
        let limit = self.config.resync_timeout;
        Some(Box::pin(async move {
            match timeout(limit, resync.resync()).await {
                Ok(result) => result,
                Err(_) => Err(format!("timed out after {limit:?}")),
            }
        }))
    }

    /// Feed a resync answer; `Ok(true)` when it succeeded completely.
    async fn apply_resync(&mut self, result: Result<Vec<String>, String>) -> Result<bool, Gone> {
        let frames = match result {
            Ok(frames) => frames,
            Err(reason) => {
                bump(&self.stats.resync_failures);
                warn!(
                    stream = STREAM,
                    reason = %truncate(&reason, MAX_LOG_CHARS),
                    "resync failed; Resynced withheld, retrying after back-off"
                );
                return Ok(false);
            }
        };
        let mut complete = true;
        for frame in &frames {
            complete &= self.feed(frame, "resync").await?;
        }
        if complete {
            bump(&self.stats.resyncs);
            info!(stream = STREAM, frames = frames.len(), "resynced");
        } else {
            bump(&self.stats.resync_failures);
            warn!(
                stream = STREAM,
                "resync answer had undecodable frames; Resynced withheld, retrying after back-off"
            );
        }
        Ok(complete)
    }

    /// Decode one frame and send its events; `Ok(false)` when the decoder refused it.
    async fn feed(&mut self, text: &str, source: &'static str) -> Result<bool, Gone> {
        self.scratch.clear();
        if let Err(e) = self
            .decoder
            .decode(text, self.clock.now(), &mut self.scratch)
        {
            bump(&self.stats.decode_errors);
            log_decode_error(&e, source);
            return Ok(false);
        }
        for issue in self.decoder.last_record_issues() {
            bump(&self.stats.record_issues);
            log_record_issue(issue, source);
        }
        let mut batch = std::mem::take(&mut self.scratch);
        for event in batch.drain(..) {
            self.events.send(event).await.map_err(|_| Gone)?;
            bump(&self.stats.events);
        }
        self.scratch = batch;
        Ok(true)
    }

    async fn emit(&self, state: ConnectionState) -> Result<(), Gone> {
        let event = Event::Connection(ConnectionEvent {
            stream: STREAM.to_owned(),
            state,
            ts: self.clock.now(),
        });
        self.events.send(event).await.map_err(|_| Gone)
    }
}

fn log_decode_error(e: &DecodeError, source: &'static str) {
    warn!(
        stream = STREAM,
        source,
        topic = %e.topic,
        field = %e.field,
        value = %truncate(&e.value, 160),
        reason = %truncate(&e.reason, MAX_LOG_CHARS),
        "undecodable frame skipped"
    );
}

fn log_record_issue(issue: &RecordIssue, source: &'static str) {
    let (what, e) = match issue {
        RecordIssue::Skipped(e) => ("odd record skipped", e),
        RecordIssue::Rounded(e) => ("odd record kept, rounded onto the grid", e),
    };
    warn!(
        stream = STREAM,
        source,
        topic = %e.topic,
        field = %e.field,
        value = %truncate(&e.value, 160),
        reason = %truncate(&e.reason, MAX_LOG_CHARS),
        "{what}"
    );
}

async fn poll_opt(fut: &mut Option<ResyncFuture>) -> Result<Vec<String>, String> {
    match fut {
        Some(fut) => fut.await,
        None => std::future::pending().await,
    }
}

async fn sleep_opt(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
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
        let rest = KanaRest::new(&base, None, Duration::from_secs(2), RetryPolicy::none())
            .expect("client");
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
        let rest = KanaRest::new(&base, None, Duration::from_secs(2), RetryPolicy::none())
            .expect("client");
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
}
