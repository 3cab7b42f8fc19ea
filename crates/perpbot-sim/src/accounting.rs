//! Kana-style perpetual accounting for the simulator: collateral per profile, isolated-margin
//! positions in hedge mode, margin reserved by resting orders, fees, funding, mark price,
//! liquidation and take-profit / stop-loss triggers (reference §9).
//!
//! The [`Ledger`] is pure bookkeeping: the caller (the simulator's transaction layer) checks an
//! order with [`Ledger::check_order`], runs it through the [`MatchingBook`](super::MatchingBook), then
//! books each [`Match`](super::matching::Match) with [`Ledger::apply_match`], reserves what rested with
//! [`Ledger::reserve`] and releases it on cancel with [`Ledger::release`]. Liquidations and TP/SL
//! closes are found by [`Ledger::positions_to_liquidate`] and [`Ledger::triggered`].
//!
//! Money is exact `Decimal` in quote units (never rounded to sub-units: Kana's own fee strings
//! carry more digits, reference §4.4.4). Positions are [`model::Position`](Position)s.
//!
//! ## Decided rules
//!
//! * Balances: `available = collateral − reserved`; position margin lives in the position.
//!   One collateral balance per profile across markets (Kana's per-market withdraw calls suggest
//!   otherwise; unknown).
//! * Order check (in Kana's error order): unknown market 1003; leverage 0 or above the market
//!   maximum 1006; leverage ≠ the position's (or ≠ resting opening orders' on that side) 1004 for
//!   a close, 1005 for an open; a close above the position minus lots already in resting closes
//!   1011; an open needing more than `available` for `notional / leverage + notional · taker fee`
//!   (at the limit price, or the worst price a market order reaches) 1012
//!   (`E_LOSS_GREATER_THAN_COLLATERAL`, the nearest retrieved code — Kana's cut-off 1015
//!   `E_INSUFFICIENT_FUND_IN_COL…` is probably the real one).
//! * A resting opening order reserves `notional / leverage + notional · maker fee`, released pro
//!   rata as it fills or when cancelled; a resting close commits its lots against the position.
//! * Close: PnL realised at the fill price, margin released pro rata; a loss beyond the
//!   position's margin (isolated) and any fee the account cannot pay are covered by the insurance
//!   fund (which may go negative: the simulator has no cap).
//! * Funding is settled into each position's isolated margin (so it moves the liquidation
//!   point); an open-interest imbalance (after a liquidation at the mark) is absorbed by the
//!   insurance fund, so money is conserved.
//! * Liquidation when `margin + unrealised PnL < size · mark · mmr` (strict), closed at the mark
//!   without a fee; remaining equity 50 % to the trader, 30 % to the liquidator (the fund if
//!   none), 20 % to the insurance fund; negative equity is covered by the fund (reference §9.2).
//! * TP/SL: long TP at `mark ≥ tp`, long SL at `mark ≤ sl`, short TP at `mark ≤ tp`, short SL at
//!   `mark ≥ sl`; the stop-loss wins if both hold. The close itself is a taker order.

use std::collections::BTreeMap;
use std::time::Duration;

use rust_decimal::Decimal;

use perpbot_aptos::{AccountAddress, KanaAbort};
use perpbot_model::{
    Direction, Lots, MarketId, MarketSpec, Position, PositionSide, Ticks, Timestamp, VenueOrderId,
};

use super::funding::{FundingModel, MarkSource};
use super::liquidation::refresh_liquidation_price;
use super::matching::{PlaceOrder, RestingOrder};
use super::{Abort, profile_address};

pub use super::fills::{FillLeg, FillOutcome};
pub use super::funding::FundingSummary;
pub use super::liquidation::{LiquidationCandidate, LiquidationOutcome, Trigger, TriggerReason};

/// Fee rates as fractions of notional.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeSchedule {
    /// On maker fills (Kana: 0).
    pub maker: Decimal,
    /// On taker fills (Kana: 0.0005 = 0.05 %).
    pub taker: Decimal,
}

