//! A running bot's HTTP face: `GET /metrics` (Prometheus text), `GET /status` (JSON), and
//! `POST /control/kill` and `POST /control/pause` for an operator holding the token.
//!
//! It binds to loopback unless told otherwise. Reads need no token (they show no secret and
//! Prometheus scrapes without one); the two controls need `Authorization: Bearer <token>`, the
//! token from the environment or a key file (`[control] token`), never from the config itself.
//! Without a token configured the controls answer 403.
//!
//! Metrics are rendered by `metrics-exporter-prometheus` from a recorder of this server's own
//! (not the process's global one), filled from the engine's latest [`Status`] at each scrape.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::Secret;
use crate::engine::{Control, Status};
use crate::model::TradingState;

/// `[control]`: where the status, metrics and control endpoint listens.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlConfig {
    /// Address to listen on (`127.0.0.1:9187`); absent = no endpoint (unless `--metrics`).
    pub listen: Option<SocketAddr>,
    /// Where the control token comes from (`{ env = "PERPBOT_CONTROL_TOKEN" }` or
    /// `{ file = "control.token" }`); absent = kill and pause only through the kill file and
    /// signals.
    #[serde(default)]
    pub token: Option<crate::config::SecretSource>,
}

impl ControlConfig {
    /// Check the settings; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(addr) = self.listen
            && !addr.ip().is_loopback()
            && self.token.is_none()
        {
            return Err(format!(
                "control.listen = {addr} is not loopback: set control.token so the controls are not open to the network"
            ));
        }
        Ok(())
    }
}

struct Shared {
    status: watch::Receiver<Arc<Status>>,
    control: mpsc::Sender<Control>,
    token: Option<Secret>,
    recorder: PrometheusRecorder,
    latencies: Arc<Mutex<Vec<f64>>>,
}

/// The routes, for a server or a test.
fn routes(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/status", get(status))
        .route("/control/kill", post(kill))
        .route("/control/pause", post(pause))
        .with_state(shared)
}

/// Serve on `addr` until the process ends; returns the address bound (port 0 picks one).
pub async fn serve(
    addr: SocketAddr,
    status: watch::Receiver<Arc<Status>>,
    control: mpsc::Sender<Control>,
    token: Option<Secret>,
    latencies: Arc<Mutex<Vec<f64>>>,
) -> std::io::Result<SocketAddr> {
    let shared = Arc::new(Shared {
        status,
        control,
        token,
        recorder: recorder(),
        latencies,
    });
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    info!(addr = %bound, "status, metrics and control endpoint listening");
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, routes(shared)).await {
            warn!(error = %e, "control endpoint stopped");
        }
    });
    Ok(bound)
}

/// The recorder: request latency as a histogram with buckets from 10 ms to 60 s (a Kana
/// request waits for its transaction to commit).
fn recorder() -> PrometheusRecorder {
    const BUCKETS: &[f64] = &[
        0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ];
    match PrometheusBuilder::new().set_buckets_for_metric(
        metrics_exporter_prometheus::Matcher::Full("perpbot_request_latency_seconds".into()),
        BUCKETS,
    ) {
        Ok(builder) => builder.build_recorder(),
        Err(e) => {
            warn!(error = %e, "latency buckets refused; latency is a summary");
            PrometheusBuilder::new().build_recorder()
        }
    }
}

async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status.borrow().clone();
    axum::Json(&*status).into_response()
}

fn f(d: rust_decimal::Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

async fn metrics(State(shared): State<Arc<Shared>>) -> Response {
    let status = shared.status.borrow().clone();
    let latencies = shared
        .latencies
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    metrics::with_local_recorder(&shared.recorder, || record(&status, &latencies));
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        shared.recorder.handle().render(),
    )
        .into_response()
}

