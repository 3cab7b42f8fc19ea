//! The executor turns approved intents into venue requests and tracks them until the venue
//! confirms or rejects them.
//!
//! - **Batching.** Intents approved during one event are grouped per market: with a venue that
//!   has atomic replace (Kana's `cancelAndPlaceMultipleOrders`, one transaction), the cancels and
//!   places of a market become one request.
//! - **Rate limits** (`governor`). Placing requests and cancel-only requests draw on separate
//!   budgets, so new orders can never starve cancels. When the placing budget is spent, new
//!   orders are refused with [`RejectReason::RateLimited`] (the strategy will requote on a later
//!   event; queueing stale quotes helps nobody) while their cancels still go out. When the cancel
//!   budget is spent, cancels wait in a queue — they are never dropped.
//! - **Nothing is sent twice by accident.** Requests run in spawned tasks and report back over a
//!   channel. An ambiguous outcome (timeout, 5xx) marks the orders `Unknown` and is resolved by
//!   [`VenueWriter::resolve`] (Kana: by transaction hash) with back-off — never by resubmitting.
//!   Cancels for orders whose venue id is not known yet (Kana assigns ids on commit) wait for the
//!   acknowledgement, then go out.
//! - **Write-ahead.** With a journal ([`Executor::set_journal`]) every request is recorded before
//!   it leaves; a placing request that cannot be recorded is refused, never sent unrecorded.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::Clock as GovernorClock;
use governor::middleware::NoOpMiddleware;
use governor::nanos::Nanos;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::Deserialize;
use tokio::sync::mpsc;
use tracing::{debug, error, info, warn};

use crate::risk::Approved;
use crate::state::State;
use crate::venue::{
    CancelOrder, RefusalKind, RequestOutcome, VenueCapabilities, VenueRequest, VenueWriter,
};
use perpbot_model::{
    ClientOrderId, Event, Intent, MarketId, OrderEvent, OrderRequest, OrderStatus, OrderUpdate,
    OrderUpdateKind, RejectReason, RiskRejection,
};

/// Request budgets per venue, from `[rate_limits]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained placing requests (requests that place at least one order) per second.
    pub orders_per_second: u32,
    /// Burst of placing requests allowed at once.
    pub order_burst: u32,
    /// Sustained cancel-only requests per second (a separate budget).
    pub cancels_per_second: u32,
    /// Burst of cancel-only requests allowed at once.
    pub cancel_burst: u32,
    /// First wait before asking the venue how an ambiguous request ended (ms).
    pub resolve_delay_ms: u64,
    /// How many times to ask before leaving the orders `unknown` for reconciliation.
    pub resolve_attempts: u32,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig {
            orders_per_second: 5,
            order_burst: 10,
            cancels_per_second: 10,
            cancel_burst: 20,
            resolve_delay_ms: 1_000,
            resolve_attempts: 8,
        }
    }
}

impl RateLimitConfig {
    /// Check the budgets are usable; errors name the key.
    pub fn validate(&self) -> Result<(), String> {
        for (key, v) in [
            ("orders_per_second", self.orders_per_second),
            ("order_burst", self.order_burst),
            ("cancels_per_second", self.cancels_per_second),
            ("cancel_burst", self.cancel_burst),
            ("resolve_attempts", self.resolve_attempts),
        ] {
            if v == 0 {
                return Err(format!("rate_limits.{key} must be at least 1"));
            }
        }
        Ok(())
    }
}

/// governor's clock driven by tokio's, so paused-time tests refill budgets deterministically.
#[derive(Debug, Clone)]
struct TokioClock {
    origin: tokio::time::Instant,
}

impl GovernorClock for TokioClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.origin.elapsed())
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Nanos>>;

fn limiter(per_second: u32, burst: u32, clock: &TokioClock) -> Limiter {
    let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct_with_clock(Quota::per_second(rate).allow_burst(burst), clock.clone())
}

/// Identifies one venue request for its whole life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RequestId(pub u64);

/// A request's outcome, reported by the task that ran it.
#[derive(Debug)]
pub struct ExecReport {
    /// Which request.
    pub id: RequestId,
    /// How it ended (or that it is still ambiguous).
    pub outcome: RequestOutcome,
}

#[derive(Debug)]
struct InFlight {
    request: VenueRequest,
    resolve_attempts: u32,
}

/// Counters for reports and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecStats {
    /// Requests handed to the venue (one Kana transaction each).
    pub requests_sent: u64,
    /// Orders placed (sent).
    pub orders_sent: u64,
    /// Orders cancelled (sent).
    pub cancels_sent: u64,
    /// New orders refused because the placing budget was spent.
    pub rate_limited_orders: u64,
    /// Cancel requests that had to wait for budget.
    pub queued_cancel_requests: u64,
    /// Requests refused by the venue.
    pub rejected_requests: u64,
    /// Requests whose outcome was ambiguous at first.
    pub ambiguous_requests: u64,
    /// Ambiguous requests later resolved by query.
    pub resolved_requests: u64,
    /// Ambiguous requests left unresolved after every attempt.
    pub unresolved_requests: u64,
}

