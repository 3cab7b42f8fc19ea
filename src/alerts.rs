//! Alerts to a phone: a webhook fired when the bot halts, goes reduce-only or is killed, when a
//! loss limit trips, when reconciliation finds a position it cannot explain, when the venue stays
//! disconnected, and when a run ends with orders left open.
//!
//! It watches the engine's published [`Status`] (so it never blocks the engine: a slow or dead
//! webhook delays only its own task), turns changes into [`Alert`]s, holds back a repeat of the
//! same kind within `repeat_after_secs`, and posts each in the body the receiver expects:
//! generic JSON, Slack (`text`), Discord (`content`) or Telegram (`chat_id`, `text`). The URL can
//! carry a secret (Slack's and Telegram's do), so it comes from the environment or a key file.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::SecretSource;
use crate::engine::{RunSummary, Status};
use crate::model::{Timestamp, TradingState};

/// `[alerts]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// Where alerts go: `{ env = "PERPBOT_WEBHOOK_URL" }` or `{ file = "webhook.url" }`.
    pub webhook_url: SecretSource,
    /// The body's shape.
    #[serde(default)]
    pub format: AlertFormat,
    /// Telegram's chat id (with `format = "telegram"`).
    #[serde(default)]
    pub telegram_chat_id: Option<String>,
    /// Alert when the venue's stream has been down this long (s).
    #[serde(default = "default_disconnect")]
    pub disconnect_after_secs: u64,
    /// Hold back an alert of the same kind for this long after one was sent (s).
    #[serde(default = "default_repeat")]
    pub repeat_after_secs: u64,
}

fn default_disconnect() -> u64 {
    60
}

fn default_repeat() -> u64 {
    300
}

impl AlertsConfig {
    /// Check the settings; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        if self.format == AlertFormat::Telegram && self.telegram_chat_id.is_none() {
            return Err("alerts.telegram_chat_id is required with format = \"telegram\"".into());
        }
        if self.disconnect_after_secs == 0 {
            return Err("alerts.disconnect_after_secs must be at least 1".into());
        }
        Ok(())
    }
}

/// The shape of a webhook's body.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertFormat {
    /// `{"kind", "severity", "message", "strategy", "ts_ms"}`.
    #[default]
    Json,
    /// Slack incoming webhook: `{"text"}`.
    Slack,
    /// Discord webhook: `{"content"}`.
    Discord,
    /// Telegram `sendMessage`: `{"chat_id", "text"}`.
    Telegram,
}

/// What an alert is about (one rate limit per kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Trading halted (kill switch, a loss limit, a strategy failure).
    Halted,
    /// Trading went reduce-only.
    ReduceOnly,
    /// A loss or drawdown limit tripped.
    LossLimit,
    /// Reconciliation found a position difference nothing explains.
    ReconciliationMismatch,
    /// The venue's stream has been down too long.
    Disconnected,
    /// The run ended with orders not confirmed cancelled.
    UncleanShutdown,
}

/// One alert.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    /// What it is about.
    pub kind: AlertKind,
    /// `critical` or `warning`.
    pub severity: &'static str,
    /// A sentence for a person.
    pub message: String,
    /// The strategy.
    pub strategy: String,
    /// When (engine time, ms since the epoch).
    pub ts_ms: u64,
}

/// Turns a sequence of statuses into alerts, holding back repeats.
#[derive(Debug)]
pub struct Detector {
    disconnect_after: Duration,
    repeat_after: Duration,
    last_state: TradingState,
    last_unexplained: u64,
    disconnect_alerted: Option<Timestamp>,
    sent: std::collections::BTreeMap<AlertKind, Timestamp>,
}

impl Detector {
    /// A detector with the config's thresholds.
    pub fn new(config: &AlertsConfig) -> Detector {
        Detector {
            disconnect_after: Duration::from_secs(config.disconnect_after_secs),
            repeat_after: Duration::from_secs(config.repeat_after_secs),
            last_state: TradingState::Active,
            last_unexplained: 0,
            disconnect_alerted: None,
            sent: std::collections::BTreeMap::new(),
        }
    }

