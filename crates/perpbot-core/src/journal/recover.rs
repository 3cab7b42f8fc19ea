//! Start-up from a journal: settle what the last process left open, then re-track its orders.
//!
//! Runs before the strategy starts and before anything is sent. Nothing journaled is ever sent
//! again: a request without an outcome is asked about ([`VenueWriter::resolve`], by transaction
//! hash on Kana), or known never to have left (its session journals every transaction before
//! sending, and none was journaled for it).

use std::time::Duration;

use tracing::{error, info, warn};

use crate::state::State;
use crate::venue::{RequestOutcome, VenueWriter};
use perpbot_model::{ClientOrderId, OrderEvent, OrderStatus, Timestamp};

use super::Journal;
use super::fold::{Fold, order_events};

/// What a restart did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Requests the venue was asked about and answered: `(request id, outcome name)`.
    pub resolved: Vec<(u64, &'static str)>,
    /// Requests known never to have left the last process (closed as rejected, not resent).
    pub never_sent: Vec<u64>,
    /// Requests whose outcome is still unknown when the wait ended (their orders stay
    /// `unknown` / pending-cancel for reconciliation; a later restart asks again).
    pub unresolved: Vec<u64>,
    /// Orders re-tracked in the state under their old client ids.
    pub restored: Vec<ClientOrderId>,
    /// The first client id the strategy's new orders may not go below (the highest journaled).
    pub max_client_id: u64,
    /// The highest request id journaled (new requests continue after it).
    pub max_request_id: u64,
}

impl RecoveryReport {
    /// True when nothing from an earlier process needed attention.
    pub fn is_empty(&self) -> bool {
        self.resolved.is_empty()
            && self.never_sent.is_empty()
            && self.unresolved.is_empty()
            && self.restored.is_empty()
    }
}

fn outcome_name(o: &RequestOutcome) -> &'static str {
    match o {
        RequestOutcome::Accepted { .. } => "accepted",
        RequestOutcome::Rejected { .. } => "rejected",
        RequestOutcome::Partial { .. } => "partial",
        RequestOutcome::Ambiguous { .. } => "ambiguous",
    }
}

