//! Pre-trade risk: every intent passes here before it can reach a venue.
//!
//! [`RiskEngine::check`] returns an [`Approved`] intent — a type only this module can construct,
//! and the only one the executor accepts — and a list of [`RiskRejection`]s, each with a
//! machine-readable [`RejectReason`] and a detail naming the value and the limit. An unchecked
//! intent therefore cannot reach a venue: wrong wiring is a compile error.
//!
//! The engine also asks [`RiskEngine::evaluate`] after every event whether PnL limits switch the
//! [`TradingState`] (`Active` → `ReduceOnly` or `Halted`); the kill switch halts for good.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::atto::{self, Round};
use crate::limits::{PnlWindow, SavedLimits, Tripped};
use crate::state::{Contribution, State};
use perpbot_model::{
    ClientOrderId, Direction, Intent, Lots, MarketId, MarketSpec, NewOrder, OrderKind,
    OrderRequest, PositionSide, RejectReason, RiskRejection, Rounding, Side, Ticks, Timestamp,
    TradingState, TradingStateChange,
};

/// What to do when a loss or drawdown limit is hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitAction {
    /// Allow only orders that reduce positions.
    ReduceOnly,
    /// Allow only cancels.
    Halt,
}

impl LimitAction {
    fn state(self) -> TradingState {
        match self {
            LimitAction::ReduceOnly => TradingState::ReduceOnly,
            LimitAction::Halt => TradingState::Halted,
        }
    }
}

/// Limits for one market, in human base units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketLimits {
    /// Largest single order (base coins).
    pub max_order_size: Option<Decimal>,
    /// Largest position per side, counting resting orders that would add to it (base coins).
    pub max_position_size: Option<Decimal>,
}

/// Risk limits, from the `[risk]` table. Every check can be loosened but none can be skipped by
/// accident: each field has a conservative default.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RiskConfig {
    /// Largest notional of one order (quote).
    pub max_order_notional: Decimal,
    /// Largest notional per market and side, counting resting opening orders (quote).
    pub max_position_notional: Decimal,
    /// Largest notional across all markets, counting resting opening orders (quote).
    pub max_total_notional: Decimal,
    /// Highest leverage (also capped by each market's own maximum).
    pub max_leverage: u32,
    /// A limit price may be at most this far from the mid, in basis points (fat-finger guard).
    pub price_band_bps: u32,
    /// Most live orders at once, across markets.
    pub max_open_orders: usize,
    /// Loss (realised − fees + unrealised, quote) that trips `on_loss_limit`.
    pub max_loss: Option<Decimal>,
    /// Drop from the PnL peak (quote) that trips `on_loss_limit`.
    pub max_drawdown: Option<Decimal>,
    /// What a tripped loss or drawdown limit does.
    pub on_loss_limit: LimitAction,
    /// New orders are refused when the market's book is older than this (ms), empty or crossed.
    pub stale_book_ms: u64,
    /// Fees plus gas spent in the trailing hour (quote) above which new orders are refused.
    pub fee_budget_per_hour: Decimal,
    /// Gas paid in the chain's own coin (APT on Kana) in the trailing hour above which new
    /// orders are refused; none for no limit. Kept apart from `fee_budget_per_hour` because it
    /// is not paid in the quote currency.
    pub gas_budget_per_hour: Option<Decimal>,
    /// Per-market size limits keyed by market id (`[risk.markets.1338]`).
    pub markets: BTreeMap<String, MarketLimits>,
    /// How far back `max_loss` and `max_drawdown` look, across restarts (`"24h"`, `"90m"` or
    /// seconds). See [`crate::limits`].
    #[serde(deserialize_with = "perpbot_model::clock::serde_duration::deserialize")]
    pub loss_window: Duration,
    /// Where the limits' history is saved between runs; relative to the config file. Default:
    /// the journal's file name with `.limits` appended; without either, every run starts afresh.
    pub state_file: Option<std::path::PathBuf>,
    /// The coin the venue's transactions pay gas in (APT on Kana), priced at the mid of a
    /// traded market whose base is this coin.
    pub gas_coin: String,
    /// The gas coin's price in the quote currency, used when no market of it is traded.
    pub gas_coin_price: Option<Decimal>,
}

impl Default for RiskConfig {
    fn default() -> RiskConfig {
        RiskConfig {
            max_order_notional: Decimal::from(10_000),
            max_position_notional: Decimal::from(50_000),
            max_total_notional: Decimal::from(100_000),
            max_leverage: 10,
            price_band_bps: 500,
            max_open_orders: 50,
            max_loss: None,
            max_drawdown: None,
            on_loss_limit: LimitAction::Halt,
            stale_book_ms: 5_000,
            fee_budget_per_hour: Decimal::from(100),
            gas_budget_per_hour: None,
            markets: BTreeMap::new(),
            loss_window: Duration::from_secs(24 * 3600),
            state_file: None,
            gas_coin: "APT".into(),
            gas_coin_price: None,
        }
    }
}

