//! Kana-style perpetual accounting for the simulator: collateral per profile, isolated-margin
//! positions in hedge mode, margin reserved by resting orders, fees, funding, mark price,
//! liquidation and take-profit / stop-loss triggers (reference §9).
//!
//! The [`Ledger`] is pure bookkeeping: the caller (the simulator's transaction layer) checks an
//! order with [`Ledger::check_order`], runs it through the [`OrderBook`](super::OrderBook), then
//! books each [`Match`] with [`Ledger::apply_match`], reserves what rested with
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

use crate::aptos::{AccountAddress, KanaAbort};
use crate::model::{
    Direction, Liquidity, Lots, MarketId, MarketSpec, Position, PositionSide, Side, Ticks,
    Timestamp, VenueOrderId, position_side,
};

use super::funding::{FundingModel, MarkSource};
use super::matching::{Match, PlaceOrder, RestingOrder};
use super::{Abort, profile_address};

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

/// What a funding settlement did in one market.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingSummary {
    /// Rate applied.
    pub rate: Decimal,
    /// Mark used.
    pub mark: Decimal,
    /// Total paid by long positions (negative: received).
    pub longs_paid: Decimal,
    /// Total received by short positions (negative: paid).
    pub shorts_received: Decimal,
    /// `longs_paid − shorts_received`, credited to the insurance fund.
    pub to_insurance: Decimal,
}

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

/// What a resting order holds in the ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reservation {
    account: AccountAddress,
    side: PositionSide,
    direction: Direction,
    lots: Lots,
    price: Ticks,
    leverage: u32,
    amount: Decimal,
}

/// Resting orders of one (account, market, side).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct SideOrders {
    open_orders: u32,
    open_leverage: u32,
    close_lots: u64,
}

/// Per-market state.
#[derive(Debug, Clone, PartialEq, Eq)]
struct MarketState {
    spec: MarketSpec,
    index: Option<Decimal>,
    mid: Option<Decimal>,
    last_trade: Option<Decimal>,
    last_funding: Option<Timestamp>,
}

type PositionKey = (MarketId, AccountAddress, PositionSide);

/// Collateral, positions and reservations of every simulated profile.
#[derive(Debug, Clone)]
pub struct Ledger {
    config: LedgerConfig,
    markets: BTreeMap<MarketId, MarketState>,
    accounts: BTreeMap<AccountAddress, AccountBalance>,
    positions: BTreeMap<PositionKey, Position>,
    reservations: BTreeMap<(MarketId, VenueOrderId), Reservation>,
    side_orders: BTreeMap<PositionKey, SideOrders>,
    insurance_fund: Decimal,
    fees_collected: Decimal,
}

fn abort(k: KanaAbort) -> Abort {
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

    fn market(&self, market: MarketId) -> Result<&MarketState, Abort> {
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
    /// ([`OrderBook::walk`](super::OrderBook::walk)). Returns the collateral an opening order
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
            if *so == SideOrders::default() || (so.open_orders == 0 && so.close_lots == 0) {
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

    // ---- mark price ----

    /// Set the index (oracle) price of a market.
    pub fn set_index(&mut self, market: MarketId, price: Decimal) {
        if let Some(m) = self.markets.get_mut(&market) {
            m.index = Some(price);
        }
    }

    /// Set the book mid of a market (`None` when one side is empty).
    pub fn set_mid(&mut self, market: MarketId, mid: Option<Decimal>) {
        if let Some(m) = self.markets.get_mut(&market) {
            m.mid = mid;
        }
    }

    /// The mark price from the configured source, falling back to index, mid, last trade.
    pub fn mark(&self, market: MarketId) -> Option<Decimal> {
        let m = self.markets.get(&market)?;
        let chosen = match self.config.mark_source {
            MarkSource::Index => m.index,
            MarkSource::Mid => m.mid,
            MarkSource::LastTrade => m.last_trade,
        };
        chosen.or(m.index).or(m.mid).or(m.last_trade)
    }

    // ---- funding ----

    /// Apply one funding payment of `rate` at `mark` to every position in the market: each pays
    /// (long, positive rate) or receives (short) `size · mark · rate`, settled into its margin.
    pub fn apply_funding(
        &mut self,
        market: MarketId,
        rate: Decimal,
        mark: Decimal,
    ) -> Result<FundingSummary, Abort> {
        let spec = self.market(market)?.spec.clone();
        let mut summary = FundingSummary {
            rate,
            mark,
            longs_paid: Decimal::ZERO,
            shorts_received: Decimal::ZERO,
            to_insurance: Decimal::ZERO,
        };
        for ((_, account, side), position) in self.positions.range_mut(market_range(market)) {
            let payment = spec.notional_at(position.lots, mark) * rate;
            let paid = match side {
                PositionSide::Long => {
                    summary.longs_paid += payment;
                    payment
                }
                PositionSide::Short => {
                    summary.shorts_received += payment;
                    -payment
                }
            };
            position.margin -= paid;
            refresh_liquidation_price(position, &spec);
            if let Some(b) = self.accounts.get_mut(account) {
                b.funding_paid += paid;
            }
        }
        summary.to_insurance = summary.longs_paid - summary.shorts_received;
        self.insurance_fund += summary.to_insurance;
        Ok(summary)
    }

    /// Settle funding if an interval has passed since the last settlement (the first call only
    /// starts the clock), with the configured model at the current mark.
    pub fn settle_funding(&mut self, market: MarketId, now: Timestamp) -> Option<FundingSummary> {
        let interval = self.config.funding_interval;
        let m = self.markets.get_mut(&market)?;
        let Some(last) = m.last_funding else {
            m.last_funding = Some(now);
            return None;
        };
        if now.since(last) < interval || interval.is_zero() {
            return None;
        }
        m.last_funding = Some(last.plus(interval));
        let index = m.index;
        let mark = self.mark(market)?;
        let rate = self.config.funding.rate(mark, index);
        self.apply_funding(market, rate, mark).ok()
    }

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

/// Key range of one market's positions.
fn market_range(market: MarketId) -> std::ops::RangeInclusive<PositionKey> {
    (market, AccountAddress::new([0; 32]), PositionSide::Long)
        ..=(market, AccountAddress::new([0xff; 32]), PositionSide::Short)
}

/// Margin plus maker fee held for `lots` of a resting opening order.
fn reservation_amount(
    spec: &MarketSpec,
    maker_fee: Decimal,
    lots: Lots,
    price: Ticks,
    leverage: u32,
) -> Decimal {
    let notional = spec.notional(lots, price);
    notional / Decimal::from(leverage.max(1)) + notional * maker_fee
}

/// Kana's liquidation-price estimate from the position's actual margin: the mark where
/// `margin + PnL = size · mark · mmr` (equal to [`Position::estimate_liquidation_price`] while
/// the margin is `notional / leverage`).
fn refresh_liquidation_price(position: &mut Position, spec: &MarketSpec) {
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
