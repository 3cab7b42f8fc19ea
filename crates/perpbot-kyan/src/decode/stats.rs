//! What the decoders count: per channel, frames, events, errors and skipped records, each skip
//! with its reason, and the conversions that were not exact. Nothing Kyan sends disappears
//! without a counted reason.

use std::collections::BTreeMap;
use std::fmt;

/// Why a record (or a frame) produced no event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// Its instrument is not one of the configured markets.
    UnconfiguredMarket,
    /// A fill already decoded (same `trade_id` and `order_id`).
    RepeatFill,
    /// A WebSocket event already delivered (same `message_id`).
    RepeatMessage,
    /// An order status that adds nothing the fills do not say (a partial fill's `update_order`).
    StatusWithoutEvent,
    /// A channel or event type with no perpbot event (instruments, transfers, options data).
    ChannelWithoutEvent,
    /// An index price: kept for market-order limits, no event.
    IndexPriceKept,
    /// A book level smaller than one lot once converted from USD notional.
    LevelBelowOneLot,
    /// A history record from before this session (its fill is in the positions already).
    BeforeSession,
    /// A history record that is not a trade, or one that cannot be read.
    HistoryRecord,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SkipReason::UnconfiguredMarket => "its instrument is not configured",
            SkipReason::RepeatFill => "a fill already decoded",
            SkipReason::RepeatMessage => "a message already delivered",
            SkipReason::StatusWithoutEvent => "an order status that adds nothing to the fills",
            SkipReason::ChannelWithoutEvent => "its channel has no perpbot event",
            SkipReason::IndexPriceKept => "index price kept for market-order limits",
            SkipReason::LevelBelowOneLot => "a book level below one lot",
            SkipReason::BeforeSession => "a history record from before this session",
            SkipReason::HistoryRecord => "a history record that is no readable trade",
        })
    }
}

/// Counters of one channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Frames routed to the channel.
    pub frames: u64,
    /// Events emitted.
    pub events: u64,
    /// Frames that failed to decode (logged, skipped; the connection stays up).
    pub errors: u64,
    /// Records skipped, by reason.
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Values converted with rounding (notional → lots, off-grid prices), counted.
    pub inexact: u64,
}

/// Per-channel counters of a decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DecodeStats {
    channels: BTreeMap<String, ChannelStats>,
}

impl DecodeStats {
    /// The counters of one channel (zeros when never seen).
    pub fn channel(&self, name: &str) -> ChannelStats {
        self.channels.get(name).cloned().unwrap_or_default()
    }

    /// All channels added up.
    pub fn total(&self) -> ChannelStats {
        let mut t = ChannelStats::default();
        for s in self.channels.values() {
            t.frames += s.frames;
            t.events += s.events;
            t.errors += s.errors;
            t.inexact += s.inexact;
            for (r, n) in &s.skipped {
                *t.skipped.entry(*r).or_insert(0) += n;
            }
        }
        t
    }

    pub(crate) fn get_mut(&mut self, name: &str) -> &mut ChannelStats {
        if !self.channels.contains_key(name) {
            self.channels
                .insert(name.to_string(), ChannelStats::default());
        }
        self.channels
            .get_mut(name)
            .unwrap_or_else(|| unreachable!("inserted above"))
    }

    pub(crate) fn skip(&mut self, name: &str, reason: SkipReason) {
        *self.get_mut(name).skipped.entry(reason).or_insert(0) += 1;
    }
}
