//! Orders: what a strategy asks for ([`NewOrder`], [`OrderRequest`]) and what becomes of it
//! ([`Order`] and its one exhaustive state machine, [`Order::apply`]).
//!
//! The lifecycle is a single `match (status, event)` so a reader can audit every case in one
//! screen, including the awkward real-world ones: a fill that arrives before the acknowledgement,
//! a fill after a cancel (the cancel lost the race), a duplicate fill (deduplicated by trade id),
//! and an ambiguous submit (timeout, 5xx, "may be on chain") which becomes
//! [`OrderStatus::Unknown`] — never `Rejected` — until a query says otherwise.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::units::{Lots, MarketId, Ticks, ratio};

/// The side of the book an order sits on: a buy rests as a bid, a sell as an ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// Bid.
    Buy,
    /// Ask.
    Sell,
}

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }

    /// +1 for buys, −1 for sells: the sign of the position change a fill makes.
    pub fn sign(self) -> i64 {
        match self {
            Side::Buy => 1,
            Side::Sell => -1,
        }
    }
}

/// Which position an order acts on. Kana runs in hedge mode: a long and a short position can
/// coexist in one market, each with its own margin, leverage and TP/SL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PositionSide {
    /// The long position.
    Long,
    /// The short position.
    Short,
}

impl PositionSide {
    /// Kana's `tradeSide` flag: `true` for the long side.
    pub fn is_long(self) -> bool {
        self == PositionSide::Long
    }
}

/// Whether an order opens (increases) or closes (reduces) a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Open or increase.
    Open,
    /// Close or reduce.
    Close,
}

/// The position an order of this book side and direction acts on: buying opens a long or closes
/// a short; selling opens a short or closes a long.
pub fn position_side(side: Side, direction: Direction) -> PositionSide {
    match (side, direction) {
        (Side::Buy, Direction::Open) | (Side::Sell, Direction::Close) => PositionSide::Long,
        (Side::Sell, Direction::Open) | (Side::Buy, Direction::Close) => PositionSide::Short,
    }
}

/// Limit or market.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    /// Rests at its price (subject to [`Restriction`]).
    Limit,
    /// Takes liquidity immediately; never rests.
    Market,
}

/// Execution restriction of a limit order (Econia flags; Kana accepts 0, 1 and 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Restriction {
    /// May take, the remainder rests (Kana `0`).
    None,
    /// The whole order fills at once or nothing happens (Kana `1`).
    FillOrAbort,
    /// Rests only; refused if any part would take (Kana `3`).
    PostOnly,
}

impl Restriction {
    /// The venue's numeric code (Econia/Kana `restriction`).
    pub fn code(self) -> u8 {
        match self {
            Restriction::None => 0,
            Restriction::FillOrAbort => 1,
            Restriction::PostOnly => 3,
        }
    }
}

/// The bot's own id for an order, assigned when the strategy emits it. Venues that have no
/// client ids (Kana) are mapped back to it by the executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientOrderId(pub u64);

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "c{}", self.0)
    }
}

/// The venue's id for an order. 128 bits hold both Kana's u128 ids and Kyan's 32-hex-digit ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VenueOrderId(pub u128);

impl fmt::Display for VenueOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Identifies one fill; the engine and each order drop duplicates by it, so it must be unique per
/// fill. A venue whose own ids are not (Kana's `trade_id` names a *position*: its opening fill and
/// later fills that add to it share one) derives it from the fill's fields in its decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TradeId(pub u128);

/// An order as a strategy describes it, before it has an id. Build one with [`NewOrder::limit`]
/// or [`NewOrder::market`] and refine with the `with_*` methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewOrder {
    /// Market to trade.
    pub market: MarketId,
    /// Book side.
    pub side: Side,
    /// Open or close.
    pub direction: Direction,
    /// Limit or market.
    pub kind: OrderKind,
    /// Size in lots.
    pub lots: Lots,
    /// Limit price; `None` for market orders.
    pub price: Option<Ticks>,
    /// Execution restriction (limit orders).
    pub restriction: Restriction,
    /// Leverage; must match an existing position's leverage on Kana.
    pub leverage: u32,
    /// Take-profit price attached to the resulting position.
    pub take_profit: Option<Ticks>,
    /// Stop-loss price attached to the resulting position.
    pub stop_loss: Option<Ticks>,
}

