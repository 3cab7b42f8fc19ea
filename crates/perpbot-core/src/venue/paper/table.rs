//! Our orders resting on the paper book, in time priority (ascending venue id).
//!
//! A market maker has a handful of orders resting at once, and the exchange walks all of them
//! for every book change and trade and copies them before every request (its checkpoint). A
//! vector sorted by id does both several times faster than a `BTreeMap` (one contiguous scan,
//! one allocation to copy), and ids are issued in ascending order, so inserting is a push.

use litemap::LiteMap;
use perpbot_model::{Direction, Lots, MarketId, Side, Ticks, VenueOrderId};

use super::exchange::RestingOrder;
use super::level_filter::LevelFilter;

/// Resting orders sorted by venue id, with the parts of a map's interface the exchange uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct OrderTable {
    orders: Vec<RestingOrder>,
    /// `Σ remaining lots × price ticks` of the opening orders, per market and leverage: their
    /// reserved margin is that times the tick size over the leverage. Kept as orders come, fill
    /// and go, so the margin reserve is not summed over every order on every request.
    reserve: LiteMap<(MarketId, u32), u128>,
    /// The levels the orders rest at, for [`OrderTable::may_rest_at`].
    levels: LevelFilter,
}

/// The orders of an [`OrderTable`] saved before a request, to put back if it is refused: the
/// orders alone (one copy), the reserve sums being counted again on the rare restore.
#[derive(Debug)]
pub(super) struct SavedOrders(Vec<RestingOrder>);

impl SavedOrders {
    /// The memory of a save no longer needed, for the next [`OrderTable::save_into`].
    pub fn into_buffer(self) -> Vec<RestingOrder> {
        let mut buffer = self.0;
        buffer.clear();
        buffer
    }
}

impl OrderTable {
    /// The orders as they are now, copied into `buffer` (a finished save's,
    /// [`SavedOrders::into_buffer`], so that a request copies them without allocating).
    pub fn save_into(&self, mut buffer: Vec<RestingOrder>) -> SavedOrders {
        buffer.clone_from(&self.orders);
        SavedOrders(buffer)
    }

    /// Back to the orders of `saved`. Returns the memory of the orders it replaces, emptied,
    /// for the next [`OrderTable::save_into`].
    pub fn restore(&mut self, saved: SavedOrders) -> Vec<RestingOrder> {
        let mut replaced = std::mem::replace(&mut self.orders, saved.0);
        (self.reserve, self.levels) = self.recounted();
        replaced.clear();
        replaced
    }

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

