//! Local sequence-number management for one sender, so several transactions can be in flight.
//!
//! The design and the reasons for it: `docs/design/aptos-sequence-numbers.md`.
//!
//! ```
//! use perpbot_aptos::sequence::SequenceManager;
//!
//! let mut seq = SequenceManager::new(7); // on-chain sequence_number of the account
//! let (a, b, c) = (seq.next(), seq.next(), seq.next());
//! assert_eq!((a, b, c), (7, 8, 9));
//!
//! // 8 was rejected at submit (e.g. a bad argument): 9 now waits behind the gap at 8.
//! let gap = seq.failed_before_submit(b);
//! assert_eq!(gap.stalled, vec![9]);
//! // The next transaction fills the gap, unblocking 9.
//! assert_eq!(seq.next(), 8);
//! seq.confirmed(7);
//! assert_eq!(seq.in_flight(), vec![8, 9]);
//! ```

use std::collections::BTreeSet;

/// What happened when a number became reusable ([`SequenceManager::failed_before_submit`],
/// [`SequenceManager::expired`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GapReport {
    /// The number that is reusable now (`None` if it was already consumed on chain or unknown to
    /// the manager, so nothing was freed).
    pub reusable: Option<u64>,
    /// In-flight numbers above the gap, ascending. They cannot execute until the gap is filled
    /// (the next [`SequenceManager::next`] does that) and expire otherwise. Empty when the freed
    /// number was the highest one handed out.
    pub stalled: Vec<u64>,
}

/// What [`SequenceManager::resync`] changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ResyncReport {
    /// The on-chain number after applying the local floor (numbers this manager saw committed).
    pub on_chain: u64,
    /// `next` before the resync (ignoring reusable numbers).
    pub previous_next: u64,
    /// `next` after the resync.
    pub next: u64,
    /// In-flight numbers below `on_chain`: consumed on chain, by the transaction that was given
    /// the number or by another one with the same number. Their owners should poll them; they are
    /// no longer counted as in flight.
    pub consumed: Vec<u64>,
    /// In-flight numbers above a gap at `on_chain` ("sequence number too new"): nothing known to
    /// this manager will fill `on_chain`, so they wait until [`SequenceManager::next`] hands it
    /// out again, or expire. Empty when `on_chain` itself is in flight or nothing is ahead of it.
    pub stalled: Vec<u64>,
}

/// Hands out sequence numbers for one sender and tracks which are in flight.
///
/// Invariants: every number in `in_flight` or `reusable` is in `[floor, next)`; `reusable` and
/// `in_flight` are disjoint. Reports about numbers below `floor` (already consumed) are ignored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SequenceManager {
    /// The next fresh number (one past the highest ever handed out or known on chain).
    next: u64,
    /// Handed out and not yet resolved (pending, ambiguous or unsubmitted).
    in_flight: BTreeSet<u64>,
    /// Below `next`, not in flight and not consumed: handed out again before fresh numbers.
    reusable: BTreeSet<u64>,
    /// Lower bound of the on-chain number from what this manager has seen committed (guards
    /// against a stale account read from a lagging node).
    floor: u64,
}

impl SequenceManager {
    /// Start from the account's on-chain `sequence_number` (`GET /v1/accounts/{addr}`; 0 for a
    /// new account).
    pub fn new(on_chain: u64) -> Self {
        Self {
            next: on_chain,
            in_flight: BTreeSet::new(),
            reusable: BTreeSet::new(),
            floor: on_chain,
        }
    }

