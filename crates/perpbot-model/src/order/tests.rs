use super::*;
use OrderStatus as S;

fn order(lots: u64) -> Order {
    let req = OrderRequest {
        client_id: ClientOrderId(1),
        order: NewOrder::limit(MarketId(1338), Side::Buy, Lots(lots), Ticks(5518)),
    };
    Order::new(req, Timestamp(0))
}

fn fill(id: u128, lots: u64) -> OrderEvent {
    OrderEvent::Fill {
        trade_id: TradeId(id),
        lots: Lots(lots),
        price: Ticks(5518),
    }
}

fn ack() -> OrderEvent {
    OrderEvent::Accepted {
        venue_id: Some(VenueOrderId(77)),
    }
}

fn run(o: &mut Order, events: &[OrderEvent]) {
    for e in events {
        o.apply(e, Timestamp(1)).unwrap();
    }
}

#[test]
fn happy_path_open_partial_filled() {
    let mut o = order(1000);
    run(&mut o, &[ack()]);
    assert_eq!((o.status, o.venue_id), (S::Open, Some(VenueOrderId(77))));
    run(&mut o, &[fill(1, 400)]);
    assert_eq!(
        (o.status, o.filled, o.remaining()),
        (S::PartiallyFilled, Lots(400), Lots(600))
    );
    run(&mut o, &[fill(2, 600)]);
    assert_eq!(o.status, S::Filled);
    assert_eq!(o.average_fill_ticks(), Some(Decimal::from(5518)));
}

#[test]
fn fill_before_ack_is_accepted() {
    let mut o = order(1000);
    run(&mut o, &[fill(1, 100)]);
    assert_eq!(o.status, S::PartiallyFilled);
    // The late ack only supplies the id.
    assert_eq!(
        o.apply(&ack(), Timestamp(2)).unwrap(),
        Transition::Applied {
            from: S::PartiallyFilled,
            to: S::PartiallyFilled
        }
    );
    assert_eq!(o.venue_id, Some(VenueOrderId(77)));
}

#[test]
fn duplicate_trade_ids_are_counted_once() {
    let mut o = order(1000);
    run(&mut o, &[ack(), fill(9, 300)]);
    assert_eq!(
        o.apply(&fill(9, 300), Timestamp(2)).unwrap(),
        Transition::Duplicate
    );
    assert_eq!(o.filled, Lots(300));
    assert_eq!(o.trade_ids.len(), 1);
}

#[test]
fn a_submit_refused_after_its_cancel_was_asked_for_ends_rejected() {
    // Shutdown asks to cancel an order whose replace transaction is still in flight; then
    // that transaction aborts. The order never existed: it must not stay live.
    let mut o = order(1000);
    run(&mut o, &[OrderEvent::CancelRequested, OrderEvent::Rejected]);
    assert_eq!(o.status, S::Rejected);
    assert!(!o.status.is_live());
    // A resting order that was asked to cancel cannot be "rejected" (only its cancel can).
    let mut resting = order(1000);
    run(
        &mut resting,
        &[ack(), fill(1, 100), OrderEvent::CancelRequested],
    );
    assert!(resting.apply(&OrderEvent::Rejected, Timestamp(2)).is_err());
    assert_eq!(resting.status, S::PendingCancel);
    // The submit's outcome turns out ambiguous instead: unknown, resolved like any other.
    let mut unsure = order(1000);
    run(
        &mut unsure,
        &[OrderEvent::CancelRequested, OrderEvent::Ambiguous],
    );
    assert_eq!(unsure.status, S::Unknown);
    run(&mut unsure, &[OrderEvent::Rejected]);
    assert_eq!(unsure.status, S::Rejected);
}

#[test]
fn cancel_then_fill_is_accepted_and_counted() {
    let mut o = order(1000);
    run(&mut o, &[ack(), OrderEvent::CancelRequested]);
    assert_eq!(o.status, S::PendingCancel);
    run(&mut o, &[OrderEvent::Cancelled]);
    assert_eq!(o.status, S::Cancelled);
    // The fill raced the cancel: it is real money and must be counted.
    let t = o.apply(&fill(5, 250), Timestamp(3)).unwrap();
    assert_eq!(
        t,
        Transition::Applied {
            from: S::Cancelled,
            to: S::Cancelled
        }
    );
    assert_eq!(o.filled, Lots(250));
    // A late fill that completes the order makes it filled.
    run(&mut o, &[fill(6, 750)]);
    assert_eq!(o.status, S::Filled);
}

