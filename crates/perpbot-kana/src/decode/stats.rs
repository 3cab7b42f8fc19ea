//! What the decoder counts: per topic, frames, events, errors and skipped records, each skip
//! with its reason.

use std::fmt;

use super::Topic;

/// Why a record (or a whole frame) produced no event. Every skip has one, and is counted:
/// nothing the venue sends disappears without a reason `perpbot decode` can print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// Its market is not one of the decoder's.
    UnconfiguredMarket,
    /// Older than the decoder's start (`with_since`): history the topic replays.
    BeforeStart,
    /// Decoded before: history topics replay their records on every push.
    Repeat,
    /// A repeat of a record already refused and reported.
    RepeatOfRefused,
    /// The other side of a public match already emitted (both counterparties are listed).
    CounterpartyLeg,
    /// An order-history status that changes nothing the fills do not say (`Partially Filled`)
    /// or has no meaning here.
    StatusWithoutEvent,
    /// The record names no market.
    NoMarket,
    /// A frame of a topic that has no event (deposits and withdrawals, an unknown `message`).
    TopicWithoutEvent,
    /// An order-book push with no levels names no market.
    EmptyBook,
}

impl SkipReason {
    const ALL: [SkipReason; 9] = [
        SkipReason::UnconfiguredMarket,
        SkipReason::BeforeStart,
        SkipReason::Repeat,
        SkipReason::RepeatOfRefused,
        SkipReason::CounterpartyLeg,
        SkipReason::StatusWithoutEvent,
        SkipReason::NoMarket,
        SkipReason::TopicWithoutEvent,
        SkipReason::EmptyBook,
    ];

    fn index(self) -> usize {
        SkipReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::UnconfiguredMarket => {
                "its market is not configured (no grid known: pass --market-info)"
            }
            SkipReason::BeforeStart => "older than the decoder's start (replayed history)",
            SkipReason::Repeat => "already decoded (replayed history)",
            SkipReason::RepeatOfRefused => "a repeat of a record already refused",
            SkipReason::CounterpartyLeg => "the other side of a match already emitted",
            SkipReason::StatusWithoutEvent => "an order status that adds nothing to the fills",
            SkipReason::NoMarket => "it names no market",
            SkipReason::TopicWithoutEvent => "its topic has no event",
            SkipReason::EmptyBook => "an empty book push names no market",
        })
    }
}

/// Skips by reason, for one frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Skips([u64; SkipReason::ALL.len()]);

impl Skips {
    pub(super) fn add(&mut self, reason: SkipReason) {
        if let Some(n) = self.0.get_mut(reason.index()) {
            *n += 1;
        }
    }

    /// All skips.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Each reason that occurred, with its count.
    pub fn reasons(&self) -> impl Iterator<Item = (SkipReason, u64)> + '_ {
        SkipReason::ALL
            .into_iter()
            .zip(self.0)
            .filter(|(_, n)| *n > 0)
    }
}

/// Counters for one topic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TopicStats {
    /// Frames routed to the topic (including ones that failed).
    pub frames: u64,
    /// Events emitted.
    pub events: u64,
    /// Frames that failed to decode (nothing was emitted for them).
    pub errors: u64,
    /// Records skipped without error: unknown markets, repeats, records older than `since`,
    /// statuses that produce no event.
    pub skipped: u64,
    /// Records refused and left out of a frame that otherwise decoded (each reported as a
    /// [`RecordIssue::Skipped`]).
    pub bad_records: u64,
    /// Fills kept with their price rounded onto the grid ([`RecordIssue::Rounded`]).
    pub rounded: u64,
}

impl TopicStats {
    pub(super) fn add(&mut self, other: &TopicStats) {
        self.frames += other.frames;
        self.events += other.events;
        self.errors += other.errors;
        self.skipped += other.skipped;
        self.bad_records += other.bad_records;
        self.rounded += other.rounded;
    }
}

/// Per-topic counters of a [`KanaDecoder`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    topics: [TopicStats; Topic::ALL.len()],
}

impl DecodeStats {
    /// The counters of one topic.
    pub fn topic(&self, topic: Topic) -> &TopicStats {
        // `index` is always in range; `get` keeps this free of panics all the same.
        self.topics.get(topic.index()).unwrap_or(&EMPTY_STATS)
    }

    /// All topics added up.
    pub fn total(&self) -> TopicStats {
        let mut t = TopicStats::default();
        for s in &self.topics {
            t.add(s);
        }
        t
    }

    pub(super) fn topic_mut(&mut self, topic: Topic) -> Option<&mut TopicStats> {
        self.topics.get_mut(topic.index())
    }
}

static EMPTY_STATS: TopicStats = TopicStats {
    frames: 0,
    events: 0,
    errors: 0,
    skipped: 0,
    bad_records: 0,
    rounded: 0,
};