impl RiskConfig {
    /// Check the limits make sense; errors name the key.
    pub fn validate(&self, known_markets: &[MarketId]) -> Result<(), String> {
        let positive = |key: &str, v: Decimal| {
            if v > Decimal::ZERO {
                Ok(())
            } else {
                Err(format!("risk.{key} must be positive, got {v}"))
            }
        };
        positive("max_order_notional", self.max_order_notional)?;
        positive("max_position_notional", self.max_position_notional)?;
        positive("max_total_notional", self.max_total_notional)?;
        if let Some(v) = self.max_loss {
            positive("max_loss", v)?;
        }
        if let Some(v) = self.gas_budget_per_hour {
            positive("gas_budget_per_hour", v)?;
        }
        if let Some(v) = self.max_drawdown {
            positive("max_drawdown", v)?;
        }
        if let Some(v) = self.gas_coin_price {
            positive("gas_coin_price", v)?;
        }
        if self.loss_window < Duration::from_secs(60) {
            return Err(format!(
                "risk.loss_window must be at least a minute, got {} s",
                self.loss_window.as_secs()
            ));
        }
        if self.max_leverage == 0 {
            return Err("risk.max_leverage must be at least 1".into());
        }
        if self.price_band_bps == 0 || self.price_band_bps >= 10_000 {
            return Err(format!(
                "risk.price_band_bps must be within 1..10000, got {}",
                self.price_band_bps
            ));
        }
        if self.max_open_orders == 0 {
            return Err("risk.max_open_orders must be at least 1".into());
        }
        for (key, limits) in &self.markets {
            let id: u64 = key
                .parse()
                .map_err(|_| format!("risk.markets.{key}: not a market id"))?;
            if !known_markets.contains(&MarketId(id)) {
                return Err(format!("risk.markets.{key}: market {id} is not configured"));
            }
            if let Some(v) = limits.max_order_size {
                positive(&format!("markets.{key}.max_order_size"), v)?;
            }
            if let Some(v) = limits.max_position_size {
                positive(&format!("markets.{key}.max_position_size"), v)?;
            }
        }
        Ok(())
    }
}

/// An intent that passed every check. Only this module can make one, and only an `Approved`
/// intent can be handed to the executor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved(Intent);

impl Approved {
    /// The approved intent.
    pub fn intent(&self) -> &Intent {
        &self.0
    }

    /// Take the approved intent out (for the executor's translation to venue requests).
    pub fn into_intent(self) -> Intent {
        self.0
    }

    /// Approve a cancel-all without the usual checks: cancelling never adds risk, and shutdown
    /// and the kill switch must always be able to do it.
    pub fn cancel_all(market: Option<MarketId>) -> Approved {
        Approved(Intent::CancelAll { market })
    }
}

/// The outcome of checking one intent: what was approved (possibly a reduced replace) and what
/// was refused.
#[derive(Debug, Default)]
pub struct Decision {
    /// The approved part, if any.
    pub approved: Option<Approved>,
    /// Refusals, one per refused intent or refused order within a replace.
    pub refused: Vec<RiskRejection>,
}

/// Positive amounts over the trailing hour (the fee and gas budgets), kept as a running sum.
#[derive(Debug, Default)]
pub(crate) struct TrailingHourSum {
    entries: VecDeque<(Timestamp, Decimal)>,
    sum: Decimal,
}

impl TrailingHourSum {
    fn record(&mut self, at: Timestamp, amount: Decimal) {
        if amount > Decimal::ZERO {
            self.entries.push_back((at, amount));
            self.sum += amount;
        }
    }

    fn saved(&mut self, now: Timestamp) -> Vec<(u64, Decimal)> {
        self.sum(now);
        self.entries.iter().map(|(t, a)| (t.0, *a)).collect()
    }

    fn restore(&mut self, saved: &[(u64, Decimal)]) {
        for (t, a) in saved {
            self.record(Timestamp(*t), *a);
        }
    }

    fn sum(&mut self, now: Timestamp) -> Decimal {
        const HOUR: Duration = Duration::from_secs(3600);
        while let Some((t, a)) = self.entries.front().copied() {
            if now.since(t) < HOUR {
                break;
            }
            self.sum -= a;
            self.entries.pop_front();
        }
        self.sum
    }
}