impl NewOrder {
    /// A limit order that opens a position, no restriction, leverage 1.
    pub fn limit(market: MarketId, side: Side, lots: Lots, price: Ticks) -> NewOrder {
        NewOrder {
            market,
            side,
            direction: Direction::Open,
            kind: OrderKind::Limit,
            lots,
            price: Some(price),
            restriction: Restriction::None,
            leverage: 1,
            take_profit: None,
            stop_loss: None,
        }
    }

    /// A market order that opens a position, leverage 1.
    pub fn market(market: MarketId, side: Side, lots: Lots) -> NewOrder {
        NewOrder {
            market,
            side,
            direction: Direction::Open,
            kind: OrderKind::Market,
            lots,
            price: None,
            restriction: Restriction::None,
            leverage: 1,
            take_profit: None,
            stop_loss: None,
        }
    }

    /// Post-only (rests or is refused, never takes).
    pub fn post_only(mut self) -> NewOrder {
        self.restriction = Restriction::PostOnly;
        self
    }

    /// Fill-or-abort.
    pub fn fill_or_abort(mut self) -> NewOrder {
        self.restriction = Restriction::FillOrAbort;
        self
    }

    /// Close (reduce) a position instead of opening one.
    pub fn closing(mut self) -> NewOrder {
        self.direction = Direction::Close;
        self
    }

    /// Set the leverage.
    pub fn with_leverage(mut self, leverage: u32) -> NewOrder {
        self.leverage = leverage;
        self
    }

    /// Attach take-profit and/or stop-loss prices to the resulting position.
    pub fn with_tp_sl(mut self, take_profit: Option<Ticks>, stop_loss: Option<Ticks>) -> NewOrder {
        self.take_profit = take_profit;
        self.stop_loss = stop_loss;
        self
    }

    /// The position this order acts on.
    pub fn position_side(&self) -> PositionSide {
        position_side(self.side, self.direction)
    }
}

/// A [`NewOrder`] with its client id: what the risk check and the executor handle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderRequest {
    /// The bot's id for this order.
    pub client_id: ClientOrderId,
    /// The order.
    #[serde(flatten)]
    pub order: NewOrder,
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    /// Sent (or about to be), not yet acknowledged.
    PendingNew,
    /// Resting on the book, nothing filled.
    Open,
    /// Resting, partly filled.
    PartiallyFilled,
    /// Completely filled. Terminal.
    Filled,
    /// A cancel has been sent, not yet confirmed.
    PendingCancel,
    /// Cancelled (possibly after partial fills). Terminal, but late fills are still accepted.
    Cancelled,
    /// Refused by the venue. Terminal.
    Rejected,
    /// Expired before it reached the book (e.g. an Aptos transaction past its expiry). Terminal.
    Expired,
    /// The outcome of the submit is ambiguous (timeout, 5xx): the order may or may not exist.
    /// Resolved by querying the venue, never by resubmitting.
    Unknown,
}

impl OrderStatus {
    /// True when the order can no longer rest on the book.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Filled
                | OrderStatus::Cancelled
                | OrderStatus::Rejected
                | OrderStatus::Expired
        )
    }

    /// True when the order may be resting on the book (counts toward exposure and open orders).
    pub fn is_live(self) -> bool {
        !self.is_terminal()
    }
}

/// Something that happens to an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderEvent {
    /// The venue acknowledged the order and (where known) gave it an id.
    Accepted {
        /// The venue's id, when the acknowledgement carries it.
        venue_id: Option<VenueOrderId>,
    },
    /// A fill of `lots` at `price`.
    Fill {
        /// The venue's fill id (deduplication key).
        trade_id: TradeId,
        /// Filled size of this fill (a delta, not the cumulative size).
        lots: Lots,
        /// Fill price.
        price: Ticks,
    },
    /// The bot asked to cancel.
    CancelRequested,
    /// The venue refused the cancel (e.g. already filled); the order stays as it was.
    CancelRejected,
    /// The venue cancelled the order.
    Cancelled,
    /// The venue refused the order.
    Rejected,
    /// The order's request expired before it took effect.
    Expired,
    /// The submit's outcome is unknown.
    Ambiguous,
}