#[test]
fn fill_while_cancel_pending_keeps_pending_cancel() {
    let mut o = order(1000);
    run(&mut o, &[ack(), OrderEvent::CancelRequested, fill(1, 10)]);
    assert_eq!(o.status, S::PendingCancel);
    run(&mut o, &[OrderEvent::CancelRejected]);
    assert_eq!(
        o.status,
        S::PartiallyFilled,
        "cancel refused: back to resting with its fills"
    );
}

#[test]
fn ambiguous_submit_is_unknown_not_failed() {
    let mut o = order(1000);
    run(&mut o, &[OrderEvent::Ambiguous]);
    assert_eq!(o.status, S::Unknown);
    assert!(o.status.is_live(), "unknown orders count as possibly live");
    // A cancel cannot be sent for an order of unknown existence: resolve first.
    assert!(o.apply(&OrderEvent::CancelRequested, Timestamp(2)).is_err());
    // Resolution by query: it was on the book after all.
    run(&mut o, &[ack()]);
    assert_eq!(o.status, S::Open);
    let mut o2 = order(1000);
    run(&mut o2, &[OrderEvent::Ambiguous, OrderEvent::Rejected]);
    assert_eq!(o2.status, S::Rejected);
    // The venue's list acknowledged it while its submit was still being resolved: a later
    // "still unknown" answer changes nothing (and is no anomaly).
    let mut o3 = order(1000);
    run(&mut o3, &[OrderEvent::Ambiguous, ack()]);
    for (status, then) in [
        (S::Open, OrderEvent::CancelRequested),
        (S::PendingCancel, ack()),
    ] {
        assert_eq!(o3.status, status);
        assert_eq!(
            o3.apply(&OrderEvent::Ambiguous, Timestamp(3)),
            Ok(Transition::Duplicate)
        );
        assert_eq!(o3.status, status);
        run(&mut o3, &[then]);
    }
}

#[test]
fn illegal_transitions_leave_the_order_unchanged() {
    let mut o = order(1000);
    run(&mut o, &[ack(), fill(1, 1000)]);
    let before = o.clone();
    let err = o.apply(&OrderEvent::Cancelled, Timestamp(9)).unwrap_err();
    assert_eq!(err.status, S::Filled);
    assert!(
        err.to_string()
            .contains("illegal transition Filled + cancelled"),
        "{err}"
    );
    assert_eq!(o, before);
    assert!(
        o.apply(&fill(2, 1), Timestamp(9)).is_err(),
        "no fills after filled"
    );
    let mut r = order(10);
    run(&mut r, &[OrderEvent::Rejected]);
    assert!(r.apply(&ack(), Timestamp(9)).is_err());
    assert!(r.apply(&OrderEvent::CancelRequested, Timestamp(9)).is_err());
    let mut open = order(10);
    run(&mut open, &[ack()]);
    assert!(open.apply(&OrderEvent::Rejected, Timestamp(9)).is_err());
    assert!(
        open.apply(&OrderEvent::CancelRejected, Timestamp(9))
            .is_err()
    );
}

#[test]
fn a_cancel_that_lost_the_race_to_a_fill_is_harmless() {
    let mut o = order(1000);
    run(&mut o, &[ack(), OrderEvent::CancelRequested, fill(1, 1000)]);
    assert_eq!(o.status, S::Filled);
    // The venue then refuses the cancel: the order is done, nothing changes, no error.
    assert_eq!(
        o.apply(&OrderEvent::CancelRejected, Timestamp(3)).unwrap(),
        Transition::Duplicate
    );
    assert_eq!(o.status, S::Filled);
}

#[test]
fn a_late_ack_of_a_filled_order_only_supplies_the_id() {
    let mut o = order(1000);
    run(&mut o, &[fill(1, 1000)]);
    assert_eq!(
        o.apply(&ack(), Timestamp(2)).unwrap(),
        Transition::Duplicate
    );
    assert_eq!((o.status, o.venue_id), (S::Filled, Some(VenueOrderId(77))));
}