    /// The alerts a new status calls for.
    pub fn observe(&mut self, s: &Status) -> Vec<Alert> {
        let mut out = Vec::new();
        let alert = |kind, severity, message: String| Alert {
            kind,
            severity,
            message,
            strategy: s.strategy.clone(),
            ts_ms: s.ts.0 / 1_000_000,
        };
        if s.trading_state != self.last_state {
            let reason = s.trading_reason.clone().unwrap_or_default();
            let loss = reason.contains("loss") || reason.contains("drawdown");
            match s.trading_state {
                TradingState::Halted => out.push(alert(
                    AlertKind::Halted,
                    "critical",
                    format!("perpbot HALTED: {reason}. Every order is being cancelled."),
                )),
                TradingState::ReduceOnly => out.push(alert(
                    AlertKind::ReduceOnly,
                    "warning",
                    format!("perpbot is reduce-only: {reason}"),
                )),
                TradingState::Active => {}
            }
            if loss && s.trading_state != TradingState::Active {
                out.push(alert(
                    AlertKind::LossLimit,
                    "critical",
                    format!(
                        "loss limit: {reason} (window PnL {}, drawdown {})",
                        s.limits.window_pnl.round_dp(4),
                        s.limits.drawdown.round_dp(4)
                    ),
                ));
            }
            self.last_state = s.trading_state;
        }
        if s.unexplained_mismatches > self.last_unexplained {
            out.push(alert(
                AlertKind::ReconciliationMismatch,
                "critical",
                "reconciliation found a position difference nothing explains; trading is reduce-only"
                    .into(),
            ));
            self.last_unexplained = s.unexplained_mismatches;
        }
        match s.disconnected_since {
            Some(since)
                if s.ts.since(since) >= self.disconnect_after
                    && self.disconnect_alerted != Some(since) =>
            {
                self.disconnect_alerted = Some(since);
                out.push(alert(
                    AlertKind::Disconnected,
                    "warning",
                    format!(
                        "the venue's stream has been down for {} s",
                        s.ts.since(since).as_secs()
                    ),
                ));
            }
            _ => {}
        }
        out.retain(|a| self.allow(a.kind, s.ts));
        out
    }

    /// False for a repeat of `kind` within the hold-back time.
    fn allow(&mut self, kind: AlertKind, now: Timestamp) -> bool {
        if let Some(at) = self.sent.get(&kind)
            && now.since(*at) < self.repeat_after
        {
            return false;
        }
        self.sent.insert(kind, now);
        true
    }
}

/// The alert for a run that ended with orders left open (or a cut-short wait).
pub fn shutdown_alert(summary: &RunSummary, now: Timestamp) -> Option<Alert> {
    if summary.clean() && !summary.shutdown_interrupted {
        return None;
    }
    Some(Alert {
        kind: AlertKind::UncleanShutdown,
        severity: "critical",
        message: format!(
            "perpbot stopped with {} orders not confirmed cancelled: check the venue",
            summary.left_open.len()
        ),
        strategy: summary.strategy.clone(),
        ts_ms: now.0 / 1_000_000,
    })
}

/// The webhook body for `alert` in `format`.
pub fn body(alert: &Alert, format: AlertFormat, chat_id: Option<&str>) -> serde_json::Value {
    let text = format!("[{}] {}", alert.severity.to_uppercase(), alert.message);
    match format {
        AlertFormat::Json => serde_json::to_value(alert).unwrap_or_default(),
        AlertFormat::Slack => serde_json::json!({ "text": text }),
        AlertFormat::Discord => serde_json::json!({ "content": text }),
        AlertFormat::Telegram => serde_json::json!({ "chat_id": chat_id, "text": text }),
    }
}

/// A running alerter: hand it alerts without waiting ([`Alerts::send`]).
#[derive(Clone)]
pub struct Alerts {
    tx: mpsc::Sender<Alert>,
}

impl Alerts {
    /// Queue an alert; a full queue drops it (logged), never blocks.
    pub fn send(&self, alert: Alert) {
        if self.tx.try_send(alert).is_err() {
            warn!("alert queue full or closed; alert dropped");
        }
    }
}