impl OrderEvent {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            OrderEvent::Accepted { .. } => "accepted",
            OrderEvent::Fill { .. } => "fill",
            OrderEvent::CancelRequested => "cancel_requested",
            OrderEvent::CancelRejected => "cancel_rejected",
            OrderEvent::Cancelled => "cancelled",
            OrderEvent::Rejected => "rejected",
            OrderEvent::Expired => "expired",
            OrderEvent::Ambiguous => "ambiguous",
        }
    }
}

/// What applying an [`OrderEvent`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The status changed (or a fill was recorded).
    Applied {
        /// Status before.
        from: OrderStatus,
        /// Status after.
        to: OrderStatus,
    },
    /// The event repeated something already known (same trade id, second ack): nothing changed.
    Duplicate,
}

/// An event that the order's current status does not allow. The order is left unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {client_id}: illegal transition {status:?} + {event}{detail}")]
pub struct IllegalTransition {
    /// The order.
    pub client_id: ClientOrderId,
    /// Its status when the event arrived.
    pub status: OrderStatus,
    /// The event's name.
    pub event: &'static str,
    /// Extra explanation (e.g. an overfill).
    pub detail: String,
}

/// One order and everything known about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Order {
    /// The request as sent.
    pub request: OrderRequest,
    /// The venue's id, once known.
    pub venue_id: Option<VenueOrderId>,
    /// Current status.
    pub status: OrderStatus,
    /// Cumulative filled size (sum of distinct fills).
    pub filled: Lots,
    /// Sum of `lots · ticks` over fills, for the average fill price.
    pub filled_notional_ticks: u128,
    /// Trade ids already applied (deduplication).
    pub trade_ids: Vec<TradeId>,
    /// True for orders the venue knows that this bot did not place (adopted on reconciliation).
    pub external: bool,
    /// When the order was created locally.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

impl Order {
    /// A freshly emitted order, pending submission.
    pub fn new(request: OrderRequest, now: Timestamp) -> Order {
        Order {
            request,
            venue_id: None,
            status: OrderStatus::PendingNew,
            filled: Lots::ZERO,
            filled_notional_ticks: 0,
            trade_ids: Vec::new(),
            external: false,
            created_at: now,
            updated_at: now,
        }
    }

    /// The bot's id.
    pub fn client_id(&self) -> ClientOrderId {
        self.request.client_id
    }

    /// Market of the order.
    pub fn market(&self) -> MarketId {
        self.request.order.market
    }

    /// Size not yet filled.
    pub fn remaining(&self) -> Lots {
        self.request.order.lots.saturating_sub(self.filled)
    }

    /// Average fill price in (fractional) ticks, if anything filled.
    pub fn average_fill_ticks(&self) -> Option<Decimal> {
        // The average is at most the highest fill price (a u64), so the ratio always fits.
        (!self.filled.is_zero())
            .then(|| ratio(self.filled_notional_ticks, u128::from(self.filled.0)))
            .flatten()
    }

