//! Our orders in two tiers, so that the map every event touches stays small however long the
//! bot has run.
//!
//! Finished orders are kept for a while after they end (late fills and acknowledgements must
//! still find them, and strategies look back at recent orders), and a market maker finishes two
//! orders per requote. In one map they outnumbered the live orders by thousands to one, so every
//! lookup, insert and venue-id link on the order path landed in a table far larger than the
//! cache: SBS-3's 2,000,000-event backtest held all its 91,466 orders, and pruning them every
//! second instead of every ten minutes took 10–22 % off its time (BENCHMARKS.md, thirteenth
//! session), with the same fills.
//!
//! - The **hot** tier holds the live orders and the ones that finished since the last
//!   [`OrderStore::retire`] (the engine calls it on every tick), with their venue ids.
//! - The **cold** tier holds the finished orders retired from it, in id order, until
//!   [`OrderStore::prune`] drops them.
//!
//! The split changes no answer: every read looks in both tiers, and a write to a cold order
//! (a late fill, a late cancel confirmation) first brings it back to the hot tier.
//!
//! The cold tier also keeps the order in which orders were retired, so that a reader that
//! wants only orders changed since some time (attributing a Kana fill, which names no order)
//! reads the recent end of it instead of every order of the retention window, and a prune
//! reads the old end: it costs what it drops, not what the tier holds. (It read the whole
//! tier: with ten minutes kept, a busy maker's 270,000 orders, every minute, on the engine's
//! thread.)

use std::collections::{BTreeMap, VecDeque};

use foldhash::HashMap;
use perpbot_model::{ClientOrderId, Order, Timestamp, VenueOrderId};

/// Our orders by client id, with the venue's ids mapped back to them.
#[derive(Debug, Default)]
pub(crate) struct OrderStore {
    hot: HashMap<ClientOrderId, Order>,
    hot_by_venue: HashMap<VenueOrderId, ClientOrderId>,
    cold: BTreeMap<ClientOrderId, Order>,
    cold_by_venue: HashMap<VenueOrderId, ClientOrderId>,
    /// The cold tier's ids in the order they were retired. Each is keyed by the latest
    /// `updated_at` among it and every order retired before it. The keys never decrease, so a
    /// reader of the orders changed since `t` walks back from the newest and stops at the first
    /// key before `t`, whatever the clocks did. Each also carries when it was retired, by our
    /// clock, for [`OrderStore::prune`]. Ids that have since left the cold tier (warmed or
    /// dropped) are skipped when read and trimmed from the front when the tier is pruned.
    retired: VecDeque<Retired>,
}

/// One entry of the retirement log ([`OrderStore::retired`]).
#[derive(Debug, Clone, Copy)]
struct Retired {
    /// The latest `updated_at` among this order and every one retired before it.
    key: Timestamp,
    id: ClientOrderId,
    /// When it was retired.
    at: Timestamp,
    /// Its `updated_at` then: an order changed since was warmed and retired again, and a later
    /// entry speaks for it.
    changed: Timestamp,
}

impl OrderStore {
    /// The order with client id `id`.
    pub(crate) fn get(&self, id: &ClientOrderId) -> Option<&Order> {
        self.hot.get(id).or_else(|| self.cold.get(id))
    }

    /// The order with client id `id`, to change: a cold order moves back to the hot tier first.
    pub(crate) fn get_mut(&mut self, id: &ClientOrderId) -> Option<&mut Order> {
        if !self.hot.contains_key(id) {
            self.warm(*id);
        }
        self.hot.get_mut(id)
    }

    /// True when an order with client id `id` is held.
    pub(crate) fn contains(&self, id: &ClientOrderId) -> bool {
        self.hot.contains_key(id) || self.cold.contains_key(id)
    }

    /// Hold `order` under `id` (in the hot tier), returning the order it replaces.
    pub(crate) fn insert(&mut self, id: ClientOrderId, order: Order) -> Option<Order> {
        let old_cold = self.cold.remove(&id);
        self.hot.insert(id, order).or(old_cold)
    }

    /// Every order, in no particular order.
    pub(crate) fn values(&self) -> impl Iterator<Item = &Order> {
        self.hot.values().chain(self.cold.values())
    }

    /// Every order that may have changed at or after `since`: the whole hot tier (it holds the
    /// live orders), then the cold orders whose last change is not before `since`, newest
    /// retired first. It may name an order twice (one warmed and retired again); it never
    /// leaves out an order of [`OrderStore::values`] that is hot or changed since `since`.
    pub(crate) fn changed_since(&self, since: Timestamp) -> impl Iterator<Item = &Order> {
        let cold = self
            .retired
            .iter()
            .rev()
            .take_while(move |r| r.key >= since)
            .filter_map(|r| self.cold.get(&r.id));
        self.hot.values().chain(cold)
    }

    /// Every order, by ascending client id.
    pub(crate) fn by_id(&self) -> impl Iterator<Item = &Order> {
        let mut all: Vec<&Order> = self.values().collect();
        all.sort_unstable_by_key(|o| o.client_id());
        all.into_iter()
    }