/// The pre-trade risk engine: limits, trading state and the fee budget window.
#[derive(Debug)]
pub struct RiskEngine {
    config: RiskConfig,
    trading_state: TradingState,
    /// The last tightening and why (for status and alerts).
    last_change: Option<TradingStateChange>,
    killed: bool,
    /// PnL history for `max_loss` and `max_drawdown`, across restarts.
    window: PnlWindow,
    /// Cumulative PnL of earlier runs (from the saved limits), added to this run's ([`atto`]).
    carried: i128,
    /// This run's PnL at the last evaluation, net of fees and gas ([`atto`], towards a loss).
    last_pnl: i128,
    /// Gas paid by this run, in the quote currency.
    gas_in_quote: Decimal,
    /// The same in [`atto`] units, rounded up (a cost).
    gas_atto: i128,
    /// `max_loss` and `max_drawdown` as [`atto`] thresholds.
    pnl_limits: PnlLimits,
    /// A loss or drawdown limit that tripped (kept across restarts until re-armed).
    tripped: Option<Tripped>,
    costs: TrailingHourSum,
    gas: TrailingHourSum,
    /// The notional limits in [`atto`] units, rounded down (an integer notional is above a
    /// limit exactly when it is above the limit rounded down).
    notional_limits: NotionalLimits,
}

/// `max_loss` and `max_drawdown` as [`atto`] thresholds: an integer PnL is at or below −L
/// exactly when it is at or below ⌊−L⌋, a drawdown at or above D when at or above ⌈D⌉.
#[derive(Debug, Clone, Copy)]
struct PnlLimits {
    loss_at_or_below: Option<i128>,
    drawdown_at_or_above: Option<i128>,
}

impl PnlLimits {
    fn of(config: &RiskConfig) -> PnlLimits {
        PnlLimits {
            loss_at_or_below: config.max_loss.map(|l| atto::from_decimal(-l, Round::Down)),
            drawdown_at_or_above: config
                .max_drawdown
                .map(|d| atto::from_decimal(d, Round::Up)),
        }
    }
}

/// `max_order_notional`, `max_position_notional` and `max_total_notional` in [`atto`] units.
#[derive(Debug, Clone, Copy)]
struct NotionalLimits {
    order: i128,
    position: i128,
    total: i128,
}

impl NotionalLimits {
    fn of(config: &RiskConfig) -> NotionalLimits {
        NotionalLimits {
            order: atto::from_decimal(config.max_order_notional, Round::Down),
            position: atto::from_decimal(config.max_position_notional, Round::Down),
            total: atto::from_decimal(config.max_total_notional, Round::Down),
        }
    }
}

/// A refusal with its reason and detail.
fn refuse(intent: Intent, reason: RejectReason, detail: String) -> RiskRejection {
    RiskRejection {
        intent,
        reason,
        detail,
    }
}

impl RiskEngine {
    /// A risk engine in the `Active` state.
    pub fn new(config: RiskConfig) -> RiskEngine {
        RiskEngine {
            trading_state: TradingState::Active,
            last_change: None,
            killed: false,
            window: PnlWindow::new(config.loss_window),
            carried: 0,
            last_pnl: 0,
            gas_in_quote: Decimal::ZERO,
            gas_atto: 0,
            pnl_limits: PnlLimits::of(&config),
            tripped: None,
            notional_limits: NotionalLimits::of(&config),
            config,
            costs: TrailingHourSum::default(),
            gas: TrailingHourSum::default(),
        }
    }

    /// Take up where an earlier run left off: its PnL history, its spend in the last hour and a
    /// limit it tripped (which tightens the trading state again). Returns that change, if any.
    pub fn restore(&mut self, saved: &SavedLimits, now: Timestamp) -> Option<TradingStateChange> {
        self.carried = atto::from_decimal(saved.cumulative_pnl, Round::Down);
        self.window = PnlWindow::from_saved(
            self.config.loss_window,
            saved.window_baseline,
            saved.window.clone(),
        );
        self.window.prune(now);
        self.costs.restore(&saved.costs);
        self.gas.restore(&saved.gas);
        let tripped = saved.tripped.clone()?;
        let reason = format!(
            "{} (tripped in an earlier run; `perpbot rearm` re-arms)",
            tripped.reason
        );
        let to = tripped.state;
        self.tripped = Some(tripped);
        self.switch(to, reason)
    }

    /// What to save so the next run takes up from here ([`crate::limits`]).
    pub fn saved(&mut self, now: Timestamp, wall_ms: u64) -> SavedLimits {
        let (window_baseline, window) = self.window.saved();
        SavedLimits {
            saved_at_ms: wall_ms,
            cumulative_pnl: atto::to_decimal(self.carried.saturating_add(self.last_pnl)),
            window_baseline,
            window,
            costs: self.costs.saved(now),
            gas: self.gas.saved(now),
            tripped: self.tripped.clone(),
        }
    }

    /// This run's PnL net of fees and gas (quote): realised − fees + unrealised − gas.
    pub fn net_pnl(&self, state: &State) -> Decimal {
        state.total_pnl() - self.gas_in_quote
    }

    /// Gas this run paid, converted to the quote currency.
    pub fn gas_in_quote(&self) -> Decimal {
        self.gas_in_quote
    }

