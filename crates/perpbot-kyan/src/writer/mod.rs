//! [`KyanWriter`]: perpbot's requests as Kyan's signed REST calls.
//!
//! - `Orders{cancel, place}` → `DELETE /orders` (when there are cancels), then `POST /limit` for
//!   the limit orders (one market, our maker, `post_only` from [`Restriction::PostOnly`], `mmp`
//!   from config) and `POST /market` for market-kind orders (limit price = the order's price,
//!   or the index ± `close_slippage_bps`). Kyan has no IOC/FOK flag on limits, no TP/SL and no
//!   reduce-only: such orders are refused here with that reason.
//! - A timeout or 5xx is **ambiguous**; [`VenueWriter::resolve`] reads `GET /orders` and never
//!   resends.
//! - `ClosePosition` → `POST /market` opposite to the position, sized to it.
//! - While the pair's market-maker protection is frozen (`mmp_triggered`), places with
//!   `mmp:true` are refused locally.
//! - The heartbeat ([`heartbeat`]) keeps Kyan's cancel-all-after timer armed only while the
//!   engine calls [`VenueWriter::engine_alive`].

pub mod heartbeat;
mod pairing;

#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;
use serde_json::Value;
use tokio::task::JoinHandle;
use tracing::warn;

use perpbot_core::venue::{
    RefusalKind, RequestContext, RequestOutcome, VenueCapabilities, VenueRequest, VenueWriter,
};
use perpbot_model::clock::Clock;
use perpbot_model::{
    ClientOrderId, MarketId, OrderKind, OrderRequest, PositionSide, Restriction, Rounding, Side,
    VenueOrderId,
};

use crate::decode::MarketEntry;
use crate::decode::num::{dec_any, hex_id, str_at};
use crate::errors::KyanError;
use crate::rest::{KyanApi, LimitOrder, MarketOrder, RestError};
use crate::state::SharedState;
use pairing::{pair_answer, same_order};

/// Ambiguity tokens: which step of an `Orders` request was left unknown. After an ambiguous
/// cancel the places were not sent; after an ambiguous place the cancels had been done.
const TOKEN_CANCEL: &str = "orders";
const TOKEN_PLACE: &str = "limit";
const TOKEN_MARKET: &str = "market";

/// The step of a token (`limit@1700000000` → `limit`) and the Unix second it was sent.
fn token_parts(token: Option<&str>) -> (Option<&str>, Option<u64>) {
    match token.map(|t| t.split_once('@')) {
        Some(Some((step, secs))) => (Some(step), secs.parse().ok()),
        Some(None) => (token, None),
        None => (None, None),
    }
}

/// Resting orders created this long before an ambiguous place was sent still count as
/// possibly its own (clock differences, second resolution).
const CREATED_SLACK_SECS: u64 = 5;

/// Writer settings (from [`crate::KyanConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriterConfig {
    /// Most orders per `POST /limit`.
    pub max_batch: usize,
    /// The `mmp` flag on limit orders.
    pub mmp: bool,
    /// Slippage allowed on a market order without a price, around the index (bps).
    pub close_slippage_bps: u32,
    /// Kyan's cancel-all-after timer (s); 0 = no heartbeat.
    pub heartbeat_timeout_secs: u64,
    /// Heartbeat period.
    pub heartbeat_interval: Duration,
    /// The engine counts as alive this long after its last `engine_alive`.
    pub alive_window: Duration,
}

impl Default for WriterConfig {
    fn default() -> Self {
        WriterConfig {
            max_batch: 10,
            mmp: false,
            close_slippage_bps: 100,
            heartbeat_timeout_secs: 15,
            heartbeat_interval: Duration::from_secs(5),
            alive_window: Duration::from_secs(2),
        }
    }
}

/// The writing half of the Kyan venue.
pub struct KyanWriter {
    api: Arc<KyanApi>,
    markets: Vec<MarketEntry>,
    shared: Arc<SharedState>,
    config: WriterConfig,
    clock: Clock,
    /// Last `engine_alive`, clock nanoseconds (0 = never).
    alive: Arc<AtomicU64>,
    heartbeat: Option<JoinHandle<()>>,
    /// Venue ids this writer has reported as placed (the latest [`CLAIMED_KEPT`]): resolving
    /// an ambiguous place never hands one of them to another order. Kyan has no client order
    /// ids, so a requote at the same price and size is otherwise indistinguishable.
    claimed: std::sync::Mutex<crate::decode::dedupe::BoundedSet<u128>>,
}

