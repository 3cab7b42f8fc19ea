//! The first piece of a Kyan simulator: `POST /limit` on loopback, checking what Kyan checks
//! before an order exists — the API key, the body's shape, each order's EIP-712 signature
//! (recovered and compared with its `maker`) and the signature deadline's window and per-maker
//! monotonicity (reference §3.2–3.6, §6.3). Accepted orders are recorded (resting; there is no
//! matching yet). Errors use Kyan's `{error, message}` body; a deadline error carries
//! `serverTime`, `minTimestamp`, `maxTimestamp` and `givenTimestamp` as \[S\] describes.
//!
//! It verifies with `perpbot-kyan`'s typed messages and `recover`: the type strings and hashes are
//! pinned there by the reference's computed vectors, so a client bug in them cannot hide behind
//! the simulator agreeing with itself.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use alloy_primitives::{Address, U256};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use perpbot_kyan::signing::types::UserLimitOrder;
use perpbot_kyan::signing::{TypedMessage, domain, recover, units};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use perpbot_model::clock::Clock;

#[cfg(test)]
mod tests;

/// How far ahead a signature deadline may be (Kyan: about 30 s \[D\]).
pub const MAX_DEADLINE_AHEAD_SECS: u64 = 30;

/// Settings of the Kyan simulator.
#[derive(Debug, Clone)]
pub struct KyanSimConfig {
    /// The `x-apikey` it accepts.
    pub api_key: String,
    /// Chain id of the signing domain.
    pub chain_id: u64,
    /// Verifying contract of the signing domain.
    pub verifying_contract: Address,
}

impl Default for KyanSimConfig {
    fn default() -> KyanSimConfig {
        KyanSimConfig {
            api_key: "sim".into(),
            chain_id: perpbot_kyan::signing::TESTNET_CHAIN_ID,
            verifying_contract: perpbot_kyan::signing::TESTNET_VERIFYING_CONTRACT,
        }
    }
}

/// An order the simulator accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestingOrder {
    /// Its id (32 hex digits, as Kyan's).
    pub order_id: String,
    /// The maker.
    pub maker: Address,
    /// `BTC_USDC-PERPETUAL`, …
    pub instrument: String,
    /// 0 buy, 1 sell.
    pub direction: u8,
    /// Signed size (× 10^6).
    pub size: U256,
    /// Signed price (× 10^6).
    pub price: U256,
}

/// What the simulator holds.
#[derive(Debug, Default)]
pub struct KyanState {
    /// Accepted orders, in order of arrival.
    pub orders: Vec<RestingOrder>,
    /// The last deadline accepted per maker.
    pub last_deadline: HashMap<Address, u64>,
}

struct Shared {
    config: KyanSimConfig,
    clock: Clock,
    state: Mutex<KyanState>,
}

/// A running Kyan simulator.
pub struct KyanSimHandle {
    /// REST base URL.
    pub rest_url: String,
    state: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl KyanSimHandle {
    /// The orders it accepted so far.
    pub fn orders(&self) -> Vec<RestingOrder> {
        self.state
            .state
            .lock()
            .map(|s| s.orders.clone())
            .unwrap_or_default()
    }

    /// Stop serving.
    pub fn stop(self) {
        self.server.abort();
    }
}

/// Start the Kyan simulator on `bind`.
pub async fn start(
    config: KyanSimConfig,
    bind: SocketAddr,
    clock: Clock,
) -> Result<KyanSimHandle, String> {
    let state = Arc::new(Shared {
        config,
        clock,
        state: Mutex::new(KyanState::default()),
    });
    let app = Router::new()
        .route("/limit", post(limit))
        .with_state(Arc::clone(&state));
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .map_err(|e| format!("bind {bind}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(KyanSimHandle {
        rest_url: format!("http://{addr}"),
        state,
        server,
    })
}

/// A refusal: HTTP status and Kyan's body.
struct Refusal(StatusCode, Value);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(self.1)).into_response()
    }
}

fn refuse(status: StatusCode, code: &str, message: impl Into<String>) -> Refusal {
    Refusal(status, json!({"error": code, "message": message.into()}))
}