/// Found by `tests/integration/prop_order.rs`: a zero-lot fill turned an order with nothing filled into
/// `PartiallyFilled`.
#[test]
fn a_zero_lot_fill_does_not_make_an_order_partially_filled() {
    let mut o = order(1000);
    run(&mut o, &[fill(1, 0)]);
    assert_eq!((o.status, o.filled), (S::Open, Lots(0)));
    assert_eq!(
        o.apply(&fill(1, 0), Timestamp(2)).unwrap(),
        Transition::Duplicate
    );
    run(&mut o, &[OrderEvent::CancelRequested, fill(2, 0)]);
    assert_eq!(o.status, S::PendingCancel);
}

/// Found by `tests/integration/prop_order.rs`: the average fill price panicked once the fill notional
/// exceeded `Decimal`'s 96-bit mantissa.
#[test]
fn average_fill_price_of_a_huge_fill_does_not_panic() {
    let mut o = order(u64::MAX);
    let big = OrderEvent::Fill {
        trade_id: TradeId(1),
        lots: Lots(u64::MAX),
        price: Ticks(u64::MAX),
    };
    run(&mut o, &[big]);
    assert_eq!(o.average_fill_ticks(), Some(Decimal::from(u64::MAX)));
}

#[test]
fn overfill_is_refused() {
    let mut o = order(100);
    run(&mut o, &[ack(), fill(1, 60)]);
    let err = o.apply(&fill(2, 50), Timestamp(2)).unwrap_err();
    assert!(err.to_string().contains("overfill"), "{err}");
    assert_eq!(o.filled, Lots(60));
}

const ALL_STATUSES: [OrderStatus; 9] = [
    S::PendingNew,
    S::Open,
    S::PartiallyFilled,
    S::Filled,
    S::PendingCancel,
    S::Cancelled,
    S::Rejected,
    S::Expired,
    S::Unknown,
];

/// One event of each kind, with data that is legal wherever its kind is: a fresh trade id, a
/// fill too small to overfill, an acknowledgement carrying a new venue id.
fn one_of_each_kind() -> [OrderEvent; 9] {
    [
        ack(),
        fill(100, 1),
        OrderEvent::CancelRequested,
        OrderEvent::CancelRejected,
        OrderEvent::Cancelled,
        OrderEvent::Rejected,
        OrderEvent::Expired,
        OrderEvent::Ambiguous,
        OrderEvent::FilledAtVenue,
    ]
}

/// An order of 1000 lots put straight into `status`, with fills consistent with it (none,
/// except 400 lots when partly filled and all 1000 when filled) and no venue id.
fn in_status(status: OrderStatus) -> Order {
    let mut o = order(1000);
    o.status = status;
    let filled = match status {
        S::PartiallyFilled => 400,
        S::Filled => 1000,
        _ => 0,
    };
    if filled > 0 {
        o.filled = Lots(filled);
        o.filled_notional_ticks = u128::from(filled) * 5518;
        o.trade_ids.insert(TradeId(1));
    }
    o
}

