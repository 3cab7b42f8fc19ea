//! What the private WebSocket checks per event, kept apart from the socket so it can be tested
//! without one: `message_id`s delivered (across connections, bounded memory) and the `seq_id`
//! of each connection (a gap means an event was lost → REST resync).

use crate::decode::dedupe::BoundedSet;

/// `message_id`s remembered across connections (the overlap of a rotation, replays of a
/// recovered session).
pub const MESSAGE_IDS_REMEMBERED: usize = 20_000;

/// What to do with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver it; `gap` when `seq_id`s were skipped before it (resync).
    Deliver {
        /// Events were lost before this one.
        gap: bool,
    },
    /// Already delivered (same `message_id`): drop it.
    Duplicate,
}

/// `message_id`s seen, shared by every connection of the client.
#[derive(Debug, Clone)]
pub struct MessageIds(BoundedSet<String>);

impl Default for MessageIds {
    fn default() -> Self {
        MessageIds(BoundedSet::new(MESSAGE_IDS_REMEMBERED))
    }
}

/// The `seq_id` of one connection (from 1 per connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqTracker {
    last: Option<u64>,
}

impl SeqTracker {
    /// Note `seq`; true when numbers were skipped before it.
    pub fn gap(&mut self, seq: Option<u64>) -> bool {
        let Some(seq) = seq else {
            return false;
        };
        let gap = match self.last {
            Some(last) => seq > last.saturating_add(1),
            // The first event of a connection is 1; a later first number means some were lost.
            None => seq > 1,
        };
        self.last = Some(self.last.map_or(seq, |l| l.max(seq)));
        gap
    }
}

impl MessageIds {
    /// Check one event of a connection.
    pub fn check(
        &mut self,
        message_id: Option<&str>,
        seq: Option<u64>,
        tracker: &mut SeqTracker,
    ) -> Verdict {
        // The seq is noted even for a duplicate: it was this connection's number.
        let gap = tracker.gap(seq);
        match message_id {
            Some(id) if !self.0.insert(id.to_string()) => Verdict::Duplicate,
            _ => Verdict::Deliver { gap },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_dropped_across_connections_and_gaps_seen_per_connection() {
        let mut ids = MessageIds::default();
        let mut a = SeqTracker::default();
        assert_eq!(
            ids.check(Some("m1"), Some(1), &mut a),
            Verdict::Deliver { gap: false }
        );
        assert_eq!(
            ids.check(Some("m2"), Some(2), &mut a),
            Verdict::Deliver { gap: false }
        );
        assert_eq!(ids.check(Some("m2"), Some(3), &mut a), Verdict::Duplicate);
        // 4 missing.
        assert_eq!(
            ids.check(Some("m5"), Some(5), &mut a),
            Verdict::Deliver { gap: true }
        );
        // A new connection starts at 1 again; a repeat from the old one is still a duplicate.
        let mut b = SeqTracker::default();
        assert_eq!(ids.check(Some("m5"), Some(1), &mut b), Verdict::Duplicate);
        assert_eq!(
            ids.check(Some("m6"), Some(2), &mut b),
            Verdict::Deliver { gap: false }
        );
        // A connection whose first event is not 1 lost its first.
        let mut c = SeqTracker::default();
        assert_eq!(
            ids.check(Some("m7"), Some(3), &mut c),
            Verdict::Deliver { gap: true }
        );
    }
}