impl Default for FeeSchedule {
    fn default() -> FeeSchedule {
        FeeSchedule {
            maker: Decimal::ZERO,
            taker: Decimal::new(5, 4),
        }
    }
}

/// Settings of the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LedgerConfig {
    /// Fee rates.
    pub fees: FeeSchedule,
    /// Mark price source.
    pub mark_source: MarkSource,
    /// Funding rate model.
    pub funding: FundingModel,
    /// Time between funding settlements (default one hour; Kana's is unknown).
    pub funding_interval: Duration,
    /// Decimals of the collateral token, for `u64` deposit/withdraw amounts (6).
    pub quote_decimals: u32,
    /// Share of remaining equity returned to a liquidated trader (0.5).
    pub liquidation_trader_share: Decimal,
    /// Share of remaining equity paid to the liquidator (0.3); the rest goes to the fund.
    pub liquidation_liquidator_share: Decimal,
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            fees: FeeSchedule::default(),
            mark_source: MarkSource::default(),
            funding: FundingModel::default(),
            funding_interval: Duration::from_secs(3600),
            quote_decimals: 6,
            liquidation_trader_share: Decimal::new(5, 1),
            liquidation_liquidator_share: Decimal::new(3, 1),
        }
    }
}

/// Balances of one profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountBalance {
    /// The wallet that owns the profile.
    pub wallet: AccountAddress,
    /// Collateral not posted as position margin (includes `reserved`).
    pub collateral: Decimal,
    /// Part of `collateral` reserved by resting opening orders.
    pub reserved: Decimal,
    /// Realised PnL so far.
    pub realized_pnl: Decimal,
    /// Fees paid so far.
    pub fees_paid: Decimal,
    /// Funding paid so far (negative: received).
    pub funding_paid: Decimal,
}

impl AccountBalance {
    /// Collateral free for new orders and withdrawals.
    pub fn available(&self) -> Decimal {
        self.collateral - self.reserved
    }
}

/// What a resting order holds in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reservation {
    pub(super) account: AccountAddress,
    pub(super) side: PositionSide,
    pub(super) direction: Direction,
    pub(super) lots: Lots,
    pub(super) price: Ticks,
    pub(super) leverage: u32,
    pub(super) amount: Decimal,
}

/// Resting orders of one (account, market, side).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SideOrders {
    pub(super) open_orders: u32,
    pub(super) open_leverage: u32,
    pub(super) close_lots: u64,
}

/// Per-market state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct MarketState {
    pub(super) spec: MarketSpec,
    pub(super) index: Option<Decimal>,
    pub(super) mid: Option<Decimal>,
    pub(super) last_trade: Option<Decimal>,
    pub(super) last_funding: Option<Timestamp>,
}

pub(super) type PositionKey = (MarketId, AccountAddress, PositionSide);

/// Collateral, positions and reservations of every simulated profile.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub(super) config: LedgerConfig,
    pub(super) markets: BTreeMap<MarketId, MarketState>,
    pub(super) accounts: BTreeMap<AccountAddress, AccountBalance>,
    pub(super) positions: BTreeMap<PositionKey, Position>,
    pub(super) reservations: BTreeMap<(MarketId, VenueOrderId), Reservation>,
    pub(super) side_orders: BTreeMap<PositionKey, SideOrders>,
    pub(super) insurance_fund: Decimal,
    pub(super) fees_collected: Decimal,
}

pub(super) fn abort(k: KanaAbort) -> Abort {
    Abort::Kana(k)
}

impl Ledger {
    /// An empty ledger.
    pub fn new(config: LedgerConfig) -> Ledger {
        Ledger {
            config,
            markets: BTreeMap::new(),
            accounts: BTreeMap::new(),
            positions: BTreeMap::new(),
            reservations: BTreeMap::new(),
            side_orders: BTreeMap::new(),
            insurance_fund: Decimal::ZERO,
            fees_collected: Decimal::ZERO,
        }
    }