    /// Orders in time priority, to change their queue estimates in place — never their ids (the
    /// order depends on them) nor what the reserve sums (market, direction, price, size,
    /// leverage: [`OrderTable::reduce`] changes the size).
    pub fn values_mut(&mut self) -> std::slice::IterMut<'_, RestingOrder> {
        self.orders.iter_mut()
    }

    /// The reserve sums: `Σ remaining lots × price ticks` of the opening orders by market and
    /// leverage.
    pub fn reserve(&self) -> &LiteMap<(MarketId, u32), u128> {
        &self.reserve
    }

    /// The reserve sums counted afresh from the orders (what [`OrderTable::reserve`] must equal).
    pub fn reserve_recounted(&self) -> LiteMap<(MarketId, u32), u128> {
        self.recounted().0
    }

    /// False when no order rests at `price` on `side` of `market`; true when one may (then
    /// scan [`OrderTable::values`]). A book delta there is the only one that can move an
    /// order's queue estimate.
    #[inline]
    pub fn may_rest_at(&self, market: MarketId, side: Side, price: Ticks) -> bool {
        self.levels.may_hold(market, side, price)
    }

    /// The reserve sums and the level filter counted afresh from the orders.
    fn recounted(&self) -> (LiteMap<(MarketId, u32), u128>, LevelFilter) {
        let mut t = OrderTable::new();
        for o in &self.orders {
            t.added(o);
        }
        (t.reserve, t.levels)
    }

    /// Count a new order in the sums and the filter.
    fn added(&mut self, o: &RestingOrder) {
        self.reserve_add(Self::reserve_term(o));
        self.levels.add(o.market, o.side, o.price);
    }

    /// Take a departed order out of the sums and the filter.
    fn removed(&mut self, o: &RestingOrder) {
        self.reserve_sub(Self::reserve_term(o));
        self.levels.sub(o.market, o.side, o.price);
    }

    /// What an order adds to the reserve sums: its key and `lots × ticks` (`None` for a close).
    fn reserve_term(o: &RestingOrder) -> Option<((MarketId, u32), u128)> {
        (o.direction == Direction::Open).then(|| {
            let lots_ticks = u128::from(o.remaining.0) * u128::from(o.price.0);
            ((o.market, o.leverage), lots_ticks)
        })
    }

    fn reserve_add(&mut self, term: Option<((MarketId, u32), u128)>) {
        if let Some((key, v)) = term
            && v > 0
        {
            let sum = self.reserve.entry(key).or_insert(0);
            *sum = sum.saturating_add(v);
        }
    }

    fn reserve_sub(&mut self, term: Option<((MarketId, u32), u128)>) {
        if let Some((key, v)) = term
            && let Some(sum) = self.reserve.get_mut(&key)
        {
            *sum = sum.saturating_sub(v);
            if *sum == 0 {
                self.reserve.remove(&key);
            }
        }
    }

    fn position(&self, id: VenueOrderId) -> Result<usize, usize> {
        self.orders.binary_search_by_key(&id, |o| o.venue_id)
    }

    /// One order by id.
    pub fn get(&self, id: &VenueOrderId) -> Option<&RestingOrder> {
        self.orders.get(self.position(*id).ok()?)
    }

    /// Fill `lots` of one order: its size shrinks, and an order with nothing left is taken out
    /// and returned.
    pub fn reduce(&mut self, id: &VenueOrderId, lots: Lots) -> Option<RestingOrder> {
        let i = self.position(*id).ok()?;
        let o = self.orders.get_mut(i)?;
        let before = Self::reserve_term(o);
        o.remaining = o.remaining.saturating_sub(lots);
        let after = Self::reserve_term(o);
        let done = o.remaining.is_zero();
        self.reserve_sub(before);
        if done {
            let o = self.orders.remove(i);
            self.levels.sub(o.market, o.side, o.price);
            return Some(o);
        }
        self.reserve_add(after);
        None
    }

    /// Take one order out.
    pub fn remove(&mut self, id: &VenueOrderId) -> Option<RestingOrder> {
        let i = self.position(*id).ok()?;
        let o = self.orders.remove(i);
        self.removed(&o);
        Some(o)
    }

    /// Add `order` (its own `venue_id` is the key), replacing and returning one with the same id.
    pub fn insert(&mut self, order: RestingOrder) -> Option<RestingOrder> {
        self.added(&order);
        match self.position(order.venue_id) {
            Ok(i) => {
                let old = self.orders.get_mut(i).map(|o| std::mem::replace(o, order));
                if let Some(old) = &old {
                    self.removed(old);
                }
                old
            }
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
    use perpbot_model::ClientOrderId;

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
        assert!(t.reduce(&VenueOrderId(9), Lots(5)).is_none());
        assert_eq!(t.get(&VenueOrderId(9)).map(|o| o.remaining), Some(Lots(2)));
        assert_eq!(
            t.reduce(&VenueOrderId(1), Lots(3)).map(|o| o.venue_id.0),
            Some(1)
        );
        assert_eq!(t.len(), 2);
    }

    /// The reserve sums and the level filter follow every insert, replacement, fill and
    /// removal: equal to a fresh count after each of a seeded sequence (and every order's level
    /// held), and empty once the orders are gone.
    #[test]
    fn the_reserve_sums_and_the_level_filter_follow_every_change() {
        let mut next = crate::test_support::below(0xA5A5_5A5A);
        let mut t = OrderTable::new();
        for step in 0..5_000u64 {
            let id = 1 + next(40);
            match next(4) {
                0 | 1 => {
                    let mut o = order(u128::from(id));
                    o.market = MarketId(1 + next(2));
                    o.leverage = 1 + next(3) as u32;
                    o.price = Ticks(1 + next(1_000));
                    o.side = if next(2) == 0 { Side::Buy } else { Side::Sell };
                    o.remaining = Lots(1 + next(50));
                    if next(3) == 0 {
                        o.direction = Direction::Close;
                    }
                    t.insert(o);
                }
                2 => {
                    t.reduce(&VenueOrderId(u128::from(id)), Lots(next(30)));
                }
                _ => {
                    t.remove(&VenueOrderId(u128::from(id)));
                }
            }
            assert_eq!(t.reserve(), &t.reserve_recounted(), "step {step}");
            assert_eq!(t.levels, t.recounted().1, "step {step}");
            for o in t.values() {
                assert!(t.may_rest_at(o.market, o.side, o.price), "step {step}");
            }
        }
        for id in 1..=40 {
            t.remove(&VenueOrderId(id));
        }
        assert!(t.reserve().is_empty());
        assert_eq!(t.levels, LevelFilter::default());
        // A restore brings the sums back with the orders.
        t.insert(order(1));
        let saved = t.save_into(vec![order(9)]);
        let before = t.reserve().clone();
        t.insert(order(2));
        t.remove(&VenueOrderId(1));
        // The orders it replaces come back as an empty buffer for the next save.
        assert!(t.restore(saved).is_empty());
        assert_eq!(t.reserve(), &before);
        assert_eq!(t.levels, t.recounted().1);
        assert_eq!(t.values().map(|o| o.venue_id.0).collect::<Vec<_>>(), [1]);
    }
}
