//! Booking trades in the [`Ledger`]: both legs of a [`Match`], fees, average entry, margin
//! posted and released, realised PnL (rules in [`super::accounting`]).

use rust_decimal::Decimal;

use perpbot_aptos::{AccountAddress, KanaAbort};
use perpbot_model::{
    Direction, Liquidity, Lots, MarketId, Position, PositionSide, Ticks, Timestamp, VenueOrderId,
    position_side,
};

use super::Abort;
use super::accounting::{Ledger, abort};
use super::liquidation::refresh_liquidation_price;
use super::matching::{Match, PlaceOrder};

/// One side of a trade, as the ledger books it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FillLeg {
    /// Profile.
    pub account: AccountAddress,
    /// Position acted on.
    pub side: PositionSide,
    /// Open or close.
    pub direction: Direction,
    /// Maker or taker (sets the fee).
    pub liquidity: Liquidity,
    /// Size.
    pub lots: Lots,
    /// Price.
    pub price: Ticks,
    /// Leverage of the order.
    pub leverage: u32,
    /// The order, for a resting order's reservation.
    pub order_id: Option<VenueOrderId>,
    /// Take-profit to attach to the position.
    pub take_profit: Option<Ticks>,
    /// Stop-loss to attach to the position.
    pub stop_loss: Option<Ticks>,
}

impl FillLeg {
    /// The taker's side of a match.
    pub fn taker(order: &PlaceOrder, m: &Match) -> FillLeg {
        FillLeg {
            account: order.account,
            side: order.position_side(),
            direction: order.direction,
            liquidity: Liquidity::Taker,
            lots: m.lots,
            price: m.price,
            leverage: order.leverage,
            order_id: Some(m.taker_order_id),
            take_profit: order.take_profit,
            stop_loss: order.stop_loss,
        }
    }

    /// The maker's side of a match.
    pub fn maker(m: &Match) -> FillLeg {
        FillLeg {
            account: m.maker_account,
            side: position_side(m.taker_side.opposite(), m.maker_direction),
            direction: m.maker_direction,
            liquidity: Liquidity::Maker,
            lots: m.lots,
            price: m.price,
            leverage: m.maker_leverage,
            order_id: Some(m.maker_order_id),
            take_profit: m.maker_take_profit,
            stop_loss: m.maker_stop_loss,
        }
    }
}

/// What booking one leg did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FillOutcome {
    /// Fee charged.
    pub fee: Decimal,
    /// PnL realised (closing fills).
    pub realized_pnl: Decimal,
    /// Change of the position's margin (+ posted, − released).
    pub margin_change: Decimal,
    /// Position size after the fill.
    pub position_lots: Lots,
    /// Loss or fee the account could not pay, covered by the insurance fund.
    pub shortfall: Decimal,
}

impl Ledger {
    // ---- fills ----

    /// Book both sides of a match (both are validated before either is applied) and record the
    /// trade price. Returns `(maker, taker)` outcomes.
    pub fn apply_match(
        &mut self,
        market: MarketId,
        taker: &PlaceOrder,
        m: &Match,
        now: Timestamp,
    ) -> Result<(FillOutcome, FillOutcome), Abort> {
        let (maker_leg, taker_leg) = (FillLeg::maker(m), FillLeg::taker(taker, m));
        self.validate_fill(market, &maker_leg)?;
        self.validate_fill(market, &taker_leg)?;
        let maker = self.apply_fill(market, &maker_leg, now)?;
        let taker = self.apply_fill(market, &taker_leg, now)?;
        Ok((maker, taker))
    }

    fn validate_fill(&self, market: MarketId, leg: &FillLeg) -> Result<(), Abort> {
        self.market(market)?;
        let position = self.positions.get(&(market, leg.account, leg.side));
        match leg.direction {
            Direction::Open if position.is_some_and(|p| p.leverage != leg.leverage) => {
                Err(abort(KanaAbort::LeverageMismatchIncreasePosition))
            }
            Direction::Open if leg.leverage == 0 => Err(abort(KanaAbort::InvalidLeverage)),
            Direction::Open => Ok(()),
            Direction::Close => match position {
                Some(p) if p.lots.0 < leg.lots.0 => {
                    Err(abort(KanaAbort::TradeSizeExceedsExistingFilled))
                }
                Some(p) if p.leverage != leg.leverage => {
                    Err(abort(KanaAbort::LeverageMismatchClosePosition))
                }
                Some(_) => Ok(()),
                None => Err(abort(KanaAbort::TradeSizeExceedsExistingFilled)),
            },
        }
    }