    /// Apply an event through the order's state machine. Illegal transitions leave the order
    /// unchanged and return an error for the caller to log; nothing here panics.
    pub fn apply(
        &mut self,
        event: &OrderEvent,
        now: Timestamp,
    ) -> Result<Transition, IllegalTransition> {
        use OrderEvent as E;
        use OrderStatus as S;
        let from = self.status;
        // The status a resting order has given what has filled so far.
        let resting = |o: &Order| {
            if o.filled.is_zero() {
                S::Open
            } else {
                S::PartiallyFilled
            }
        };

        let to = match (from, event) {
            // Fills: deduplicated and checked for overfill in every state that allows them.
            (_, E::Fill { trade_id, .. }) if self.trade_ids.contains(trade_id) => {
                return Ok(Transition::Duplicate);
            }
            (S::Rejected | S::Expired | S::Filled, E::Fill { .. }) => {
                return Err(self.illegal(event, ""));
            }
            (
                _,
                E::Fill {
                    trade_id,
                    lots,
                    price,
                },
            ) => {
                let total = self.filled.0.checked_add(lots.0);
                match total {
                    Some(t) if t <= self.request.order.lots.0 => {}
                    _ => {
                        let detail = format!(
                            ": overfill ({} filled + {} > {} ordered)",
                            self.filled.0, lots.0, self.request.order.lots.0
                        );
                        return Err(self.illegal(event, &detail));
                    }
                }
                self.trade_ids.push(*trade_id);
                self.filled = Lots(self.filled.0 + lots.0);
                self.filled_notional_ticks += u128::from(lots.0) * u128::from(price.0);
                let complete = self.remaining().is_zero();
                match from {
                    _ if complete => S::Filled,
                    // A fill while a cancel is in flight: the cancel may still win for the rest.
                    S::PendingCancel => S::PendingCancel,
                    // A fill after a cancel: the cancel lost the race for this part. Real venues
                    // do this; the order stays cancelled for the remainder.
                    S::Cancelled => S::Cancelled,
                    // Resting with its fills: PartiallyFilled, or Open after a zero-lot fill.
                    _ => resting(self),
                }
            }

            // Acknowledgements.
            (S::PendingNew | S::Unknown, E::Accepted { venue_id }) => {
                self.venue_id = venue_id.or(self.venue_id);
                resting(self)
            }
            (S::Open | S::PartiallyFilled | S::PendingCancel, E::Accepted { venue_id }) => {
                // A late or repeated ack may still carry the id we lacked.
                if self.venue_id.is_none() && venue_id.is_some() {
                    self.venue_id = *venue_id;
                    self.updated_at = now;
                    return Ok(Transition::Applied { from, to: from });
                }
                return Ok(Transition::Duplicate);
            }

            // A late acknowledgement of an order that already filled or was cancelled (the
            // venue's fill or cancel push beat the commit report): it only supplies the id.
            (S::Filled | S::Cancelled, E::Accepted { venue_id }) => {
                if self.venue_id.is_none() && venue_id.is_some() {
                    self.venue_id = *venue_id;
                    self.updated_at = now;
                }
                return Ok(Transition::Duplicate);
            }

            // Cancels.
            (S::PendingNew | S::Open | S::PartiallyFilled, E::CancelRequested) => S::PendingCancel,
            (S::PendingCancel, E::CancelRequested) => return Ok(Transition::Duplicate),
            (S::PendingCancel, E::CancelRejected) => resting(self),
            // The cancel lost a race with a fill (or a venue-side cancel): nothing left to do.
            (S::Filled | S::Cancelled | S::Rejected | S::Expired, E::CancelRejected) => {
                return Ok(Transition::Duplicate);
            }
            (
                S::PendingNew | S::Open | S::PartiallyFilled | S::PendingCancel | S::Unknown,
                E::Cancelled,
            ) => S::Cancelled,
            (S::Cancelled, E::Cancelled) => return Ok(Transition::Duplicate),

            // Refusals, expiry and ambiguity.
            (S::PendingNew | S::Unknown, E::Rejected) => S::Rejected,
            // A cancel asked for while the submit was still in flight, then the submit itself
            // was refused (Kana: the whole replace transaction aborted): the order never existed.
            (S::PendingCancel, E::Rejected) if self.filled.is_zero() && self.venue_id.is_none() => {
                S::Rejected
            }
            (
                S::PendingNew | S::Unknown | S::Open | S::PartiallyFilled | S::PendingCancel,
                E::Expired,
            ) => S::Expired,
            (S::PendingNew, E::Ambiguous) => S::Unknown,
            // Likewise, a submit of unknown outcome after its cancel was asked for: whether the
            // order exists is now unknown; its resolution decides (and a live one is cancelled).
            (S::PendingCancel, E::Ambiguous)
                if self.filled.is_zero() && self.venue_id.is_none() =>
            {
                S::Unknown
            }
            // "Outcome unknown" tells nothing new about an order whose existence or end is
            // already known (acknowledged, e.g. from the venue's open-orders list, while its
            // submit was still being resolved; or finished): nothing changes.
            (
                S::Unknown
                | S::Open
                | S::PartiallyFilled
                | S::PendingCancel
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                E::Ambiguous,
            ) => return Ok(Transition::Duplicate),

            // Everything else is illegal: e.g. cancelling an order of unknown existence, a reject
            // of an order already resting, any change to a terminal order.
            (
                S::Open
                | S::PartiallyFilled
                | S::PendingCancel
                | S::Filled
                | S::Cancelled
                | S::Rejected
                | S::Expired,
                E::Rejected,
            )
            | (
                S::Unknown | S::Filled | S::Cancelled | S::Rejected | S::Expired,
                E::CancelRequested,
            )
            | (S::PendingNew | S::Open | S::PartiallyFilled | S::Unknown, E::CancelRejected)
            | (S::Filled | S::Rejected | S::Expired, E::Cancelled)
            | (S::Rejected | S::Expired, E::Accepted { .. })
            | (S::Filled | S::Cancelled | S::Rejected | S::Expired, E::Expired) => {
                return Err(self.illegal(event, ""));
            }
        };
        self.status = to;
        self.updated_at = now;
        Ok(Transition::Applied { from, to })
    }

