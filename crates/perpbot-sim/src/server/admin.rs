//! The simulator's admin routes: read and change fault injection while it runs, so a chaos test
//! (or a person with `curl`) can switch faults on and off around the moment that matters,
//! without restarting the exchange.
//!
//! Not part of Kana's API. Same server and port as the REST API, same `x-api-key`.
//!
//! | request | answer |
//! |---|---|
//! | `GET /admin/faults` | 200, the [`FaultConfig`] in force as JSON (every key) |
//! | `POST /admin/faults` with a JSON object | the given keys **merged** into the faults in force, validated, applied at once; 200 with the whole new config |
//! | `GET /admin/faults/injected` | 200, a [`FaultTally`](super::FaultTally): faults injected so far, by kind |
//!
//! Errors are `{"error": "<message>"}`: 401 for a missing or wrong key, 400 for a body that is
//! not a JSON object, an unknown key (named), a value of the wrong type or out of range (named,
//! as `faults.<key>`). A refused change changes nothing.
//!
//! ```text
//! curl -s -H 'x-api-key: sim' localhost:8787/admin/faults
//! curl -s -H 'x-api-key: sim' -H 'content-type: application/json' \
//!      -d '{"rest_429_probability": 0.2, "retry_after_secs": 3}' localhost:8787/admin/faults
//! curl -s -H 'x-api-key: sim' -d '{"ws_stall_probability": 0}' localhost:8787/admin/faults
//! ```
//!
//! A change takes effect at the next fault draw; it ends a WebSocket stall in progress; a new
//! `seed` restarts the fault stream.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use super::{FaultConfig, Shared};

/// The admin routes.
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/admin/faults", get(read).post(change))
        .route("/admin/faults/injected", get(injected))
}

fn refuse(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// The 401 to send unless the request carries the simulator's API key.
fn unauthorised(shared: &Shared, headers: &HeaderMap) -> Option<Response> {
    let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
    (key != Some(shared.core().config.api_key.as_str())).then(|| {
        refuse(
            StatusCode::UNAUTHORIZED,
            "Unauthorized: missing or invalid x-api-key",
        )
    })
}

fn config_json(faults: &FaultConfig) -> Response {
    match serde_json::to_value(faults) {
        Ok(v) => (StatusCode::OK, axum::Json(v)).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn read(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorised(&shared, &headers) {
        return r;
    }
    config_json(&shared.faults())
}

async fn injected(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Some(r) = unauthorised(&shared, &headers) {
        return r;
    }
    (StatusCode::OK, axum::Json(shared.injected())).into_response()
}

/// The faults in force with the keys of `patch` replaced.
pub fn merge(current: &FaultConfig, patch: &[u8]) -> Result<FaultConfig, String> {
    let patch: Value =
        serde_json::from_slice(patch).map_err(|e| format!("body is not JSON: {e}"))?;
    let Value::Object(patch) = patch else {
        return Err("body must be a JSON object of FaultConfig keys".into());
    };
    let mut merged = match serde_json::to_value(current) {
        Ok(Value::Object(m)) => m,
        Ok(_) | Err(_) => return Err("cannot read the faults in force".into()),
    };
    for (key, value) in patch {
        if !merged.contains_key(&key) {
            return Err(format!("faults.{key}: unknown key"));
        }
        merged.insert(key, value);
    }
    serde_json::from_value(Value::Object(merged)).map_err(|e| format!("faults: {e}"))
}

async fn change(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(r) = unauthorised(&shared, &headers) {
        return r;
    }
    let merged = match merge(&shared.faults(), &body) {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
    };
    if let Err(e) = shared.set_faults(merged.clone()) {
        return refuse(StatusCode::BAD_REQUEST, e);
    }
    config_json(&merged)
}
