use std::time::Duration;

use perpbot_model::{
    ClientOrderId, Lots, MarketId, NewOrder, Order, OrderEvent, OrderRequest, Side, Ticks,
    Timestamp, VenueOrderId,
};

use super::OrderStore;

fn order(id: u64, at: Timestamp) -> Order {
    let spec = NewOrder::limit(MarketId(1), Side::Buy, Lots(1), Ticks(10));
    Order::new(
        OrderRequest {
            client_id: ClientOrderId(id),
            order: spec,
        },
        at,
    )
}

fn acknowledged(id: u64, venue: u128, at: Timestamp) -> Order {
    let mut o = order(id, at);
    let accepted = OrderEvent::Accepted {
        venue_id: Some(VenueOrderId(venue)),
    };
    assert!(o.apply(&accepted, at).is_ok());
    o
}

fn cancelled(id: u64, venue: u128, at: Timestamp) -> Order {
    let mut o = acknowledged(id, venue, at);
    assert!(o.apply(&OrderEvent::Cancelled, at).is_ok());
    assert!(o.status.is_terminal());
    o
}

fn store(orders: Vec<Order>) -> OrderStore {
    let mut s = OrderStore::default();
    for o in orders {
        if let Some(v) = o.venue_id {
            s.link_venue_id(v, o.client_id());
        }
        s.insert(o.client_id(), o);
    }
    s
}

const T0: Timestamp = Timestamp(1_000_000_000);

#[test]
fn retiring_moves_only_finished_orders_and_every_read_still_finds_them() {
    let mut s = store(vec![
        cancelled(3, 30, T0),
        acknowledged(1, 10, T0),
        cancelled(2, 20, T0),
        order(4, T0),
    ]);
    s.retire(T0);
    assert_eq!(s.hot_len(), 2, "the live orders stay hot");
    assert_eq!(s.len(), 4);
    for id in 1..=4 {
        assert!(s.contains(&ClientOrderId(id)));
        let found = s.get(&ClientOrderId(id)).map(Order::client_id);
        assert_eq!(found, Some(ClientOrderId(id)));
    }
    assert_eq!(s.client_id_for(&VenueOrderId(20)), Some(ClientOrderId(2)));
    assert_eq!(s.client_id_for(&VenueOrderId(10)), Some(ClientOrderId(1)));
    assert!(s.knows_venue_id(&VenueOrderId(30)));
    assert!(!s.knows_venue_id(&VenueOrderId(40)));
    let ids: Vec<u64> = s.by_id().map(|o| o.client_id().0).collect();
    assert_eq!(ids, vec![1, 2, 3, 4], "ascending across both tiers");
    let mut all: Vec<u64> = s.values().map(|o| o.client_id().0).collect();
    all.sort_unstable();
    assert_eq!(all, vec![1, 2, 3, 4]);
}

#[test]
fn a_write_to_a_retired_order_brings_it_back_with_its_venue_id() {
    let mut s = store(vec![cancelled(2, 20, T0), acknowledged(1, 10, T0)]);
    s.retire(T0);
    assert_eq!(s.hot_len(), 1);
    let o = s.get_mut(&ClientOrderId(2)).map(|o| o.client_id());
    assert_eq!(o, Some(ClientOrderId(2)));
    assert_eq!(s.hot_len(), 2);
    assert_eq!(s.client_id_for(&VenueOrderId(20)), Some(ClientOrderId(2)));
    // Back in the hot tier, it is still pruned (pruning retires first).
    let dropped = s.prune(T0.plus(Duration::from_secs(5)), Duration::from_secs(1));
    assert_eq!(dropped, vec![ClientOrderId(2)]);
    assert!(!s.contains(&ClientOrderId(2)));
    assert!(!s.knows_venue_id(&VenueOrderId(20)));
    assert_eq!(s.client_id_for(&VenueOrderId(10)), Some(ClientOrderId(1)));
    assert!(s.get_mut(&ClientOrderId(9)).is_none());
}