/// Venue ids remembered as claimed (far more than a bot ever has resting).
const CLAIMED_KEPT: usize = 50_000;

impl Drop for KyanWriter {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
    }
}

fn refusal(e: &RestError) -> RequestOutcome {
    match e {
        RestError::Http(k) => RequestOutcome::Rejected {
            reason: k.to_string(),
            kind: k.kind(),
        },
        RestError::Throttled(why) => RequestOutcome::Rejected {
            reason: why.clone(),
            kind: RefusalKind::RateLimited,
        },
        other => RequestOutcome::rejected(other.to_string()),
    }
}

fn kind_of_code(code: &str) -> RefusalKind {
    KyanError {
        status: 400,
        code: code.to_string(),
        message: String::new(),
        server_time: None,
    }
    .kind()
}

/// One place, ready to send.
#[derive(Debug, Clone)]
struct Ready {
    pub(super) client_id: ClientOrderId,
    pub(super) order: LimitOrder,
}

impl KyanWriter {
    /// A writer over `api` for these markets. Call [`KyanWriter::start_heartbeat`] to arm the
    /// venue's dead-man's switch.
    pub fn new(
        api: Arc<KyanApi>,
        markets: Vec<MarketEntry>,
        shared: Arc<SharedState>,
        config: WriterConfig,
        clock: Clock,
    ) -> KyanWriter {
        KyanWriter {
            api,
            markets,
            shared,
            config,
            clock,
            alive: Arc::new(AtomicU64::new(0)),
            heartbeat: None,
            claimed: std::sync::Mutex::new(crate::decode::dedupe::BoundedSet::new(CLAIMED_KEPT)),
        }
    }

    /// Start the heartbeat task (none when `heartbeat_timeout_secs` is 0).
    pub fn start_heartbeat(&mut self) {
        if self.config.heartbeat_timeout_secs == 0 || self.heartbeat.is_some() {
            return;
        }
        self.heartbeat = Some(heartbeat::spawn(
            Arc::clone(&self.api),
            Arc::clone(&self.alive),
            self.clock,
            self.config.clone(),
        ));
    }

    fn entry(&self, market: MarketId) -> Option<&MarketEntry> {
        self.markets.iter().find(|m| m.market == market)
    }

    /// The index price of a pair: from the streams, else `GET /index_price`.
    async fn index(&self, pair: &str) -> Option<Decimal> {
        if let Some(v) = self.shared.index(pair) {
            return Some(v);
        }
        match self.api.rest.index_price(pair).await {
            Ok(v) => dec_any(&v, &["value", "price", "index_price"]),
            Err(e) => {
                warn!(pair, error = %e, "Kyan index price unavailable");
                None
            }
        }
    }

    /// The limit of a market order without a price: index ∓ slippage, rounded onto the grid
    /// away from the index (a buy may pay up to the limit, a sell receive down to it).
    async fn slippage_limit(&self, entry: &MarketEntry, side: Side) -> Result<Decimal, String> {
        let index = self
            .index(&entry.pair)
            .await
            .ok_or_else(|| format!("no index price for {} to limit a market order", entry.pair))?;
        let bps = Decimal::from(self.config.close_slippage_bps) / Decimal::from(10_000);
        let (raw, rounding) = match side {
            Side::Buy => (index * (Decimal::ONE + bps), Rounding::Up),
            Side::Sell => (index * (Decimal::ONE - bps), Rounding::Down),
        };
        let ticks = entry
            .spec
            .price_to_ticks(raw, rounding)
            .map_err(|e| e.to_string())?;
        Ok(entry.price(ticks))
    }

    fn now_ms(&self) -> u64 {
        self.clock.now().as_millis()
    }

