//! The executor against a scripted venue: batching, budgets, refusals and ambiguity.

use super::testkit::Runner;
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
                position_triggers: true,
                closing_orders: true,
                net_positions: false,
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
    async fn execute(&self, request: VenueRequest, _ctx: &RequestContext) -> RequestOutcome {
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
    h.dispatch(vec![a, b]);
    h.settle().await;
    // The batch's refusal cannot say which order is gone: both rest again, and the next
    // cancels go one order per request.
    writer.outcomes.lock().unwrap().extend([
        refused(NO_SUCH_ORDER),
        refused(NO_SUCH_ORDER),
        refused(NO_SUCH_ORDER),
    ]);
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
    let events = h.settle().await;
    assert!(events.iter().all(
        |e| matches!(e, Event::Order(u) if matches!(u.kind, OrderUpdateKind::CancelRejected { .. }))
    ));
    for id in [1, 2] {
        assert_eq!(
            h.state.order_status(ClientOrderId(id)),
            Some(OrderStatus::Open)
        );
    }
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
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
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
    h.settle().await;
    assert_eq!(writer.executed().len(), 4, "nothing left to cancel");
}

#[tokio::test(start_paused = true)]
async fn a_cancel_refused_for_another_reason_leaves_the_order_resting() {
    let writer = Scripted::new(false, vec![]);
    let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
    let a = h.place(1, 5518);
    h.dispatch(vec![a]);
    h.settle().await;
    writer
        .outcomes
        .lock()
        .unwrap()
        .push_back(refused("out of gas"));
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
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
    h.dispatch(vec![cancel, b]);
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

/// An executor with its runner over the scripted venue, and the state it reads.
struct Harness {
    exec: Runner,
    state: State,
}

impl Harness {
    fn new(writer: Arc<Scripted>, config: RateLimitConfig) -> Harness {
        Harness {
            exec: Runner::new(writer, config),
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

    fn dispatch(&mut self, approved: Vec<Approved>) -> Vec<Event> {
        self.exec.dispatch(approved, &mut self.state)
    }

    fn pump(&mut self) -> Option<Duration> {
        self.exec.pump()
    }

    async fn settle(&mut self) -> Vec<Event> {
        self.exec.settle(&mut self.state).await
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
    if let Intent::UpdateStopLoss { position, .. } | Intent::UpdateTakeProfit { position, .. } =
        &intent
    {
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
    h.dispatch(vec![a]);
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
    h.dispatch(vec![cancel, b, c]);
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
    h.dispatch(vec![a]);
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
    let events = h.dispatch(vec![approve(stop.clone())]);
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
    let events = h.dispatch(vec![b]);
    assert!(
        matches!(&events[..], [Event::RiskRejected(r)] if r.reason == RejectReason::RateLimited)
    );
    assert_eq!(
        h.state.order_status(ClientOrderId(2)),
        Some(OrderStatus::Rejected)
    );
    // …but a cancel still goes out at once, on its own budget.
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
    h.settle().await;
    assert_eq!(writer.executed().len(), 2);
    assert_eq!(
        h.state.order_status(ClientOrderId(1)),
        Some(OrderStatus::Cancelled)
    );
    // After a second the placing budget is back.
    tokio::time::advance(Duration::from_secs(1)).await;
    let c = h.place(3, 5516);
    assert!(h.dispatch(vec![c]).is_empty());
    assert_eq!(h.exec.exec.stats().rate_limited_orders, 1);
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
    h.dispatch(vec![a]);
    h.dispatch(vec![b]);
    h.settle().await;
    h.dispatch(vec![approve(Intent::Cancel {
        market: M,
        client_id: ClientOrderId(1),
    })]);
    h.dispatch(vec![approve(Intent::Cancel {
        market: M,
        client_id: ClientOrderId(2),
    })]);
    assert_eq!(h.exec.exec.queued_cancels(), 1);
    let wait = h.pump().expect("a cancel waits");
    assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
    tokio::time::advance(wait).await;
    assert_eq!(h.pump(), None);
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
    h.dispatch(vec![a]);
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
            h.exec.exec.stats().ambiguous_requests,
            h.exec.exec.stats().resolved_requests
        ),
        (1, 1)
    );
    assert_eq!(h.exec.exec.in_flight(), 0);
}

#[tokio::test(start_paused = true)]
async fn cancel_of_an_unacknowledged_order_waits_for_its_venue_id() {
    // A venue without client ids (Kana): a cancel needs the venue id from the ack.
    let writer = Scripted::new(false, vec![]);
    let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
    let a = h.place(1, 5518);
    h.dispatch(vec![a]);
    // Cancel before the ack arrived.
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
    assert_eq!(h.exec.exec.queued_cancels(), 1);
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
    h.dispatch(vec![a]);
    h.settle().await;
    assert_eq!(
        h.state.order_status(ClientOrderId(1)),
        Some(OrderStatus::Open)
    );
    h.dispatch(vec![Approved::cancel_all(Some(M))]);
    assert_eq!(
        h.exec.exec.queued_cancels(),
        1,
        "no id yet: the cancel waits"
    );
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
    h.exec.release_cancels_after_ack(&h.state);
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
    h.dispatch(vec![taker, quote]);
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
    h.dispatch(vec![a]);
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

#[tokio::test(start_paused = true)]
async fn take_profit_and_stop_loss_on_a_venue_without_triggers_are_refused_before_sending() {
    let writer = Arc::new(Scripted {
        caps: VenueCapabilities {
            position_triggers: false,
            closing_orders: false,
            net_positions: false,
            ..Scripted::new(false, vec![]).caps
        },
        executed: Mutex::new(Vec::new()),
        resolved: Mutex::new(Vec::new()),
        outcomes: Mutex::new(VecDeque::new()),
    });
    let mut h = Harness::new(writer.clone(), RateLimitConfig::default());
    let take = Intent::UpdateTakeProfit {
        market: M,
        position: PositionSide::Long,
        price: Some(Ticks(6000)),
    };
    let stop = Intent::UpdateStopLoss {
        market: M,
        position: PositionSide::Long,
        price: Some(Ticks(5000)),
    };
    let events = h.dispatch(vec![approve(take.clone()), approve(stop.clone())]);
    let refused: Vec<&Intent> = events
        .iter()
        .filter_map(|e| match e {
            Event::RiskRejected(r) if r.reason == RejectReason::Unsupported => Some(&r.intent),
            _ => None,
        })
        .collect();
    assert_eq!(refused, vec![&take, &stop], "{events:?}");
    h.settle().await;
    assert!(writer.executed().is_empty(), "{:?}", writer.executed());
}
