//! The public market-data stream (`/stream/websocket`, Centrifugo JSON, no key): per
//! instrument the 20-level book, BBO, trades and funding, per pair the index price, decoded by
//! [`crate::decode::public`].
//!
//! Centrifugo: `{"id":1,"connect":{}}`, then `{"id":n,"subscribe":{"channel":…,"recover":true}}`
//! (with the last `epoch`/`offset` after a reconnect); pushes `{"push":{"channel":…,"pub":
//! {"data":…,"offset":n}}}`; the server's `{}` ping is answered with `{}`. One frame may hold
//! several JSON messages, one per line. A lost connection is re-established with back-off and
//! every channel subscribed again; a book is a full snapshot each time, so the first push after
//! a reconnect resynchronises it.

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use perpbot_core::venue::backoff::{HEALTHY_AFTER, reconnect_delay};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::{Instant, timeout};
use tokio_tungstenite::tungstenite::Message;
use tracing::{info, warn};

use perpbot_model::clock::Clock;
use perpbot_model::{ConnectionEvent, ConnectionState, Event};

use crate::decode::KyanDecoder;
use crate::decode::num::uint;
use crate::decode::public::{channels, index_channel};

/// The `stream` name of this client's connection events.
pub const STREAM: &str = "kyan-stream";

/// Stream settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamConfig {
    /// `wss://…/stream/websocket`.
    pub url: String,
    /// No frame (pings included) for this long → the connection is dead.
    pub silence_timeout: Duration,
    /// First reconnect delay (doubles, jittered, capped).
    pub backoff_initial: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Bound on connect and the `connect` reply.
    pub connect_timeout: Duration,
}