    /// Check one limit place against what Kyan can do; the limit order on success.
    fn limit_of(&self, entry: &MarketEntry, r: &OrderRequest) -> Result<LimitOrder, String> {
        let o = &r.order;
        if o.take_profit.is_some() || o.stop_loss.is_some() {
            return Err("Kyan has no take-profit/stop-loss orders".into());
        }
        if o.restriction == Restriction::FillOrAbort {
            return Err("Kyan limit orders have no fill-or-abort / IOC flag".into());
        }
        let Some(price) = o.price else {
            return Err("a limit order needs a price".into());
        };
        if o.lots.is_zero() {
            return Err("zero size".into());
        }
        if self.config.mmp
            && let Some(until) = self.shared.frozen_until(&entry.pair, self.now_ms())
        {
            return Err(format!(
                "Kyan market-maker protection froze {} until {until} ms: mmp orders are refused",
                entry.pair
            ));
        }
        let (contracts, price) = (entry.size(o.lots), entry.price(price));
        if self.api.size_field() == crate::config::SizeField::Amount
            && !(contracts * price).fract().is_zero()
        {
            return Err(format!(
                "notional {} (= {contracts} × {price}) is off Kyan's $1 amount grid",
                contracts * price
            ));
        }
        Ok(LimitOrder {
            instrument: entry.instrument.clone(),
            side: o.side,
            contracts,
            price,
            post_only: o.restriction == Restriction::PostOnly,
            mmp: self.config.mmp,
        })
    }

    /// `DELETE /orders`. `Ok(gone)`: the orders no longer rest, `gone` when some were not
    /// found (filled or cancelled before: the replacement they were part of is stale).
    async fn cancel(&self, ids: &[u128]) -> Result<bool, RequestOutcome> {
        match self.api.cancel_orders(ids).await {
            Ok(v) => {
                let not_found_reason = |r: &&Value| str_at(r, "reason") == Some("ORDER_NOT_FOUND");
                let list = v.get("rejected_cancellations").and_then(Value::as_array);
                let refused: Vec<String> = list
                    .into_iter()
                    .flatten()
                    .filter(|r| !not_found_reason(r))
                    .map(|r| {
                        format!(
                            "{}: {}",
                            str_at(r, "order_id").unwrap_or("?"),
                            str_at(r, "reason").unwrap_or("refused")
                        )
                    })
                    .collect();
                if !refused.is_empty() {
                    return Err(RequestOutcome::rejected(format!(
                        "Kyan refused cancels: {}",
                        refused.join(", ")
                    )));
                }
                // [S] `orders_not_found`: a list of ids or a count.
                let not_found = match v.get("orders_not_found") {
                    Some(Value::Array(a)) => !a.is_empty(),
                    Some(n) => crate::decode::num::uint(n).is_some_and(|n| n > 0),
                    None => false,
                };
                Ok(not_found || list.into_iter().flatten().any(|r| not_found_reason(&r)))
            }
            Err(e) if e.is_ambiguous() => Err(RequestOutcome::Ambiguous {
                reason: format!("DELETE /orders: {e}"),
                token: Some(TOKEN_CANCEL.into()),
            }),
            // The whole cancel refused as unknown: the executor's race handling takes it (the
            // order filled or was gone; nothing is placed on a stale view).
            Err(e) => Err(refusal(&e)),
        }
    }

    async fn place_limits(
        &self,
        ready: &[Ready],
    ) -> Result<
        (
            Vec<(ClientOrderId, Option<VenueOrderId>)>,
            Vec<(ClientOrderId, String)>,
        ),
        RequestOutcome,
    > {
        let mut placed = Vec::new();
        let mut rejected = Vec::new();
        for chunk in ready.chunks(self.config.max_batch.max(1)) {
            let orders: Vec<LimitOrder> = chunk.iter().map(|r| r.order.clone()).collect();
            match self.api.post_limit(&orders).await {
                Ok(v) => {
                    let (p, r) =
                        pair_answer(chunk, &v).map_err(|reason| RequestOutcome::Ambiguous {
                            reason,
                            token: Some(format!("{TOKEN_PLACE}@{}", self.clock.now().as_secs())),
                        })?;
                    placed.extend(p);
                    rejected.extend(r);
                }
                Err(e) if e.is_ambiguous() => {
                    return Err(RequestOutcome::Ambiguous {
                        reason: format!("POST /limit: {e}"),
                        token: Some(format!("{TOKEN_PLACE}@{}", self.clock.now().as_secs())),
                    });
                }
                Err(e) if placed.is_empty() && rejected.is_empty() => return Err(refusal(&e)),
                Err(e) => rejected.extend(chunk.iter().map(|r| (r.client_id, e.to_string()))),
            }
        }
        Ok((placed, rejected))
    }

