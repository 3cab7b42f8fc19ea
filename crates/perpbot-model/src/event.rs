//! Typed events: everything the engine and strategies learn about the world. Venue quirks end at
//! the decoder — nothing here is wire JSON.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::book::Level;
use super::intent::Intent;
use super::order::{ClientOrderId, Direction, Side, TradeId, VenueOrderId};
use super::position::Position;
use super::units::{Lots, MarketId, Ticks};

/// One thing that happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// The order book changed (full snapshot or delta). By the time a strategy sees it, the book
    /// in its context already reflects it.
    Book(BookUpdate),
    /// A public trade on the market.
    Trade(PublicTrade),
    /// Best bid/ask as a venue reports it (may arrive without a full book).
    BestPrice(BestPrice),
    /// One of our orders filled (partly or fully). Boxed: a fill is the largest event by far
    /// (144 bytes against at most 112 for the rest), and every event is moved several times on
    /// its way to the strategy, so an unboxed fill made every book update a 144-byte copy
    /// through `memmove` (7–9 % of a backtest's time). Fills are rare next to books.
    Fill(Box<Fill>),
    /// Positions changed.
    Position(PositionUpdate),
    /// Collateral balance changed.
    Balance(Balance),
    /// A market's funding rate changed.
    Funding(FundingRate),
    /// One of our orders changed status (acknowledged, cancelled, rejected, …).
    Order(OrderUpdate),
    /// The venue's full list of our resting orders (Kana pushes these as snapshots).
    OpenOrders(OpenOrdersSnapshot),
    /// A timer the strategy asked for fired.
    Timer(TimerId),
    /// A venue connection changed state.
    Connection(ConnectionEvent),
    /// An intent was refused before it left the process.
    RiskRejected(RiskRejection),
    /// The trading state changed (e.g. a loss limit switched trading to reduce-only).
    TradingState(TradingStateChange),
    /// Something an operator must look at, raised by the bot itself.
    Alert(Alert),
}

// Events are moved by value through the engine, the backtest's timeline and the strategy's
// queue; past 128 bytes each move is a call to `memmove` instead of a few register stores
// (the Fill variant's doc). A variant that grows past it should be boxed as Fill is.
const _: () = assert!(std::mem::size_of::<Event>() <= 128);

impl Event {
    /// The fill, when the event is one (for filtering a stream of events down to fills).
    pub fn as_fill(&self) -> Option<&Fill> {
        match self {
            Event::Fill(f) => Some(f),
            _ => None,
        }
    }

    /// The market the event concerns, if it concerns one.
    pub fn market(&self) -> Option<MarketId> {
        match self {
            Event::Book(e) => Some(e.market),
            Event::Trade(e) => Some(e.market),
            Event::BestPrice(e) => Some(e.market),
            Event::Fill(e) => Some(e.market),
            Event::Funding(e) => Some(e.market),
            Event::Order(e) => Some(e.market),
            Event::OpenOrders(e) => e.market,
            Event::RiskRejected(e) => e.intent.market(),
            Event::Position(_)
            | Event::Balance(_)
            | Event::Timer(_)
            | Event::Connection(_)
            | Event::TradingState(_)
            | Event::Alert(_) => None,
        }
    }
}

/// Whether a book update replaces the book or edits it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookUpdateKind {
    /// The levels are the whole book (Kana sends these).
    Snapshot,
    /// The levels are changes; a level of zero lots deletes that price.
    Delta,
}

/// Order book levels for one market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BookUpdate {
    pub market: MarketId,
    /// Snapshot or delta.
    pub kind: BookUpdateKind,
    /// Bid levels (any order).
    pub bids: Vec<Level>,
    /// Ask levels (any order).
    pub asks: Vec<Level>,
    /// Venue time of the update.
    pub ts: Timestamp,
}

impl BookUpdate {
    /// Every level with its side, bids first.
    ///
    /// A one-sided update (every delta of the paper venue, and most deltas of a venue's stream)
    /// picks its side once, by a select, instead of testing each side in turn: which side is
    /// filled follows the data, so a test per side is mispredicted about half the time, on
    /// every book event.
    pub fn levels(&self) -> impl Iterator<Item = (Side, &Level)> {
        let (first_side, first, second) = if self.bids.is_empty() {
            (Side::Sell, self.asks.as_slice(), &[][..])
        } else {
            (Side::Buy, self.bids.as_slice(), self.asks.as_slice())
        };
        first
            .iter()
            .map(move |l| (first_side, l))
            .chain(second.iter().map(|l| (Side::Sell, l)))
    }
}

