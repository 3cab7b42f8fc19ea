//! `market_maker`: an Avellaneda–Stoikov market maker for one market of an on-chain order book.
//!
//! Quotes come from the [`model`]: a reservation price `r = s − q·γ·σ²·τ` that leans against the
//! inventory q and a spread `γ·σ²·τ + (2/γ)·ln(1 + γ/κ)` around it (or the GLFT closed form for
//! an infinite horizon), with σ and κ measured online by the [`estimators`] from the mid and the
//! public trades. Prices are in ticks, time in seconds and q in units of `order_size` measured
//! from `target_inventory`.
//!
//! Adapted to a perpetual on Kana, where every requote is an on-chain transaction:
//! - quotes are post-only, rounded in the safe direction (bid down, ask up) and never cross the
//!   book; several levels per side are optional;
//! - a requote is one `replace quotes` intent (one cancel-and-place transaction), sent only when
//!   a desired price moved by more than `requote_tolerance_ticks` or the quotes aged out, and
//!   never sooner than `min_requote_ms` after the last one;
//! - past `soft_inventory` only the side that reduces the position is quoted; no level is placed
//!   whose fill could take the worst-case position (filled plus every order that may still
//!   fill, including ones of unknown outcome) past `max_inventory`;
//! - positive funding (longs pay) leans the quotes short, by `funding_skew`;
//! - take-profit and stop-loss follow the position's entry through the update intents;
//! - it stops quoting (and pulls its quotes) while the stream reconnects, when the book is stale,
//!   when risk leaves the Active state, and — for good — at its own `max_drawdown`.
//!
//! ```toml
//! [strategy]
//! name = "market_maker"
//!
//! [strategy.params]
//! market = 1338
//! order_size = "1"        # APT per quote
//! max_inventory = "5"     # APT, hard limit on the worst-case position
//! gamma = 0.05            # risk aversion, per tick
//! horizon = "session"     # "session" (τ = T − t), "fixed" (τ = tau_secs) or "glft"
//! session_secs = 300
//! ```

pub mod estimators;
pub mod experiment;
pub mod model;

use std::time::Duration;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::Deserialize;
use tracing::{debug, error, info};

use perpbot_core::strategy::{Context, Strategy, StrategyError, parse_params};
use perpbot_model::{
    ConnectionState, Event, Lots, MarketId, MarketSpec, NewOrder, OrderBook, OrderStatus,
    PositionSide, Rounding, Side, Ticks, Timestamp, TradingState,
};

use self::estimators::{IntensityEstimator, VolatilityEstimator};
use self::model::{Horizon, MarketParams, ModelQuote};

/// Name under which it is registered.
pub const NAME: &str = "market_maker";

/// Which horizon the model uses (see [`Horizon`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HorizonKind {
    /// Finite sessions of `session_secs`, τ = T − t.
    Session,
    /// A constant τ of `tau_secs`.
    Fixed,
    /// Guéant–Lehalle–Fernandez-Tapia closed form.
    Glft,
}

