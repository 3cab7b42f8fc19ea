//! Kana's REST API as the simulator serves it: the paths, query parameters and `{success,
//! message, data}` envelope of reference §4 that `src/venue/kana/rest.rs` calls, the `x-api-key`
//! check, records in Kana's human-unit shapes (§4.4), and the write endpoints answering with
//! entry-function payloads naming the simulator's package, in on-chain units (lots, ticks,
//! 6-decimal sub-units) per [`crate::abi`].
//!
//! Decisions: a human size or price off the market's grid is refused (400, message names the
//! parameter), never rounded; `withdrawMultipleMarkets` and `settlePnl` (§4.1.7, §4.1.8,
//! community-documented) return payloads for the simulated package's \[INF\]
//! `withdraw_multiple_markets(amount, market_ids)` and `settle_pnl(market_id)`;
//! `getFundingHistory` and `getDepositAndWithdrawHistory` (record shapes \[UNK\] at Kana) serve
//! the records of [`super::indexer::funding_record_json`] and
//! [`super::indexer::transfer_json`], oldest first for deposits and withdrawals, and for
//! funding in the `order` asked (`asc` / `desc`, default `desc`: newest first, \[INF\]) after
//! `marketId`, then `offset` and `limit`; `getAccountAptBalance` reports the wallet's APT after
//! gas ([`super::GasModel`]); queries by wallet auto-fund it the first time it is seen
//! ([`super::driver::auto_fund`]). Faults (`rest_*`) apply to every call after the key check.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use super::driver::auto_fund;
use super::wire_shape::{Record, WireShape};
use super::{Shared, SimCore};
use crate::exchange::{OrderRecord, PositionRecord, TradeRecord};
use crate::profile_address;
use perpbot_aptos::AccountAddress;
use perpbot_model::{MarketId, MarketSpec, PositionSide, Rounding, Timestamp, VenueOrderId};

#[path = "rest_iso_time.rs"]
mod iso_time;

/// How long a `rest_timeout` fault stalls a call.
pub const STALL: Duration = Duration::from_secs(600);

const GETS: &[&str] = &[
    "/getProfileAddress",
    "/getWalletAccountBalance",
    "/getProfileBalanceSnapshot",
    "/getNetProfileBalance",
    "/getAccountAptBalance",
    "/deposit",
    "/withdrawSpecificMarket",
    "/withdrawSpecifiMarket",
    "/getMarketInfo",
    "/getPerpetualAssetsInfo/allMarkets",
    "/getMarketPrice",
    "/getLastPlacedPrice",
    "/getLastExecutionPrice",
    "/getAllTrades",
    "/placeLimitOrder",
    "/placeMarketOrder",
    "/updateTakeProfit",
    "/updateStopLoss",
    "/addMargin",
    "/collapsePosition",
    "/getOpenOrders",
    "/getOpenOrdersFromContract",
    "/getPositions",
    "/getPositionsFromContract",
    "/getOrderHistory",
    "/getTradeHistory",
    "/getAllOpenOrderIds",
    "/fetchOrderStatusById",
    "/getOrderStatusByOrderId",
    "/getFillsForGivenTimestamp",
    "/getFundingHistory",
    "/getDepositAndWithdrawHistory",
    "/withdrawMultipleMarkets",
    "/settlePnl",
    // The G2 spellings (reference §4.1.3, §4.4; the Python REST page), served beside their
    // G4/G5 twins with the same records.
    "/getTradingAccountBalance",
    "/getOpenOrderIds",
    "/getFills",
];

const POSTS: &[&str] = &[
    "/placeMultipleOrders",
    "/cancelMultipleOrders",
    "/cancelAndPlaceMultipleOrders",
];

/// The REST routes, and the answer to every path no route serves: 404 in the envelope
/// (reference §2.1: errors carry `success: false` and a `message`), not a bare status.
pub fn routes() -> Router<Arc<Shared>> {
    let mut r = Router::new();
    for p in GETS {
        r = r.route(p, get(get_endpoint));
    }
    for p in POSTS {
        r = r.route(p, post(post_endpoint));
    }
    r.fallback(unknown_path)
}

/// Any path no route serves (the Aptos node's `/v1/…` paths included: the whole app has this
/// one fallback).
async fn unknown_path(uri: Uri) -> Response {
    refused(Refused(
        StatusCode::NOT_FOUND,
        format!("no such endpoint {}", uri.path()),
    ))
}

/// A refused request: status and message.
#[derive(Debug)]
struct Refused(StatusCode, String);

type Res<T> = Result<T, Refused>;

fn bad(msg: impl Into<String>) -> Refused {
    Refused(StatusCode::BAD_REQUEST, msg.into())
}

fn envelope(status: StatusCode, success: bool, message: &str, data: Value) -> Response {
    let body = json!({"success": success, "message": message, "data": data});
    (status, axum::Json(body)).into_response()
}

fn refused(r: Refused) -> Response {
    envelope(r.0, false, &r.1, Value::Null)
}

