//! Orders: what a strategy asks for ([`NewOrder`], [`OrderRequest`]) and what becomes of it
//! ([`Order`] and its one exhaustive state machine, [`Order::apply`]).
//!
//! The lifecycle is split in two. Which events are legal in which status, and where they lead, is
//! one table, a single `match (status, event kind)` with a row per legal pair, so a reader can
//! audit every case in one screen. What an accepted event records (fills, trade ids, the venue
//! id, timestamps) is a separate function that runs only once the table has said yes. The table
//! covers the awkward real-world cases: a fill that arrives before the acknowledgement,
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

    /// The event without its data: the column [`next_status`] looks up.
    fn kind(&self) -> EventKind {
        match self {
            OrderEvent::Accepted { .. } => EventKind::Accepted,
            OrderEvent::Fill { .. } => EventKind::Fill,
            OrderEvent::CancelRequested => EventKind::CancelRequested,
            OrderEvent::CancelRejected => EventKind::CancelRejected,
            OrderEvent::Cancelled => EventKind::Cancelled,
            OrderEvent::Rejected => EventKind::Rejected,
            OrderEvent::Expired => EventKind::Expired,
            OrderEvent::Ambiguous => EventKind::Ambiguous,
        }
    }
}

/// An [`OrderEvent`] stripped of its data (trade id, lots, venue id), so that the status table
/// depends on nothing but the kinds of status and event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventKind {
    /// [`OrderEvent::Accepted`].
    Accepted,
    /// [`OrderEvent::Fill`].
    Fill,
    /// [`OrderEvent::CancelRequested`].
    CancelRequested,
    /// [`OrderEvent::CancelRejected`].
    CancelRejected,
    /// [`OrderEvent::Cancelled`].
    Cancelled,
    /// [`OrderEvent::Rejected`].
    Rejected,
    /// [`OrderEvent::Expired`].
    Expired,
    /// [`OrderEvent::Ambiguous`].
    Ambiguous,
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

/// Where [`next_status`] sends an order. Most rows name the new status outright; the others
/// name the rule that picks it from the order's data once the event's data is recorded, which
/// [`Order::take_effects`] applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Next {
    /// This status, whatever the order's data.
    To(OrderStatus),
    /// Resting on the book: `Open` while nothing has filled (zero-lot fills count as nothing),
    /// `PartiallyFilled` after.
    Resting,
    /// A new fill: `Filled` if it completes the order, otherwise resting as [`Next::Resting`].
    FilledOrResting,
    /// A new fill: `Filled` if it completes the order, otherwise the status stays. For orders
    /// whose cancel is pending or done, where the remainder is still (to be) cancelled.
    FilledOrStay,
    /// The status stays. An acknowledgement that supplies the venue id the order lacked is a
    /// change ([`Transition::Applied`] from the status to itself); anything else repeats what is
    /// already known ([`Transition::Duplicate`]).
    Stay,
    /// The status stays and the caller is told [`Transition::Duplicate`], but a missing venue id
    /// is still recorded: a finished order's late acknowledgement tells nothing new about its
    /// life, yet its id helps match later venue messages.
    IdOnly,
}