/// Turns approved intents into venue requests, rate-limits and tracks them.
pub struct Executor {
    writer: Arc<dyn VenueWriter>,
    caps: VenueCapabilities,
    config: RateLimitConfig,
    clock: TokioClock,
    place_budget: Limiter,
    cancel_budget: Limiter,
    reports: mpsc::Sender<ExecReport>,
    in_flight: HashMap<RequestId, InFlight>,
    cancel_queue: VecDeque<VenueRequest>,
    /// Cancels waiting for the venue to acknowledge the order (and give it an id).
    cancel_after_ack: HashSet<ClientOrderId>,
    /// Orders named in a batch the venue refused because one of its cancels named an order it
    /// does not have. Which one is unknown, so each of these is next cancelled alone: a
    /// refusal then says which order is gone, and one ghost no longer blocks every batch.
    cancel_alone: HashSet<ClientOrderId>,
    next_id: u64,
    stats: ExecStats,
    /// Write-ahead journal: every request is recorded before it leaves ([`Executor::set_journal`]).
    journal: Option<crate::journal::Journal>,
}

impl Executor {
    /// An executor sending through `writer` and reporting outcomes on `reports` (the engine
    /// drains the receiving end and hands each report to [`Executor::on_report`]).
    pub fn new(
        writer: Arc<dyn VenueWriter>,
        config: RateLimitConfig,
        reports: mpsc::Sender<ExecReport>,
    ) -> Executor {
        let clock = TokioClock {
            origin: tokio::time::Instant::now(),
        };
        Executor {
            caps: writer.capabilities(),
            writer,
            place_budget: limiter(config.orders_per_second, config.order_burst, &clock),
            cancel_budget: limiter(config.cancels_per_second, config.cancel_burst, &clock),
            clock,
            config,
            reports,
            in_flight: HashMap::new(),
            cancel_queue: VecDeque::new(),
            cancel_after_ack: HashSet::new(),
            cancel_alone: HashSet::new(),
            next_id: 0,
            stats: ExecStats::default(),
            journal: None,
        }
    }

    /// Record every request in `journal` before it is sent, and every outcome; request ids
    /// continue after `last_request_id` (the highest the journal holds), so none is reused.
    pub fn set_journal(&mut self, journal: crate::journal::Journal, last_request_id: u64) {
        self.next_id = self.next_id.max(last_request_id);
        self.journal = Some(journal);
    }

    /// Counters so far.
    pub fn stats(&self) -> &ExecStats {
        &self.stats
    }

    /// Requests sent and not yet finally answered.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Cancel requests waiting for budget or for an acknowledgement.
    pub fn queued_cancels(&self) -> usize {
        self.cancel_queue.len() + self.cancel_after_ack.len()
    }

    /// Send the approved intents of one event. Places of approved intents must already be
    /// tracked in `state` (the engine does that as it approves them). Returns the events the
    /// strategy should see (rate-limit refusals).
    pub fn dispatch(&mut self, approved: Vec<Approved>, state: &mut State) -> Vec<Event> {
        if let Some(journal) = &self.journal {
            for a in &approved {
                journal.record_intent(a.intent());
            }
        }
        let mut groups: BTreeMap<MarketId, (Vec<ClientOrderId>, Vec<OrderRequest>)> =
            BTreeMap::new();
        let mut others = Vec::new();
        for a in approved {
            match a.into_intent() {
                Intent::Place(req) => groups.entry(req.order.market).or_default().1.push(req),
                Intent::Cancel { market, client_id } => {
                    groups.entry(market).or_default().0.push(client_id)
                }
                Intent::CancelAll { market } => {
                    for o in state.live_orders(market) {
                        groups.entry(o.market()).or_default().0.push(o.client_id());
                    }
                }
                Intent::ReplaceQuotes {
                    market,
                    cancel,
                    place,
                } => {
                    let g = groups.entry(market).or_default();
                    g.0.extend(cancel);
                    g.1.extend(place);
                }
                intent @ Intent::UpdateTakeProfit {
                    market,
                    position,
                    price,
                } => {
                    let request = VenueRequest::SetTakeProfit {
                        market,
                        position,
                        price,
                    };
                    others.push((intent, request));
                }
                intent @ Intent::UpdateStopLoss {
                    market,
                    position,
                    price,
                } => {
                    let request = VenueRequest::SetStopLoss {
                        market,
                        position,
                        price,
                    };
                    others.push((intent, request));
                }
                intent @ Intent::ClosePosition { market, position } => {
                    let (lots, leverage) = state
                        .position(market, position)
                        .map_or((perpbot_model::Lots::ZERO, 1), |p| (p.lots, p.leverage));
                    let request = VenueRequest::ClosePosition {
                        market,
                        position,
                        lots,
                        leverage,
                    };
                    others.push((intent, request));
                }
            }
        }
        let mut events = Vec::new();
        for (market, (cancel, place)) in groups {
            let cancel = self.prepare_cancels(&cancel, state);
            self.send_market(market, cancel, place, state, &mut events);
        }
        for (intent, request) in others {
            if self.place_budget.check().is_ok() {
                self.send(request);
            } else {
                // Refused like an order over the budget: the strategy hears of it and may ask
                // again later (it used to be only logged, so a stop-loss could silently vanish).
                self.stats.rate_limited_orders += 1;
                events.push(Event::RiskRejected(RiskRejection {
                    detail: format!(
                        "order rate budget spent ({}/s, burst {}); the request was not sent",
                        self.config.orders_per_second, self.config.order_burst
                    ),
                    intent,
                    reason: RejectReason::RateLimited,
                }));
            }
        }
        events
    }