    /// The settings.
    pub fn config(&self) -> &LedgerConfig {
        &self.config
    }

    /// Add (or replace the spec of) a market.
    pub fn add_market(&mut self, spec: MarketSpec) {
        let id = spec.id;
        match self.markets.get_mut(&id) {
            Some(m) => m.spec = spec,
            None => {
                self.markets.insert(
                    id,
                    MarketState {
                        spec,
                        index: None,
                        mid: None,
                        last_trade: None,
                        last_funding: None,
                    },
                );
            }
        }
    }

    /// A market's spec.
    pub fn spec(&self, market: MarketId) -> Option<&MarketSpec> {
        self.markets.get(&market).map(|m| &m.spec)
    }

    pub(super) fn market(&self, market: MarketId) -> Result<&MarketState, Abort> {
        self.markets
            .get(&market)
            .ok_or(abort(KanaAbort::MarketNotFound))
    }

    // ---- collateral ----

    /// Deposit `sub_units` of collateral (6-decimal integer, as `perpetual_scripts::deposit`)
    /// for `wallet`, creating its profile. Returns the profile address.
    pub fn deposit(&mut self, wallet: AccountAddress, sub_units: u64) -> AccountAddress {
        let profile = profile_address(&wallet);
        let amount = self.sub_units(sub_units);
        let balance = self
            .accounts
            .entry(profile)
            .or_insert_with(|| AccountBalance {
                wallet,
                ..AccountBalance::default()
            });
        balance.collateral += amount;
        profile
    }

    /// Withdraw `sub_units` of collateral to `wallet`; more than available → Kana 1009.
    pub fn withdraw(&mut self, wallet: AccountAddress, sub_units: u64) -> Result<(), Abort> {
        let amount = self.sub_units(sub_units);
        let balance = self
            .accounts
            .get_mut(&profile_address(&wallet))
            .ok_or(abort(
                KanaAbort::InsufficientBalanceInTradingAccountToWithdraw,
            ))?;
        if amount > balance.available() {
            return Err(abort(
                KanaAbort::InsufficientBalanceInTradingAccountToWithdraw,
            ));
        }
        balance.collateral -= amount;
        Ok(())
    }

    /// Move `sub_units` from available collateral into a position's margin (Kana `addMargin`);
    /// no position → 1011, more than available → 1012.
    pub fn add_margin(
        &mut self,
        account: AccountAddress,
        market: MarketId,
        side: PositionSide,
        sub_units: u64,
    ) -> Result<(), Abort> {
        let amount = self.sub_units(sub_units);
        if amount > self.available(account) {
            return Err(abort(KanaAbort::LossGreaterThanCollateral));
        }
        let spec = self.market(market)?.spec.clone();
        let position = self
            .positions
            .get_mut(&(market, account, side))
            .ok_or(abort(KanaAbort::TradeSizeExceedsExistingFilled))?;
        position.margin += amount;
        refresh_liquidation_price(position, &spec);
        if let Some(b) = self.accounts.get_mut(&account) {
            b.collateral -= amount;
        }
        Ok(())
    }

    fn sub_units(&self, sub_units: u64) -> Decimal {
        Decimal::try_from_i128_with_scale(i128::from(sub_units), self.config.quote_decimals)
            .unwrap_or(Decimal::MAX)
    }

    /// Balances of a profile.
    pub fn balance(&self, account: AccountAddress) -> Option<&AccountBalance> {
        self.accounts.get(&account)
    }

    /// Available collateral of a profile (zero if unknown).
    pub fn available(&self, account: AccountAddress) -> Decimal {
        self.accounts
            .get(&account)
            .map_or(Decimal::ZERO, AccountBalance::available)
    }

    /// The insurance fund (may be negative).
    pub fn insurance_fund(&self) -> Decimal {
        self.insurance_fund
    }

