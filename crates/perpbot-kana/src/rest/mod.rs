//! Kana Perps REST client (reference §1, §2, §4): typed methods for every documented endpoint.
//!
//! The design and the reasons for it: `docs/design/kana-rest.md`.
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

mod client;

pub use client::*;

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
        perpbot_core::venue::backoff::equal_jitter(self.backoff(retry))
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
    pub market: MarketId,
    /// Position side: `true` = long.
    pub trade_side: bool,
    /// `true` = close (reduce), `false` = open (increase).
    pub direction: bool,
    /// Size in base coins (human units), > 0.
    pub size: Decimal,
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
    pub leverage: u32,
    /// Take-profit price; `None` is sent as `0` (= none).
    pub take_profit: Option<Decimal>,
    /// Stop-loss price; `None` is sent as `0` (= none).
    pub stop_loss: Option<Decimal>,
}

/// Body of `placeMultipleOrders` (§4.3.3): several orders in one market, one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipleOrders {
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
mod tests;