    /// PnL and drawdown as the limits count them: over the loss window, across restarts.
    pub fn window_pnl_and_drawdown(&self) -> (Decimal, Decimal) {
        let (pnl, drawdown) = self.window_pnl_and_drawdown_atto();
        (atto::to_decimal(pnl), atto::to_decimal(drawdown))
    }

    /// [`RiskEngine::window_pnl_and_drawdown`] in [`atto`] units.
    fn window_pnl_and_drawdown_atto(&self) -> (i128, i128) {
        let pnl = self
            .window
            .pnl_atto(self.carried.saturating_add(self.last_pnl));
        (pnl, self.window.peak_atto().max(pnl).saturating_sub(pnl))
    }

    /// The limits in force.
    pub fn config(&self) -> &RiskConfig {
        &self.config
    }

    /// Current trading state.
    pub fn trading_state(&self) -> TradingState {
        self.trading_state
    }

    /// Record a fee or gas cost for the hourly budget.
    pub fn record_cost(&mut self, at: Timestamp, amount: Decimal) {
        self.costs.record(at, amount);
    }

    /// Fees and gas spent in the trailing hour.
    pub fn cost_last_hour(&mut self, now: Timestamp) -> Decimal {
        self.costs.sum(now)
    }

    /// Record gas paid in the chain's coin, for the hourly gas budget.
    pub fn record_gas(&mut self, at: Timestamp, native: Decimal) {
        self.gas.record(at, native);
    }

    /// Record gas converted to the quote currency: it counts in PnL (so in `max_loss` and the
    /// drawdown) and in the hourly fee budget, like any other fee.
    pub fn record_gas_in_quote(&mut self, at: Timestamp, quote: Decimal) {
        if quote > Decimal::ZERO {
            self.gas_in_quote += quote;
            self.gas_atto = self
                .gas_atto
                .saturating_add(atto::from_decimal(quote, Round::Up));
            self.costs.record(at, quote);
        }
    }

    /// Gas paid in the trailing hour, in the chain's coin.
    pub fn gas_last_hour(&mut self, now: Timestamp) -> Decimal {
        self.gas.sum(now)
    }

    /// Pull the kill switch: halt for good (until restart). Returns the state change, if any.
    pub fn kill(&mut self, reason: &str) -> Option<TradingStateChange> {
        self.killed = true;
        self.switch(TradingState::Halted, format!("kill switch: {reason}"))
    }

    /// Tighten the trading state for a reason found outside the risk checks (e.g. a
    /// reconciliation mismatch). Never loosens it. Returns the change, if any.
    pub fn restrict(&mut self, to: TradingState, reason: String) -> Option<TradingStateChange> {
        self.switch(to, reason)
    }

    /// True once the kill switch was pulled.
    pub fn is_killed(&self) -> bool {
        self.killed
    }

    fn switch(&mut self, to: TradingState, reason: String) -> Option<TradingStateChange> {
        let from = self.trading_state;
        // Only ever tighten: Active → ReduceOnly → Halted.
        let rank = |s: TradingState| match s {
            TradingState::Active => 0,
            TradingState::ReduceOnly => 1,
            TradingState::Halted => 2,
        };
        if rank(to) <= rank(from) {
            return None;
        }
        self.trading_state = to;
        let change = TradingStateChange { from, to, reason };
        self.last_change = Some(change.clone());
        Some(change)
    }

    /// The last time trading was tightened, and why.
    pub fn last_change(&self) -> Option<&TradingStateChange> {
        self.last_change.as_ref()
    }

    /// Re-evaluate PnL limits against the state: PnL net of fees and gas, over the loss window
    /// (earlier runs included). Returns a change when a limit trips; the trip is remembered
    /// across restarts ([`RiskEngine::saved`]).
    pub fn evaluate(&mut self, state: &State) -> Option<TradingStateChange> {
        // Runs whenever a mid or a position moves: integers throughout, rounded towards a loss
        // (see `State::total_pnl_atto`); decimals only for a trip's reason.
        self.last_pnl = state.total_pnl_atto().saturating_sub(self.gas_atto);
        let cumulative = self.carried.saturating_add(self.last_pnl);
        self.window.observe_atto(state.now(), cumulative);
        let limits = self.pnl_limits;
        if limits.loss_at_or_below.is_none() && limits.drawdown_at_or_above.is_none() {
            // The window still keeps the history (saved, shown, and there if a limit is set
            // at the next start); there is nothing to compare it with.
            return None;
        }
        let (pnl, dd) = self.window_pnl_and_drawdown_atto();
        let action = self.config.on_loss_limit.state();
        let reason = if let (Some(floor), Some(max_loss)) =
            (limits.loss_at_or_below, self.config.max_loss)
            && pnl <= floor
        {
            format!(
                "loss {} reached max_loss {max_loss}",
                atto::to_decimal(pnl.saturating_neg())
            )
        } else if let (Some(ceil), Some(max_dd)) =
            (limits.drawdown_at_or_above, self.config.max_drawdown)
            && dd >= ceil
        {
            format!(
                "drawdown {} reached max_drawdown {max_dd}",
                atto::to_decimal(dd)
            )
        } else {
            return None;
        };
        let change = self.switch(action, reason)?;
        self.tripped = Some(Tripped {
            at_ms: state.now().0 / 1_000_000,
            state: change.to,
            reason: change.reason.clone(),
        });
        Some(change)
    }