    /// Turn cancel ids into venue cancels, marking each order pending-cancel. Orders the venue
    /// cannot address yet (no venue id, no client ids at the venue) wait for their ack.
    fn prepare_cancels(&mut self, ids: &[ClientOrderId], state: &mut State) -> Vec<CancelOrder> {
        let mut out = Vec::with_capacity(ids.len());
        let mut seen = HashSet::with_capacity(ids.len());
        for &id in ids {
            if !seen.insert(id) {
                continue;
            }
            let Some(order) = state.order(id) else {
                continue;
            };
            match order.status {
                OrderStatus::PendingNew | OrderStatus::Open | OrderStatus::PartiallyFilled => {}
                // Already being cancelled, or of unknown existence (resolve first), or done.
                _ => continue,
            }
            let cancel = CancelOrder {
                client_id: id,
                venue_id: order.venue_id,
                market: order.market(),
                side: order.request.order.side,
                direction: order.request.order.direction,
            };
            state.apply_order_event(id, &OrderEvent::CancelRequested);
            if cancel.venue_id.is_none() && !self.caps.client_order_ids {
                debug!(client_id = %id, "cancel waits for the venue's acknowledgement");
                self.cancel_after_ack.insert(id);
            } else {
                out.push(cancel);
            }
        }
        out
    }

    fn send_market(
        &mut self,
        market: MarketId,
        cancel: Vec<CancelOrder>,
        place: Vec<OrderRequest>,
        state: &mut State,
        events: &mut Vec<Event>,
    ) {
        let mut place = place;
        let mut cancel = cancel;
        if !self.cancel_alone.is_empty() {
            let (alone, batched): (Vec<CancelOrder>, Vec<CancelOrder>) = cancel
                .into_iter()
                .partition(|c| self.cancel_alone.contains(&c.client_id));
            cancel = batched;
            for c in alone {
                self.cancel_alone.remove(&c.client_id);
                self.send_cancels(VenueRequest::Orders {
                    market,
                    cancel: vec![c],
                    place: Vec::new(),
                });
            }
        }
        if !place.is_empty() && self.place_budget.check().is_err() {
            // No budget: refuse the new orders now; their cancels still go below.
            for req in place.drain(..) {
                events.push(self.refuse_rate_limited(req, state));
            }
        }
        let max_batch = self.caps.max_batch.max(1);
        // Places grouped by restriction where the venue needs that (first group first, order
        // kept within a group), then cut to the venue's batch size.
        let groups: Vec<Vec<OrderRequest>> = if self.caps.one_restriction_per_batch {
            let mut groups: Vec<Vec<OrderRequest>> = Vec::new();
            for req in place {
                match groups.iter_mut().find(|g| {
                    g.first()
                        .is_some_and(|f| f.order.restriction == req.order.restriction)
                }) {
                    Some(g) => g.push(req),
                    None => groups.push(vec![req]),
                }
            }
            groups
        } else {
            vec![place]
        };
        let mut chunks = groups
            .iter()
            .flat_map(|g| g.chunks(max_batch).map(<[OrderRequest]>::to_vec))
            .filter(|c| !c.is_empty())
            .collect::<VecDeque<_>>();
        if self.caps.atomic_replace {
            if let Some(first) = chunks.pop_front() {
                self.send(VenueRequest::Orders {
                    market,
                    cancel,
                    place: first,
                });
            } else if !cancel.is_empty() {
                self.send_cancels(VenueRequest::Orders {
                    market,
                    cancel,
                    place: Vec::new(),
                });
            }
        } else if !cancel.is_empty() {
            self.send_cancels(VenueRequest::Orders {
                market,
                cancel,
                place: Vec::new(),
            });
        }
        // Further chunks (or all places on a venue without atomic replace) each need budget.
        if !self.caps.atomic_replace
            && let Some(first) = chunks.pop_front()
        {
            self.send(VenueRequest::Orders {
                market,
                cancel: Vec::new(),
                place: first,
            });
        }
        while let Some(chunk) = chunks.pop_front() {
            if self.place_budget.check().is_ok() {
                self.send(VenueRequest::Orders {
                    market,
                    cancel: Vec::new(),
                    place: chunk,
                });
            } else {
                for req in chunk {
                    events.push(self.refuse_rate_limited(req, state));
                }
            }
        }
    }

    fn refuse_rate_limited(&mut self, req: OrderRequest, state: &mut State) -> Event {
        self.stats.rate_limited_orders += 1;
        state.apply_order_event(req.client_id, &OrderEvent::Rejected);
        Event::RiskRejected(RiskRejection {
            detail: format!(
                "order rate budget spent ({}/s, burst {})",
                self.config.orders_per_second, self.config.order_burst
            ),
            intent: Intent::Place(req),
            reason: RejectReason::RateLimited,
        })
    }

    /// Send a cancel-only request now if the cancel budget allows, else queue it.
    fn send_cancels(&mut self, request: VenueRequest) {
        if self.cancel_queue.is_empty() && self.cancel_budget.check().is_ok() {
            self.send(request);
        } else {
            self.stats.queued_cancel_requests += 1;
            self.cancel_queue.push_back(request);
        }
    }

    /// Send queued cancels the budget now allows. Returns how long until the next one can go
    /// (the engine sleeps at most that long), or `None` when nothing waits.
    pub fn pump(&mut self) -> Option<Duration> {
        while let Some(request) = self.cancel_queue.front() {
            match self.cancel_budget.check() {
                Ok(()) => {
                    let request = request.clone();
                    self.cancel_queue.pop_front();
                    self.send(request);
                }
                Err(not_until) => return Some(not_until.wait_time_from(self.clock.now())),
            }
        }
        None
    }