    /// Number of orders held (both tiers).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.hot.len() + self.cold.len()
    }

    /// Number of orders in the hot tier.
    #[cfg(test)]
    pub(crate) fn hot_len(&self) -> usize {
        self.hot.len()
    }

    /// Our client id for venue id `v`.
    pub(crate) fn client_id_for(&self, v: &VenueOrderId) -> Option<ClientOrderId> {
        self.hot_by_venue
            .get(v)
            .or_else(|| self.cold_by_venue.get(v))
            .copied()
    }

    /// True when venue id `v` maps to an order.
    pub(crate) fn knows_venue_id(&self, v: &VenueOrderId) -> bool {
        self.hot_by_venue.contains_key(v) || self.cold_by_venue.contains_key(v)
    }

    /// Map venue id `v` to client id `id`, returning what it mapped to before.
    pub(crate) fn link_venue_id(
        &mut self,
        v: VenueOrderId,
        id: ClientOrderId,
    ) -> Option<ClientOrderId> {
        let old_cold = self.cold_by_venue.remove(&v);
        self.hot_by_venue.insert(v, id).or(old_cold)
    }

    /// Move the finished orders of the hot tier, and the venue ids that map to them, to the cold
    /// tier, retired at `now`. Cheap: the hot tier holds the live orders and one tick's
    /// finished ones.
    pub(crate) fn retire(&mut self, now: Timestamp) {
        self.take_finished(now, |_| false, &mut Vec::new());
    }

    /// Drop the finished orders whose last change is at least `keep` before `now`, with the
    /// venue ids that map to them, and retire the other finished ones. Returns the ids dropped.
    ///
    /// Cold orders are dropped oldest retired first, and the first one still within `keep`
    /// stops the pass: an order retired after it waits for the next prune even if its own last
    /// change is older. Orders retire on the tick after they finish, so that wait is at most
    /// about a tick. A last change the venue dated after the order's retirement (a clock ahead
    /// of ours) counts from that retirement instead (the first since the change, while the
    /// order is cold), so no clock can hold the tier back longer than `keep` past an order's
    /// retirement. An order read back to the hot tier is judged there by its last change alone.
    pub(crate) fn prune(
        &mut self,
        now: Timestamp,
        keep: std::time::Duration,
    ) -> Vec<ClientOrderId> {
        let expired = |changed: Timestamp| now.since(changed) >= keep;
        let mut dropped = Vec::new();
        self.take_finished(now, |o| expired(o.updated_at), &mut dropped);
        let OrderStore {
            hot_by_venue,
            cold,
            cold_by_venue,
            retired,
            ..
        } = self;
        while let Some(front) = retired.front() {
            let Some(order) = cold
                .get(&front.id)
                .filter(|o| o.updated_at == front.changed)
            else {
                // Warmed (and written) or dropped since: nothing to read here.
                retired.pop_front();
                continue;
            };
            if !expired(order.updated_at.min(front.at)) {
                break;
            }
            let id = front.id;
            retired.pop_front();
            if let Some(order) = cold.remove(&id) {
                forget_venue_id(&order, id, [&mut *hot_by_venue, &mut *cold_by_venue]);
            }
            dropped.push(id);
        }
        dropped
    }

    /// Take the finished orders out of the hot tier: those `expired` picks are dropped (their
    /// ids added to `dropped`), the others retired to the cold tier. Dropping straight from the
    /// hot tier spares a short retention moving each order twice.
    fn take_finished(
        &mut self,
        now: Timestamp,
        expired: impl Fn(&Order) -> bool,
        dropped: &mut Vec<ClientOrderId>,
    ) {
        let OrderStore {
            hot,
            hot_by_venue,
            cold,
            cold_by_venue,
            retired,
        } = self;
        for (id, order) in hot.extract_if(|_, o| o.status.is_terminal()) {
            if expired(&order) {
                forget_venue_id(&order, id, [&mut *hot_by_venue, &mut *cold_by_venue]);
                dropped.push(id);
            } else {
                move_venue_id(&order, id, hot_by_venue, cold_by_venue);
                let key = retired
                    .back()
                    .map_or(order.updated_at, |last| last.key.max(order.updated_at));
                retired.push_back(Retired {
                    key,
                    id,
                    at: now,
                    changed: order.updated_at,
                });
                cold.insert(id, order);
            }
        }
    }

    /// Bring cold order `id`, and the venue id that maps to it, back to the hot tier.
    fn warm(&mut self, id: ClientOrderId) {
        let Some(order) = self.cold.remove(&id) else {
            return;
        };
        move_venue_id(&order, id, &mut self.cold_by_venue, &mut self.hot_by_venue);
        self.hot.insert(id, order);
    }
}

/// Move the venue id of `order` (client id `id`) from `from` to `to`, if it maps to `id` there.
fn move_venue_id(
    order: &Order,
    id: ClientOrderId,
    from: &mut HashMap<VenueOrderId, ClientOrderId>,
    to: &mut HashMap<VenueOrderId, ClientOrderId>,
) {
    if let Some(v) = order.venue_id
        && from.get(&v) == Some(&id)
    {
        from.remove(&v);
        to.insert(v, id);
    }
}

/// Remove the venue id of `order` (client id `id`) from each map in which it maps to `id` (it
/// may since have gone to another order, which keeps it).
fn forget_venue_id(
    order: &Order,
    id: ClientOrderId,
    maps: [&mut HashMap<VenueOrderId, ClientOrderId>; 2],
) {
    let Some(v) = order.venue_id else {
        return;
    };
    for map in maps {
        if map.get(&v) == Some(&id) {
            map.remove(&v);
        }
    }
}

#[cfg(test)]
mod tests;