    /// Check one intent against every limit. The caller must track approved new orders in the
    /// state before checking the next intent, so limits see them.
    pub fn check(&mut self, intent: Intent, state: &State) -> Decision {
        match intent {
            Intent::Cancel { client_id, .. } => {
                if state.order(client_id).is_some_and(|o| o.status.is_live()) {
                    Decision {
                        approved: Some(Approved(intent)),
                        refused: vec![],
                    }
                } else {
                    let detail = format!("order {client_id} is not live");
                    Decision {
                        approved: None,
                        refused: vec![refuse(intent, RejectReason::UnknownOrder, detail)],
                    }
                }
            }
            Intent::CancelAll { .. } => Decision {
                approved: Some(Approved(intent)),
                refused: vec![],
            },
            Intent::Place(req) => match self.check_order(&req, state, &Scope::default()) {
                Ok(()) => Decision {
                    approved: Some(Approved(Intent::Place(req))),
                    refused: vec![],
                },
                Err((reason, detail)) => Decision {
                    approved: None,
                    refused: vec![refuse(Intent::Place(req), reason, detail)],
                },
            },
            Intent::ReplaceQuotes {
                market,
                cancel,
                place,
            } => self.check_replace(market, cancel, place, state),
            Intent::UpdateTakeProfit {
                market, position, ..
            }
            | Intent::UpdateStopLoss {
                market, position, ..
            }
            | Intent::ClosePosition { market, position } => {
                match self.check_position_intent(market, position, state) {
                    Ok(()) => Decision {
                        approved: Some(Approved(intent)),
                        refused: vec![],
                    },
                    Err((reason, detail)) => Decision {
                        approved: None,
                        refused: vec![refuse(intent, reason, detail)],
                    },
                }
            }
        }
    }

    fn check_replace(
        &mut self,
        market: MarketId,
        cancel: Vec<ClientOrderId>,
        place: Vec<OrderRequest>,
        state: &State,
    ) -> Decision {
        let mut refused = Vec::new();
        // Cancels always pass; ids that are not live are dropped with a refusal.
        let (cancel, dead): (Vec<_>, Vec<_>) = cancel
            .into_iter()
            .partition(|id| state.order(*id).is_some_and(|o| o.status.is_live()));
        for client_id in dead {
            refused.push(refuse(
                Intent::Cancel { market, client_id },
                RejectReason::UnknownOrder,
                format!("order {client_id} is not live"),
            ));
        }
        let mut approved_places: Vec<OrderRequest> = Vec::with_capacity(place.len());
        for req in place {
            // Orders being cancelled in this replace no longer count; earlier places of the same
            // replace do (they are not in the state yet).
            match self.check_order(
                &req,
                state,
                &Scope {
                    cancelled: &cancel,
                    added: &approved_places,
                },
            ) {
                Ok(()) => approved_places.push(req),
                Err((reason, detail)) => refused.push(refuse(Intent::Place(req), reason, detail)),
            }
        }
        let approved = (!cancel.is_empty() || !approved_places.is_empty()).then_some(Approved(
            Intent::ReplaceQuotes {
                market,
                cancel,
                place: approved_places,
            },
        ));
        Decision { approved, refused }
    }

    fn check_position_intent(
        &self,
        market: MarketId,
        position: PositionSide,
        state: &State,
    ) -> Result<(), (RejectReason, String)> {
        if state.spec(market).is_none() {
            return Err((
                RejectReason::UnknownMarket,
                format!("market {market} is not configured"),
            ));
        }
        if self.trading_state == TradingState::Halted {
            return Err((
                RejectReason::Halted,
                "trading is halted: only cancels are allowed".into(),
            ));
        }
        if state
            .position(market, position)
            .is_none_or(|p| p.lots.is_zero())
        {
            return Err((
                RejectReason::InvalidOrder,
                format!("no {position:?} position in market {market}"),
            ));
        }
        Ok(())
    }