    async fn market(&self, order: MarketOrder) -> Result<Option<VenueOrderId>, RequestOutcome> {
        match self.api.post_market(&order).await {
            Ok(v) => {
                let filled =
                    dec_any(&v, &["filled_contracts", "contracts"]).unwrap_or(Decimal::ZERO);
                if str_at(&v, "order_state") == Some("cancelled") && filled.is_zero() {
                    return Err(RequestOutcome::rejected(format!(
                        "market order on {} found no liquidity within {}",
                        order.instrument, order.limit_price
                    )));
                }
                Ok(str_at(&v, "trade_id").and_then(hex_id).map(VenueOrderId))
            }
            Err(e) if e.is_ambiguous() => Err(RequestOutcome::Ambiguous {
                reason: format!("POST /market: {e}"),
                token: Some(TOKEN_MARKET.into()),
            }),
            Err(e) => Err(refusal(&e)),
        }
    }

    async fn orders(
        &self,
        market: MarketId,
        cancel: &[perpbot_core::venue::CancelOrder],
        place: &[OrderRequest],
    ) -> RequestOutcome {
        let Some(entry) = self.entry(market).cloned() else {
            return RequestOutcome::rejected(format!("market {market} is not configured for Kyan"));
        };
        // Checks first: nothing leaves for a request with an order Kyan cannot take.
        let mut ready = Vec::new();
        let mut markets = Vec::new();
        let mut rejected = Vec::new();
        for r in place {
            if r.order.market != market {
                rejected.push((
                    r.client_id,
                    format!(
                        "order for market {} in a request for {market}",
                        r.order.market
                    ),
                ));
                continue;
            }
            match r.order.kind {
                OrderKind::Limit => match self.limit_of(&entry, r) {
                    Ok(order) => ready.push(Ready {
                        client_id: r.client_id,
                        order,
                    }),
                    Err(why) => rejected.push((r.client_id, why)),
                },
                OrderKind::Market => {
                    if r.order.take_profit.is_some() || r.order.stop_loss.is_some() {
                        rejected.push((
                            r.client_id,
                            "Kyan has no take-profit/stop-loss orders".into(),
                        ));
                    } else {
                        markets.push(r);
                    }
                }
            }
        }
        if !cancel.is_empty() {
            let mut ids = Vec::new();
            for c in cancel {
                match c.venue_id {
                    Some(id) => ids.push(id.0),
                    None => {
                        return RequestOutcome::rejected(format!(
                            "cancel of {} without a Kyan order id",
                            c.client_id
                        ));
                    }
                }
            }
            match self.cancel(&ids).await {
                Err(outcome) => return outcome,
                // An order this request replaced was gone (filled, most likely): the places
                // were decided on a stale view and are not sent; the cancels did their job.
                Ok(true) if !place.is_empty() => {
                    let why = "not sent: an order this request replaced was no longer on Kyan (filled or cancelled)";
                    return outcome_of(
                        Vec::new(),
                        place
                            .iter()
                            .map(|r| (r.client_id, why.to_string()))
                            .collect(),
                        true,
                    );
                }
                Ok(_) => {}
            }
        }
        let mut placed = Vec::new();
        if !ready.is_empty() {
            match self.place_limits(&ready).await {
                Ok((p, r)) => {
                    placed.extend(p);
                    rejected.extend(r);
                }
                Err(outcome) => return outcome,
            }
        }
        for r in markets {
            let limit = match r.order.price {
                Some(t) => entry.price(t),
                None => match self.slippage_limit(&entry, r.order.side).await {
                    Ok(p) => p,
                    Err(why) => {
                        rejected.push((r.client_id, why));
                        continue;
                    }
                },
            };
            let order = MarketOrder {
                instrument: entry.instrument.clone(),
                side: r.order.side,
                contracts: entry.size(r.order.lots),
                limit_price: limit,
            };
            match self.market(order).await {
                Ok(id) => placed.push((r.client_id, id)),
                Err(RequestOutcome::Rejected { reason, .. }) => {
                    rejected.push((r.client_id, reason))
                }
                Err(other) => return other,
            }
        }
        outcome_of(placed, rejected, !cancel.is_empty())
    }

