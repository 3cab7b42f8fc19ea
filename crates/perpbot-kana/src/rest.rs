//! Kana Perps REST client (reference §1, §2, §4): typed methods for every documented endpoint.
//!
//! Kana's REST API does two things:
//!
//! - **reads** (balances, markets, prices, open orders, positions, histories) — answered with
//!   typed records; list records reuse the borrowed wire types of [`super::wire`] through
//!   [`Records`], which owns the answer and hands out records that borrow from it;
//! - **writes** (orders, cancels, TP/SL, margin, deposit/withdraw) — answered with an unsigned
//!   [`EntryFunctionPayload`] that the bot signs and submits on chain (§5). Nothing happens until
//!   then. Every payload is checked with [`EntryFunctionPayload::validate`] before it is returned.
//!
//! All values go out in **human units** (§3.4): sizes in base coins, prices in quote per coin,
//! amounts in collateral units. Decimals are written exactly from their text (query strings
//! carry the plain decimal, JSON bodies carry a JSON number with the same digits) — never through
//! `f64`. Round to the market's lot/tick grid before calling; the server's rounding is \[UNK\].
//!
//! Every call carries the header `x-api-key` when a key is configured (§1.2). Answers use the
//! envelope `{success|status, message, data}` (§2.1); a `success: false`, a non-2xx status or an
//! undecodable body is a [`KanaRestError`] that names the endpoint, the HTTP status and the
//! server's `message` (or `error`) text.
//!
//! # Retries
//!
//! HTTP 429 (honouring `Retry-After` seconds), 5xx, timeouts and connection failures are retried
//! with jittered exponential back-off up to [`RetryPolicy::max_attempts`] — **for every
//! endpoint**. That is safe here, unlike for an order submission: the reads are idempotent, and
//! the write endpoints only *build* a payload, so asking twice at most builds it twice. Nothing is
//! placed, cancelled or moved until the bot signs and submits a payload, which this client never
//! does.
//!
//! Rate limits are undocumented (§9.7); throttling belongs to the executor.
//!
//! # Example
//!
//! ```no_run
//! # async fn demo() -> Result<(), perpbot_kana::rest::KanaRestError> {
//! use std::time::Duration;
//! use perpbot_kana::config::Secret;
//! use perpbot_model::MarketId;
//! use perpbot_kana::rest::{KanaRest, LimitOrderParams, RetryPolicy, TESTNET_BASE_URL};
//! use rust_decimal::Decimal;
//!
//! let rest = KanaRest::new(
//!     TESTNET_BASE_URL,
//!     Some(Secret::new("my-api-key".into())),
//!     Duration::from_secs(10),
//!     RetryPolicy::default(),
//! )?;
//! let spec = rest.market_spec(MarketId(1338)).await?;
//! let payload = rest
//!     .place_limit_order(&LimitOrderParams {
//!         market: spec.id,
//!         trade_side: true,  // long side
//!         direction: false,  // open
//!         size: Decimal::new(5, 1),     // 0.5 APT
//!         price: Decimal::new(5518, 3), // 5.518
//!         leverage: 10,
//!         restriction: 0,
//!         take_profit: None,
//!         stop_loss: None,
//!     })
//!     .await?;
//! println!("sign and submit {payload}");
//! # Ok(()) }
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;
use serde_json::value::RawValue;

use super::payload::{EntryFunctionPayload, PayloadError, exact_value};
use super::wire::{
    MarketInfo, Num, RestEnvelope, WireBestPrice, WireOpenOrder, WireOrderHistory, WirePosition,
    WireTrade,
};
use crate::config::Secret;
use perpbot_aptos::AccountAddress;
use perpbot_model::{MarketId, MarketSpec};

/// REST base URL of the Kana Perps **testnet** API (reference §1.1).
pub const TESTNET_BASE_URL: &str = "https://perps-tradeapi.kanalabs.io";
/// REST base URL of the Kana Perps **mainnet** API (reference §1.1).
pub const MAINNET_BASE_URL: &str = "https://perps-tradeapi.kana.trade";

/// Longest server text kept in an error message.
const MAX_MESSAGE_CHARS: usize = 300;

// ---------------------------------------------------------------------------------------------
// Retry policy
// ---------------------------------------------------------------------------------------------

/// How often and how patiently a call is retried after HTTP 429, 5xx, a timeout or a connection
/// failure (see the module docs for why every endpoint may be retried).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Total attempts per call, the first one included (`1` = never retry; `0` counts as `1`).
    pub max_attempts: u32,
    /// Back-off before the first retry; doubled for each further retry.
    pub base_delay: Duration,
    /// Cap of the exponential back-off.
    pub max_delay: Duration,
    /// Cap applied to a server's `Retry-After` (protects against absurd values).
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 4 attempts, 250 ms doubling to at most 4 s, `Retry-After` honoured up to 30 s.
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(4),
            max_retry_after: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The un-jittered back-off before retry number `retry` (1-based):
    /// `base_delay × 2^(retry−1)`, capped at `max_delay`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let factor = 1u32
            .checked_shl(retry.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The wait before retry number `retry`: the server's `Retry-After` (capped at
    /// `max_retry_after`) when given, otherwise [`RetryPolicy::backoff`] with "equal jitter"
    /// (uniform in `[d/2, d]`), so that several clients do not retry in lockstep.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(self.max_retry_after);
        }
        let d = self.backoff(retry);
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let half = nanos / 2;
        Duration::from_nanos(half + rand::random_range(0..=nanos - half))
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// A failed Kana REST call. Every variant names the endpoint path (e.g. `/placeLimitOrder`);
/// the server's text is clipped to a few hundred characters. The API key never appears.
#[derive(Debug, thiserror::Error)]
pub enum KanaRestError {
    /// The server answered with a non-2xx status (after retries, for 429/5xx).
    #[error("Kana REST {method} {endpoint}: HTTP {status} after {attempts} attempt(s): {message}")]
    Http {
        /// `GET` or `POST`.
        method: &'static str,
        /// Endpoint path.
        endpoint: &'static str,
        /// HTTP status code.
        status: u16,
        /// The server's `message` / `error` text, or the start of the body.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A 2xx answer whose envelope says `success: false` (or `status: false`).
    #[error("Kana REST {method} {endpoint}: rejected (HTTP {status}): {message}")]
    Rejected {
        /// `GET` or `POST`.
        method: &'static str,
        /// Endpoint path.
        endpoint: &'static str,
        /// HTTP status code.
        status: u16,
        /// The server's `message` / `error` text.
        message: String,
    },
    /// A 2xx answer that is not the JSON expected (envelope or `data`).
    #[error("Kana REST {method} {endpoint}: undecodable answer (HTTP {status}): {detail}")]
    Decode {
        /// `GET` or `POST`.
        method: &'static str,
        /// Endpoint path.
        endpoint: &'static str,
        /// HTTP status code.
        status: u16,
        /// What was wrong, with the offending text.
        detail: String,
    },
    /// No answer: connection failure or timeout (after retries).
    #[error("Kana REST {method} {endpoint}: {detail} after {attempts} attempt(s)")]
    Transport {
        /// `GET` or `POST`.
        method: &'static str,
        /// Endpoint path.
        endpoint: &'static str,
        /// The transport error and its causes.
        detail: String,
        /// Whether the last failure was a timeout.
        timed_out: bool,
        /// Attempts made.
        attempts: u32,
    },
    /// The server returned a payload that must not be signed (e.g. a `null` argument, §4.3.4).
    #[error("Kana REST {endpoint}: payload not signable: {reason}")]
    InvalidPayload {
        /// Endpoint path.
        endpoint: &'static str,
        /// Why.
        reason: PayloadError,
        /// The payload as received.
        payload: Box<EntryFunctionPayload>,
    },
    /// The call was refused locally, before anything was sent.
    #[error("Kana REST {endpoint}: invalid argument: {reason}")]
    InvalidArgument {
        /// Endpoint path.
        endpoint: &'static str,
        /// Why.
        reason: String,
    },
    /// Both names of an endpoint that has two (§11 item 6) failed; the first answered 404.
    #[error("{primary}; fallback: {fallback}")]
    Fallback {
        /// The error of the name tried first (an HTTP 404).
        primary: Box<KanaRestError>,
        /// The error of the other name.
        fallback: Box<KanaRestError>,
    },
    /// The client could not be built (bad base URL, bad API key characters, TLS setup).
    #[error("Kana REST client: {0}")]
    Client(String),
}

impl KanaRestError {
    /// The endpoint path the error is about (for [`KanaRestError::Fallback`], the last one
    /// tried); empty for [`KanaRestError::Client`].
    pub fn endpoint(&self) -> &'static str {
        match self {
            KanaRestError::Http { endpoint, .. }
            | KanaRestError::Rejected { endpoint, .. }
            | KanaRestError::Decode { endpoint, .. }
            | KanaRestError::Transport { endpoint, .. }
            | KanaRestError::InvalidPayload { endpoint, .. }
            | KanaRestError::InvalidArgument { endpoint, .. } => endpoint,
            KanaRestError::Fallback { fallback, .. } => fallback.endpoint(),
            KanaRestError::Client(_) => "",
        }
    }

    /// The HTTP status of the answer, if there was one (for [`KanaRestError::Fallback`], of the
    /// last name tried).
    pub fn status(&self) -> Option<u16> {
        match self {
            KanaRestError::Http { status, .. }
            | KanaRestError::Rejected { status, .. }
            | KanaRestError::Decode { status, .. } => Some(*status),
            KanaRestError::Fallback { fallback, .. } => fallback.status(),
            KanaRestError::Transport { .. }
            | KanaRestError::InvalidPayload { .. }
            | KanaRestError::InvalidArgument { .. }
            | KanaRestError::Client(_) => None,
        }
    }

    /// True for a 401/403 answer, which community clients read as a bad or missing API key
    /// (§1.2, \[COMM\]).
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }
}

// ---------------------------------------------------------------------------------------------
// Request parameters
// ---------------------------------------------------------------------------------------------

/// Parameters of `placeLimitOrder` (§4.3.1). Booleans follow Kana's semantics (§4.3):
/// `trade_side` is the **position** side (`true` = long, see [`perpbot_model::PositionSide::is_long`]),
/// `direction` is `true` to **close**/reduce and `false` to open/increase.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitOrderParams {
    /// Market.
    pub market: MarketId,
    /// Position side: `true` = long.
    pub trade_side: bool,
    /// `true` = close (reduce), `false` = open (increase).
    pub direction: bool,
    /// Size in base coins (human units), > 0.
    pub size: Decimal,
    /// Limit price in quote per coin (human units), > 0.
    pub price: Decimal,
    /// Leverage, 1..=`max_leverage`; must equal the position's leverage when adding/closing.
    pub leverage: u32,
    /// Econia restriction code: 0 none, 1 fill-or-abort, 3 post-or-abort
    /// ([`perpbot_model::Restriction::code`]).
    pub restriction: u8,
    /// Take-profit price; `None` leaves the parameter out (server default 0 = none).
    pub take_profit: Option<Decimal>,
    /// Stop-loss price; `None` leaves the parameter out (server default 0 = none).
    pub stop_loss: Option<Decimal>,
}

