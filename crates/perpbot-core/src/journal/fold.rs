//! Replaying records into what a restart needs: the live orders, the requests without a final
//! outcome, and the highest ids used.
//!
//! The same [`Fold`] runs while writing (the journal keeps its own view current, which is what a
//! snapshot writes and what order changes are compared against) and while reading at start-up,
//! so the two can never disagree. Orders change through the engine's own state machine
//! ([`Order::apply`]); request outcomes are applied to them exactly as the executor applies them,
//! so a crash between an outcome record and the order records that follow it loses nothing.

use std::collections::{BTreeMap, VecDeque};

use crate::venue::{RequestOutcome, VenueRequest};
use perpbot_model::{
    ClientOrderId, Order, OrderEvent, OrderStatus, Position, Timestamp, TradeId, VenueOrderId,
};

use super::record::{
    Entry, FillRecord, OpenRequestRecord, OrderRecord, OutcomeRecord, Record, RequestRecord,
    SessionRecord, SignedRecord, SnapshotRecord,
};

/// A request without a final outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenRequest {
    /// Request id.
    pub id: u64,
    pub request: VenueRequest,
    /// Transactions signed for it, in order (a rebuilt transaction adds a second).
    pub signed: Vec<SignedRecord>,
    /// The last ambiguity token the venue gave.
    pub token: Option<String>,
    /// Whether its session journaled every transaction before sending it: then a request with no
    /// [`OpenRequest::signed`] never reached the venue.
    pub signs_before_send: bool,
}

impl OpenRequest {
    /// The handle to resolve it by: the last transaction signed, else the venue's token.
    pub fn resolve_token(&self) -> Option<String> {
        self.signed
            .last()
            .map(|s| s.token.handle.clone())
            .or_else(|| self.token.clone())
    }

    /// Certainly never left the process: its session journals every transaction before sending,
    /// and none was journaled for it.
    pub fn never_sent(&self) -> bool {
        self.signs_before_send && self.signed.is_empty() && self.token.is_none()
    }

    fn to_record(&self) -> OpenRequestRecord {
        OpenRequestRecord {
            id: self.id,
            request: RequestRecord::from(&self.request),
            signed: self.signed.clone(),
            token: self.token.clone(),
            signs_before_send: self.signs_before_send,
        }
    }

    fn from_record(r: &OpenRequestRecord) -> OpenRequest {
        OpenRequest {
            id: r.id,
            request: VenueRequest::from(&r.request),
            signed: r.signed.clone(),
            token: r.token.clone(),
            signs_before_send: r.signs_before_send,
        }
    }
}

/// Most ended orders remembered ([`Fold::ended`]).
pub const MAX_ENDED: usize = 1024;

/// What the records so far say.
#[derive(Debug, Clone, Default)]
pub struct Fold {
    /// Orders that may rest (not terminal), by client id.
    pub orders: BTreeMap<ClientOrderId, Order>,
    /// The latest orders that ended with a venue id (at most `MAX_ENDED`, 1,024, oldest first). A
    /// restart re-tracks them as ended so their venue ids stay known: a venue snapshot taken
    /// before they ended must not hand their ids to new orders that look the same.
    pub ended: VecDeque<Order>,
    /// Requests without a final outcome, by id.
    pub open: BTreeMap<u64, OpenRequest>,
    /// Highest client order id ever journaled.
    pub max_client_id: u64,
    /// Highest request id ever journaled.
    pub max_request_id: u64,
    /// Positions at the last snapshot.
    pub positions: Vec<Position>,
    /// The last session record.
    pub session: Option<SessionRecord>,
    /// Records applied.
    pub records: u64,
    /// Highest record sequence number seen.
    pub last_seq: u64,
}

