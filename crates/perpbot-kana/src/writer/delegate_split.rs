//! How a delegate session carries out requests the delegated functions cannot do in one
//! transaction.
//!
//! `delegated_scripts` (reference §6.2, \[CHAIN\] ABI dump) has a vector cancel
//! (`cancel_delegated_orders | address, u64, vector<u128>, vector<bool>`), so any number of
//! cancels in one market is **one** transaction; but it has only single-order places
//! (`place_delegated_limit_order | address, u64, bool, bool, u64, u64, u64, u8, u64, u64`,
//! `place_delegated_market_order | …`) and no `place_multiple` or `cancel_and_place` twin. So a
//! request with several places, or cancels and places, becomes several transactions, in order:
//! the cancels first (one transaction), then each place alone. It is **not atomic**: the writer's
//! capabilities say so for a delegate (`atomic_replace: false`, `max_batch: 1`), and the executor
//! then never sends such a request; this path serves direct callers.
//!
//! Outcomes:
//! * the cancels refused → `Rejected` (no place is sent: a replace must not double the quotes);
//! * the first transaction ambiguous → `Ambiguous` with its hash and nothing more sent;
//!   [`resolve_split`] maps its later resolution onto the whole request;
//! * everything accepted → `Accepted`; a place refused → the other places still go, and the
//!   request ends `Partial`; a later transaction ambiguous → nothing more is sent, and that
//!   order is reported refused with its hash in the reason (reconciliation adopts it if it
//!   rests after all — `Partial` cannot express "unknown" for one order).

use perpbot_core::venue::{RequestContext, RequestOutcome, VenueRequest};
use perpbot_model::{ClientOrderId, VenueOrderId};

use super::KanaWriter;

/// Whether `request` needs more than one delegated transaction.
pub(super) fn needs_split(request: &VenueRequest) -> bool {
    match request {
        VenueRequest::Orders { cancel, place, .. } => {
            place.len() > 1 || (!cancel.is_empty() && !place.is_empty())
        }
        _ => false,
    }
}

type Placed = Vec<(ClientOrderId, Option<VenueOrderId>)>;

impl KanaWriter {
    /// Run a request [`needs_split`] says a delegate cannot send as one transaction.
    pub(super) async fn run_split(
        &self,
        request: &VenueRequest,
        ctx: &RequestContext,
    ) -> RequestOutcome {
        let VenueRequest::Orders {
            market,
            cancel,
            place,
        } = request
        else {
            return self.run(request, ctx).await;
        };
        let mut sent_any = false;
        if !cancel.is_empty() {
            let cancels = VenueRequest::Orders {
                market: *market,
                cancel: cancel.clone(),
                place: Vec::new(),
            };
            match self.run(&cancels, ctx).await {
                RequestOutcome::Accepted { .. } => sent_any = true,
                // Rejected: nothing took effect; Ambiguous: resolved by its hash (resolve_split).
                other => return other,
            }
        }
        let mut placed: Placed = Vec::new();
        let mut rejected: Vec<(ClientOrderId, String)> = Vec::new();
        let mut rest = place.iter();
        for one in rest.by_ref() {
            let single = VenueRequest::Orders {
                market: *market,
                cancel: Vec::new(),
                place: vec![one.clone()],
            };
            match self.run(&single, ctx).await {
                RequestOutcome::Accepted { placed: ids } => placed.extend(ids),
                RequestOutcome::Partial {
                    placed: ids,
                    rejected: refused,
                } => {
                    placed.extend(ids);
                    rejected.extend(refused);
                }
                RequestOutcome::Rejected { reason, .. } => rejected.push((one.client_id, reason)),
                RequestOutcome::Ambiguous { reason, token } => {
                    if !sent_any && placed.is_empty() && rejected.is_empty() {
                        return RequestOutcome::Ambiguous { reason, token };
                    }
                    tracing::warn!(client_id = %one.client_id, ?token, %reason, "a delegate's place in a split request is ambiguous; reported refused, reconciliation decides");
                    rejected.push((
                        one.client_id,
                        format!(
                            "outcome unknown (transaction {}): {reason}; left for reconciliation",
                            token.unwrap_or_default()
                        ),
                    ));
                    break;
                }
            }
            sent_any = true;
        }
        for unsent in rest {
            rejected.push((
                unsent.client_id,
                "not sent: an earlier transaction of this delegate request is unknown".into(),
            ));
        }
        if rejected.is_empty() {
            RequestOutcome::Accepted { placed }
        } else {
            RequestOutcome::Partial { placed, rejected }
        }
    }
}

