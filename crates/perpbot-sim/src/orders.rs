//! What goes in and out of the [`MatchingBook`](super::MatchingBook): order requests, resting orders,
//! matches, results, the book's settings, and the Econia-like order-id layout (rules in
//! [`super::matching`]).

use perpbot_aptos::{AccountAddress, EconiaAbort};
use perpbot_model::{
    Direction, Lots, MAX_PRICE_TICKS, OrderKind, PositionSide, Restriction, Side, Ticks, Timestamp,
    VenueOrderId, position_side,
};

use super::{Abort, CancelReason};

/// What happens when a taker reaches a resting order of its own account (Econia's
/// `self_match_behavior` flags). Named in config as `abort`, `cancel_both`, `cancel_maker`,
/// `cancel_taker`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SelfMatchBehavior {
    /// Abort the transaction with `E_SELF_MATCH` (19). Econia's `ABORT`, the default.
    #[default]
    Abort,
    /// Cancel the resting order (reason 6) and the taker's remainder (reason 7).
    CancelBoth,
    /// Cancel the resting order (reason 6) and keep matching.
    CancelMaker,
    /// Cancel the taker's remainder (reason 7); it neither trades further nor rests.
    CancelTaker,
}

/// What a market order does when the book cannot fill all of it. Named in config as `abort`,
/// `fill_partial`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarketShortfall {
    /// Refuse the whole order with Kana `E_INSUFFICIENT_LIQUIDITY_IN_ORDERBOOK` (1007).
    #[default]
    Abort,
    /// Fill what the book has and cancel the remainder (reason 5).
    FillPartial,
}

/// Settings of one book.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MatchingConfig {
    /// Self-match rule.
    pub self_match: SelfMatchBehavior,
    /// Market-order shortfall rule.
    pub market_shortfall: MarketShortfall,
}

/// Kana's restriction code → [`Restriction`]. `2` (immediate-or-cancel, which Econia supports
/// but Kana does not list) and unknown values are refused with `E_INVALID_RESTRICTION` (18).
pub fn restriction_from_code(code: u8) -> Result<Restriction, Abort> {
    match code {
        0 => Ok(Restriction::None),
        1 => Ok(Restriction::FillOrAbort),
        3 => Ok(Restriction::PostOnly),
        _ => Err(EconiaAbort::InvalidRestriction.into()),
    }
}

/// The book side of an order on Kana's position flags: opening a long or closing a short buys;
/// opening a short or closing a long sells.
pub fn book_side(position: PositionSide, direction: Direction) -> Side {
    match (position, direction) {
        (PositionSide::Long, Direction::Open) | (PositionSide::Short, Direction::Close) => {
            Side::Buy
        }
        (PositionSide::Short, Direction::Open) | (PositionSide::Long, Direction::Close) => {
            Side::Sell
        }
    }
}

/// Build an order id from the book's counter and, for a resting order, its side and price.
pub fn encode_order_id(counter: u64, resting: Option<(Side, Ticks)>) -> VenueOrderId {
    let low = resting.map_or(0u128, |(side, price)| {
        let ask = u128::from(side == Side::Sell) << 32;
        ask | u128::from(price.0 & MAX_PRICE_TICKS)
    });
    VenueOrderId((u128::from(counter) << 64) | low)
}

/// Split an order id into its counter and, when it rested, its side and price.
pub fn decode_order_id(id: VenueOrderId) -> (u64, Option<(Side, Ticks)>) {
    // The shift leaves at most 64 bits, so the conversion cannot fail.
    let counter = u64::try_from(id.0 >> 64).unwrap_or(u64::MAX);
    let low = id.0 & u128::from(u64::MAX);
    let price = u64::try_from(low & u128::from(MAX_PRICE_TICKS)).unwrap_or(0);
    let side = if (low >> 32) & 1 == 1 {
        Side::Sell
    } else {
        Side::Buy
    };
    (counter, (price != 0).then_some((side, Ticks(price))))
}

/// An order to place: Kana's `place_limit_order` / `place_market_order` arguments in book terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    /// Owner (profile address).
    pub account: AccountAddress,
    /// Book side (see [`book_side`] for Kana's `tradeSide`/`direction` flags).
    pub side: Side,
    /// Open or close a position.
    pub direction: Direction,
    /// Limit or market.
    pub kind: OrderKind,
    /// Size in lots.
    pub lots: Lots,
    /// Limit price; ignored for market orders.
    pub price: Option<Ticks>,
    /// Restriction of a limit order; ignored for market orders.
    pub restriction: Restriction,
    /// Leverage (validated by the ledger, carried by resting orders).
    pub leverage: u32,
    /// Take-profit for the position the order fills into.
    pub take_profit: Option<Ticks>,
    /// Stop-loss for the position the order fills into.
    pub stop_loss: Option<Ticks>,
    /// Time of the transaction.
    pub time: Timestamp,
}