impl Fold {
    /// Fold a whole sequence of entries.
    pub fn from_entries<'a>(entries: impl IntoIterator<Item = &'a Entry>) -> Fold {
        let mut fold = Fold::default();
        for e in entries {
            fold.apply_entry(e);
        }
        fold
    }

    /// Apply one stored entry.
    pub fn apply_entry(&mut self, entry: &Entry) {
        self.last_seq = self.last_seq.max(entry.seq);
        self.apply(&entry.record, Timestamp::from_millis(entry.ts_ms));
    }

    /// Apply one record (at `now`, for the orders' timestamps).
    pub fn apply(&mut self, record: &Record, now: Timestamp) {
        self.records += 1;
        match record {
            Record::Session(s) => {
                // A venue that starts afresh with its process (embedded simulator, paper) keeps
                // nothing across sessions: neither what the earlier one left (when this one starts
                // afresh) nor what it leaves (when the earlier one did). Ids keep counting up.
                let previous_afresh = self.session.as_ref().is_some_and(|p| !p.carries_over);
                if !s.carries_over || previous_afresh {
                    self.orders.clear();
                    self.ended.clear();
                    self.open.clear();
                    self.positions.clear();
                }
                self.session = Some(s.clone());
            }
            Record::Intent { .. } | Record::Shutdown { .. } => {}
            Record::Request { id, request } => self.on_request(*id, request, now),
            Record::Signed(s) => {
                if let Some(open) = s.request.and_then(|id| self.open.get_mut(&id)) {
                    open.signed.push(s.clone());
                }
            }
            Record::Outcome { id, outcome, .. } => self.on_outcome(*id, outcome, now),
            Record::Order(o) => self.on_order(o),
            Record::Fill(f) => self.on_fill(f, now),
            Record::Snapshot(s) => self.on_snapshot(s),
        }
    }

    fn signs_before_send(&self) -> bool {
        self.session.as_ref().is_some_and(|s| s.signs_before_send)
    }

    fn on_request(&mut self, id: u64, request: &RequestRecord, now: Timestamp) {
        self.max_request_id = self.max_request_id.max(id);
        let request = VenueRequest::from(request);
        if let VenueRequest::Orders { cancel, place, .. } = &request {
            for r in place {
                self.max_client_id = self.max_client_id.max(r.client_id.0);
                self.orders
                    .entry(r.client_id)
                    .or_insert_with(|| Order::new(r.clone(), now));
            }
            for c in cancel {
                self.order_event(c.client_id, &OrderEvent::CancelRequested, now);
            }
        }
        let signs_before_send = self.signs_before_send();
        self.open.insert(
            id,
            OpenRequest {
                id,
                request,
                signed: Vec::new(),
                token: None,
                signs_before_send,
            },
        );
    }

    fn on_outcome(&mut self, id: u64, outcome: &OutcomeRecord, now: Timestamp) {
        let Some(open) = self.open.get(&id) else {
            return;
        };
        let request = open.request.clone();
        let outcome = RequestOutcome::from(outcome);
        for (client_id, event) in order_events(&request, &outcome) {
            self.order_event(client_id, &event, now);
        }
        match outcome {
            RequestOutcome::Ambiguous { token, .. } => {
                if let Some(open) = self.open.get_mut(&id)
                    && token.is_some()
                {
                    open.token = token;
                }
            }
            _ => {
                self.open.remove(&id);
            }
        }
    }

    fn on_order(&mut self, o: &OrderRecord) {
        let id = o.request.client_id;
        self.max_client_id = self.max_client_id.max(id.0);
        if o.status.is_terminal() {
            self.orders.remove(&id);
            self.remember_ended(Order::from(o));
        } else {
            self.orders.insert(id, Order::from(o));
        }
    }

    fn on_fill(&mut self, f: &FillRecord, now: Timestamp) {
        let id = f
            .client_id
            .filter(|c| self.orders.contains_key(c))
            .or_else(|| {
                let venue = f.venue_id.map(VenueOrderId)?;
                self.orders
                    .values()
                    .find(|o| o.venue_id == Some(venue))
                    .map(Order::client_id)
            });
        if let Some(id) = id {
            let event = OrderEvent::Fill {
                trade_id: TradeId(f.trade_id),
                lots: f.lots,
                price: f.price,
            };
            self.order_event(id, &event, now);
        }
    }

    fn on_snapshot(&mut self, s: &SnapshotRecord) {
        self.max_client_id = self.max_client_id.max(s.max_client_id);
        self.max_request_id = self.max_request_id.max(s.max_request_id);
        self.orders = s
            .orders
            .iter()
            .filter(|o| !o.status.is_terminal())
            .map(|o| (o.request.client_id, Order::from(o)))
            .collect();
        self.open = s
            .open_requests
            .iter()
            .map(|r| (r.id, OpenRequest::from_record(r)))
            .collect();
        self.positions = s.positions.clone();
    }

    /// Apply an event to a live order through its state machine (refused transitions are
    /// ignored: the record that follows, or the venue, says what became of it).
    pub fn order_event(&mut self, id: ClientOrderId, event: &OrderEvent, now: Timestamp) {
        let Some(order) = self.orders.get_mut(&id) else {
            return;
        };
        // A refusal leaves the order as it was, which is the right reading of a record that
        // repeats or contradicts what is known.
        let _ = order.apply(event, now);
        if order.status.is_terminal()
            && let Some(order) = self.orders.remove(&id)
        {
            self.remember_ended(order);
        }
    }

    fn remember_ended(&mut self, order: Order) {
        if order.venue_id.is_none() {
            return;
        }
        self.ended.retain(|o| o.client_id() != order.client_id());
        if self.ended.len() == MAX_ENDED {
            self.ended.pop_front();
        }
        self.ended.push_back(order);
    }

    /// A checkpoint of this view, with `orders` as the live orders (the engine's, which may
    /// include orders adopted from the venue).
    pub fn snapshot_with(&self, orders: Vec<OrderRecord>, positions: Vec<Position>) -> Record {
        let max_client_id = orders
            .iter()
            .map(|o| o.request.client_id.0)
            .fold(self.max_client_id, u64::max);
        Record::Snapshot(SnapshotRecord {
            max_client_id,
            max_request_id: self.max_request_id,
            orders,
            open_requests: self.open.values().map(OpenRequest::to_record).collect(),
            positions,
        })
    }

    /// A checkpoint of this view alone.
    pub fn snapshot(&self) -> Record {
        let orders = self.orders.values().map(OrderRecord::from).collect();
        self.snapshot_with(orders, self.positions.clone())
    }

    /// Live orders whose status is one of `statuses`.
    pub fn orders_in(&self, statuses: &[OrderStatus]) -> Vec<ClientOrderId> {
        self.orders
            .values()
            .filter(|o| statuses.contains(&o.status))
            .map(Order::client_id)
            .collect()
    }
}

