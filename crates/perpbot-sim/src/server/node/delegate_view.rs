//! `POST /v1/view` for one function: the simulated package's
//! `perpetual_scripts::get_delegate(owner: address) -> (address, u64, bool)` — the owner's
//! delegate (`0x0`: none), its expiry in Unix seconds (`0`: none) and whether it may trade now.
//!
//! \[UNK\] Kana documents no way to read a wallet's delegate; this read-only view exists so
//! `perpbot delegate list` has something to ask on the simulator, and its name is perpbot's
//! assumption (the client's `DelegationFunctions`). Any other view function is answered like a
//! node answers an unknown one (400 `invalid_input`).
//!
//! The exchange exposes the delegate and whether it is in force, but not its expiry; the expiry
//! is read from the newest committed `DelegateAddedEvent` of the owner naming that delegate
//! (`0` when there is none, e.g. a delegate set through the Rust API).

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use serde_json::{Value, json};

use super::{Shared, TxnState, chain_id, error, reply};
use perpbot_aptos::AccountAddress;

/// Module and name of the one view function served.
const MODULE: &str = "perpetual_scripts";
const FUNCTION: &str = "get_delegate";

/// The route, merged into the node's.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new().route("/v1/view", post(view))
}

async fn view(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    let chain = chain_id(&shared);
    match answer(&shared, &body) {
        Ok(v) => reply(&shared, chain, StatusCode::OK, v),
        Err(message) => error(
            &shared,
            chain,
            StatusCode::BAD_REQUEST,
            "invalid_input",
            &message,
            None,
        ),
    }
}

fn answer(shared: &Shared, body: &[u8]) -> Result<Value, String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("view request is not JSON: {e}"))?;
    let function = request
        .get("function")
        .and_then(Value::as_str)
        .ok_or("view request: `function` missing")?;
    let mut parts = function.split("::");
    let (address, module, name) = match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(a), Some(m), Some(n), None) => (a, m, n),
        _ => {
            return Err(format!(
                "view function {function:?} is not address::module::name"
            ));
        }
    };
    let owner = request
        .get("arguments")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .ok_or("view request: `arguments[0]` (owner address) missing")
        .and_then(|a| AccountAddress::from_hex(a).map_err(|_| "arguments[0]: not an address"))?;
    let now = shared.clock.now();
    let core = shared.core();
    let known = AccountAddress::from_hex(address).is_ok_and(|a| a == core.package)
        && module == MODULE
        && name == FUNCTION;
    if !known {
        return Err(format!(
            "function {function} not found (the simulator serves only {MODULE}::{FUNCTION})"
        ));
    }
    let Some(delegate) = core.exchange.delegate_of(owner) else {
        return Ok(json!([AccountAddress::ZERO.to_string(), "0", false]));
    };
    let active = core.exchange.delegate_at(owner, now) == Some(delegate);
    let is = |v: Option<&Value>, want: AccountAddress| {
        v.and_then(Value::as_str)
            .and_then(|s| AccountAddress::from_hex(s).ok())
            == Some(want)
    };
    let expires = core
        .txns
        .values()
        .filter_map(|t| match t {
            TxnState::Committed {
                version,
                success: true,
                events,
                ..
            } => Some((version, events)),
            _ => None,
        })
        .flat_map(|(version, events)| events.iter().map(move |e| (*version, e)))
        .filter(|(_, e)| {
            e.get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with("::DelegateAddedEvent"))
        })
        .filter_map(|(version, e)| {
            let data = e.get("data")?;
            (is(data.get("user"), owner) && is(data.get("delegate"), delegate))
                .then(|| (version, data.get("expires_at").and_then(Value::as_str)))
        })
        .max_by_key(|(version, _)| *version)
        .and_then(|(_, expires)| expires.map(str::to_owned))
        .unwrap_or_else(|| "0".to_owned());
    Ok(json!([delegate.to_string(), expires, active]))
}