/// Key check and REST faults. `Err` is the response to send instead.
async fn gate(shared: &Shared, headers: &HeaderMap) -> Result<(), Response> {
    enum Fault {
        None,
        TooMany(u64),
        ServerError,
        Stall,
    }
    let fault = {
        let mut core = shared.core();
        let key = headers.get("x-api-key").and_then(|v| v.to_str().ok());
        if key != Some(core.config.api_key.as_str()) {
            return Err(refused(Refused(
                StatusCode::UNAUTHORIZED,
                "Unauthorized: missing or invalid x-api-key".into(),
            )));
        }
        let f = core.config.faults.clone();
        if core.draw(f.rest_429_probability) {
            core.injected.rest_429 += 1;
            Fault::TooMany(f.retry_after_secs)
        } else if core.draw(f.rest_5xx_probability) {
            core.injected.rest_5xx += 1;
            Fault::ServerError
        } else if core.draw(f.rest_timeout_probability) {
            core.injected.rest_timeouts += 1;
            Fault::Stall
        } else {
            Fault::None
        }
    };
    match fault {
        Fault::None => Ok(()),
        Fault::TooMany(secs) => {
            let mut resp = refused(Refused(
                StatusCode::TOO_MANY_REQUESTS,
                "Too many requests".into(),
            ));
            resp.headers_mut()
                .insert("retry-after", HeaderValue::from(secs));
            Err(resp)
        }
        Fault::ServerError => Err(refused(Refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable (injected)".into(),
        ))),
        Fault::Stall => {
            tokio::time::sleep(STALL).await;
            Err(refused(Refused(
                StatusCode::GATEWAY_TIMEOUT,
                "Gateway timeout (injected)".into(),
            )))
        }
    }
}

async fn get_endpoint(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = gate(&shared, &headers).await {
        return r;
    }
    let now = shared.clock.now();
    let result = {
        let mut core = shared.core();
        dispatch_get(&mut core, now, uri.path(), &Params(q))
    };
    shared.flush();
    match result {
        Ok((message, data)) => envelope(StatusCode::OK, true, message, data),
        Err(r) => refused(r),
    }
}

async fn post_endpoint(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = gate(&shared, &headers).await {
        return r;
    }
    let body: HashMap<String, Box<RawValue>> = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => return refused(bad(format!("body is not a JSON object: {e}"))),
    };
    let result = {
        let core = shared.core();
        dispatch_post(&core, uri.path(), &Body(body))
    };
    match result {
        Ok(data) => envelope(StatusCode::OK, true, "payload", data),
        Err(r) => refused(r),
    }
}

// ---------------------------------------------------------------------------------------------
// Parameters
// ---------------------------------------------------------------------------------------------

struct Params(HashMap<String, String>);

impl Params {
    fn opt(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|s| s.trim()).filter(|s| !s.is_empty())
    }

    fn req(&self, name: &str) -> Res<&str> {
        self.opt(name)
            .ok_or_else(|| bad(format!("missing parameter {name}")))
    }

    fn address(&self) -> Res<AccountAddress> {
        self.address_named("userAddress", "address")
    }

    /// The wallet under its G2 name `address` (G1/G2 endpoints, reference §4.4); `userAddress`
    /// is read too, but a missing one is reported as `address`.
    fn g2_address(&self) -> Res<AccountAddress> {
        self.address_named("address", "userAddress")
    }

    fn address_named(&self, name: &str, alias: &str) -> Res<AccountAddress> {
        let (used, text) = match (self.opt(name), self.opt(alias)) {
            (Some(t), _) => (name, t),
            (None, Some(t)) => (alias, t),
            (None, None) => return Err(bad(format!("missing parameter {name}"))),
        };
        AccountAddress::from_hex(text).map_err(|e| bad(format!("{used} {text:?}: {e}")))
    }

    fn decimal(&self, name: &str) -> Res<Decimal> {
        parse_decimal(name, self.req(name)?)
    }

    fn opt_decimal(&self, name: &str) -> Res<Option<Decimal>> {
        self.opt(name).map(|t| parse_decimal(name, t)).transpose()
    }

    fn bool(&self, name: &str) -> Res<bool> {
        match self.req(name)? {
            "true" | "1" => Ok(true),
            "false" | "0" => Ok(false),
            other => Err(bad(format!(
                "{name}: expected true or false, got {other:?}"
            ))),
        }
    }

    fn u64(&self, name: &str) -> Res<u64> {
        let t = self.req(name)?;
        t.parse()
            .map_err(|_| bad(format!("{name}: expected an unsigned integer, got {t:?}")))
    }

    fn u128(&self, name: &str) -> Res<u128> {
        let t = self.req(name)?;
        t.parse()
            .map_err(|_| bad(format!("{name}: expected an unsigned integer, got {t:?}")))
    }

    fn opt_market(&self, core: &SimCore) -> Res<Option<MarketSpec>> {
        if self.opt("marketId").is_none() {
            return Ok(None);
        }
        self.market(core).map(Some)
    }

    fn market(&self, core: &SimCore) -> Res<MarketSpec> {
        let id = MarketId(self.u64("marketId")?);
        spec_of(core, id)
    }
}

fn spec_of(core: &SimCore, id: MarketId) -> Res<MarketSpec> {
    core.exchange
        .spec(id)
        .cloned()
        .ok_or_else(|| bad(format!("marketId: unknown market {id}")))
}