/// Write one status into the recorder (Prometheus names: `perpbot_` prefix, units in the name,
/// `_total` on counters).
fn record(s: &Status, latencies: &[f64]) {
    use metrics::{counter, gauge, histogram};
    let c = &s.counts;
    counter!("perpbot_fills_total").absolute(c.fills);
    counter!("perpbot_maker_fills_total").absolute(c.maker_fills);
    counter!("perpbot_requests_total").absolute(c.requests_sent);
    counter!("perpbot_orders_sent_total").absolute(c.orders_sent);
    counter!("perpbot_venue_rejections_total").absolute(c.venue_rejections);
    counter!("perpbot_risk_rejections_total").absolute(c.risk_rejections);
    counter!("perpbot_strategy_errors_total").absolute(c.strategy_errors);
    counter!("perpbot_fills_attributed_total").absolute(c.attributed_fills);
    counter!("perpbot_fills_unattributed_total").absolute(c.unattributed_fills);
    let p = &s.pnl;
    gauge!("perpbot_pnl_net_quote").set(f(p.net));
    gauge!("perpbot_pnl_before_gas_quote").set(f(p.before_gas));
    gauge!("perpbot_pnl_spread_capture_quote").set(f(p.spread_capture));
    gauge!("perpbot_pnl_inventory_quote").set(f(p.inventory));
    gauge!("perpbot_fees_paid_quote").set(f(p.fees));
    gauge!("perpbot_gas_paid_quote").set(f(p.gas));
    gauge!("perpbot_funding_quote").set(f(p.funding));
    gauge!("perpbot_loss_window_pnl_quote").set(f(s.limits.window_pnl));
    gauge!("perpbot_loss_window_drawdown_quote").set(f(s.limits.drawdown));
    let state = match s.trading_state {
        TradingState::Active => 0.0,
        TradingState::ReduceOnly => 1.0,
        TradingState::Halted => 2.0,
    };
    gauge!("perpbot_trading_state").set(state);
    for (kind, n) in &s.venue_rejections_by_kind {
        counter!("perpbot_venue_rejections_by_kind_total", "kind" => kind.clone()).absolute(*n);
    }
    for (check, n) in &s.risk_rejections_by_check {
        counter!("perpbot_risk_rejections_by_check_total", "check" => check.clone()).absolute(*n);
    }
    if let Some(stream) = &s.stream {
        counter!("perpbot_stream_frames_total").absolute(stream.frames);
        counter!("perpbot_stream_decode_skips_total").absolute(stream.decode_skips);
        counter!("perpbot_stream_reconnects_total").absolute(stream.reconnects);
        counter!("perpbot_stream_resyncs_total").absolute(stream.resyncs);
    }
    if let Some(j) = &s.journal {
        counter!("perpbot_journal_records_total").absolute(j.records);
        counter!("perpbot_journal_fsyncs_total").absolute(j.fsyncs);
        counter!("perpbot_journal_write_errors_total").absolute(j.write_errors);
    }
    for m in &s.markets {
        let labels = [("market", m.name.clone())];
        gauge!("perpbot_volume_coins", &labels).set(f(m.volume));
        gauge!("perpbot_position_coins", &labels).set(f(m.position));
        gauge!("perpbot_position_notional_quote", &labels).set(f(m.notional));
        gauge!("perpbot_open_orders", &labels).set(m.orders.len() as f64);
        if let Some(mid) = m.mid {
            gauge!("perpbot_mid_price_quote", &labels).set(f(mid));
        }
    }
    for &l in latencies {
        histogram!("perpbot_request_latency_seconds").record(l);
    }
}

/// The bearer token the request carries matches the configured one (compared without an early
/// exit, so the answer's timing does not tell how much of it matched).
fn authorized(shared: &Shared, headers: &HeaderMap) -> Result<(), (StatusCode, &'static str)> {
    let Some(token) = &shared.token else {
        return Err((
            StatusCode::FORBIDDEN,
            "no control token is configured ([control] token)",
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    let want = token.expose().as_bytes();
    let given = given.as_bytes();
    let differ = want.len() != given.len()
        || want
            .iter()
            .zip(given)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0;
    if differ {
        return Err((StatusCode::UNAUTHORIZED, "bad or missing bearer token"));
    }
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
struct Reason {
    #[serde(default)]
    reason: Option<String>,
}

async fn send(shared: &Shared, command: Control, what: &str) -> Response {
    match shared.control.send(command).await {
        Ok(()) => (StatusCode::OK, format!("{what}\n")).into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "the engine has stopped\n").into_response(),
    }
}

async fn kill(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<axum::Json<Reason>>,
) -> Response {
    if let Err(e) = authorized(&shared, &headers) {
        return e.into_response();
    }
    let reason = body
        .and_then(|b| b.0.reason)
        .unwrap_or_else(|| "control endpoint".into());
    warn!(%reason, "kill switch pulled through the control endpoint");
    send(
        &shared,
        Control::Kill(reason),
        "kill switch pulled: cancelling everything and halting",
    )
    .await
}

async fn pause(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Option<axum::Json<Reason>>,
) -> Response {
    if let Err(e) = authorized(&shared, &headers) {
        return e.into_response();
    }
    let reason = body
        .and_then(|b| b.0.reason)
        .unwrap_or_else(|| "paused through the control endpoint".into());
    send(
        &shared,
        Control::ReduceOnly(reason),
        "paused: reduce-only, opening orders cancelled",
    )
    .await
}
