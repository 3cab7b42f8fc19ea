//! The Kana Perps WebSocket client (reference §1.1, §7): one task that keeps a subscription alive
//! and turns its frames into typed [`Event`]s through the [`KanaDecoder`].
//!
//! The design and the reasons for it: `docs/design/kana-websocket.md`.
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
use perpbot_model::{ConnectionEvent, ConnectionState, Event, MarketId, Timestamp};

/// WebSocket URL of the Kana Perps **testnet** indexer (reference §1.1).
pub const TESTNET_WS_URL: &str = "wss://perpetuals-indexer-ws-develop.kanalabs.io/ws/";
/// WebSocket URL of the Kana Perps **mainnet** indexer (reference §1.1).
pub const MAINNET_WS_URL: &str = "wss://perpetuals-indexer-ws.kana.trade/ws/";
/// The `stream` name of this client's [`ConnectionEvent`]s.
pub const STREAM: &str = "kana-ws";

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
        perpbot_core::venue::backoff::reconnect_delay(
            self.backoff_initial,
            self.backoff_max,
            attempt,
        )
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
    /// Also subscribe to the profile's `deposit_withdraw_history`: it carries no event, but a
    /// push means the collateral moved (the venue's balance reader wakes on it).
    pub transfers: bool,
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
                    if self.transfers {
                        topics.push("deposit_withdraw_history");
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

/// Sees every text frame of the live stream, with its receive time, before it is decoded (a
/// recorder writes them down).
pub type FrameTap = Arc<dyn Fn(Timestamp, &str) + Send + Sync>;

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
    spawn_tapped(config, subs, decoder, resync, events, clock, None)
}

/// [`spawn`], with every live text frame also handed to `tap`.
pub fn spawn_tapped(
    config: WsConfig,
    subs: Subscriptions,
    decoder: KanaDecoder,
    resync: Option<Arc<dyn Resync>>,
    events: mpsc::Sender<Event>,
    clock: Clock,
    tap: Option<FrameTap>,
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
        tap,
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
    tap: Option<FrameTap>,
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
                    if started.elapsed() >= perpbot_core::venue::backoff::HEALTHY_AFTER {
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
                            if let Some(tap) = &self.tap {
                                tap(self.clock.now(), text.as_str());
                            }
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
mod tests;