fn bad(message: impl Into<String>) -> Refusal {
    refuse(StatusCode::BAD_REQUEST, "INVALID_REQUEST", message)
}

/// The fields of one order object, each read once; anything left is an error (v1.18: no extra
/// fields).
struct OrderFields(Map<String, Value>, usize);

impl OrderFields {
    fn name(&self, key: &str) -> String {
        format!("orders[{}].{key}", self.1)
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        self.0.remove(key)
    }

    fn need(&mut self, key: &str) -> Result<Value, Refusal> {
        self.take(key)
            .ok_or_else(|| bad(format!("{}: missing", self.name(key))))
    }

    fn text(&mut self, key: &str) -> Result<String, Refusal> {
        match self.need(key)? {
            Value::String(s) => Ok(s),
            other => Err(bad(format!("{}: a string, not {other}", self.name(key)))),
        }
    }

    fn flag(&mut self, key: &str) -> Result<bool, Refusal> {
        match self.need(key)? {
            Value::Bool(b) => Ok(b),
            other => Err(bad(format!(
                "{}: true or false, not {other}",
                self.name(key)
            ))),
        }
    }

    /// A decimal given as a JSON number or string. \[INF\] Kyan's examples send numbers; their
    /// text is read exactly, never through a float.
    fn decimal(&mut self, key: &str, value: Value) -> Result<Decimal, Refusal> {
        let text = match value {
            Value::Number(n) => n.to_string(),
            Value::String(s) => s,
            other => return Err(bad(format!("{}: a number, not {other}", self.name(key)))),
        };
        Decimal::from_str(text.trim())
            .or_else(|_| Decimal::from_scientific(text.trim()))
            .map_err(|_| bad(format!("{}: {text:?} is not a number", self.name(key))))
    }

    fn done(self) -> Result<(), Refusal> {
        match self.0.keys().next() {
            Some(extra) => Err(bad(format!("orders[{}].{extra}: not a field", self.1))),
            None => Ok(()),
        }
    }
}

/// One order of the body, read and turned into the message its signature must cover.
struct SignedOrder {
    message: UserLimitOrder,
    signature: Vec<u8>,
}

fn read_order(index: usize, value: Value) -> Result<SignedOrder, Refusal> {
    let Value::Object(obj) = value else {
        return Err(bad(format!("orders[{index}]: an object is expected")));
    };
    let mut f = OrderFields(obj, index);
    let instrument = f.text("instrument_name")?;
    // \[INF\] `type` is only ever "good_til_cancelled" in the docs.
    if let Some(t) = f.take("type")
        && t != json!("good_til_cancelled")
    {
        return Err(bad(format!("{}: {t} is not supported", f.name("type"))));
    }
    // Exactly one of `amount` (legacy, notional) and `contracts` (base units); the signed `size`
    // is whichever is sent.
    let size = match (f.take("amount"), f.take("contracts")) {
        (Some(v), None) => f.decimal("amount", v)?,
        (None, Some(v)) => f.decimal("contracts", v)?,
        _ => {
            return Err(bad(format!(
                "orders[{index}]: exactly one of amount and contracts"
            )));
        }
    };
    let direction = match f.text("direction")?.as_str() {
        "buy" => 0u8,
        "sell" => 1,
        other => {
            return Err(bad(format!(
                "{}: {other:?} is not buy or sell",
                f.name("direction")
            )));
        }
    };
    let price_value = f.need("price")?;
    let price = f.decimal("price", price_value)?;
    let post_only = f.flag("post_only")?;
    let mmp = f.flag("mmp")?;
    let liquidation = f.flag("liquidation")?;
    let maker_text = f.text("maker")?;
    let maker = Address::from_str(&maker_text).map_err(|_| {
        bad(format!(
            "{}: {maker_text:?} is not an address",
            f.name("maker")
        ))
    })?;
    // v1.18: only the zero address (or null) as taker.
    match f.need("taker")? {
        Value::Null => {}
        Value::String(s) if Address::from_str(&s).is_ok_and(|a| a.is_zero()) => {}
        other => {
            return Err(bad(format!(
                "{}: {other} (only the zero address)",
                f.name("taker")
            )));
        }
    }
    let signature_text = f.text("signature")?;
    let signature = hex::decode(signature_text.trim_start_matches("0x"))
        .map_err(|_| bad(format!("{}: not hex", f.name("signature"))))?;
    let deadline = match f.need("signature_deadline")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad(format!("{}: Unix seconds", f.name("signature_deadline"))))?;
    f.done()?;
    let scaled =
        |field: &str, v: Decimal| units(field, v).map_err(|e| bad(format!("orders[{index}].{e}")));
    Ok(SignedOrder {
        message: UserLimitOrder {
            deadline: U256::from(deadline),
            instrumentName: instrument,
            size: scaled("size", size)?,
            price: scaled("price", price)?,
            taker: Address::ZERO,
            maker,
            direction,
            isLiquidation: liquidation,
            isPostOnly: post_only,
            mmp,
        },
        signature,
    })
}