/// First pause between two rounds of questions.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
/// Longest pause between two rounds.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// Settle the requests `fold` left open through `writer`, waiting at most `timeout`, journal each
/// answer, re-track the live orders in `state` under their old ids, and write a checkpoint.
pub async fn recover(
    journal: &Journal,
    mut fold: Fold,
    state: &mut State,
    writer: &dyn VenueWriter,
    timeout: Duration,
) -> RecoveryReport {
    let mut report = RecoveryReport::default();
    let now = state.now();
    let deadline = tokio::time::Instant::now() + timeout;

    // 1. Requests that never left: closed without asking (there is nothing to ask about).
    let never: Vec<u64> = fold
        .open
        .values()
        .filter(|r| r.never_sent())
        .map(|r| r.id)
        .collect();
    for id in never {
        let outcome = RequestOutcome::rejected(
            "never sent: the process stopped before the request was signed",
        );
        settle(journal, &mut fold, id, &outcome, now);
        report.never_sent.push(id);
    }

    // 2. The rest: hand their transactions to the writer, then ask until each is answered.
    for open in fold.open.values() {
        for s in &open.signed {
            writer.adopt(&s.token);
        }
    }
    let mut pause = FIRST_PAUSE;
    loop {
        let pending: Vec<u64> = fold
            .open
            .keys()
            .copied()
            .filter(|id| !report.unresolved.contains(id))
            .collect();
        if pending.is_empty() {
            break;
        }
        for id in pending {
            let Some(open) = fold.open.get(&id) else {
                continue;
            };
            let token = open.resolve_token();
            let request = open.request.clone();
            let outcome = writer.resolve(&request, token.as_deref()).await;
            if matches!(outcome, RequestOutcome::Ambiguous { .. }) {
                if token.is_none() {
                    // Nothing to ask by: waiting cannot help. Left for reconciliation.
                    warn!(
                        request = id,
                        "journaled request without a handle to resolve it by"
                    );
                    report.unresolved.push(id);
                    mark_unknown(&mut fold, id, now);
                }
                continue;
            }
            info!(
                request = id,
                outcome = outcome_name(&outcome),
                "journaled request resolved"
            );
            report.resolved.push((id, outcome_name(&outcome)));
            settle(journal, &mut fold, id, &outcome, now);
        }
        let waiting = fold.open.keys().any(|id| !report.unresolved.contains(id));
        if !waiting {
            break;
        }
        if tokio::time::Instant::now() + pause > deadline {
            for id in fold.open.keys().copied().collect::<Vec<_>>() {
                if !report.unresolved.contains(&id) {
                    error!(
                        request = id,
                        "journaled request still unresolved at the end of the wait; its orders stay unknown"
                    );
                    report.unresolved.push(id);
                    mark_unknown(&mut fold, id, now);
                }
            }
            break;
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_PAUSE);
    }

    // 3. Orders no open request speaks for: a pending new order whose request is gone is of
    //    unknown existence; a pending cancel whose cancel is gone was never confirmed, so the
    //    order rests (a new cancel may be sent for it — cancelling twice cannot add exposure).
    let still_open: Vec<ClientOrderId> = fold
        .open
        .values()
        .flat_map(|r| match &r.request {
            crate::venue::VenueRequest::Orders { cancel, place, .. } => cancel
                .iter()
                .map(|c| c.client_id)
                .chain(place.iter().map(|p| p.client_id))
                .collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    for id in fold.orders_in(&[OrderStatus::PendingNew]) {
        if !still_open.contains(&id) {
            fold.order_event(id, &OrderEvent::Ambiguous, now);
        }
    }
    for id in fold.orders_in(&[OrderStatus::PendingCancel]) {
        if !still_open.contains(&id) {
            fold.order_event(id, &OrderEvent::CancelRejected, now);
        }
    }

    // 4. Re-track every live order under its old client id, and the latest ended ones as ended,
    //    so that their venue ids stay known: the venue's first open-orders snapshot may have been
    //    taken before a request settled above cancelled them, and an unknown id in it would be
    //    matched by side, price and size to a new order that looks the same.
    for order in &fold.ended {
        if state.order(order.client_id()).is_none() {
            state.restore_order(order.clone());
        }
    }
    for order in fold.orders.values() {
        state.restore_order(order.clone());
        report.restored.push(order.client_id());
    }
    report.max_client_id = fold.max_client_id;
    report.max_request_id = fold.max_request_id;
    journal.checkpoint(state);
    if report.is_empty() {
        info!("journal: nothing left open by an earlier process");
    } else {
        info!(
            resolved = report.resolved.len(),
            never_sent = report.never_sent.len(),
            unresolved = report.unresolved.len(),
            restored = report.restored.len(),
            next_client_id = report.max_client_id + 1,
            "journal recovery done: earlier requests settled, live orders re-tracked"
        );
    }
    report
}

/// Journal a request's final outcome and apply it to the recovered orders.
fn settle(journal: &Journal, fold: &mut Fold, id: u64, outcome: &RequestOutcome, now: Timestamp) {
    journal.record_outcome_at_start(id, outcome);
    if let Some(open) = fold.open.remove(&id) {
        for (client_id, event) in order_events(&open.request, outcome) {
            fold.order_event(client_id, &event, now);
        }
    }
}

/// An unresolved request's places are of unknown existence.
fn mark_unknown(fold: &mut Fold, id: u64, now: Timestamp) {
    if let Some(open) = fold.open.get(&id) {
        let ambiguous = RequestOutcome::Ambiguous {
            reason: "unresolved at start-up".into(),
            token: None,
        };
        for (client_id, event) in order_events(&open.request.clone(), &ambiguous) {
            fold.order_event(client_id, &event, now);
        }
    }
}