/// The table, row by row: every legal (status, event, seen by the venue) triple and where it
/// leads; every other triple must be refused. A change to the lifecycle has to change this
/// list too.
#[test]
fn the_status_table_is_exactly_these_rows() {
    use EventKind as E;
    use Next as N;
    // Whether the venue has shown the order exists: either, or only this answer.
    const ANY: Option<bool> = None;
    let rows: [(OrderStatus, EventKind, Option<bool>, Next); 54] = [
        (S::PendingNew, E::Accepted, ANY, N::Resting),
        (S::Unknown, E::Accepted, ANY, N::Resting),
        (S::Open, E::Accepted, ANY, N::Stay),
        (S::PartiallyFilled, E::Accepted, ANY, N::Stay),
        (S::PendingCancel, E::Accepted, ANY, N::Stay),
        (S::Filled, E::Accepted, ANY, N::IdOnly),
        (S::Cancelled, E::Accepted, ANY, N::IdOnly),
        (S::PendingNew, E::Fill, ANY, N::FilledOrResting),
        (S::Unknown, E::Fill, ANY, N::FilledOrResting),
        (S::Open, E::Fill, ANY, N::FilledOrResting),
        (S::PartiallyFilled, E::Fill, ANY, N::FilledOrResting),
        (S::PendingCancel, E::Fill, ANY, N::FilledOrStay),
        (S::Cancelled, E::Fill, ANY, N::FilledOrStay),
        (S::Filled, E::Fill, ANY, N::FilledOrStay),
        (S::PendingNew, E::FilledAtVenue, ANY, N::To(S::Filled)),
        (S::Unknown, E::FilledAtVenue, ANY, N::To(S::Filled)),
        (S::Open, E::FilledAtVenue, ANY, N::To(S::Filled)),
        (S::PartiallyFilled, E::FilledAtVenue, ANY, N::To(S::Filled)),
        (S::PendingCancel, E::FilledAtVenue, ANY, N::To(S::Filled)),
        (S::Cancelled, E::FilledAtVenue, ANY, N::To(S::Filled)),
        (S::Filled, E::FilledAtVenue, ANY, N::Stay),
        (
            S::PendingNew,
            E::CancelRequested,
            ANY,
            N::To(S::PendingCancel),
        ),
        (S::Open, E::CancelRequested, ANY, N::To(S::PendingCancel)),
        (
            S::PartiallyFilled,
            E::CancelRequested,
            ANY,
            N::To(S::PendingCancel),
        ),
        (S::PendingCancel, E::CancelRequested, ANY, N::Stay),
        (S::PendingCancel, E::CancelRejected, ANY, N::Resting),
        (S::Filled, E::CancelRejected, ANY, N::Stay),
        (S::Cancelled, E::CancelRejected, ANY, N::Stay),
        (S::Rejected, E::CancelRejected, ANY, N::Stay),
        (S::Expired, E::CancelRejected, ANY, N::Stay),
        (S::PendingNew, E::Cancelled, ANY, N::To(S::Cancelled)),
        (S::Unknown, E::Cancelled, ANY, N::To(S::Cancelled)),
        (S::Open, E::Cancelled, ANY, N::To(S::Cancelled)),
        (S::PartiallyFilled, E::Cancelled, ANY, N::To(S::Cancelled)),
        (S::PendingCancel, E::Cancelled, ANY, N::To(S::Cancelled)),
        (S::Cancelled, E::Cancelled, ANY, N::Stay),
        (S::PendingNew, E::Rejected, ANY, N::To(S::Rejected)),
        (S::Unknown, E::Rejected, ANY, N::To(S::Rejected)),
        (S::PendingNew, E::Expired, ANY, N::To(S::Expired)),
        (S::Unknown, E::Expired, ANY, N::To(S::Expired)),
        (S::Open, E::Expired, ANY, N::To(S::Expired)),
        (S::PartiallyFilled, E::Expired, ANY, N::To(S::Expired)),
        (S::PendingCancel, E::Expired, ANY, N::To(S::Expired)),
        (S::PendingNew, E::Ambiguous, ANY, N::To(S::Unknown)),
        (S::Unknown, E::Ambiguous, ANY, N::Stay),
        (S::Open, E::Ambiguous, ANY, N::Stay),
        (S::PartiallyFilled, E::Ambiguous, ANY, N::Stay),
        (S::Filled, E::Ambiguous, ANY, N::Stay),
        (S::Cancelled, E::Ambiguous, ANY, N::Stay),
        (S::Rejected, E::Ambiguous, ANY, N::Stay),
        (S::Expired, E::Ambiguous, ANY, N::Stay),
        (
            S::PendingCancel,
            E::Rejected,
            Some(false),
            N::To(S::Rejected),
        ),
        (
            S::PendingCancel,
            E::Ambiguous,
            Some(false),
            N::To(S::Unknown),
        ),
        (S::PendingCancel, E::Ambiguous, Some(true), N::Stay),
    ];
    let kinds = one_of_each_kind().map(|e| e.kind());
    for from in ALL_STATUSES {
        for kind in kinds {
            for seen in [false, true] {
                let expected = rows
                    .iter()
                    .find(|r| (r.0, r.1) == (from, kind) && r.2.is_none_or(|s| s == seen))
                    .map(|r| r.3);
                assert_eq!(
                    next_status(from, kind, seen),
                    expected,
                    "{from:?} + {kind:?}, seen by the venue: {seen}"
                );
            }
        }
    }
    // 53 of the 81 (status, event) pairs are legal, PendingCancel + Rejected only while the
    // venue has not shown the order exists.
    let legal_pairs = ALL_STATUSES
        .iter()
        .flat_map(|&from| kinds.map(|kind| (from, kind)))
        .filter(|&(from, kind)| next_status(from, kind, false).is_some())
        .count();
    assert_eq!(legal_pairs, 53);
}