    fn send(&mut self, request: VenueRequest) {
        self.next_id += 1;
        let id = RequestId(self.next_id);
        // Write-ahead: recorded before it leaves, or (placing requests) not sent at all.
        if let Some(journal) = &self.journal
            && let Err(reason) = journal.write_ahead(id.0, &request)
        {
            error!(request_id = id.0, %reason, "request refused");
            // The places are refused; the cancels of a replace still go, on their own.
            let (request, cancels) = crate::journal::split_cancels(request);
            self.in_flight.insert(
                id,
                InFlight {
                    request,
                    resolve_attempts: 0,
                },
            );
            let reports = self.reports.clone();
            tokio::spawn(async move {
                let outcome = RequestOutcome::rejected(reason);
                let _ = reports.send(ExecReport { id, outcome }).await;
            });
            if let Some(cancels) = cancels {
                self.send_cancels(cancels);
            }
            return;
        }
        self.stats.requests_sent += 1;
        if let VenueRequest::Orders { cancel, place, .. } = &request {
            self.stats.orders_sent += place.len() as u64;
            self.stats.cancels_sent += cancel.len() as u64;
        }
        debug!(request_id = id.0, ?request, "sending");
        let writer = Arc::clone(&self.writer);
        let reports = self.reports.clone();
        let task_request = request.clone();
        let scope = crate::journal::RequestScope {
            request: id.0,
            cancel_only: request.is_cancel_only(),
        };
        self.in_flight.insert(
            id,
            InFlight {
                request,
                resolve_attempts: 0,
            },
        );
        tokio::spawn(async move {
            let outcome = crate::journal::sending(scope, writer.execute(task_request)).await;
            // The engine may be gone at shutdown; then nobody needs the report.
            let _ = reports.send(ExecReport { id, outcome }).await;
        });
    }

