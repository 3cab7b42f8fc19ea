//! The private WebSocket (`/ws`, `docs/design/kyan-wire.md`): one task that authenticates,
//! subscribes to the account's channels, decodes events through the [`KyanDecoder`] and keeps
//! the stream whole:
//!
//! - every (re)connect is followed by a REST resync (open orders, positions, account state),
//!   announced by `Reconnecting` / `Resynced` [`ConnectionEvent`]s;
//! - a `seq_id` gap also triggers a resync; duplicate `message_id`s are dropped ([`session`]);
//! - **before Kyan's one-hour cap** (`session_max`) a new connection is opened and subscribed
//!   *before* the old one is dropped; both are read during the overlap and deduplicated by
//!   `message_id`, so no event is lost;
//! - session recovery: after `auth` the client enables recovery; a reconnect sends
//!   `recover_session` first and, if that fails, falls back to auth → subscribe (→ resync);
//! - malformed frames are logged with channel and field, counted and skipped; the connection
//!   stays up. Reconnects back off exponentially (jittered, capped).

mod account;
pub mod session;

pub use account::{Fetched, RestResync, Resync, Subscriptions};

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use perpbot_core::venue::backoff::{HEALTHY_AFTER, reconnect_delay};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use tracing::{debug, info, warn};

use perpbot_model::clock::Clock;
use perpbot_model::{ConnectionEvent, ConnectionState, Event, Timestamp};

use crate::config::Secret;
use crate::decode::num::uint;
use crate::decode::{KyanDecoder, SkipReason};
use session::{MessageIds, SeqTracker, Verdict};

/// The `stream` name of this client's connection events.
pub const STREAM: &str = "kyan-ws";

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// Connection settings.
#[derive(Clone)]
pub struct WsConfig {
    /// `ws://` or `wss://` URL of `/ws`.
    pub url: String,
    /// The API key sent in `auth` and `recover_session`.
    pub api_key: Secret,
    /// Open a fresh connection after this long (Kyan closes at one hour).
    pub session_max: Duration,
    /// How long both connections are read after a rotation.
    pub overlap: Duration,
    /// First reconnect delay; doubles per failure, jittered to 50–100 %.
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Bound on connect + auth + subscribe.
    pub connect_timeout: Duration,
    /// Bound on one resync.
    pub resync_timeout: Duration,
    /// Wait before retrying a failed resync.
    pub resync_retry: Duration,
    /// Use session recovery.
    pub recovery: bool,
}

impl std::fmt::Debug for WsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsConfig")
            .field("url", &self.url)
            .field("session_max", &self.session_max)
            .finish_non_exhaustive()
    }
}

impl WsConfig {
    /// Settings for `url` with the defaults: 55 min sessions, 2 s overlap, 1 s → 30 s back-off.
    pub fn new(url: &str, api_key: Secret) -> WsConfig {
        WsConfig {
            url: url.to_string(),
            api_key,
            session_max: Duration::from_secs(3_300),
            overlap: Duration::from_secs(2),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            resync_timeout: Duration::from_secs(30),
            resync_retry: Duration::from_secs(5),
            recovery: true,
        }
    }

    fn backoff(&self, attempt: u32) -> Duration {
        reconnect_delay(self.backoff_initial, self.backoff_max, attempt)
    }
}

