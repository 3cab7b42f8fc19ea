//! Test helpers: a scripted HTTP mock of Kyan's REST API on 127.0.0.1 (axum), and a signed API
//! client pointed at it.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;

use perpbot_model::clock::Clock;

use crate::config::{Secret, SizeField};
use crate::rest::{KyanApi, KyanRest};
use crate::signing::{KyanSigner, TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT, domain};

/// A well-known test key (never funded anywhere).
pub const KEY: &str = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318";

/// One request the mock saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

type Reply = (u16, Vec<(String, String)>, String);

/// Keys whose next answer waits this long first (a stalled server).
type Delays = Arc<Mutex<HashMap<String, VecDeque<Duration>>>>;

/// The mock server.
#[derive(Clone, Default)]
pub struct Mock {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    script: Arc<Mutex<HashMap<String, VecDeque<Reply>>>>,
    defaults: Arc<Mutex<HashMap<String, Reply>>>,
    delays: Delays,
    pub url: String,
}

impl Mock {
    /// Start on 127.0.0.1:0.
    pub async fn start() -> Mock {
        let mut mock = Mock::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        mock.url = format!("http://{}", listener.local_addr().unwrap());
        let m = mock.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let m = m.clone();
                async move {
                    let key = format!("{} {}", method, uri.path());
                    m.record(&method, &uri, headers, &body);
                    let delay = m
                        .delays
                        .lock()
                        .unwrap()
                        .get_mut(&key)
                        .and_then(VecDeque::pop_front);
                    if let Some(d) = delay {
                        tokio::time::sleep(d).await;
                    }
                    m.answer(&key)
                }
            },
        );
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        mock
    }

    fn record(&self, method: &Method, uri: &Uri, headers: HeaderMap, body: &Bytes) {
        self.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: uri.path().to_string(),
            query: uri.query().unwrap_or("").to_string(),
            headers,
            body: String::from_utf8_lossy(body).to_string(),
        });
    }

    fn answer(&self, key: &str) -> axum::response::Response {
        let reply = self
            .script
            .lock()
            .unwrap()
            .get_mut(key)
            .and_then(VecDeque::pop_front)
            .or_else(|| self.defaults.lock().unwrap().get(key).cloned())
            .unwrap_or((200, vec![], "{}".to_string()));
        let (status, hdrs, body) = reply;
        let mut resp = (StatusCode::from_u16(status).unwrap(), body).into_response();
        for (k, v) in hdrs {
            resp.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                axum::http::HeaderValue::from_str(&v).unwrap(),
            );
        }
        resp.headers_mut().insert(
            "content-type",
            axum::http::HeaderValue::from_static("application/json"),
        );
        resp
    }

    /// Queue one answer for `"METHOD /path"`.
    pub fn reply(&self, key: &str, status: u16, body: &str) {
        self.reply_with(key, status, &[], body);
    }

    /// Queue one answer with headers.
    pub fn reply_with(&self, key: &str, status: u16, headers: &[(&str, &str)], body: &str) {
        self.script
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .push_back((
                status,
                headers
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
                body.to_string(),
            ));
    }

    /// The next answer to `"METHOD /path"` waits `delay` first.
    pub fn stall(&self, key: &str, delay: Duration) {
        self.delays
            .lock()
            .unwrap()
            .entry(key.to_string())
            .or_default()
            .push_back(delay);
    }

    /// The answer when nothing is queued.
    pub fn default_reply(&self, key: &str, status: u16, body: &str) {
        self.defaults
            .lock()
            .unwrap()
            .insert(key.to_string(), (status, vec![], body.to_string()));
    }

    /// Requests seen to `"METHOD /path"`.
    pub fn requests(&self, key: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| format!("{} {}", s.method, s.path) == key)
            .cloned()
            .collect()
    }
}

/// A signed API client for the mock.
pub fn api(url: &str) -> Arc<KyanApi> {
    let rest = KyanRest::new(
        url,
        Some(Secret::new("test_key".into())),
        Duration::from_millis(1_000),
    )
    .unwrap();
    Arc::new(KyanApi::new(
        rest,
        Arc::new(KyanSigner::from_hex(KEY).unwrap()),
        domain(TESTNET_CHAIN_ID, TESTNET_VERIFYING_CONTRACT),
        20,
        Clock::system(),
        SizeField::Contracts,
    ))
}
