//! Kyan's REST API over HTTP: the transport ([`KyanRest`]: `x-apikey`, timeouts, HTTP 429 with a
//! bounded `retry-after` retry for reads only, typed errors), exact JSON bodies ([`body`]) and
//! the signed endpoints ([`KyanApi`] in [`signed`]).
//!
//! A write is never resent blindly: a timeout, a transport error after the request may have left
//! or a 5xx makes it [`RestError::is_ambiguous`], and the writer then reads open orders. The one
//! exception is a `SIGNATURE_DEADLINE_INVALID` refusal (nothing took effect): it is re-signed
//! with a corrected deadline once ([`signed`]).

pub mod body;
pub mod signed;

#[cfg(test)]
mod tests;

use std::sync::Once;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tracing::{debug, warn};

use crate::config::Secret;
use crate::errors::KyanError;

pub use signed::{KyanApi, LimitOrder, MarketOrder, MmpConfig};

/// Install rustls' ring provider once (reqwest is built without a default provider).
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Why a REST call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RestError {
    /// The server answered with an error status.
    #[error("{0}")]
    Http(KyanError),
    /// No answer within the timeout: a write may have taken effect.
    #[error("timeout: {0}")]
    Timeout(String),
    /// The transport failed; `sent` when the request may have reached the server.
    #[error("transport ({}): {detail}", if *sent { "may have been sent" } else { "not sent" })]
    Transport {
        /// What failed.
        detail: String,
        /// Whether the request may have reached the server.
        sent: bool,
    },
    /// A success status with a body that is not the expected JSON.
    #[error("unreadable answer: {0}")]
    Decode(String),
    /// Refused before anything was sent (a size off the amount grid, an amount that cannot be
    /// signed).
    #[error("not sent: {0}")]
    Refused(String),
    /// Not sent because Kyan would refuse it for its rate (no signature deadline left inside
    /// the window); a later request may go.
    #[error("not sent: {0}")]
    Throttled(String),
}

impl RestError {
    /// Whether a write's outcome is unknown (it may have taken effect): resolve by reading,
    /// never by resending.
    pub fn is_ambiguous(&self) -> bool {
        match self {
            RestError::Http(e) => e.is_ambiguous(),
            RestError::Timeout(_) | RestError::Decode(_) => true,
            RestError::Transport { sent, .. } => *sent,
            RestError::Refused(_) | RestError::Throttled(_) => false,
        }
    }

    /// The Kyan error, for an HTTP error answer.
    pub fn kyan(&self) -> Option<&KyanError> {
        match self {
            RestError::Http(e) => Some(e),
            _ => None,
        }
    }
}

/// How reads retry HTTP 429.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadRetry {
    /// Retries after the first attempt.
    pub retries: u32,
    /// Longest wait honoured from `retry-after` (longer asks give up).
    pub max_wait: Duration,
    /// Wait when `retry-after` is absent.
    pub default_wait: Duration,
}

impl Default for ReadRetry {
    fn default() -> Self {
        ReadRetry {
            retries: 3,
            max_wait: Duration::from_secs(10),
            default_wait: Duration::from_secs(1),
        }
    }
}

/// The HTTP transport to Kyan's REST API.
#[derive(Clone)]
pub struct KyanRest {
    http: reqwest::Client,
    base: String,
    api_key: Option<Secret>,
    retry: ReadRetry,
}

impl std::fmt::Debug for KyanRest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KyanRest")
            .field("base", &self.base)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Query-string escaping of one value (addresses, instrument names: safe characters only, but a
/// user-supplied value is escaped all the same).
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let text = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    text.trim().parse::<u64>().ok().map(Duration::from_secs)
}

impl KyanRest {
    /// A client for `base` (`https://staging.kyan.sh`), with the API key and a per-request
    /// timeout.
    pub fn new(base: &str, api_key: Option<Secret>, timeout: Duration) -> Result<KyanRest, String> {
        ensure_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(KyanRest {
            http,
            base: base.trim_end_matches('/').to_string(),
            api_key,
            retry: ReadRetry::default(),
        })
    }