/// Counters of the client (relaxed atomics).
#[derive(Debug, Default)]
pub struct WsStats {
    /// Text frames received.
    pub frames: AtomicU64,
    /// Frames that were not JSON or failed to decode (logged, skipped).
    pub decode_errors: AtomicU64,
    /// Events dropped as duplicates (`message_id`).
    pub duplicates: AtomicU64,
    /// `seq_id` gaps seen.
    pub gaps: AtomicU64,
    /// Connections lost.
    pub reconnects: AtomicU64,
    /// Resyncs completed.
    pub resyncs: AtomicU64,
    /// Connections replaced before the cap.
    pub rotations: AtomicU64,
    /// Sessions recovered.
    pub recoveries: AtomicU64,
    /// Recoveries refused (fell back to auth + subscribe).
    pub recovery_failures: AtomicU64,
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// How the private stream re-reads the account over REST.
pub struct AccountSync {
    /// The REST reads.
    pub resync: Arc<dyn Resync>,
    /// When the session began: fills read back over REST from before it are not this session's.
    pub since: Timestamp,
    /// Asks for a resync from outside the stream (the public stream came back).
    pub requests: Arc<tokio::sync::Notify>,
}

/// Start the client. It runs until `events`' receiver is dropped or the handle is aborted.
pub fn spawn(
    config: WsConfig,
    subs: Subscriptions,
    decoder: KyanDecoder,
    sync: AccountSync,
    events: mpsc::Sender<Event>,
    clock: Clock,
) -> (JoinHandle<()>, Arc<WsStats>) {
    let stats = Arc::new(WsStats::default());
    let client = Client {
        config,
        subs,
        decoder,
        resync: sync.resync,
        events,
        clock,
        since: sync.since,
        resync_requests: sync.requests,
        stats: Arc::clone(&stats),
        ids: MessageIds::default(),
        token: None,
        next_id: 0,
    };
    (tokio::spawn(client.run()), stats)
}

struct Client {
    config: WsConfig,
    subs: Subscriptions,
    decoder: KyanDecoder,
    resync: Arc<dyn Resync>,
    events: mpsc::Sender<Event>,
    clock: Clock,
    /// When the session began (history from before it is not read back as fills).
    since: Timestamp,
    /// Asks for a REST resync from outside (the public stream came back: the venue's
    /// `Resynced` then follows a fresh read of the account, see [`crate::venue`]).
    resync_requests: Arc<tokio::sync::Notify>,
    stats: Arc<WsStats>,
    ids: MessageIds,
    /// The session-recovery token of the last connection.
    token: Option<String>,
    next_id: u64,
}

/// What reading one frame found.
enum Read {
    /// The connection goes on; `gap` when the frame revealed a `seq_id` gap.
    Frame { gap: bool },
    /// The connection is over; `cap_close` when Kyan ended it at its session cap
    /// ([`is_session_cap_close`]).
    Over { cap_close: bool },
}

/// How a served connection ended, for the reconnect back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Closed by the venue's one-hour session cap: a planned end, reconnect at once.
    SessionCap,
    /// Up for [`HEALTHY_AFTER`] or more: the back-off starts over.
    Healthy,
    /// Up for less: the back-off keeps growing.
    Early,
}

/// A session-cap close only counts as planned after this much uptime (a server that closes every
/// connection at once with that code must not be reconnected to in a tight loop).
const CAP_CLOSE_MIN_UPTIME: Duration = Duration::from_secs(1);

/// Whether a close frame is Kyan ending a session at its one-hour cap. The reference does not
/// give the close code (UNKNOWN, kyan-api.md open question 7): code 4000 or a reason that says the
/// session expired is taken as the cap [ASSUMED; the simulator sends 4000 "session expired"].
fn is_session_cap_close(
    frame: Option<&tokio_tungstenite::tungstenite::protocol::CloseFrame>,
) -> bool {
    frame.is_some_and(|f| {
        u16::from(f.code) == 4000 || f.reason.as_str().to_ascii_lowercase().contains("expire")
    })
}

/// The receiver is gone: stop.
struct Closed;

/// One live connection and its `seq_id` tracker.
struct Conn {
    socket: Socket,
    seq: SeqTracker,
}

impl Client {
    fn id(&mut self, what: &str) -> String {
        self.next_id += 1;
        format!("{what}-{}", self.next_id)
    }

    async fn emit(&self, event: Event) -> Result<(), Closed> {
        self.events.send(event).await.map_err(|_| Closed)
    }

    async fn connection(&self, state: ConnectionState) -> Result<(), Closed> {
        self.emit(Event::Connection(ConnectionEvent {
            stream: STREAM.into(),
            state,
            ts: self.clock.now(),
        }))
        .await
    }