    fn schedule_resolve(&mut self, id: RequestId, token: Option<String>) {
        let Some(flight) = self.in_flight.get_mut(&id) else {
            return;
        };
        flight.resolve_attempts += 1;
        let attempt = flight.resolve_attempts;
        // Back-off: delay, 2·delay, 4·delay … capped at 32·delay.
        let delay =
            Duration::from_millis(self.config.resolve_delay_ms) * (1u32 << (attempt - 1).min(5));
        let request = flight.request.clone();
        let writer = Arc::clone(&self.writer);
        let reports = self.reports.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let outcome = writer.resolve(&request, token.as_deref()).await;
            let _ = reports.send(ExecReport { id, outcome }).await;
        });
    }

    /// Apply a request's outcome to the orders it concerns. Returns events for the strategy.
    /// (Costs reach the risk engine by one path: fees with fills, gas from the venue's running
    /// total; an outcome carries none.)
    pub fn on_report(&mut self, report: ExecReport, state: &mut State) -> Vec<Event> {
        let now = state.now();
        let Some(flight) = self.in_flight.get(&report.id) else {
            warn!(
                request_id = report.id.0,
                "report for an unknown request ignored"
            );
            return Vec::new();
        };
        let resolving = flight.resolve_attempts > 0;
        if let Some(journal) = &self.journal {
            journal.record_outcome(report.id.0, &report.outcome);
        }
        let VenueRequest::Orders {
            market,
            cancel,
            place,
        } = flight.request.clone()
        else {
            return self.on_position_report(report);
        };
        let mut events = Vec::new();
        let mut push =
            |state: &mut State, id: ClientOrderId, ev: OrderEvent, kind: OrderUpdateKind| {
                if matches!(
                    state.apply_order_event(id, &ev),
                    Some(perpbot_model::Transition::Applied { .. })
                ) {
                    let venue_id = state.order(id).and_then(|o| o.venue_id);
                    events.push(Event::Order(OrderUpdate {
                        market,
                        client_id: Some(id),
                        venue_id,
                        kind,
                        ts: now,
                    }));
                }
            };
        match report.outcome {
            RequestOutcome::Accepted { placed } => {
                if resolving {
                    self.stats.resolved_requests += 1;
                }
                for req in &place {
                    let venue_id = placed
                        .iter()
                        .find(|(c, _)| *c == req.client_id)
                        .and_then(|(_, v)| *v);
                    push(
                        state,
                        req.client_id,
                        OrderEvent::Accepted { venue_id },
                        OrderUpdateKind::Accepted,
                    );
                }
                for c in &cancel {
                    push(
                        state,
                        c.client_id,
                        OrderEvent::Cancelled,
                        OrderUpdateKind::Cancelled,
                    );
                }
                self.in_flight.remove(&report.id);
            }
            RequestOutcome::Rejected { reason, kind } => {
                if resolving {
                    self.stats.resolved_requests += 1;
                }
                self.stats.rejected_requests += 1;
                let unknown_order = !cancel.is_empty() && kind == RefusalKind::UnknownOrder;
                if unknown_order {
                    // The normal race of a market maker: a quote filled while its replacement
                    // was on its way. Nothing changed on the venue; the strategy quotes again.
                    info!(
                        request_id = report.id.0,
                        "requote lost the race with a fill: a quote it replaced had just filled (or was gone), so nothing changed; quoting again"
                    );
                    debug!(request_id = report.id.0, %reason, "venue refusal");
                } else {
                    info!(request_id = report.id.0, %reason, "request refused by the venue");
                }
                for req in &place {
                    push(
                        state,
                        req.client_id,
                        OrderEvent::Rejected,
                        OrderUpdateKind::Rejected {
                            reason: reason.clone(),
                        },
                    );
                }
                match &cancel[..] {
                    // The venue does not have the one order this request cancelled: it filled
                    // (its fill may still be on its way; a cancelled order still takes it) or
                    // was cancelled already. Nothing rests, so it is closed, not cancelled again.
                    [gone] if unknown_order => {
                        debug!(client_id = %gone.client_id, venue_id = ?gone.venue_id, %reason, "the venue does not have this order (filled or cancelled): closed locally; a missed fill shows in the position");
                        // Already closed by its fill (the usual race): nothing to record.
                        let open = state
                            .order(gone.client_id)
                            .is_some_and(|o| o.status.is_live());
                        if open {
                            push(
                                state,
                                gone.client_id,
                                OrderEvent::Cancelled,
                                OrderUpdateKind::Cancelled,
                            );
                        }
                    }
                    _ => {
                        for c in &cancel {
                            let kind = OrderUpdateKind::CancelRejected {
                                reason: reason.clone(),
                            };
                            push(state, c.client_id, OrderEvent::CancelRejected, kind);
                            if unknown_order {
                                self.cancel_alone.insert(c.client_id);
                            }
                        }
                    }
                }
                self.in_flight.remove(&report.id);
            }
            RequestOutcome::Partial { placed, rejected } => {
                for (id, venue_id) in placed {
                    push(
                        state,
                        id,
                        OrderEvent::Accepted { venue_id },
                        OrderUpdateKind::Accepted,
                    );
                }
                for (id, reason) in rejected {
                    push(
                        state,
                        id,
                        OrderEvent::Rejected,
                        OrderUpdateKind::Rejected { reason },
                    );
                }
                for c in &cancel {
                    push(
                        state,
                        c.client_id,
                        OrderEvent::Cancelled,
                        OrderUpdateKind::Cancelled,
                    );
                }
                self.in_flight.remove(&report.id);
            }
            RequestOutcome::Ambiguous { reason, token } => {
                if !resolving {
                    self.stats.ambiguous_requests += 1;
                }
                for req in &place {
                    let kind = OrderUpdateKind::Ambiguous {
                        reason: reason.clone(),
                    };
                    push(state, req.client_id, OrderEvent::Ambiguous, kind);
                }
                let attempts = self
                    .in_flight
                    .get(&report.id)
                    .map_or(0, |f| f.resolve_attempts);
                if attempts < self.config.resolve_attempts {
                    warn!(request_id = report.id.0, %reason, attempt = attempts + 1, "ambiguous outcome: querying the venue, not resending");
                    self.schedule_resolve(report.id, token);
                } else {
                    error!(request_id = report.id.0, %reason, "ambiguous outcome unresolved after every attempt; orders stay unknown for reconciliation");
                    self.stats.unresolved_requests += 1;
                    self.in_flight.remove(&report.id);
                }
            }
        }
        self.release_cancels_after_ack(state);
        events
    }

    fn on_position_report(&mut self, report: ExecReport) -> Vec<Event> {
        match &report.outcome {
            RequestOutcome::Ambiguous { token, .. }
                if self
                    .in_flight
                    .get(&report.id)
                    .is_some_and(|f| f.resolve_attempts < self.config.resolve_attempts) =>
            {
                self.schedule_resolve(report.id, token.clone());
                return Vec::new();
            }
            RequestOutcome::Rejected { reason, .. } => {
                self.stats.rejected_requests += 1;
                warn!(request_id = report.id.0, %reason, "position request rejected by the venue");
            }
            _ => {}
        }
        self.in_flight.remove(&report.id);
        Vec::new()
    }

    /// Orders whose cancel waited for an acknowledgement: send the cancel once the venue id is
    /// known (from a request's outcome or from the venue's open-orders list); forget it when the
    /// order ended meanwhile. The engine calls this after order-related venue events.
    pub fn release_cancels_after_ack(&mut self, state: &mut State) {
        if self.cancel_after_ack.is_empty() {
            return;
        }
        let mut ready: BTreeMap<MarketId, Vec<CancelOrder>> = BTreeMap::new();
        self.cancel_after_ack.retain(|id| {
            let Some(order) = state.order(*id) else {
                return false;
            };
            if order.status.is_terminal() {
                return false;
            }
            match order.venue_id {
                Some(venue_id) => {
                    ready.entry(order.market()).or_default().push(CancelOrder {
                        client_id: *id,
                        venue_id: Some(venue_id),
                        market: order.market(),
                        side: order.request.order.side,
                        direction: order.request.order.direction,
                    });
                    false
                }
                None => true,
            }
        });
        for (market, cancel) in ready {
            self.send_cancels(VenueRequest::Orders {
                market,
                cancel,
                place: Vec::new(),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::{RiskConfig, RiskEngine};
    use async_trait::async_trait;
    use perpbot_model::{Lots, MarketSpec, NewOrder, PositionSide, Side, Ticks, VenueOrderId};
    use std::sync::Mutex;

    const M: MarketId = MarketId(1338);

    /// A writer that records what it was asked and answers from a script.
    struct Scripted {
        caps: VenueCapabilities,
        executed: Mutex<Vec<VenueRequest>>,
        resolved: Mutex<Vec<VenueRequest>>,
        outcomes: Mutex<VecDeque<RequestOutcome>>,
    }

    impl Scripted {
        fn new(client_ids: bool, outcomes: Vec<RequestOutcome>) -> Arc<Scripted> {
            Arc::new(Scripted {
                caps: VenueCapabilities {
                    atomic_replace: true,
                    max_batch: 8,
                    client_order_ids: client_ids,
                    one_restriction_per_batch: true,
                },
                executed: Mutex::new(Vec::new()),
                resolved: Mutex::new(Vec::new()),
                outcomes: Mutex::new(outcomes.into()),
            })
        }
        fn next(&self, req: &VenueRequest) -> RequestOutcome {
            self.outcomes
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| accept_all(req))
        }
        fn executed(&self) -> Vec<VenueRequest> {
            self.executed.lock().unwrap().clone()
        }
    }

    fn accept_all(req: &VenueRequest) -> RequestOutcome {
        let placed = match req {
            VenueRequest::Orders { place, .. } => place
                .iter()
                .map(|r| {
                    (
                        r.client_id,
                        Some(VenueOrderId(u128::from(r.client_id.0) + 1000)),
                    )
                })
                .collect(),
            _ => vec![],
        };
        RequestOutcome::Accepted { placed }
    }

    #[async_trait]
    impl VenueWriter for Scripted {
        fn capabilities(&self) -> VenueCapabilities {
            self.caps
        }
        async fn execute(&self, request: VenueRequest) -> RequestOutcome {
            self.executed.lock().unwrap().push(request.clone());
            self.next(&request)
        }
        async fn resolve(&self, request: &VenueRequest, _token: Option<&str>) -> RequestOutcome {
            self.resolved.lock().unwrap().push(request.clone());
            self.next(request)
        }
    }

    /// The scripted venue's refusal meaning "no such order" (Kana: E_INVALID_MARKET_ORDER_ID).
    const NO_SUCH_ORDER: &str = "no such order";

    fn refused(reason: &str) -> RequestOutcome {
        let kind = if reason == NO_SUCH_ORDER {
            RefusalKind::UnknownOrder
        } else {
            RefusalKind::Other
        };
        RequestOutcome::Rejected {
            reason: reason.into(),
            kind,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_of_an_order_the_venue_does_not_have_closes_it() {
        let writer = Scripted::new(false, vec![]);
        let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
        let (a, b) = (h.place(1, 5518), h.place(2, 5517));
        h.exec.dispatch(vec![a, b], &mut h.state);
        h.settle().await;
        // The batch's refusal cannot say which order is gone: both rest again, and the next
        // cancels go one order per request.
        writer.outcomes.lock().unwrap().extend([
            refused(NO_SUCH_ORDER),
            refused(NO_SUCH_ORDER),
            refused(NO_SUCH_ORDER),
        ]);
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        let events = h.settle().await;
        assert!(events.iter().all(|e| matches!(e, Event::Order(u) if matches!(u.kind, OrderUpdateKind::CancelRejected { .. }))));
        for id in [1, 2] {
            assert_eq!(
                h.state.order_status(ClientOrderId(id)),
                Some(OrderStatus::Open)
            );
        }
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        let events = h.settle().await;
        let sent = writer.executed();
        let cancels: Vec<usize> = sent[1..]
            .iter()
            .map(|r| match r {
                VenueRequest::Orders { cancel, place, .. } if place.is_empty() => cancel.len(),
                other => panic!("not a cancel: {other:?}"),
            })
            .collect();
        assert_eq!(cancels, vec![2, 1, 1]);
        // Each refusal now names its order: it is closed, not cancelled again.
        for id in [1, 2] {
            assert_eq!(
                h.state.order_status(ClientOrderId(id)),
                Some(OrderStatus::Cancelled)
            );
        }
        assert_eq!(events.len(), 2);
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        h.settle().await;
        assert_eq!(writer.executed().len(), 4, "nothing left to cancel");
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancel_refused_for_another_reason_leaves_the_order_resting() {
        let writer = Scripted::new(false, vec![]);
        let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        h.settle().await;
        writer
            .outcomes
            .lock()
            .unwrap()
            .push_back(refused("out of gas"));
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Open)
        );
        // A replace whose one cancel names an order the venue lacks: the new order is refused
        // with the transaction, the old one is closed.
        let b = h.place(2, 5517);
        let cancel = Approved::cancel_all(Some(M));
        writer
            .outcomes
            .lock()
            .unwrap()
            .push_back(refused(NO_SUCH_ORDER));
        h.exec.dispatch(vec![cancel, b], &mut h.state);
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Cancelled)
        );
        assert_eq!(
            h.state.order_status(ClientOrderId(2)),
            Some(OrderStatus::Rejected)
        );
    }

    struct Harness {
        exec: Executor,
        rx: mpsc::Receiver<ExecReport>,
        state: State,
    }

    impl Harness {
        fn new(writer: Arc<Scripted>, config: RateLimitConfig) -> Harness {
            let (tx, rx) = mpsc::channel(64);
            Harness {
                exec: Executor::new(writer, config, tx),
                rx,
                state: State::new(&[MarketSpec::kana_apt_testnet()]),
            }
        }

        /// Track and approve (test-only shortcut; the engine goes through RiskEngine::check).
        fn place(&mut self, id: u64, price: u64) -> Approved {
            let req = OrderRequest {
                client_id: ClientOrderId(id),
                order: NewOrder::limit(M, Side::Buy, Lots(500), Ticks(price)),
            };
            self.state.track_new_order(req.clone());
            approve(Intent::Place(req))
        }

        async fn settle(&mut self) -> Vec<Event> {
            let mut events = Vec::new();
            while let Ok(Some(report)) =
                tokio::time::timeout(Duration::from_millis(10), self.rx.recv()).await
            {
                events.extend(self.exec.on_report(report, &mut self.state));
            }
            events
        }
    }

    /// Tests bypass the risk engine's checks through its only public constructor path.
    fn approve(intent: Intent) -> Approved {
        let mut state = State::new(&[MarketSpec::kana_apt_testnet()]);
        state.set_now(perpbot_model::Timestamp::from_secs(1));
        state.apply(&Event::Book(perpbot_model::BookUpdate {
            market: M,
            kind: perpbot_model::BookUpdateKind::Snapshot,
            bids: vec![perpbot_model::Level::new(5518, 1)],
            asks: vec![perpbot_model::Level::new(5522, 1)],
            ts: perpbot_model::Timestamp::from_secs(1),
        }));
        if let Intent::Place(r) = &intent {
            let d = RiskEngine::new(RiskConfig::default()).check(Intent::Place(r.clone()), &state);
            return d.approved.expect("test order must pass risk");
        }
        if let Intent::UpdateStopLoss { position, .. } = &intent {
            let mut held = perpbot_model::Position::flat(M, *position, perpbot_model::Timestamp(1));
            held.lots = Lots(1000);
            held.entry_price = rust_decimal::Decimal::new(552, 2);
            state.apply(&Event::Position(perpbot_model::PositionUpdate {
                positions: vec![held],
                snapshot: true,
            }));
        }
        if let Intent::Cancel { client_id, .. } = &intent {
            state.track_new_order(OrderRequest {
                client_id: *client_id,
                order: NewOrder::limit(M, Side::Buy, Lots(500), Ticks(5518)),
            });
        }
        RiskEngine::new(RiskConfig::default())
            .check(intent, &state)
            .approved
            .expect("approved")
    }

    #[tokio::test(start_paused = true)]
    async fn cancels_and_places_of_one_market_go_in_one_request() {
        let writer = Scripted::new(true, vec![]);
        let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Open)
        );
        let b = h.place(2, 5517);
        let c = h.place(3, 5516);
        let cancel = approve(Intent::Cancel {
            market: M,
            client_id: ClientOrderId(1),
        });
        h.exec.dispatch(vec![cancel, b, c], &mut h.state);
        let events = h.settle().await;
        let sent = writer.executed();
        assert_eq!(sent.len(), 2, "one request per event and market");
        let VenueRequest::Orders { cancel, place, .. } = &sent[1] else {
            panic!()
        };
        assert_eq!((cancel.len(), place.len()), (1, 2));
        assert_eq!(cancel[0].venue_id, Some(VenueOrderId(1001)));
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Cancelled)
        );
        assert_eq!(
            h.state.order_status(ClientOrderId(3)),
            Some(OrderStatus::Open)
        );
        assert_eq!(events.len(), 3, "two accepted + one cancelled: {events:?}");
    }

    /// A placing budget of one order a second, spent by one order that was sent.
    async fn placing_budget_spent() -> (Arc<Scripted>, Harness) {
        let writer = Scripted::new(true, vec![]);
        let config = RateLimitConfig {
            orders_per_second: 1,
            order_burst: 1,
            ..RateLimitConfig::default()
        };
        let mut h = Harness::new(writer.clone(), config);
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        h.settle().await;
        (writer, h)
    }

    #[tokio::test(start_paused = true)]
    async fn a_position_request_over_the_rate_budget_reaches_the_strategy_as_a_refusal() {
        let (writer, mut h) = placing_budget_spent().await;
        let stop = Intent::UpdateStopLoss {
            market: M,
            position: PositionSide::Long,
            price: Some(Ticks(5000)),
        };
        let events = h.exec.dispatch(vec![approve(stop.clone())], &mut h.state);
        assert!(
            matches!(&events[..], [Event::RiskRejected(r)] if r.reason == RejectReason::RateLimited && r.intent == stop),
            "{events:?}"
        );
        h.settle().await;
        assert_eq!(writer.executed().len(), 1, "the stop-loss was not sent");
    }

    #[tokio::test(start_paused = true)]
    async fn cancels_are_never_starved_by_new_orders() {
        let (writer, mut h) = placing_budget_spent().await;
        // The placing budget is spent: a new order is refused, with the reason, as an event.
        let b = h.place(2, 5517);
        let events = h.exec.dispatch(vec![b], &mut h.state);
        assert!(
            matches!(&events[..], [Event::RiskRejected(r)] if r.reason == RejectReason::RateLimited)
        );
        assert_eq!(
            h.state.order_status(ClientOrderId(2)),
            Some(OrderStatus::Rejected)
        );
        // …but a cancel still goes out at once, on its own budget.
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        h.settle().await;
        assert_eq!(writer.executed().len(), 2);
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Cancelled)
        );
        // After a second the placing budget is back.
        tokio::time::advance(Duration::from_secs(1)).await;
        let c = h.place(3, 5516);
        assert!(h.exec.dispatch(vec![c], &mut h.state).is_empty());
        assert_eq!(h.exec.stats().rate_limited_orders, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn cancels_over_budget_wait_in_a_queue() {
        let writer = Scripted::new(true, vec![]);
        let config = RateLimitConfig {
            cancels_per_second: 1,
            cancel_burst: 1,
            ..RateLimitConfig::default()
        };
        let mut h = Harness::new(writer.clone(), config);
        let (a, b) = (h.place(1, 5518), h.place(2, 5517));
        h.exec.dispatch(vec![a], &mut h.state);
        h.exec.dispatch(vec![b], &mut h.state);
        h.settle().await;
        h.exec.dispatch(
            vec![approve(Intent::Cancel {
                market: M,
                client_id: ClientOrderId(1),
            })],
            &mut h.state,
        );
        h.exec.dispatch(
            vec![approve(Intent::Cancel {
                market: M,
                client_id: ClientOrderId(2),
            })],
            &mut h.state,
        );
        assert_eq!(h.exec.queued_cancels(), 1);
        let wait = h.exec.pump().expect("a cancel waits");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        tokio::time::advance(wait).await;
        assert_eq!(h.exec.pump(), None);
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(2)),
            Some(OrderStatus::Cancelled)
        );
        assert_eq!(writer.executed().len(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn ambiguous_submit_is_resolved_by_query_not_resent() {
        let writer = Scripted::new(
            true,
            vec![
                RequestOutcome::Ambiguous {
                    reason: "timeout".into(),
                    token: Some("0xabc".into()),
                },
                RequestOutcome::Ambiguous {
                    reason: "not found yet".into(),
                    token: Some("0xabc".into()),
                },
            ],
        );
        let mut h = Harness::new(
            writer.clone(),
            RateLimitConfig {
                resolve_delay_ms: 100,
                ..RateLimitConfig::default()
            },
        );
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        let events = h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Unknown)
        );
        assert!(
            matches!(&events[..], [Event::Order(u)] if matches!(u.kind, OrderUpdateKind::Ambiguous { .. }))
        );
        // First query (after 100 ms) is still ambiguous; the second (after 200 ms more) finds it.
        tokio::time::advance(Duration::from_millis(100)).await;
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Unknown)
        );
        tokio::time::advance(Duration::from_millis(200)).await;
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Open)
        );
        assert_eq!(writer.executed().len(), 1, "never resubmitted");
        assert_eq!(writer.resolved.lock().unwrap().len(), 2);
        assert_eq!(
            (
                h.exec.stats().ambiguous_requests,
                h.exec.stats().resolved_requests
            ),
            (1, 1)
        );
        assert_eq!(h.exec.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_of_an_unacknowledged_order_waits_for_its_venue_id() {
        // A venue without client ids (Kana): a cancel needs the venue id from the ack.
        let writer = Scripted::new(false, vec![]);
        let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        // Cancel before the ack arrived.
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        assert_eq!(h.exec.queued_cancels(), 1);
        assert_eq!(
            writer.executed().len(),
            0,
            "nothing sent before the spawned task ran"
        );
        h.settle().await;
        let sent = writer.executed();
        assert_eq!(sent.len(), 2);
        let VenueRequest::Orders { cancel, .. } = &sent[1] else {
            panic!()
        };
        assert_eq!(cancel[0].venue_id, Some(VenueOrderId(1001)));
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Cancelled)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_cancel_goes_out_when_the_open_orders_list_names_the_order() {
        // Kana: the commit's outcome carries no id; the next open_orders snapshot does.
        let writer = Scripted::new(false, vec![RequestOutcome::Accepted { placed: vec![] }]);
        let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Open)
        );
        h.exec
            .dispatch(vec![Approved::cancel_all(Some(M))], &mut h.state);
        assert_eq!(h.exec.queued_cancels(), 1, "no id yet: the cancel waits");
        let snapshot = perpbot_model::OpenOrdersSnapshot {
            market: None,
            orders: vec![perpbot_model::OpenOrderInfo {
                market: M,
                venue_id: VenueOrderId(777),
                side: Side::Buy,
                direction: perpbot_model::Direction::Open,
                price: Ticks(5518),
                total: Lots(500),
                remaining: Lots(500),
                leverage: 1,
                updated_at: perpbot_model::Timestamp(0),
            }],
            ts: perpbot_model::Timestamp(0),
        };
        h.state.apply(&Event::OpenOrders(snapshot));
        h.exec.release_cancels_after_ack(&mut h.state);
        h.settle().await;
        let sent = writer.executed();
        let VenueRequest::Orders { cancel, .. } = &sent[1] else {
            panic!("{sent:?}")
        };
        assert_eq!(cancel[0].venue_id, Some(VenueOrderId(777)));
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Cancelled)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn places_with_different_restrictions_go_in_separate_requests() {
        // Kana batches take one restriction: a taker order and a post-only quote of the same
        // event become two transactions, the first one carrying the event's cancels.
        let writer = Scripted::new(true, vec![]);
        let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
        let taker = h.place(1, 5522);
        let mut quote = h.place(2, 5510);
        if let Some(Intent::Place(r)) = Some(quote.clone().into_intent()) {
            let mut r = r;
            r.order.restriction = perpbot_model::Restriction::PostOnly;
            h.state.track_new_order(r.clone());
            quote = approve(Intent::Place(r));
        }
        h.exec.dispatch(vec![taker, quote], &mut h.state);
        h.settle().await;
        let sent = writer.executed();
        assert_eq!(sent.len(), 2, "{sent:?}");
        for request in &sent {
            let VenueRequest::Orders { place, .. } = request else {
                panic!()
            };
            assert_eq!(place.len(), 1);
        }
        assert_eq!(
            h.state.order_status(ClientOrderId(2)),
            Some(OrderStatus::Open)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn venue_rejection_reaches_the_strategy_with_its_reason() {
        let writer = Scripted::new(
            true,
            vec![RequestOutcome::rejected(
                "Move abort: E_POST_OR_ABORT_CROSSES_SPREAD",
            )],
        );
        let mut h = Harness::new(writer, RateLimitConfig::default());
        let a = h.place(1, 5518);
        h.exec.dispatch(vec![a], &mut h.state);
        let events = h.settle().await;
        assert_eq!(
            h.state.order_status(ClientOrderId(1)),
            Some(OrderStatus::Rejected)
        );
        let [
            Event::Order(OrderUpdate {
                kind: OrderUpdateKind::Rejected { reason },
                ..
            }),
        ] = &events[..]
        else {
            panic!("{events:?}")
        };
        assert!(reason.contains("POST_OR_ABORT"));
    }
}