/// The whole request's outcome once the first transaction of a split request (the only one an
/// `Ambiguous` outcome can stand for) resolved to `first`: the cancels' transaction when the
/// request cancels, else its first place. The rest was never sent.
pub(super) fn resolve_split(request: &VenueRequest, first: RequestOutcome) -> RequestOutcome {
    let VenueRequest::Orders { cancel, place, .. } = request else {
        return first;
    };
    let unsent = |skip: usize| -> Vec<(ClientOrderId, String)> {
        place
            .iter()
            .skip(skip)
            .map(|r| {
                (
                    r.client_id,
                    "not sent: the delegate request stopped at an ambiguous transaction".into(),
                )
            })
            .collect()
    };
    match first {
        RequestOutcome::Accepted { placed } if cancel.is_empty() => {
            // `placed` lists the whole request's ids, none from events unless counts matched;
            // only the first order was in the transaction.
            let first_id = place.first().map(|r| r.client_id);
            let placed: Placed = placed
                .into_iter()
                .filter(|(id, _)| Some(*id) == first_id)
                .collect();
            RequestOutcome::Partial {
                placed,
                rejected: unsent(1),
            }
        }
        RequestOutcome::Accepted { .. } => RequestOutcome::Partial {
            placed: Vec::new(),
            rejected: unsent(0),
        },
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perpbot_core::venue::CancelOrder;
    use perpbot_model::{Direction, Lots, MarketId, NewOrder, OrderRequest, Side, Ticks};

    fn req(n: usize, cancels: usize) -> VenueRequest {
        let m = MarketId(1);
        VenueRequest::Orders {
            market: m,
            cancel: (0..cancels)
                .map(|i| CancelOrder {
                    client_id: ClientOrderId(100 + i as u64),
                    venue_id: Some(VenueOrderId(7)),
                    market: m,
                    side: Side::Buy,
                    direction: Direction::Open,
                })
                .collect(),
            place: (0..n)
                .map(|i| OrderRequest {
                    client_id: ClientOrderId(i as u64 + 1),
                    order: NewOrder::limit(m, Side::Buy, Lots(1), Ticks(10)),
                })
                .collect(),
        }
    }

    #[test]
    fn only_multi_place_or_replace_is_split() {
        assert!(!needs_split(&req(1, 0)));
        assert!(!needs_split(&req(0, 3)));
        assert!(needs_split(&req(2, 0)));
        assert!(needs_split(&req(1, 1)));
    }

    #[test]
    fn a_resolved_first_transaction_accounts_for_the_unsent_rest() {
        let accepted = RequestOutcome::Accepted {
            placed: vec![(ClientOrderId(1), None), (ClientOrderId(2), None)],
        };
        match resolve_split(&req(2, 0), accepted.clone()) {
            RequestOutcome::Partial { placed, rejected } => {
                assert_eq!(placed, vec![(ClientOrderId(1), None)]);
                assert_eq!(rejected.len(), 1);
                assert_eq!(rejected[0].0, ClientOrderId(2));
            }
            other => panic!("{other:?}"),
        }
        match resolve_split(&req(2, 1), accepted) {
            RequestOutcome::Partial { placed, rejected } => {
                assert!(placed.is_empty());
                assert_eq!(rejected.len(), 2);
            }
            other => panic!("{other:?}"),
        }
        let refused = RequestOutcome::rejected("abort");
        assert_eq!(resolve_split(&req(2, 1), refused.clone()), refused);
    }
}