    async fn run(mut self) {
        let mut attempt = 0u32;
        let mut first = true;
        loop {
            let established = timeout(self.config.connect_timeout, self.establish()).await;
            let (conn, stash) = match established {
                Ok(Ok(c)) => c,
                Ok(Err(e)) => {
                    warn!(stream = STREAM, error = %e, attempt, "Kyan WebSocket connect failed");
                    tokio::time::sleep(self.config.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                }
                Err(_) => {
                    warn!(stream = STREAM, attempt, "Kyan WebSocket connect timed out");
                    tokio::time::sleep(self.config.backoff(attempt)).await;
                    attempt = attempt.saturating_add(1);
                    continue;
                }
            };
            if first && self.connection(ConnectionState::Connected).await.is_err() {
                return;
            }
            first = false;
            match self.serve(conn, stash).await {
                Err(Closed) => return,
                Ok(ended) => {
                    if ended != Ended::Early {
                        attempt = 0;
                    }
                    bump(&self.stats.reconnects);
                    if self
                        .connection(ConnectionState::Reconnecting)
                        .await
                        .is_err()
                    {
                        return;
                    }
                    // The cap is the venue's planned end of a session (normally pre-empted by the
                    // rotation): reconnect at once, the book and the account are going stale.
                    if ended != Ended::SessionCap {
                        tokio::time::sleep(self.config.backoff(attempt)).await;
                        attempt = attempt.saturating_add(1);
                    }
                }
            }
        }
    }

    /// Connect and get a subscribed connection: recover the last session if there is a token,
    /// else (or when that fails) auth → subscribe → enable recovery. Returns event frames that
    /// arrived during the handshake (a recovery's replay), to be handled first.
    async fn establish(&mut self) -> Result<(Conn, Vec<String>), String> {
        let (socket, _) = tokio_tungstenite::connect_async(self.config.url.as_str())
            .await
            .map_err(|e| format!("connect {}: {e}", self.config.url))?;
        let mut conn = Conn {
            socket,
            seq: SeqTracker::default(),
        };
        let mut stash = Vec::new();
        if let Some(token) = self.token.take().filter(|_| self.config.recovery) {
            let msg = json!({"type":"recover_session","recovery_token":token,"api_key":self.config.api_key.expose()});
            send(&mut conn.socket, &msg).await?;
            let answer =
                await_response(&mut conn.socket, "recover_session", None, &mut stash).await?;
            if answer.get("success").and_then(Value::as_bool) == Some(true) {
                bump(&self.stats.recoveries);
                self.token = answer
                    .get("recovery_token")
                    .and_then(Value::as_str)
                    .map(str::to_string);
                info!(
                    stream = STREAM,
                    replayed = stash.len(),
                    "Kyan WebSocket session recovered"
                );
                return Ok((conn, stash));
            }
            bump(&self.stats.recovery_failures);
            warn!(stream = STREAM, error = %answer.get("error").map(|e| e.to_string()).unwrap_or_default(), "Kyan session recovery refused: auth and subscribe again");
        }
        let id = self.id("auth");
        send(
            &mut conn.socket,
            &json!({"type":"auth","api_key":self.config.api_key.expose(),"id":id}),
        )
        .await?;
        let answer = await_response(&mut conn.socket, "auth", Some(&id), &mut stash).await?;
        if answer.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(format!(
                "auth refused: {}",
                answer
                    .get("error")
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            ));
        }
        let id = self.id("sub");
        send(
            &mut conn.socket,
            &json!({"type":"subscribe","id":id,"subscriptions":self.subs.list()}),
        )
        .await?;
        let answer = await_response(&mut conn.socket, "subscribe", Some(&id), &mut stash).await?;
        if answer.get("success").and_then(Value::as_bool) != Some(true) {
            return Err(format!(
                "subscribe refused: {}",
                answer
                    .get("error")
                    .map(|e| e.to_string())
                    .unwrap_or_default()
            ));
        }
        if self.config.recovery {
            let id = self.id("rec");
            send(
                &mut conn.socket,
                &json!({"type":"enable_session_recovery","id":id}),
            )
            .await?;
            // The answer is read with the stream; a refusal only costs the recovery.
            match await_response(
                &mut conn.socket,
                "enable_session_recovery",
                Some(&id),
                &mut stash,
            )
            .await
            {
                Ok(a) => {
                    self.token = a
                        .get("recovery_token")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                }
                Err(e) => warn!(stream = STREAM, error = %e, "Kyan session recovery not enabled"),
            }
        }
        Ok((conn, stash))
    }

