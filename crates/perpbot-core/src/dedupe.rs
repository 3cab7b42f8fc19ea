//! Sets with bounded memory, for recognising repeats in streams that never end: the newest
//! `capacity` keys are remembered, older ones forgotten. The venue decoders use [`BoundedSet`]
//! for the fills and messages a stream replays, and the state [`BoundedOrdSet`] for the trade
//! ids it has applied.

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
        if self.order.len() > self.capacity {
            self.forget_oldest();
        }
        true
    }

    /// Whether `key` is remembered.
    pub fn contains(&self, key: &K) -> bool {
        self.set.contains(key)
    }

    /// Forget the oldest key remembered.
    fn forget_oldest(&mut self) {
        if let Some(old) = self.order.pop_front() {
            self.set.remove(&old);
        }
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

/// [`BoundedSet`] for ordered keys that mostly arrive in ascending order, as a venue's counter
/// ids do (the paper exchange's trade ids): a key above every one remembered is new without a
/// lookup, and is kept in a sorted ring instead of a hash table, so the common insert touches
/// two ring ends rather than a random slot of a table that outgrows the cache. Keys that come
/// out of order (a venue whose ids are hashes, a replay) go to a hash set as in
/// [`BoundedSet`], and the answers are the same as its answers.
///
/// Written here because no crate keeps this split: the sorted half is what makes the usual
/// insert O(1) and cache-friendly.
#[derive(Debug, Clone)]
pub struct BoundedOrdSet<K: Ord + Hash + Copy> {
    /// Keys that were above every remembered key when inserted: ascending, oldest first.
    ascending: VecDeque<K>,
    /// The other keys, evicted only by this set (its own capacity is never reached).
    others: BoundedSet<K>,
    /// For each remembered key, oldest first: whether it is in `ascending` (else `others`).
    /// Eviction pops it to know which of the two holds the oldest key.
    arrivals: VecDeque<bool>,
    /// The largest key remembered (or once remembered: still an upper bound of all of them).
    max: Option<K>,
    capacity: usize,
}

impl<K: Ord + Hash + Copy> BoundedOrdSet<K> {
    /// A set keeping at most `capacity` keys; 0 remembers nothing (every key is new).
    pub fn new(capacity: usize) -> BoundedOrdSet<K> {
        BoundedOrdSet {
            ascending: VecDeque::new(),
            others: BoundedSet::new(usize::MAX),
            arrivals: VecDeque::new(),
            max: None,
            capacity,
        }
    }

    /// Insert; false when the key was already there (a repeat). Past the capacity the oldest
    /// key is forgotten.
    pub fn insert(&mut self, key: K) -> bool {
        if self.capacity == 0 {
            return true;
        }
        let above_all = self.max.is_none_or(|m| key > m);
        if above_all {
            self.ascending.push_back(key);
            self.max = Some(key);
        } else {
            if self.ascending.binary_search(&key).is_ok() || !self.others.insert(key) {
                return false;
            }
        }
        self.arrivals.push_back(above_all);
        if self.arrivals.len() > self.capacity {
            self.forget_oldest();
        }
        true
    }

    /// Whether `key` is remembered.
    pub fn contains(&self, key: &K) -> bool {
        if self.max.is_none_or(|m| *key > m) {
            return false;
        }
        self.ascending.binary_search(key).is_ok() || self.others.contains(key)
    }

    /// How many keys it remembers.
    pub fn len(&self) -> usize {
        self.arrivals.len()
    }

    /// True when it remembers none.
    pub fn is_empty(&self) -> bool {
        self.arrivals.is_empty()
    }

    fn forget_oldest(&mut self) {
        match self.arrivals.pop_front() {
            Some(true) => {
                self.ascending.pop_front();
            }
            Some(false) => self.others.forget_oldest(),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{BoundedOrdSet, BoundedSet};

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

    #[test]
    fn the_ordered_set_answers_as_the_hash_set_on_any_mix_of_ascending_and_repeated_keys() {
        // Mostly ascending ids, with repeats of recent and old ones and stragglers below the
        // newest, over capacities that evict often.
        let mut next = crate::test_support::below(0x9e37_79b9_7f4a_7c15);
        for capacity in [1usize, 2, 3, 7, 64] {
            let mut plain = BoundedSet::new(capacity);
            let mut ordered = BoundedOrdSet::new(capacity);
            let mut counter = 0u128;
            let (mut repeats, mut stragglers) = (0, 0);
            for _ in 0..20_000 {
                let key = match next(10) {
                    0..=5 => {
                        counter += 1 + u128::from(next(16));
                        counter
                    }
                    6 | 7 => counter.saturating_sub(u128::from(next(8))),
                    8 => counter.saturating_sub(u128::from(next(200))),
                    _ => u128::from(next(1_000)),
                };
                let (a, b) = (plain.insert(key), ordered.insert(key));
                assert_eq!(a, b, "capacity {capacity}, key {key}");
                repeats += usize::from(!a);
                stragglers += usize::from(a && key < counter);
                assert_eq!(plain.len(), ordered.len());
                let probe = counter.saturating_sub(u128::from(next(100)));
                assert_eq!(plain.contains(&probe), ordered.contains(&probe));
            }
            // The mix exercised both halves and the refusals.
            assert!(repeats > 100 && stragglers > 100, "{repeats} {stragglers}");
        }
    }

    #[test]
    fn the_ordered_set_refuses_a_replay_of_an_old_ascending_id_and_forgets_in_arrival_order() {
        let mut s = BoundedOrdSet::new(3);
        assert!(s.insert(10u128));
        assert!(s.insert(5)); // out of order
        assert!(s.insert(20));
        assert!(!s.insert(10) && !s.insert(5) && !s.insert(20));
        // 30 evicts 10 (the oldest), not 5.
        assert!(s.insert(30));
        assert!(!s.contains(&10) && s.contains(&5));
        assert!(s.insert(10));
        assert!(!s.contains(&5));
        let mut none = BoundedOrdSet::new(0);
        assert!(none.insert(1u128) && none.insert(1));
        assert!(none.is_empty());
    }
}