    /// Every check for one new order. `scope` adjusts exposure for a replace in progress.
    fn check_order(
        &mut self,
        req: &OrderRequest,
        state: &State,
        scope: &Scope<'_>,
    ) -> Result<(), (RejectReason, String)> {
        let o = &req.order;
        let Some(spec) = state.spec(o.market) else {
            return Err((
                RejectReason::UnknownMarket,
                format!("market {} is not configured", o.market),
            ));
        };
        let reducing = o.direction == Direction::Close;

        // Trading state.
        match self.trading_state {
            TradingState::Halted => {
                return Err((
                    RejectReason::Halted,
                    "trading is halted: only cancels are allowed".into(),
                ));
            }
            TradingState::ReduceOnly if !reducing => {
                return Err((
                    RejectReason::ReduceOnly,
                    "trading is reduce-only: opening orders are refused".into(),
                ));
            }
            _ => {}
        }

        // Grid and market bounds.
        let invalid = |e: perpbot_model::UnitError| (RejectReason::InvalidOrder, e.to_string());
        spec.check_lots(o.lots).map_err(invalid)?;
        spec.check_leverage(o.leverage)
            .map_err(|e| (RejectReason::Leverage, e.to_string()))?;
        if o.leverage > self.config.max_leverage {
            return Err((
                RejectReason::Leverage,
                format!(
                    "leverage {} is above risk.max_leverage {}",
                    o.leverage, self.config.max_leverage
                ),
            ));
        }
        match (o.kind, o.price) {
            (OrderKind::Limit, Some(p)) => spec.check_ticks(p).map_err(invalid)?,
            (OrderKind::Limit, None) => {
                return Err((
                    RejectReason::InvalidOrder,
                    "limit order without a price".into(),
                ));
            }
            (OrderKind::Market, _) => {}
        }

        // Market data must be fresh and sane before anything is priced off it.
        let book = state.book(o.market);
        let now = state.now();
        let stale_ns = self.config.stale_book_ms.saturating_mul(1_000_000);
        match book.and_then(|b| b.age_nanos(now).map(|age| (b, age))) {
            None => {
                return Err((
                    RejectReason::StaleBook,
                    format!("no book for market {}", o.market),
                ));
            }
            Some((_, age)) if age > stale_ns => {
                return Err((
                    RejectReason::StaleBook,
                    format!(
                        "book is {} ms old (risk.stale_book_ms = {})",
                        age / 1_000_000,
                        self.config.stale_book_ms
                    ),
                ));
            }
            Some((b, _)) if b.is_crossed() => {
                return Err((RejectReason::StaleBook, "book is crossed".into()));
            }
            Some((b, _)) if b.mid_x2().is_none() => {
                return Err((RejectReason::StaleBook, "book has an empty side".into()));
            }
            Some(_) => {}
        }
        let mid_x2 = book.and_then(|b| b.mid_x2()).unwrap_or(0);

        // Price band around the mid (fat finger). Compare 2·price with mid_x2 to stay exact.
        let order_ticks = match o.price {
            Some(p) => {
                let band = u128::from(self.config.price_band_bps);
                let (p2, m2) = (u128::from(p.0) * 2, u128::from(mid_x2));
                if p2.abs_diff(m2) * 10_000 > m2 * band {
                    return Err((
                        RejectReason::PriceBand,
                        format!(
                            "price {} is more than {} bps from mid {}",
                            spec.ticks_to_price(p),
                            self.config.price_band_bps,
                            spec.ticks_to_price(perpbot_model::Ticks(mid_x2)) / Decimal::TWO
                        ),
                    ));
                }
                p.0
            }
            // Market orders are valued at the far edge of the band: the worst they may pay.
            None => {
                let band = u128::from(self.config.price_band_bps);
                let edge = u128::from(mid_x2) * (10_000 + band) / 20_000;
                u64::try_from(edge).unwrap_or(u64::MAX)
            }
        };
        let notional = notional_atto(spec, o.lots, Ticks(order_ticks));

        // Order size and notional.
        let limits = market_limits(&self.config.markets, o.market);
        if let Some(max) = limits.and_then(|l| l.max_order_size) {
            let max_lots = spec
                .size_to_lots(max, Rounding::Down)
                .unwrap_or(Lots(u64::MAX));
            if o.lots > max_lots {
                return Err((
                    RejectReason::OrderSize,
                    format!(
                        "size {} is above max_order_size {max}",
                        spec.lots_to_size(o.lots)
                    ),
                ));
            }
        }
        if notional > self.notional_limits.order {
            return Err((
                RejectReason::OrderSize,
                format!(
                    "notional {} is above risk.max_order_notional {}",
                    spec.notional(o.lots, Ticks(order_ticks)),
                    self.config.max_order_notional
                ),
            ));
        }

        // Open orders.
        let live = state.live_order_count(None) + scope.added.len();
        let live = live.saturating_sub(scope.cancelled.len());
        if live + 1 > self.config.max_open_orders {
            return Err((
                RejectReason::OpenOrders,
                format!(
                    "{live} live orders; risk.max_open_orders is {}",
                    self.config.max_open_orders
                ),
            ));
        }

        // A closing order must not exceed what the position still has uncommitted to other closes.
        let pos_side = o.position_side();
        let position_lots = state
            .position(o.market, pos_side)
            .map_or(Lots::ZERO, |p| p.lots);
        let live = LiveTotals::of(state, o.market, o.side, scope);
        let exposure = &live.same_side;
        if reducing {
            let committed = exposure.closing;
            if o.lots.0.saturating_add(committed) > position_lots.0 {
                return Err((
                    RejectReason::PositionLimit,
                    format!(
                        "close of {} lots exceeds the {pos_side:?} position ({} lots, {committed} already closing)",
                        o.lots.0, position_lots.0
                    ),
                ));
            }
            return self.check_fee_budget(now);
        }

        // Worst-case position on this side: current + resting opening orders + this order.
        let worst_lots = position_lots
            .0
            .saturating_add(exposure.opening)
            .saturating_add(o.lots.0);
        if let Some(max) = limits.and_then(|l| l.max_position_size) {
            let max_lots = spec
                .size_to_lots(max, Rounding::Down)
                .unwrap_or(Lots(u64::MAX));
            if worst_lots > max_lots.0 {
                return Err((
                    RejectReason::PositionLimit,
                    format!(
                        "worst-case {pos_side:?} position {} would exceed max_position_size {max}",
                        spec.lots_to_size(Lots(worst_lots))
                    ),
                ));
            }
        }
        if notional_atto(spec, Lots(worst_lots), Ticks(order_ticks)) > self.notional_limits.position
        {
            return Err((
                RejectReason::PositionLimit,
                format!(
                    "worst-case {pos_side:?} notional {} would exceed risk.max_position_notional {}",
                    spec.notional(Lots(worst_lots), Ticks(order_ticks)),
                    self.config.max_position_notional
                ),
            ));
        }
        let total = self.total_exposure(state, &live).saturating_add(notional);
        if total > self.notional_limits.total {
            return Err((
                RejectReason::PositionLimit,
                format!(
                    "total notional {} would exceed risk.max_total_notional {}",
                    atto::to_decimal(total),
                    self.config.max_total_notional
                ),
            ));
        }
        check_margin(state, spec, o, Ticks(order_ticks), &live, scope)?;
        self.check_fee_budget(now)
    }