/// `apply` follows the table: a pair the table refuses is refused with the order untouched,
/// and a pair it allows lands in the status its row names.
#[test]
fn apply_refuses_exactly_what_the_table_refuses_and_changes_nothing() {
    for from in ALL_STATUSES {
        for event in one_of_each_kind() {
            let mut o = in_status(from);
            let before = o.clone();
            let row = next_status(from, event.kind(), o.seen_by_venue());
            let result = o.apply(&event, Timestamp(5));
            match row {
                None => {
                    let err = result.unwrap_err();
                    assert_eq!((err.status, err.event), (from, event.name()));
                    assert_eq!(o, before, "{from:?} + {}", event.name());
                }
                Some(Next::To(to)) => {
                    assert_eq!(result, Ok(Transition::Applied { from, to }));
                    assert_eq!((o.status, o.updated_at), (to, Timestamp(5)));
                }
                // The table lets a Filled order take a fill (the venue may close an order
                // before its fills arrive); this one is complete, so it is an overfill.
                Some(_) if (from, event.kind()) == (S::Filled, EventKind::Fill) => {
                    let err = result.unwrap_err();
                    assert!(err.detail.contains("overfill"), "{err}");
                    assert_eq!(o, before);
                }
                Some(_) => assert!(result.is_ok(), "{from:?} + {}", event.name()),
            }
        }
    }
}

/// The rows whose target depends on data: a fill completes the order or not, resting is
/// `Open` or `PartiallyFilled` by what has filled, and a repeat tells the caller nothing
/// unless it supplies a missing venue id.
#[test]
fn data_dependent_rows_pick_their_status_from_the_order() {
    // A completing fill ends in Filled from every status that takes fills.
    for from in [
        S::PendingNew,
        S::Unknown,
        S::Open,
        S::PendingCancel,
        S::Cancelled,
    ] {
        let mut o = in_status(from);
        let t = o.apply(&fill(2, 1000), Timestamp(5)).unwrap();
        assert_eq!(
            t,
            Transition::Applied {
                from,
                to: S::Filled
            }
        );
    }
    // A partial one: resting, or the status stays where a cancel is pending or done.
    for (from, to) in [
        (S::PendingNew, S::PartiallyFilled),
        (S::Unknown, S::PartiallyFilled),
        (S::Open, S::PartiallyFilled),
        (S::PartiallyFilled, S::PartiallyFilled),
        (S::PendingCancel, S::PendingCancel),
        (S::Cancelled, S::Cancelled),
    ] {
        let mut o = in_status(from);
        let t = o.apply(&fill(2, 10), Timestamp(5)).unwrap();
        assert_eq!(t, Transition::Applied { from, to });
    }
    // A refused cancel goes back to resting by what has filled.
    let mut o = in_status(S::PendingCancel);
    run(&mut o, &[OrderEvent::CancelRejected]);
    assert_eq!(o.status, S::Open);
    // Seen by the venue (here: its id), a pending cancel's submit can no longer be refused,
    // and an ambiguous outcome no longer makes it Unknown.
    let mut seen = in_status(S::PendingCancel);
    seen.venue_id = Some(VenueOrderId(3));
    let before = seen.clone();
    assert!(seen.apply(&OrderEvent::Rejected, Timestamp(5)).is_err());
    assert_eq!(
        seen.apply(&OrderEvent::Ambiguous, Timestamp(5)),
        Ok(Transition::Duplicate)
    );
    assert_eq!(seen, before);
    // A repeated ack that brings nothing new is a duplicate and touches nothing.
    let mut open = in_status(S::Open);
    open.venue_id = Some(VenueOrderId(3));
    let before = open.clone();
    assert_eq!(open.apply(&ack(), Timestamp(5)), Ok(Transition::Duplicate));
    assert_eq!(
        open, before,
        "a known venue id is not replaced by a late ack"
    );
    // The first ack names the order, replacing an id guessed before it.
    let mut unknown = in_status(S::Unknown);
    unknown.venue_id = Some(VenueOrderId(3));
    run(&mut unknown, &[ack()]);
    assert_eq!(unknown.venue_id, Some(VenueOrderId(77)));
    // A cancelled order's late ack records the id but is reported as a duplicate.
    let mut cancelled = in_status(S::Cancelled);
    assert_eq!(
        cancelled.apply(&ack(), Timestamp(5)),
        Ok(Transition::Duplicate)
    );
    assert_eq!(
        (cancelled.status, cancelled.venue_id, cancelled.updated_at),
        (S::Cancelled, Some(VenueOrderId(77)), Timestamp(5))
    );
}