fn parse_decimal(name: &str, text: &str) -> Res<Decimal> {
    let t = text.trim().trim_matches('"');
    Decimal::from_str(t)
        .or_else(|_| Decimal::from_scientific(t))
        .map_err(|_| bad(format!("{name}: not a number: {text:?}")))
}

/// A JSON body of a POST.
struct Body(HashMap<String, Box<RawValue>>);

impl Body {
    fn raw(&self, names: &[&str]) -> Option<&RawValue> {
        names
            .iter()
            .find_map(|n| self.0.get(*n))
            .map(|b| &**b)
            .filter(|r| r.get().trim() != "null")
    }

    fn list(&self, names: &[&str]) -> Res<Vec<Box<RawValue>>> {
        match self.raw(names) {
            None => Ok(Vec::new()),
            Some(r) => serde_json::from_str(r.get())
                .map_err(|e| bad(format!("{}: expected an array ({e})", names.join("/")))),
        }
    }

    fn decimals(&self, names: &[&str]) -> Res<Vec<Decimal>> {
        let name = names.first().copied().unwrap_or("");
        self.list(names)?
            .iter()
            .map(|r| parse_decimal(name, r.get()))
            .collect()
    }

    fn bools(&self, names: &[&str]) -> Res<Vec<bool>> {
        let name = names.first().copied().unwrap_or("");
        self.list(names)?
            .iter()
            .map(|r| match r.get().trim().trim_matches('"') {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                other => Err(bad(format!("{name}: expected a bool, got {other:?}"))),
            })
            .collect()
    }

    fn u128s(&self, names: &[&str]) -> Res<Vec<u128>> {
        let name = names.first().copied().unwrap_or("");
        self.list(names)?
            .iter()
            .map(|r| {
                let t = r.get().trim().trim_matches('"');
                t.parse()
                    .map_err(|_| bad(format!("{name}: not an unsigned integer: {t:?}")))
            })
            .collect()
    }

    fn u64(&self, names: &[&str]) -> Res<u64> {
        let name = names.first().copied().unwrap_or("");
        let r = self
            .raw(names)
            .ok_or_else(|| bad(format!("missing field {name}")))?;
        let t = r.get().trim().trim_matches('"');
        t.parse()
            .map_err(|_| bad(format!("{name}: not an unsigned integer: {t:?}")))
    }