/// Parameters of `placeMarketOrder` (§4.3.2): as [`LimitOrderParams`] without price and
/// restriction. No slippage protection is documented (\[UNK\]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketOrderParams {
    /// Market.
    pub market: MarketId,
    /// Position side: `true` = long.
    pub trade_side: bool,
    /// `true` = close (reduce), `false` = open (increase).
    pub direction: bool,
    /// Size in base coins (human units), > 0.
    pub size: Decimal,
    /// Leverage.
    pub leverage: u32,
    /// Take-profit price; `None` leaves the parameter out.
    pub take_profit: Option<Decimal>,
    /// Stop-loss price; `None` leaves the parameter out.
    pub stop_loss: Option<Decimal>,
}

/// One order of a batch (`placeMultipleOrders`, `cancelAndPlaceMultipleOrders`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOrder {
    /// `true` = limit order, `false` = market order (`orderTypes[i]`).
    pub is_limit: bool,
    /// Position side: `true` = long.
    pub trade_side: bool,
    /// `true` = close (reduce), `false` = open (increase).
    pub direction: bool,
    /// Size in base coins, > 0.
    pub size: Decimal,
    /// Price in quote per coin (for market orders whatever the caller chooses; ≥ 0).
    pub price: Decimal,
    /// Leverage.
    pub leverage: u32,
    /// Take-profit price; `None` is sent as `0` (= none).
    pub take_profit: Option<Decimal>,
    /// Stop-loss price; `None` is sent as `0` (= none).
    pub stop_loss: Option<Decimal>,
}

/// Body of `placeMultipleOrders` (§4.3.3): several orders in one market, one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipleOrders {
    /// Market.
    pub market: MarketId,
    /// Restriction for every order (sent both as `restriction` and as a `restrictions` array).
    pub restriction: u8,
    /// The orders (at least one).
    pub orders: Vec<BatchOrder>,
}

/// Body of `cancelAndPlaceMultipleOrders` (§4.3.5): cancel some orders and place others in one
/// market, atomically (one transaction).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelAndPlace {
    /// Market.
    pub market: MarketId,
    /// Orders to cancel.
    pub cancel_order_ids: Vec<u128>,
    /// Position side of each order to cancel (`true` = long; odd `order_type`, §8.1).
    pub cancel_trade_sides: Vec<bool>,
    /// Restriction for every new order.
    pub restriction: u8,
    /// Orders to place.
    pub orders: Vec<BatchOrder>,
}

/// Sort order of a history query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortOrder {
    /// Oldest first (`asc`).
    Asc,
    /// Newest first (`desc`).
    Desc,
}

impl fmt::Display for SortOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SortOrder::Asc => "asc",
            SortOrder::Desc => "desc",
        })
    }
}

/// Best bid and ask from `getMarketPrice` (§4.2.3). A side is `None` when the book side is empty
/// (`null`, missing, or — \[INF\] — `0`, which is never a valid Econia price).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MarketPrice {
    /// Best bid price.
    pub best_bid: Option<Decimal>,
    /// Best ask price.
    pub best_ask: Option<Decimal>,
}

// ---------------------------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------------------------

/// A kind of REST record: names the borrowed [`super::wire`] type that one record parses to.
pub trait RecordKind {
    /// The record type, borrowing from the answer.
    type Record<'a>: Deserialize<'a>;
    /// What a record is, for error messages.
    const WHAT: &'static str;
}

/// Records of [`WireOpenOrder`] (`getOpenOrders*`, §4.4.1).
#[derive(Debug)]
pub enum OpenOrderKind {}
impl RecordKind for OpenOrderKind {
    type Record<'a> = WireOpenOrder<'a>;
    const WHAT: &'static str = "open order";
}

/// Records of [`WirePosition`] (`getPositions*`, §4.4.2).
#[derive(Debug)]
pub enum PositionKind {}
impl RecordKind for PositionKind {
    type Record<'a> = WirePosition<'a>;
    const WHAT: &'static str = "position";
}

/// Records of [`WireOrderHistory`] (`getOrderHistory`, order status, §4.4.3).
#[derive(Debug)]
pub enum OrderKind {}
impl RecordKind for OrderKind {
    type Record<'a> = WireOrderHistory<'a>;
    const WHAT: &'static str = "order";
}

/// Records of [`WireTrade`] (`getTradeHistory`, fills, `getAllTrades`, §4.4.4).
#[derive(Debug)]
pub enum TradeKind {}
impl RecordKind for TradeKind {
    type Record<'a> = WireTrade<'a>;
    const WHAT: &'static str = "trade";
}

/// Records of [`MarketInfo`] (`getMarketInfo`, `getPerpetualAssetsInfo/allMarkets`, §3.2).
#[derive(Debug)]
pub enum MarketKind {}
impl RecordKind for MarketKind {
    type Record<'a> = MarketInfo<'a>;
    const WHAT: &'static str = "market";
}

/// The open orders of an answer.
pub type OpenOrders = Records<OpenOrderKind>;
/// The positions of an answer.
pub type Positions = Records<PositionKind>;
/// The order-history records of an answer.
pub type Orders = Records<OrderKind>;
/// The trades / fills of an answer.
pub type Trades = Records<TradeKind>;
/// The markets of an answer.
pub type Markets = Records<MarketKind>;

/// A list of records owned as raw JSON, parsed on demand into borrowed wire records.
///
/// Every record was parsed once when the answer arrived, so a shape error is reported by the
/// call itself (naming the endpoint and the record index); [`Records::parse`] can still return
/// a `Result` for form's sake but does not fail for a `Records` built by [`KanaRest`].
pub struct Records<K: RecordKind> {
    method: &'static str,
    endpoint: &'static str,
    status: u16,
    items: Vec<Box<RawValue>>,
    _kind: PhantomData<fn() -> K>,
}

impl<K: RecordKind> Records<K> {
    fn new(answer: &Answer, items: Vec<Box<RawValue>>) -> Result<Records<K>, KanaRestError> {
        let records = Records {
            method: answer.method,
            endpoint: answer.endpoint,
            status: answer.status,
            items,
            _kind: PhantomData,
        };
        records.parse()?;
        Ok(records)
    }

    /// All records.
    pub fn parse(&self) -> Result<Vec<K::Record<'_>>, KanaRestError> {
        self.iter().collect()
    }

    /// The records one by one.
    pub fn iter(&self) -> impl Iterator<Item = Result<K::Record<'_>, KanaRestError>> + '_ {
        self.items.iter().enumerate().map(|(i, raw)| {
            serde_json::from_str::<K::Record<'_>>(raw.get()).map_err(|e| KanaRestError::Decode {
                method: self.method,
                endpoint: self.endpoint,
                status: self.status,
                detail: format!("{} record {i}: {e} in {}", K::WHAT, clip(raw.get())),
            })
        })
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The raw JSON text of each record.
    pub fn raw(&self) -> impl Iterator<Item = &str> + '_ {
        self.items.iter().map(|r| r.get())
    }

    /// The endpoint path the records came from.
    pub fn endpoint(&self) -> &'static str {
        self.endpoint
    }
}

impl<K: RecordKind> fmt::Debug for Records<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Records")
            .field("kind", &K::WHAT)
            .field("endpoint", &self.endpoint)
            .field("len", &self.items.len())
            .finish()
    }
}

/// One record owned as raw JSON (see [`Records`]).
pub struct Record<K: RecordKind> {
    inner: Records<K>,
}

impl<K: RecordKind> Record<K> {
    /// The record.
    pub fn parse(&self) -> Result<K::Record<'_>, KanaRestError> {
        match self.inner.iter().next() {
            Some(r) => r,
            None => Err(KanaRestError::Decode {
                method: self.inner.method,
                endpoint: self.inner.endpoint,
                status: self.inner.status,
                detail: format!("no {} record", K::WHAT),
            }),
        }
    }

    /// The raw JSON text of the record.
    pub fn raw(&self) -> &str {
        self.inner.raw().next().unwrap_or("null")
    }
}

impl<K: RecordKind> fmt::Debug for Record<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("kind", &K::WHAT)
            .field("raw", &self.raw())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// An endpoint with two names (§11 item 6): the preferred one is tried first; on HTTP 404 the
/// other is tried, and the one that answered is preferred from then on.
#[derive(Debug)]
struct Route {
    primary: &'static str,
    fallback: &'static str,
    use_fallback: AtomicBool,
}

impl Route {
    const fn new(primary: &'static str, fallback: &'static str) -> Route {
        Route {
            primary,
            fallback,
            use_fallback: AtomicBool::new(false),
        }
    }

    fn order(&self) -> (&'static str, &'static str) {
        if self.use_fallback.load(Ordering::Relaxed) {
            (self.fallback, self.primary)
        } else {
            (self.primary, self.fallback)
        }
    }

    fn prefer(&self, path: &'static str) {
        self.use_fallback
            .store(path == self.fallback, Ordering::Relaxed);
    }
}

/// The Kana Perps REST client. Cheap to share behind an `Arc`; all methods take `&self`.
///
/// `Debug` shows whether an API key is set, never the key.
pub struct KanaRest {
    client: reqwest::Client,
    base_url: String,
    api_key: Option<HeaderValue>,
    timeout: Duration,
    retry: RetryPolicy,
    withdraw_route: Route,
    last_price_route: Route,
    order_status_route: Route,
}

impl fmt::Debug for KanaRest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KanaRest")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

/// A request before it is sent.
struct Call {
    method: Method,
    path: &'static str,
    query: Query,
    body: Option<String>,
}

impl Call {
    fn get(path: &'static str, query: Query) -> Call {
        Call {
            method: Method::GET,
            path,
            query,
            body: None,
        }
    }

    fn post(path: &'static str, body: String) -> Call {
        Call {
            method: Method::POST,
            path,
            query: Query::default(),
            body: Some(body),
        }
    }

    fn method_name(&self) -> &'static str {
        if self.method == Method::POST {
            "POST"
        } else {
            "GET"
        }
    }
}

/// A successful (2xx, `success` not false) answer.
struct Answer {
    method: &'static str,
    endpoint: &'static str,
    status: u16,
    data: Option<Box<RawValue>>,
}

impl KanaRest {
    /// Build a client for `base_url` (e.g. [`TESTNET_BASE_URL`]). `timeout` bounds each attempt
    /// (connect to last body byte); `retry` says how 429/5xx/timeouts are retried.
    ///
    /// Installs rustls' `ring` crypto provider as the process default if none is installed yet.
    pub fn new(
        base_url: &str,
        api_key: Option<Secret>,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<KanaRest, KanaRestError> {
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        reqwest::Url::parse(&base_url)
            .map_err(|e| KanaRestError::Client(format!("base URL {base_url:?}: {e}")))?;
        let api_key = match api_key {
            None => None,
            Some(secret) => {
                let mut v = HeaderValue::from_str(secret.expose().trim()).map_err(|_| {
                    KanaRestError::Client(
                        "API key contains characters not allowed in a header".into(),
                    )
                })?;
                v.set_sensitive(true);
                Some(v)
            }
        };
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| KanaRestError::Client(error_chain(&e)))?;
        Ok(KanaRest {
            client,
            base_url,
            api_key,
            timeout,
            retry,
            withdraw_route: Route::new("/withdrawSpecificMarket", "/withdrawSpecifiMarket"),
            last_price_route: Route::new("/getLastPlacedPrice", "/getLastExecutionPrice"),
            order_status_route: Route::new("/fetchOrderStatusById", "/getOrderStatusByOrderId"),
        })
    }