    /// Serve one connection until it is lost, and say how it ended.
    async fn serve(&mut self, mut conn: Conn, stash: Vec<String>) -> Result<Ended, Closed> {
        let started = Instant::now();
        let mut gap = false;
        for text in stash {
            gap |= self.handle(&mut conn.seq, &text).await?;
        }
        // A failed resync is retried on a timer until one succeeds: `Resynced` is what tells
        // the engine its view of the account is whole again.
        let mut retry_at = self.resync_then_follow(&mut conn).await?;
        let mut rotate_at = Instant::now() + self.config.session_max;
        loop {
            if gap {
                gap = false;
                warn!(
                    stream = STREAM,
                    "Kyan seq_id gap: resynchronising over REST"
                );
                retry_at = self.resync_then_follow(&mut conn).await?;
            }
            let requests = Arc::clone(&self.resync_requests);
            tokio::select! {
                _ = tokio::time::sleep_until(retry_at.unwrap_or(rotate_at)), if retry_at.is_some() => {
                    retry_at = self.resync_then_follow(&mut conn).await?;
                }
                _ = requests.notified() => {
                    retry_at = self.resync_then_follow(&mut conn).await?;
                }
                frame = conn.socket.next() => match self.frame(&mut conn, frame).await? {
                    Read::Frame { gap: g } => gap |= g,
                    Read::Over { cap_close } => {
                        let up = started.elapsed();
                        return Ok(if cap_close && up >= CAP_CLOSE_MIN_UPTIME {
                            Ended::SessionCap
                        } else if up >= HEALTHY_AFTER {
                            Ended::Healthy
                        } else {
                            Ended::Early
                        });
                    }
                },
                _ = tokio::time::sleep_until(rotate_at) => {
                    // The new connection is opened and subscribed before the old one goes. Its
                    // recovery token (if any) must not replace the live session's: a fresh
                    // session is established, not a recovered one.
                    let token = self.token.take();
                    match timeout(self.config.connect_timeout, self.establish()).await {
                        Ok(Ok((mut fresh, stash))) => {
                            for text in stash {
                                gap |= self.handle(&mut fresh.seq, &text).await?;
                            }
                            gap |= self.overlap(&mut conn, &mut fresh).await?;
                            let _ = conn.socket.close(None).await;
                            conn = fresh;
                            bump(&self.stats.rotations);
                            info!(stream = STREAM, "Kyan WebSocket rotated before the session cap");
                            rotate_at = Instant::now() + self.config.session_max;
                        }
                        failed => {
                            self.token = token;
                            match failed {
                                Ok(Err(e)) => warn!(stream = STREAM, error = %e, "rotation failed; retrying in 10 s"),
                                _ => warn!(stream = STREAM, "rotation timed out; retrying in 10 s"),
                            }
                            rotate_at = Instant::now() + Duration::from_secs(10).min(self.config.session_max);
                        }
                    }
                }
            }
        }
    }

    /// Read both connections for the overlap (or until the old one ends).
    async fn overlap(&mut self, old: &mut Conn, fresh: &mut Conn) -> Result<bool, Closed> {
        let end = Instant::now() + self.config.overlap;
        let mut gap = false;
        let mut old_open = true;
        loop {
            tokio::select! {
                frame = old.socket.next(), if old_open => match self.frame(old, frame).await? {
                    Read::Frame { gap: g } => gap |= g,
                    Read::Over { .. } => old_open = false,
                },
                frame = fresh.socket.next() => match self.frame(fresh, frame).await? {
                    Read::Frame { gap: g } => gap |= g,
                    Read::Over { .. } => return Ok(gap),
                },
                _ = tokio::time::sleep_until(end) => return Ok(gap),
            }
            if !old_open {
                return Ok(gap);
            }
        }
    }