/// `[strategy.params]` of `market_maker`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Market to quote.
    pub market: u64,
    /// Size of each quote level (base coins; rounded down to the lot). Also the unit of q.
    pub order_size: Decimal,
    /// Quote levels per side.
    #[serde(default = "defaults::levels")]
    pub levels: u32,
    /// Distance between levels (ticks).
    #[serde(default = "defaults::level_spacing_ticks")]
    pub level_spacing_ticks: u64,
    /// Risk aversion γ, per tick (larger: tighter inventory, wider quotes).
    #[serde(default = "defaults::gamma")]
    pub gamma: f64,
    /// The model's horizon.
    #[serde(default = "defaults::horizon")]
    pub horizon: HorizonKind,
    /// Session length T for `horizon = "session"` (s).
    #[serde(default = "defaults::session_secs")]
    pub session_secs: f64,
    /// τ for `horizon = "fixed"` (s).
    #[serde(default = "defaults::tau_secs")]
    pub tau_secs: f64,
    /// Half-life of the EWMA volatility estimate (s).
    #[serde(default = "defaults::volatility_half_life_secs")]
    pub volatility_half_life_secs: f64,
    /// Sampling interval of the mid for the volatility estimate (ms).
    #[serde(default = "defaults::volatility_sample_ms")]
    pub volatility_sample_ms: u64,
    /// Returns needed before the estimate replaces `sigma_initial`.
    #[serde(default = "defaults::min_volatility_samples")]
    pub min_volatility_samples: u64,
    /// σ used until the estimate is ready (ticks per √s).
    #[serde(default = "defaults::sigma_initial")]
    pub sigma_initial: f64,
    /// Lowest σ the model is given (ticks per √s).
    #[serde(default = "defaults::sigma_floor")]
    pub sigma_floor: f64,
    /// Highest σ the model is given (ticks per √s).
    #[serde(default = "defaults::sigma_cap")]
    pub sigma_cap: f64,
    /// Window of public trades the intensity fit uses (s).
    #[serde(default = "defaults::intensity_window_secs")]
    pub intensity_window_secs: f64,
    /// Trades needed in the window before the fit replaces the initial κ and A.
    #[serde(default = "defaults::min_intensity_trades")]
    pub min_intensity_trades: usize,
    /// How often the intensity is refitted (ms).
    #[serde(default = "defaults::intensity_refit_ms")]
    pub intensity_refit_ms: u64,
    /// κ used until the fit is ready (per tick).
    #[serde(default = "defaults::kappa_initial")]
    pub kappa_initial: f64,
    /// Lowest κ the model is given (per tick).
    #[serde(default = "defaults::kappa_floor")]
    pub kappa_floor: f64,
    /// Highest κ the model is given (per tick).
    #[serde(default = "defaults::kappa_cap")]
    pub kappa_cap: f64,
    /// A (arrivals per second at the mid) used until the fit is ready; GLFT only.
    #[serde(default = "defaults::intensity_initial")]
    pub intensity_initial: f64,
    /// Narrowest distance of a quote from the reservation price (ticks).
    #[serde(default = "defaults::min_half_spread_ticks")]
    pub min_half_spread_ticks: u64,
    /// Position (base coins, signed) the model steers toward.
    #[serde(default)]
    pub target_inventory: Decimal,
    /// |position| (base coins) beyond which only the reducing side is quoted; default
    /// `max_inventory`.
    #[serde(default)]
    pub soft_inventory: Option<Decimal>,
    /// Hard limit on the worst-case |position| (base coins).
    pub max_inventory: Decimal,
    /// Requote only when a desired price moved by more than this many ticks.
    #[serde(default = "defaults::requote_tolerance_ticks")]
    pub requote_tolerance_ticks: u64,
    /// Minimum time between requotes (ms).
    #[serde(default = "defaults::min_requote_ms")]
    pub min_requote_ms: u64,
    /// Requote anyway when quotes are older than this (ms).
    #[serde(default = "defaults::max_quote_age_ms")]
    pub max_quote_age_ms: u64,
    /// Leverage of the quotes.
    #[serde(default = "defaults::leverage")]
    pub leverage: u32,
    /// Weight of the funding rate in the reservation price: it moves by
    /// `−funding_skew · rate · mid`, so positive funding (longs pay) leans short.
    #[serde(default)]
    pub funding_skew: f64,
    /// Take-profit distance from the position's entry (basis points); none when absent.
    #[serde(default)]
    pub take_profit_bps: Option<Decimal>,
    /// Stop-loss distance from the position's entry (basis points); none when absent.
    #[serde(default)]
    pub stop_loss_bps: Option<Decimal>,
    /// Move a take-profit or stop-loss only when it is off by more than this many ticks (each
    /// move is a transaction).
    #[serde(default = "defaults::tp_sl_tolerance_ticks")]
    pub tp_sl_tolerance_ticks: u64,
    /// A book older than this is stale: quotes are pulled until it updates (ms).
    #[serde(default = "defaults::stale_book_ms")]
    pub stale_book_ms: u64,
    /// Drop of the PnL from its peak (quote) at which the strategy pulls its quotes and stops.
    #[serde(default)]
    pub max_drawdown: Option<Decimal>,
}

mod defaults {
    use super::HorizonKind;
    pub fn levels() -> u32 {
        1
    }
    pub fn level_spacing_ticks() -> u64 {
        1
    }
    pub fn gamma() -> f64 {
        0.05
    }
    pub fn horizon() -> HorizonKind {
        HorizonKind::Session
    }
    pub fn session_secs() -> f64 {
        300.0
    }
    pub fn tau_secs() -> f64 {
        60.0
    }
    pub fn volatility_half_life_secs() -> f64 {
        60.0
    }
    pub fn volatility_sample_ms() -> u64 {
        1_000
    }
    pub fn min_volatility_samples() -> u64 {
        10
    }
    pub fn sigma_initial() -> f64 {
        1.0
    }
    pub fn sigma_floor() -> f64 {
        0.05
    }
    pub fn sigma_cap() -> f64 {
        50.0
    }
    pub fn intensity_window_secs() -> f64 {
        300.0
    }
    pub fn min_intensity_trades() -> usize {
        20
    }
    pub fn intensity_refit_ms() -> u64 {
        5_000
    }
    pub fn kappa_initial() -> f64 {
        1.0
    }
    pub fn kappa_floor() -> f64 {
        0.05
    }
    pub fn kappa_cap() -> f64 {
        20.0
    }
    pub fn intensity_initial() -> f64 {
        1.0
    }
    pub fn min_half_spread_ticks() -> u64 {
        1
    }
    pub fn requote_tolerance_ticks() -> u64 {
        2
    }
    pub fn min_requote_ms() -> u64 {
        500
    }
    pub fn max_quote_age_ms() -> u64 {
        30_000
    }
    pub fn leverage() -> u32 {
        2
    }
    pub fn tp_sl_tolerance_ticks() -> u64 {
        5
    }
    pub fn stale_book_ms() -> u64 {
        5_000
    }
}

