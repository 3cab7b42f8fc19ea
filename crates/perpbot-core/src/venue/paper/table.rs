//! Our orders resting on the paper book, in time priority (ascending venue id).
//!
//! A market maker has a handful of orders resting at once, and the exchange walks all of them
//! for every book change and trade and copies them before every request (its checkpoint). A
//! vector sorted by id does both several times faster than a `BTreeMap` (one contiguous scan,
//! one allocation to copy), and ids are issued in ascending order, so inserting is a push.

use perpbot_model::VenueOrderId;

use super::exchange::RestingOrder;

/// Resting orders sorted by venue id, with the parts of a map's interface the exchange uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct OrderTable {
    orders: Vec<RestingOrder>,
}

impl OrderTable {
    /// No orders.
    pub fn new() -> OrderTable {
        OrderTable::default()
    }

    /// Number of orders.
    pub fn len(&self) -> usize {
        self.orders.len()
    }

    /// Orders in time priority.
    pub fn values(&self) -> std::slice::Iter<'_, RestingOrder> {
        self.orders.iter()
    }

    /// Orders in time priority, to change in place (never their ids: the order depends on them).
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, RestingOrder> {
        self.orders.iter_mut()
    }

    fn position(&self, id: VenueOrderId) -> Result<usize, usize> {
        self.orders.binary_search_by_key(&id, |o| o.venue_id)
    }

    /// One order by id.
    pub fn get(&self, id: &VenueOrderId) -> Option<&RestingOrder> {
        self.orders.get(self.position(*id).ok()?)
    }

    /// One order by id, to change in place.
    pub fn get_mut(&mut self, id: &VenueOrderId) -> Option<&mut RestingOrder> {
        let i = self.position(*id).ok()?;
        self.orders.get_mut(i)
    }

    /// Take one order out.
    pub fn remove(&mut self, id: &VenueOrderId) -> Option<RestingOrder> {
        let i = self.position(*id).ok()?;
        Some(self.orders.remove(i))
    }

    /// Add `order` (its own `venue_id` is the key), replacing and returning one with the same id.
    pub fn insert(&mut self, order: RestingOrder) -> Option<RestingOrder> {
        match self.position(order.venue_id) {
            Ok(i) => self.orders.get_mut(i).map(|o| std::mem::replace(o, order)),
            Err(i) => {
                self.orders.insert(i, order);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perpbot_model::{ClientOrderId, Direction, Lots, MarketId, Side, Ticks};

    fn order(id: u128) -> RestingOrder {
        RestingOrder {
            client_id: ClientOrderId(id as u64),
            venue_id: VenueOrderId(id),
            market: MarketId(1),
            side: Side::Buy,
            direction: Direction::Open,
            price: Ticks(100),
            remaining: Lots(1),
            leverage: 1,
            queue_ahead: Lots(0),
            level_seen: Lots(0),
            take_profit: None,
            stop_loss: None,
        }
    }

    #[test]
    fn keeps_time_priority_whatever_the_insertion_order() {
        let mut t = OrderTable::new();
        for id in [5, 1, 9, 3] {
            assert!(t.insert(order(id)).is_none());
        }
        let ids: Vec<u128> = t.values().map(|o| o.venue_id.0).collect();
        assert_eq!(ids, [1, 3, 5, 9]);
        assert_eq!(t.remove(&VenueOrderId(3)).map(|o| o.venue_id.0), Some(3));
        assert!(t.remove(&VenueOrderId(3)).is_none());
        assert!(t.get(&VenueOrderId(4)).is_none());
        let mut replaced = order(9);
        replaced.remaining = Lots(7);
        assert_eq!(t.insert(replaced).map(|o| o.remaining), Some(Lots(1)));
        assert_eq!(t.get(&VenueOrderId(9)).map(|o| o.remaining), Some(Lots(7)));
        if let Some(o) = t.get_mut(&VenueOrderId(1)) {
            o.remaining = Lots(2);
        }
        assert_eq!(t.get(&VenueOrderId(1)).map(|o| o.remaining), Some(Lots(2)));
        assert_eq!(t.len(), 3);
    }
}
