//! Property tests for the order state machine (`perpbot::model::Order::apply`): arbitrary event
//! sequences — acknowledgements, fills (with repeated trade ids and overfills), cancels and their
//! refusals, rejections, expiry and ambiguous submits — in any order.
//!
//! The default case count is small so that the normal `cargo test` stays fast (all three
//! `prop_*` files together take well under 5 s in a debug build). For a longer search set
//! `PROPTEST_CASES`, which overrides the default here:
//!
//! ```text
//! PROPTEST_CASES=100000 cargo test --release --test integration prop_order
//! ```
//!
//! A failure prints the minimal event sequence and proptest stores its seed in
//! `tests/prop_order.proptest-regressions`; commit that file so the case is replayed on every run.

use std::collections::BTreeMap;

use perpbot::model::{
    ClientOrderId, Lots, MarketId, NewOrder, Order, OrderEvent, OrderRequest, OrderStatus, Side,
    Ticks, Timestamp, TradeId, Transition, VenueOrderId,
};
use proptest::prelude::*;

/// Default cases; `PROPTEST_CASES` overrides (and `PROPTEST_RNG_SEED` the
/// fixed seed, [`crate::common::PROPTEST_SEED`]).
const CASES: u32 = 512;

fn config() -> ProptestConfig {
    crate::common::proptest_config(CASES)
}

/// Any event. Trade ids come from a small pool so that repeats are common; fill sizes are
/// relative to an order of up to 100 lots, with the occasional absurd one.
fn event() -> impl Strategy<Value = OrderEvent> {
    let fill = (
        0u128..12,
        prop_oneof![6 => 1u64..40, 1 => Just(0u64), 1 => 40u64..200, 1 => Just(u64::MAX)],
        prop_oneof![1u64..10_000, Just(u64::MAX)],
    )
        .prop_map(|(id, lots, price)| OrderEvent::Fill {
            trade_id: TradeId(id),
            lots: Lots(lots),
            price: Ticks(price),
        });
    prop_oneof![
        2 => proptest::option::of(0u128..3).prop_map(|id| OrderEvent::Accepted {
            venue_id: id.map(VenueOrderId),
        }),
        5 => fill,
        1 => Just(OrderEvent::CancelRequested),
        1 => Just(OrderEvent::CancelRejected),
        1 => Just(OrderEvent::Cancelled),
        1 => Just(OrderEvent::Rejected),
        1 => Just(OrderEvent::Expired),
        1 => Just(OrderEvent::Ambiguous),
    ]
}

fn order(lots: u64) -> Order {
    let request = OrderRequest {
        client_id: ClientOrderId(1),
        order: NewOrder::limit(MarketId(1338), Side::Buy, Lots(lots), Ticks(5518)),
    };
    Order::new(request, Timestamp(0))
}

/// What the fills accepted so far must add up to.
#[derive(Default)]
struct Ledger {
    /// Trade id → (lots, price) of every fill the order accepted.
    fills: BTreeMap<TradeId, (u64, u64)>,
}

impl Ledger {
    fn filled(&self) -> u64 {
        self.fills.values().map(|(l, _)| l).sum()
    }
    fn notional(&self) -> u128 {
        self.fills
            .values()
            .map(|(l, p)| u128::from(*l) * u128::from(*p))
            .sum()
    }
}