    fn check_fee_budget(&mut self, now: Timestamp) -> Result<(), (RejectReason, String)> {
        if let Some(budget) = self.config.gas_budget_per_hour {
            let gas = self.gas_last_hour(now);
            if gas >= budget {
                return Err((
                    RejectReason::FeeBudget,
                    format!(
                        "{gas} paid in gas in the last hour; risk.gas_budget_per_hour is {budget}"
                    ),
                ));
            }
        }
        let spent = self.cost_last_hour(now);
        if spent >= self.config.fee_budget_per_hour {
            return Err((
                RejectReason::FeeBudget,
                format!(
                    "{spent} spent on fees and gas in the last hour; risk.fee_budget_per_hour is {}",
                    self.config.fee_budget_per_hour
                ),
            ));
        }
        Ok(())
    }

    /// Notional of all positions (at mid) plus all resting opening orders (at their price,
    /// `live`), in [`atto`] units. A position is valued at the mid (on a half tick, its doubled
    /// notional halves exactly at this scale), or at its entry price while its market has no mid
    /// (rounded up: exposure errs high).
    fn total_exposure(&self, state: &State, live: &LiveTotals) -> i128 {
        let mut sum = live.opening_notional;
        for p in state.positions() {
            let Some(spec) = state.spec(p.market) else {
                continue;
            };
            let value = match state.book(p.market).and_then(|b| b.mid_x2()) {
                Some(mid_x2) => atto::notional_at_mid(spec, p.lots, mid_x2, Round::Up),
                None => atto::notional_at_price(spec, p.lots, p.entry_price, Round::Up),
            };
            sum = sum.saturating_add(value);
        }
        sum
    }
}

/// What the live orders add up to for one new order's checks — less the orders the replace
/// being checked cancels, plus the ones it already approved (not in the state yet) — read from
/// the sums the state keeps, so a check costs the same however many orders rest.
#[derive(Debug, Default)]
struct LiveTotals {
    /// Resting size on the new order's market and side that could still open (or close)
    /// positions.
    same_side: Exposure,
    /// Notional of every opening order at its price, [`atto`] units rounded up.
    opening_notional: i128,
    /// Margin of the opening orders the venue's last balance does not count yet (placed after
    /// it, or added within the replace), [`atto`] units rounded up; zero before any balance.
    unseen_margin: i128,
}

impl LiveTotals {
    /// The state's sums over the live orders ([`State::live_sums`], kept as orders change),
    /// less the live orders the replace cancels, plus the ones it added.
    fn of(state: &State, market: MarketId, side: Side, scope: &Scope<'_>) -> LiveTotals {
        let sums = state.live_sums();
        let (opening, closing) = sums.lots(market, side);
        let mut totals = LiveTotals {
            same_side: Exposure { opening, closing },
            opening_notional: sums.opening_notional(),
            unseen_margin: sums.unseen_margin(),
        };
        for (i, id) in scope.cancelled.iter().enumerate() {
            // An id listed twice is one order, counted out once.
            if scope
                .cancelled
                .get(..i)
                .is_some_and(|before| before.contains(id))
            {
                continue;
            }
            if let Some(c) = state.contribution(*id) {
                totals.count(c, market, side, false);
            }
        }
        // Orders the replace added are in no balance yet (once there is one to compare with).
        let unseen = state.balance_at().is_some();
        for r in scope.added {
            let o = &r.order;
            let c = Contribution::of_new(o, o.lots, state.spec(o.market), unseen);
            totals.count(c, market, side, true);
        }
        totals
    }

