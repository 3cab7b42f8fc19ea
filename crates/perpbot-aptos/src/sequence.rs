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
mod tests;
