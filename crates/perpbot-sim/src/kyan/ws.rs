//! The private WebSocket `/ws` \[D ws-*\]: `auth`, `subscribe` (\[D\] `subscriptions` array or
//! \[S\] single `channel`/`query`), `unsubscribe`, `unsubscribe_all`, `get_subscriptions`,
//! `get_instruments`, `enable_session_recovery` / `recover_session`, and the event envelope
//! `{kind, type, timestamp_ms, message_id, seq_id, data, subscription}` with `seq_id` from 1 per
//! connection.
//!
//! * `position` and `account_state` are snapshots every second \[D\]; `account_state` also follows
//!   every fill. `orderbook_maker` starts with `ob_maker_orders` `{maker, orders}`
//!   **\[ASSUMED\]**; `instruments` and `index_price` start with the current value.
//! * Session recovery: after a drop of a connection that enabled it, the server keeps its
//!   subscriptions and buffers up to [`RECOVERY_BUFFER`] matching events for
//!   [`RECOVERY_TTL_SECS`]; a new connection whose **first** message is `recover_session`
//!   `{recovery_token, api_key}` gets them replayed (original `message_id`s, new `seq_id`s),
//!   then a new token. Anything else first, or a bad token, falls back to a fresh session.
//! * The session cap closes with code 4000, reason `session expired`.
//! * A subscriber that falls more than the broadcast capacity behind is dropped (as a venue
//!   would), and recovers like any other drop.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast;

use super::Shared;
use super::core::Event;

/// Events buffered for a dropped session.
pub const RECOVERY_BUFFER: usize = 1_000;
/// How long a dropped session waits for recovery.
pub const RECOVERY_TTL_SECS: u64 = 30;
/// Close code of the session cap.
pub const CAP_CLOSE_CODE: u16 = 4000;

/// Channels accepted, with the query keys they require.
const CHANNELS: &[(&str, &[&str])] = &[
    ("orderbook_maker", &["maker"]),
    ("orderbook_perps", &[]),
    ("orderbook_options", &[]),
    ("trade", &[]),
    ("position", &["account"]),
    ("account_state", &["account"]),
    ("funding", &["instrument_name"]),
    ("index_price", &["pair"]),
    ("instruments", &[]),
    ("transfer", &["account"]),
    ("mmp", &[]),
    ("iv", &[]),
    ("interest_rate", &[]),
    ("rfq", &[]),
    ("bankruptcy", &[]),
    ("account_liquidation", &[]),
];

/// One subscription.
#[derive(Debug, Clone, PartialEq)]
pub struct Sub {
    channel: String,
    query: Map<String, Value>,
}

impl Sub {
    fn json(&self) -> Value {
        json!({"channel": self.channel, "query": self.query})
    }

    /// Whether `e` goes to this subscription: same channel, every query key (but `options`)
    /// equal to the event's attribute of that name, case-insensitively.
    fn matches(&self, e: &Event) -> bool {
        self.channel == e.channel
            && self.query.iter().all(|(k, v)| {
                k == "options"
                    || e.attrs.iter().any(|(ak, av)| {
                        ak == k && v.as_str().is_some_and(|s| s.eq_ignore_ascii_case(av))
                    })
            })
    }
}

/// A dropped session awaiting recovery.
pub struct Parked {
    subs: Vec<Sub>,
    buffer: Arc<Mutex<Vec<Arc<Event>>>>,
    collector: tokio::task::JoinHandle<()>,
}

/// `GET /ws`.
pub async fn upgrade(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| serve(socket, shared))
}

/// Per-connection state.
struct Conn {
    shared: Arc<Shared>,
    authed: bool,
    subs: Vec<Sub>,
    seq: u64,
    recovery: Option<String>,
    first: bool,
}

enum Flow {
    Go,
    Close,
}

fn now_ms(shared: &Shared) -> u64 {
    shared.clock.now().as_millis()
}