/// A trade between any two parties.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicTrade {
    pub market: MarketId,
    pub price: Ticks,
    /// Size.
    pub lots: Lots,
    /// The taker's side, when the venue tells.
    pub aggressor: Option<Side>,
    /// Venue time.
    pub ts: Timestamp,
}

/// Best bid and ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BestPrice {
    pub market: MarketId,
    /// Best bid, if any.
    pub bid: Option<Ticks>,
    /// Best ask, if any.
    pub ask: Option<Ticks>,
    /// Venue time.
    pub ts: Timestamp,
}

/// Maker or taker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Liquidity {
    /// Our order rested and was hit.
    Maker,
    /// Our order crossed the spread.
    Taker,
}

/// One fill of one of our orders.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fill {
    pub market: MarketId,
    /// Our id, when the venue (or the executor's mapping) knows it.
    pub client_id: Option<ClientOrderId>,
    /// The venue's order id, when known.
    pub venue_id: Option<VenueOrderId>,
    /// The venue's fill id; fills are deduplicated by it.
    pub trade_id: TradeId,
    /// Book side of our order.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
    /// Size of this fill (a delta).
    pub lots: Lots,
    /// Fill price.
    pub price: Ticks,
    /// Fee charged (quote; negative for a rebate).
    pub fee: Decimal,
    /// PnL realised by this fill (quote), when the venue reports it.
    pub realized_pnl: Decimal,
    /// Maker or taker.
    pub liquidity: Liquidity,
    /// Venue time.
    pub ts: Timestamp,
}

/// New position state. With `snapshot`, the list is complete: any position not in it is flat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PositionUpdate {
    /// Positions reported.
    pub positions: Vec<Position>,
    /// True when the list replaces all positions.
    pub snapshot: bool,
}

/// Collateral balance (quote currency).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    /// Free to use as margin or withdraw.
    pub available: Decimal,
    /// Available plus margin locked in positions and orders.
    pub total: Decimal,
    /// Venue time.
    pub ts: Timestamp,
}

/// A market's funding rate (per funding interval; positive → longs pay shorts).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FundingRate {
    pub market: MarketId,
    /// Rate per interval, as a fraction.
    pub rate: Decimal,
    /// Venue time.
    pub ts: Timestamp,
}

/// What happened to an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderUpdateKind {
    /// Acknowledged / resting.
    Accepted,
    /// Cancelled.
    Cancelled,
    /// A cancel was refused (e.g. the order had already filled).
    CancelRejected {
        /// The venue's reason.
        reason: String,
    },
    /// Refused by the venue.
    Rejected {
        /// The venue's reason.
        reason: String,
    },
    /// Expired before it took effect.
    Expired,
    /// Outcome unknown; it is being resolved by querying the venue.
    Ambiguous {
        /// Why it is ambiguous.
        reason: String,
    },
    /// Completely filled, by the venue's account (an order-history record); the fills with
    /// their amounts are separate events.
    Filled,
}

/// A change of one order's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderUpdate {
    pub market: MarketId,
    /// Our id, when known.
    pub client_id: Option<ClientOrderId>,
    /// The venue's id, when known.
    pub venue_id: Option<VenueOrderId>,
    /// What happened.
    pub kind: OrderUpdateKind,
    /// Time of the update.
    pub ts: Timestamp,
}

/// One resting order as the venue lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenOrderInfo {
    pub market: MarketId,
    /// The venue's id.
    pub venue_id: VenueOrderId,
    /// Book side.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
    /// Limit price.
    pub price: Ticks,
    /// Original size.
    pub total: Lots,
    /// Size still resting.
    pub remaining: Lots,
    pub leverage: u32,
    /// When the venue last changed it.
    pub updated_at: Timestamp,
}

/// The complete list of our resting orders, in one market or all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenOrdersSnapshot {
    /// The market the list covers, or `None` for all markets.
    pub market: Option<MarketId>,
    pub orders: Vec<OpenOrderInfo>,
    /// Venue time.
    pub ts: Timestamp,
}

/// Identifies a timer a strategy set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct TimerId(pub u64);