/// The order lifecycle as one table: what an event of kind `event` does to an order in status
/// `from`, or `None` when the event is illegal there ([`Order::apply`] then leaves the order
/// unchanged and returns [`IllegalTransition`]). One row per legal pair, so the whole lifecycle
/// can be audited in one screen; everything not listed is illegal: e.g. cancelling an order of
/// unknown existence, rejecting an order already resting, any change to a rejected or expired
/// order.
///
/// `seen_by_venue` (the order has a venue id or a non-zero fill) matters only to a submit that
/// is refused or turns ambiguous after its cancel was asked for. Two checks sit outside the
/// table because they depend on the fill rather than on the status: [`Order::apply`] drops a
/// fill whose trade id the order already holds before asking, and refuses a new fill that would
/// exceed the order's size after asking.
fn next_status(from: OrderStatus, event: EventKind, seen_by_venue: bool) -> Option<Next> {
    use EventKind as E;
    use Next as N;
    use OrderStatus as S;
    let next = match (from, event) {
        // Acknowledgements. A late or repeated one only supplies the venue id (the fill or
        // cancel push beat the commit report); after Unknown it resolves the ambiguity.
        (S::PendingNew, E::Accepted) => N::Resting,
        (S::Unknown, E::Accepted) => N::Resting,
        (S::Open, E::Accepted) => N::Stay,
        (S::PartiallyFilled, E::Accepted) => N::Stay,
        (S::PendingCancel, E::Accepted) => N::Stay,
        (S::Filled, E::Accepted) => N::IdOnly,
        (S::Cancelled, E::Accepted) => N::IdOnly,

        // Fills, also before the acknowledgement. One during a pending cancel leaves the rest to
        // the cancel; one after the cancel means the cancel lost the race for this part, which
        // real venues do: real money, counted, and the remainder stays cancelled.
        (S::PendingNew, E::Fill) => N::FilledOrResting,
        (S::Unknown, E::Fill) => N::FilledOrResting,
        (S::Open, E::Fill) => N::FilledOrResting,
        (S::PartiallyFilled, E::Fill) => N::FilledOrResting,
        (S::PendingCancel, E::Fill) => N::FilledOrStay,
        (S::Cancelled, E::Fill) => N::FilledOrStay,

        // Cancels. A refused cancel puts a pending one back to resting; refused for an order
        // already finished, it lost a race with a fill or a venue-side cancel: nothing to do.
        (S::PendingNew, E::CancelRequested) => N::To(S::PendingCancel),
        (S::Open, E::CancelRequested) => N::To(S::PendingCancel),
        (S::PartiallyFilled, E::CancelRequested) => N::To(S::PendingCancel),
        (S::PendingCancel, E::CancelRequested) => N::Stay,
        (S::PendingCancel, E::CancelRejected) => N::Resting,
        (S::Filled, E::CancelRejected) => N::Stay,
        (S::Cancelled, E::CancelRejected) => N::Stay,
        (S::Rejected, E::CancelRejected) => N::Stay,
        (S::Expired, E::CancelRejected) => N::Stay,
        (S::PendingNew, E::Cancelled) => N::To(S::Cancelled),
        (S::Unknown, E::Cancelled) => N::To(S::Cancelled),
        (S::Open, E::Cancelled) => N::To(S::Cancelled),
        (S::PartiallyFilled, E::Cancelled) => N::To(S::Cancelled),
        (S::PendingCancel, E::Cancelled) => N::To(S::Cancelled),
        (S::Cancelled, E::Cancelled) => N::Stay,

        // Refusals and expiry. A cancel asked for while the submit was in flight, then the
        // submit itself refused (Kana: the whole replace transaction aborted): the order never
        // existed, unless the venue has shown it does.
        (S::PendingNew, E::Rejected) => N::To(S::Rejected),
        (S::Unknown, E::Rejected) => N::To(S::Rejected),
        (S::PendingCancel, E::Rejected) if !seen_by_venue => N::To(S::Rejected),
        (S::PendingNew, E::Expired) => N::To(S::Expired),
        (S::Unknown, E::Expired) => N::To(S::Expired),
        (S::Open, E::Expired) => N::To(S::Expired),
        (S::PartiallyFilled, E::Expired) => N::To(S::Expired),
        (S::PendingCancel, E::Expired) => N::To(S::Expired),

        // Ambiguity: a submit of unknown outcome is Unknown (never Rejected) until a query
        // answers, likewise one whose cancel was already asked for. It tells nothing new about
        // an order whose existence or end is already known.
        (S::PendingNew, E::Ambiguous) => N::To(S::Unknown),
        (S::PendingCancel, E::Ambiguous) if !seen_by_venue => N::To(S::Unknown),
        (S::PendingCancel, E::Ambiguous) => N::Stay,
        (S::Unknown, E::Ambiguous) => N::Stay,
        (S::Open, E::Ambiguous) => N::Stay,
        (S::PartiallyFilled, E::Ambiguous) => N::Stay,
        (S::Filled, E::Ambiguous) => N::Stay,
        (S::Cancelled, E::Ambiguous) => N::Stay,
        (S::Rejected, E::Ambiguous) => N::Stay,
        (S::Expired, E::Ambiguous) => N::Stay,

        _ => return None,
    };
    Some(next)
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
    ///
    /// Three steps, in this order: a fill whose trade id the order already holds is the same
    /// event again and changes nothing, whatever has happened since; the status table
    /// (`next_status`) decides whether the event is legal in the current status and where it
    /// leads; a new fill must not take the order past its size. Only then does `take_effects`
    /// change anything, so a refused event leaves no trace.
    pub fn apply(
        &mut self,
        event: &OrderEvent,
        now: Timestamp,
    ) -> Result<Transition, IllegalTransition> {
        if let OrderEvent::Fill { trade_id, .. } = event
            && self.trade_ids.contains(trade_id)
        {
            return Ok(Transition::Duplicate);
        }
        let Some(next) = next_status(self.status, event.kind(), self.seen_by_venue()) else {
            return Err(self.illegal(event, ""));
        };
        if let OrderEvent::Fill { lots, .. } = event {
            let ordered = self.request.order.lots.0;
            let total = self.filled.0.checked_add(lots.0);
            if total.is_none_or(|t| t > ordered) {
                let detail = format!(
                    ": overfill ({} filled + {} > {} ordered)",
                    self.filled.0, lots.0, ordered
                );
                return Err(self.illegal(event, &detail));
            }
        }
        Ok(self.take_effects(event, next, now))
    }

    /// Whether the venue has shown that this order exists: it named the order (a venue id) or
    /// filled part of it. A zero-lot fill shows nothing. [`next_status`] needs it for a submit
    /// whose cancel was asked for before the submit's outcome was known.
    fn seen_by_venue(&self) -> bool {
        !self.filled.is_zero() || self.venue_id.is_some()
    }

    /// The data half of [`Order::apply`]: record what a legal event carries and move to the
    /// status `next` picks. Called only after the table and the overfill check accepted the
    /// event, so it cannot fail.
    ///
    /// - A fill adds its trade id, its lots and its notional (`lots · ticks`).
    /// - An acknowledgement that moves the order onto the book names it: its id, when it carries
    ///   one, replaces any earlier one. An acknowledgement that leaves the status alone only
    ///   fills in an id still missing.
    /// - `updated_at` becomes `now` whenever anything changed.
    fn take_effects(&mut self, event: &OrderEvent, next: Next, now: Timestamp) -> Transition {
        use OrderStatus as S;
        let from = self.status;
        let stays = matches!(next, Next::Stay | Next::IdOnly);
        let mut supplied_id = false;
        match *event {
            OrderEvent::Fill {
                trade_id,
                lots,
                price,
            } => {
                self.trade_ids.push(trade_id);
                // Checked against the order's size (a u64) in `apply`; the notional of fills
                // totalling at most u64::MAX lots at u64 ticks fits in a u128.
                self.filled = Lots(self.filled.0 + lots.0);
                self.filled_notional_ticks += u128::from(lots.0) * u128::from(price.0);
            }
            OrderEvent::Accepted { venue_id: Some(id) } if !stays || self.venue_id.is_none() => {
                supplied_id = self.venue_id.is_none();
                self.venue_id = Some(id);
            }
            _ => {}
        }
        // Zero-lot fills leave an order resting as `Open`.
        let resting = if self.filled.is_zero() {
            S::Open
        } else {
            S::PartiallyFilled
        };
        let complete = self.remaining().is_zero();
        let to = match next {
            Next::To(status) => status,
            Next::Resting => resting,
            Next::FilledOrResting if complete => S::Filled,
            Next::FilledOrResting => resting,
            Next::FilledOrStay if complete => S::Filled,
            Next::FilledOrStay => from,
            Next::Stay if supplied_id => from,
            Next::Stay => return Transition::Duplicate,
            Next::IdOnly => {
                if supplied_id {
                    self.updated_at = now;
                }
                return Transition::Duplicate;
            }
        };
        self.status = to;
        self.updated_at = now;
        Transition::Applied { from, to }
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

    const ALL_STATUSES: [OrderStatus; 9] = [
        S::PendingNew,
        S::Open,
        S::PartiallyFilled,
        S::Filled,
        S::PendingCancel,
        S::Cancelled,
        S::Rejected,
        S::Expired,
        S::Unknown,
    ];

    /// One event of each kind, with data that is legal wherever its kind is: a fresh trade id, a
    /// fill too small to overfill, an acknowledgement carrying a new venue id.
    fn one_of_each_kind() -> [OrderEvent; 8] {
        [
            ack(),
            fill(100, 1),
            OrderEvent::CancelRequested,
            OrderEvent::CancelRejected,
            OrderEvent::Cancelled,
            OrderEvent::Rejected,
            OrderEvent::Expired,
            OrderEvent::Ambiguous,
        ]
    }

    /// An order of 1000 lots put straight into `status`, with fills consistent with it (none,
    /// except 400 lots when partly filled and all 1000 when filled) and no venue id.
    fn in_status(status: OrderStatus) -> Order {
        let mut o = order(1000);
        o.status = status;
        let filled = match status {
            S::PartiallyFilled => 400,
            S::Filled => 1000,
            _ => 0,
        };
        if filled > 0 {
            o.filled = Lots(filled);
            o.filled_notional_ticks = u128::from(filled) * 5518;
            o.trade_ids.push(TradeId(1));
        }
        o
    }

    /// The table, row by row: every legal (status, event, seen by the venue) triple and where it
    /// leads; every other triple must be refused. A change to the lifecycle has to change this
    /// list too.
    #[test]
    fn the_status_table_is_exactly_these_rows() {
        use EventKind as E;
        use Next as N;
        // Whether the venue has shown the order exists: either, or only this answer.
        const ANY: Option<bool> = None;
        let rows: [(OrderStatus, EventKind, Option<bool>, Next); 46] = [
            (S::PendingNew, E::Accepted, ANY, N::Resting),
            (S::Unknown, E::Accepted, ANY, N::Resting),
            (S::Open, E::Accepted, ANY, N::Stay),
            (S::PartiallyFilled, E::Accepted, ANY, N::Stay),
            (S::PendingCancel, E::Accepted, ANY, N::Stay),
            (S::Filled, E::Accepted, ANY, N::IdOnly),
            (S::Cancelled, E::Accepted, ANY, N::IdOnly),
            (S::PendingNew, E::Fill, ANY, N::FilledOrResting),
            (S::Unknown, E::Fill, ANY, N::FilledOrResting),
            (S::Open, E::Fill, ANY, N::FilledOrResting),
            (S::PartiallyFilled, E::Fill, ANY, N::FilledOrResting),
            (S::PendingCancel, E::Fill, ANY, N::FilledOrStay),
            (S::Cancelled, E::Fill, ANY, N::FilledOrStay),
            (
                S::PendingNew,
                E::CancelRequested,
                ANY,
                N::To(S::PendingCancel),
            ),
            (S::Open, E::CancelRequested, ANY, N::To(S::PendingCancel)),
            (
                S::PartiallyFilled,
                E::CancelRequested,
                ANY,
                N::To(S::PendingCancel),
            ),
            (S::PendingCancel, E::CancelRequested, ANY, N::Stay),
            (S::PendingCancel, E::CancelRejected, ANY, N::Resting),
            (S::Filled, E::CancelRejected, ANY, N::Stay),
            (S::Cancelled, E::CancelRejected, ANY, N::Stay),
            (S::Rejected, E::CancelRejected, ANY, N::Stay),
            (S::Expired, E::CancelRejected, ANY, N::Stay),
            (S::PendingNew, E::Cancelled, ANY, N::To(S::Cancelled)),
            (S::Unknown, E::Cancelled, ANY, N::To(S::Cancelled)),
            (S::Open, E::Cancelled, ANY, N::To(S::Cancelled)),
            (S::PartiallyFilled, E::Cancelled, ANY, N::To(S::Cancelled)),
            (S::PendingCancel, E::Cancelled, ANY, N::To(S::Cancelled)),
            (S::Cancelled, E::Cancelled, ANY, N::Stay),
            (S::PendingNew, E::Rejected, ANY, N::To(S::Rejected)),
            (S::Unknown, E::Rejected, ANY, N::To(S::Rejected)),
            (S::PendingNew, E::Expired, ANY, N::To(S::Expired)),
            (S::Unknown, E::Expired, ANY, N::To(S::Expired)),
            (S::Open, E::Expired, ANY, N::To(S::Expired)),
            (S::PartiallyFilled, E::Expired, ANY, N::To(S::Expired)),
            (S::PendingCancel, E::Expired, ANY, N::To(S::Expired)),
            (S::PendingNew, E::Ambiguous, ANY, N::To(S::Unknown)),
            (S::Unknown, E::Ambiguous, ANY, N::Stay),
            (S::Open, E::Ambiguous, ANY, N::Stay),
            (S::PartiallyFilled, E::Ambiguous, ANY, N::Stay),
            (S::Filled, E::Ambiguous, ANY, N::Stay),
            (S::Cancelled, E::Ambiguous, ANY, N::Stay),
            (S::Rejected, E::Ambiguous, ANY, N::Stay),
            (S::Expired, E::Ambiguous, ANY, N::Stay),
            (
                S::PendingCancel,
                E::Rejected,
                Some(false),
                N::To(S::Rejected),
            ),
            (
                S::PendingCancel,
                E::Ambiguous,
                Some(false),
                N::To(S::Unknown),
            ),
            (S::PendingCancel, E::Ambiguous, Some(true), N::Stay),
        ];
        let kinds = one_of_each_kind().map(|e| e.kind());
        for from in ALL_STATUSES {
            for kind in kinds {
                for seen in [false, true] {
                    let expected = rows
                        .iter()
                        .find(|r| (r.0, r.1) == (from, kind) && r.2.is_none_or(|s| s == seen))
                        .map(|r| r.3);
                    assert_eq!(
                        next_status(from, kind, seen),
                        expected,
                        "{from:?} + {kind:?}, seen by the venue: {seen}"
                    );
                }
            }
        }
        // 45 of the 72 (status, event) pairs are legal, PendingCancel + Rejected only while the
        // venue has not shown the order exists.
        let legal_pairs = ALL_STATUSES
            .iter()
            .flat_map(|&from| kinds.map(|kind| (from, kind)))
            .filter(|&(from, kind)| next_status(from, kind, false).is_some())
            .count();
        assert_eq!(legal_pairs, 45);
    }

    /// `apply` follows the table: a pair the table refuses is refused with the order untouched,
    /// and a pair it allows lands in the status its row names.
    #[test]
    fn apply_refuses_exactly_what_the_table_refuses_and_changes_nothing() {
        for from in ALL_STATUSES {
            for event in one_of_each_kind() {
                let mut o = in_status(from);
                let before = o.clone();
                let row = next_status(from, event.kind(), o.seen_by_venue());
                let result = o.apply(&event, Timestamp(5));
                match row {
                    None => {
                        let err = result.unwrap_err();
                        assert_eq!((err.status, err.event), (from, event.name()));
                        assert_eq!(o, before, "{from:?} + {}", event.name());
                    }
                    Some(Next::To(to)) => {
                        assert_eq!(result, Ok(Transition::Applied { from, to }));
                        assert_eq!((o.status, o.updated_at), (to, Timestamp(5)));
                    }
                    Some(_) => assert!(result.is_ok(), "{from:?} + {}", event.name()),
                }
            }
        }
    }

    /// The rows whose target depends on data: a fill completes the order or not, resting is
    /// `Open` or `PartiallyFilled` by what has filled, and a repeat tells the caller nothing
    /// unless it supplies a missing venue id.
    #[test]
    fn data_dependent_rows_pick_their_status_from_the_order() {
        // A completing fill ends in Filled from every status that takes fills.
        for from in [
            S::PendingNew,
            S::Unknown,
            S::Open,
            S::PendingCancel,
            S::Cancelled,
        ] {
            let mut o = in_status(from);
            let t = o.apply(&fill(2, 1000), Timestamp(5)).unwrap();
            assert_eq!(
                t,
                Transition::Applied {
                    from,
                    to: S::Filled
                }
            );
        }
        // A partial one: resting, or the status stays where a cancel is pending or done.
        for (from, to) in [
            (S::PendingNew, S::PartiallyFilled),
            (S::Unknown, S::PartiallyFilled),
            (S::Open, S::PartiallyFilled),
            (S::PartiallyFilled, S::PartiallyFilled),
            (S::PendingCancel, S::PendingCancel),
            (S::Cancelled, S::Cancelled),
        ] {
            let mut o = in_status(from);
            let t = o.apply(&fill(2, 10), Timestamp(5)).unwrap();
            assert_eq!(t, Transition::Applied { from, to });
        }
        // A refused cancel goes back to resting by what has filled.
        let mut o = in_status(S::PendingCancel);
        run(&mut o, &[OrderEvent::CancelRejected]);
        assert_eq!(o.status, S::Open);
        // Seen by the venue (here: its id), a pending cancel's submit can no longer be refused,
        // and an ambiguous outcome no longer makes it Unknown.
        let mut seen = in_status(S::PendingCancel);
        seen.venue_id = Some(VenueOrderId(3));
        let before = seen.clone();
        assert!(seen.apply(&OrderEvent::Rejected, Timestamp(5)).is_err());
        assert_eq!(
            seen.apply(&OrderEvent::Ambiguous, Timestamp(5)),
            Ok(Transition::Duplicate)
        );
        assert_eq!(seen, before);
        // A repeated ack that brings nothing new is a duplicate and touches nothing.
        let mut open = in_status(S::Open);
        open.venue_id = Some(VenueOrderId(3));
        let before = open.clone();
        assert_eq!(open.apply(&ack(), Timestamp(5)), Ok(Transition::Duplicate));
        assert_eq!(
            open, before,
            "a known venue id is not replaced by a late ack"
        );
        // The first ack names the order, replacing an id guessed before it.
        let mut unknown = in_status(S::Unknown);
        unknown.venue_id = Some(VenueOrderId(3));
        run(&mut unknown, &[ack()]);
        assert_eq!(unknown.venue_id, Some(VenueOrderId(77)));
        // A cancelled order's late ack records the id but is reported as a duplicate.
        let mut cancelled = in_status(S::Cancelled);
        assert_eq!(
            cancelled.apply(&ack(), Timestamp(5)),
            Ok(Transition::Duplicate)
        );
        assert_eq!(
            (cancelled.status, cancelled.venue_id, cancelled.updated_at),
            (S::Cancelled, Some(VenueOrderId(77)), Timestamp(5))
        );
    }

    /// Checks outside the table come first or after as documented: a repeated trade id is a
    /// duplicate even where a new fill would be illegal, and a finished order refuses a new fill
    /// as illegal rather than as an overfill.
    #[test]
    fn repeated_fills_are_duplicates_everywhere_and_overfill_is_checked_after_the_table() {
        for from in ALL_STATUSES {
            let mut o = in_status(from);
            o.trade_ids.push(TradeId(50));
            let before = o.clone();
            assert_eq!(
                o.apply(&fill(50, 1), Timestamp(5)),
                Ok(Transition::Duplicate),
                "{from:?}"
            );
            assert_eq!(o, before);
        }
        let mut filled = in_status(S::Filled);
        let err = filled.apply(&fill(2, 1), Timestamp(5)).unwrap_err();
        assert_eq!(err.detail, "");
        let mut open = in_status(S::Open);
        let err = open.apply(&fill(2, 1001), Timestamp(5)).unwrap_err();
        assert!(err.detail.contains("overfill"), "{err}");
        let mut huge = in_status(S::PartiallyFilled);
        let err = huge.apply(&fill(2, u64::MAX), Timestamp(5)).unwrap_err();
        assert!(err.detail.contains("overfill"), "{err}");
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