impl Conn {
    fn response(&self, ty: &str, id: &Value, extra: Value) -> String {
        let mut v = json!({
            "kind": "response",
            "type": ty,
            "id": id,
            "success": true,
            "timestamp_ms": now_ms(&self.shared),
        });
        if let (Some(o), Value::Object(e)) = (v.as_object_mut(), extra) {
            o.extend(e);
        }
        v.to_string()
    }

    fn error(&self, id: &Value, error: &str) -> String {
        json!({
            "kind": "response",
            "type": "error",
            "id": id,
            "timestamp_ms": now_ms(&self.shared),
            "success": false,
            "error": error,
        })
        .to_string()
    }

    /// The envelope of `e` for `sub`, `seq_id` advanced.
    fn envelope(
        &mut self,
        sub: &Sub,
        kind: &str,
        data: &Value,
        message_id: &str,
        at_ms: u64,
    ) -> String {
        self.seq += 1;
        json!({
            "kind": "event",
            "type": kind,
            "timestamp_ms": at_ms,
            "message_id": message_id,
            "seq_id": self.seq,
            "data": data,
            "subscription": sub.json(),
        })
        .to_string()
    }

    fn uuid(&self) -> String {
        self.shared.lock().map(|mut c| c.uuid()).unwrap_or_default()
    }