/// What a request's outcome does to its orders — the executor's mapping
/// ([`crate::executor::Executor::on_report`]): accepted places rest (with the venue's id where
/// reported) and accepted cancels are done; a rejected request rejects its places and leaves its
/// cancels' orders resting; an ambiguous one makes its places *unknown*.
pub fn order_events(
    request: &VenueRequest,
    outcome: &RequestOutcome,
) -> Vec<(ClientOrderId, OrderEvent)> {
    let VenueRequest::Orders { cancel, place, .. } = request else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match outcome {
        RequestOutcome::Accepted { placed, .. } => {
            for r in place {
                let venue_id = placed
                    .iter()
                    .find(|(c, _)| *c == r.client_id)
                    .and_then(|(_, v)| *v);
                out.push((r.client_id, OrderEvent::Accepted { venue_id }));
            }
            for c in cancel {
                out.push((c.client_id, OrderEvent::Cancelled));
            }
        }
        RequestOutcome::Rejected { .. } => {
            for r in place {
                out.push((r.client_id, OrderEvent::Rejected));
            }
            for c in cancel {
                out.push((c.client_id, OrderEvent::CancelRejected));
            }
        }
        RequestOutcome::Partial { placed, rejected } => {
            for (id, venue_id) in placed {
                out.push((
                    *id,
                    OrderEvent::Accepted {
                        venue_id: *venue_id,
                    },
                ));
            }
            for (id, _) in rejected {
                out.push((*id, OrderEvent::Rejected));
            }
            for c in cancel {
                out.push((c.client_id, OrderEvent::Cancelled));
            }
        }
        RequestOutcome::Ambiguous { .. } => {
            for r in place {
                out.push((r.client_id, OrderEvent::Ambiguous));
            }
        }
    }
    out
}