impl PlaceOrder {
    /// An opening limit order, no restriction, leverage 1, time 0.
    pub fn limit(account: AccountAddress, side: Side, lots: Lots, price: Ticks) -> PlaceOrder {
        PlaceOrder {
            account,
            side,
            direction: Direction::Open,
            kind: OrderKind::Limit,
            lots,
            price: Some(price),
            restriction: Restriction::None,
            leverage: 1,
            take_profit: None,
            stop_loss: None,
            time: Timestamp(0),
        }
    }

    /// An opening market order, leverage 1, time 0.
    pub fn market(account: AccountAddress, side: Side, lots: Lots) -> PlaceOrder {
        PlaceOrder {
            kind: OrderKind::Market,
            price: None,
            ..PlaceOrder::limit(account, side, lots, Ticks(0))
        }
    }

    /// With a restriction.
    pub fn with_restriction(mut self, restriction: Restriction) -> PlaceOrder {
        self.restriction = restriction;
        self
    }

    /// With a direction.
    pub fn with_direction(mut self, direction: Direction) -> PlaceOrder {
        self.direction = direction;
        self
    }

    /// With a leverage.
    pub fn with_leverage(mut self, leverage: u32) -> PlaceOrder {
        self.leverage = leverage;
        self
    }

    /// The position the order acts on.
    pub fn position_side(&self) -> PositionSide {
        position_side(self.side, self.direction)
    }
}

/// An order resting on the book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestingOrder {
    /// Its id.
    pub id: VenueOrderId,
    /// Owner.
    pub account: AccountAddress,
    /// Book side.
    pub side: Side,
    /// Price.
    pub price: Ticks,
    /// Size still resting.
    pub lots: Lots,
    /// Size when it was placed (before any taker fill).
    pub original_lots: Lots,
    /// Open or close.
    pub direction: Direction,
    /// Leverage.
    pub leverage: u32,
    /// Take-profit for the position it fills into.
    pub take_profit: Option<Ticks>,
    /// Stop-loss for the position it fills into.
    pub stop_loss: Option<Ticks>,
    /// When it was placed.
    pub placed_at: Timestamp,
}

impl RestingOrder {
    /// The position the order acts on.
    pub fn position_side(&self) -> PositionSide {
        position_side(self.side, self.direction)
    }
}

/// One trade between a taker and a resting order, at the resting order's price.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Match {
    /// The resting order.
    pub maker_order_id: VenueOrderId,
    /// Its owner.
    pub maker_account: AccountAddress,
    /// Open or close, of the resting order.
    pub maker_direction: Direction,
    /// Leverage of the resting order.
    pub maker_leverage: u32,
    /// Take-profit of the resting order.
    pub maker_take_profit: Option<Ticks>,
    /// Stop-loss of the resting order.
    pub maker_stop_loss: Option<Ticks>,
    /// What is left of the resting order after this trade (zero: it left the book).
    pub maker_remaining: Lots,
    /// The taker order (its final id, see the module docs).
    pub taker_order_id: VenueOrderId,
    /// The taker's owner.
    pub taker_account: AccountAddress,
    /// Book side of the taker.
    pub taker_side: Side,
    /// Trade price.
    pub price: Ticks,
    /// Trade size.
    pub lots: Lots,
}

/// An order that left the book without filling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CancelledOrder {
    /// The order as it was (with its unfilled size).
    pub order: RestingOrder,
    /// Why.
    pub reason: CancelReason,
}

/// What placing an order did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceResult {
    /// The order's id.
    pub order_id: VenueOrderId,
    /// Trades, in matching order.
    pub fills: Vec<Match>,
    /// Size that rests on the book, if any.
    pub rested: Option<Lots>,
    /// Size that neither filled nor rested, and why (market shortfall, self-match cancel-taker).
    pub unfilled: Option<(Lots, CancelReason)>,
    /// Resting orders cancelled on the way (self-match cancel-maker).
    pub cancelled: Vec<CancelledOrder>,
}

impl Default for PlaceResult {
    /// An empty result (id 0), for [`MatchingBook::place_into`](super::MatchingBook::place_into).
    fn default() -> PlaceResult {
        PlaceResult {
            order_id: VenueOrderId(0),
            fills: Vec::new(),
            rested: None,
            unfilled: None,
            cancelled: Vec::new(),
        }
    }
}

impl PlaceResult {
    /// Total filled size.
    pub fn filled(&self) -> Lots {
        Lots(self.fills.iter().map(|m| m.lots.0).sum())
    }
}

/// What a cancel-and-place transaction did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BatchResult {
    /// The cancelled orders, in request order.
    pub cancelled: Vec<CancelledOrder>,
    /// The placed orders, in request order.
    pub placed: Vec<PlaceResult>,
}