/// Register `market_maker`.
pub fn register(registry: &mut perpbot_core::strategy::StrategyRegistry) {
    registry.register(NAME, |params| {
        Ok(Box::new(MarketMaker::from_params(params)?))
    });
}

/// The top of the desired ladder: the best price and number of levels per side (`None` / zero
/// where a side should not quote). Deeper levels follow at `level_spacing_ticks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quotes {
    /// Best bid price.
    pub bid: Option<Ticks>,
    /// Best ask price.
    pub ask: Option<Ticks>,
}

/// The inventory as the quoting rules see it, in lots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Inventory {
    /// Net filled position (long − short).
    pub net: i128,
    /// Buys that may still fill without being cancelled by the next requote (unknown outcome).
    pub uncancellable_buys: i128,
    /// Sells likewise.
    pub uncancellable_sells: i128,
}

/// The desired ladder for one moment, and the model values behind it (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ladder {
    /// Best prices per side.
    pub top: Quotes,
    /// Bid levels to place (0 when the side is off).
    pub bid_levels: u32,
    /// Ask levels to place.
    pub ask_levels: u32,
    /// The model's unrounded quote (ticks).
    pub model: ModelQuote,
}

/// Integer limits, from the params and the market's lot size.
#[derive(Debug, Clone, Copy, Default)]
struct Limits {
    lots: Lots,
    target: i128,
    soft: i128,
    hard: i128,
}

/// The strategy.
#[derive(Debug)]
pub struct MarketMaker {
    params: Params,
    market: MarketId,
    horizon: Horizon,
    limits: Limits,
    volatility: VolatilityEstimator,
    intensity: IntensityEstimator,
    /// (κ, A) in use: the initial values until the fit is ready.
    arrival: (f64, f64),
    last_refit: Option<Timestamp>,
    /// The latest venue time of a book or trade seen (s since start): the intensity is fitted
    /// as of then, so a backlog worked through late reads as the market it was.
    data_secs: Option<f64>,
    started: Option<Timestamp>,
    last_requote: Option<Timestamp>,
    /// When each side (bid, ask) was last (re)placed, for its max age.
    side_quoted_at: [Option<Timestamp>; 2],
    /// True between a `Reconnecting` and the next `Resynced`.
    paused: bool,
    /// Set once the strategy's own drawdown limit is hit; it never quotes again.
    halted: bool,
    peak_pnl: Decimal,
    /// The state's PnL version when the drawdown was last checked (equal versions: equal PnL).
    pnl_seen_at: Option<u64>,
    /// The funding rate as a float, with the record it came from (converted once per record).
    funding_f64: Option<(Timestamp, Decimal, f64)>,
    /// Take-profit / stop-loss last asked for, per position side, so a move is sent once.
    sent_tp: [Option<Ticks>; 2],
    sent_sl: [Option<Ticks>; 2],
}

