//! A set with bounded memory: the newest `capacity` keys are remembered, older ones forgotten.
//! Used for `message_id`s of the private WebSocket and `(trade_id, order_id)` of fills.

use std::collections::{HashSet, VecDeque};
use std::hash::Hash;

/// Remembers the last `capacity` keys inserted.
#[derive(Debug, Clone)]
pub struct BoundedSet<K: Eq + Hash + Clone> {
    order: VecDeque<K>,
    set: HashSet<K>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone> BoundedSet<K> {
    /// A set keeping at most `capacity` keys (at least 1).
    pub fn new(capacity: usize) -> BoundedSet<K> {
        BoundedSet {
            order: VecDeque::new(),
            set: HashSet::new(),
            capacity: capacity.max(1),
        }
    }

    /// Insert; false when the key was already there (a repeat).
    pub fn insert(&mut self, key: K) -> bool {
        if self.set.contains(&key) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        self.order.push_back(key.clone());
        self.set.insert(key);
        true
    }

    /// Whether `key` is held.
    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    /// How many keys it holds.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_are_refused_and_memory_is_bounded() {
        let mut s = BoundedSet::new(2);
        assert!(s.insert(1));
        assert!(!s.insert(1));
        assert!(s.insert(2));
        assert!(s.insert(3));
        assert_eq!(s.len(), 2);
        // 1 was forgotten.
        assert!(s.insert(1));
    }
}