#[test]
fn replacing_or_relinking_reports_what_either_tier_held() {
    let mut s = store(vec![cancelled(2, 20, T0)]);
    s.retire(T0);
    // A venue id known in the cold tier is not new, and moves to its new holder.
    let before = s.link_venue_id(VenueOrderId(20), ClientOrderId(5));
    assert_eq!(before, Some(ClientOrderId(2)));
    assert_eq!(s.client_id_for(&VenueOrderId(20)), Some(ClientOrderId(5)));
    assert_eq!(s.link_venue_id(VenueOrderId(21), ClientOrderId(5)), None);
    // Re-inserting a retired order replaces it: one copy, and the old one is returned.
    let old = s.insert(ClientOrderId(2), order(2, T0));
    assert!(old.is_some_and(|o| o.status.is_terminal()));
    assert_eq!(s.len(), 1);
    assert_eq!(s.hot_len(), 1);
}

#[test]
fn pruning_keeps_recent_finished_orders_and_every_live_one() {
    let later = T0.plus(Duration::from_secs(100));
    let mut s = store(vec![
        cancelled(1, 10, T0),
        cancelled(2, 20, later),
        acknowledged(3, 30, T0),
    ]);
    let dropped = s.prune(later.plus(Duration::from_secs(10)), Duration::from_secs(60));
    assert_eq!(dropped, vec![ClientOrderId(1)]);
    assert!(!s.knows_venue_id(&VenueOrderId(10)));
    assert!(
        s.contains(&ClientOrderId(2)),
        "finished 10 s ago, kept for 60"
    );
    assert!(s.contains(&ClientOrderId(3)), "live, however old");
}

#[test]
fn pruning_an_order_leaves_its_venue_id_when_another_order_holds_it() {
    let mut s = store(vec![cancelled(1, 10, T0)]);
    s.link_venue_id(VenueOrderId(10), ClientOrderId(7));
    s.prune(T0.plus(Duration::from_secs(10)), Duration::from_secs(1));
    assert_eq!(s.client_id_for(&VenueOrderId(10)), Some(ClientOrderId(7)));
}

/// Against every order the store holds: `changed_since` names each hot order and each order
/// changed at or after `since`, over a seeded run of placements, cancels (with clocks that
/// go back now and then), retirements, late writes to retired orders and prunes. And it reads
/// only the recent end of the cold tier.
#[test]
fn the_orders_changed_since_a_time_include_every_one_a_full_pass_finds() {
    let mut below = crate::test_support::below(0xa77b_1b07);
    let mut s = OrderStore::default();
    let mut now = T0;
    let mut next_id = 1u64;
    for step in 0..4_000 {
        now = now.plus(Duration::from_millis(below(300)));
        match below(10) {
            0..=3 => {
                s.insert(
                    ClientOrderId(next_id),
                    acknowledged(next_id, next_id.into(), now),
                );
                next_id += 1;
            }
            4..=6 => {
                // Cancel an order, dated up to two seconds before or after now (venue clocks).
                let id = ClientOrderId(1 + below(next_id));
                let at = Timestamp((now.0 + below(4_000_000_000)).saturating_sub(2_000_000_000));
                if let Some(o) = s.get_mut(&id) {
                    let _ = o.apply(&OrderEvent::Cancelled, at);
                }
            }
            7 | 8 => s.retire(now),
            _ => {
                s.prune(now, Duration::from_secs(300));
            }
        }
        if step % 50 != 0 {
            continue;
        }
        for back in [0, 1, 5, 20, 60] {
            let since = now.minus(Duration::from_secs(back));
            let named: std::collections::HashSet<ClientOrderId> =
                s.changed_since(since).map(|o| o.client_id()).collect();
            for o in s.values() {
                let hot = s.hot.contains_key(&o.client_id());
                if hot || o.updated_at >= since {
                    assert!(
                        named.contains(&o.client_id()),
                        "step {step}: order {} (updated {:?}, hot {hot}) missing since {since:?}",
                        o.client_id(),
                        o.updated_at
                    );
                }
            }
        }
    }
    // The recent end only: a second back reads far fewer cold orders than the tier holds.
    let cold = s.cold.len();
    let read = s.changed_since(Timestamp(now.0 - 1_000_000_000)).count() - s.hot.len();
    assert!(
        cold > 100 && read * 10 < cold,
        "read {read} of {cold} cold orders"
    );
}