/// A connection's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionState {
    /// Connected and streaming.
    Connected,
    /// Lost; reconnecting (quotes may be stale: consider pulling them).
    Reconnecting,
    /// Reconnected and local state resynchronised from the venue.
    Resynced,
    /// Gone for good.
    Disconnected,
}

/// A connection state change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionEvent {
    /// Which stream (e.g. `kana-ws`, `paper`).
    pub stream: String,
    /// Its new state.
    pub state: ConnectionState,
    /// Time of the change.
    pub ts: Timestamp,
}

/// Machine-readable reason an intent was refused before leaving the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// The intent names a market that is not configured.
    UnknownMarket,
    /// The intent names an order that is not live.
    UnknownOrder,
    /// Size, price or leverage off the market's grid or bounds.
    InvalidOrder,
    /// Order larger than `max_order_lots` / `max_order_notional`.
    OrderSize,
    /// The resulting position (counting resting orders) would exceed a limit.
    PositionLimit,
    /// Leverage above the configured or market maximum.
    Leverage,
    /// Limit price too far from the mid (fat finger).
    PriceBand,
    /// Too many open orders.
    OpenOrders,
    /// The book is older than `stale_book_ms`, empty or crossed.
    StaleBook,
    /// The hourly fee/gas budget is spent.
    FeeBudget,
    /// Trading is reduce-only and the intent would increase exposure.
    ReduceOnly,
    /// Trading is halted (loss limit, kill switch).
    Halted,
    /// The order's margin (notional / leverage), with what the bot's orders the venue has not
    /// yet counted reserve, exceeds the available collateral.
    InsufficientMargin,
    /// The rate limiter has no budget for new orders right now.
    RateLimited,
    /// The venue cannot do what the intent asks (Kyan keeps no take-profit or stop-loss).
    Unsupported,
}

/// An intent refused before it left the process, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RiskRejection {
    /// The refused intent.
    pub intent: Intent,
    /// Machine-readable reason.
    pub reason: RejectReason,
    /// Human-readable detail naming the values and limits involved.
    pub detail: String,
}

/// Whether the bot may trade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TradingState {
    /// Everything allowed within limits.
    Active,
    /// Only orders that reduce exposure, cancels and TP/SL updates.
    ReduceOnly,
    /// Only cancels.
    Halted,
}

/// What an [`Alert`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertKind {
    /// Reconciliation found a difference with the venue that nothing explains.
    ReconciliationMismatch,
    /// The venue's market-maker protection froze quoting (Kyan's `mmp_triggered`): its
    /// protected orders were cancelled and new ones are refused until the freeze ends.
    MarketMakerProtection,
    /// The venue is liquidating the account, or reported a bankruptcy loss on it.
    Liquidation,
}

/// Something an operator must look at, raised by the bot itself (not by the venue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    /// Machine-readable kind.
    pub kind: AlertKind,
    /// What was found, with the values.
    pub detail: String,
    /// When.
    pub ts: Timestamp,
}

/// A switch of the trading state, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradingStateChange {
    /// Before.
    pub from: TradingState,
    /// After.
    pub to: TradingState,
    /// Why.
    pub reason: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn update(bids: &[u64], asks: &[u64]) -> BookUpdate {
        let level = |p: &u64| Level {
            price: Ticks(*p),
            lots: Lots(1),
        };
        BookUpdate {
            market: MarketId(1),
            kind: BookUpdateKind::Delta,
            bids: bids.iter().map(level).collect(),
            asks: asks.iter().map(level).collect(),
            ts: Timestamp(0),
        }
    }

    fn sides(u: &BookUpdate) -> Vec<(Side, u64)> {
        u.levels().map(|(s, l)| (s, l.price.0)).collect()
    }

    #[test]
    fn levels_name_each_level_with_its_side_bids_first() {
        assert_eq!(sides(&update(&[5], &[])), [(Side::Buy, 5)]);
        assert_eq!(sides(&update(&[], &[7])), [(Side::Sell, 7)]);
        assert_eq!(
            sides(&update(&[5, 4], &[7, 8])),
            [
                (Side::Buy, 5),
                (Side::Buy, 4),
                (Side::Sell, 7),
                (Side::Sell, 8)
            ]
        );
        assert!(sides(&update(&[], &[])).is_empty());
    }
}