/// Start the alerter: a task that watches `status` and posts alerts to `url`. Returns a handle
/// for alerts raised outside the status (the unclean shutdown) and the task, which ends when the
/// handle and the status channel are gone, after sending what is queued.
pub fn start(
    config: &AlertsConfig,
    url: crate::config::Secret,
    mut status: watch::Receiver<Arc<Status>>,
) -> (Alerts, tokio::task::JoinHandle<()>) {
    crate::aptos::node::ensure_crypto_provider();
    let (tx, mut rx) = mpsc::channel::<Alert>(64);
    let mut detector = Detector::new(config);
    let format = config.format;
    let chat_id = config.telegram_chat_id.clone();
    let watcher_tx = tx.clone();
    tokio::spawn(async move {
        while status.changed().await.is_ok() {
            let s = status.borrow_and_update().clone();
            for alert in detector.observe(&s) {
                if watcher_tx.try_send(alert).is_err() {
                    warn!("alert queue full; alert dropped");
                }
            }
        }
    });
    let task = tokio::spawn(async move {
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
        {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "alerts disabled: no HTTP client");
                return;
            }
        };
        while let Some(alert) = rx.recv().await {
            let payload = body(&alert, format, chat_id.as_deref());
            match client.post(url.expose()).json(&payload).send().await {
                Ok(r) if r.status().is_success() => {
                    info!(kind = ?alert.kind, "alert sent")
                }
                Ok(r) => {
                    warn!(kind = ?alert.kind, status = %r.status(), "alert refused by the webhook")
                }
                // The URL may hold a token: log the error's kind, not the URL.
                Err(e) => warn!(kind = ?alert.kind, error = %e.without_url(), "alert not sent"),
            }
        }
    });
    (Alerts { tx }, task)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn config() -> AlertsConfig {
        AlertsConfig {
            webhook_url: SecretSource::default(),
            format: AlertFormat::Json,
            telegram_chat_id: None,
            disconnect_after_secs: 30,
            repeat_after_secs: 300,
        }
    }

    /// The sample status at `secs` past its time, active, with a loss window over its limit.
    fn status(secs: u64) -> Status {
        let mut s = crate::status_fixture::status();
        s.strategy = "mm".into();
        s.ts = Timestamp::from_secs(1_750_000_000 + secs);
        s.limits.window_pnl = Decimal::from(-51);
        s.limits.drawdown = Decimal::from(51);
        s.limits.max_loss = Some(Decimal::from(50));
        s.limits.loss_headroom = Some(Decimal::from(-1));
        s
    }

    #[test]
    fn a_loss_limit_halt_raises_halt_and_loss_alerts_once() {
        let mut d = Detector::new(&config());
        assert!(
            d.observe(&status(0)).is_empty(),
            "nothing to say while active"
        );
        let mut halted = status(1);
        halted.trading_state = TradingState::Halted;
        halted.trading_reason = Some("max_loss: net PnL -51 below -50".into());
        let kinds: Vec<AlertKind> = d.observe(&halted).iter().map(|a| a.kind).collect();
        assert_eq!(kinds, vec![AlertKind::Halted, AlertKind::LossLimit]);
        halted.ts = Timestamp::from_secs(1_750_000_002);
        assert!(d.observe(&halted).is_empty(), "the same state is not news");
    }

    #[test]
    fn a_long_disconnect_alerts_once_per_outage_and_repeats_are_held_back() {
        let mut d = Detector::new(&config());
        let mut s = status(10);
        s.disconnected_since = Some(Timestamp::from_secs(1_750_000_000));
        assert!(d.observe(&s).is_empty(), "10 s < 30 s");
        s.ts = Timestamp::from_secs(1_750_000_031);
        assert_eq!(d.observe(&s)[0].kind, AlertKind::Disconnected);
        s.ts = Timestamp::from_secs(1_750_000_060);
        assert!(d.observe(&s).is_empty(), "once per outage");
        // A second outage within the hold-back time is held back; after it, alerted.
        s.disconnected_since = Some(Timestamp::from_secs(1_750_000_100));
        s.ts = Timestamp::from_secs(1_750_000_140);
        assert!(d.observe(&s).is_empty(), "within 300 s of the last");
        s.disconnected_since = Some(Timestamp::from_secs(1_750_000_400));
        s.ts = Timestamp::from_secs(1_750_000_440);
        assert_eq!(d.observe(&s)[0].kind, AlertKind::Disconnected);
    }

    #[test]
    fn each_format_has_the_receivers_shape() {
        let a = Alert {
            kind: AlertKind::Halted,
            severity: "critical",
            message: "perpbot HALTED: kill".into(),
            strategy: "mm".into(),
            ts_ms: 1,
        };
        assert_eq!(body(&a, AlertFormat::Json, None)["kind"], "halted");
        assert_eq!(
            body(&a, AlertFormat::Slack, None)["text"],
            "[CRITICAL] perpbot HALTED: kill"
        );
        assert!(body(&a, AlertFormat::Discord, None)["content"].is_string());
        let t = body(&a, AlertFormat::Telegram, Some("42"));
        assert_eq!(
            (t["chat_id"].as_str(), t["text"].is_string()),
            (Some("42"), true)
        );
        let mut c = config();
        c.format = AlertFormat::Telegram;
        assert!(c.validate().unwrap_err().contains("telegram_chat_id"));
    }
}