    /// One frame read from a connection.
    async fn frame(
        &mut self,
        conn: &mut Conn,
        frame: Option<Result<Message, tokio_tungstenite::tungstenite::Error>>,
    ) -> Result<Read, Closed> {
        let over = |cap_close| Ok(Read::Over { cap_close });
        match frame {
            Some(Ok(Message::Text(text))) => Ok(Read::Frame {
                gap: self.handle(&mut conn.seq, text.as_str()).await?,
            }),
            Some(Ok(Message::Ping(p))) => {
                let _ = conn.socket.send(Message::Pong(p)).await;
                Ok(Read::Frame { gap: false })
            }
            Some(Ok(Message::Close(c))) => {
                info!(stream = STREAM, close = ?c, "Kyan closed the WebSocket");
                over(is_session_cap_close(c.as_ref()))
            }
            Some(Ok(_)) => Ok(Read::Frame { gap: false }),
            Some(Err(e)) => {
                warn!(stream = STREAM, error = %e, "Kyan WebSocket error");
                over(false)
            }
            None => over(false),
        }
    }

    /// One text frame; `Ok(true)` when it revealed a `seq_id` gap.
    async fn handle(&mut self, seq: &mut SeqTracker, text: &str) -> Result<bool, Closed> {
        bump(&self.stats.frames);
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            bump(&self.stats.decode_errors);
            self.decoder.stats_mut().get_mut("ws").errors += 1;
            warn!(stream = STREAM, channel = "?", field = "frame", text = %clip(text), "Kyan frame is not JSON: skipped");
            return Ok(false);
        };
        match v.get("kind").and_then(Value::as_str) {
            Some("event") => {}
            Some("response") => {
                if v.get("success").and_then(Value::as_bool) == Some(false) {
                    warn!(stream = STREAM, response = %clip(text), "Kyan refused a request");
                }
                return Ok(false);
            }
            _ => {
                self.decoder
                    .stats_mut()
                    .skip("ws", SkipReason::ChannelWithoutEvent);
                debug!(stream = STREAM, text = %clip(text), "Kyan frame of no known kind: counted and skipped");
                return Ok(false);
            }
        }
        let message_id = v.get("message_id").and_then(Value::as_str);
        let seq_id = v.get("seq_id").and_then(uint);
        let gap = match self.ids.check(message_id, seq_id, seq) {
            Verdict::Duplicate => {
                bump(&self.stats.duplicates);
                self.decoder
                    .stats_mut()
                    .skip("ws", SkipReason::RepeatMessage);
                return Ok(false);
            }
            Verdict::Deliver { gap } => gap,
        };
        if gap {
            bump(&self.stats.gaps);
        }
        let ty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let channel = v
            .pointer("/subscription/channel")
            .and_then(Value::as_str)
            .unwrap_or("");
        let ts = v
            .get("timestamp_ms")
            .and_then(uint)
            .map(Timestamp::from_millis)
            .unwrap_or_else(|| self.clock.now());
        // `index_price` ({value, timestamp} [D]) and `funding` may name their pair or instrument
        // only in the subscription's query: it is added to the data where the data lacks it.
        let mut data = v.get("data").cloned().unwrap_or(Value::Null);
        if let (Some(obj), Some(query)) = (
            data.as_object_mut(),
            v.pointer("/subscription/query").and_then(Value::as_object),
        ) {
            for key in ["pair", "instrument_name"] {
                if let Some(q) = query.get(key).filter(|_| !obj.contains_key(key)) {
                    obj.insert(key.to_string(), q.clone());
                }
            }
        }
        match self.decoder.private_event(ty, channel, &data, ts) {
            Ok(events) => {
                for e in events {
                    self.emit(e).await?;
                }
            }
            Err(e) => {
                bump(&self.stats.decode_errors);
                warn!(stream = STREAM, channel = %e.channel, field = %e.field, error = %e.detail, "Kyan event not decoded: skipped");
            }
        }
        Ok(gap)
    }

    /// Resync, then follow a newly learned smart account; when the resync failed, the time to
    /// try again.
    async fn resync_then_follow(&mut self, conn: &mut Conn) -> Result<Option<Instant>, Closed> {
        let ok = self.run_resync().await?;
        self.follow_account(conn).await;
        Ok((!ok).then(|| Instant::now() + self.config.resync_retry))
    }

    /// Resynchronise over REST; `Resynced` on success (`Ok(true)`). A failure is logged and
    /// retried by the caller (the streams keep flowing meanwhile).
    async fn run_resync(&mut self) -> Result<bool, Closed> {
        let fetched = timeout(self.config.resync_timeout, self.resync.fetch()).await;
        let fetched = match fetched {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                warn!(stream = STREAM, error = %e, "Kyan resync failed");
                return Ok(false);
            }
            Err(_) => {
                warn!(stream = STREAM, "Kyan resync timed out");
                return Ok(false);
            }
        };
        let events = match resync_events(&mut self.decoder, &fetched, self.since, self.clock.now())
        {
            Ok(e) => e,
            Err(e) => {
                warn!(stream = STREAM, channel = %e.channel, field = %e.field, error = %e.detail, "Kyan resync answer not decoded");
                return Ok(false);
            }
        };
        for e in events {
            self.emit(e).await?;
        }
        bump(&self.stats.resyncs);
        self.connection(ConnectionState::Resynced).await?;
        Ok(true)
    }

    /// The smart account may have been learned from a response: the account channels follow
    /// it (subscribed on the live connection now, and in every later subscribe).
    async fn follow_account(&mut self, conn: &mut Conn) {
        let Some(account) = self
            .decoder
            .shared()
            .smart_account()
            .filter(|a| *a != self.subs.account)
        else {
            return;
        };
        info!(stream = STREAM, %account, "Kyan smart account learned: account channels follow it");
        self.subs.account = account;
        let id = self.id("sub");
        let msg = json!({"type":"subscribe","id":id,"subscriptions":self.subs.account_list()});
        if let Err(e) = send(&mut conn.socket, &msg).await {
            warn!(stream = STREAM, error = %e, "subscribe for the smart account failed");
        }
    }
}