    fn illegal(&self, event: &OrderEvent, detail: &str) -> IllegalTransition {
        IllegalTransition {
            client_id: self.client_id(),
            status: self.status,
            event: event.name(),
            detail: detail.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus as S;

    fn order(lots: u64) -> Order {
        let req = OrderRequest {
            client_id: ClientOrderId(1),
            order: NewOrder::limit(MarketId(1338), Side::Buy, Lots(lots), Ticks(5518)),
        };
        Order::new(req, Timestamp(0))
    }

    fn fill(id: u128, lots: u64) -> OrderEvent {
        OrderEvent::Fill {
            trade_id: TradeId(id),
            lots: Lots(lots),
            price: Ticks(5518),
        }
    }

    fn ack() -> OrderEvent {
        OrderEvent::Accepted {
            venue_id: Some(VenueOrderId(77)),
        }
    }

    fn run(o: &mut Order, events: &[OrderEvent]) {
        for e in events {
            o.apply(e, Timestamp(1)).unwrap();
        }
    }

    #[test]
    fn happy_path_open_partial_filled() {
        let mut o = order(1000);
        run(&mut o, &[ack()]);
        assert_eq!((o.status, o.venue_id), (S::Open, Some(VenueOrderId(77))));
        run(&mut o, &[fill(1, 400)]);
        assert_eq!(
            (o.status, o.filled, o.remaining()),
            (S::PartiallyFilled, Lots(400), Lots(600))
        );
        run(&mut o, &[fill(2, 600)]);
        assert_eq!(o.status, S::Filled);
        assert_eq!(o.average_fill_ticks(), Some(Decimal::from(5518)));
    }

    #[test]
    fn fill_before_ack_is_accepted() {
        let mut o = order(1000);
        run(&mut o, &[fill(1, 100)]);
        assert_eq!(o.status, S::PartiallyFilled);
        // The late ack only supplies the id.
        assert_eq!(
            o.apply(&ack(), Timestamp(2)).unwrap(),
            Transition::Applied {
                from: S::PartiallyFilled,
                to: S::PartiallyFilled
            }
        );
        assert_eq!(o.venue_id, Some(VenueOrderId(77)));
    }

    #[test]
    fn duplicate_trade_ids_are_counted_once() {
        let mut o = order(1000);
        run(&mut o, &[ack(), fill(9, 300)]);
        assert_eq!(
            o.apply(&fill(9, 300), Timestamp(2)).unwrap(),
            Transition::Duplicate
        );
        assert_eq!(o.filled, Lots(300));
        assert_eq!(o.trade_ids.len(), 1);
    }

    #[test]
    fn a_submit_refused_after_its_cancel_was_asked_for_ends_rejected() {
        // Shutdown asks to cancel an order whose replace transaction is still in flight; then
        // that transaction aborts. The order never existed: it must not stay live.
        let mut o = order(1000);
        run(&mut o, &[OrderEvent::CancelRequested, OrderEvent::Rejected]);
        assert_eq!(o.status, S::Rejected);
        assert!(!o.status.is_live());
        // A resting order that was asked to cancel cannot be "rejected" (only its cancel can).
        let mut resting = order(1000);
        run(
            &mut resting,
            &[ack(), fill(1, 100), OrderEvent::CancelRequested],
        );
        assert!(resting.apply(&OrderEvent::Rejected, Timestamp(2)).is_err());
        assert_eq!(resting.status, S::PendingCancel);
        // The submit's outcome turns out ambiguous instead: unknown, resolved like any other.
        let mut unsure = order(1000);
        run(
            &mut unsure,
            &[OrderEvent::CancelRequested, OrderEvent::Ambiguous],
        );
        assert_eq!(unsure.status, S::Unknown);
        run(&mut unsure, &[OrderEvent::Rejected]);
        assert_eq!(unsure.status, S::Rejected);
    }

    #[test]
    fn cancel_then_fill_is_accepted_and_counted() {
        let mut o = order(1000);
        run(&mut o, &[ack(), OrderEvent::CancelRequested]);
        assert_eq!(o.status, S::PendingCancel);
        run(&mut o, &[OrderEvent::Cancelled]);
        assert_eq!(o.status, S::Cancelled);
        // The fill raced the cancel: it is real money and must be counted.
        let t = o.apply(&fill(5, 250), Timestamp(3)).unwrap();
        assert_eq!(
            t,
            Transition::Applied {
                from: S::Cancelled,
                to: S::Cancelled
            }
        );
        assert_eq!(o.filled, Lots(250));
        // A late fill that completes the order makes it filled.
        run(&mut o, &[fill(6, 750)]);
        assert_eq!(o.status, S::Filled);
    }

    #[test]
    fn fill_while_cancel_pending_keeps_pending_cancel() {
        let mut o = order(1000);
        run(&mut o, &[ack(), OrderEvent::CancelRequested, fill(1, 10)]);
        assert_eq!(o.status, S::PendingCancel);
        run(&mut o, &[OrderEvent::CancelRejected]);
        assert_eq!(
            o.status,
            S::PartiallyFilled,
            "cancel refused: back to resting with its fills"
        );
    }

    #[test]
    fn ambiguous_submit_is_unknown_not_failed() {
        let mut o = order(1000);
        run(&mut o, &[OrderEvent::Ambiguous]);
        assert_eq!(o.status, S::Unknown);
        assert!(o.status.is_live(), "unknown orders count as possibly live");
        // A cancel cannot be sent for an order of unknown existence: resolve first.
        assert!(o.apply(&OrderEvent::CancelRequested, Timestamp(2)).is_err());
        // Resolution by query: it was on the book after all.
        run(&mut o, &[ack()]);
        assert_eq!(o.status, S::Open);
        let mut o2 = order(1000);
        run(&mut o2, &[OrderEvent::Ambiguous, OrderEvent::Rejected]);
        assert_eq!(o2.status, S::Rejected);
        // The venue's list acknowledged it while its submit was still being resolved: a later
        // "still unknown" answer changes nothing (and is no anomaly).
        let mut o3 = order(1000);
        run(&mut o3, &[OrderEvent::Ambiguous, ack()]);
        for (status, then) in [
            (S::Open, OrderEvent::CancelRequested),
            (S::PendingCancel, ack()),
        ] {
            assert_eq!(o3.status, status);
            assert_eq!(
                o3.apply(&OrderEvent::Ambiguous, Timestamp(3)),
                Ok(Transition::Duplicate)
            );
            assert_eq!(o3.status, status);
            run(&mut o3, &[then]);
        }
    }

    #[test]
    fn illegal_transitions_leave_the_order_unchanged() {
        let mut o = order(1000);
        run(&mut o, &[ack(), fill(1, 1000)]);
        let before = o.clone();
        let err = o.apply(&OrderEvent::Cancelled, Timestamp(9)).unwrap_err();
        assert_eq!(err.status, S::Filled);
        assert!(
            err.to_string()
                .contains("illegal transition Filled + cancelled"),
            "{err}"
        );
        assert_eq!(o, before);
        assert!(
            o.apply(&fill(2, 1), Timestamp(9)).is_err(),
            "no fills after filled"
        );
        let mut r = order(10);
        run(&mut r, &[OrderEvent::Rejected]);
        assert!(r.apply(&ack(), Timestamp(9)).is_err());
        assert!(r.apply(&OrderEvent::CancelRequested, Timestamp(9)).is_err());
        let mut open = order(10);
        run(&mut open, &[ack()]);
        assert!(open.apply(&OrderEvent::Rejected, Timestamp(9)).is_err());
        assert!(
            open.apply(&OrderEvent::CancelRejected, Timestamp(9))
                .is_err()
        );
    }

    #[test]
    fn a_cancel_that_lost_the_race_to_a_fill_is_harmless() {
        let mut o = order(1000);
        run(&mut o, &[ack(), OrderEvent::CancelRequested, fill(1, 1000)]);
        assert_eq!(o.status, S::Filled);
        // The venue then refuses the cancel: the order is done, nothing changes, no error.
        assert_eq!(
            o.apply(&OrderEvent::CancelRejected, Timestamp(3)).unwrap(),
            Transition::Duplicate
        );
        assert_eq!(o.status, S::Filled);
    }

    #[test]
    fn a_late_ack_of_a_filled_order_only_supplies_the_id() {
        let mut o = order(1000);
        run(&mut o, &[fill(1, 1000)]);
        assert_eq!(
            o.apply(&ack(), Timestamp(2)).unwrap(),
            Transition::Duplicate
        );
        assert_eq!((o.status, o.venue_id), (S::Filled, Some(VenueOrderId(77))));
    }

    /// Found by `tests/integration/prop_order.rs`: a zero-lot fill turned an order with nothing filled into
    /// `PartiallyFilled`.
    #[test]
    fn a_zero_lot_fill_does_not_make_an_order_partially_filled() {
        let mut o = order(1000);
        run(&mut o, &[fill(1, 0)]);
        assert_eq!((o.status, o.filled), (S::Open, Lots(0)));
        assert_eq!(
            o.apply(&fill(1, 0), Timestamp(2)).unwrap(),
            Transition::Duplicate
        );
        run(&mut o, &[OrderEvent::CancelRequested, fill(2, 0)]);
        assert_eq!(o.status, S::PendingCancel);
    }

    /// Found by `tests/integration/prop_order.rs`: the average fill price panicked once the fill notional
    /// exceeded `Decimal`'s 96-bit mantissa.
    #[test]
    fn average_fill_price_of_a_huge_fill_does_not_panic() {
        let mut o = order(u64::MAX);
        let big = OrderEvent::Fill {
            trade_id: TradeId(1),
            lots: Lots(u64::MAX),
            price: Ticks(u64::MAX),
        };
        run(&mut o, &[big]);
        assert_eq!(o.average_fill_ticks(), Some(Decimal::from(u64::MAX)));
    }

    #[test]
    fn overfill_is_refused() {
        let mut o = order(100);
        run(&mut o, &[ack(), fill(1, 60)]);
        let err = o.apply(&fill(2, 50), Timestamp(2)).unwrap_err();
        assert!(err.to_string().contains("overfill"), "{err}");
        assert_eq!(o.filled, Lots(60));
    }

    #[test]
    fn position_side_follows_side_and_direction() {
        assert_eq!(
            position_side(Side::Buy, Direction::Open),
            PositionSide::Long
        );
        assert_eq!(
            position_side(Side::Sell, Direction::Close),
            PositionSide::Long
        );
        assert_eq!(
            position_side(Side::Sell, Direction::Open),
            PositionSide::Short
        );
        assert_eq!(
            position_side(Side::Buy, Direction::Close),
            PositionSide::Short
        );
        assert_eq!(Restriction::PostOnly.code(), 3);
        assert_eq!(Restriction::FillOrAbort.code(), 1);
    }
}
