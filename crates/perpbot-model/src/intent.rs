//! Intents: what a strategy wants done. A strategy never talks to a venue; it emits intents, which
//! the risk check approves or refuses and the executor turns into venue requests.

use serde::Serialize;

use super::order::{ClientOrderId, OrderRequest, PositionSide};
use super::units::{MarketId, Ticks};

/// One thing a strategy wants done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "intent", rename_all = "snake_case")]
pub enum Intent {
    /// Place one order.
    Place(OrderRequest),
    /// Cancel one order.
    Cancel {
        /// Market of the order.
        market: MarketId,
        /// The order.
        client_id: ClientOrderId,
    },
    /// Cancel every live order, in one market or all.
    CancelAll {
        /// Market, or `None` for all markets.
        market: Option<MarketId>,
    },
    /// Cancel some orders and place others in one go (Kana: one `cancelAndPlaceMultipleOrders`
    /// transaction) — the market maker's requote.
    ReplaceQuotes {
        market: MarketId,
        /// Orders to cancel.
        cancel: Vec<ClientOrderId>,
        /// Orders to place.
        place: Vec<OrderRequest>,
    },
    /// Set or clear the take-profit of a position.
    UpdateTakeProfit {
        market: MarketId,
        /// Which position.
        position: PositionSide,
        /// New trigger price; `None` clears it.
        price: Option<Ticks>,
    },
    /// Set or clear the stop-loss of a position.
    UpdateStopLoss {
        market: MarketId,
        /// Which position.
        position: PositionSide,
        /// New trigger price; `None` clears it.
        price: Option<Ticks>,
    },
    /// Close a whole position at market.
    ClosePosition {
        market: MarketId,
        /// Which position.
        position: PositionSide,
    },
}

impl Intent {
    /// The market the intent concerns (`None` only for a global cancel-all).
    pub fn market(&self) -> Option<MarketId> {
        match self {
            Intent::Place(r) => Some(r.order.market),
            Intent::Cancel { market, .. }
            | Intent::ReplaceQuotes { market, .. }
            | Intent::UpdateTakeProfit { market, .. }
            | Intent::UpdateStopLoss { market, .. }
            | Intent::ClosePosition { market, .. } => Some(*market),
            Intent::CancelAll { market } => *market,
        }
    }

    /// A short name for logs and reports.
    pub fn name(&self) -> &'static str {
        match self {
            Intent::Place(_) => "place",
            Intent::Cancel { .. } => "cancel",
            Intent::CancelAll { .. } => "cancel_all",
            Intent::ReplaceQuotes { .. } => "replace_quotes",
            Intent::UpdateTakeProfit { .. } => "update_take_profit",
            Intent::UpdateStopLoss { .. } => "update_stop_loss",
            Intent::ClosePosition { .. } => "close_position",
        }
    }

    /// True when the intent only removes orders (never adds exposure).
    pub fn is_cancel_only(&self) -> bool {
        match self {
            Intent::Cancel { .. } | Intent::CancelAll { .. } => true,
            Intent::ReplaceQuotes { place, .. } => place.is_empty(),
            _ => false,
        }
    }
}