/// The events of a resync's REST answers: the fills the streams lost (trades of this session
/// not seen before, oldest first), a complete open-orders list, a position snapshot, the
/// balance.
pub fn resync_events(
    decoder: &mut KyanDecoder,
    fetched: &Fetched,
    since: Timestamp,
    now: Timestamp,
) -> Result<Vec<Event>, crate::decode::DecodeError> {
    // Lost fills first, so that the positions that follow are explained by them.
    let mut events = match &fetched.trades {
        Some(page) => decoder.history_trades("resync:history", page, since),
        None => Vec::new(),
    };
    events.extend(decoder.open_orders("resync:orders", &fetched.orders, now)?);
    events.extend(decoder.positions("resync:positions", &fetched.positions, true, now)?);
    events.extend(decoder.account_state("resync:account_state", &fetched.state, now)?);
    Ok(events)
}

async fn send(socket: &mut Socket, msg: &Value) -> Result<(), String> {
    socket
        .send(Message::text(msg.to_string()))
        .await
        .map_err(|e| format!("send: {e}"))
}

/// Read until the response of `ty` (and `id`, when given) arrives; events meanwhile are
/// stashed; an `error` response with our id ends the wait with it.
async fn await_response(
    socket: &mut Socket,
    ty: &str,
    id: Option<&str>,
    stash: &mut Vec<String>,
) -> Result<Value, String> {
    loop {
        let frame = socket
            .next()
            .await
            .ok_or("closed during the handshake")?
            .map_err(|e| e.to_string())?;
        let text = match frame {
            Message::Text(t) => t.to_string(),
            Message::Close(c) => return Err(format!("closed during the handshake: {c:?}")),
            _ => continue,
        };
        let Ok(v) = serde_json::from_str::<Value>(&text) else {
            stash.push(text);
            continue;
        };
        if v.get("kind").and_then(Value::as_str) != Some("response") {
            stash.push(text);
            continue;
        }
        let rty = v.get("type").and_then(Value::as_str).unwrap_or("");
        let rid = v.get("id").map(|i| {
            i.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| i.to_string())
        });
        let id_ok = id.is_none_or(|id| rid.as_deref().is_none_or(|r| r == id));
        if (rty == ty || rty == "error") && id_ok {
            return Ok(v);
        }
    }
}

fn clip(text: &str) -> String {
    text.chars().take(200).collect()
}