    /// Book one side of a trade. Opening: average the entry, post `notional / leverage` and pay
    /// the fee from collateral. Closing: realise PnL, release margin pro rata, pay the fee. A
    /// maker leg first releases its order's reservation. Changes nothing on an abort (1004,
    /// 1005, 1006, 1011, 1003).
    pub fn apply_fill(
        &mut self,
        market: MarketId,
        leg: &FillLeg,
        now: Timestamp,
    ) -> Result<FillOutcome, Abort> {
        self.validate_fill(market, leg)?;
        let spec = self.market(market)?.spec.clone();
        if leg.liquidity == Liquidity::Maker
            && let Some(id) = leg.order_id
        {
            self.release(market, id, Some(leg.lots));
        }
        let price = spec.ticks_to_price(leg.price);
        let notional = spec.notional(leg.lots, leg.price);
        let fee_rate = match leg.liquidity {
            Liquidity::Maker => self.config.fees.maker,
            Liquidity::Taker => self.config.fees.taker,
        };
        let fee = notional * fee_rate;
        let key = (market, leg.account, leg.side);
        let mut out = FillOutcome {
            fee,
            ..FillOutcome::default()
        };
        let collateral_change = match leg.direction {
            Direction::Open => {
                let margin = notional / Decimal::from(leg.leverage);
                let position = self
                    .positions
                    .entry(key)
                    .or_insert_with(|| Position::flat(market, leg.side, now));
                if position.lots.is_zero() {
                    position.leverage = leg.leverage;
                }
                let total = Lots(position.lots.0.saturating_add(leg.lots.0));
                if !total.is_zero() {
                    position.entry_price = (position.entry_price * Decimal::from(position.lots.0)
                        + price * Decimal::from(leg.lots.0))
                        / Decimal::from(total.0);
                }
                position.lots = total;
                position.margin += margin;
                if let Some(tp) = leg.take_profit {
                    position.take_profit = Some(spec.ticks_to_price(tp));
                }
                if let Some(sl) = leg.stop_loss {
                    position.stop_loss = Some(spec.ticks_to_price(sl));
                }
                position.updated_at = now;
                refresh_liquidation_price(position, &spec);
                out.margin_change = margin;
                out.position_lots = total;
                -margin - fee
            }
            Direction::Close => {
                let Some(position) = self.positions.get_mut(&key) else {
                    return Err(abort(KanaAbort::TradeSizeExceedsExistingFilled));
                };
                let size = spec.lots_to_size(leg.lots);
                let pnl = match leg.side {
                    PositionSide::Long => (price - position.entry_price) * size,
                    PositionSide::Short => (position.entry_price - price) * size,
                };
                let released = if leg.lots == position.lots {
                    position.margin
                } else {
                    position.margin * Decimal::from(leg.lots.0) / Decimal::from(position.lots.0)
                };
                position.margin -= released;
                position.lots = position.lots.saturating_sub(leg.lots);
                position.updated_at = now;
                refresh_liquidation_price(position, &spec);
                out.position_lots = position.lots;
                if position.lots.is_zero() {
                    self.positions.remove(&key);
                }
                out.realized_pnl = pnl;
                out.margin_change = -released;
                // Isolated margin: the account loses at most the position's margin.
                let mut payout = released + pnl;
                if payout.is_sign_negative() {
                    out.shortfall = -payout;
                    payout = Decimal::ZERO;
                }
                payout - fee
            }
        };
        let balance = self.accounts.entry(leg.account).or_default();
        balance.fees_paid += fee;
        balance.realized_pnl += out.realized_pnl;
        balance.collateral += collateral_change;
        if balance.collateral.is_sign_negative() {
            out.shortfall -= balance.collateral;
            balance.collateral = Decimal::ZERO;
        }
        self.fees_collected += fee;
        self.insurance_fund -= out.shortfall;
        if let Some(m) = self.markets.get_mut(&market) {
            m.last_trade = Some(price);
        }
        Ok(out)
    }
}
