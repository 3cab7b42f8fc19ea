//! The trade ids an order has taken, as a sorted set, so that the duplicate check every fill
//! makes is a binary search rather than a pass over every earlier fill.
//!
//! A plain `Vec` made an order filled in thousands of pieces (a large order worked against a
//! thin book) pay quadratically: 5,000 partial fills cost 12.5 M compares. Venues send trade ids
//! in ascending order almost always, so an insert is nearly always a push at the end; Kana's
//! ids, derived from a fill's fields, may come in any order and then cost one move of the tail.

use serde::Serialize;

use super::TradeId;

/// A set of trade ids, kept sorted ascending with no repeats.
///
/// ```
/// use perpbot_model::{TradeId, order::TradeIds};
///
/// let mut ids = TradeIds::default();
/// assert!(ids.insert(TradeId(7)));
/// assert!(ids.insert(TradeId(3)));
/// assert!(!ids.insert(TradeId(7)), "a repeat is refused");
/// assert!(ids.contains(&TradeId(3)));
/// assert_eq!(ids.as_slice(), &[TradeId(3), TradeId(7)]);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct TradeIds(Vec<TradeId>);

impl TradeIds {
    /// True when `id` is held.
    pub fn contains(&self, id: &TradeId) -> bool {
        self.0.last() == Some(id) || self.0.binary_search(id).is_ok()
    }

    /// Add `id`; false (and nothing changed) when it was already held.
    pub fn insert(&mut self, id: TradeId) -> bool {
        if self.0.last().is_none_or(|last| *last < id) {
            self.0.push(id);
            return true;
        }
        match self.0.binary_search(&id) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, id);
                true
            }
        }
    }

    /// Number of ids held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no id is held.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The ids, ascending.
    pub fn as_slice(&self) -> &[TradeId] {
        &self.0
    }

    /// The ids, ascending.
    pub fn iter(&self) -> std::slice::Iter<'_, TradeId> {
        self.0.iter()
    }
}

/// Sorts and drops repeats, so any list (a journal's, in the order it was written) makes a valid
/// set.
impl FromIterator<TradeId> for TradeIds {
    fn from_iter<I: IntoIterator<Item = TradeId>>(iter: I) -> TradeIds {
        let mut ids: Vec<TradeId> = iter.into_iter().collect();
        ids.sort_unstable();
        ids.dedup();
        TradeIds(ids)
    }
}

impl<'a> IntoIterator for &'a TradeIds {
    type Item = &'a TradeId;
    type IntoIter = std::slice::Iter<'a, TradeId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::{TradeId, TradeIds};
    use crate::test_rng::below;

    /// Against a `BTreeSet` over random ids: mostly ascending (as venues send them) with some
    /// out of order and some repeats, the answers and the stored order agree at every step.
    #[test]
    fn behaves_as_a_sorted_set() {
        let mut next = below(147);
        let mut ids = TradeIds::default();
        let mut model = BTreeSet::new();
        let mut next_id = 1_000u128;
        for step in 0..5_000 {
            let id = match next(10) {
                0..=5 => {
                    next_id += u128::from(next(3) + 1);
                    TradeId(next_id)
                }
                6..=7 => TradeId(900 + u128::from(next(u64::try_from(next_id - 899).unwrap()))),
                _ => TradeId(next_id),
            };
            assert_eq!(ids.contains(&id), model.contains(&id), "contains at {step}");
            assert_eq!(ids.insert(id), model.insert(id), "insert at {step}");
            assert_eq!(ids.len(), model.len());
        }
        assert!(ids.iter().eq(model.iter()));
        let shuffled: TradeIds = model.iter().rev().chain(model.iter()).copied().collect();
        assert_eq!(shuffled, ids);
    }

    #[test]
    fn serialises_as_the_list_it_holds() {
        let ids: TradeIds = [TradeId(5), TradeId(2)].into_iter().collect();
        let json = serde_json::to_string(&ids).expect("serialises");
        assert_eq!(
            json,
            serde_json::to_string(&[TradeId(2), TradeId(5)]).unwrap()
        );
    }
}
