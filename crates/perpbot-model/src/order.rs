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

mod trade_ids;

pub use trade_ids::TradeIds;

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
    /// The venue reports the order completely filled (Kana's order-history `Filled` record).
    /// It carries no amounts: the fills themselves come on their own, before or after it, and
    /// an order closed this way still takes the fills it has not yet seen.
    FilledAtVenue,
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
            OrderEvent::FilledAtVenue => "filled_at_venue",
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
            OrderEvent::FilledAtVenue => EventKind::FilledAtVenue,
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
    /// [`OrderEvent::FilledAtVenue`].
    FilledAtVenue,
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
        // A fill after the venue said "filled" completes the amounts it did not carry (the
        // overfill check still refuses one too many).
        (S::Filled, E::Fill) => N::FilledOrStay,

        // The venue says the order filled completely: it no longer rests, whatever the bot
        // knew, and a cancel that seemed to win lost the race. An order that never reached the
        // book (refused, expired) cannot have filled.
        (S::PendingNew, E::FilledAtVenue) => N::To(S::Filled),
        (S::Unknown, E::FilledAtVenue) => N::To(S::Filled),
        (S::Open, E::FilledAtVenue) => N::To(S::Filled),
        (S::PartiallyFilled, E::FilledAtVenue) => N::To(S::Filled),
        (S::PendingCancel, E::FilledAtVenue) => N::To(S::Filled),
        (S::Cancelled, E::FilledAtVenue) => N::To(S::Filled),
        (S::Filled, E::FilledAtVenue) => N::Stay,

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
    pub trade_ids: TradeIds,
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
            trade_ids: TradeIds::default(),
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
                self.trade_ids.insert(trade_id);
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
mod tests;