    /// The base URL (without trailing slash).
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    // -- account ------------------------------------------------------------------------------

    /// `GET /getProfileAddress` (§4.1.1): the trade-profile address of `wallet`, normalised to
    /// `0x` + 64 lowercase hex digits (the server may strip a leading zero, §1.3).
    pub async fn profile_address(&self, wallet: AccountAddress) -> Result<String, KanaRestError> {
        let a = self
            .send(&Call::get("/getProfileAddress", user(wallet)))
            .await?;
        let text = a.string()?;
        AccountAddress::from_hex(text.trim())
            .map(|addr| addr.to_string())
            .map_err(|e| a.decode_error(format!("profile address {text:?}: {e}")))
    }

    /// `GET /getWalletAccountBalance` (§4.1.2): collateral-token balance in the wallet (not
    /// deposited), human units.
    pub async fn wallet_account_balance(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getWalletAccountBalance", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /getProfileBalanceSnapshot` (§4.1.3): available balance in the trading profile.
    pub async fn profile_balance_snapshot(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getProfileBalanceSnapshot", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /getNetProfileBalance` (§4.1.4): available balance plus unsettled balances of closed
    /// positions.
    pub async fn net_profile_balance(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getNetProfileBalance", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /getAccountAptBalance` (§4.1.5): the wallet's APT (gas) balance.
    pub async fn account_apt_balance(
        &self,
        wallet: AccountAddress,
    ) -> Result<Decimal, KanaRestError> {
        self.send(&Call::get("/getAccountAptBalance", user(wallet)))
            .await?
            .decimal()
    }

    /// `GET /deposit` (§4.1.6) → payload depositing `amount` collateral (human units) into the
    /// profile of `wallet`.
    pub async fn deposit(
        &self,
        wallet: AccountAddress,
        amount: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/deposit";
        positive(P, "amount", amount)?;
        let q = user(wallet).with("amount", dec(amount));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /withdrawSpecificMarket` (§4.1.7) → payload withdrawing `amount` from one market.
    /// On HTTP 404 the documented misspelling `/withdrawSpecifiMarket` is tried.
    pub async fn withdraw_specific_market(
        &self,
        wallet: AccountAddress,
        market: MarketId,
        amount: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        positive(self.withdraw_route.primary, "amount", amount)?;
        let q = user(wallet)
            .with("marketId", market)
            .with("amount", dec(amount));
        self.send_routed(&self.withdraw_route, q).await?.payload()
    }

    /// `GET /withdrawMultipleMarkets` (§4.1.7) → payload withdrawing `amount` across `markets`
    /// (sent comma-separated, e.g. `14,15,16,31`).
    pub async fn withdraw_multiple_markets(
        &self,
        wallet: AccountAddress,
        amount: Decimal,
        markets: &[MarketId],
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/withdrawMultipleMarkets";
        positive(P, "amount", amount)?;
        if markets.is_empty() {
            return Err(invalid(P, "no markets given"));
        }
        let ids = markets
            .iter()
            .map(|m| m.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let q = user(wallet)
            .with("amount", dec(amount))
            .with("marketIds", ids);
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /settlePnl` (§4.1.8) → payload settling pending PnL of closed positions in `market`
    /// into the available balance (\[INF\] meaning).
    pub async fn settle_pnl(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        self.send(&Call::get("/settlePnl", q)).await?.payload()
    }

    /// `GET /getDepositAndWithdrawHistory` (§4.1.8). Record shape \[UNK\], hence raw JSON values
    /// (numbers that do not fit `u64`/`i64` exactly are kept as strings of their literal).
    pub async fn deposit_withdraw_history(
        &self,
        wallet: AccountAddress,
    ) -> Result<Vec<Value>, KanaRestError> {
        self.send(&Call::get("/getDepositAndWithdrawHistory", user(wallet)))
            .await?
            .values()
    }

    /// `GET /getFundingHistory` (§4.1.8): funding payments. Record shape \[UNK\] (see
    /// [`KanaRest::deposit_withdraw_history`] for how numbers are kept).
    pub async fn funding_history(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
        offset: Option<u64>,
        limit: Option<u64>,
        order: Option<SortOrder>,
    ) -> Result<Vec<Value>, KanaRestError> {
        let q = user(wallet)
            .with_opt("marketId", market)
            .with_opt("offset", offset)
            .with_opt("limit", limit)
            .with_opt("order", order);
        self.send(&Call::get("/getFundingHistory", q))
            .await?
            .values()
    }

    // -- market data --------------------------------------------------------------------------

    /// `GET /getMarketInfo` (§4.2.1): the market's record (`data` is a one-element array).
    pub async fn market_info(&self, market: MarketId) -> Result<Record<MarketKind>, KanaRestError> {
        let a = self
            .send(&Call::get("/getMarketInfo", market_q(market)))
            .await?;
        a.single::<MarketKind>()?
            .ok_or_else(|| a.decode_error("no market record".into()))
    }

    /// [`KanaRest::market_info`] converted to a validated [`MarketSpec`]; the record must be
    /// about `market`.
    pub async fn market_spec(&self, market: MarketId) -> Result<MarketSpec, KanaRestError> {
        let record = self.market_info(market).await?;
        let spec = to_spec(&record.inner, record.parse()?)?;
        if spec.id != market {
            return Err(record
                .inner
                .error(format!("asked for market {market}, got {}", spec.id)));
        }
        Ok(spec)
    }

    /// `GET /getPerpetualAssetsInfo/allMarkets` (§4.2.2): every market.
    pub async fn all_markets(&self) -> Result<Markets, KanaRestError> {
        let call = Call::get("/getPerpetualAssetsInfo/allMarkets", Query::default());
        self.send(&call).await?.records()
    }

    /// [`KanaRest::all_markets`] converted to validated [`MarketSpec`]s (fails on the first
    /// market that does not convert, naming it).
    pub async fn all_market_specs(&self) -> Result<Vec<MarketSpec>, KanaRestError> {
        let markets = self.all_markets().await?;
        markets.iter().map(|m| to_spec(&markets, m?)).collect()
    }

    /// `GET /getMarketPrice` (§4.2.3): best bid and ask; either may be absent.
    pub async fn market_price(&self, market: MarketId) -> Result<MarketPrice, KanaRestError> {
        let a = self
            .send(&Call::get("/getMarketPrice", market_q(market)))
            .await?;
        let Some(raw) = a.data.as_deref().filter(|r| r.get().trim() != "null") else {
            return Ok(MarketPrice::default());
        };
        let best: WireBestPrice<'_> = serde_json::from_str(raw.get())
            .map_err(|e| a.decode_error(format!("{e} in {}", clip(raw.get()))))?;
        Ok(MarketPrice {
            best_bid: a.price_field("bestBidPrice", best.best_bid)?,
            best_ask: a.price_field("bestAskPrice", best.best_ask)?,
        })
    }

    /// Last traded price: `GET /getLastPlacedPrice` (G5), falling back to
    /// `/getLastExecutionPrice` on HTTP 404 (§4.2.4). `None` when the market has no price
    /// (`null`, or — \[INF\] — `0`).
    pub async fn last_price(&self, market: MarketId) -> Result<Option<Decimal>, KanaRestError> {
        let a = self
            .send_routed(&self.last_price_route, market_q(market))
            .await?;
        let raw = a.data.as_deref().map_or("null", |r| r.get());
        a.price_field("data", Some(Num::from_raw_json(raw)))
    }

    /// `GET /getAllTrades` (§4.2.5): recent public trades of the market.
    pub async fn all_trades(&self, market: MarketId) -> Result<Trades, KanaRestError> {
        self.send(&Call::get("/getAllTrades", market_q(market)))
            .await?
            .records()
    }

    // -- trading (→ payload) --------------------------------------------------------------------

    /// `GET /placeLimitOrder` (§4.3.1) → payload. Query order: `marketId, tradeSide, direction,
    /// size, price, leverage, restriction[, takeProfit][, stopLoss]`.
    pub async fn place_limit_order(
        &self,
        p: &LimitOrderParams,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/placeLimitOrder";
        positive(P, "size", p.size)?;
        positive(P, "price", p.price)?;
        non_negative_opt(P, "takeProfit", p.take_profit)?;
        non_negative_opt(P, "stopLoss", p.stop_loss)?;
        let q = market_q(p.market)
            .with("tradeSide", p.trade_side)
            .with("direction", p.direction)
            .with("size", dec(p.size))
            .with("price", dec(p.price))
            .with("leverage", p.leverage)
            .with("restriction", p.restriction)
            .with_opt("takeProfit", p.take_profit.map(dec))
            .with_opt("stopLoss", p.stop_loss.map(dec));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /placeMarketOrder` (§4.3.2) → payload.
    pub async fn place_market_order(
        &self,
        p: &MarketOrderParams,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/placeMarketOrder";
        positive(P, "size", p.size)?;
        non_negative_opt(P, "takeProfit", p.take_profit)?;
        non_negative_opt(P, "stopLoss", p.stop_loss)?;
        let q = market_q(p.market)
            .with("tradeSide", p.trade_side)
            .with("direction", p.direction)
            .with("size", dec(p.size))
            .with("leverage", p.leverage)
            .with_opt("takeProfit", p.take_profit.map(dec))
            .with_opt("stopLoss", p.stop_loss.map(dec));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `POST /placeMultipleOrders` (§4.3.3) → payload placing all orders in one transaction.
    /// Sends both `restriction` (docs) and `restrictions` (one mainnet bot), since which one the
    /// server reads is \[UNK\]; `None` TP/SL are sent as `0`.
    pub async fn place_multiple_orders(
        &self,
        orders: &MultipleOrders,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/placeMultipleOrders";
        if orders.orders.is_empty() {
            return Err(invalid(P, "no orders given"));
        }
        let batch = BatchBody::new(P, &orders.orders, orders.restriction)?;
        let body = PlaceMultipleBody {
            market_id: orders.market.0,
            batch,
        };
        self.send(&Call::post(P, to_json(P, &body)?))
            .await?
            .payload()
    }

    /// `POST /cancelMultipleOrders` (§4.3.4) → payload cancelling `order_ids` (with the position
    /// side of each, `true` = long) in one transaction. The body carries **both** documented
    /// naming variants (`orderIds`/`cancelTradeSides` and `cancelOrderIds`/`orderSides`); ids go
    /// as decimal strings. The returned payload is rejected if any argument is `null`.
    pub async fn cancel_multiple_orders(
        &self,
        market: MarketId,
        order_ids: &[u128],
        sides: &[bool],
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/cancelMultipleOrders";
        if order_ids.is_empty() {
            return Err(invalid(P, "no order ids given"));
        }
        let cancel = CancelBody::new(P, order_ids, sides)?;
        let body = CancelMultipleBody {
            market_id: market.0,
            cancel,
        };
        self.send(&Call::post(P, to_json(P, &body)?))
            .await?
            .payload()
    }

    /// `POST /cancelAndPlaceMultipleOrders` (§4.3.5) → payload that cancels and places in one
    /// transaction. The cancel part uses both naming variants (as
    /// [`KanaRest::cancel_multiple_orders`]); the new orders' sides go as `orderTradeSides`.
    pub async fn cancel_and_place_multiple_orders(
        &self,
        req: &CancelAndPlace,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/cancelAndPlaceMultipleOrders";
        if req.cancel_order_ids.is_empty() && req.orders.is_empty() {
            return Err(invalid(P, "nothing to cancel or place"));
        }
        let cancel = CancelBody::new(P, &req.cancel_order_ids, &req.cancel_trade_sides)?;
        let batch = BatchBody::new(P, &req.orders, req.restriction)?;
        let body = CancelAndPlaceBody {
            market_id: req.market.0,
            cancel,
            order_types: batch.order_types,
            order_trade_sides: batch.trade_sides,
            directions: batch.directions,
            sizes: batch.sizes,
            prices: batch.prices,
            leverages: batch.leverages,
            restriction: batch.restriction,
            restrictions: batch.restrictions,
            take_profits: batch.take_profits,
            stop_losses: batch.stop_losses,
        };
        self.send(&Call::post(P, to_json(P, &body)?))
            .await?
            .payload()
    }

    /// `GET /updateTakeProfit` (§4.3.6) → payload setting the take-profit of the
    /// (`market`, `trade_side`) position to `price` (`0` = none).
    pub async fn update_take_profit(
        &self,
        market: MarketId,
        trade_side: bool,
        price: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/updateTakeProfit";
        non_negative_opt(P, "newTakeProfitPrice", Some(price))?;
        let q = market_q(market)
            .with("tradeSide", trade_side)
            .with("newTakeProfitPrice", dec(price));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /updateStopLoss` (§4.3.6) → payload setting the stop-loss of the
    /// (`market`, `trade_side`) position to `price` (`0` = none).
    pub async fn update_stop_loss(
        &self,
        market: MarketId,
        trade_side: bool,
        price: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/updateStopLoss";
        non_negative_opt(P, "newStopLossPrice", Some(price))?;
        let q = market_q(market)
            .with("tradeSide", trade_side)
            .with("newStopLossPrice", dec(price));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /addMargin` (§4.3.7) → payload adding `amount` collateral to the (`market`,
    /// `trade_side`) position.
    pub async fn add_margin(
        &self,
        market: MarketId,
        trade_side: bool,
        amount: Decimal,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        const P: &str = "/addMargin";
        positive(P, "amount", amount)?;
        let q = market_q(market)
            .with("tradeSide", trade_side)
            .with("amount", dec(amount));
        self.send(&Call::get(P, q)).await?.payload()
    }

    /// `GET /collapsePosition` (§4.3.8) → payload closing the caller's position(s) in `market` at
    /// market (whether both hedge sides is \[UNK\]).
    pub async fn collapse_position(
        &self,
        market: MarketId,
    ) -> Result<EntryFunctionPayload, KanaRestError> {
        self.send(&Call::get("/collapsePosition", market_q(market)))
            .await?
            .payload()
    }

    // -- user queries ----------------------------------------------------------------------------

    /// `GET /getOpenOrders` (§4.4): open orders of `wallet` (indexer), optionally in one market.
    pub async fn open_orders(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<OpenOrders, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getOpenOrders", q)).await?.records()
    }

    /// `GET /getOpenOrdersFromContract` (§4.4): open orders read from chain state (fresher than
    /// the indexer right after a transaction, \[INF\]).
    pub async fn open_orders_from_contract(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<OpenOrders, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        self.send(&Call::get("/getOpenOrdersFromContract", q))
            .await?
            .records()
    }

    /// `GET /getPositions` (§4.4): positions of `wallet` (indexer), optionally in one market.
    pub async fn positions(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<Positions, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getPositions", q)).await?.records()
    }

    /// `GET /getPositionsFromContract` (§4.4): positions read from chain state.
    pub async fn positions_from_contract(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<Positions, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        self.send(&Call::get("/getPositionsFromContract", q))
            .await?
            .records()
    }

    /// `GET /getOrderHistory` (§4.4, G5 parameters): order records of `wallet`.
    pub async fn order_history(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<Orders, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getOrderHistory", q))
            .await?
            .records()
    }

    /// `GET /getTradeHistory` (§4.4): fills of `wallet`.
    pub async fn trade_history(
        &self,
        wallet: AccountAddress,
        market: Option<MarketId>,
    ) -> Result<Trades, KanaRestError> {
        let q = user(wallet).with_opt("marketId", market);
        self.send(&Call::get("/getTradeHistory", q))
            .await?
            .records()
    }

    /// `GET /getAllOpenOrderIds` (§4.4): ids of `wallet`'s open orders in `market` (strings or
    /// numbers on the wire, u128 here).
    pub async fn all_open_order_ids(
        &self,
        wallet: AccountAddress,
        market: MarketId,
    ) -> Result<Vec<u128>, KanaRestError> {
        let q = user(wallet).with("marketId", market);
        let a = self.send(&Call::get("/getAllOpenOrderIds", q)).await?;
        a.list()?
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                let n = Num::from_raw_json(raw.get());
                n.u128()
                    .map_err(|e| a.decode_error(format!("order id {i}: {:?} {e}", n.text())))
            })
            .collect()
    }

    /// One order's status: `GET /fetchOrderStatusById` (G5), falling back to
    /// `/getOrderStatusByOrderId` on HTTP 404 (§4.4). `None` when `data` is `null` or an empty
    /// list; a list answer yields its first record.
    pub async fn order_status(
        &self,
        market: MarketId,
        order_id: u128,
    ) -> Result<Option<Record<OrderKind>>, KanaRestError> {
        let q = market_q(market).with("orderId", order_id);
        self.send_routed(&self.order_status_route, q)
            .await?
            .single::<OrderKind>()
    }

    /// `GET /getFillsForGivenTimestamp` (§4.4): fills of `wallet` between two Unix-second
    /// timestamps, optionally in one market.
    pub async fn fills_between(
        &self,
        wallet: AccountAddress,
        from_secs: u64,
        to_secs: u64,
        market: Option<MarketId>,
    ) -> Result<Trades, KanaRestError> {
        const P: &str = "/getFillsForGivenTimestamp";
        if from_secs > to_secs {
            return Err(invalid(
                P,
                &format!("from {from_secs} is after to {to_secs}"),
            ));
        }
        let q = user(wallet)
            .with("fromTimestamp", from_secs)
            .with("toTimestamp", to_secs)
            .with_opt("marketId", market);
        self.send(&Call::get(P, q)).await?.records()
    }

    // -- transport ---------------------------------------------------------------------------

    /// Try the route's preferred name, then (on HTTP 404) the other one.
    async fn send_routed(&self, route: &Route, query: Query) -> Result<Answer, KanaRestError> {
        let (first, second) = route.order();
        match self.send(&Call::get(first, query.clone())).await {
            Err(e) if e.status() == Some(404) => {
                tracing::info!(
                    endpoint = first,
                    fallback = second,
                    "kana rest: 404, trying other name"
                );
                match self.send(&Call::get(second, query)).await {
                    Ok(a) => {
                        route.prefer(second);
                        Ok(a)
                    }
                    Err(e2) => Err(KanaRestError::Fallback {
                        primary: Box::new(e),
                        fallback: Box::new(e2),
                    }),
                }
            }
            other => other,
        }
    }

    /// Send with retries; interpret the envelope.
    async fn send(&self, call: &Call) -> Result<Answer, KanaRestError> {
        let url = if call.query.0.is_empty() {
            format!("{}{}", self.base_url, call.path)
        } else {
            format!("{}{}?{}", self.base_url, call.path, call.query.0)
        };
        let method = call.method_name();
        let max = self.retry.max_attempts.max(1);
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            tracing::debug!(method, endpoint = call.path, attempt, "kana rest request");
            let mut rb = self.client.request(call.method.clone(), &url);
            if let Some(key) = &self.api_key {
                rb = rb.header("x-api-key", key.clone());
            }
            if let Some(body) = &call.body {
                rb = rb
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            let outcome = match rb.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = retry_after(resp.headers());
                    match resp.text().await {
                        Ok(text) => Ok((status, retry_after, text)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok((status, retry_after, text)) => {
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if retryable && attempt < max {
                        let delay = self.retry.delay(attempt, retry_after);
                        tracing::warn!(
                            method,
                            endpoint = call.path,
                            status = status.as_u16(),
                            attempt,
                            delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                            message = %server_message(&text),
                            "kana rest: retrying"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return interpret(method, call.path, status, &text, attempt);
                }
                Err(e) => {
                    let timed_out = e.is_timeout();
                    let retryable = timed_out || e.is_connect();
                    let detail = error_chain(&e.without_url());
                    if retryable && attempt < max {
                        let delay = self.retry.delay(attempt, None);
                        tracing::warn!(
                            method,
                            endpoint = call.path,
                            attempt,
                            error = %detail,
                            "kana rest: transport failure, retrying"
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(KanaRestError::Transport {
                        method,
                        endpoint: call.path,
                        detail,
                        timed_out,
                        attempts: attempt,
                    });
                }
            }
        }
    }
}

/// Turn a final HTTP answer into an [`Answer`] or an error.
fn interpret(
    method: &'static str,
    endpoint: &'static str,
    status: StatusCode,
    text: &str,
    attempts: u32,
) -> Result<Answer, KanaRestError> {
    let code = status.as_u16();
    if !status.is_success() {
        return Err(KanaRestError::Http {
            method,
            endpoint,
            status: code,
            message: server_message(text),
            attempts,
        });
    }
    let env: RestEnvelope<'_> = serde_json::from_str(text).map_err(|e| KanaRestError::Decode {
        method,
        endpoint,
        status: code,
        detail: format!("not a Kana envelope ({e}): {}", clip(text)),
    })?;
    if !env.succeeded() {
        return Err(KanaRestError::Rejected {
            method,
            endpoint,
            status: code,
            message: server_message(text),
        });
    }
    Ok(Answer {
        method,
        endpoint,
        status: code,
        data: env.data.map(|r| r.to_owned()),
    })
}

impl Answer {
    fn decode_error(&self, detail: String) -> KanaRestError {
        KanaRestError::Decode {
            method: self.method,
            endpoint: self.endpoint,
            status: self.status,
            detail,
        }
    }

    fn data_text(&self) -> &str {
        self.data.as_deref().map_or("null", |r| r.get().trim())
    }

    /// `data` as a list: `null`/missing = empty, an object = one record.
    fn list(&self) -> Result<Vec<Box<RawValue>>, KanaRestError> {
        let text = self.data_text();
        match text.as_bytes().first() {
            Some(b'[') => serde_json::from_str(text)
                .map_err(|e| self.decode_error(format!("data: {e} in {}", clip(text)))),
            Some(b'{') => Ok(self.data.iter().cloned().collect()),
            _ if text == "null" => Ok(Vec::new()),
            _ => Err(self.decode_error(format!("data is not a list: {}", clip(text)))),
        }
    }

    fn records<K: RecordKind>(self) -> Result<Records<K>, KanaRestError> {
        let items = self.list()?;
        Records::new(&self, items)
    }

    /// The first record, if any.
    fn single<K: RecordKind>(&self) -> Result<Option<Record<K>>, KanaRestError> {
        let mut items = self.list()?;
        items.truncate(1);
        if items.is_empty() {
            return Ok(None);
        }
        Records::new(self, items).map(|inner| Some(Record { inner }))
    }

    fn values(self) -> Result<Vec<Value>, KanaRestError> {
        self.list()?
            .iter()
            .map(|raw| {
                exact_value(raw)
                    .map_err(|e| self.decode_error(format!("{e} in {}", clip(raw.get()))))
            })
            .collect()
    }

    fn string(&self) -> Result<String, KanaRestError> {
        let text = self.data_text();
        serde_json::from_str::<String>(text)
            .map_err(|_| self.decode_error(format!("data is not a string: {}", clip(text))))
    }

    fn decimal(self) -> Result<Decimal, KanaRestError> {
        let n = Num::from_raw_json(self.data_text());
        n.decimal()
            .map_err(|e| self.decode_error(format!("data: {:?} {e}", clip(n.text()))))
    }

    /// A price that may be absent: `null`/missing and (per \[INF\]) `0` mean none.
    fn price_field(
        &self,
        name: &str,
        n: Option<Num<'_>>,
    ) -> Result<Option<Decimal>, KanaRestError> {
        let Some(n) = n.filter(|n| n.text().trim() != "null") else {
            return Ok(None);
        };
        let d = n
            .decimal()
            .map_err(|e| self.decode_error(format!("{name}: {:?} {e}", clip(n.text()))))?;
        Ok(if d.is_zero() { None } else { Some(d) })
    }

    fn payload(self) -> Result<EntryFunctionPayload, KanaRestError> {
        let text = self.data_text();
        let payload: EntryFunctionPayload = serde_json::from_str(text)
            .map_err(|e| self.decode_error(format!("payload: {e} in {}", clip(text))))?;
        if let Err(reason) = payload.validate() {
            tracing::warn!(endpoint = self.endpoint, %reason, "kana rest: unsignable payload");
            return Err(KanaRestError::InvalidPayload {
                endpoint: self.endpoint,
                reason,
                payload: Box::new(payload),
            });
        }
        Ok(payload)
    }
}

impl<K: RecordKind> Records<K> {
    fn error(&self, detail: String) -> KanaRestError {
        KanaRestError::Decode {
            method: self.method,
            endpoint: self.endpoint,
            status: self.status,
            detail,
        }
    }
}

fn to_spec<K: RecordKind>(
    from: &Records<K>,
    info: MarketInfo<'_>,
) -> Result<MarketSpec, KanaRestError> {
    info.to_spec()
        .map_err(|e| from.error(format!("market {}: {e}", info.market_id.text())))
}

// ---------------------------------------------------------------------------------------------
// Query strings and bodies
// ---------------------------------------------------------------------------------------------

/// A query string built in order (the server sees parameters in the order added).
#[derive(Debug, Clone, Default)]
struct Query(String);

impl Query {
    fn with(mut self, key: &str, value: impl fmt::Display) -> Query {
        if !self.0.is_empty() {
            self.0.push('&');
        }
        encode_into(&mut self.0, key);
        self.0.push('=');
        encode_into(&mut self.0, &value.to_string());
        self
    }

    fn with_opt(self, key: &str, value: Option<impl fmt::Display>) -> Query {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

/// Percent-encode everything but unreserved characters and `,` (kept for `marketIds=14,15`).
fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b',') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

fn user(wallet: AccountAddress) -> Query {
    Query::default().with("userAddress", wallet)
}

fn market_q(market: MarketId) -> Query {
    Query::default().with("marketId", market)
}

/// A decimal's plain text with trailing zeros removed (`115300.0` → `115300`, never `1E+5`).
fn dec(d: Decimal) -> String {
    d.normalize().to_string()
}

fn invalid(endpoint: &'static str, reason: &str) -> KanaRestError {
    KanaRestError::InvalidArgument {
        endpoint,
        reason: reason.to_owned(),
    }
}

fn positive(endpoint: &'static str, name: &str, d: Decimal) -> Result<(), KanaRestError> {
    if d > Decimal::ZERO {
        Ok(())
    } else {
        Err(invalid(endpoint, &format!("{name} must be > 0, got {d}")))
    }
}

fn non_negative_opt(
    endpoint: &'static str,
    name: &str,
    d: Option<Decimal>,
) -> Result<(), KanaRestError> {
    match d {
        Some(d) if d.is_sign_negative() && !d.is_zero() => {
            Err(invalid(endpoint, &format!("{name} must be ≥ 0, got {d}")))
        }
        _ => Ok(()),
    }
}

fn to_json<T: Serialize>(endpoint: &'static str, body: &T) -> Result<String, KanaRestError> {
    serde_json::to_string(body).map_err(|e| invalid(endpoint, &format!("cannot encode body: {e}")))
}

/// A decimal serialized as a JSON **number** with exactly its digits (through `RawValue`, never
/// `f64`).
#[derive(Debug, Clone, Copy)]
struct ExactNum(Decimal);

impl Serialize for ExactNum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw = RawValue::from_string(dec(self.0)).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

/// The order arrays shared by the two batch bodies.
struct BatchBody {
    order_types: Vec<bool>,
    trade_sides: Vec<bool>,
    directions: Vec<bool>,
    sizes: Vec<ExactNum>,
    prices: Vec<ExactNum>,
    leverages: Vec<u32>,
    restriction: u8,
    restrictions: Vec<u8>,
    take_profits: Vec<ExactNum>,
    stop_losses: Vec<ExactNum>,
}

impl BatchBody {
    fn new(
        endpoint: &'static str,
        orders: &[BatchOrder],
        restriction: u8,
    ) -> Result<BatchBody, KanaRestError> {
        for (i, o) in orders.iter().enumerate() {
            positive(endpoint, &format!("orders[{i}].size"), o.size)?;
            non_negative_opt(endpoint, &format!("orders[{i}].price"), Some(o.price))?;
            if o.is_limit {
                positive(endpoint, &format!("orders[{i}].price"), o.price)?;
            }
            non_negative_opt(endpoint, &format!("orders[{i}].take_profit"), o.take_profit)?;
            non_negative_opt(endpoint, &format!("orders[{i}].stop_loss"), o.stop_loss)?;
        }
        let zero = |d: Option<Decimal>| ExactNum(d.unwrap_or(Decimal::ZERO));
        Ok(BatchBody {
            order_types: orders.iter().map(|o| o.is_limit).collect(),
            trade_sides: orders.iter().map(|o| o.trade_side).collect(),
            directions: orders.iter().map(|o| o.direction).collect(),
            sizes: orders.iter().map(|o| ExactNum(o.size)).collect(),
            prices: orders.iter().map(|o| ExactNum(o.price)).collect(),
            leverages: orders.iter().map(|o| o.leverage).collect(),
            restriction,
            restrictions: vec![restriction; orders.len()],
            take_profits: orders.iter().map(|o| zero(o.take_profit)).collect(),
            stop_losses: orders.iter().map(|o| zero(o.stop_loss)).collect(),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PlaceMultipleBody {
    market_id: u64,
    #[serde(flatten)]
    batch: BatchBody,
}

impl Serialize for BatchBody {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(10))?;
        m.serialize_entry("orderTypes", &self.order_types)?;
        m.serialize_entry("tradeSides", &self.trade_sides)?;
        m.serialize_entry("directions", &self.directions)?;
        m.serialize_entry("sizes", &self.sizes)?;
        m.serialize_entry("prices", &self.prices)?;
        m.serialize_entry("leverages", &self.leverages)?;
        m.serialize_entry("restriction", &self.restriction)?;
        m.serialize_entry("restrictions", &self.restrictions)?;
        m.serialize_entry("takeProfits", &self.take_profits)?;
        m.serialize_entry("stopLosses", &self.stop_losses)?;
        m.end()
    }
}

/// The cancel arrays, in both naming variants of §4.3.4 (ids as decimal strings).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelBody {
    order_ids: Vec<String>,
    cancel_trade_sides: Vec<bool>,
    cancel_order_ids: Vec<String>,
    order_sides: Vec<bool>,
}

impl CancelBody {
    fn new(
        endpoint: &'static str,
        ids: &[u128],
        sides: &[bool],
    ) -> Result<CancelBody, KanaRestError> {
        if ids.len() != sides.len() {
            return Err(invalid(
                endpoint,
                &format!("{} order ids but {} sides", ids.len(), sides.len()),
            ));
        }
        let ids: Vec<String> = ids.iter().map(u128::to_string).collect();
        Ok(CancelBody {
            order_ids: ids.clone(),
            cancel_trade_sides: sides.to_vec(),
            cancel_order_ids: ids,
            order_sides: sides.to_vec(),
        })
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelMultipleBody {
    market_id: u64,
    #[serde(flatten)]
    cancel: CancelBody,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CancelAndPlaceBody {
    market_id: u64,
    #[serde(flatten)]
    cancel: CancelBody,
    order_types: Vec<bool>,
    order_trade_sides: Vec<bool>,
    directions: Vec<bool>,
    sizes: Vec<ExactNum>,
    prices: Vec<ExactNum>,
    leverages: Vec<u32>,
    restriction: u8,
    restrictions: Vec<u8>,
    take_profits: Vec<ExactNum>,
    stop_losses: Vec<ExactNum>,
}

// ---------------------------------------------------------------------------------------------
// Small helpers
// ---------------------------------------------------------------------------------------------

/// `Retry-After` in whole (or fractional) seconds; HTTP dates are ignored (back-off applies).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let text = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let secs = f64::from_str(text).ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// The server's explanation: the body's `message` or `error` (string or JSON), else the body's
/// start.
fn server_message(body: &str) -> String {
    if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) {
        for key in ["message", "error", "msg", "detail"] {
            match map.get(key) {
                Some(Value::String(s)) if !s.trim().is_empty() => return clip(s.trim()),
                Some(v) if !v.is_null() && !matches!(v, Value::String(_)) => {
                    return clip(&v.to_string());
                }
                _ => {}
            }
        }
    }
    let t = body.trim();
    if t.is_empty() {
        "(empty body)".to_owned()
    } else {
        clip(t)
    }
}

fn clip(s: &str) -> String {
    match s.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or(s)),
        None => s.to_owned(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::State;
    use axum::http::{HeaderMap as AxHeaders, Method as AxMethod, StatusCode as AxStatus, Uri};
    use axum::response::{IntoResponse, Response};
    use rust_decimal_macros::dec;
    use serde_json::json;

    const WALLET: &str = "0xd01e3a233632a41463bd6d289e99e69e1b50815c7afff710e1c992659a8722f3";
    const FN_LIMIT: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_scripts::place_limit_order";
    const FN_CANCEL: &str = "0x7a38039fffd016adcac2c53795ee49325e5ec6fddf3bf02651c09f9a583655a6::perpetual_scripts::cancel_multiple_orders";

    /// §4.2.1 example, verbatim.
    const MARKET_INFO_ANSWER: &str = r#"{
  "success": true,
  "message": "Market information fetched successfully",
  "data": [{
    "__variant__": "V1",
    "base_decimals": 8,
    "base_name": "APT/USDC",
    "counter": "0",
    "creator": "0xb61d7b57333abf8ac036e752f19d0ba0c4baa5404db1cbf868c57dac3628f2bf",
    "custodian_id": "75",
    "fee_address": "0x7724a4a23b25b460abc2a5d9fe1fe3c47e2a0e10a156dd713a221f129579c388",
    "is_recognised": false,
    "lot_size": "100000",
    "maintenance_margin": "250",
    "market_address": "0xcfa0086c26787035de6b4a312875c7a70b2f9a29fa880d0cf633ef3dd0acd2c3",
    "market_id": "1338",
    "market_status": 1,
    "max_leverage": "20",
    "max_lots": "150000000",
    "max_position_value": "125000000",
    "min_lots": "500",
    "quote_decimals": 6,
    "quote_precision": 3,
    "tick_size": "1"
  }]
}"#;

    /// What the fixture saw.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        query: String,
        api_key: Option<String>,
        body: String,
    }

    /// What the fixture answers.
    struct Reply {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: String,
        delay: Duration,
    }

    fn ok(body: impl Into<String>) -> Reply {
        reply(200, body)
    }

    fn reply(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    fn envelope(data: &str) -> String {
        format!(r#"{{"success":true,"message":"ok","data":{data}}}"#)
    }

    type Responder = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

    struct FixState {
        seen: Mutex<Vec<Seen>>,
        counts: Mutex<HashMap<String, usize>>,
        respond: Box<Responder>,
    }

    struct Fixture {
        base: String,
        state: Arc<FixState>,
    }

    impl Fixture {
        fn seen(&self) -> Vec<Seen> {
            self.state.seen.lock().unwrap().clone()
        }
    }

    async fn handle(
        State(st): State<Arc<FixState>>,
        method: AxMethod,
        uri: Uri,
        headers: AxHeaders,
        body: String,
    ) -> Response {
        let seen = Seen {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or("").to_owned(),
            api_key: headers
                .get("x-api-key")
                .map(|v| v.to_str().unwrap().to_owned()),
            body,
        };
        let n = {
            let mut counts = st.counts.lock().unwrap();
            let c = counts.entry(seen.path.clone()).or_insert(0);
            *c += 1;
            *c - 1
        };
        st.seen.lock().unwrap().push(seen.clone());
        let r = (st.respond)(&seen, n);
        if !r.delay.is_zero() {
            tokio::time::sleep(r.delay).await;
        }
        let mut h = AxHeaders::new();
        for (k, v) in r.headers {
            h.insert(k, v.parse().unwrap());
        }
        (AxStatus::from_u16(r.status).unwrap(), h, r.body).into_response()
    }

    /// A loopback server answering every request with `respond(request, n)`, where `n` counts
    /// earlier requests to the same path.
    async fn fixture(respond: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Fixture {
        let state = Arc::new(FixState {
            seen: Mutex::new(Vec::new()),
            counts: Mutex::new(HashMap::new()),
            respond: Box::new(respond),
        });
        let app = Router::new().fallback(handle).with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Fixture {
            base: format!("http://{addr}"),
            state,
        }
    }

    fn fast_retry() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(4),
            max_retry_after: Duration::from_millis(50),
        }
    }

    fn client(fx: &Fixture) -> KanaRest {
        KanaRest::new(
            &format!("{}/", fx.base),
            Some(Secret::new("test-key-123".into())),
            Duration::from_secs(5),
            fast_retry(),
        )
        .unwrap()
    }

    fn wallet() -> AccountAddress {
        AccountAddress::from_hex(WALLET).unwrap()
    }

    fn payload_json(function: &str, args: &str) -> String {
        envelope(&format!(
            r#"{{"function":"{function}","functionArguments":{args},"typeArguments":[]}}"#
        ))
    }

    #[tokio::test]
    async fn profile_address_is_normalised() {
        let fx = fixture(|_, _| {
            ok(
                r#"{ "success": true, "message": "Profile address fetched successfully",
  "data": "0x3c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e" }"#,
            )
        })
        .await;
        let addr = client(&fx).profile_address(wallet()).await.unwrap();
        assert_eq!(
            addr,
            "0x03c78886aa67752706b3502b12959edf92e68d85ae64b24226783d26ce6efc1e"
        );
        let seen = fx.seen();
        assert_eq!(seen[0].path, "/getProfileAddress");
        assert_eq!(seen[0].query, format!("userAddress={WALLET}"));
    }

    #[tokio::test]
    async fn market_info_example_parses() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/getMarketInfo" => ok(MARKET_INFO_ANSWER),
            _ => ok(envelope(&format!(
                "[{}]",
                MARKET_INFO_ANSWER
                    .split_once('[')
                    .unwrap()
                    .1
                    .rsplit_once(']')
                    .unwrap()
                    .0
            ))),
        })
        .await;
        let rest = client(&fx);
        let rec = rest.market_info(MarketId(1338)).await.unwrap();
        let info = rec.parse().unwrap();
        assert_eq!(info.market_id.u64(), Ok(1338));
        assert_eq!(info.lot_size.u64(), Ok(100_000));
        let spec = rest.market_spec(MarketId(1338)).await.unwrap();
        assert_eq!(
            spec,
            MarketSpec {
                name: "APT/USDC".into(),
                ..MarketSpec::kana_apt_testnet()
            }
        );
        // Asking for another market but getting 1338 is an error naming both.
        let e = rest.market_spec(MarketId(14)).await.unwrap_err();
        assert!(
            e.to_string().contains("asked for market 14, got 1338"),
            "{e}"
        );
        let all = rest.all_market_specs().await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(fx.seen()[3].path, "/getPerpetualAssetsInfo/allMarkets");
    }

    #[tokio::test]
    async fn market_price_with_a_null_side() {
        let fx = fixture(|s, _| match s.query.as_str() {
            "marketId=15" => ok(envelope(r#"{"bestAskPrice": 5.523, "bestBidPrice": null}"#)),
            "marketId=16" => ok(envelope(
                r#"{"bestAskPrice": "115300.5", "bestBidPrice": 0}"#,
            )),
            _ => ok(envelope("null")),
        })
        .await;
        let rest = client(&fx);
        let p = rest.market_price(MarketId(15)).await.unwrap();
        assert_eq!(
            p,
            MarketPrice {
                best_bid: None,
                best_ask: Some(dec!(5.523))
            }
        );
        let p = rest.market_price(MarketId(16)).await.unwrap();
        assert_eq!(
            p,
            MarketPrice {
                best_bid: None,
                best_ask: Some(dec!(115300.5))
            }
        );
        let p = rest.market_price(MarketId(14)).await.unwrap();
        assert_eq!(p, MarketPrice::default());
    }

    #[tokio::test]
    async fn api_key_header_sent_only_when_set() {
        let fx = fixture(|_, _| ok(envelope("12.5"))).await;
        let with_key = client(&fx);
        assert_eq!(
            with_key.wallet_account_balance(wallet()).await.unwrap(),
            dec!(12.5)
        );
        let without = KanaRest::new(&fx.base, None, Duration::from_secs(5), fast_retry()).unwrap();
        assert_eq!(
            without.profile_balance_snapshot(wallet()).await.unwrap(),
            dec!(12.5)
        );
        let seen = fx.seen();
        assert_eq!(seen[0].api_key.as_deref(), Some("test-key-123"));
        assert_eq!(seen[1].api_key, None);
        // Debug never shows the key.
        let dbg = format!("{with_key:?}");
        assert!(
            !dbg.contains("test-key-123") && dbg.contains("<redacted>"),
            "{dbg}"
        );
        assert!(format!("{without:?}").contains("api_key: None"));
    }

    #[tokio::test]
    async fn balances_accept_numbers_and_strings() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/getWalletAccountBalance" => ok(envelope("611899")),
            "/getNetProfileBalance" => ok(envelope(r#""0.0326969090000000006806411505""#)),
            "/getAccountAptBalance" => ok(envelope("1.5e-3")),
            _ => ok(envelope(r#"{"balance": 1}"#)),
        })
        .await;
        let rest = client(&fx);
        assert_eq!(
            rest.wallet_account_balance(wallet()).await.unwrap(),
            dec!(611899)
        );
        assert_eq!(
            rest.net_profile_balance(wallet()).await.unwrap(),
            dec!(0.0326969090000000006806411505)
        );
        assert_eq!(
            rest.account_apt_balance(wallet()).await.unwrap(),
            dec!(0.0015)
        );
        let e = rest.profile_balance_snapshot(wallet()).await.unwrap_err();
        assert!(
            matches!(
                e,
                KanaRestError::Decode {
                    endpoint: "/getProfileBalanceSnapshot",
                    ..
                }
            ),
            "{e}"
        );
    }

    #[tokio::test]
    async fn place_limit_order_query_matches_the_reference() {
        let fx = fixture(|_, _| {
            ok(payload_json(
                FN_LIMIT,
                r#"["15", true, false, "10", "115300", "10", 0, "0", "0"]"#,
            ))
        })
        .await;
        let payload = client(&fx)
            .place_limit_order(&LimitOrderParams {
                market: MarketId(15),
                trade_side: true,
                direction: false,
                size: dec!(0.0001),
                price: dec!(115300.00),
                leverage: 10,
                restriction: 0,
                take_profit: None,
                stop_loss: None,
            })
            .await
            .unwrap();
        let seen = fx.seen();
        assert_eq!(seen[0].method, "GET");
        assert_eq!(seen[0].path, "/placeLimitOrder");
        assert_eq!(
            seen[0].query,
            "marketId=15&tradeSide=true&direction=false&size=0.0001&price=115300&leverage=10&restriction=0"
        );
        assert_eq!(payload.function, FN_LIMIT);
        assert!(payload.type_arguments.is_empty());
        assert_eq!(payload.function_arguments.len(), 9);
        assert_eq!(payload.function_arguments[1], json!(true));
        assert_eq!(
            payload.function_id().unwrap().function.to_string(),
            "place_limit_order"
        );
    }

    #[tokio::test]
    async fn market_order_and_position_writes_send_the_documented_params() {
        let fx = fixture(|_, _| ok(payload_json(FN_LIMIT, r#"["15"]"#))).await;
        let rest = client(&fx);
        rest.place_market_order(&MarketOrderParams {
            market: MarketId(15),
            trade_side: false,
            direction: true,
            size: dec!(0.5),
            leverage: 2,
            take_profit: Some(dec!(100)),
            stop_loss: Some(dec!(0)),
        })
        .await
        .unwrap();
        rest.update_take_profit(MarketId(15), true, dec!(120000))
            .await
            .unwrap();
        rest.update_stop_loss(MarketId(15), false, dec!(0))
            .await
            .unwrap();
        rest.add_margin(MarketId(15), true, dec!(2.50))
            .await
            .unwrap();
        rest.collapse_position(MarketId(15)).await.unwrap();
        rest.deposit(wallet(), dec!(10)).await.unwrap();
        rest.withdraw_multiple_markets(wallet(), dec!(5), &[MarketId(14), MarketId(15)])
            .await
            .unwrap();
        rest.settle_pnl(wallet(), MarketId(14)).await.unwrap();
        let got: Vec<String> = fx
            .seen()
            .iter()
            .map(|s| format!("{}?{}", s.path, s.query))
            .collect();
        assert_eq!(
            got,
            vec![
                "/placeMarketOrder?marketId=15&tradeSide=false&direction=true&size=0.5&leverage=2&takeProfit=100&stopLoss=0".to_owned(),
                "/updateTakeProfit?marketId=15&tradeSide=true&newTakeProfitPrice=120000".into(),
                "/updateStopLoss?marketId=15&tradeSide=false&newStopLossPrice=0".into(),
                "/addMargin?marketId=15&tradeSide=true&amount=2.5".into(),
                "/collapsePosition?marketId=15".into(),
                format!("/deposit?userAddress={WALLET}&amount=10"),
                format!("/withdrawMultipleMarkets?userAddress={WALLET}&amount=5&marketIds=14,15"),
                format!("/settlePnl?userAddress={WALLET}&marketId=14"),
            ]
        );
        // Refused locally, nothing sent.
        let e = rest
            .add_margin(MarketId(15), true, dec!(0))
            .await
            .unwrap_err();
        assert!(matches!(
            e,
            KanaRestError::InvalidArgument {
                endpoint: "/addMargin",
                ..
            }
        ));
        assert_eq!(fx.seen().len(), 8);
    }

    #[tokio::test]
    async fn payload_with_a_null_argument_is_rejected_naming_the_index() {
        let fx = fixture(|_, _| ok(payload_json(FN_CANCEL, r#"["15", null, null]"#))).await;
        let e = client(&fx)
            .cancel_multiple_orders(MarketId(15), &[1], &[true])
            .await
            .unwrap_err();
        match &e {
            KanaRestError::InvalidPayload {
                endpoint,
                reason,
                payload,
            } => {
                assert_eq!(*endpoint, "/cancelMultipleOrders");
                assert_eq!(
                    *reason,
                    PayloadError::NullArgument {
                        index: 1,
                        path: String::new()
                    }
                );
                assert_eq!(payload.function, FN_CANCEL);
            }
            other => panic!("unexpected {other}"),
        }
        assert!(e.to_string().contains("argument 1 is null"), "{e}");
    }

    #[tokio::test]
    async fn cancel_multiple_orders_sends_both_naming_variants() {
        let fx = fixture(|_, _| {
            ok(payload_json(
                FN_CANCEL,
                r#"["15", [161668980614256490457451450, "2"], [true, false]]"#,
            ))
        })
        .await;
        let p = client(&fx)
            .cancel_multiple_orders(
                MarketId(15),
                &[161_668_980_614_256_490_457_451_450, 2],
                &[true, false],
            )
            .await
            .unwrap();
        // The u128 literal in the answer survived exactly.
        assert_eq!(
            p.function_arguments[1],
            json!(["161668980614256490457451450", "2"])
        );
        let seen = &fx.seen()[0];
        assert_eq!(seen.method, "POST");
        assert_eq!(seen.path, "/cancelMultipleOrders");
        let body: Value = serde_json::from_str(&seen.body).unwrap();
        let ids = json!(["161668980614256490457451450", "2"]);
        assert_eq!(body["marketId"], json!(15));
        assert_eq!(body["orderIds"], ids);
        assert_eq!(body["cancelOrderIds"], ids);
        assert_eq!(body["cancelTradeSides"], json!([true, false]));
        assert_eq!(body["orderSides"], json!([true, false]));
        // Mismatched lengths are refused before sending.
        let e = client(&fx)
            .cancel_multiple_orders(MarketId(15), &[1, 2], &[true])
            .await
            .unwrap_err();
        assert!(matches!(e, KanaRestError::InvalidArgument { .. }), "{e}");
        assert_eq!(fx.seen().len(), 1);
    }

    #[tokio::test]
    async fn batch_bodies_carry_exact_numbers_and_both_restriction_forms() {
        let fx = fixture(|_, _| ok(payload_json(FN_LIMIT, "[]"))).await;
        let rest = client(&fx);
        let order = |price: Decimal| BatchOrder {
            is_limit: true,
            trade_side: true,
            direction: false,
            size: dec!(0.0001),
            price,
            leverage: 10,
            take_profit: Some(dec!(115400)),
            stop_loss: None,
        };
        rest.place_multiple_orders(&MultipleOrders {
            market: MarketId(15),
            restriction: 3,
            orders: vec![order(dec!(115300)), order(dec!(115400.10))],
        })
        .await
        .unwrap();
        rest.cancel_and_place_multiple_orders(&CancelAndPlace {
            market: MarketId(15),
            cancel_order_ids: vec![12_907_057_702_855_018_828_273_522],
            cancel_trade_sides: vec![true],
            restriction: 0,
            orders: vec![order(dec!(5.518))],
        })
        .await
        .unwrap();
        let seen = fx.seen();
        assert_eq!(seen[0].path, "/placeMultipleOrders");
        // Raw text: numbers written from the decimal's digits.
        assert!(
            seen[0].body.contains(r#""sizes":[0.0001,0.0001]"#),
            "{}",
            seen[0].body
        );
        assert!(
            seen[0].body.contains(r#""prices":[115300,115400.1]"#),
            "{}",
            seen[0].body
        );
        let body: Value = serde_json::from_str(&seen[0].body).unwrap();
        assert_eq!(body["marketId"], json!(15));
        assert_eq!(body["orderTypes"], json!([true, true]));
        assert_eq!(body["tradeSides"], json!([true, true]));
        assert_eq!(body["directions"], json!([false, false]));
        assert_eq!(body["leverages"], json!([10, 10]));
        assert_eq!(body["restriction"], json!(3));
        assert_eq!(body["restrictions"], json!([3, 3]));
        assert_eq!(body["takeProfits"], json!([115400, 115400]));
        assert_eq!(body["stopLosses"], json!([0, 0]));

        assert_eq!(seen[1].path, "/cancelAndPlaceMultipleOrders");
        assert!(
            seen[1].body.contains(r#""prices":[5.518]"#),
            "{}",
            seen[1].body
        );
        let body: Value = serde_json::from_str(&seen[1].body).unwrap();
        let ids = json!(["12907057702855018828273522"]);
        assert_eq!(body["orderIds"], ids);
        assert_eq!(body["cancelOrderIds"], ids);
        assert_eq!(body["cancelTradeSides"], json!([true]));
        assert_eq!(body["orderSides"], json!([true]));
        assert_eq!(body["orderTradeSides"], json!([true]));
        assert_eq!(body["orderTypes"], json!([true]));
        assert_eq!(body["restriction"], json!(0));
    }

    #[tokio::test]
    async fn retry_after_429_then_success_retries_once() {
        let fx = fixture(|_, n| {
            if n == 0 {
                Reply {
                    headers: vec![("retry-after", "0".into())],
                    ..reply(429, r#"{"message":"slow down"}"#)
                }
            } else {
                ok(envelope("1.25"))
            }
        })
        .await;
        let bal = client(&fx).account_apt_balance(wallet()).await.unwrap();
        assert_eq!(bal, dec!(1.25));
        assert_eq!(fx.seen().len(), 2);
    }

    #[tokio::test]
    async fn server_errors_are_retried_then_reported() {
        let fx = fixture(|_, _| reply(500, r#"{"success":false,"message":"indexer down"}"#)).await;
        let e = client(&fx)
            .place_market_order(&MarketOrderParams {
                market: MarketId(14),
                trade_side: true,
                direction: false,
                size: dec!(1),
                leverage: 2,
                take_profit: None,
                stop_loss: None,
            })
            .await
            .unwrap_err();
        assert_eq!(fx.seen().len(), 3);
        assert!(
            matches!(
                e,
                KanaRestError::Http {
                    status: 500,
                    attempts: 3,
                    ..
                }
            ),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("/placeMarketOrder") && text.contains("indexer down"),
            "{text}"
        );
        assert_eq!(e.endpoint(), "/placeMarketOrder");
        assert_eq!(e.status(), Some(500));
    }

    #[tokio::test]
    async fn non_json_errors_and_auth_failures_are_reported() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/getPositions" => reply(403, r#"{"error":"invalid api key"}"#),
            _ => reply(400, "<html>Bad Request</html>"),
        })
        .await;
        let rest = client(&fx);
        let e = rest.positions(wallet(), None).await.unwrap_err();
        assert!(
            e.is_auth() && e.to_string().contains("invalid api key"),
            "{e}"
        );
        let e = rest.open_orders(wallet(), None).await.unwrap_err();
        assert!(e.to_string().contains("<html>Bad Request</html>"), "{e}");
        assert_eq!(fx.seen().len(), 2, "4xx are not retried");
    }

    #[tokio::test]
    async fn success_false_is_an_error_with_the_message() {
        let fx = fixture(|_, _| {
            ok(r#"{"success":false,"message":"Insufficient balance to withdraw","data":null}"#)
        })
        .await;
        let e = client(&fx).deposit(wallet(), dec!(10)).await.unwrap_err();
        assert!(
            matches!(e, KanaRestError::Rejected { status: 200, .. }),
            "{e:?}"
        );
        let text = e.to_string();
        assert!(
            text.contains("Insufficient balance to withdraw") && text.contains("/deposit"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn status_envelope_and_missing_message_are_accepted() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/getWalletAccountBalance" => ok(r#"{"status":true,"message":"Fetched wallet account balance successfully","data":611899}"#),
            "/getAllOpenOrderIds" => ok(r#"{"status":true,"data":["12907057702855018828273522", 7]}"#),
            "/getOpenOrders" => ok(r#"{"success":true,"data":[],"message":"There are no open orders"}"#),
            _ => ok(r#"{"status":false,"error":"unknown market"}"#),
        })
        .await;
        let rest = client(&fx);
        assert_eq!(
            rest.wallet_account_balance(wallet()).await.unwrap(),
            dec!(611899)
        );
        assert_eq!(
            rest.all_open_order_ids(wallet(), MarketId(15))
                .await
                .unwrap(),
            vec![12_907_057_702_855_018_828_273_522, 7]
        );
        assert!(
            rest.open_orders(wallet(), Some(MarketId(15)))
                .await
                .unwrap()
                .is_empty()
        );
        let e = rest
            .positions(wallet(), Some(MarketId(99)))
            .await
            .unwrap_err();
        assert!(
            matches!(e, KanaRestError::Rejected { .. }) && e.to_string().contains("unknown market"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn undecodable_bodies_are_errors() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/getPositions" => ok("not json"),
            "/getOpenOrders" => ok(envelope(r#"[{"market_id":"15"}]"#)),
            _ => ok(envelope(r#""abc""#)),
        })
        .await;
        let rest = client(&fx);
        let e = rest.positions(wallet(), None).await.unwrap_err();
        assert!(
            matches!(
                e,
                KanaRestError::Decode {
                    endpoint: "/getPositions",
                    status: 200,
                    ..
                }
            ),
            "{e}"
        );
        let e = rest.open_orders(wallet(), None).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("open order record 0") && text.contains("missing field"),
            "{text}"
        );
        let e = rest.all_trades(MarketId(15)).await.unwrap_err();
        assert!(e.to_string().contains("not a list"), "{e}");
    }

    #[tokio::test]
    async fn user_query_records_parse_tolerantly() {
        let open = r#"{ "address": "0x4d6d", "market_id": "1338", "leverage": 2, "order_type": 1,
  "timestamp": 1746177750, "price": "5.518", "total_size": "11.851",
  "remaining_size": "11.851", "order_value": "65.393818",
  "order_id": "12907057702855018828273522", "trade_id": "16528282690043758248332",
  "last_updated": 1746177751, "transaction_version": 6704413443, "brand_new_field": [1] }"#;
        let pos = r#"{ "address": "0x4d6d", "market_id": "15", "leverage": 10, "trade_side": true,
  "size": "0.0001", "available_order_size": "0.0001", "value": "11.53",
  "entry_price": "115300", "liq_price": "106430.769", "margin": "1.153",
  "tp": null, "sl": null, "trade_id": "16528282690043758248332",
  "last_updated": 1753165487, "transaction_version": 3102182809 }"#;
        let fill = r#"{ "address": "0x4d6d", "leverage": 2, "market_id": "1338", "timestamp": 1746177750,
  "size": "11.851", "order_type": 7, "price": "5.518", "order_value": "65.393818",
  "pnl": "-0.0682499090000000006806411505", "fee": "0.0326969090000000006806411505",
  "trade_id": "176609127761695247172922", "last_updated": 1746177751,
  "transaction_version": 6704413443, "entry_price": null, "order_id": "5" }"#;
        let hist = r#"{ "address": "0x4d6d", "market_id": "396", "leverage": 2, "order_type": 4,
  "timestamp": "1739790700", "is_market_order": false, "size": "1000",
  "price": "6002", "order_value": "6002000", "status": "Filled",
  "order_id": "12906965467445688751095808", "trade_id": "16509835945970048696716",
  "last_updated": "1739790700" }"#;
        let (open, pos, fill, hist) = (
            open.to_owned(),
            pos.to_owned(),
            fill.to_owned(),
            hist.to_owned(),
        );
        let fx = fixture(move |s, _| match s.path.as_str() {
            "/getOpenOrders" | "/getOpenOrdersFromContract" => ok(envelope(&format!("[{open}]"))),
            "/getPositions" | "/getPositionsFromContract" => ok(envelope(&format!("[{pos}]"))),
            "/getTradeHistory" | "/getFillsForGivenTimestamp" | "/getAllTrades" => {
                ok(envelope(&format!("[{fill},{fill}]")))
            }
            "/getOrderHistory" => ok(envelope(&format!("[{hist}]"))),
            "/getFundingHistory" | "/getDepositAndWithdrawHistory" => ok(envelope(
                r#"[{"amount":"1.5","id":340282366920938463463374607431768211455}]"#,
            )),
            _ => ok(envelope("null")),
        })
        .await;
        let rest = client(&fx);
        let w = wallet();
        let m = Some(MarketId(1338));
        let oo = rest.open_orders(w, m).await.unwrap();
        let oo = oo.parse().unwrap();
        assert_eq!(
            oo[0].order_id.u128(),
            Ok(12_907_057_702_855_018_828_273_522)
        );
        assert_eq!(oo[0].price.decimal(), Ok(dec!(5.518)));
        assert_eq!(
            rest.open_orders_from_contract(w, MarketId(1338))
                .await
                .unwrap()
                .len(),
            1
        );
        let ps = rest.positions(w, None).await.unwrap();
        assert_eq!(ps.parse().unwrap()[0].is_long(), Some(true));
        assert_eq!(
            rest.positions_from_contract(w, MarketId(15))
                .await
                .unwrap()
                .len(),
            1
        );
        let th = rest.trade_history(w, m).await.unwrap();
        assert_eq!(th.len(), 2);
        assert_eq!(
            th.parse().unwrap()[0].fee.unwrap().decimal(),
            Ok(dec!(0.0326969090000000006806411505))
        );
        assert_eq!(rest.fills_between(w, 100, 200, m).await.unwrap().len(), 2);
        assert_eq!(rest.all_trades(MarketId(1338)).await.unwrap().len(), 2);
        let oh = rest.order_history(w, None).await.unwrap();
        assert_eq!(
            oh.parse().unwrap()[0].status,
            crate::wire::WireOrderStatus::Filled
        );
        let fh = rest
            .funding_history(
                w,
                Some(MarketId(14)),
                Some(0),
                Some(50),
                Some(SortOrder::Desc),
            )
            .await
            .unwrap();
        assert_eq!(
            fh,
            vec![json!({"amount": "1.5", "id": "340282366920938463463374607431768211455"})]
        );
        assert_eq!(rest.deposit_withdraw_history(w).await.unwrap().len(), 1);
        let seen = fx.seen();
        let fills = seen
            .iter()
            .find(|s| s.path == "/getFillsForGivenTimestamp")
            .unwrap();
        assert_eq!(
            fills.query,
            format!("userAddress={WALLET}&fromTimestamp=100&toTimestamp=200&marketId=1338")
        );
        let funding = seen
            .iter()
            .find(|s| s.path == "/getFundingHistory")
            .unwrap();
        assert_eq!(
            funding.query,
            format!("userAddress={WALLET}&marketId=14&offset=0&limit=50&order=desc")
        );
        let positions = seen.iter().find(|s| s.path == "/getPositions").unwrap();
        assert_eq!(positions.query, format!("userAddress={WALLET}"));
    }

    #[tokio::test]
    async fn fallback_endpoints_on_404() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/withdrawSpecifiMarket" => ok(payload_json(FN_LIMIT, r#"["14","5"]"#)),
            "/getLastExecutionPrice" => ok(envelope("5.518")),
            "/getOrderStatusByOrderId" => ok(envelope(
                r#"[{"market_id":"15","status":"Open","order_id":"42","price":"115300"}]"#,
            )),
            _ => reply(404, "Cannot GET"),
        })
        .await;
        let rest = client(&fx);
        rest.withdraw_specific_market(wallet(), MarketId(14), dec!(5))
            .await
            .unwrap();
        assert_eq!(
            rest.last_price(MarketId(15)).await.unwrap(),
            Some(dec!(5.518))
        );
        let st = rest.order_status(MarketId(15), 42).await.unwrap().unwrap();
        let st = st.parse().unwrap();
        assert_eq!(st.order_id.u128(), Ok(42));
        assert_eq!(st.status, crate::wire::WireOrderStatus::Open);
        // The working name is remembered: a second call goes straight there.
        assert_eq!(
            rest.last_price(MarketId(15)).await.unwrap(),
            Some(dec!(5.518))
        );
        let paths: Vec<String> = fx.seen().iter().map(|s| s.path.clone()).collect();
        assert_eq!(
            paths,
            vec![
                "/withdrawSpecificMarket",
                "/withdrawSpecifiMarket",
                "/getLastPlacedPrice",
                "/getLastExecutionPrice",
                "/fetchOrderStatusById",
                "/getOrderStatusByOrderId",
                "/getLastExecutionPrice",
            ]
        );
        assert_eq!(
            fx.seen()[1].query,
            format!("userAddress={WALLET}&marketId=14&amount=5")
        );
        assert_eq!(fx.seen()[4].query, "marketId=15&orderId=42");
    }

    #[tokio::test]
    async fn primary_endpoint_is_used_when_it_answers_and_both_404_names_both() {
        let fx = fixture(|s, _| match s.path.as_str() {
            "/getLastPlacedPrice" => ok(envelope("null")),
            "/fetchOrderStatusById" => reply(404, r#"{"message":"order not found"}"#),
            _ => reply(404, "Cannot GET"),
        })
        .await;
        let rest = client(&fx);
        assert_eq!(rest.last_price(MarketId(15)).await.unwrap(), None);
        let e = rest.order_status(MarketId(15), 1).await.unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("/fetchOrderStatusById")
                && text.contains("order not found")
                && text.contains("/getOrderStatusByOrderId"),
            "{text}"
        );
        assert_eq!(fx.seen().len(), 3);
    }

    #[tokio::test]
    async fn timeouts_are_retried() {
        let fx = fixture(|_, n| {
            if n == 0 {
                Reply {
                    delay: Duration::from_millis(400),
                    ..ok(envelope("1"))
                }
            } else {
                ok(envelope("2"))
            }
        })
        .await;
        let rest = KanaRest::new(&fx.base, None, Duration::from_millis(100), fast_retry()).unwrap();
        assert_eq!(rest.account_apt_balance(wallet()).await.unwrap(), dec!(2));
        assert_eq!(fx.seen().len(), 2);
    }

    #[tokio::test]
    async fn connection_failures_end_in_a_transport_error() {
        // Bind then drop a listener to get a port nobody listens on.
        let port = {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let rest = KanaRest::new(
            &format!("http://127.0.0.1:{port}"),
            None,
            Duration::from_secs(2),
            fast_retry(),
        )
        .unwrap();
        let e = rest.collapse_position(MarketId(15)).await.unwrap_err();
        assert!(
            matches!(
                e,
                KanaRestError::Transport {
                    endpoint: "/collapsePosition",
                    attempts: 3,
                    ..
                }
            ),
            "{e:?}"
        );
    }

    #[test]
    fn backoff_grows_caps_and_honours_retry_after() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(350),
            max_retry_after: Duration::from_secs(2),
        };
        assert_eq!(p.backoff(1), Duration::from_millis(100));
        assert_eq!(p.backoff(2), Duration::from_millis(200));
        assert_eq!(p.backoff(3), Duration::from_millis(350));
        assert_eq!(p.backoff(40), Duration::from_millis(350));
        for retry in 1..4 {
            let d = p.delay(retry, None);
            assert!(d >= p.backoff(retry) / 2 && d <= p.backoff(retry), "{d:?}");
        }
        assert_eq!(p.delay(1, Some(Duration::ZERO)), Duration::ZERO);
        assert_eq!(
            p.delay(1, Some(Duration::from_secs(60))),
            Duration::from_secs(2)
        );
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn client_futures_and_records_are_send() {
        fn send<T: Send>(_: &T) {}
        fn send_sync<T: Send + Sync>() {}
        send_sync::<KanaRest>();
        send_sync::<Positions>();
        send_sync::<Record<MarketKind>>();
        send_sync::<KanaRestError>();
        let rest = KanaRest::new(
            TESTNET_BASE_URL,
            None,
            Duration::from_secs(1),
            RetryPolicy::none(),
        )
        .unwrap();
        send(&rest.positions(wallet(), None));
        send(&rest.cancel_multiple_orders(MarketId(1), &[1], &[true]));
        send(&rest.order_status(MarketId(1), 1));
    }

    #[test]
    fn query_values_are_encoded() {
        let q = Query::default()
            .with("a", "x y&z")
            .with("ids", "14,15")
            .with_opt("n", None::<u8>);
        assert_eq!(q.0, "a=x%20y%26z&ids=14,15");
        assert_eq!(dec(dec!(115300.000)), "115300");
        assert_eq!(dec(dec!(0.00010)), "0.0001");
    }

    #[test]
    fn bad_construction_is_an_error() {
        assert!(matches!(
            KanaRest::new(
                "not a url",
                None,
                Duration::from_secs(1),
                RetryPolicy::none()
            ),
            Err(KanaRestError::Client(_))
        ));
        let e = KanaRest::new(
            TESTNET_BASE_URL,
            Some(Secret::new("bad\nkey".into())),
            Duration::from_secs(1),
            RetryPolicy::none(),
        )
        .unwrap_err();
        assert!(!e.to_string().contains("bad\nkey"));
        let ok = KanaRest::new(
            MAINNET_BASE_URL,
            None,
            Duration::from_secs(1),
            RetryPolicy::none(),
        )
        .unwrap();
        assert_eq!(ok.base_url(), MAINNET_BASE_URL);
    }
}
