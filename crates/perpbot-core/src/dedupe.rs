//! A set with bounded memory, for recognising repeats in streams that never end: the newest
//! `capacity` keys are remembered, older ones forgotten. The venue decoders use it for the
//! fills and messages a stream replays, and the state for the trade ids it has applied.

use std::collections::VecDeque;
use std::hash::Hash;

use foldhash::HashSet;

/// Remembers the last `capacity` keys inserted.
#[derive(Debug, Clone)]
pub struct BoundedSet<K: Eq + Hash + Clone> {
    order: VecDeque<K>,
    set: HashSet<K>,
    capacity: usize,
}

impl<K: Eq + Hash + Clone> BoundedSet<K> {
    /// A set keeping at most `capacity` keys; 0 remembers nothing (every key is new).
    pub fn new(capacity: usize) -> BoundedSet<K> {
        BoundedSet {
            order: VecDeque::new(),
            set: HashSet::default(),
            capacity,
        }
    }

    /// Insert; false when the key was already there (a repeat). Past the capacity the oldest
    /// key is forgotten.
    pub fn insert(&mut self, key: K) -> bool {
        if self.capacity == 0 {
            return true;
        }
        if !self.set.insert(key.clone()) {
            return false;
        }
        self.order.push_back(key);
        if self.order.len() > self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }

    /// Whether `key` is remembered.
    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    /// How many keys it remembers.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    /// True when it remembers none.
    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::BoundedSet;

    #[test]
    fn repeats_are_refused_and_the_oldest_key_is_forgotten_first() {
        let mut s = BoundedSet::new(2);
        assert!(s.insert(1));
        assert!(!s.insert(1));
        assert!(s.insert(2));
        assert!(s.insert(3));
        assert_eq!(s.len(), 2);
        assert!(!s.contains(&1) && s.contains(&2) && s.contains(&3));
        // 1 was forgotten, so it is new again; 2 goes to make room.
        assert!(s.insert(1));
        assert!(!s.contains(&2));
        assert!(!s.insert(3));
    }

    #[test]
    fn capacity_zero_remembers_nothing() {
        let mut s = BoundedSet::new(0);
        assert!(s.insert("a".to_string()));
        assert!(s.insert("a".to_string()));
        assert!(s.is_empty());
    }
}