/// A prune reads the cold tier from its oldest retirement and stops at the first order still
/// within the retention, so it is checked here against what it promises, over a seeded run of
/// placements, cancels (dated up to two seconds either side of our clock), late writes,
/// retirements and prunes: a finished order is held while its last change, or its retirement
/// since that change if earlier, is within the retention (never dropped early), and is gone at
/// the first prune a retention after that retirement (never held long). Live orders stay.
#[test]
fn a_prune_drops_no_order_early_and_none_a_retention_past_its_retirement() {
    let keep = Duration::from_secs(20);
    let mut below = crate::test_support::below(0x9e7a_11ed);
    let mut s = OrderStore::default();
    // By id: when the order was first retired since its last change (none while hot).
    let mut retired_at: std::collections::HashMap<ClientOrderId, Timestamp> =
        std::collections::HashMap::new();
    let mut now = T0;
    let mut next_id = 1u64;
    let (mut dropped_total, mut held_past_expiry) = (0, 0);
    let retire = |s: &OrderStore, now, retired_at: &mut std::collections::HashMap<_, _>| {
        for (id, o) in &s.hot {
            if o.status.is_terminal() {
                retired_at.entry(*id).or_insert(now);
            }
        }
    };
    let mut late_writes = 0;
    for step in 0..6_000u64 {
        now = now.plus(Duration::from_millis(below(400)));
        match below(12) {
            0..=3 => {
                let id = ClientOrderId(next_id);
                s.insert(id, acknowledged(next_id, next_id.into(), now));
                next_id += 1;
            }
            4..=7 => {
                // A cancel, or a late fill (which a cancelled order still takes): either may
                // reach a retired order, and either is dated by the venue's clock.
                // One of the last hundred orders: most are finished, many retired.
                let id = ClientOrderId(next_id.saturating_sub(1 + below(100)).max(1));
                let at = Timestamp((now.0 + below(4_000_000_000)).saturating_sub(2_000_000_000));
                let event = if below(3) == 0 {
                    let trade_id = perpbot_model::TradeId(step.into());
                    OrderEvent::Fill {
                        trade_id,
                        lots: Lots(1),
                        price: Ticks(10),
                    }
                } else {
                    OrderEvent::Cancelled
                };
                let was_cold = s.cold.contains_key(&id);
                if let Some(o) = s.get_mut(&id) {
                    let before = o.updated_at;
                    let _ = o.apply(&event, at);
                    if o.updated_at != before {
                        retired_at.remove(&id);
                        late_writes += usize::from(was_cold);
                    }
                }
            }
            8 | 9 => {
                retire(&s, now, &mut retired_at);
                s.retire(now);
            }
            _ => {
                // What the prune may and must drop, judged before it runs.
                let mut must_keep = Vec::new();
                let mut must_drop = Vec::new();
                for o in s.values() {
                    let id = o.client_id();
                    if !o.status.is_terminal() {
                        must_keep.push(id);
                        continue;
                    }
                    // A hot order is retired by this prune (unless its last change is past the
                    // retention) or was retired before and warmed by a read that changed it not.
                    let hot = s.hot.contains_key(&id);
                    let retired = retired_at.get(&id).copied();
                    if now.since(o.updated_at.min(retired.unwrap_or(now))) < keep {
                        must_keep.push(id);
                    } else if (!hot && retired.is_some_and(|r| now.since(r) >= keep))
                        || (hot && now.since(o.updated_at) >= keep)
                    {
                        must_drop.push(id);
                    }
                }
                retire(&s, now, &mut retired_at);
                let dropped = s.prune(now, keep);
                dropped_total += dropped.len();
                for id in &dropped {
                    retired_at.remove(id);
                }
                for id in must_keep {
                    assert!(s.contains(&id), "step {step}: order {id} dropped early");
                }
                for id in &must_drop {
                    assert!(!s.contains(id), "step {step}: order {id} held too long");
                    assert!(!s.knows_venue_id(&VenueOrderId(id.0.into())));
                }
                held_past_expiry += s
                    .values()
                    .filter(|o| o.status.is_terminal() && now.since(o.updated_at) >= keep)
                    .count();
            }
        }
    }
    // The run dropped plenty, and the bounded wait behind a fresher order did happen.
    assert!(dropped_total > 500, "{dropped_total}");
    assert!(held_past_expiry > 0, "{held_past_expiry}");
    // Retired orders were written to and retired again.
    assert!(late_writes > 50, "{late_writes}");
}