/// The invariants that hold between any two events.
fn check_state(o: &Order, ledger: &Ledger) -> Result<(), TestCaseError> {
    use OrderStatus as S;
    let size = o.request.order.lots.0;
    prop_assert!(o.filled.0 <= size, "filled {} > size {size}", o.filled.0);
    prop_assert_eq!(
        o.filled.0,
        ledger.filled(),
        "filled = sum of distinct fills"
    );
    prop_assert_eq!(o.filled_notional_ticks, ledger.notional());
    prop_assert_eq!(o.remaining().0, size - o.filled.0);
    let mut ids = o.trade_ids.as_slice().to_vec();
    ids.sort();
    ids.dedup();
    prop_assert_eq!(ids.len(), o.trade_ids.len(), "a trade id is recorded once");
    prop_assert!(ids.iter().eq(ledger.fills.keys()));
    match o.status {
        S::Filled => prop_assert_eq!(o.filled.0, size, "Filled means nothing remains"),
        _ => prop_assert!(o.filled.0 < size, "{:?} with nothing remaining", o.status),
    }
    if matches!(o.status, S::PendingNew | S::Open | S::Unknown) {
        prop_assert_eq!(o.filled.0, 0, "{:?} has no fills", o.status);
    }
    if o.status == S::PartiallyFilled {
        prop_assert!(o.filled.0 > 0, "PartiallyFilled with nothing filled");
    }
    if o.status == S::Unknown {
        prop_assert!(o.status.is_live() && !o.status.is_terminal());
    }
    prop_assert_eq!(o.status.is_live(), !o.status.is_terminal());
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    /// Any sequence of events: no panic, and the state stays consistent after every step.
    #[test]
    fn any_event_sequence_keeps_the_order_consistent(
        size in prop_oneof![1u64..100, Just(1u64), Just(u64::MAX)],
        events in proptest::collection::vec((event(), any::<u64>()), 0..40),
    ) {
        use OrderStatus as S;
        let mut o = order(size);
        let mut ledger = Ledger::default();
        check_state(&o, &ledger)?;
        for (event, now) in &events {
            let before = o.clone();
            let result = o.apply(event, Timestamp(*now));
            match &result {
                Err(e) => {
                    prop_assert_eq!(&o, &before, "an illegal transition changes nothing");
                    prop_assert_eq!(e.status, before.status);
                    prop_assert_eq!(e.event, event.name());
                }
                Ok(Transition::Duplicate) => {
                    // At most a missing venue id is filled in.
                    prop_assert_eq!(o.status, before.status);
                    prop_assert_eq!(o.filled, before.filled);
                    prop_assert_eq!(&o.trade_ids, &before.trade_ids);
                    if o.venue_id != before.venue_id {
                        prop_assert!(before.venue_id.is_none());
                        prop_assert!(
                            matches!(event, OrderEvent::Accepted { venue_id: Some(_) }),
                            "only an ack supplies a venue id"
                        );
                    }
                }
                Ok(Transition::Applied { from, to }) => {
                    prop_assert_eq!(*from, before.status);
                    prop_assert_eq!(*to, o.status);
                    prop_assert_eq!(o.updated_at, Timestamp(*now));
                }
            }
            // Fills: a repeated trade id is a duplicate; a new one is counted exactly once.
            if let OrderEvent::Fill { trade_id, lots, price } = event {
                if before.trade_ids.contains(trade_id) {
                    prop_assert_eq!(&result, &Ok(Transition::Duplicate), "repeated trade id");
                } else if result.is_ok() {
                    prop_assert!(matches!(result, Ok(Transition::Applied { .. })), "{:?}", result);
                    ledger.fills.insert(*trade_id, (lots.0, price.0));
                } else {
                    // Refused: an order that can take no more fills, or an overfill.
                    let overfill = before.filled.0.checked_add(lots.0).is_none_or(|t| t > size);
                    prop_assert!(
                        overfill || matches!(before.status, S::Filled | S::Rejected | S::Expired),
                        "fill refused in {:?}", before.status
                    );
                }
            }
            // A terminal order never becomes live again. The one documented exception to
            // "nothing changes" — a fill after a cancel — keeps it terminal (Cancelled or Filled).
            if before.status.is_terminal() {
                prop_assert!(o.status.is_terminal(), "{:?} -> {:?}", before.status, o.status);
                if o.status != before.status {
                    prop_assert_eq!(before.status, S::Cancelled);
                    prop_assert_eq!(o.status, S::Filled);
                    prop_assert!(matches!(event, OrderEvent::Fill { .. }), "{:?}", event);
                }
            }
            // An ambiguous outcome is never a failure: it leads to Unknown (live) or nowhere.
            if matches!(event, OrderEvent::Ambiguous) {
                prop_assert!(
                    before.status.is_terminal() || o.status.is_live(),
                    "ambiguous made {:?} terminal", before.status
                );
                if before.status == S::PendingNew {
                    prop_assert_eq!(o.status, S::Unknown);
                }
            }
            // Unknown is resolved only by an explicit answer, never by time or repetition.
            if before.status == S::Unknown && o.status.is_terminal() {
                prop_assert!(
                    matches!(event, OrderEvent::Rejected | OrderEvent::Expired | OrderEvent::Cancelled)
                        || matches!(event, OrderEvent::Fill { .. }),
                    "Unknown became {:?} on {}", o.status, event.name()
                );
            }
            check_state(&o, &ledger)?;
        }
    }

    /// Replaying a whole sequence a second time changes no fill: every trade id is known.
    #[test]
    fn replaying_fills_counts_each_once(
        size in 1u64..100,
        events in proptest::collection::vec(event(), 0..30),
    ) {
        let mut o = order(size);
        for e in &events {
            let _ = o.apply(e, Timestamp(1));
        }
        let (filled, notional, ids) = (o.filled, o.filled_notional_ticks, o.trade_ids.clone());
        for e in events.iter().filter(|e| matches!(e, OrderEvent::Fill { .. })) {
            let r = o.apply(e, Timestamp(2));
            if let OrderEvent::Fill { trade_id, .. } = e
                && ids.contains(trade_id)
            {
                prop_assert_eq!(r, Ok(Transition::Duplicate));
            }
        }
        prop_assert_eq!(o.filled, filled);
        prop_assert_eq!(o.filled_notional_ticks, notional);
        prop_assert_eq!(o.trade_ids, ids);
    }
}