impl MarketMaker {
    /// Build from a params table; errors name the key.
    pub fn from_params(table: &toml::Table) -> Result<MarketMaker, StrategyError> {
        let params: Params = parse_params(NAME, table)?;
        let bad = |message: String| StrategyError::Params {
            strategy: NAME.into(),
            message,
        };
        let positive = |key: &str, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(bad(format!("{key} must be a positive number, got {v}")))
            }
        };
        if params.order_size <= Decimal::ZERO {
            return Err(bad("order_size must be positive".into()));
        }
        if params.max_inventory < params.order_size {
            return Err(bad("max_inventory must be at least order_size".into()));
        }
        if let Some(soft) = params.soft_inventory
            && (soft <= Decimal::ZERO || soft > params.max_inventory)
        {
            return Err(bad(
                "soft_inventory must be positive and at most max_inventory".into(),
            ));
        }
        if params.target_inventory.abs() >= params.max_inventory {
            return Err(bad(
                "target_inventory must lie strictly within ±max_inventory".into(),
            ));
        }
        if params.levels == 0 || params.level_spacing_ticks == 0 {
            return Err(bad(
                "levels and level_spacing_ticks must be at least 1".into()
            ));
        }
        positive("gamma", params.gamma)?;
        positive("session_secs", params.session_secs)?;
        positive("tau_secs", params.tau_secs)?;
        positive(
            "volatility_half_life_secs",
            params.volatility_half_life_secs,
        )?;
        positive("sigma_initial", params.sigma_initial)?;
        positive("sigma_floor", params.sigma_floor)?;
        positive("sigma_cap", params.sigma_cap)?;
        positive("intensity_window_secs", params.intensity_window_secs)?;
        positive("kappa_initial", params.kappa_initial)?;
        positive("kappa_floor", params.kappa_floor)?;
        positive("kappa_cap", params.kappa_cap)?;
        positive("intensity_initial", params.intensity_initial)?;
        if params.sigma_floor > params.sigma_cap {
            return Err(bad("sigma_floor must not exceed sigma_cap".into()));
        }
        if params.kappa_floor > params.kappa_cap {
            return Err(bad("kappa_floor must not exceed kappa_cap".into()));
        }
        if !params.funding_skew.is_finite() {
            return Err(bad("funding_skew must be a finite number".into()));
        }
        for (key, v) in [
            ("take_profit_bps", params.take_profit_bps),
            ("stop_loss_bps", params.stop_loss_bps),
        ] {
            if v.is_some_and(|v| v <= Decimal::ZERO) {
                return Err(bad(format!("{key} must be positive")));
            }
        }
        if params
            .stop_loss_bps
            .is_some_and(|v| v >= Decimal::from(10_000))
        {
            return Err(bad(
                "stop_loss_bps must be below 10000 (a stop at or below zero)".into(),
            ));
        }
        if params.max_drawdown.is_some_and(|v| v <= Decimal::ZERO) {
            return Err(bad("max_drawdown must be positive".into()));
        }
        if params.leverage == 0 {
            return Err(bad("leverage must be at least 1".into()));
        }
        let horizon = match params.horizon {
            HorizonKind::Session => Horizon::Session {
                length_secs: params.session_secs,
            },
            HorizonKind::Fixed => Horizon::Fixed {
                tau_secs: params.tau_secs,
            },
            HorizonKind::Glft => Horizon::Glft,
        };
        Ok(MarketMaker {
            market: MarketId(params.market),
            horizon,
            limits: Limits::default(),
            volatility: VolatilityEstimator::new(
                params.volatility_half_life_secs,
                params.volatility_sample_ms as f64 / 1_000.0,
            ),
            intensity: IntensityEstimator::new(params.intensity_window_secs, 20_000),
            arrival: (params.kappa_initial, params.intensity_initial),
            last_refit: None,
            data_secs: None,
            started: None,
            last_requote: None,
            side_quoted_at: [None; 2],
            paused: false,
            halted: false,
            peak_pnl: Decimal::ZERO,
            pnl_seen_at: None,
            funding_f64: None,
            sent_tp: [None; 2],
            sent_sl: [None; 2],
            params,
        })
    }

    /// Convert the base-coin params to lots against the market's spec.
    fn set_limits(&mut self, spec: &MarketSpec) -> Result<(), StrategyError> {
        let bad = |message: String| StrategyError::Params {
            strategy: NAME.into(),
            message,
        };
        let lots = spec
            .size_to_lots(self.params.order_size, Rounding::Down)
            .map_err(|e| bad(format!("order_size: {e}")))?;
        spec.check_lots(lots)
            .map_err(|e| bad(format!("order_size: {e}")))?;
        spec.check_leverage(self.params.leverage)
            .map_err(|e| bad(format!("leverage: {e}")))?;
        let to_lots = |key: &str, size: Decimal| -> Result<i128, StrategyError> {
            let l = spec
                .size_to_lots(size.abs(), Rounding::Down)
                .map_err(|e| bad(format!("{key}: {e}")))?;
            let l = i128::from(l.0);
            Ok(if size.is_sign_negative() { -l } else { l })
        };
        let hard = to_lots("max_inventory", self.params.max_inventory)?;
        let soft = match self.params.soft_inventory {
            Some(s) => to_lots("soft_inventory", s)?,
            None => hard,
        };
        let target = to_lots("target_inventory", self.params.target_inventory)?;
        self.limits = Limits {
            lots,
            target,
            soft,
            hard,
        };
        Ok(())
    }

    /// σ, κ and A as the model gets them: estimates where ready, clamped to the floors and caps.
    pub fn market_params(&self) -> MarketParams {
        let p = &self.params;
        let sigma = self
            .volatility
            .sigma(p.min_volatility_samples)
            .unwrap_or(p.sigma_initial)
            .clamp(p.sigma_floor, p.sigma_cap);
        MarketParams {
            gamma: p.gamma,
            sigma,
            kappa: self.arrival.0,
            intensity: self.arrival.1,
        }
    }

    /// The desired ladder given the book, the inventory, the market parameters, the time since
    /// start and the latest funding rate. Pure: no state is changed.
    pub fn desired_quotes(
        &self,
        book: &OrderBook,
        inventory: Inventory,
        market: &MarketParams,
        elapsed_secs: f64,
        funding_rate: f64,
    ) -> Option<Ladder> {
        let (best_bid, best_ask) = (book.best_bid()?.price.0, book.best_ask()?.price.0);
        let lim = self.limits;
        let per_order = i128::from(lim.lots.0.max(1));
        let mid = (best_bid + best_ask) as f64 / 2.0;
        let q = (inventory.net - lim.target) as f64 / per_order as f64;
        let mut m = model::quote(self.horizon, mid, q, market, elapsed_secs);
        m.reservation -= self.params.funding_skew * funding_rate * mid;
        m.half_spread = m.half_spread.max(self.params.min_half_spread_ticks as f64);
        // Safe rounding: bid down, ask up; then never cross the book (post-only would abort).
        let bid = to_ticks((m.reservation - m.half_spread).floor())?;
        let ask = to_ticks((m.reservation + m.half_spread).ceil())?;
        let bid = bid.min(best_ask.saturating_sub(1));
        let ask = ask.max(best_bid + 1);
        // Levels whose fills keep the worst case within the hard limit; past the soft limit
        // only the reducing side.
        let fits = |exposure: i128| -> u32 {
            let room = lim.hard - exposure;
            if room < per_order {
                return 0;
            }
            u32::try_from(room / per_order)
                .unwrap_or(u32::MAX)
                .min(self.params.levels)
        };
        let mut bid_levels = fits(inventory.net + inventory.uncancellable_buys);
        let mut ask_levels = fits(-inventory.net + inventory.uncancellable_sells);
        if inventory.net >= lim.soft {
            bid_levels = 0;
        }
        if inventory.net <= -lim.soft {
            ask_levels = 0;
        }
        // The deepest bid must stay above zero.
        let spacing = self.params.level_spacing_ticks;
        while bid_levels > 0 && bid <= u64::from(bid_levels - 1) * spacing {
            bid_levels -= 1;
        }
        Some(Ladder {
            top: Quotes {
                bid: (bid_levels > 0).then_some(Ticks(bid)),
                ask: (ask_levels > 0).then_some(Ticks(ask)),
            },
            bid_levels,
            ask_levels,
            model: m,
        })
    }

    /// True when the desired quotes differ enough from the resting ones to pay for a requote.
    pub fn needs_requote(&self, resting: Quotes, desired: Quotes, now: Timestamp) -> bool {
        self.side_needs_requote(resting.bid, desired.bid, self.last_requote, now)
            || self.side_needs_requote(resting.ask, desired.ask, self.last_requote, now)
    }

    /// True when one side's desired best price differs from the resting one by more than the
    /// tolerance (or appears, or goes), or that side's quotes aged out. Each side is replaced
    /// on its own: a side left alone keeps its place in the queue, and a replace that cancels
    /// fewer orders is less likely to abort on an order that has just filled.
    pub fn side_needs_requote(
        &self,
        have: Option<Ticks>,
        want: Option<Ticks>,
        quoted_at: Option<Timestamp>,
        now: Timestamp,
    ) -> bool {
        let moved = match (have, want) {
            (Some(h), Some(w)) => h.0.abs_diff(w.0) > self.params.requote_tolerance_ticks,
            (None, None) => false,
            _ => true,
        };
        let aged = want.is_some()
            && quoted_at.is_none_or(|t| {
                now.since(t) >= Duration::from_millis(self.params.max_quote_age_ms)
            });
        moved || aged
    }

    fn elapsed_secs(&self, now: Timestamp) -> f64 {
        self.started.map_or(0.0, |s| now.since(s).as_secs_f64())
    }

    /// The time (s since start) of market data stamped `ts` by the venue or its receipt, or
    /// `engine_now` for data without a time; it advances the data clock the fit runs on.
    fn data_time(&mut self, ts: Timestamp, engine_now: f64) -> f64 {
        let at = if ts == Timestamp(0) {
            engine_now
        } else {
            self.elapsed_secs(ts)
        };
        self.data_secs = Some(self.data_secs.map_or(at, |d| d.max(at)));
        at
    }

    /// Feed the estimators.
    fn observe(&mut self, event: &Event, ctx: &Context<'_>) {
        let now = self.elapsed_secs(ctx.now());
        match event {
            Event::Book(b) if b.market == self.market => {
                // Each mid is sampled at the time of its book (the venue's, or its receipt),
                // not when the engine gets to it: a bot that falls behind and then works
                // through a backlog would otherwise pair minutes-old mids with fresh times, see
                // volatility that is not there, and widen its quotes until nothing fills. A
                // book without a time falls back to the engine's.
                let at = self.data_time(b.ts, now);
                if let Some(mid) = ctx.book(self.market).and_then(OrderBook::mid_x2) {
                    self.volatility.observe(at, mid as f64 / 2.0);
                }
            }
            Event::Trade(t) if t.market == self.market => {
                // At the trade's own time, as the mids: a backlog of trades stamped with the
                // engine's clock would crowd the window and read as a busier market.
                let at = self.data_time(t.ts, now);
                if let Some(mid) = ctx.book(self.market).and_then(OrderBook::mid_x2) {
                    self.intensity
                        .record(at, (t.price.0 as f64 - mid as f64 / 2.0).abs());
                }
            }
            _ => {}
        }
        let refit_due = self.last_refit.is_none_or(|t| {
            ctx.now().since(t) >= Duration::from_millis(self.params.intensity_refit_ms)
        });
        if refit_due {
            self.last_refit = Some(ctx.now());
            let p = &self.params;
            let as_of = self.data_secs.unwrap_or(now);
            if let Some(fit) = self.intensity.fit(as_of, p.min_intensity_trades) {
                let kappa = fit.kappa.clamp(p.kappa_floor, p.kappa_cap);
                let a = if fit.a.is_finite() && fit.a > 0.0 {
                    fit.a
                } else {
                    p.intensity_initial
                };
                debug!(
                    kappa,
                    a,
                    trades = fit.trades,
                    "order-arrival intensity refitted"
                );
                self.arrival = (kappa, a);
            }
        }
    }

    /// Cancel our quotes unless every live one is already being cancelled.
    fn pull_quotes(&self, ctx: &mut Context<'_>) {
        let cancellable = ctx
            .open_orders(self.market)
            .any(|o| o.status != OrderStatus::PendingCancel);
        if cancellable {
            ctx.cancel_all(Some(self.market));
        }
    }

    /// Stop for good once the strategy's PnL has fallen `max_drawdown` below its peak.
    fn check_drawdown(&mut self, ctx: &mut Context<'_>) {
        // Runs on every event: nothing to do without a limit, or when PnL has not moved.
        if self.params.max_drawdown.is_none() {
            return;
        }
        let version = ctx.state().pnl_version();
        if self.pnl_seen_at == Some(version) {
            return;
        }
        self.pnl_seen_at = Some(version);
        let pnl = ctx.state().total_pnl();
        self.peak_pnl = self.peak_pnl.max(pnl);
        if let Some(limit) = self.params.max_drawdown
            && self.peak_pnl - pnl >= limit
        {
            error!(peak = %self.peak_pnl, pnl = %pnl, %limit, "market_maker drawdown limit hit: quotes pulled, quoting stopped");
            self.halted = true;
        }
    }

    /// The market's funding rate as a float (0 without one), converted once per record.
    fn funding_rate(&mut self, ctx: &Context<'_>) -> f64 {
        let Some(f) = ctx.funding(self.market) else {
            return 0.0;
        };
        match self.funding_f64 {
            Some((ts, rate, value)) if ts == f.ts && rate == f.rate => value,
            _ => {
                let value = f.rate.to_f64().unwrap_or(0.0);
                self.funding_f64 = Some((f.ts, f.rate, value));
                value
            }
        }
    }

    /// Hedge mode: buy to close an existing short when it is big enough, else open a long.
    fn order_for(&self, ctx: &Context<'_>, side: Side, price: Ticks) -> NewOrder {
        let lots = self.limits.lots;
        let reduces = match side {
            Side::Buy => PositionSide::Short,
            Side::Sell => PositionSide::Long,
        };
        let mut order = NewOrder::limit(self.market, side, lots, price)
            .post_only()
            .with_leverage(self.params.leverage);
        if let Some(p) = ctx.position(self.market, reduces)
            && p.lots >= lots
        {
            order = order.closing();
            order.leverage = p.leverage; // Kana requires the position's leverage on a close
        }
        order
    }

    /// Requote from what actually rests: every live order of ours in the market is this
    /// strategy's quote, so an order restored by a refused replace is never orphaned.
    fn requote(&mut self, ctx: &mut Context<'_>) {
        if self.halted || self.paused {
            return;
        }
        self.check_drawdown(ctx);
        if self.halted || ctx.trading_state() != TradingState::Active {
            self.pull_quotes(ctx);
            return;
        }
        let now = ctx.now();
        let Some(book) = ctx.book(self.market) else {
            return;
        };
        let stale = book
            .age_nanos(now)
            .is_none_or(|age| age > self.params.stale_book_ms.saturating_mul(1_000_000));
        if stale || book.is_crossed() {
            self.pull_quotes(ctx);
            return;
        }
        let mut inventory = Inventory {
            net: ctx.net_lots(self.market),
            ..Inventory::default()
        };
        // Our cancellable orders per side are counted here and listed only when a side is
        // replaced (most events replace nothing).
        let (mut bids, mut asks) = (0u32, 0u32);
        let mut resting = Quotes {
            bid: None,
            ask: None,
        };
        for o in ctx.open_orders(self.market) {
            let (side, price) = (o.request.order.side, o.request.order.price);
            match o.status {
                // Wait until what is in flight settles.
                OrderStatus::PendingNew | OrderStatus::PendingCancel => return,
                // May be live, cannot be cancelled by id yet: counts toward the worst case.
                OrderStatus::Unknown => {
                    let lots = i128::from(o.remaining().0);
                    match side {
                        Side::Buy => inventory.uncancellable_buys += lots,
                        Side::Sell => inventory.uncancellable_sells += lots,
                    }
                }
                status => {
                    debug_assert!(cancellable(status));
                    let (count, best) = match side {
                        Side::Buy => (&mut bids, &mut resting.bid),
                        Side::Sell => (&mut asks, &mut resting.ask),
                    };
                    *count += 1;
                    let better = match side {
                        Side::Buy => price > *best,
                        Side::Sell => best.is_none() || price < *best,
                    };
                    if better {
                        *best = price;
                    }
                }
            }
        }
        let too_soon = self
            .last_requote
            .is_some_and(|t| now.since(t) < Duration::from_millis(self.params.min_requote_ms));
        if too_soon {
            return;
        }
        let funding = self.funding_rate(ctx);
        let market = self.market_params();
        let elapsed = self.elapsed_secs(now);
        let Some(ladder) = self.desired_quotes(book, inventory, &market, elapsed, funding) else {
            return;
        };
        let [bid_quoted, ask_quoted] = self.side_quoted_at;
        let replace_bid = bids != ladder.bid_levels
            || self.side_needs_requote(resting.bid, ladder.top.bid, bid_quoted, now);
        let replace_ask = asks != ladder.ask_levels
            || self.side_needs_requote(resting.ask, ladder.top.ask, ask_quoted, now);
        if !replace_bid && !replace_ask {
            return;
        }
        let spacing = self.params.level_spacing_ticks;
        // The cancellable orders of one side, the ones the loop above counted.
        let market_id = self.market;
        let ours = |side: Side| {
            ctx.open_orders(market_id)
                .filter(move |o| o.request.order.side == side && cancellable(o.status))
                .map(|o| o.client_id())
        };
        let mut cancel = Vec::with_capacity((bids + asks) as usize);
        let mut place = Vec::with_capacity((ladder.bid_levels + ladder.ask_levels) as usize);
        if replace_bid {
            cancel.extend(ours(Side::Buy));
            if let Some(Ticks(top)) = ladder.top.bid {
                for i in 0..u64::from(ladder.bid_levels) {
                    place.push(self.order_for(ctx, Side::Buy, Ticks(top - i * spacing)));
                }
            }
            self.side_quoted_at[0] = Some(now);
        }
        if replace_ask {
            cancel.extend(ours(Side::Sell));
            if let Some(Ticks(top)) = ladder.top.ask {
                for i in 0..u64::from(ladder.ask_levels) {
                    place.push(self.order_for(ctx, Side::Sell, Ticks(top + i * spacing)));
                }
            }
            self.side_quoted_at[1] = Some(now);
        }
        debug!(
            reservation = ladder.model.reservation,
            half_spread = ladder.model.half_spread,
            sigma = market.sigma,
            kappa = market.kappa,
            q = inventory.net,
            bid = ?ladder.top.bid,
            ask = ?ladder.top.ask,
            "requote"
        );
        ctx.replace_quotes(self.market, cancel, place);
        self.last_requote = Some(now);
    }

    /// Keep each position's take-profit and stop-loss at their distances from its entry.
    fn manage_tp_sl(&mut self, ctx: &mut Context<'_>) {
        if self.params.take_profit_bps.is_none() && self.params.stop_loss_bps.is_none() {
            return;
        }
        let Some(spec) = ctx.spec(self.market).cloned() else {
            return;
        };
        for (i, side) in [PositionSide::Long, PositionSide::Short]
            .into_iter()
            .enumerate()
        {
            let Some(pos) = ctx.position(self.market, side).cloned() else {
                continue;
            };
            if pos.lots.is_zero() || pos.entry_price <= Decimal::ZERO {
                self.sent_tp[i] = None;
                self.sent_sl[i] = None;
                continue;
            }
            let tol = self.params.tp_sl_tolerance_ticks;
            let triggers = [
                (
                    Trigger::TakeProfit,
                    self.params.take_profit_bps,
                    pos.take_profit,
                ),
                (Trigger::StopLoss, self.params.stop_loss_bps, pos.stop_loss),
            ];
            for (trigger, bps, on_venue) in triggers {
                let Some(bps) = bps else { continue };
                let sent = match trigger {
                    Trigger::TakeProfit => &mut self.sent_tp[i],
                    Trigger::StopLoss => &mut self.sent_sl[i],
                };
                let want = trigger_ticks(&spec, trigger, side, pos.entry_price, bps);
                let have = sent
                    .or_else(|| on_venue.and_then(|p| spec.price_to_ticks(p, Rounding::Down).ok()));
                if let Some(want) = want
                    && have.is_none_or(|h| h.0.abs_diff(want.0) > tol)
                {
                    match trigger {
                        Trigger::TakeProfit => {
                            ctx.update_take_profit(self.market, side, Some(want))
                        }
                        Trigger::StopLoss => ctx.update_stop_loss(self.market, side, Some(want)),
                    }
                    *sent = Some(want);
                }
            }
        }
    }
}