impl StreamConfig {
    /// Defaults: 75 s silence (three 25 s pings), 1 s → 30 s back-off.
    pub fn new(url: &str) -> StreamConfig {
        StreamConfig {
            url: url.to_string(),
            silence_timeout: Duration::from_secs(75),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// Counters of the stream (relaxed atomics).
#[derive(Debug, Default)]
pub struct StreamStats {
    /// Text frames received.
    pub frames: AtomicU64,
    /// Messages that were not JSON or failed to decode (logged, skipped).
    pub decode_errors: AtomicU64,
    /// Connections lost.
    pub reconnects: AtomicU64,
    /// Pings answered.
    pub pings: AtomicU64,
}

fn bump(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// The channels for these instruments and pairs.
pub fn all_channels(instruments: &[String], pairs: &[String]) -> Vec<String> {
    let mut out: Vec<String> = instruments.iter().flat_map(|i| channels(i)).collect();
    for p in pairs {
        let c = index_channel(p);
        if !out.contains(&c) {
            out.push(c);
        }
    }
    out
}

/// Start the stream task; it ends when `events`' receiver is dropped.
pub fn spawn(
    config: StreamConfig,
    channels: Vec<String>,
    decoder: KyanDecoder,
    events: mpsc::Sender<Event>,
    clock: Clock,
) -> (JoinHandle<()>, Arc<StreamStats>) {
    let stats = Arc::new(StreamStats::default());
    let s = Arc::clone(&stats);
    let handle = tokio::spawn(async move {
        let mut st = State {
            config,
            channels,
            decoder,
            events,
            clock,
            stats: s,
            positions: HashMap::new(),
        };
        st.run().await;
    });
    (handle, stats)
}

struct State {
    config: StreamConfig,
    channels: Vec<String>,
    decoder: KyanDecoder,
    events: mpsc::Sender<Event>,
    clock: Clock,
    stats: Arc<StreamStats>,
    /// Channel → (epoch, offset) of the last publication, for `recover`.
    positions: HashMap<String, (String, u64)>,
}

struct Closed;

impl State {
    fn backoff(&self, attempt: u32) -> Duration {
        reconnect_delay(
            self.config.backoff_initial,
            self.config.backoff_max,
            attempt,
        )
    }

    async fn state(&self, state: ConnectionState) -> Result<(), Closed> {
        self.events
            .send(Event::Connection(ConnectionEvent {
                stream: STREAM.into(),
                state,
                ts: self.clock.now(),
            }))
            .await
            .map_err(|_| Closed)
    }

    async fn run(&mut self) {
        let mut attempt = 0u32;
        let mut first = true;
        loop {
            let started = Instant::now();
            match self.session(first).await {
                Err(Closed) => return,
                Ok(established) => {
                    if established {
                        first = false;
                        // Only a connection that stayed up a while resets the back-off: a
                        // server that accepts and drops at once is not hammered.
                        if started.elapsed() >= HEALTHY_AFTER {
                            attempt = 0;
                        }
                        bump(&self.stats.reconnects);
                        if self.state(ConnectionState::Reconnecting).await.is_err() {
                            return;
                        }
                    }
                }
            }
            tokio::time::sleep(self.backoff(attempt)).await;
            attempt = attempt.saturating_add(1);
        }
    }

    /// One connection; `Ok(true)` when it had been established (subscribed) before it ended.
    async fn session(&mut self, first: bool) -> Result<bool, Closed> {
        let connected = timeout(
            self.config.connect_timeout,
            tokio_tungstenite::connect_async(self.config.url.as_str()),
        )
        .await;
        let mut ws = match connected {
            Ok(Ok((ws, _))) => ws,
            Ok(Err(e)) => {
                warn!(stream = STREAM, error = %e, "Kyan stream connect failed");
                return Ok(false);
            }
            Err(_) => {
                warn!(stream = STREAM, "Kyan stream connect timed out");
                return Ok(false);
            }
        };
        let mut msgs = vec![json!({"id":1,"connect":{}}).to_string()];
        for (i, ch) in self.channels.iter().enumerate() {
            let mut sub = json!({"channel":ch,"recover":true});
            if let Some((epoch, offset)) = self.positions.get(ch) {
                sub["epoch"] = json!(epoch);
                sub["offset"] = json!(offset);
            }
            msgs.push(json!({"id": i + 2, "subscribe": sub}).to_string());
        }
        for m in msgs {
            if let Err(e) = ws.send(Message::text(m)).await {
                warn!(stream = STREAM, error = %e, "Kyan stream send failed");
                return Ok(false);
            }
        }
        info!(
            stream = STREAM,
            channels = self.channels.len(),
            "Kyan stream connected and subscribing"
        );
        self.state(if first {
            ConnectionState::Connected
        } else {
            ConnectionState::Resynced
        })
        .await?;
        let mut last = Instant::now();
        loop {
            let frame =
                tokio::time::timeout_at(last + self.config.silence_timeout, ws.next()).await;
            let frame = match frame {
                Err(_) => {
                    warn!(stream = STREAM, "Kyan stream silent: reconnecting");
                    return Ok(true);
                }
                Ok(None) | Ok(Some(Err(_))) => return Ok(true),
                Ok(Some(Ok(f))) => f,
            };
            last = Instant::now();
            match frame {
                Message::Text(text) => {
                    bump(&self.stats.frames);
                    for line in text.as_str().lines().filter(|l| !l.trim().is_empty()) {
                        if let Some(reply) = self.message(line).await? {
                            let _ = ws.send(Message::text(reply)).await;
                        }
                    }
                }
                Message::Ping(p) => {
                    let _ = ws.send(Message::Pong(p)).await;
                }
                Message::Close(_) => return Ok(true),
                _ => {}
            }
        }
    }

    /// One Centrifugo message; a reply to send back (the `{}` pong) when there is one.
    async fn message(&mut self, line: &str) -> Result<Option<String>, Closed> {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            bump(&self.stats.decode_errors);
            self.decoder.stats_mut().get_mut("stream").errors += 1;
            warn!(stream = STREAM, channel = "?", field = "frame", text = %line.chars().take(200).collect::<String>(), "Kyan stream message is not JSON: skipped");
            return Ok(None);
        };
        if v.as_object().is_some_and(|o| o.is_empty()) {
            bump(&self.stats.pings);
            return Ok(Some("{}".to_string()));
        }
        if let Some(e) = v.get("error") {
            let id = v.get("id").map(ToString::to_string).unwrap_or_default();
            warn!(stream = STREAM, %id, error = %e, "Kyan stream refused a command");
            return Ok(None);
        }
        if let Some(push) = v.get("push") {
            let channel = push
                .get("channel")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some(publication) = push.get("pub") {
                self.publication(&channel, publication).await?;
            }
            return Ok(None);
        }
        if let Some(sub) = v.get("subscribe") {
            // The subscribe reply: its cached publications. The reply names no channel; the id
            // does (2.. in subscription order).
            let idx = v
                .get("id")
                .and_then(uint)
                .and_then(|i| usize::try_from(i).ok())
                .and_then(|i| i.checked_sub(2));
            if let Some(channel) = idx.and_then(|i| self.channels.get(i)).cloned() {
                if let Some(epoch) = sub.get("epoch").and_then(Value::as_str) {
                    let offset = sub.get("offset").and_then(uint).unwrap_or(0);
                    self.positions
                        .insert(channel.clone(), (epoch.to_string(), offset));
                }
                for p in sub
                    .get("publications")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    self.publication(&channel, p).await?;
                }
            }
        }
        Ok(None)
    }

    async fn publication(&mut self, channel: &str, publication: &Value) -> Result<(), Closed> {
        if let Some(offset) = publication.get("offset").and_then(uint)
            && let Some(pos) = self.positions.get_mut(channel)
        {
            pos.1 = offset;
        }
        let data = publication.get("data").unwrap_or(&Value::Null);
        match self.decoder.public(channel, data, self.clock.now()) {
            Ok(events) => {
                for e in events {
                    self.events.send(e).await.map_err(|_| Closed)?;
                }
            }
            Err(e) => {
                bump(&self.stats.decode_errors);
                warn!(stream = STREAM, channel = %channel, field = %e.field, error = %e.detail, "Kyan publication not decoded: skipped");
            }
        }
        Ok(())
    }
}