    /// Replace the read-retry policy.
    pub fn with_read_retry(mut self, retry: ReadRetry) -> KyanRest {
        self.retry = retry;
        self
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> String {
        let mut url = format!("{}{}", self.base, path);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(k);
            url.push('=');
            url.push_str(&escape(v));
        }
        url
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<&str>,
        keyed: bool,
        one_click: Option<&str>,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, String), RestError> {
        let mut req = self.http.request(method, url);
        if keyed && let Some(key) = &self.api_key {
            req = req.header("x-apikey", key.expose());
        }
        if let Some(hash) = one_click {
            req = req.header("x-one-click", hash);
        }
        if let Some(body) = body {
            req = req
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let resp = req.send().await.map_err(|e| {
            if e.is_timeout() {
                RestError::Timeout(e.to_string())
            } else {
                RestError::Transport {
                    detail: e.to_string(),
                    sent: !e.is_connect(),
                }
            }
        })?;
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.map_err(|e| {
            if e.is_timeout() {
                RestError::Timeout(e.to_string())
            } else {
                RestError::Transport {
                    detail: e.to_string(),
                    sent: true,
                }
            }
        })?;
        Ok((status, headers, text))
    }

    fn answer(status: StatusCode, text: &str) -> Result<Value, RestError> {
        if !status.is_success() {
            return Err(RestError::Http(KyanError::parse(status.as_u16(), text)));
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(text).map_err(|e| {
            RestError::Decode(format!(
                "{e}: {}",
                text.chars().take(200).collect::<String>()
            ))
        })
    }

    /// A read. HTTP 429 is retried up to `retries` times after `retry-after` (bounded); other
    /// errors are returned.
    pub async fn get(
        &self,
        path: &str,
        query: &[(&str, &str)],
        keyed: bool,
    ) -> Result<Value, RestError> {
        let url = self.url(path, query);
        let mut attempt = 0;
        loop {
            let (status, headers, text) = self.send(Method::GET, &url, None, keyed, None).await?;
            if status == StatusCode::TOO_MANY_REQUESTS && attempt < self.retry.retries {
                let wait = retry_after(&headers).unwrap_or(self.retry.default_wait);
                if wait <= self.retry.max_wait {
                    attempt += 1;
                    debug!(
                        path,
                        ?wait,
                        attempt,
                        "Kyan rate limit on a read: waiting as told"
                    );
                    tokio::time::sleep(wait).await;
                    continue;
                }
                warn!(
                    path,
                    ?wait,
                    "Kyan asks to wait longer than the read-retry bound"
                );
            }
            return Self::answer(status, &text);
        }
    }

    /// A write: sent once, never retried here.
    pub async fn write(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
        one_click: Option<&str>,
    ) -> Result<Value, RestError> {
        let url = self.url(path, &[]);
        let (status, _, text) = self.send(method, &url, body, true, one_click).await?;
        Self::answer(status, &text)
    }

    /// `GET /api/v1/exchange_info` (no key).
    pub async fn exchange_info(&self) -> Result<Value, RestError> {
        self.get("/api/v1/exchange_info", &[], false).await
    }

    /// `GET /orders?maker=…[&instrument_name=…]`.
    pub async fn orders(&self, maker: &str, instrument: Option<&str>) -> Result<Value, RestError> {
        let mut q = vec![("maker", maker)];
        if let Some(i) = instrument {
            q.push(("instrument_name", i));
        }
        self.get("/orders", &q, true).await
    }

    /// `GET /account_state/{address}`.
    pub async fn account_state(&self, address: &str) -> Result<Value, RestError> {
        self.get(&format!("/account_state/{}", escape(address)), &[], true)
            .await
    }

    /// `GET /positions/{address}`.
    pub async fn positions(&self, address: &str) -> Result<Value, RestError> {
        self.get(&format!("/positions/{}", escape(address)), &[], true)
            .await
    }

    /// `GET /v2/account_history?address=…&event_types=trade&sort=desc&limit=…` (\[D\]
    /// changelog 1.15): the newest own trades, for a resync to read back fills its streams
    /// lost.
    pub async fn trade_history(&self, address: &str, limit: u32) -> Result<Value, RestError> {
        let limit = limit.to_string();
        self.get(
            "/v2/account_history",
            &[
                ("address", address),
                ("event_types", "trade"),
                ("sort", "desc"),
                ("limit", limit.as_str()),
            ],
            true,
        )
        .await
    }

    /// `GET /instruments?market=…`.
    pub async fn instruments(&self, market: &str) -> Result<Value, RestError> {
        self.get("/instruments", &[("market", market)], true).await
    }

    /// `GET /index_price?pair=…`.
    pub async fn index_price(&self, pair: &str) -> Result<Value, RestError> {
        self.get("/index_price", &[("pair", pair)], true).await
    }

    /// `GET /order_book?instrument_name=…`.
    pub async fn order_book(&self, instrument: &str) -> Result<Value, RestError> {
        self.get("/order_book", &[("instrument_name", instrument)], true)
            .await
    }

    /// `GET {path}?smart_account_address=…&pair_symbol=…` (the MMP config; path per config).
    pub async fn mmp_config(
        &self,
        path: &str,
        smart_account: &str,
        pair: &str,
    ) -> Result<Value, RestError> {
        self.get(
            path,
            &[
                ("smart_account_address", smart_account),
                ("pair_symbol", pair),
            ],
            true,
        )
        .await
    }
}