/// Whether an open order of ours can be cancelled by id now: not in flight, not of unknown
/// state. The quotes counted per side and the orders a replace cancels are these.
fn cancellable(status: OrderStatus) -> bool {
    !matches!(
        status,
        OrderStatus::PendingNew | OrderStatus::PendingCancel | OrderStatus::Unknown
    )
}

/// A model price in fractional ticks → a positive integer tick, `None` when out of range.
fn to_ticks(x: f64) -> Option<u64> {
    (x.is_finite() && x >= 1.0 && x < u64::MAX as f64).then_some(x as u64)
}

/// A position's exit trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// Take-profit: beyond the entry in the position's favour.
    TakeProfit,
    /// Stop-loss: against the entry.
    StopLoss,
}

/// The trigger price `bps` from the entry, in ticks. A take-profit rounds away from the entry
/// (never takes less profit than asked), a stop-loss toward it (never loses more than asked).
pub fn trigger_ticks(
    spec: &MarketSpec,
    trigger: Trigger,
    side: PositionSide,
    entry: Decimal,
    bps: Decimal,
) -> Option<Ticks> {
    let above = matches!(
        (trigger, side),
        (Trigger::TakeProfit, PositionSide::Long) | (Trigger::StopLoss, PositionSide::Short)
    );
    let distance = entry * bps / Decimal::from(10_000);
    // Above the entry round up for a take-profit (away) and down for a stop-loss (toward);
    // below it, the reverse.
    let (price, rounding) = match (above, trigger) {
        (true, Trigger::TakeProfit) => (entry + distance, Rounding::Up),
        (true, Trigger::StopLoss) => (entry + distance, Rounding::Down),
        (false, Trigger::TakeProfit) => (entry - distance, Rounding::Down),
        (false, Trigger::StopLoss) => (entry - distance, Rounding::Up),
    };
    spec.price_to_ticks(price, rounding)
        .ok()
        .filter(|t| t.0 > 0)
}