    /// The single restriction: `restriction`, else the first of `restrictions`, else 0.
    fn restriction(&self) -> Res<u8> {
        if self.raw(&["restriction"]).is_some() {
            let n = self.u64(&["restriction"])?;
            return u8::try_from(n).map_err(|_| bad("restriction: out of range"));
        }
        let all = self.decimals(&["restrictions"])?;
        match all.first() {
            None => Ok(0),
            Some(d) => d
                .to_u8()
                .filter(|_| d.fract().is_zero())
                .ok_or_else(|| bad("restrictions: out of range")),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Units
// ---------------------------------------------------------------------------------------------

fn lots(spec: &MarketSpec, name: &str, size: Decimal) -> Res<u64> {
    spec.size_to_lots(size, Rounding::Exact)
        .map(|l| l.0)
        .map_err(|e| bad(format!("{name}: {e}")))
}

fn ticks(spec: &MarketSpec, name: &str, price: Decimal) -> Res<u64> {
    if price.is_zero() {
        return Ok(0);
    }
    spec.price_to_ticks(price, Rounding::Exact)
        .map(|t| t.0)
        .map_err(|e| bad(format!("{name}: {e}")))
}

fn sub_units(core: &SimCore, name: &str, amount: Decimal) -> Res<u64> {
    let decimals = core.exchange.ledger().config().quote_decimals;
    let scaled = amount
        .checked_mul(Decimal::from(10u64.saturating_pow(decimals)))
        .ok_or_else(|| bad(format!("{name}: too large")))?;
    if !scaled.fract().is_zero() || scaled.is_sign_negative() {
        return Err(bad(format!(
            "{name}: {amount} is not a whole number of {decimals}-decimal units"
        )));
    }
    scaled
        .to_u64()
        .ok_or_else(|| bad(format!("{name}: out of range")))
}

fn s(v: impl std::fmt::Display) -> Value {
    Value::String(v.to_string())
}

fn human(d: Decimal) -> Value {
    Value::String(d.normalize().to_string())
}

fn price_number(d: Decimal) -> Value {
    d.to_f64()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

// ---------------------------------------------------------------------------------------------
// Records (reference §3.2, §4.4)
// ---------------------------------------------------------------------------------------------

fn market_record(core: &SimCore, spec: &MarketSpec) -> Value {
    json!({
        "__variant__": "V1",
        "market_id": s(spec.id.0),
        "base_name": spec.name,
        "base_decimals": spec.base_decimals,
        "quote_decimals": spec.quote_decimals,
        "quote_precision": spec.quote_precision,
        "lot_size": s(spec.lot_size),
        "tick_size": s(spec.tick_size),
        "min_lots": s(spec.min_lots),
        "max_lots": s(spec.max_lots),
        "max_leverage": s(spec.max_leverage),
        "maintenance_margin": s(spec.maintenance_margin_bps),
        "market_status": 1,
        "market_address": core.package.to_string(),
        // §3.2: the creator is `creator` from G3 on and `creator_address` in G2 (the
        // getMarketInfo sample of the Python REST page): both names are sent.
        "creator": core.package.to_string(),
        "creator_address": core.package.to_string(),
        "counter": "0",
    })
}

fn secs(t: Timestamp) -> u64 {
    t.as_secs()
}

/// A record in the configured documented shape (the WebSocket pushes take the same).
fn shaped(wire: WireShape, record: Record, mut v: Value) -> Value {
    wire.reshape(record, &mut v);
    v
}

fn open_order_record(spec: &MarketSpec, r: &OrderRecord) -> Value {
    let price = r.price.map_or(Decimal::ZERO, |p| spec.ticks_to_price(p));
    json!({
        "address": r.address.to_string(),
        "market_id": s(r.market.0),
        "leverage": r.leverage,
        "order_type": r.order_type,
        "timestamp": secs(r.timestamp),
        "price": human(price),
        "total_size": human(spec.lots_to_size(r.total_size)),
        "remaining_size": human(spec.lots_to_size(r.remaining_size)),
        "order_value": human(spec.notional_at(r.remaining_size, price)),
        "order_id": s(r.order_id.0),
        "trade_id": r.trade_id.map_or(Value::Null, s),
        "last_updated": secs(r.last_updated),
        "transaction_version": 0,
        "trade_side": r.trade_side == PositionSide::Long,
    })
}

fn order_history_record(spec: &MarketSpec, r: &OrderRecord) -> Value {
    let price = r.price.map_or(Decimal::ZERO, |p| spec.ticks_to_price(p));
    json!({
        "address": r.address.to_string(),
        "market_id": s(r.market.0),
        "leverage": r.leverage,
        "order_type": r.order_type,
        "timestamp": secs(r.timestamp),
        "is_market_order": r.kind == perpbot_model::OrderKind::Market,
        "size": human(spec.lots_to_size(r.total_size)),
        "price": human(price),
        "order_value": human(spec.notional_at(r.total_size, price)),
        "status": r.status.as_str(),
        "order_id": s(r.order_id.0),
        "trade_id": r.trade_id.map_or(Value::Null, s),
        "last_updated": secs(r.last_updated),
        "transaction_version": 0,
        "total_filled": human(spec.lots_to_size(r.filled_size)),
        "remaining_size": human(spec.lots_to_size(r.remaining_size)),
        "total_trade_size": human(spec.lots_to_size(r.total_size)),
        "trade_side": r.trade_side == PositionSide::Long,
    })
}

fn trade_record(spec: &MarketSpec, r: &TradeRecord) -> Value {
    json!({
        "address": r.address.to_string(),
        "market_id": s(r.market.0),
        "leverage": r.leverage,
        "timestamp": secs(r.timestamp),
        "size": human(spec.lots_to_size(r.size)),
        "order_type": r.order_type,
        "price": human(r.price),
        "order_value": human(r.order_value),
        "pnl": human(r.pnl),
        "fee": human(r.fee),
        "trade_id": s(r.trade_id),
        "order_id": s(r.order_id.0),
        "last_updated": secs(r.timestamp),
        "transaction_version": super::indexer::match_id(r),
        "entry_price": Value::Null,
        "trade_side": r.trade_side == PositionSide::Long,
    })
}

fn position_record(spec: &MarketSpec, p: &PositionRecord) -> Value {
    json!({
        "address": p.address.to_string(),
        "market_id": s(p.market.0),
        "leverage": p.leverage,
        "trade_side": p.trade_side == PositionSide::Long,
        "size": human(spec.lots_to_size(p.size)),
        "available_order_size": human(spec.lots_to_size(p.available_order_size)),
        "value": human(p.value),
        "entry_price": human(p.entry_price),
        "liq_price": p.liq_price.map_or(Value::Null, human),
        "margin": human(p.margin),
        "tp": p.tp.map_or(Value::Null, human),
        "sl": p.sl.map_or(Value::Null, human),
        "trade_id": p.trade_id.map_or(Value::Null, s),
        "last_updated": secs(p.last_updated),
        "transaction_version": 0,
    })
}

// ---------------------------------------------------------------------------------------------
// Dispatch
// ---------------------------------------------------------------------------------------------

fn payload(core: &SimCore, function: &str, args: Vec<Value>) -> Value {
    json!({
        "function": format!("{}::{}::{function}", core.package, crate::abi::PERPETUAL_SCRIPTS),
        "typeArguments": [],
        "functionArguments": args,
    })
}

/// The wallet of a query, auto-funded the first time it is seen; and its profile.
fn wallet(core: &mut SimCore, q: &Params, now: Timestamp) -> Res<(AccountAddress, AccountAddress)> {
    Ok(funded(core, q.address()?, now))
}

/// A wallet, auto-funded the first time it is seen; and its profile.
fn funded(
    core: &mut SimCore,
    w: AccountAddress,
    now: Timestamp,
) -> (AccountAddress, AccountAddress) {
    auto_fund(core, w, now);
    (w, profile_address(&w))
}

/// An ISO-8601 time parameter (G2 `getFills`) as Unix seconds.
fn iso_param(q: &Params, name: &str) -> Res<u64> {
    let text = q.req(name)?;
    iso_time::unix_seconds(text).map_err(|e| {
        bad(format!(
            "{name}: expected an ISO-8601 time such as 2024-11-21T00:00:00Z, got {text:?} ({e})"
        ))
    })
}

/// The order-history records of a profile after the G2 paging parameters (reference §4.4, the
/// Python REST page): `order` = `asc` (oldest first) / `desc` (newest first) by placement time
/// (absent: the exchange's own order, oldest first), then `offset` records skipped, then at most
/// `limit`. `default_limit` is the G2 default (10) when the query used the G2 spelling.
fn page_orders<'a>(
    mut records: Vec<&'a OrderRecord>,
    q: &Params,
    default_limit: Option<u64>,
) -> Res<Vec<&'a OrderRecord>> {
    if q.opt("order").is_some() {
        let desc = newest_first(q)?;
        records.sort_by_key(|r| (r.timestamp, r.order_id.0));
        if desc {
            records.reverse();
        }
    }
    let offset = opt_u64(q, "offset")?.unwrap_or(0);
    let limit = opt_u64(q, "limit")?.or(default_limit);
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
    Ok(records.into_iter().skip(skip).take(take).collect())
}

/// `order=asc|desc` of a history query (default `desc`); `true` for newest first.
fn newest_first(q: &Params) -> Res<bool> {
    match q.opt("order") {
        None => Ok(true),
        Some(o) if o.eq_ignore_ascii_case("desc") => Ok(true),
        Some(o) if o.eq_ignore_ascii_case("asc") => Ok(false),
        Some(o) => Err(bad(format!("order: expected asc or desc, got {o:?}"))),
    }
}

fn opt_u64(q: &Params, name: &str) -> Res<Option<u64>> {
    q.opt(name)
        .map(|t| {
            t.parse()
                .map_err(|_| bad(format!("{name}: expected an unsigned integer, got {t:?}")))
        })
        .transpose()
}

fn specs_by_id(core: &SimCore) -> HashMap<MarketId, MarketSpec> {
    core.exchange
        .markets()
        .filter_map(|m| core.exchange.spec(m).cloned().map(|s| (m, s)))
        .collect()
}

fn tp_sl(spec: &MarketSpec, q: &Params, name: &str) -> Res<u64> {
    match q.opt_decimal(name)? {
        None => Ok(0),
        Some(d) => ticks(spec, name, d),
    }
}

#[allow(clippy::too_many_lines)]
fn dispatch_get(
    core: &mut SimCore,
    now: Timestamp,
    path: &str,
    q: &Params,
) -> Res<(&'static str, Value)> {
    match path {
        "/getProfileAddress" => {
            let (_, profile) = wallet(core, q, now)?;
            Ok(("profile address", s(profile)))
        }
        "/getWalletAccountBalance" => {
            let (w, _) = wallet(core, q, now)?;
            let decimals = core.exchange.ledger().config().quote_decimals;
            let held = Decimal::from_i128_with_scale(
                i128::from(core.exchange.wallet_balance(w)),
                decimals,
            );
            Ok(("wallet balance", human(held)))
        }
        "/getProfileBalanceSnapshot" | "/getNetProfileBalance" | "/getTradingAccountBalance" => {
            let (_, profile) = if path == "/getTradingAccountBalance" {
                // G2 (§4.1.3): `address` and `marketId`. The simulator's collateral is one per
                // profile, so the market is only checked to exist [INF].
                let w = q.g2_address()?;
                q.market(core)?;
                funded(core, w, now)
            } else {
                wallet(core, q, now)?
            };
            let available = core
                .exchange
                .balance(profile)
                .map_or(Decimal::ZERO, |b| b.available());
            Ok(("profile balance", human(available)))
        }
        "/getAccountAptBalance" => {
            let w = q.address()?;
            let octas = core.apt_octas(w);
            let apt = Decimal::from(octas) / Decimal::from(super::OCTAS_PER_APT);
            Ok(("apt balance", human(apt)))
        }
        "/withdrawMultipleMarkets" => {
            q.address()?;
            let amount = sub_units(core, "amount", q.decimal("amount")?)?;
            let mut ids = Vec::new();
            for part in q.req("marketIds")?.split(',') {
                let part = part.trim();
                let id: u64 = part.parse().map_err(|_| {
                    bad(format!(
                        "marketIds: expected comma-separated ids, got {part:?}"
                    ))
                })?;
                spec_of(core, MarketId(id))?;
                ids.push(s(id));
            }
            Ok((
                "payload",
                payload(
                    core,
                    "withdraw_multiple_markets",
                    vec![s(amount), Value::Array(ids)],
                ),
            ))
        }
        "/settlePnl" => {
            q.address()?;
            let spec = q.market(core)?;
            Ok(("payload", payload(core, "settle_pnl", vec![s(spec.id.0)])))
        }
        "/getDepositAndWithdrawHistory" => {
            let (_, profile) = wallet(core, q, now)?;
            let out: Vec<Value> = core
                .exchange
                .transfers(profile)
                .map(super::indexer::transfer_json)
                .collect();
            Ok(("deposit and withdraw history", Value::Array(out)))
        }
        "/getFundingHistory" => {
            let (_, profile) = wallet(core, q, now)?;
            let market = q.opt_market(core)?.map(|m| m.id);
            let desc = newest_first(q)?;
            let offset = opt_u64(q, "offset")?.unwrap_or(0);
            let limit = opt_u64(q, "limit")?;
            let specs = specs_by_id(core);
            let mut records: Vec<Value> = core
                .exchange
                .funding_history(profile)
                .filter(|f| market.is_none_or(|m| m == f.market))
                .filter_map(|f| {
                    specs
                        .get(&f.market)
                        .map(|sp| super::indexer::funding_record_json(sp, f))
                })
                .collect();
            if desc {
                records.reverse();
            }
            let skip = usize::try_from(offset).unwrap_or(usize::MAX);
            let take = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
            let out: Vec<Value> = records.into_iter().skip(skip).take(take).collect();
            Ok(("funding history", Value::Array(out)))
        }
        "/deposit" => {
            let w = q.address()?;
            let amount = sub_units(core, "amount", q.decimal("amount")?)?;
            Ok(("payload", payload(core, "deposit", vec![s(w), s(amount)])))
        }
        "/withdrawSpecificMarket" | "/withdrawSpecifiMarket" => {
            q.address()?;
            let spec = q.market(core)?;
            let amount = sub_units(core, "amount", q.decimal("amount")?)?;
            Ok((
                "payload",
                payload(core, "withdraw", vec![s(spec.id.0), s(amount)]),
            ))
        }
        "/getMarketInfo" => {
            let spec = q.market(core)?;
            Ok(("market info", json!([market_record(core, &spec)])))
        }
        "/getPerpetualAssetsInfo/allMarkets" => {
            let all: Vec<Value> = core
                .exchange
                .markets()
                .filter_map(|m| core.exchange.spec(m))
                .map(|spec| market_record(core, spec))
                .collect();
            Ok(("all markets", Value::Array(all)))
        }
        "/getMarketPrice" => {
            let spec = q.market(core)?;
            let book = core.exchange.book(spec.id);
            let bid = book.and_then(|b| b.best_bid());
            let ask = book.and_then(|b| b.best_ask());
            let px = |l: Option<perpbot_model::Level>| {
                l.map_or(Value::Null, |l| price_number(spec.ticks_to_price(l.price)))
            };
            Ok((
                "market price",
                json!({"marketId": s(spec.id.0), "bestBidPrice": px(bid), "bestAskPrice": px(ask)}),
            ))
        }
        "/getLastPlacedPrice" | "/getLastExecutionPrice" => {
            let spec = q.market(core)?;
            let last = core.exchange.market_trades(spec.id).last().map(|t| t.price);
            Ok(("last price", last.map_or(Value::Null, price_number)))
        }
        "/getAllTrades" => {
            let spec = q.market(core)?;
            let all: Vec<&TradeRecord> = core.exchange.market_trades(spec.id).collect();
            let wire = core.config.wire;
            let trades: Vec<Value> = all
                .iter()
                .rev()
                .take(100)
                .map(|t| shaped(wire, Record::Fill, trade_record(&spec, t)))
                .collect();
            Ok(("all trades", Value::Array(trades)))
        }
        "/placeLimitOrder" => {
            let spec = q.market(core)?;
            let args = vec![
                s(spec.id.0),
                Value::Bool(q.bool("tradeSide")?),
                Value::Bool(q.bool("direction")?),
                s(lots(&spec, "size", q.decimal("size")?)?),
                s(ticks(&spec, "price", q.decimal("price")?)?),
                s(q.u64("leverage")?),
                json!(restriction(q)?),
                s(tp_sl(&spec, q, "takeProfit")?),
                s(tp_sl(&spec, q, "stopLoss")?),
            ];
            Ok(("payload", payload(core, "place_limit_order", args)))
        }
        "/placeMarketOrder" => {
            let spec = q.market(core)?;
            let args = vec![
                s(spec.id.0),
                Value::Bool(q.bool("tradeSide")?),
                Value::Bool(q.bool("direction")?),
                s(lots(&spec, "size", q.decimal("size")?)?),
                s(q.u64("leverage")?),
                s(tp_sl(&spec, q, "takeProfit")?),
                s(tp_sl(&spec, q, "stopLoss")?),
            ];
            Ok(("payload", payload(core, "place_market_order", args)))
        }
        "/updateTakeProfit" | "/updateStopLoss" => {
            let spec = q.market(core)?;
            let (name, function) = if path == "/updateTakeProfit" {
                ("newTakeProfitPrice", "update_take_profit")
            } else {
                ("newStopLossPrice", "update_stop_loss")
            };
            let args = vec![
                s(spec.id.0),
                Value::Bool(q.bool("tradeSide")?),
                s(ticks(&spec, name, q.decimal(name)?)?),
            ];
            Ok(("payload", payload(core, function, args)))
        }
        "/addMargin" => {
            let spec = q.market(core)?;
            let args = vec![
                s(spec.id.0),
                Value::Bool(q.bool("tradeSide")?),
                s(sub_units(core, "amount", q.decimal("amount")?)?),
            ];
            Ok(("payload", payload(core, "add_margin", args)))
        }
        "/collapsePosition" => {
            let spec = q.market(core)?;
            Ok((
                "payload",
                payload(core, "collapse_position", vec![s(spec.id.0)]),
            ))
        }
        "/getOpenOrders" | "/getOpenOrdersFromContract" => {
            let (_, profile) = wallet(core, q, now)?;
            let market = q.opt_market(core)?.map(|m| m.id);
            let specs = specs_by_id(core);
            let out: Vec<Value> = core
                .exchange
                .open_orders(profile, market)
                .iter()
                .filter_map(|r| {
                    let v = open_order_record(specs.get(&r.market)?, r);
                    Some(super::indexer::with_trade_id(&core.exchange, r, v))
                })
                .map(|v| shaped(core.config.wire, Record::Order, v))
                .collect();
            Ok(("open orders", Value::Array(out)))
        }
        "/getPositions" | "/getPositionsFromContract" => {
            let (_, profile) = wallet(core, q, now)?;
            let market = q.opt_market(core)?.map(|m| m.id);
            let specs = specs_by_id(core);
            let out: Vec<Value> = core
                .exchange
                .positions(profile)
                .iter()
                .filter(|p| market.is_none_or(|m| m == p.market))
                .filter_map(|p| specs.get(&p.market).map(|sp| position_record(sp, p)))
                .map(|v| shaped(core.config.wire, Record::Position, v))
                .collect();
            Ok(("positions", Value::Array(out)))
        }
        "/getOrderHistory" => {
            // G5: `userAddress`, `marketId?`; G2: `address`, `marketId` (required), `offset`
            // (0), `limit` (10), `order` (asc/desc) — the G2 defaults apply to the G2 spelling.
            let g2 = q.opt("userAddress").is_none() && q.opt("address").is_some();
            let (_, profile) = wallet(core, q, now)?;
            let market = if g2 {
                Some(q.market(core)?.id)
            } else {
                q.opt_market(core)?.map(|m| m.id)
            };
            let specs = specs_by_id(core);
            let mine: Vec<&OrderRecord> = core
                .exchange
                .order_history(profile)
                .into_iter()
                .filter(|r| market.is_none_or(|m| m == r.market))
                .collect();
            let out: Vec<Value> = page_orders(mine, q, g2.then_some(10))?
                .into_iter()
                .filter_map(|r| {
                    let v = order_history_record(specs.get(&r.market)?, r);
                    Some(super::indexer::with_trade_id(&core.exchange, r, v))
                })
                .map(|v| shaped(core.config.wire, Record::Order, v))
                .collect();
            Ok(("order history", Value::Array(out)))
        }
        "/getTradeHistory" | "/getFillsForGivenTimestamp" => {
            let (_, profile) = wallet(core, q, now)?;
            let market = q.opt_market(core)?.map(|m| m.id);
            let range = if path == "/getFillsForGivenTimestamp" {
                Some((q.u64("fromTimestamp")?, q.u64("toTimestamp")?))
            } else {
                None
            };
            let specs = specs_by_id(core);
            let out: Vec<Value> = core
                .exchange
                .trades(profile)
                .filter(|t| market.is_none_or(|m| m == t.market))
                .filter(|t| {
                    range.is_none_or(|(from, to)| (from..=to).contains(&t.timestamp.as_secs()))
                })
                .filter_map(|t| specs.get(&t.market).map(|sp| trade_record(sp, t)))
                .map(|v| shaped(core.config.wire, Record::Fill, v))
                .collect();
            Ok(("trade history", Value::Array(out)))
        }
        "/getFills" => {
            // G2 (§4.4, the Python REST page): `marketId`, `from` / `to` as ISO-8601 times
            // (inclusive, like `getFillsForGivenTimestamp`), optional `address` (the wallet, as
            // in G2's `getOrderHistory`; absent: every party's fills of the market) and
            // `orderId`. The page marks `orderId` required but describes it with another
            // endpoint's words ("the order to retrieve its status"): optional here [INF].
            let spec = q.market(core)?;
            let from = iso_param(q, "from")?;
            let to = iso_param(q, "to")?;
            if from > to {
                return Err(bad(format!("from: {from} is after to ({to})")));
            }
            let order = match q.opt("orderId") {
                Some(_) => Some(q.u128("orderId")?),
                None => None,
            };
            let profile = match q.opt("address") {
                Some(_) => Some(funded(core, q.g2_address()?, now).1),
                None => None,
            };
            let fills: Vec<&TradeRecord> = match profile {
                Some(p) => core.exchange.trades(p).collect(),
                None => core.exchange.market_trades(spec.id).collect(),
            };
            let out: Vec<Value> = fills
                .into_iter()
                .filter(|t| t.market == spec.id)
                .filter(|t| (from..=to).contains(&t.timestamp.as_secs()))
                .filter(|t| order.is_none_or(|o| o == t.order_id.0))
                .map(|t| shaped(core.config.wire, Record::Fill, trade_record(&spec, t)))
                .collect();
            Ok(("fills", Value::Array(out)))
        }
        "/getAllOpenOrderIds" | "/getOpenOrderIds" => {
            let (_, profile) = if path == "/getOpenOrderIds" {
                // G2 (§4.4): `address`, `marketId`.
                let w = q.g2_address()?;
                funded(core, w, now)
            } else {
                wallet(core, q, now)?
            };
            let spec = q.market(core)?;
            let ids: Vec<Value> = core
                .exchange
                .open_orders(profile, Some(spec.id))
                .iter()
                .map(|r| s(r.order_id.0))
                .collect();
            Ok(("open order ids", Value::Array(ids)))
        }
        "/fetchOrderStatusById" | "/getOrderStatusByOrderId" => {
            let spec = q.market(core)?;
            let id = VenueOrderId(q.u128("orderId")?);
            let record = core.exchange.order(spec.id, id).map(|r| {
                let mut r = r.clone();
                if let Some(live) = core
                    .exchange
                    .book(spec.id)
                    .and_then(|b| b.order(id))
                    .map(|o| o.lots)
                {
                    r.remaining_size = live;
                }
                let v = order_history_record(&spec, &r);
                shaped(
                    core.config.wire,
                    Record::Order,
                    super::indexer::with_trade_id(&core.exchange, &r, v),
                )
            });
            Ok((
                "order status",
                record.map_or(Value::Null, |r| Value::Array(vec![r])),
            ))
        }
        other => Err(Refused(
            StatusCode::NOT_FOUND,
            format!("no such endpoint {other}"),
        )),
    }
}

fn restriction(q: &Params) -> Res<u8> {
    match q.opt("restriction") {
        None => Ok(0),
        Some(t) => t
            .parse()
            .map_err(|_| bad(format!("restriction: expected 0..=3, got {t:?}"))),
    }
}

/// The order vectors of a batch body: (order_types, trade_sides, directions, sizes, prices,
/// leverages, restriction, take_profits, stop_losses) in on-chain units.
fn batch_args(spec: &MarketSpec, b: &Body, sides_names: &[&str]) -> Res<Vec<Value>> {
    let order_types = b.bools(&["orderTypes"])?;
    let trade_sides = b.bools(sides_names)?;
    let directions = b.bools(&["directions"])?;
    let sizes = b
        .decimals(&["sizes"])?
        .into_iter()
        .map(|d| lots(spec, "sizes", d).map(s))
        .collect::<Res<Vec<Value>>>()?;
    let prices = b
        .decimals(&["prices"])?
        .into_iter()
        .map(|d| ticks(spec, "prices", d).map(s))
        .collect::<Res<Vec<Value>>>()?;
    let leverages = b
        .decimals(&["leverages"])?
        .into_iter()
        .map(|d| {
            d.to_u64()
                .filter(|_| d.fract().is_zero())
                .map(s)
                .ok_or_else(|| bad(format!("leverages: {d} is not a whole number")))
        })
        .collect::<Res<Vec<Value>>>()?;
    let tps = b
        .decimals(&["takeProfits"])?
        .into_iter()
        .map(|d| ticks(spec, "takeProfits", d).map(s))
        .collect::<Res<Vec<Value>>>()?;
    let sls = b
        .decimals(&["stopLosses"])?
        .into_iter()
        .map(|d| ticks(spec, "stopLosses", d).map(s))
        .collect::<Res<Vec<Value>>>()?;
    Ok(vec![
        json!(order_types),
        json!(trade_sides),
        json!(directions),
        Value::Array(sizes),
        Value::Array(prices),
        Value::Array(leverages),
        json!(b.restriction()?),
        Value::Array(tps),
        Value::Array(sls),
    ])
}

fn cancel_args(b: &Body) -> Res<Vec<Value>> {
    let ids = b.u128s(&["orderIds", "cancelOrderIds"])?;
    let sides = b.bools(&["cancelTradeSides", "orderSides"])?;
    if ids.len() != sides.len() {
        return Err(bad(format!(
            "orderIds has {} entries but cancelTradeSides has {}",
            ids.len(),
            sides.len()
        )));
    }
    Ok(vec![
        Value::Array(ids.into_iter().map(s).collect()),
        json!(sides),
    ])
}

fn dispatch_post(core: &SimCore, path: &str, b: &Body) -> Res<Value> {
    let spec = spec_of(core, MarketId(b.u64(&["marketId"])?))?;
    let market = s(spec.id.0);
    match path {
        "/placeMultipleOrders" => {
            let mut args = vec![market];
            args.extend(batch_args(&spec, b, &["tradeSides"])?);
            Ok(payload(core, "place_multiple_orders", args))
        }
        "/cancelMultipleOrders" => {
            let mut args = vec![market];
            args.extend(cancel_args(b)?);
            Ok(payload(core, "cancel_multiple_orders", args))
        }
        "/cancelAndPlaceMultipleOrders" => {
            let mut args = vec![market];
            args.extend(cancel_args(b)?);
            args.extend(batch_args(&spec, b, &["orderTradeSides", "tradeSides"])?);
            Ok(payload(core, "cancel_and_place_multiple_orders", args))
        }
        other => Err(Refused(
            StatusCode::NOT_FOUND,
            format!("no such endpoint {other}"),
        )),
    }
}