/// Checks outside the table come first or after as documented: a repeated trade id is a
/// duplicate even where a new fill would be illegal, and a completely filled order refuses a
/// new fill as an overfill (the table admits fills after `Filled` for orders the venue closed
/// before their fills arrived).
#[test]
fn repeated_fills_are_duplicates_everywhere_and_overfill_is_checked_after_the_table() {
    for from in ALL_STATUSES {
        let mut o = in_status(from);
        o.trade_ids.insert(TradeId(50));
        let before = o.clone();
        assert_eq!(
            o.apply(&fill(50, 1), Timestamp(5)),
            Ok(Transition::Duplicate),
            "{from:?}"
        );
        assert_eq!(o, before);
    }
    let mut filled = in_status(S::Filled);
    let err = filled.apply(&fill(2, 1), Timestamp(5)).unwrap_err();
    assert!(err.detail.contains("overfill"), "{err}");
    let mut expired = in_status(S::Expired);
    let err = expired.apply(&fill(2, 1), Timestamp(5)).unwrap_err();
    assert_eq!(err.detail, "", "illegal, before any size check");
    let mut open = in_status(S::Open);
    let err = open.apply(&fill(2, 1001), Timestamp(5)).unwrap_err();
    assert!(err.detail.contains("overfill"), "{err}");
    let mut huge = in_status(S::PartiallyFilled);
    let err = huge.apply(&fill(2, u64::MAX), Timestamp(5)).unwrap_err();
    assert!(err.detail.contains("overfill"), "{err}");
}

#[test]
fn position_side_follows_side_and_direction() {
    assert_eq!(
        position_side(Side::Buy, Direction::Open),
        PositionSide::Long
    );
    assert_eq!(
        position_side(Side::Sell, Direction::Close),
        PositionSide::Long
    );
    assert_eq!(
        position_side(Side::Sell, Direction::Open),
        PositionSide::Short
    );
    assert_eq!(
        position_side(Side::Buy, Direction::Close),
        PositionSide::Short
    );
    assert_eq!(Restriction::PostOnly.code(), 3);
    assert_eq!(Restriction::FillOrAbort.code(), 1);
}

#[test]
fn the_venue_saying_filled_closes_the_order_and_its_fills_still_count_after() {
    let mut o = order(1000);
    o.apply(&ack(), Timestamp(1)).unwrap();
    o.apply(&fill(1, 400), Timestamp(2)).unwrap();
    assert_eq!(
        o.apply(&OrderEvent::FilledAtVenue, Timestamp(3)),
        Ok(Transition::Applied {
            from: S::PartiallyFilled,
            to: S::Filled
        })
    );
    assert!(!o.status.is_live());
    // The rest of the fill arrives after the record that closed the order: it counts.
    assert!(o.apply(&fill(2, 600), Timestamp(4)).is_ok());
    assert_eq!((o.status, o.filled), (S::Filled, Lots(1000)));
    // One more would be an overfill.
    assert!(o.apply(&fill(3, 1), Timestamp(5)).is_err());
    assert_eq!(o.filled, Lots(1000));
}