    /// Count an order's contribution in (`add`) or out.
    fn count(&mut self, c: Contribution, market: MarketId, side: Side, add: bool) {
        let apply = |v: i128, d: i128| {
            if add {
                v.saturating_add(d)
            } else {
                v.saturating_sub(d)
            }
        };
        if c.is_on(market, side) {
            let e = &mut self.same_side;
            let (lots, direction) = c.lots();
            let slot = match direction {
                Direction::Open => &mut e.opening,
                Direction::Close => &mut e.closing,
            };
            *slot = if add {
                slot.saturating_add(lots)
            } else {
                slot.saturating_sub(lots)
            };
        }
        self.opening_notional = apply(self.opening_notional, c.notional());
        self.unseen_margin = apply(self.unseen_margin, c.unseen_margin());
    }
}

/// Notional of `lots` at `ticks` in [`atto`] units, rounded up (exposure errs high).
fn notional_atto(spec: &MarketSpec, lots: Lots, ticks: Ticks) -> i128 {
    atto::notional(spec, lots, ticks, Round::Up)
}

/// The per-market limits of `market`, configured under its id in decimal. Runs for every order,
/// so the key is formatted on the stack, not in a new `String`.
fn market_limits(
    markets: &BTreeMap<String, MarketLimits>,
    market: MarketId,
) -> Option<&MarketLimits> {
    if markets.is_empty() {
        return None;
    }
    let mut digits = [0u8; 20];
    let mut start = digits.len();
    let mut n = market.0;
    for slot in digits.iter_mut().rev() {
        *slot = b'0' + (n % 10) as u8;
        start -= 1;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let key = std::str::from_utf8(digits.get(start..)?).ok()?;
    markets.get(key)
}

/// The new opening order's margin, plus what the bot's opening orders the venue had not yet
/// counted when it last reported the balance reserve (placed since, or added within this
/// replace), less what this replace's cancels of orders it had counted free, must fit in the
/// available collateral. Nothing is checked until the venue has reported a balance. Summed in
/// [`atto`] units: margins needed round up, margins freed and the collateral round down.
///
/// \[INF\] The venue's available balance already holds back the margin of the resting orders it
/// knows (the simulator's and the paper exchange's do; Kana reserves collateral for resting
/// orders): counting those again would refuse orders the venue accepts.
fn check_margin(
    state: &State,
    spec: &MarketSpec,
    order: &NewOrder,
    ticks: Ticks,
    live: &LiveTotals,
    scope: &Scope<'_>,
) -> Result<(), (RejectReason, String)> {
    let Some(at) = state.balance_at() else {
        return Ok(());
    };
    let order_margin = |o: &NewOrder, lots: Lots, round: Round| -> i128 {
        match (o.direction, o.price, state.spec(o.market)) {
            (Direction::Open, Some(p), Some(spec)) => {
                atto::margin(spec, lots, p, o.leverage, round)
            }
            _ => 0,
        }
    };
    let margin = atto::margin(spec, order.lots, ticks, order.leverage, Round::Up);
    let unseen = live.unseen_margin;
    let freed = scope
        .cancelled
        .iter()
        .filter_map(|id| state.order(*id))
        .filter(|o| o.created_at <= at && o.status.is_live())
        .map(|o| order_margin(&o.request.order, o.remaining(), Round::Down))
        .fold(0i128, i128::saturating_add);
    let needed = margin.saturating_add(unseen).saturating_sub(freed);
    let available = state.available_balance();
    if needed > atto::from_decimal(available, Round::Down) {
        return Err((
            RejectReason::InsufficientMargin,
            format!(
                "margin {} (this order {}, orders the venue has not counted yet {}, freed by \
                 cancels {}) exceeds the available collateral {available}",
                atto::to_decimal(needed),
                atto::to_decimal(margin),
                atto::to_decimal(unseen),
                atto::to_decimal(freed),
            ),
        ));
    }
    Ok(())
}

#[derive(Debug, Default)]
struct Exposure {
    opening: u64,
    closing: u64,
}

/// Adjustments while checking the orders of a replace: orders it cancels no longer count, orders
/// it already approved do (they are not in the state yet). Empty for a plain place.
#[derive(Default)]
struct Scope<'a> {
    cancelled: &'a [ClientOrderId],
    added: &'a [OrderRequest],
}

#[cfg(test)]
mod tests;