    async fn close(
        &self,
        market: MarketId,
        position: PositionSide,
        lots: perpbot_model::Lots,
    ) -> RequestOutcome {
        let Some(entry) = self.entry(market).cloned() else {
            return RequestOutcome::rejected(format!("market {market} is not configured for Kyan"));
        };
        if lots.is_zero() {
            return RequestOutcome::Accepted { placed: Vec::new() };
        }
        let side = match position {
            PositionSide::Long => Side::Sell,
            PositionSide::Short => Side::Buy,
        };
        let limit = match self.slippage_limit(&entry, side).await {
            Ok(p) => p,
            Err(why) => return RequestOutcome::rejected(why),
        };
        let order = MarketOrder {
            instrument: entry.instrument.clone(),
            side,
            contracts: entry.size(lots),
            limit_price: limit,
        };
        match self.market(order).await {
            Ok(_) => RequestOutcome::Accepted { placed: Vec::new() },
            Err(o) => o,
        }
    }
}

/// Outcome from what was placed and refused. With cancels done, a request whose places were
/// all refused is `Partial` (the cancels took effect), not `Rejected`.
fn outcome_of(
    placed: Vec<(ClientOrderId, Option<VenueOrderId>)>,
    rejected: Vec<(ClientOrderId, String)>,
    cancelled: bool,
) -> RequestOutcome {
    if rejected.is_empty() {
        return RequestOutcome::Accepted { placed };
    }
    if placed.is_empty() && !cancelled {
        let reason = rejected
            .iter()
            .map(|(c, r)| format!("{c}: {r}"))
            .collect::<Vec<_>>()
            .join("; ");
        let kind = rejected
            .first()
            .map(|(_, r)| kind_of_code(r.split(':').next().unwrap_or("").trim()))
            .unwrap_or_default();
        return RequestOutcome::Rejected { reason, kind };
    }
    RequestOutcome::Partial { placed, rejected }
}

#[async_trait]
impl VenueWriter for KyanWriter {
    fn capabilities(&self) -> VenueCapabilities {
        VenueCapabilities {
            atomic_replace: false,
            max_batch: self.config.max_batch,
            client_order_ids: false,
            one_restriction_per_batch: false,
            position_triggers: false,
            closing_orders: false,
            net_positions: true,
        }
    }

    async fn execute(&self, request: VenueRequest, _ctx: &RequestContext) -> RequestOutcome {
        let outcome = match request {
            VenueRequest::Orders {
                market,
                cancel,
                place,
            } => self.orders(market, &cancel, &place).await,
            VenueRequest::SetTakeProfit { .. } | VenueRequest::SetStopLoss { .. } => {
                RequestOutcome::rejected("Kyan has no take-profit/stop-loss orders")
            }
            VenueRequest::ClosePosition {
                market,
                position,
                lots,
                ..
            } => self.close(market, position, lots).await,
        };
        self.remember(&outcome);
        outcome
    }

    async fn resolve(&self, request: &VenueRequest, token: Option<&str>) -> RequestOutcome {
        let outcome = self.resolve_orders(request, token).await;
        self.remember(&outcome);
        outcome
    }

    fn engine_alive(&self) {
        self.alive
            .store(self.clock.now().0.max(1), Ordering::Relaxed);
    }
}

impl KyanWriter {
    /// Note the venue ids an outcome reports as placed.
    fn remember(&self, outcome: &RequestOutcome) {
        let placed = match outcome {
            RequestOutcome::Accepted { placed } | RequestOutcome::Partial { placed, .. } => placed,
            _ => return,
        };
        let mut claimed = self
            .claimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for id in placed.iter().filter_map(|(_, v)| *v) {
            claimed.insert(id.0);
        }
    }

    /// Whether a venue id was already reported as placed.
    fn is_claimed(&self, id: u128) -> bool {
        self.claimed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .contains(&id)
    }

