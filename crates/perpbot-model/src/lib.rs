//! The domain model: markets and exact units, orders and their state machine, the order book,
//! positions, typed events and intents. Pure data and rules — nothing here does I/O, so every
//! piece is testable alone and runs unchanged in backtest, paper and live.

pub mod book;
pub mod clock;
pub mod event;
pub mod intent;
pub mod order;
pub mod position;
pub mod quote_sum;
pub mod units;

#[cfg(test)]
mod test_rng;

pub use book::{DepthWalk, Level, OrderBook, SideLevels};
pub use event::{
    Alert, AlertKind, Balance, BestPrice, BookUpdate, BookUpdateKind, ConnectionEvent,
    ConnectionState, Event, Fill, FundingRate, Liquidity, OpenOrderInfo, OpenOrdersSnapshot,
    OrderUpdate, OrderUpdateKind, PositionUpdate, PublicTrade, RejectReason, RiskRejection,
    TimerId, TradingState, TradingStateChange,
};
pub use intent::Intent;
pub use order::{
    ClientOrderId, Direction, IllegalTransition, NewOrder, Order, OrderEvent, OrderKind,
    OrderRequest, OrderStatus, PositionSide, Restriction, Side, TradeId, Transition, VenueOrderId,
    position_side,
};
pub use position::Position;
pub use quote_sum::{QuoteAmount, QuoteSum};
pub use units::{Lots, MAX_PRICE_TICKS, MarketId, MarketSpec, Rounding, Ticks, UnitError};

use serde::{Deserialize, Serialize};

/// A point in time: nanoseconds since the Unix epoch. Venue timestamps (Kana sends seconds) are
/// converted at the decoder; the engine's clock uses the same unit.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// From whole seconds.
    pub const fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1_000_000_000))
    }

    /// From milliseconds.
    pub const fn from_millis(ms: u64) -> Timestamp {
        Timestamp(ms.saturating_mul(1_000_000))
    }

    /// As whole milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000_000
    }

    /// As whole seconds.
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000_000
    }

    /// This time plus a duration (saturating).
    pub fn plus(self, d: std::time::Duration) -> Timestamp {
        Timestamp(self.0.saturating_add(nanos(d)))
    }

    /// This time minus a duration (saturating at zero).
    pub fn minus(self, d: std::time::Duration) -> Timestamp {
        Timestamp(self.0.saturating_sub(nanos(d)))
    }

    /// Time elapsed since `earlier` (zero if `earlier` is later).
    pub fn since(self, earlier: Timestamp) -> std::time::Duration {
        std::time::Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

/// A duration in whole nanoseconds, saturating at `u64::MAX` (585 years).
fn nanos(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}