async fn limit(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: String) -> Response {
    match place(&shared, &headers, &body) {
        Ok(v) => Json(v).into_response(),
        Err(r) => r.into_response(),
    }
}

fn place(shared: &Shared, headers: &HeaderMap, body: &str) -> Result<Value, Refusal> {
    let key = headers.get("x-apikey").and_then(|v| v.to_str().ok());
    if key != Some(shared.config.api_key.as_str()) {
        return Err(refuse(
            StatusCode::UNAUTHORIZED,
            "UNAUTHORIZED",
            "x-apikey missing or not valid",
        ));
    }
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(body) else {
        // \[D\]: a bare array of orders, each with its own signature. The \[S\] library's
        // `{orders, signature, signature_deadline}` form is not served yet.
        return Err(bad("the body must be a JSON array of orders"));
    };
    if items.is_empty() {
        return Err(bad("an empty array of orders"));
    }
    let orders = items
        .into_iter()
        .enumerate()
        .map(|(i, v)| read_order(i, v))
        .collect::<Result<Vec<_>, _>>()?;
    let d = domain(shared.config.chain_id, shared.config.verifying_contract);
    let now = shared.clock.now().as_secs();
    let mut state = shared
        .state
        .lock()
        .map_err(|_| refuse(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL", "state lock"))?;
    // Every order is checked before any is recorded: a refused request leaves nothing behind.
    let mut deadlines: HashMap<Address, u64> = HashMap::new();
    for (i, o) in orders.iter().enumerate() {
        let m = &o.message;
        let maker = m.maker;
        let digest = TypedMessage::LimitOrder(m.clone()).signing_hash(&d);
        // \[INF\] the code for a signature that is not the maker's: not in \[S\]'s list.
        if recover(digest, &o.signature).ok() != Some(maker) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                "INVALID_SIGNATURE",
                format!("orders[{i}]: the signature is not the maker's"),
            ));
        }
        let deadline = u64::try_from(m.deadline).unwrap_or(u64::MAX);
        let last = deadlines
            .get(&maker)
            .or_else(|| state.last_deadline.get(&maker))
            .copied()
            .unwrap_or(0);
        let min = now.max(last.saturating_add(1));
        let max = now.saturating_add(MAX_DEADLINE_AHEAD_SECS);
        if deadline < min || deadline > max {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                json!({
                    "error": "SIGNATURE_DEADLINE_INVALID",
                    "message": format!("orders[{i}]: signature_deadline {deadline} is outside [{min}, {max}]"),
                    "serverTime": now,
                    "minTimestamp": min,
                    "maxTimestamp": max,
                    "givenTimestamp": deadline,
                }),
            ));
        }
        deadlines.insert(maker, deadline);
    }
    state.last_deadline.extend(deadlines);
    let mut posted = Vec::with_capacity(orders.len());
    for o in orders {
        let m = o.message;
        let order_id = format!("{:032x}", state.orders.len() as u128 + 1);
        posted.push(json!({
            "order_id": order_id,
            "instrument_name": m.instrumentName,
            "direction": if m.direction == 0 { "buy" } else { "sell" },
        }));
        state.orders.push(RestingOrder {
            order_id,
            maker: m.maker,
            instrument: m.instrumentName,
            direction: m.direction,
            size: m.size,
            price: m.price,
        });
    }
    Ok(json!({"posted": posted, "rejected": []}))
}
