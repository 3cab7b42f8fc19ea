//! Liquidation and take-profit / stop-loss triggers of the [`Ledger`] (rules in
//! [`super::accounting`]; formulas from reference §9.2).

use rust_decimal::Decimal;

use perpbot_aptos::{AccountAddress, KanaAbort};
use perpbot_model::{
    Direction, Lots, MarketId, MarketSpec, Position, PositionSide, Side, Timestamp, VenueOrderId,
};

use super::Abort;
use super::accounting::{Ledger, abort, market_range};
use super::matching::PlaceOrder;

/// A position below maintenance margin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationCandidate {
    /// Profile.
    pub account: AccountAddress,
    /// Side.
    pub side: PositionSide,
    /// Size.
    pub lots: Lots,
    /// `margin + unrealised PnL` at the mark.
    pub equity: Decimal,
    /// `size · mark · mmr`.
    pub maintenance: Decimal,
}

/// What a liquidation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquidationOutcome {
    /// Size closed.
    pub lots: Lots,
    /// PnL realised at the mark.
    pub realized_pnl: Decimal,
    /// Returned to the trader.
    pub to_trader: Decimal,
    /// Paid to the liquidator.
    pub to_liquidator: Decimal,
    /// Net change of the insurance fund (negative when it covered a deficit).
    pub to_insurance: Decimal,
    /// Resting close orders of the position, now without a position: cancel them on the book.
    pub orphaned_close_orders: Vec<VenueOrderId>,
}

/// Why a position's trigger fired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TriggerReason {
    /// Take-profit.
    TakeProfit,
    /// Stop-loss.
    StopLoss,
}

/// A position whose TP or SL fired: close it with a taker order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Trigger {
    /// Profile.
    pub account: AccountAddress,
    /// Market.
    pub market: MarketId,
    /// Side.
    pub side: PositionSide,
    /// Size to close.
    pub lots: Lots,
    /// Which trigger.
    pub reason: TriggerReason,
}

impl Ledger {
    // ---- liquidation ----

    /// Positions of a market that fall below maintenance margin at `mark`, in key order.
    pub fn positions_to_liquidate(
        &self,
        market: MarketId,
        mark: Decimal,
    ) -> Vec<LiquidationCandidate> {
        let Some(spec) = self.spec(market) else {
            return Vec::new();
        };
        let mmr = spec.maintenance_margin_rate();
        self.positions
            .range(market_range(market))
            .filter_map(|((_, account, side), p)| {
                let equity = p.margin + p.unrealized_pnl(spec, mark);
                let maintenance = spec.notional_at(p.lots, mark) * mmr;
                (equity < maintenance).then_some(LiquidationCandidate {
                    account: *account,
                    side: *side,
                    lots: p.lots,
                    equity,
                    maintenance,
                })
            })
            .collect()
    }

    /// Close a position at `mark` and split what is left (module docs). No position → 1011.
    pub fn liquidate(
        &mut self,
        account: AccountAddress,
        market: MarketId,
        side: PositionSide,
        mark: Decimal,
        liquidator: Option<AccountAddress>,
    ) -> Result<LiquidationOutcome, Abort> {
        let spec = self.market(market)?.spec.clone();
        let position = self
            .positions
            .remove(&(market, account, side))
            .ok_or(abort(KanaAbort::TradeSizeExceedsExistingFilled))?;
        let pnl = position.unrealized_pnl(&spec, mark);
        let equity = position.margin + pnl;
        let mut out = LiquidationOutcome {
            lots: position.lots,
            realized_pnl: pnl,
            to_trader: Decimal::ZERO,
            to_liquidator: Decimal::ZERO,
            to_insurance: Decimal::ZERO,
            orphaned_close_orders: Vec::new(),
        };
        if equity.is_sign_positive() {
            out.to_trader = equity * self.config.liquidation_trader_share;
            let liquidator_share = equity * self.config.liquidation_liquidator_share;
            if liquidator.is_some() {
                out.to_liquidator = liquidator_share;
            }
            out.to_insurance = equity - out.to_trader - out.to_liquidator;
        } else {
            out.to_insurance = equity;
        }
        if let Some(b) = self.accounts.get_mut(&account) {
            b.collateral += out.to_trader;
            b.realized_pnl += pnl;
        }
        if let Some(l) = liquidator {
            self.accounts.entry(l).or_default().collateral += out.to_liquidator;
        }
        self.insurance_fund += out.to_insurance;
        out.orphaned_close_orders = self
            .reservations
            .iter()
            .filter(|((m, _), r)| {
                *m == market
                    && r.account == account
                    && r.side == side
                    && r.direction == Direction::Close
            })
            .map(|((_, id), _)| *id)
            .collect();
        Ok(out)
    }

    // ---- take-profit / stop-loss ----

    /// Positions of a market whose TP or SL fires at `mark` (rules in the module docs).
    pub fn triggered(&self, market: MarketId, mark: Decimal) -> Vec<Trigger> {
        self.positions
            .range(market_range(market))
            .filter_map(|((_, account, side), p)| {
                let (tp_hit, sl_hit) = match side {
                    PositionSide::Long => (
                        p.take_profit.is_some_and(|tp| mark >= tp),
                        p.stop_loss.is_some_and(|sl| mark <= sl),
                    ),
                    PositionSide::Short => (
                        p.take_profit.is_some_and(|tp| mark <= tp),
                        p.stop_loss.is_some_and(|sl| mark >= sl),
                    ),
                };
                let reason = if sl_hit {
                    TriggerReason::StopLoss
                } else if tp_hit {
                    TriggerReason::TakeProfit
                } else {
                    return None;
                };
                Some(Trigger {
                    account: *account,
                    market,
                    side: *side,
                    lots: p.lots,
                    reason,
                })
            })
            .collect()
    }

    /// The closing order that executes a trigger or a manual close: a taker market order on the
    /// position's closing side at the position's leverage.
    pub fn close_order(&self, trigger: &Trigger, now: Timestamp) -> Option<PlaceOrder> {
        let p = self.position(trigger.account, trigger.market, trigger.side)?;
        let side = match trigger.side {
            PositionSide::Long => Side::Sell,
            PositionSide::Short => Side::Buy,
        };
        let mut order = PlaceOrder::market(trigger.account, side, p.lots)
            .with_direction(Direction::Close)
            .with_leverage(p.leverage);
        order.time = now;
        Some(order)
    }
}

/// Kana's liquidation-price estimate from the position's actual margin: the mark where
/// `margin + PnL = size · mark · mmr` (equal to [`Position::estimate_liquidation_price`] while
/// the margin is `notional / leverage`).
pub(super) fn refresh_liquidation_price(position: &mut Position, spec: &MarketSpec) {
    if position.lots.is_zero() {
        position.liquidation_price = None;
        return;
    }
    let size = spec.lots_to_size(position.lots);
    let mmr = spec.maintenance_margin_rate();
    let per_coin = position.margin / size;
    position.liquidation_price = match position.side {
        // m + (P − E)s = P s mmr  →  P = (E − m/s) / (1 − mmr)
        PositionSide::Long => (position.entry_price - per_coin)
            .checked_div(Decimal::ONE - mmr)
            .map(|p| p.max(Decimal::ZERO)),
        // m + (E − P)s = P s mmr  →  P = (E + m/s) / (1 + mmr)
        PositionSide::Short => (position.entry_price + per_coin).checked_div(Decimal::ONE + mmr),
    };
}