    /// Fees collected by the market's fee wallet.
    pub fn fees_collected(&self) -> Decimal {
        self.fees_collected
    }

    // ---- positions ----

    /// One position.
    pub fn position(
        &self,
        account: AccountAddress,
        market: MarketId,
        side: PositionSide,
    ) -> Option<&Position> {
        self.positions.get(&(market, account, side))
    }

    /// Every open position of a profile.
    pub fn positions_of(&self, account: AccountAddress) -> impl Iterator<Item = &Position> + '_ {
        self.positions
            .iter()
            .filter(move |((_, a, _), _)| *a == account)
            .map(|(_, p)| p)
    }

    /// Every open position in a market, with its owner.
    pub fn positions_in(
        &self,
        market: MarketId,
    ) -> impl Iterator<Item = (AccountAddress, &Position)> + '_ {
        self.positions
            .range(market_range(market))
            .map(|((_, a, _), p)| (*a, p))
    }

    /// Set or clear a position's take-profit (no position → 1011).
    pub fn set_take_profit(
        &mut self,
        account: AccountAddress,
        market: MarketId,
        side: PositionSide,
        price: Option<Ticks>,
    ) -> Result<(), Abort> {
        let human = price.map(|t| self.ticks_price(market, t)).transpose()?;
        self.position_mut(account, market, side)?.take_profit = human;
        Ok(())
    }

    /// Set or clear a position's stop-loss (no position → 1011).
    pub fn set_stop_loss(
        &mut self,
        account: AccountAddress,
        market: MarketId,
        side: PositionSide,
        price: Option<Ticks>,
    ) -> Result<(), Abort> {
        let human = price.map(|t| self.ticks_price(market, t)).transpose()?;
        self.position_mut(account, market, side)?.stop_loss = human;
        Ok(())
    }

    fn ticks_price(&self, market: MarketId, ticks: Ticks) -> Result<Decimal, Abort> {
        Ok(self.market(market)?.spec.ticks_to_price(ticks))
    }

    fn position_mut(
        &mut self,
        account: AccountAddress,
        market: MarketId,
        side: PositionSide,
    ) -> Result<&mut Position, Abort> {
        self.positions
            .get_mut(&(market, account, side))
            .ok_or(abort(KanaAbort::TradeSizeExceedsExistingFilled))
    }

    // ---- orders ----

    /// Check an order before it reaches the book (rules and codes in the module docs).
    /// `margin_price` is the limit price, or for a market order the worst price it would reach
    /// ([`MatchingBook::walk`](super::MatchingBook::walk)). Returns the collateral an opening order
    /// needs (zero for a close).
    pub fn check_order(
        &self,
        market: MarketId,
        order: &PlaceOrder,
        margin_price: Ticks,
    ) -> Result<Decimal, Abort> {
        let spec = &self.market(market)?.spec;
        if order.leverage == 0 || order.leverage > spec.max_leverage {
            return Err(abort(KanaAbort::InvalidLeverage));
        }
        let side = order.position_side();
        let key = (market, order.account, side);
        let position = self.positions.get(&key);
        let orders = self.side_orders.get(&key).copied().unwrap_or_default();
        let mismatch = match order.direction {
            Direction::Open => KanaAbort::LeverageMismatchIncreasePosition,
            Direction::Close => KanaAbort::LeverageMismatchClosePosition,
        };
        if position.is_some_and(|p| p.leverage != order.leverage)
            || (order.direction == Direction::Open
                && orders.open_orders > 0
                && orders.open_leverage != order.leverage)
        {
            return Err(abort(mismatch));
        }
        match order.direction {
            Direction::Close => {
                let size = position.map_or(0, |p| p.lots.0);
                if order.lots.0 > size.saturating_sub(orders.close_lots) {
                    return Err(abort(KanaAbort::TradeSizeExceedsExistingFilled));
                }
                Ok(Decimal::ZERO)
            }
            Direction::Open => {
                let notional = spec.notional(order.lots, margin_price);
                let required =
                    notional / Decimal::from(order.leverage) + notional * self.config.fees.taker;
                if required > self.available(order.account) {
                    return Err(abort(KanaAbort::LossGreaterThanCollateral));
                }
                Ok(required)
            }
        }
    }

    /// Book an order that now rests: an opening order reserves margin and maker fee, a close
    /// commits its lots against the position.
    pub fn reserve(&mut self, market: MarketId, order: &RestingOrder) {
        let Some(spec) = self.markets.get(&market).map(|m| &m.spec) else {
            return;
        };
        let amount = match order.direction {
            Direction::Open => reservation_amount(
                spec,
                self.config.fees.maker,
                order.lots,
                order.price,
                order.leverage,
            ),
            Direction::Close => Decimal::ZERO,
        };
        let side = order.position_side();
        let r = Reservation {
            account: order.account,
            side,
            direction: order.direction,
            lots: order.lots,
            price: order.price,
            leverage: order.leverage,
            amount,
        };
        if self.reservations.insert((market, order.id), r).is_some() {
            return; // already booked
        }
        if let Some(b) = self.accounts.get_mut(&order.account) {
            b.reserved += amount;
        }
        let so = self
            .side_orders
            .entry((market, order.account, side))
            .or_default();
        match order.direction {
            Direction::Open => {
                so.open_orders += 1;
                so.open_leverage = order.leverage;
            }
            Direction::Close => so.close_lots += order.lots.0,
        }
    }

    /// Release `lots` (all with `None`) of a resting order's reservation: on a maker fill (done
    /// by [`Ledger::apply_fill`]) or a cancel.
    pub fn release(&mut self, market: MarketId, order_id: VenueOrderId, lots: Option<Lots>) {
        let key = (market, order_id);
        let Some(mut r) = self.reservations.get(&key).copied() else {
            return;
        };
        let Some(spec) = self.markets.get(&market).map(|m| &m.spec) else {
            return;
        };
        let freed_lots = lots.map_or(r.lots, |l| Lots(l.0.min(r.lots.0)));
        let left = r.lots.saturating_sub(freed_lots);
        let new_amount = match r.direction {
            Direction::Open if !left.is_zero() => {
                reservation_amount(spec, self.config.fees.maker, left, r.price, r.leverage)
            }
            _ => Decimal::ZERO,
        };
        if let Some(b) = self.accounts.get_mut(&r.account) {
            b.reserved -= r.amount - new_amount;
        }
        let side_key = (market, r.account, r.side);
        if let Some(so) = self.side_orders.get_mut(&side_key) {
            match r.direction {
                Direction::Close => so.close_lots = so.close_lots.saturating_sub(freed_lots.0),
                Direction::Open if left.is_zero() => {
                    so.open_orders = so.open_orders.saturating_sub(1)
                }
                Direction::Open => {}
            }
            if so.open_orders == 0 && so.close_lots == 0 {
                self.side_orders.remove(&side_key);
            }
        }
        if left.is_zero() {
            self.reservations.remove(&key);
        } else {
            r.lots = left;
            r.amount = new_amount;
            self.reservations.insert(key, r);
        }
    }
}

/// Key range of one market's positions.
pub(super) fn market_range(market: MarketId) -> std::ops::RangeInclusive<PositionKey> {
    (market, AccountAddress::new([0; 32]), PositionSide::Long)
        ..=(market, AccountAddress::new([0xff; 32]), PositionSide::Short)
}

/// Margin plus maker fee held for `lots` of a resting opening order.
pub(super) fn reservation_amount(
    spec: &MarketSpec,
    maker_fee: Decimal,
    lots: Lots,
    price: Ticks,
    leverage: u32,
) -> Decimal {
    let notional = spec.notional(lots, price);
    notional / Decimal::from(leverage.max(1)) + notional * maker_fee
}

#[cfg(test)]
mod tests;