    /// Send a frame through the fault stream: drop, stall, malformed or (for events) a gap.
    async fn send(&mut self, socket: &mut WebSocket, text: String, event: bool) -> Flow {
        let s = Arc::clone(&self.shared);
        if !event {
            // Faults hit events only: responses keep the handshake deterministic.
            return match socket.send(Message::Text(text.into())).await {
                Ok(()) => Flow::Go,
                Err(_) => Flow::Close,
            };
        }
        if s.draw(|f| f.ws_drop_probability, |t| t.ws_drops += 1) {
            return Flow::Close;
        }
        if s.draw(|f| f.ws_stall_probability, |t| t.ws_stalls += 1) {
            let ms = s.faults().ws_stall_ms;
            let mut changed = s.faults_changed.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = changed.changed() => {}
            }
        }
        if s.draw(|f| f.ws_malformed_probability, |t| t.ws_malformed += 1) {
            if socket
                .send(Message::Text("{\"kind\":\"event\",".into()))
                .await
                .is_err()
            {
                return Flow::Close;
            }
            return Flow::Go;
        }
        if s.draw(|f| f.ws_seq_gap_probability, |t| t.ws_seq_gaps += 1) {
            return Flow::Go;
        }
        match socket.send(Message::Text(text.into())).await {
            Ok(()) => Flow::Go,
            Err(_) => Flow::Close,
        }
    }

    async fn send_event(
        &mut self,
        socket: &mut WebSocket,
        sub: &Sub,
        kind: &str,
        data: &Value,
        mid: &str,
        at_ms: u64,
    ) -> Flow {
        let text = self.envelope(sub, kind, data, mid, at_ms);
        self.send(socket, text, true).await
    }

    /// Snapshots sent right after a subscription.
    async fn initial(&mut self, socket: &mut WebSocket, sub: &Sub) -> Flow {
        let q = |k: &str| sub.query.get(k).and_then(Value::as_str).map(str::to_string);
        let mut out: Vec<(&'static str, Value)> = Vec::new();
        {
            let Ok(core) = self.shared.lock() else {
                return Flow::Close;
            };
            match sub.channel.as_str() {
                "orderbook_maker" => {
                    if let Some(maker) = q("maker").and_then(|m| m.parse().ok()) {
                        let pair = q("pair");
                        let orders: Vec<Value> = core
                            .open_orders(maker, None)
                            .into_iter()
                            .filter(|o| {
                                pair.as_ref().is_none_or(|p| {
                                    core.instruments
                                        .get(o.inst)
                                        .is_some_and(|i| i.cfg.pair() == p)
                                })
                            })
                            .map(|o| core.order_json(o, "open"))
                            .collect();
                        out.push((
                            "ob_maker_orders",
                            json!({"maker": format!("{maker:#x}"), "orders": orders}),
                        ));
                    }
                }
                "instruments" => {
                    let markets: Vec<String> = match q("market") {
                        Some(m) => vec![m],
                        None => core
                            .instruments
                            .iter()
                            .map(|i| i.cfg.base().to_string())
                            .fold(Vec::new(), |mut v, b| {
                                if !v.contains(&b) {
                                    v.push(b);
                                }
                                v
                            }),
                    };
                    for m in markets {
                        out.push(("instruments", json!({"updated_at": core.now.as_millis(), "instruments": core.instrument_names(Some(&m))})));
                    }
                }
                "index_price" => {
                    if let Some(i) =
                        q("pair").and_then(|p| core.instruments.iter().find(|i| i.cfg.pair() == p))
                    {
                        out.push(("index_price", json!({"value": super::wire::num(i.index), "timestamp": core.now.as_millis()})));
                    }
                }
                _ => {}
            }
        }
        let at = now_ms(&self.shared);
        for (kind, data) in out {
            let mid = self.uuid();
            if let Flow::Close = self.send_event(socket, sub, kind, &data, &mid, at).await {
                return Flow::Close;
            }
        }
        Flow::Go
    }

    /// The one-second snapshots of `position` and `account_state`.
    async fn periodic(&mut self, socket: &mut WebSocket) -> Flow {
        let subs: Vec<Sub> = self
            .subs
            .iter()
            .filter(|s| s.channel == "position" || s.channel == "account_state")
            .cloned()
            .collect();
        for sub in subs {
            let mut out = Vec::new();
            {
                let Ok(core) = self.shared.lock() else {
                    return Flow::Close;
                };
                let Some(maker) = sub
                    .query
                    .get("account")
                    .and_then(Value::as_str)
                    .and_then(|a| a.parse().ok())
                else {
                    continue;
                };
                let want = |k: &str| sub.query.get(k).and_then(Value::as_str).map(str::to_string);
                for pair in core.pairs() {
                    let base = pair.split('_').next().unwrap_or(&pair).to_string();
                    if sub.channel == "position" {
                        if want("market").is_some_and(|m| !m.eq_ignore_ascii_case(&base)) {
                            continue;
                        }
                        if let Some(d) = core.position_json(maker, &pair) {
                            out.push(("position", d));
                        }
                    } else {
                        if want("pair").is_some_and(|p| p != pair) {
                            continue;
                        }
                        if let Some(d) = core.account_state_json(maker, &pair) {
                            out.push(("account_state", d));
                        }
                    }
                }
            }
            let at = now_ms(&self.shared);
            for (kind, data) in out {
                let mid = self.uuid();
                if let Flow::Close = self.send_event(socket, &sub, kind, &data, &mid, at).await {
                    return Flow::Close;
                }
            }
        }
        Flow::Go
    }

    fn parse_sub(v: &Value) -> Result<Sub, String> {
        let channel = v
            .get("channel")
            .and_then(Value::as_str)
            .ok_or("Invalid subscription parameters")?;
        let Some((_, required)) = CHANNELS.iter().find(|(c, _)| *c == channel) else {
            return Err("Invalid subscription parameters".into());
        };
        let query = match v.get("query") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(m)) => m.clone(),
            Some(_) => return Err(format!("Invalid query for {channel} channel")),
        };
        for k in *required {
            if !query.get(*k).is_some_and(Value::is_string) {
                return Err(format!("Invalid query for {channel} channel"));
            }
        }
        Ok(Sub {
            channel: channel.to_string(),
            query,
        })
    }

    fn listed(v: &Value) -> Result<Vec<Sub>, String> {
        match v.get("subscriptions") {
            Some(Value::Array(a)) => a.iter().map(Conn::parse_sub).collect(),
            Some(_) => Err("Invalid subscription parameters".into()),
            None => Conn::parse_sub(v).map(|s| vec![s]),
        }
    }

    /// Handle one client message.
    async fn command(&mut self, socket: &mut WebSocket, text: &str) -> Flow {
        let first = std::mem::replace(&mut self.first, false);
        let Ok(v) = serde_json::from_str::<Value>(text) else {
            let e = self.error(&Value::Null, "invalid message payload: not JSON");
            return self.send(socket, e, false).await;
        };
        let id = v.get("id").cloned().unwrap_or(Value::Null);
        let ty = v
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let key_ok = v.get("api_key").and_then(Value::as_str) == Some(self.shared.api_key.as_str());
        let reply = match ty.as_str() {
            "auth" if self.authed => self.error(&id, "Session already authorized"),
            "auth" if key_ok => {
                self.authed = true;
                self.response("auth", &id, json!({}))
            }
            "auth" => json!({"kind": "response", "type": "auth", "id": id, "success": false,
                "error": "Failed to validate api key", "timestamp_ms": now_ms(&self.shared)})
            .to_string(),
            "recover_session" => {
                let token = v
                    .get("recovery_token")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let parked = if first && key_ok {
                    self.shared
                        .recoveries
                        .lock()
                        .ok()
                        .and_then(|mut r| r.remove(token))
                } else {
                    None
                };
                let Some(p) = parked else {
                    let e = json!({"kind": "response", "type": "recover_session", "id": id, "success": false,
                        "error": "Session recovery failed", "timestamp_ms": now_ms(&self.shared)}).to_string();
                    return self.send(socket, e, false).await;
                };
                p.collector.abort();
                let events: Vec<Arc<Event>> = p
                    .buffer
                    .lock()
                    .map(|mut b| std::mem::take(&mut *b))
                    .unwrap_or_default();
                self.authed = true;
                self.subs = p.subs;
                for e in events {
                    let Some(sub) = self.subs.iter().find(|s| s.matches(&e)).cloned() else {
                        continue;
                    };
                    if let Flow::Close = self
                        .send_event(socket, &sub, e.kind, &e.data, &e.message_id, e.at_ms)
                        .await
                    {
                        return Flow::Close;
                    }
                }
                let token = self.uuid();
                self.recovery = Some(token.clone());
                self.response(
                    "recover_session",
                    &id,
                    json!({"recovery_token": token, "ttl_seconds": RECOVERY_TTL_SECS}),
                )
            }
            _ if !self.authed => self.error(&id, "Not Authorized"),
            "subscribe" => match Conn::listed(&v) {
                Ok(subs) => {
                    let listed: Vec<Value> = subs.iter().map(Sub::json).collect();
                    let r = self.response("subscribe", &id, json!({"subscriptions": listed}));
                    if let Flow::Close = self.send(socket, r, false).await {
                        return Flow::Close;
                    }
                    for s in subs {
                        if !self.subs.contains(&s) {
                            self.subs.push(s.clone());
                            if let Flow::Close = self.initial(socket, &s).await {
                                return Flow::Close;
                            }
                        }
                    }
                    return Flow::Go;
                }
                Err(e) => self.error(&id, &e),
            },
            "unsubscribe" => match Conn::listed(&v) {
                Ok(subs) => {
                    self.subs.retain(|s| !subs.contains(s));
                    let listed: Vec<Value> = subs.iter().map(Sub::json).collect();
                    self.response("unsubscribe", &id, json!({"subscriptions": listed}))
                }
                Err(e) => self.error(&id, &e),
            },
            "unsubscribe_all" => {
                self.subs.clear();
                self.response("unsubscribe_all", &id, json!({}))
            }
            "get_subscriptions" => {
                let listed: Vec<Value> = self.subs.iter().map(Sub::json).collect();
                self.response("get_subscriptions", &id, json!({"subscriptions": listed}))
            }
            "get_instruments" => {
                let names = match self.shared.lock() {
                    Ok(core) => match v.get("markets").and_then(Value::as_array) {
                        Some(ms) => ms
                            .iter()
                            .filter_map(Value::as_str)
                            .flat_map(|m| core.instrument_names(Some(m)))
                            .collect(),
                        None => core.instrument_names(None),
                    },
                    Err(_) => Vec::new(),
                };
                self.response("get_instruments", &id, json!({"instruments": names}))
            }
            "enable_session_recovery" => {
                let token = self.uuid();
                self.recovery = Some(token.clone());
                self.response(
                    "enable_session_recovery",
                    &id,
                    json!({"recovery_token": token, "ttl_seconds": RECOVERY_TTL_SECS}),
                )
            }
            other => self.error(&id, &format!("invalid {other} payload")),
        };
        self.send(socket, reply, false).await
    }
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>) {
    let mut events = shared.events.subscribe();
    let cap = tokio::time::sleep(Duration::from_secs(shared.session_cap_secs));
    tokio::pin!(cap);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut conn = Conn {
        shared: Arc::clone(&shared),
        authed: false,
        subs: Vec::new(),
        seq: 0,
        recovery: None,
        first: true,
    };
    let mut unsent: Option<Arc<Event>> = None;
    let mut stop = shared.shutdown.subscribe();
    loop {
        let flow = tokio::select! {
            _ = stop.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => conn.command(&mut socket, t.as_str()).await,
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Close,
                Some(Ok(_)) => Flow::Go,
            },
            e = events.recv() => match e {
                Ok(e) => {
                    let sub = conn.subs.iter().find(|s| s.matches(&e)).cloned();
                    match sub {
                        Some(sub) if conn.authed => {
                            let flow = conn.send_event(&mut socket, &sub, e.kind, &e.data, &e.message_id, e.at_ms).await;
                            if let Flow::Close = flow {
                                // Not delivered: the first event a recovery replays.
                                unsent = Some(e);
                            }
                            flow
                        }
                        _ => Flow::Go,
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => Flow::Close,
                Err(broadcast::error::RecvError::Closed) => Flow::Close,
            },
            _ = second.tick() => if conn.authed { conn.periodic(&mut socket).await } else { Flow::Go },
            _ = &mut cap => {
                let _ = socket.send(Message::Close(Some(CloseFrame {
                    code: CAP_CLOSE_CODE,
                    reason: "session expired".into(),
                }))).await;
                return;
            }
        };
        if let Flow::Close = flow {
            break;
        }
    }
    // A drop: park the session for recovery when it was enabled.
    let _ = socket.send(Message::Close(None)).await;
    if let Some(token) = conn.recovery.take() {
        park(&shared, token, conn.subs, events, unsent);
    }
}

/// Keep buffering a dropped session's events for [`RECOVERY_TTL_SECS`].
fn park(
    shared: &Arc<Shared>,
    token: String,
    subs: Vec<Sub>,
    mut events: broadcast::Receiver<Arc<Event>>,
    unsent: Option<Arc<Event>>,
) {
    let buffer = Arc::new(Mutex::new(unsent.into_iter().collect::<Vec<_>>()));
    let (b, s, sh, t) = (
        Arc::clone(&buffer),
        subs.clone(),
        Arc::clone(shared),
        token.clone(),
    );
    let collector = tokio::spawn(async move {
        let ttl = tokio::time::sleep(Duration::from_secs(RECOVERY_TTL_SECS));
        tokio::pin!(ttl);
        loop {
            tokio::select! {
                e = events.recv() => match e {
                    Ok(e) => {
                        if s.iter().any(|sub| sub.matches(&e))
                            && let Ok(mut buf) = b.lock()
                            && buf.len() < RECOVERY_BUFFER
                        {
                            buf.push(e);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => break,
                },
                _ = &mut ttl => break,
            }
        }
        if let Ok(mut r) = sh.recoveries.lock() {
            r.remove(&t);
        }
    });
    if let Ok(mut r) = shared.recoveries.lock() {
        r.insert(
            token,
            Parked {
                subs,
                buffer,
                collector,
            },
        );
    }
}
