//! Fault injection: the seeded fault stream and its tally, the REST middleware (429 with
//! `retry-after`, 503 before or after applying, stalls) and the admin routes
//! (`GET`/`POST /admin/faults`, `GET /admin/faults/injected`, with the API key), mirroring the
//! Kana simulator's.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use super::Shared;
use super::auth::check_key;
use super::config::{KyanFaultTally, KyanFaults};

/// The faults in force, their random stream and what they injected.
pub struct FaultState {
    /// The switches.
    pub cfg: KyanFaults,
    rng: ChaCha8Rng,
    /// Injected so far.
    pub tally: KyanFaultTally,
}

impl FaultState {
    /// A state seeded from `cfg.seed`.
    pub fn new(cfg: KyanFaults) -> FaultState {
        FaultState {
            rng: ChaCha8Rng::seed_from_u64(cfg.seed),
            cfg,
            tally: KyanFaultTally::default(),
        }
    }

    /// One draw against `p`; a probability of 0 draws nothing.
    pub fn draw(&mut self, p: f64) -> bool {
        p > 0.0 && self.rng.random::<f64>() < p
    }

    /// Replace the switches (a new seed restarts the stream).
    pub fn set(&mut self, cfg: KyanFaults) {
        if cfg.seed != self.cfg.seed {
            self.rng = ChaCha8Rng::seed_from_u64(cfg.seed);
        }
        self.cfg = cfg;
    }
}

/// What the REST middleware does to one call.
enum RestFault {
    None,
    TooMany(u64),
    Unavailable { after: bool },
    Stall(u64),
}

/// REST faults around every call but the admin routes.
pub async fn rest_faults(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let path = req.uri().path();
    // REST faults only: the admin routes and the WebSocket upgrades are left alone (their own
    // faults act on frames).
    if path.starts_with("/admin") || path == "/ws" || path.starts_with("/stream") {
        return next.run(req).await;
    }
    let fault = match shared.faults.lock() {
        Ok(mut f) => {
            let c = f.cfg.clone();
            if f.draw(c.rest_429_probability) {
                f.tally.rest_429 += 1;
                RestFault::TooMany(c.retry_after_secs)
            } else if f.draw(c.rest_5xx_probability) {
                let after = f.draw(0.5);
                if after {
                    f.tally.rest_5xx_applied += 1;
                } else {
                    f.tally.rest_5xx_unapplied += 1;
                }
                RestFault::Unavailable { after }
            } else if f.draw(c.rest_timeout_probability) {
                f.tally.rest_timeouts += 1;
                RestFault::Stall(c.rest_stall_ms)
            } else {
                RestFault::None
            }
        }
        Err(_) => RestFault::None,
    };
    let unavailable = || {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"error": "SERVICE_UNAVAILABLE", "message": "injected fault"})),
        )
            .into_response()
    };
    match fault {
        RestFault::None => next.run(req).await,
        RestFault::TooMany(secs) => {
            let mut r = (
                StatusCode::TOO_MANY_REQUESTS,
                axum::Json(json!({"error": "RATE_LIMIT_EXCEEDED", "message": "injected fault"})),
            )
                .into_response();
            if let Ok(v) = secs.to_string().parse() {
                r.headers_mut().insert("retry-after", v);
            }
            r
        }
        RestFault::Unavailable { after: true } => {
            // The request is applied, the answer lost: the ambiguous case.
            let _ = next.run(req).await;
            unavailable()
        }
        RestFault::Unavailable { after: false } => unavailable(),
        RestFault::Stall(ms) => {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            unavailable()
        }
    }
}

/// The admin routes.
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
        .route("/admin/faults", axum::routing::get(read).post(change))
        .route("/admin/faults/injected", axum::routing::get(injected))
}

async fn read(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_key(&headers, &shared.api_key) {
        return r.into_response();
    }
    axum::Json(shared.faults()).into_response()
}

async fn injected(State(shared): State<Arc<Shared>>, headers: HeaderMap) -> Response {
    if let Err(r) = check_key(&headers, &shared.api_key) {
        return r.into_response();
    }
    axum::Json(shared.injected()).into_response()
}

/// Merge the given keys into the faults in force, validate, apply.
async fn change(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = check_key(&headers, &shared.api_key) {
        return r.into_response();
    }
    let bad =
        |m: String| (StatusCode::BAD_REQUEST, axum::Json(json!({"error": m}))).into_response();
    let Ok(bytes) = axum::body::to_bytes(body, 1 << 16).await else {
        return bad("the body could not be read".into());
    };
    let Ok(Value::Object(patch)) = serde_json::from_slice::<Value>(&bytes) else {
        return bad("the body must be a JSON object".into());
    };
    let mut current = match serde_json::to_value(shared.faults()) {
        Ok(Value::Object(m)) => m,
        _ => return bad("internal: faults not serialisable".into()),
    };
    for (k, v) in patch {
        if !current.contains_key(&k) {
            return bad(format!("faults.{k}: not a key"));
        }
        current.insert(k, v);
    }
    let cfg: KyanFaults = match serde_json::from_value(Value::Object(current)) {
        Ok(c) => c,
        Err(e) => return bad(format!("faults: {e}")),
    };
    match shared.set_faults(cfg.clone()) {
        Ok(()) => axum::Json(cfg).into_response(),
        Err(e) => bad(e),
    }
}