impl Strategy for MarketMaker {
    fn name(&self) -> &str {
        NAME
    }

    fn on_start(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        let spec = ctx
            .spec(self.market)
            .cloned()
            .ok_or_else(|| StrategyError::Params {
                strategy: NAME.into(),
                message: format!(
                    "market: {} is not one of the configured markets",
                    self.market
                ),
            })?;
        self.set_limits(&spec)?;
        self.started = Some(ctx.now());
        self.peak_pnl = ctx.state().total_pnl();
        info!(
            market = %spec.name,
            gamma = self.params.gamma,
            horizon = ?self.horizon,
            order_lots = self.limits.lots.0,
            max_inventory_lots = self.limits.hard,
            "market_maker starting"
        );
        ctx.set_interval(Duration::from_millis(self.params.min_requote_ms.max(100)));
        Ok(())
    }

    fn on_event(&mut self, event: &Event, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        self.observe(event, ctx);
        match event {
            // Blind while the stream reconnects: pull the quotes, resume once resynced.
            Event::Connection(c) if c.state == ConnectionState::Reconnecting => {
                self.paused = true;
                ctx.cancel_all(Some(self.market));
            }
            Event::Connection(c) if c.state == ConnectionState::Resynced => self.paused = false,
            _ if self.paused => {}
            Event::Book(b) if b.market == self.market => self.requote(ctx),
            Event::Fill(_) | Event::Position(_) => {
                self.manage_tp_sl(ctx);
                self.requote(ctx);
            }
            Event::Timer(_) | Event::Order(_) | Event::TradingState(_) => self.requote(ctx),
            _ => {}
        }
        Ok(())
    }

    fn on_stop(&mut self, ctx: &mut Context<'_>) -> Result<(), StrategyError> {
        ctx.cancel_all(Some(self.market));
        Ok(())
    }
}

#[cfg(test)]
mod tests;