    /// Hand out a number: the lowest reusable one (filling a gap) or else a fresh one.
    // Not an `Iterator`: every call records the number as in flight.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        let n = match self.reusable.pop_first() {
            Some(n) => n,
            None => {
                let n = self.next;
                self.next = self.next.saturating_add(1);
                n
            }
        };
        self.in_flight.insert(n);
        n
    }

    /// The number [`next`](Self::next) would hand out, without handing it out.
    pub fn peek(&self) -> u64 {
        self.reusable.first().copied().unwrap_or(self.next)
    }

    /// The transaction with `seq` was committed (successfully or not — a committed failure
    /// consumes the number too). Every lower number is consumed as well.
    pub fn confirmed(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
        let floor = seq.saturating_add(1);
        self.raise_floor(floor);
    }

    /// The transaction with `seq` definitely did not reach mempool (a 4xx rejection other than
    /// "too old", mempool full, a local build/sign error): the number is reusable.
    pub fn failed_before_submit(&mut self, seq: u64) -> GapReport {
        self.release(seq)
    }

    /// The transaction with `seq` expired without being committed (not found after the chain's
    /// time passed its expiration): the number is reusable.
    pub fn expired(&mut self, seq: u64) -> GapReport {
        self.release(seq)
    }

    /// The number is taken by a different transaction (`sequence_number_too_old`, or
    /// `invalid_transaction_update`: another transaction with this number is in mempool): stop
    /// tracking it without making it reusable. Follow a too-old rejection with
    /// [`resync`](Self::resync).
    pub fn discard(&mut self, seq: u64) {
        self.in_flight.remove(&seq);
        self.reusable.remove(&seq);
    }

    /// Adopt the account's on-chain `sequence_number`, read from the node.
    ///
    /// * Ahead of everything handed out (another client used the key, or our numbers were too
    ///   old): continue from `on_chain`; reusable numbers below it are dropped.
    /// * Behind: numbers in `[on_chain, next)` that are neither in flight nor consumed become
    ///   reusable. If `on_chain` itself is not in flight, the in-flight numbers above it are
    ///   stalled ("too new") and reported.
    ///
    /// A value below what this manager has seen committed is treated as a stale read and raised
    /// to that floor. Call it after a `sequence_number_too_old` rejection, or when a pending
    /// transaction makes no progress, to detect "too new".
    pub fn resync(&mut self, on_chain: u64) -> ResyncReport {
        let previous_next = self.next;
        let on_chain = on_chain.max(self.floor);
        let consumed: Vec<u64> = self.in_flight.range(..on_chain).copied().collect();
        self.raise_floor(on_chain);
        // Every number in [on_chain, next) that is not in flight was never consumed (it would
        // have raised the on-chain number past it): reusable.
        for n in on_chain..self.next {
            if !self.in_flight.contains(&n) {
                self.reusable.insert(n);
            }
        }
        let stalled = if self.in_flight.contains(&on_chain) {
            Vec::new()
        } else {
            self.in_flight.range(on_chain..).copied().collect()
        };
        ResyncReport {
            on_chain,
            previous_next,
            next: self.next,
            consumed,
            stalled,
        }
    }

    /// Numbers handed out and not yet resolved, ascending.
    pub fn in_flight(&self) -> Vec<u64> {
        self.in_flight.iter().copied().collect()
    }

    /// Numbers that will be handed out again before fresh ones, ascending.
    pub fn reusable(&self) -> Vec<u64> {
        self.reusable.iter().copied().collect()
    }

    /// Lower bound of the on-chain sequence number from what this manager has seen.
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Everything below `floor` is consumed: drop it from the reusable set and from in flight.
    fn raise_floor(&mut self, floor: u64) {
        if floor <= self.floor {
            return;
        }
        self.floor = floor;
        self.next = self.next.max(floor);
        self.reusable = self.reusable.split_off(&floor);
        self.in_flight = self.in_flight.split_off(&floor);
    }

    fn release(&mut self, seq: u64) -> GapReport {
        let known = self.in_flight.remove(&seq);
        if !known || seq < self.floor || seq >= self.next {
            return GapReport {
                reusable: None,
                stalled: Vec::new(),
            };
        }
        // Roll `next` back over the tail of numbers that nobody holds any more; anything else
        // below `next` becomes a gap to fill.
        self.reusable.insert(seq);
        while let Some(&top) = self.reusable.last() {
            if top.saturating_add(1) == self.next && !self.in_flight.contains(&top) {
                self.reusable.pop_last();
                self.next = top;
            } else {
                break;
            }
        }
        GapReport {
            reusable: Some(seq),
            stalled: self
                .in_flight
                .range(seq.saturating_add(1)..)
                .copied()
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipelined_allocation_is_consecutive() {
        let mut s = SequenceManager::new(11);
        let got: Vec<u64> = (0..5).map(|_| s.next()).collect();
        assert_eq!(got, vec![11, 12, 13, 14, 15]);
        assert_eq!(s.in_flight(), got);
        assert_eq!(s.peek(), 16);
        // Confirmations in any order.
        s.confirmed(12);
        s.confirmed(11);
        assert_eq!(s.in_flight(), vec![13, 14, 15]);
        s.confirmed(15);
        // A committed 15 implies 13 and 14 were consumed too.
        assert!(s.in_flight().is_empty());
        assert_eq!(s.floor(), 16);
        assert_eq!(s.next(), 16);
    }

    #[test]
    fn new_account_starts_at_zero() {
        let mut s = SequenceManager::new(0);
        assert_eq!(s.next(), 0);
        assert_eq!(s.next(), 1);
    }

    #[test]
    fn rejected_last_number_is_rolled_back_without_stall() {
        let mut s = SequenceManager::new(5);
        assert_eq!(s.next(), 5);
        assert_eq!(s.next(), 6);
        let gap = s.failed_before_submit(6);
        assert_eq!(
            gap,
            GapReport {
                reusable: Some(6),
                stalled: vec![]
            }
        );
        assert!(s.reusable().is_empty(), "tail rolled back, not a gap");
        assert_eq!(s.next(), 6);
        assert_eq!(s.next(), 7);
    }

    #[test]
    fn rejected_middle_number_reports_stalled_and_is_refilled_first() {
        let mut s = SequenceManager::new(0);
        for _ in 0..4 {
            s.next();
        }
        let gap = s.failed_before_submit(1);
        assert_eq!(gap.reusable, Some(1));
        assert_eq!(gap.stalled, vec![2, 3]);
        assert_eq!(s.in_flight(), vec![0, 2, 3]);
        assert_eq!(s.reusable(), vec![1]);
        assert_eq!(s.peek(), 1);
        // The gap is filled before any fresh number is used.
        assert_eq!(s.next(), 1);
        assert_eq!(s.next(), 4);
    }

    #[test]
    fn several_rejections_roll_back_a_contiguous_tail() {
        let mut s = SequenceManager::new(0);
        for _ in 0..4 {
            s.next();
        }
        // 2 fails first (a gap below 3), then 3 fails: 2 and 3 are now both free at the top.
        assert_eq!(s.failed_before_submit(2).stalled, vec![3]);
        assert!(s.failed_before_submit(3).stalled.is_empty());
        assert!(s.reusable().is_empty());
        assert_eq!(s.next(), 2);
    }

    #[test]
    fn expired_numbers_are_reused() {
        let mut s = SequenceManager::new(20);
        let a = s.next();
        let b = s.next();
        let c = s.next();
        s.confirmed(a);
        // b expired; c (later expiry) is stuck behind it.
        let gap = s.expired(b);
        assert_eq!(gap.stalled, vec![c]);
        // c expires too: both free, rolled back.
        let gap = s.expired(c);
        assert!(gap.stalled.is_empty());
        assert!(s.in_flight().is_empty());
        assert_eq!(s.next(), 21);
    }

    #[test]
    fn releasing_unknown_or_consumed_numbers_is_a_no_op() {
        let mut s = SequenceManager::new(3);
        assert_eq!(s.failed_before_submit(99).reusable, None);
        let a = s.next();
        s.confirmed(a);
        assert_eq!(s.expired(a).reusable, None);
        assert_eq!(s.next(), 4);
    }

    #[test]
    fn too_old_recovery() {
        // We believe 5; another client already used 5..=8.
        let mut s = SequenceManager::new(5);
        let a = s.next();
        s.discard(a); // node: sequence_number_too_old
        let r = s.resync(9);
        assert_eq!(r.on_chain, 9);
        assert_eq!(r.previous_next, 6);
        assert_eq!(r.next, 9);
        assert!(r.consumed.is_empty() && r.stalled.is_empty());
        assert_eq!(s.next(), 9);
    }

    #[test]
    fn resync_ahead_reports_consumed_in_flight_numbers() {
        let mut s = SequenceManager::new(0);
        let _ = (s.next(), s.next(), s.next()); // 0, 1, 2
        let r = s.resync(2);
        assert_eq!(r.consumed, vec![0, 1]);
        assert!(r.stalled.is_empty(), "2 is in flight and can execute");
        assert_eq!(s.in_flight(), vec![2]);
    }

    #[test]
    fn resync_behind_detects_too_new() {
        let mut s = SequenceManager::new(0);
        let _ = (s.next(), s.next(), s.next()); // 0, 1, 2
        // 0's submit was discarded as conflicting; chain is still at 0, so 1 and 2 are too new.
        s.discard(0);
        let r = s.resync(0);
        assert_eq!(r.stalled, vec![1, 2]);
        assert!(r.consumed.is_empty());
        assert_eq!(s.reusable(), vec![0]);
        assert_eq!(s.next(), 0, "the gap is filled first");
        assert!(s.resync(0).stalled.is_empty(), "0 is in flight again");
    }

    #[test]
    fn stale_resync_below_confirmed_floor_is_ignored() {
        let mut s = SequenceManager::new(10);
        let a = s.next();
        let b = s.next();
        s.confirmed(a);
        // A lagging node still reports 10.
        let r = s.resync(10);
        assert_eq!(r.on_chain, 11);
        assert!(r.stalled.is_empty());
        assert_eq!(s.in_flight(), vec![b]);
        assert!(s.reusable().is_empty());
        assert_eq!(s.next(), 12);
    }

    #[test]
    fn resync_ahead_drops_reusable_numbers_below_chain() {
        let mut s = SequenceManager::new(0);
        let _ = (s.next(), s.next(), s.next());
        s.failed_before_submit(0);
        assert_eq!(s.reusable(), vec![0]);
        s.resync(5);
        assert!(s.reusable().is_empty());
        assert!(s.in_flight().is_empty());
        assert_eq!(s.next(), 5);
    }
}