    /// How an ambiguous request ended, read from the open orders (see [`VenueWriter::resolve`]).
    async fn resolve_orders(&self, request: &VenueRequest, token: Option<&str>) -> RequestOutcome {
        let market_order = RequestOutcome::Ambiguous {
            reason: "a market order never rests: its fills and the positions tell how it ended"
                .into(),
            token: token.map(str::to_string),
        };
        let VenueRequest::Orders {
            market,
            cancel,
            place,
        } = request
        else {
            return market_order;
        };
        let (step, sent_secs) = token_parts(token);
        if step == Some(TOKEN_MARKET) {
            return market_order;
        }
        let Some(entry) = self.entry(*market).cloned() else {
            return RequestOutcome::rejected("market not configured");
        };
        let maker = self.api.maker_text();
        let open = match self.api.rest.orders(&maker, Some(&entry.instrument)).await {
            Ok(v) => v,
            Err(e) => {
                return RequestOutcome::Ambiguous {
                    reason: format!("GET /orders: {e}"),
                    token: token.map(str::to_string),
                };
            }
        };
        let empty = Vec::new();
        let list = match &open {
            Value::Array(a) => a,
            v => v.get("orders").and_then(Value::as_array).unwrap_or(&empty),
        };
        let resting: Vec<&Value> = list
            .iter()
            .filter(|o| str_at(o, "order_state").is_none_or(|s| s == "open"))
            .collect();
        // The ambiguous step was the cancel: the places were never sent.
        if step == Some(TOKEN_CANCEL) {
            let still_there: Vec<String> = cancel
                .iter()
                .filter_map(|c| c.venue_id)
                .filter(|id| {
                    resting
                        .iter()
                        .any(|o| str_at(o, "order_id").and_then(hex_id) == Some(id.0))
                })
                .map(|id| format!("{:032x}", id.0))
                .collect();
            if !still_there.is_empty() {
                return RequestOutcome::rejected(format!(
                    "cancel did not take effect: still resting {}; nothing was placed",
                    still_there.join(", ")
                ));
            }
            let why = "not sent: the cancel before it was ambiguous";
            return outcome_of(
                Vec::new(),
                place
                    .iter()
                    .map(|r| (r.client_id, why.to_string()))
                    .collect(),
                true,
            );
        }
        // The ambiguous step was the limit batch (the cancels before it were done).
        // An order already reported placed for another request, or created well before this
        // place was sent, is an older one with the same price and size, not this request's.
        let mut unclaimed: Vec<Option<&Value>> = resting
            .iter()
            .copied()
            .filter(|o| {
                !str_at(o, "order_id")
                    .and_then(hex_id)
                    .is_some_and(|id| self.is_claimed(id))
            })
            .filter(|o| {
                let created = o
                    .get("creation_timestamp")
                    .and_then(crate::decode::num::uint);
                match (created, sent_secs) {
                    (Some(c), Some(sent)) => c.saturating_add(CREATED_SLACK_SECS) >= sent,
                    _ => true,
                }
            })
            .map(Some)
            .collect();
        let mut placed = Vec::new();
        let mut rejected = Vec::new();
        for r in place {
            if r.order.kind == OrderKind::Market {
                rejected.push((
                    r.client_id,
                    "not sent: market orders go after the limit batch".to_string(),
                ));
                continue;
            }
            let Ok(order) = self.limit_of(&entry, r) else {
                rejected.push((r.client_id, "not a limit order Kyan takes".to_string()));
                continue;
            };
            let found = unclaimed
                .iter_mut()
                .find(|o| o.is_some_and(|o| same_order(&order, o)))
                .and_then(Option::take);
            match found {
                Some(o) => placed.push((
                    r.client_id,
                    str_at(o, "order_id").and_then(hex_id).map(VenueOrderId),
                )),
                // Not resting: never placed, or filled/cancelled since (its fills still arrive).
                None => rejected.push((
                    r.client_id,
                    "not resting on Kyan after an ambiguous place (not placed, or already filled)"
                        .to_string(),
                )),
            }
        }
        outcome_of(placed, rejected, !cancel.is_empty())
    }
}
