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
//! - **No I/O, no wall clock.** The executor decides; it does not send. What it wants done at the
//!   venue comes out as [`Job`]s, which the engine's runner performs in spawned tasks
//!   ([`spawn_job`]) and whose outcomes come back as [`ExecReport`]s. Time is passed in
//!   ([`Executor::set_now`]), so the rate limits run on simulated time in a backtest. It reads the
//!   [`State`] and returns what it concludes ([`Derived`]); the engine applies that, so the state
//!   has one writer.
//! - **Nothing is sent twice by accident.** An ambiguous outcome (timeout, 5xx) marks the orders `Unknown` and is resolved by
//!   [`VenueWriter::resolve`] (Kana: by transaction hash) with back-off — never by resubmitting.
//!   Cancels for orders whose venue id is not known yet (Kana assigns ids on commit) wait for the
//!   acknowledgement, then go out.
//! - **Write-ahead.** With a journal ([`Executor::set_journal`]) every request is recorded before
//!   it leaves; a placing request that cannot be recorded is refused, never sent unrecorded.

use std::collections::{BTreeMap, VecDeque};

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    CancelOrder, RefusalKind, RequestContext, RequestOutcome, RequestScope, SentHook,
    VenueCapabilities, VenueRequest, VenueWriter,
};
use perpbot_model::{
    ClientOrderId, Event, Intent, MarketId, OrderEvent, OrderRequest, OrderStatus, OrderUpdate,
    OrderUpdateKind, RejectReason, RiskRejection, Timestamp,
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

/// governor's clock set by the engine's passed-in time ([`Executor::set_now`]): live, that is the
/// wall clock; in a backtest, simulated time. It never goes back.
#[derive(Debug, Clone, Default)]
struct PassedInClock {
    nanos: Arc<AtomicU64>,
}

impl PassedInClock {
    /// Move the clock forward to `t` (never back). Only [`Executor::set_now`] writes it, through
    /// `&mut Executor`, so a load and a store do what `fetch_max` did without a locked
    /// read-modify-write on every event (tens of cycles each, several times per event in a
    /// backtest). Stored unconditionally (`max` is a conditional move): whether simulated
    /// time moved since the last event follows the data, and a branch on it is mispredicted.
    fn set(&self, t: Timestamp) {
        let now = self.nanos.load(Ordering::Relaxed);
        self.nanos.store(now.max(t.0), Ordering::Relaxed);
    }
}

impl GovernorClock for PassedInClock {
    type Instant = Nanos;

    fn now(&self) -> Nanos {
        Nanos::from(self.nanos.load(Ordering::Relaxed))
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, PassedInClock, NoOpMiddleware<Nanos>>;

fn limiter(per_second: u32, burst: u32, clock: &PassedInClock) -> Limiter {
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

/// Venue work the executor asks its runner to do: the only I/O it needs.
#[derive(Debug)]
pub enum Job {
    /// Execute `request` at the venue and report its outcome as `id`.
    Execute {
        /// The request's id.
        id: RequestId,
        /// What to send (shared with the executor's in-flight record, so sending copies nothing).
        request: Arc<VenueRequest>,
        /// The id and kind the journal files the request's tokens under.
        scope: RequestScope,
    },
    /// After `after`, ask the venue how request `id` ended (by its token), never resending it.
    Resolve {
        /// The request's id.
        id: RequestId,
        /// The request as sent.
        request: Arc<VenueRequest>,
        /// The venue's handle from the ambiguous outcome (Kana: transaction hash).
        token: Option<String>,
        /// Back-off before asking.
        after: Duration,
    },
    /// Report `outcome` for request `id` without asking the venue (refused before it left).
    Answer(ExecReport),
}

impl Job {
    /// Do the job against `writer`, handing its tokens to `on_sent` (the journal's hook), and
    /// return the report for [`Executor::on_report`]. Runs in the runner's spawned task.
    pub async fn perform(self, writer: &dyn VenueWriter, on_sent: Option<SentHook>) -> ExecReport {
        match self {
            Job::Execute { id, request, scope } => {
                let ctx = RequestContext {
                    scope: Some(scope),
                    on_sent,
                };
                // The in-flight record usually still holds the request, so this copies it once,
                // here, off the engine's path.
                let outcome = writer.execute(Arc::unwrap_or_clone(request), &ctx).await;
                ExecReport { id, outcome }
            }
            Job::Resolve {
                id,
                request,
                token,
                after,
            } => {
                tokio::time::sleep(after).await;
                let outcome = writer.resolve(&request, token.as_deref()).await;
                ExecReport { id, outcome }
            }
            Job::Answer(report) => report,
        }
    }
}

/// Perform `job` in a task of its own and post its report on `reports`, so a slow venue never
/// blocks the engine. A closed channel (the engine gone at shutdown) drops the report.
pub fn spawn_job(
    job: Job,
    writer: Arc<dyn VenueWriter>,
    on_sent: Option<SentHook>,
    reports: mpsc::Sender<ExecReport>,
) {
    tokio::spawn(async move {
        let report = job.perform(&*writer, on_sent).await;
        let _ = reports.send(report).await;
    });
}

/// What the executor concluded, in order, for the engine to apply: the executor reads the
/// [`State`] but never writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Derived {
    /// Apply `event` to order `client_id`; when that changes the order and `update` is set, the
    /// strategy hears of it as an order update.
    Order {
        /// The order's market.
        market: MarketId,
        /// The order.
        client_id: ClientOrderId,
        /// What happened to it.
        event: OrderEvent,
        /// How the strategy hears of it, if it does.
        update: Option<OrderUpdateKind>,
    },
    /// An event for the strategy (a refusal by the rate limiter).
    Event(Event),
}

impl Derived {
    /// Apply to `state` (the engine's job: it is the state's one writer) and append what the
    /// strategy should see to `events`.
    pub fn apply(self, state: &mut State, events: &mut Vec<Event>) {
        match self {
            Derived::Order {
                market,
                client_id,
                event,
                update,
            } => {
                let applied = matches!(
                    state.apply_order_event(client_id, &event),
                    Some(perpbot_model::Transition::Applied { .. })
                );
                if let (true, Some(kind)) = (applied, update) {
                    let venue_id = state.order(client_id).and_then(|o| o.venue_id);
                    events.push(Event::Order(OrderUpdate {
                        market,
                        client_id: Some(client_id),
                        venue_id,
                        kind,
                        ts: state.now(),
                    }));
                }
            }
            Derived::Event(e) => events.push(e),
        }
    }
}

#[derive(Debug)]
struct InFlight {
    request: Arc<VenueRequest>,
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
    /// Of those, by the kind of refusal.
    pub rejected_by_kind: BTreeMap<RefusalKind, u64>,
    /// Requests whose outcome was ambiguous at first.
    pub ambiguous_requests: u64,
    /// Ambiguous requests later resolved by query.
    pub resolved_requests: u64,
    /// Ambiguous requests left unresolved after every attempt.
    pub unresolved_requests: u64,
}

/// Turns approved intents into venue requests, rate-limits and tracks them.
pub struct Executor {
    caps: VenueCapabilities,
    config: RateLimitConfig,
    clock: PassedInClock,
    place_budget: Limiter,
    cancel_budget: Limiter,
    /// Venue work decided and not yet taken by the runner ([`Executor::take_jobs`]).
    jobs: Vec<Job>,
    in_flight: HashMap<RequestId, InFlight>,
    /// [`Executor::dispatch_into`]'s per-market groups, kept empty between calls.
    groups: Vec<MarketGroup>,
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
    /// An executor for a venue that can do `caps`, within the budgets of `config`. Its time
    /// starts when [`Executor::set_now`] is first called.
    pub fn new(caps: VenueCapabilities, config: RateLimitConfig) -> Executor {
        let clock = PassedInClock::default();
        Executor {
            caps,
            place_budget: limiter(config.orders_per_second, config.order_burst, &clock),
            cancel_budget: limiter(config.cancels_per_second, config.cancel_burst, &clock),
            clock,
            config,
            jobs: Vec::new(),
            in_flight: HashMap::new(),
            groups: Vec::new(),
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

    /// Tell the executor the time (it never goes back): its rate budgets refill by it.
    pub fn set_now(&mut self, now: Timestamp) {
        self.clock.set(now);
    }

    /// The venue work decided since the last call, in order, for the runner to perform.
    pub fn take_jobs(&mut self) -> std::vec::Drain<'_, Job> {
        self.jobs.drain(..)
    }

    /// Whether there is venue work to take.
    pub fn has_jobs(&self) -> bool {
        !self.jobs.is_empty()
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
    /// tracked in `state` (the engine does that as it approves them). Returns what the engine
    /// applies: orders marked pending-cancel, orders and requests refused by the rate limiter.
    pub fn dispatch(&mut self, mut approved: Vec<Approved>, state: &State) -> Vec<Derived> {
        let mut derived = Vec::new();
        self.dispatch_into(&mut approved, state, &mut derived);
        derived
    }

    /// [`Executor::dispatch`] into buffers the caller keeps: `approved` is drained and what
    /// the engine applies is appended to `derived`, so an engine that reuses both allocates
    /// nothing here for its own bookkeeping.
    pub fn dispatch_into(
        &mut self,
        approved: &mut Vec<Approved>,
        state: &State,
        derived: &mut Vec<Derived>,
    ) {
        if let Some(journal) = &self.journal {
            for a in approved.iter() {
                journal.record_intent(a.intent());
            }
        }
        // Per market, in market order: the cancels and places of this event. Kept between
        // calls (emptied, with their cancel lists' memory), since a market maker sends a
        // request on most of its events.
        let mut groups = std::mem::take(&mut self.groups);
        let mut others = Vec::new();
        for a in approved.drain(..) {
            match a.into_intent() {
                Intent::Place(req) => group(&mut groups, req.order.market).2.push(req),
                Intent::Cancel { market, client_id } => {
                    group(&mut groups, market).1.push(client_id)
                }
                Intent::CancelAll { market } => {
                    for o in state.live_orders(market) {
                        group(&mut groups, o.market()).1.push(o.client_id());
                    }
                }
                Intent::ReplaceQuotes {
                    market,
                    cancel,
                    place,
                } => {
                    let g = group(&mut groups, market);
                    g.1.extend(cancel);
                    g.2.extend(place);
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
        let events = derived;
        groups.sort_unstable_by_key(|g| g.0);
        for (market, cancel_ids, place) in groups.iter_mut() {
            if cancel_ids.is_empty() && place.is_empty() {
                continue;
            }
            let cancel = self.prepare_cancels(cancel_ids, state, events);
            cancel_ids.clear();
            self.send_market(*market, cancel, std::mem::take(place), events);
        }
        self.groups = groups;
        for (intent, request) in others {
            let trigger = matches!(
                request,
                VenueRequest::SetTakeProfit { .. } | VenueRequest::SetStopLoss { .. }
            );
            if trigger && !self.caps.position_triggers {
                // The venue keeps no triggers on positions (Kyan): refused here, before it is
                // sent, so the strategy learns at once that it must manage the exit itself.
                events.push(Derived::Event(Event::RiskRejected(RiskRejection {
                    detail: "this venue keeps no take-profit or stop-loss on positions; the \
                             strategy must close the position itself"
                        .into(),
                    intent,
                    reason: RejectReason::Unsupported,
                })));
                continue;
            }
            if self.place_budget.check().is_ok() {
                self.send(request);
            } else {
                // Refused like an order over the budget: the strategy hears of it and may ask
                // again later (it used to be only logged, so a stop-loss could silently vanish).
                self.stats.rate_limited_orders += 1;
                events.push(Derived::Event(Event::RiskRejected(RiskRejection {
                    detail: format!(
                        "order rate budget spent ({}/s, burst {}); the request was not sent",
                        self.config.orders_per_second, self.config.order_burst
                    ),
                    intent,
                    reason: RejectReason::RateLimited,
                })));
            }
        }
    }

    /// Turn cancel ids into venue cancels, marking each order pending-cancel. Orders the venue
    /// cannot address yet (no venue id, no client ids at the venue) wait for their ack.
    fn prepare_cancels(
        &mut self,
        ids: &[ClientOrderId],
        state: &State,
        derived: &mut Vec<Derived>,
    ) -> Vec<CancelOrder> {
        let mut out = Vec::with_capacity(ids.len());
        // Duplicates are dropped: by a look back over a short list (a quote's one or two
        // cancels, without a set to allocate), by a set over a long one (cancel-all).
        let mut seen = (ids.len() > 16).then(|| HashSet::with_capacity(ids.len()));
        for (i, &id) in ids.iter().enumerate() {
            let repeated = match &mut seen {
                Some(seen) => !seen.insert(id),
                None => ids.get(..i).is_some_and(|before| before.contains(&id)),
            };
            if repeated {
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
            derived.push(Derived::Order {
                market: cancel.market,
                client_id: id,
                event: OrderEvent::CancelRequested,
                update: None,
            });
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
        events: &mut Vec<Derived>,
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
                self.refuse_rate_limited(req, events);
            }
        }
        let mut chunks = self.batches(place);
        if self.caps.atomic_replace {
            if let Some(first) = chunks.next() {
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
            && let Some(first) = chunks.next()
        {
            self.send(VenueRequest::Orders {
                market,
                cancel: Vec::new(),
                place: first,
            });
        }
        for chunk in chunks {
            if self.place_budget.check().is_ok() {
                self.send(VenueRequest::Orders {
                    market,
                    cancel: Vec::new(),
                    place: chunk,
                });
            } else {
                for req in chunk {
                    self.refuse_rate_limited(req, events);
                }
            }
        }
    }

    /// The requests `place` goes out in: grouped by restriction where the venue needs that
    /// (first group first, order kept within a group), then cut to the venue's batch size. One
    /// batch, the usual case, is moved as it is rather than copied.
    fn batches(&self, place: Vec<OrderRequest>) -> Batches {
        let max_batch = self.caps.max_batch.max(1);
        let one_restriction = place.first().is_none_or(|f| {
            place
                .iter()
                .all(|r| r.order.restriction == f.order.restriction)
        });
        if place.len() <= max_batch && (one_restriction || !self.caps.one_restriction_per_batch) {
            return Batches::One((!place.is_empty()).then_some(place));
        }
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
        let chunks: Vec<Vec<OrderRequest>> = groups
            .iter()
            .flat_map(|g| g.chunks(max_batch).map(<[OrderRequest]>::to_vec))
            .filter(|c| !c.is_empty())
            .collect();
        Batches::Many(chunks.into_iter())
    }

    fn refuse_rate_limited(&mut self, req: OrderRequest, derived: &mut Vec<Derived>) {
        self.stats.rate_limited_orders += 1;
        derived.push(Derived::Order {
            market: req.order.market,
            client_id: req.client_id,
            event: OrderEvent::Rejected,
            update: None,
        });
        derived.push(Derived::Event(Event::RiskRejected(RiskRejection {
            detail: format!(
                "order rate budget spent ({}/s, burst {})",
                self.config.orders_per_second, self.config.order_burst
            ),
            intent: Intent::Place(req),
            reason: RejectReason::RateLimited,
        })));
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
        while !self.cancel_queue.is_empty() {
            match self.cancel_budget.check() {
                Ok(()) => {
                    if let Some(request) = self.cancel_queue.pop_front() {
                        self.send(request);
                    }
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
                    request: Arc::new(request),
                    resolve_attempts: 0,
                },
            );
            self.jobs.push(Job::Answer(ExecReport {
                id,
                outcome: RequestOutcome::rejected(reason),
            }));
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
        let scope = RequestScope {
            request: id.0,
            cancel_only: request.is_cancel_only(),
        };
        let request = Arc::new(request);
        self.jobs.push(Job::Execute {
            id,
            request: Arc::clone(&request),
            scope,
        });
        self.in_flight.insert(
            id,
            InFlight {
                request,
                resolve_attempts: 0,
            },
        );
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
        self.jobs.push(Job::Resolve {
            id,
            request: Arc::clone(&flight.request),
            token,
            after: delay,
        });
    }

    /// What a request's outcome means for the orders it concerns, for the engine to apply; then
    /// the engine calls [`Executor::release_cancels_after_ack`], since an outcome may carry the
    /// venue ids a waiting cancel needs. (Costs reach the risk engine by one path: fees with
    /// fills, gas from the venue's running total; an outcome carries none.)
    pub fn on_report(&mut self, report: ExecReport, state: &State) -> Vec<Derived> {
        let mut derived = Vec::new();
        self.on_report_into(report, state, &mut derived);
        derived
    }

    /// [`Executor::on_report`], appending to a buffer the caller keeps.
    pub fn on_report_into(
        &mut self,
        report: ExecReport,
        state: &State,
        derived: &mut Vec<Derived>,
    ) {
        let Some(flight) = self.in_flight.get(&report.id) else {
            warn!(
                request_id = report.id.0,
                "report for an unknown request ignored"
            );
            return;
        };
        let resolving = flight.resolve_attempts > 0;
        if let Some(journal) = &self.journal {
            journal.record_outcome(report.id.0, &report.outcome);
        }
        let request = Arc::clone(&flight.request);
        let VenueRequest::Orders {
            market,
            cancel,
            place,
        } = &*request
        else {
            return self.on_position_report(report);
        };
        let market = *market;
        let mut push = |id: ClientOrderId, event: OrderEvent, kind: OrderUpdateKind| {
            derived.push(Derived::Order {
                market,
                client_id: id,
                event,
                update: Some(kind),
            });
        };
        match report.outcome {
            RequestOutcome::Accepted { placed } => {
                if resolving {
                    self.stats.resolved_requests += 1;
                }
                for req in place {
                    let venue_id = placed
                        .iter()
                        .find(|(c, _)| *c == req.client_id)
                        .and_then(|(_, v)| *v);
                    push(
                        req.client_id,
                        OrderEvent::Accepted { venue_id },
                        OrderUpdateKind::Accepted,
                    );
                }
                for c in cancel {
                    push(
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
                *self.stats.rejected_by_kind.entry(kind).or_default() += 1;
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
                for req in place {
                    push(
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
                                gone.client_id,
                                OrderEvent::Cancelled,
                                OrderUpdateKind::Cancelled,
                            );
                        }
                    }
                    _ => {
                        for c in cancel {
                            let kind = OrderUpdateKind::CancelRejected {
                                reason: reason.clone(),
                            };
                            push(c.client_id, OrderEvent::CancelRejected, kind);
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
                        id,
                        OrderEvent::Accepted { venue_id },
                        OrderUpdateKind::Accepted,
                    );
                }
                for (id, reason) in rejected {
                    push(
                        id,
                        OrderEvent::Rejected,
                        OrderUpdateKind::Rejected { reason },
                    );
                }
                for c in cancel {
                    push(
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
                for req in place {
                    let kind = OrderUpdateKind::Ambiguous {
                        reason: reason.clone(),
                    };
                    push(req.client_id, OrderEvent::Ambiguous, kind);
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
    }

    fn on_position_report(&mut self, report: ExecReport) {
        match &report.outcome {
            RequestOutcome::Ambiguous { token, .. }
                if self
                    .in_flight
                    .get(&report.id)
                    .is_some_and(|f| f.resolve_attempts < self.config.resolve_attempts) =>
            {
                self.schedule_resolve(report.id, token.clone());
                return;
            }
            RequestOutcome::Rejected { reason, kind } => {
                self.stats.rejected_requests += 1;
                *self.stats.rejected_by_kind.entry(*kind).or_default() += 1;
                warn!(request_id = report.id.0, %reason, "position request rejected by the venue");
            }
            _ => {}
        }
        self.in_flight.remove(&report.id);
    }

    /// Orders whose cancel waited for an acknowledgement: send the cancel once the venue id is
    /// known (from a request's outcome or from the venue's open-orders list); forget it when the
    /// order ended meanwhile. The engine calls this after order-related venue events and after
    /// applying a request's outcome.
    pub fn release_cancels_after_ack(&mut self, state: &State) {
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

/// The cancels and places of one market within one dispatch.
type MarketGroup = (MarketId, Vec<ClientOrderId>, Vec<OrderRequest>);

/// `market`'s group, added at the end when it has none yet (a handful of markets at most, so a
/// scan beats a map).
fn group(groups: &mut Vec<MarketGroup>, market: MarketId) -> &mut MarketGroup {
    let at = match groups.iter().position(|g| g.0 == market) {
        Some(at) => at,
        None => {
            groups.push((market, Vec::new(), Vec::new()));
            groups.len() - 1
        }
    };
    &mut groups[at]
}

/// The requests a market's places go out in ([`Executor::batches`]).
enum Batches {
    /// All in one request (or none).
    One(Option<Vec<OrderRequest>>),
    /// Cut by restriction or batch size.
    Many(std::vec::IntoIter<Vec<OrderRequest>>),
}

impl Iterator for Batches {
    type Item = Vec<OrderRequest>;

    fn next(&mut self) -> Option<Vec<OrderRequest>> {
        match self {
            Batches::One(one) => one.take(),
            Batches::Many(many) => many.next(),
        }
    }
}

#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;
