//! The public market-data stream `/stream/websocket`: Centrifugo's JSON protocol, no key
//! \[D pub-*\]. `connect`, `subscribe` (with `recover`/`since`: the cached last publication is
//! returned), `unsubscribe`, pushes `{push:{channel, pub:{data, offset}}}`, and the server ping
//! `{}` every `ping_secs` that the client answers `{}`; a client that leaves
//! [`MISSED_PINGS`] pings unanswered is closed.
//!
//! Channels: `l2:perps:{instrument}` (20-level full snapshot every driver step; levels
//! `[price, amount_usd, count]` as strings, `amount_usd = price × contracts` exactly),
//! `l2:bbo:{instrument}`
//! (on change), `trades_perp:{instrument}`, `market:funding:current:{instrument}` (at each
//! settlement), `market:index_price:{pair}` (on change).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::Shared;

/// Unanswered pings before the server closes the connection.
pub const MISSED_PINGS: u32 = 3;

/// `GET /stream/websocket`.
pub async fn upgrade(ws: WebSocketUpgrade, State(shared): State<Arc<Shared>>) -> Response {
    ws.on_upgrade(move |socket| serve(socket, shared))
}

fn known_channel(shared: &Shared, channel: &str) -> bool {
    let Ok(core) = shared.lock() else {
        return false;
    };
    core.instruments.iter().any(|i| {
        let n = &i.cfg.name;
        channel == format!("l2:perps:{n}")
            || channel == format!("l2:bbo:{n}")
            || channel == format!("trades_perp:{n}")
            || channel == format!("market:funding:current:{n}")
            || channel == format!("market:index_price:{}", i.cfg.pair())
    })
}

enum Flow {
    Go,
    Close,
}

async fn send(shared: &Shared, socket: &mut WebSocket, text: String, push: bool) -> Flow {
    if push {
        if shared.draw(|f| f.ws_drop_probability, |t| t.ws_drops += 1) {
            return Flow::Close;
        }
        if shared.draw(|f| f.ws_stall_probability, |t| t.ws_stalls += 1) {
            let ms = shared.faults().ws_stall_ms;
            let mut changed = shared.faults_changed.subscribe();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(ms)) => {}
                _ = changed.changed() => {}
            }
        }
        if shared.draw(|f| f.ws_malformed_probability, |t| t.ws_malformed += 1) {
            return match socket.send(Message::Text("{\"push\":".into())).await {
                Ok(()) => Flow::Go,
                Err(_) => Flow::Close,
            };
        }
    }
    match socket.send(Message::Text(text.into())).await {
        Ok(()) => Flow::Go,
        Err(_) => Flow::Close,
    }
}

/// One command of the client; `None` for a pong.
fn reply(shared: &Shared, subs: &mut BTreeSet<String>, cmd: &Value) -> Option<Value> {
    let id = cmd.get("id").cloned().unwrap_or(Value::Null);
    if cmd.get("connect").is_some() {
        let client = shared.lock().map(|mut c| c.uuid()).unwrap_or_default();
        return Some(
            json!({"id": id, "connect": {"client": client, "version": "sim", "ping": shared.ping_secs, "pong": true}}),
        );
    }
    if let Some(s) = cmd.get("subscribe") {
        let Some(channel) = s.get("channel").and_then(Value::as_str) else {
            return Some(json!({"id": id, "error": {"code": 107, "message": "bad request"}}));
        };
        if !known_channel(shared, channel) {
            return Some(json!({"id": id, "error": {"code": 102, "message": "unknown channel"}}));
        }
        if !subs.insert(channel.to_string()) {
            return Some(
                json!({"id": id, "error": {"code": 105, "message": "already subscribed"}}),
            );
        }
        let wants_history =
            s.get("recover").and_then(Value::as_bool).unwrap_or(false) || s.get("since").is_some();
        let cached = shared
            .stream_cache
            .lock()
            .ok()
            .and_then(|c| c.get(channel).cloned());
        let offset = cached.as_ref().map_or(0, |p| p.offset);
        let publications: Vec<Value> = cached
            .filter(|_| wants_history)
            .map(|p| json!({"data": p.data, "offset": p.offset}))
            .into_iter()
            .collect();
        return Some(
            json!({"id": id, "subscribe": {"recoverable": true, "epoch": "sim", "offset": offset,
            "recovered": wants_history, "publications": publications}}),
        );
    }
    if let Some(s) = cmd.get("unsubscribe") {
        if let Some(c) = s.get("channel").and_then(Value::as_str) {
            subs.remove(c);
        }
        return Some(json!({"id": id, "unsubscribe": {}}));
    }
    if cmd.as_object().is_some_and(|o| o.is_empty()) {
        return None;
    }
    Some(json!({"id": id, "error": {"code": 107, "message": "bad request"}}))
}

async fn serve(mut socket: WebSocket, shared: Arc<Shared>) {
    let mut pubs = shared.public.subscribe();
    let mut subs: BTreeSet<String> = BTreeSet::new();
    let mut ping = tokio::time::interval(Duration::from_secs(shared.ping_secs));
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ping.tick().await;
    let mut unanswered = 0u32;
    let mut stop = shared.shutdown.subscribe();
    loop {
        let flow = tokio::select! {
            _ = stop.changed() => {
                let _ = socket.send(Message::Close(None)).await;
                return;
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Text(t))) => {
                    let mut flow = Flow::Go;
                    // Centrifugo JSON: one or more commands, newline-separated.
                    for line in t.as_str().lines().filter(|l| !l.trim().is_empty()) {
                        let Ok(cmd) = serde_json::from_str::<Value>(line) else {
                            flow = Flow::Close;
                            break;
                        };
                        match reply(&shared, &mut subs, &cmd) {
                            None => unanswered = 0,
                            Some(r) => {
                                if let Flow::Close = send(&shared, &mut socket, r.to_string(), false).await {
                                    flow = Flow::Close;
                                    break;
                                }
                            }
                        }
                    }
                    flow
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => Flow::Close,
                Some(Ok(_)) => Flow::Go,
            },
            p = pubs.recv() => match p {
                Ok(p) if subs.contains(&p.channel) => {
                    let text = json!({"push": {"channel": p.channel, "pub": {"data": p.data, "offset": p.offset}}}).to_string();
                    send(&shared, &mut socket, text, true).await
                }
                Ok(_) => Flow::Go,
                Err(broadcast::error::RecvError::Lagged(_)) | Err(broadcast::error::RecvError::Closed) => Flow::Close,
            },
            _ = ping.tick() => {
                unanswered += 1;
                if unanswered > MISSED_PINGS {
                    Flow::Close
                } else {
                    send(&shared, &mut socket, "{}".into(), false).await
                }
            }
        };
        if let Flow::Close = flow {
            let _ = socket.send(Message::Close(None)).await;
            return;
        }
    }
}
