//! The simulator's synthetic market: a seeded, reproducible population of traders that keeps the
//! simulated books alive, so a market maker meets realistic flow — adverse selection included.
//!
//! Per market, every [`SyntheticMarket::step`]:
//!
//! 1. **Fair mid.** A hidden fair price follows geometric Brownian motion in log space with
//!    optional jumps: `ln m ← ln m − σ²dt/2 + σ√dt·Z + J`, `Z ~ N(0, 1)`, and
//!    `J = ±jump_size` with probability `jump_probability` per step (sign even). The price is a
//!    martingale. `σ` is per √second ([`PriceProcessConfig`]); the process runs in `f64` ticks.
//! 2. **Liquidity providers** each rest `levels` bids and asks around the fair mid. An LP with
//!    nothing resting on a side (it was lifted), or with probability `refresh_probability`,
//!    cancels its orders and quotes again around the new mid; the others keep their (now stale)
//!    quotes, which takers pick off.
//! 3. **Takers** arrive on each side as a Poisson process of intensity `λ(δ) = A·e^(−k·δ)` per
//!    second, where `δ` is the distance in ticks from the fair mid to the best opposite quote
//!    (floored at 0, so a stale quote through the mid is hit at rate `A`).
//!    The intensities are recomputed after every arrival (competing exponential clocks over the
//!    step's `dt`), so tight quotes are hit more and a taker that empties a level moves `δ`.
//!    Each taker sends a market order of random size. A fraction `informed_fraction` of the flow
//!    is **informed**: it trades in the direction of the fair mid's *next* move (the draw for the
//!    next step is made one step ahead), so a passive quote it hits sees the mid move against it.
//!
//! ## Money stays exact
//!
//! `f64` is used only for the random process. Every price and size handed to a book is an integer
//! number of ticks and lots, converted explicitly: **bids round down, asks round up** (a quote is
//! never tighter than asked), the fair mid reported to callers rounds to the **nearest** tick,
//! and sizes are whole multiples of the market's `min_lots` capped at `max_lots` (and at the
//! opposite side's resting size, so a market order never aborts for liquidity).
//!
//! ## Determinism
//!
//! One `seed` reproduces the market: each market draws from its own `ChaCha8Rng` stream
//! (`seed`, stream = market id), so adding a market does not change the others. The same seed and
//! the same sequence of calls (including whatever else the caller places on the books) give the
//! same actions. Time is whatever `now` the caller passes: a test advances it without sleeping.
//!
//! ## Accounts
//!
//! The synthetic traders are fixed wallets derived from the seed (see
//! [`SyntheticMarket::accounts`]); orders carry their Kana profile addresses
//! ([`profile_address`]). They only open positions (leverage `leverage`, clamped to the market's
//! maximum), so they need ample collateral: call [`SyntheticMarket::fund`] once to deposit
//! `account_collateral` for each into a [`Ledger`], or deposit the listed wallets yourself.
//!
//! ```
//! use std::collections::BTreeMap;
//! use perpbot_model::{MarketId, Timestamp};
//! use perpbot_sim::market::{MarketAccess, SyntheticConfig, SyntheticMarket, testnet_markets};
//! use perpbot_sim::{MatchingBook, MatchingConfig};
//!
//! let specs = testnet_markets();
//! let mut books: BTreeMap<MarketId, MatchingBook> = specs
//!     .iter()
//!     .map(|s| (s.id, MatchingBook::new(s.clone(), MatchingConfig::default())))
//!     .collect();
//! let mut market = SyntheticMarket::new(SyntheticConfig::default(), &specs).unwrap();
//! for n in 1..=20 {
//!     market.step(Timestamp::from_millis(250 * n), &mut books);
//! }
//! let apt = MarketId(1338);
//! let (bid, ask) = (books.best_bid(apt).unwrap(), books.best_ask(apt).unwrap());
//! assert!(bid.price < ask.price);
//! ```

use std::collections::{BTreeMap, BTreeSet};

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp1, StandardNormal};
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

use perpbot_aptos::keys::sha3_256;
use perpbot_aptos::{AccountAddress, KanaAbort};
use perpbot_model::{
    Level, Lots, MAX_PRICE_TICKS, MarketId, MarketSpec, Restriction, Rounding, Side, Ticks,
    Timestamp, VenueOrderId,
};

use super::matching::{
    CancelledOrder, Match, MatchingBook, PlaceOrder, PlaceResult, decode_order_id,
};
use super::{Abort, Ledger, profile_address};

// ---------------------------------------------------------------------------------------------
// Markets
// ---------------------------------------------------------------------------------------------

/// Kana's testnet markets with their grids: APT 1338, BTC 1339, ETH 1340, SOL 2387.
///
/// Only APT's grid is documented (reference §3.3). The BTC, ETH and SOL grids are **\[INF\]**:
/// chosen to match the community minimum sizes (BTC 0.0001, ETH 0.001, SOL 0.05) with 8 base and
/// 6 quote decimals like APT, and a tick of roughly 0.3–2 bps at today's prices so the same
/// tick-based [`SyntheticConfig`] suits all four. Replace them with `getMarketInfo` values when
/// known.
pub fn testnet_markets() -> Vec<MarketSpec> {
    let grid = |id: u64, name: &str, lot_size, tick_size, min_lots, max_lots, precision| {
        MarketSpec {
            id: MarketId(id),
            name: name.to_string(),
            base_decimals: 8,
            quote_decimals: 6,
            lot_size,
            tick_size,
            min_lots,
            max_lots,
            // [INF] for BTC/ETH/SOL: APT's leverage and maintenance margin.
            max_leverage: 20,
            maintenance_margin_bps: 250,
            quote_precision: precision,
        }
    };
    vec![
        // Documented (§3.3): lot 0.001 APT, tick 0.001 USD, min 0.5 APT, max 150 000 APT.
        MarketSpec::kana_apt_testnet(),
        // [INF] lot 0.00001 BTC, tick 1 USD (~1 bp at 100 000), min 10 lots = 0.0001 BTC,
        // max 1 000 000 lots = 10 BTC. Same grid as the BTC-like specs in this crate's tests.
        grid(1339, "BTC-USD", 1_000, 10, 10, 1_000_000, 0),
        // [INF] lot 0.0001 ETH, tick 0.1 USD (~0.3 bp at 3 500), min 10 lots = 0.001 ETH,
        // max 10 000 000 lots = 1 000 ETH.
        grid(1340, "ETH-USD", 10_000, 10, 10, 10_000_000, 1),
        // [INF] lot 0.001 SOL, tick 0.01 USD (~0.7 bp at 150), min 50 lots = 0.05 SOL,
        // max 150 000 000 lots = 150 000 SOL.
        grid(2387, "SOL-USD", 100_000, 10, 50, 150_000_000, 2),
    ]
}

/// Built-in start price (quote per coin) of a testnet market, used when the config names none:
/// APT 5.5, BTC 100 000, ETH 3 500, SOL 150.
pub fn default_start_price(market: MarketId) -> Option<Decimal> {
    match market.0 {
        1338 => Some(Decimal::new(55, 1)),
        1339 => Some(Decimal::from(100_000)),
        1340 => Some(Decimal::from(3_500)),
        2387 => Some(Decimal::from(150)),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Book access
// ---------------------------------------------------------------------------------------------

/// What the synthetic traders need from the exchange: place and cancel on a market's book for an
/// account, and read its top of book. The simulated exchange implements it (routing through its
/// ledger checks); tests use the impl over `BTreeMap<MarketId, MatchingBook>`.
pub trait MarketAccess {
    /// Place `order` (its `account` is the owner) on `market`'s book.
    fn place(&mut self, market: MarketId, order: &PlaceOrder) -> Result<PlaceResult, Abort>;

    /// Cancel a resting order of `account` on `market`.
    fn cancel(
        &mut self,
        market: MarketId,
        account: AccountAddress,
        order_id: VenueOrderId,
    ) -> Result<CancelledOrder, Abort>;

    /// Best bid of `market`.
    fn best_bid(&self, market: MarketId) -> Option<Level>;

    /// Best ask of `market`.
    fn best_ask(&self, market: MarketId) -> Option<Level>;

    /// Up to `max_levels` levels per side of `market`, best first: `(bids, asks)`.
    fn depth(&self, market: MarketId, max_levels: usize) -> (Vec<Level>, Vec<Level>);

    /// Ids of `account`'s orders resting on `market`, in placement order.
    fn resting_orders(&self, market: MarketId, account: AccountAddress) -> Vec<VenueOrderId>;
}

impl MarketAccess for BTreeMap<MarketId, MatchingBook> {
    /// An unknown market is Kana `E_MARKET_NOT_FOUND` (1003).
    fn place(&mut self, market: MarketId, order: &PlaceOrder) -> Result<PlaceResult, Abort> {
        self.get_mut(&market)
            .ok_or(Abort::Kana(KanaAbort::MarketNotFound))?
            .place(order)
    }

    fn cancel(
        &mut self,
        market: MarketId,
        account: AccountAddress,
        order_id: VenueOrderId,
    ) -> Result<CancelledOrder, Abort> {
        self.get_mut(&market)
            .ok_or(Abort::Kana(KanaAbort::MarketNotFound))?
            .cancel(account, order_id)
    }

    fn best_bid(&self, market: MarketId) -> Option<Level> {
        self.get(&market)?.best_bid()
    }

    fn best_ask(&self, market: MarketId) -> Option<Level> {
        self.get(&market)?.best_ask()
    }

    fn depth(&self, market: MarketId, max_levels: usize) -> (Vec<Level>, Vec<Level>) {
        self.get(&market)
            .map(|b| b.depth(max_levels))
            .unwrap_or_default()
    }

    fn resting_orders(&self, market: MarketId, account: AccountAddress) -> Vec<VenueOrderId> {
        self.get(&market)
            .map(|b| b.orders_of(account).map(|o| o.id).collect())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Seconds in a year for annualised volatility (365.25 days).
pub const SECONDS_PER_YEAR: f64 = 31_557_600.0;

/// Most taker arrivals per market in one step (bounds the work of a long `dt`).
pub const MAX_ARRIVALS_PER_STEP: u32 = 1_000;

/// Longest `dt` one step simulates, in milliseconds (one hour); a longer gap is simulated as one
/// hour.
pub const MAX_STEP_MS: u64 = 3_600_000;

/// Most levels read when capping a taker's size at the resting liquidity.
const MAX_WALK_LEVELS: usize = 10_000;

/// Most LPs / takers of each kind per market, and levels per LP side.
const MAX_POPULATION: u32 = 1_000;
const MAX_LP_LEVELS: u32 = 100;

/// Settings of the synthetic market (e.g. `[sim.market]`). Every field has a default, so an empty
/// table is a working market on the four testnet markets.
///
/// ```toml
/// seed = 7
/// step_ms = 250
/// [price]
/// volatility_annual = 0.8       # or volatility_per_second = 0.00014
/// jump_probability = 0.0005
/// jump_size = 0.005
/// [markets.1338]
/// start_price = "5.5"
/// volatility_annual = 1.2
/// [liquidity]
/// count = 5
/// [takers]
/// intensity = 2.0
/// decay_per_tick = 0.3
/// informed_fraction = 0.1
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SyntheticConfig {
    /// RNG seed; the same seed and calls give the same market (default 1). Also derives the
    /// synthetic accounts' addresses.
    pub seed: u64,
    /// Nominal time between steps in milliseconds: the `dt` of the first step, and the step at
    /// which informed takers' "next move" is judged (default 250). Later steps use the time
    /// elapsed since the previous call.
    pub step_ms: u64,
    /// Leverage of every synthetic order, clamped to each market's `max_leverage` (default 10).
    pub leverage: u32,
    /// Collateral [`SyntheticMarket::fund`] deposits for each synthetic account, in quote units
    /// (default 1 000 000 000).
    pub account_collateral: Decimal,
    /// The fair-price process of every market (per-market overrides in `markets`).
    pub price: PriceProcessConfig,
    /// Per-market start price and price-process overrides, keyed by market id as a string
    /// (`"1338"`). A market without a `start_price` uses [`default_start_price`]; any other
    /// market must name one.
    pub markets: BTreeMap<String, MarketProcessConfig>,
    /// The liquidity-provider population (per market).
    pub liquidity: LiquidityConfig,
    /// The taker population (per market).
    pub takers: TakerConfig,
}

impl Default for SyntheticConfig {
    fn default() -> SyntheticConfig {
        SyntheticConfig {
            seed: 1,
            step_ms: 250,
            leverage: 10,
            account_collateral: Decimal::from(1_000_000_000u64),
            price: PriceProcessConfig::default(),
            markets: BTreeMap::new(),
            liquidity: LiquidityConfig::default(),
            takers: TakerConfig::default(),
        }
    }
}

/// The fair-price process: GBM with jumps. Give the volatility either annualised or per second
/// (not both); with neither, `volatility_annual = 0.8`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PriceProcessConfig {
    /// Annualised volatility of log-returns (`0.8` = 80 %/√year; 365.25-day year).
    pub volatility_annual: Option<f64>,
    /// Volatility of log-returns over one second (`σ` per √second).
    pub volatility_per_second: Option<f64>,
    /// Probability of a jump in a step (default 0.0005).
    pub jump_probability: f64,
    /// Size of a jump as a log-return, up or down with equal chance (default 0.005 ≈ 0.5 %).
    pub jump_size: f64,
}

impl Default for PriceProcessConfig {
    fn default() -> PriceProcessConfig {
        PriceProcessConfig {
            volatility_annual: None,
            volatility_per_second: None,
            jump_probability: 0.0005,
            jump_size: 0.005,
        }
    }
}

/// Default annualised volatility when none is configured.
const DEFAULT_VOLATILITY_ANNUAL: f64 = 0.8;

/// One market's start price and overrides of the global [`PriceProcessConfig`] (a volatility
/// given here, in either form, replaces the global one).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MarketProcessConfig {
    /// Start price in quote per coin (rounded down to the tick grid).
    pub start_price: Option<Decimal>,
    /// Annualised volatility.
    pub volatility_annual: Option<f64>,
    /// Volatility per √second.
    pub volatility_per_second: Option<f64>,
    /// Jump probability per step.
    pub jump_probability: Option<f64>,
    /// Jump size (log-return).
    pub jump_size: Option<f64>,
}

/// Liquidity providers, per market. Distances and spacing are in ticks, sizes in multiples of
/// the market's `min_lots`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiquidityConfig {
    /// LPs per market (default 5; 0 = none).
    pub count: u32,
    /// Levels per side per LP (default 5).
    pub levels: u32,
    /// Smallest distance from the fair mid to an LP's first level, in ticks (default 1). Each
    /// refresh draws the distance uniformly in `distance_ticks_min..=distance_ticks_max`.
    pub distance_ticks_min: u64,
    /// Largest distance to the first level, in ticks (default 5).
    pub distance_ticks_max: u64,
    /// Ticks between an LP's consecutive levels (default 2).
    pub level_spacing_ticks: u64,
    /// Smallest level size in multiples of `min_lots` (default 1).
    pub size_min: u64,
    /// Largest level size in multiples of `min_lots` (default 20).
    pub size_max: u64,
    /// Probability per step that an LP cancels and re-quotes around the current fair mid
    /// (default 0.2). An LP with nothing resting on one side (filled away) always re-quotes.
    pub refresh_probability: f64,
}

impl Default for LiquidityConfig {
    fn default() -> LiquidityConfig {
        LiquidityConfig {
            count: 5,
            levels: 5,
            distance_ticks_min: 1,
            distance_ticks_max: 5,
            level_spacing_ticks: 2,
            size_min: 1,
            size_max: 20,
            refresh_probability: 0.2,
        }
    }
}

/// Takers, per market: Poisson arrivals with intensity
/// `λ(δ) = intensity · e^(−decay_per_tick·δ)` per second per side, `δ` in ticks from the fair mid
/// to the best opposite quote.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TakerConfig {
    /// Taker accounts per market, for uninformed and again for informed flow (default 5).
    pub count: u32,
    /// `A`: arrivals per second per side at `δ = 0` (default 2.0).
    pub intensity: f64,
    /// `k` per **tick** (default 0.3). For a decay `κ` per unit of price, use
    /// `κ · tick_in_price` (e.g. κ = 300 per USDT on APT's 0.001 tick is 0.3).
    pub decay_per_tick: f64,
    /// Smallest order in multiples of `min_lots` (default 1).
    pub size_min: u64,
    /// Largest order in multiples of `min_lots` (default 10).
    pub size_max: u64,
    /// Share of the flow that is informed: it trades in the direction of the fair mid's next
    /// move (default 0.1; 0 = none, 1 = all).
    pub informed_fraction: f64,
}

impl Default for TakerConfig {
    fn default() -> TakerConfig {
        TakerConfig {
            count: 5,
            intensity: 2.0,
            decay_per_tick: 0.3,
            size_min: 1,
            size_max: 10,
            informed_fraction: 0.1,
        }
    }
}

/// `Err("{prefix}.{key} {why}")`.
fn bad(prefix: &str, key: &str, why: &str) -> Result<(), String> {
    Err(format!("{prefix}.{key} {why}"))
}

fn finite_in(x: f64, lo: f64, hi: f64) -> bool {
    x.is_finite() && (lo..=hi).contains(&x)
}

/// Check a volatility pair (at most one given, finite, 0..=10 per √year equivalent).
fn check_volatility(
    prefix: &str,
    annual: Option<f64>,
    per_second: Option<f64>,
) -> Result<(), String> {
    if annual.is_some() && per_second.is_some() {
        return bad(
            prefix,
            "volatility_per_second",
            "cannot be given with volatility_annual",
        );
    }
    if annual.is_some_and(|v| !finite_in(v, 0.0, 100.0)) {
        return bad(prefix, "volatility_annual", "must be within 0..=100");
    }
    if per_second.is_some_and(|v| !finite_in(v, 0.0, 1.0)) {
        return bad(prefix, "volatility_per_second", "must be within 0..=1");
    }
    Ok(())
}

fn check_jump(prefix: &str, probability: Option<f64>, size: Option<f64>) -> Result<(), String> {
    if probability.is_some_and(|p| !finite_in(p, 0.0, 1.0)) {
        return bad(prefix, "jump_probability", "must be within 0..=1");
    }
    if size.is_some_and(|s| !finite_in(s, 0.0, 1.0)) {
        return bad(prefix, "jump_size", "must be within 0..=1");
    }
    Ok(())
}

impl SyntheticConfig {
    /// Check the settings; the message names the key under `prefix` (e.g. `sim.market`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        if self.step_ms == 0 || self.step_ms > MAX_STEP_MS {
            return bad(prefix, "step_ms", "must be within 1..=3600000");
        }
        if self.leverage == 0 {
            return bad(prefix, "leverage", "must be at least 1");
        }
        if self.account_collateral <= Decimal::ZERO {
            return bad(prefix, "account_collateral", "must be positive");
        }
        let price = format!("{prefix}.price");
        check_volatility(
            &price,
            self.price.volatility_annual,
            self.price.volatility_per_second,
        )?;
        check_jump(
            &price,
            Some(self.price.jump_probability),
            Some(self.price.jump_size),
        )?;
        for (key, market) in &self.markets {
            let at = format!("{prefix}.markets.{key}");
            if key.parse::<u64>().is_err() {
                return Err(format!("{at} must be keyed by a numeric market id"));
            }
            if market.start_price.is_some_and(|p| p <= Decimal::ZERO) {
                return bad(&at, "start_price", "must be positive");
            }
            check_volatility(&at, market.volatility_annual, market.volatility_per_second)?;
            check_jump(&at, market.jump_probability, market.jump_size)?;
        }
        let lp = &self.liquidity;
        let at = format!("{prefix}.liquidity");
        if lp.count > MAX_POPULATION {
            return bad(&at, "count", "must be at most 1000");
        }
        if lp.levels == 0 || lp.levels > MAX_LP_LEVELS {
            return bad(&at, "levels", "must be within 1..=100");
        }
        if lp.distance_ticks_min == 0 || lp.distance_ticks_min > lp.distance_ticks_max {
            return bad(
                &at,
                "distance_ticks_min",
                "must be at least 1 and not above distance_ticks_max",
            );
        }
        if lp.distance_ticks_max > 1_000_000 {
            return bad(&at, "distance_ticks_max", "must be at most 1000000");
        }
        if lp.level_spacing_ticks == 0 || lp.level_spacing_ticks > 1_000_000 {
            return bad(&at, "level_spacing_ticks", "must be within 1..=1000000");
        }
        if lp.size_min == 0 || lp.size_min > lp.size_max {
            return bad(&at, "size_min", "must be at least 1 and not above size_max");
        }
        if !finite_in(lp.refresh_probability, 0.0, 1.0) {
            return bad(&at, "refresh_probability", "must be within 0..=1");
        }
        let tk = &self.takers;
        let at = format!("{prefix}.takers");
        if tk.count == 0 || tk.count > MAX_POPULATION {
            return bad(&at, "count", "must be within 1..=1000");
        }
        if !finite_in(tk.intensity, 0.0, 1_000_000.0) {
            return bad(&at, "intensity", "must be within 0..=1000000 per second");
        }
        if !finite_in(tk.decay_per_tick, 0.0, 1_000.0) {
            return bad(&at, "decay_per_tick", "must be within 0..=1000");
        }
        if tk.size_min == 0 || tk.size_min > tk.size_max {
            return bad(&at, "size_min", "must be at least 1 and not above size_max");
        }
        if !finite_in(tk.informed_fraction, 0.0, 1.0) {
            return bad(&at, "informed_fraction", "must be within 0..=1");
        }
        Ok(())
    }

    /// The per-market settings of `market` (empty when not configured).
    fn market(&self, market: MarketId) -> MarketProcessConfig {
        self.markets
            .get(&market.0.to_string())
            .cloned()
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Accounts and reports
// ---------------------------------------------------------------------------------------------

/// What a synthetic account does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Rests quotes around the fair mid.
    LiquidityProvider,
    /// Sends market orders on a random side.
    Taker,
    /// Sends market orders in the direction of the fair mid's next move.
    InformedTaker,
}

impl Role {
    fn tag(self) -> u8 {
        match self {
            Role::LiquidityProvider => 1,
            Role::Taker => 2,
            Role::InformedTaker => 3,
        }
    }
}

/// One synthetic trader: its wallet (to fund) and profile (on its orders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SyntheticAccount {
    /// The market it trades.
    pub market: MarketId,
    /// What it does.
    pub role: Role,
    /// Its index within the role on that market.
    pub index: u32,
    /// The wallet, `sha3_256("perpbot_sim::market" ‖ seed ‖ market ‖ role ‖ index)` (all
    /// little-endian).
    pub wallet: AccountAddress,
    /// The profile address of the wallet ([`profile_address`]); the owner of its orders.
    pub profile: AccountAddress,
}

/// Domain separator of synthetic wallet addresses.
const ACCOUNT_DOMAIN: &[u8] = b"perpbot_sim::market";

fn synthetic_account(seed: u64, market: MarketId, role: Role, index: u32) -> SyntheticAccount {
    let wallet = AccountAddress::new(sha3_256(&[
        ACCOUNT_DOMAIN,
        &seed.to_le_bytes(),
        &market.0.to_le_bytes(),
        &[role.tag()],
        &index.to_le_bytes(),
    ]));
    SyntheticAccount {
        market,
        role,
        index,
        wallet,
        profile: profile_address(&wallet),
    }
}

/// What the book did with a synthetic order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Placed {
    /// The order's id.
    pub order_id: VenueOrderId,
    /// Size filled at once.
    pub filled: Lots,
    /// Size left resting.
    pub rested: Option<Lots>,
}

/// One thing a synthetic trader did, with the outcome: the action log.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Action {
    /// A cancel of one of its resting orders.
    Cancel {
        /// Market.
        market: MarketId,
        /// Owner (profile).
        account: AccountAddress,
        /// The order.
        order_id: VenueOrderId,
        /// Ok with the size cancelled, or why it was refused.
        outcome: Result<Lots, Abort>,
    },
    /// An order.
    Place {
        /// Market.
        market: MarketId,
        /// Who sent it.
        role: Role,
        /// Owner (profile).
        account: AccountAddress,
        /// Book side.
        side: Side,
        /// Size.
        lots: Lots,
        /// Limit price (post-only quote), or `None` for a market order.
        price: Option<Ticks>,
        /// What the book did, or why it refused.
        outcome: Result<Placed, Abort>,
    },
}

/// A trade caused by a synthetic taker, on one market (the maker may be anyone: an LP, the bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketFill {
    /// Market.
    pub market: MarketId,
    /// Whether the taker was informed.
    pub informed: bool,
    /// The trade.
    pub fill: Match,
}

/// What one [`SyntheticMarket::step`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StepReport {
    /// The `now` of the step.
    pub at: Timestamp,
    /// Simulated time the step covered, in nanoseconds (0: nothing happened).
    pub elapsed_ns: u64,
    /// Fair mid of each market after the step, rounded to the nearest tick.
    pub fair_mids: Vec<(MarketId, Ticks)>,
    /// Every cancel and place, in order.
    pub actions: Vec<Action>,
    /// Every trade of a synthetic taker, in order.
    pub fills: Vec<MarketFill>,
}

// ---------------------------------------------------------------------------------------------
// The market
// ---------------------------------------------------------------------------------------------

/// The random draw of one future step.
#[derive(Debug, Clone, Copy)]
struct Shock {
    z: f64,
    jump: f64,
}

/// One market's hidden state.
#[derive(Debug, Clone)]
struct MarketState {
    spec: MarketSpec,
    leverage: u32,
    rng: ChaCha8Rng,
    /// `ln` of the fair mid in ticks.
    log_mid: f64,
    /// Bounds of `log_mid` (keeps every quote within 1..=MAX_PRICE_TICKS).
    log_floor: f64,
    log_ceiling: f64,
    /// Volatility per √second.
    sigma: f64,
    jump_probability: f64,
    jump_size: f64,
    /// The draw the next step applies (known to informed takers).
    next: Shock,
    lps: Vec<AccountAddress>,
    takers: Vec<AccountAddress>,
    informed: Vec<AccountAddress>,
}

/// Price → integer ticks: `None` unless finite and within 1..=MAX_PRICE_TICKS.
fn whole_ticks(x: f64) -> Option<Ticks> {
    if x.is_finite() && x >= 1.0 && x <= MAX_PRICE_TICKS as f64 {
        // In range and integral: the cast is exact.
        Some(Ticks(x as u64))
    } else {
        None
    }
}

/// A bid's price: rounded **down** (never tighter than asked).
fn bid_ticks(price: f64) -> Option<Ticks> {
    whole_ticks(price.floor())
}

/// An ask's price: rounded **up**.
fn ask_ticks(price: f64) -> Option<Ticks> {
    whole_ticks(price.ceil())
}

/// A uniform draw in `0..1` against a probability (no panic on odd values).
fn chance(rng: &mut ChaCha8Rng, probability: f64) -> bool {
    rng.random::<f64>() < probability
}

/// A uniform pick from a non-empty slice.
fn pick(rng: &mut ChaCha8Rng, accounts: &[AccountAddress]) -> Option<AccountAddress> {
    if accounts.is_empty() {
        return None;
    }
    accounts.get(rng.random_range(0..accounts.len())).copied()
}

/// A size drawn uniformly in `min..=max` multiples of `min_lots`, capped at `max_lots`.
fn draw_lots(rng: &mut ChaCha8Rng, spec: &MarketSpec, min: u64, max: u64) -> Lots {
    let multiple = rng.random_range(min.min(max)..=max.max(min));
    Lots(
        multiple
            .saturating_mul(spec.min_lots)
            .clamp(spec.min_lots, spec.max_lots),
    )
}

impl MarketState {
    fn id(&self) -> MarketId {
        self.spec.id
    }

    fn draw_shock(&mut self) -> Shock {
        let z: f64 = self.rng.sample(StandardNormal);
        let jump = if chance(&mut self.rng, self.jump_probability) {
            if self.rng.random::<bool>() {
                self.jump_size
            } else {
                -self.jump_size
            }
        } else {
            0.0
        };
        Shock { z, jump }
    }

    /// The log-return a shock gives over `dt` seconds.
    fn log_return(&self, shock: Shock, dt: f64) -> f64 {
        -0.5 * self.sigma * self.sigma * dt + self.sigma * dt.sqrt() * shock.z + shock.jump
    }

    fn mid_ticks(&self) -> f64 {
        self.log_mid.exp()
    }

    /// The fair mid rounded to the nearest tick.
    fn fair_mid(&self) -> Ticks {
        whole_ticks(self.mid_ticks().round()).unwrap_or(Ticks(1))
    }

    /// Apply the pending shock over `dt` seconds and draw the next one.
    fn evolve(&mut self, dt: f64) {
        let step = self.log_return(self.next, dt);
        self.log_mid = (self.log_mid + step).clamp(self.log_floor, self.log_ceiling);
        self.next = self.draw_shock();
    }

    /// Side informed takers trade now: the direction of the next step's move at the nominal dt.
    fn informed_side(&self, nominal_dt: f64) -> Option<Side> {
        let r = self.log_return(self.next, nominal_dt);
        if r > 0.0 {
            Some(Side::Buy)
        } else if r < 0.0 {
            Some(Side::Sell)
        } else {
            None
        }
    }

    fn place(
        &self,
        books: &mut dyn MarketAccess,
        role: Role,
        order: &PlaceOrder,
        report: &mut StepReport,
    ) {
        let outcome = books.place(self.id(), order);
        let informed = role == Role::InformedTaker;
        if let Ok(result) = &outcome {
            report
                .fills
                .extend(result.fills.iter().map(|fill| MarketFill {
                    market: self.id(),
                    informed,
                    fill: *fill,
                }));
        }
        report.actions.push(Action::Place {
            market: self.id(),
            role,
            account: order.account,
            side: order.side,
            lots: order.lots,
            price: order.price,
            outcome: outcome.map(|r| Placed {
                order_id: r.order_id,
                filled: r.filled(),
                rested: r.rested,
            }),
        });
    }

    /// LPs keep their quotes or re-quote around the fair mid.
    fn refresh_liquidity(
        &mut self,
        cfg: &LiquidityConfig,
        now: Timestamp,
        books: &mut dyn MarketAccess,
        report: &mut StepReport,
    ) {
        let id = self.id();
        let mid = self.mid_ticks();
        for i in 0..self.lps.len() {
            let Some(lp) = self.lps.get(i).copied() else {
                continue;
            };
            let roll = chance(&mut self.rng, cfg.refresh_probability);
            let resting = books.resting_orders(id, lp);
            let quoting = |side| {
                resting
                    .iter()
                    .any(|o| decode_order_id(*o).1.is_some_and(|(s, _)| s == side))
            };
            if !roll && quoting(Side::Buy) && quoting(Side::Sell) {
                continue;
            }
            for order_id in resting {
                let outcome = books.cancel(id, lp, order_id).map(|c| c.order.lots);
                report.actions.push(Action::Cancel {
                    market: id,
                    account: lp,
                    order_id,
                    outcome,
                });
            }
            let distance = self.rng.random_range(
                cfg.distance_ticks_min.min(cfg.distance_ticks_max)..=cfg.distance_ticks_max,
            ) as f64;
            for level in 0..cfg.levels {
                let offset = distance + f64::from(level) * cfg.level_spacing_ticks as f64;
                for side in [Side::Buy, Side::Sell] {
                    let lots = draw_lots(&mut self.rng, &self.spec, cfg.size_min, cfg.size_max);
                    // Bids round down, asks round up; a quote that would cross the book (a
                    // stale quote of another account on the far side) is skipped: LPs are
                    // passive.
                    let price = match side {
                        Side::Buy => bid_ticks(mid - offset)
                            .filter(|p| books.best_ask(id).is_none_or(|a| *p < a.price)),
                        Side::Sell => ask_ticks(mid + offset)
                            .filter(|p| books.best_bid(id).is_none_or(|b| *p > b.price)),
                    };
                    let Some(price) = price else {
                        continue;
                    };
                    let order = PlaceOrder {
                        time: now,
                        ..PlaceOrder::limit(lp, side, lots, price)
                            .with_restriction(Restriction::PostOnly)
                            .with_leverage(self.leverage)
                    };
                    self.place(books, Role::LiquidityProvider, &order, report);
                }
            }
        }
    }

    /// `λ(δ)` of a taker on `side` against the current book (0 with nothing to hit).
    fn intensity(&self, cfg: &TakerConfig, books: &dyn MarketAccess, side: Side) -> f64 {
        let mid = self.mid_ticks();
        let id = self.id();
        let delta = match side {
            Side::Buy => books.best_ask(id).map(|a| a.price.0 as f64 - mid),
            Side::Sell => books.best_bid(id).map(|b| mid - b.price.0 as f64),
        };
        match delta {
            Some(d) => cfg.intensity * (-cfg.decay_per_tick * d.max(0.0)).exp(),
            None => 0.0,
        }
    }

    /// Taker arrivals over `dt` seconds: competing exponential clocks, rates recomputed after
    /// every arrival.
    fn run_takers(
        &mut self,
        cfg: &TakerConfig,
        now: Timestamp,
        dt: f64,
        nominal_dt: f64,
        books: &mut dyn MarketAccess,
        report: &mut StepReport,
    ) {
        let id = self.id();
        let informed_side = self.informed_side(nominal_dt);
        let f = cfg.informed_fraction;
        let mut t = 0.0;
        for _ in 0..MAX_ARRIVALS_PER_STEP {
            let buy = self.intensity(cfg, &*books, Side::Buy);
            let sell = self.intensity(cfg, &*books, Side::Sell);
            let informed = informed_side.map_or(0.0, |s| match s {
                Side::Buy => buy,
                Side::Sell => sell,
            });
            let (buy_rate, sell_rate) = ((1.0 - f) * buy, (1.0 - f) * sell);
            let total = buy_rate + sell_rate + f * informed;
            if !(total.is_finite() && total > 0.0) {
                break;
            }
            let wait: f64 = Exp1.sample(&mut self.rng);
            t += wait / total;
            if t > dt {
                break;
            }
            let u = self.rng.random::<f64>() * total;
            let (side, role) = if u < buy_rate {
                (Side::Buy, Role::Taker)
            } else if u < buy_rate + sell_rate {
                (Side::Sell, Role::Taker)
            } else {
                match informed_side {
                    Some(s) => (s, Role::InformedTaker),
                    None => break,
                }
            };
            let pool = match role {
                Role::InformedTaker => &self.informed,
                _ => &self.takers,
            };
            let Some(account) = pick(&mut self.rng, pool) else {
                break;
            };
            let wanted = draw_lots(&mut self.rng, &self.spec, cfg.size_min, cfg.size_max);
            // Never more than rests on the other side, so the market order does not abort.
            let (bids, asks) = books.depth(id, MAX_WALK_LEVELS);
            let resting: u64 = match side {
                Side::Buy => asks.iter().map(|l| l.lots.0).sum(),
                Side::Sell => bids.iter().map(|l| l.lots.0).sum(),
            };
            let lots = Lots(wanted.0.min(resting));
            if lots.0 < self.spec.min_lots.max(1) {
                continue;
            }
            let order = PlaceOrder {
                time: now,
                ..PlaceOrder::market(account, side, lots).with_leverage(self.leverage)
            };
            self.place(books, role, &order, report);
        }
    }
}

/// The seeded synthetic market over a set of markets. See the module docs.
#[derive(Debug, Clone)]
pub struct SyntheticMarket {
    config: SyntheticConfig,
    markets: Vec<MarketState>,
    accounts: Vec<SyntheticAccount>,
    last: Option<Timestamp>,
}

impl SyntheticMarket {
    /// A synthetic market trading each of `specs` (in id order). Refuses an invalid config (the
    /// message names the key under `sim.market`), an invalid or duplicate spec, a market with no
    /// start price, or a start price too low for the LPs' depth or too high for the book.
    pub fn new(config: SyntheticConfig, specs: &[MarketSpec]) -> Result<SyntheticMarket, String> {
        const PREFIX: &str = "sim.market";
        config.validate(PREFIX)?;
        let mut sorted: Vec<&MarketSpec> = specs.iter().collect();
        sorted.sort_by_key(|s| s.id);
        let mut seen = BTreeSet::new();
        let lp = &config.liquidity;
        // The fair mid never goes below the LPs' deepest level plus a margin, so bids stay ≥ 1.
        let depth = u64::from(lp.levels.saturating_sub(1))
            .saturating_mul(lp.level_spacing_ticks)
            .saturating_add(lp.distance_ticks_max);
        let floor = depth.saturating_add(2) as f64;
        let ceiling = (MAX_PRICE_TICKS / 2) as f64;
        let mut markets = Vec::with_capacity(sorted.len());
        let mut accounts = Vec::new();
        for spec in sorted {
            spec.validate()?;
            if !seen.insert(spec.id) {
                return Err(format!("market {} is listed twice", spec.id));
            }
            let over = config.market(spec.id);
            let key = format!("{PREFIX}.markets.{}.start_price", spec.id);
            let start = over
                .start_price
                .or_else(|| default_start_price(spec.id))
                .ok_or_else(|| format!("{key} is required (no built-in price for this market)"))?;
            let ticks = spec
                .price_to_ticks(start, Rounding::Down)
                .map_err(|e| format!("{key}: {e}"))?;
            let mid = ticks.0 as f64;
            if mid <= floor || mid > ceiling {
                return Err(format!(
                    "{key}: {start} is {} ticks, outside {floor}..={ceiling} \
                     (above the LPs' depth, within the book's price limit)",
                    ticks.0
                ));
            }
            let (annual, per_second) =
                if over.volatility_annual.is_some() || over.volatility_per_second.is_some() {
                    (over.volatility_annual, over.volatility_per_second)
                } else {
                    (
                        config.price.volatility_annual,
                        config.price.volatility_per_second,
                    )
                };
            let sigma = match (annual, per_second) {
                (_, Some(s)) => s,
                (Some(a), None) => a / SECONDS_PER_YEAR.sqrt(),
                (None, None) => DEFAULT_VOLATILITY_ANNUAL / SECONDS_PER_YEAR.sqrt(),
            };
            let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
            rng.set_stream(spec.id.0);
            let make = |role: Role, n: u32| -> Vec<SyntheticAccount> {
                (0..n)
                    .map(|i| synthetic_account(config.seed, spec.id, role, i))
                    .collect()
            };
            let lps = make(Role::LiquidityProvider, lp.count);
            let takers = make(Role::Taker, config.takers.count);
            let informed = make(Role::InformedTaker, config.takers.count);
            let profiles = |a: &[SyntheticAccount]| a.iter().map(|a| a.profile).collect();
            let mut state = MarketState {
                leverage: config.leverage.min(spec.max_leverage).max(1),
                rng,
                log_mid: mid.ln(),
                log_floor: floor.ln(),
                log_ceiling: ceiling.ln(),
                sigma,
                jump_probability: over
                    .jump_probability
                    .unwrap_or(config.price.jump_probability),
                jump_size: over.jump_size.unwrap_or(config.price.jump_size),
                next: Shock { z: 0.0, jump: 0.0 },
                lps: profiles(&lps),
                takers: profiles(&takers),
                informed: profiles(&informed),
                spec: spec.clone(),
            };
            state.next = state.draw_shock();
            accounts.extend(lps);
            accounts.extend(takers);
            accounts.extend(informed);
            markets.push(state);
        }
        Ok(SyntheticMarket {
            config,
            markets,
            accounts,
            last: None,
        })
    }

    /// The settings.
    pub fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The markets traded, in id order.
    pub fn markets(&self) -> Vec<MarketId> {
        self.markets.iter().map(|m| m.id()).collect()
    }

    /// Every synthetic account, by market (id order), then LPs, takers, informed takers.
    pub fn accounts(&self) -> &[SyntheticAccount] {
        &self.accounts
    }

    /// Deposit `account_collateral` for every synthetic wallet into `ledger` (in the ledger's
    /// collateral decimals, rounded down, saturating at `u64::MAX` sub-units). Call once; it
    /// adds, like any deposit. Returns the profiles funded.
    pub fn fund(&self, ledger: &mut Ledger) -> Vec<AccountAddress> {
        let scale = Decimal::from(10u64.saturating_pow(ledger.config().quote_decimals));
        let sub_units = self
            .config
            .account_collateral
            .checked_mul(scale)
            .and_then(|d| d.trunc().to_u64())
            .unwrap_or(u64::MAX);
        self.accounts
            .iter()
            .map(|a| ledger.deposit(a.wallet, sub_units))
            .collect()
    }

    /// The hidden fair mid of `market`, rounded to the nearest tick.
    pub fn fair_mid(&self, market: MarketId) -> Option<Ticks> {
        self.state(market).map(MarketState::fair_mid)
    }

    /// The hidden fair mid of `market` in quote per coin (the nearest tick).
    pub fn fair_mid_price(&self, market: MarketId) -> Option<Decimal> {
        let state = self.state(market)?;
        Some(state.spec.ticks_to_price(state.fair_mid()))
    }

    /// When the next step is due: the last step's `now` plus `step_ms` (`None` before the first).
    pub fn next_step_at(&self) -> Option<Timestamp> {
        self.last
            .map(|t| Timestamp(t.0.saturating_add(self.config.step_ms.saturating_mul(1_000_000))))
    }

    /// Advance every market to `now`: move the fair mid over the time since the previous step
    /// (`step_ms` for the first; capped at [`MAX_STEP_MS`]), let the LPs re-quote, and run the
    /// takers that arrive in that time. A `now` not after the previous one does nothing.
    pub fn step(&mut self, now: Timestamp, books: &mut dyn MarketAccess) -> StepReport {
        let elapsed_ns = match self.last {
            None => self.config.step_ms.saturating_mul(1_000_000),
            Some(last) => now.0.saturating_sub(last.0),
        };
        let mut report = StepReport {
            at: now,
            ..StepReport::default()
        };
        if elapsed_ns == 0 {
            return report;
        }
        self.last = Some(now);
        report.elapsed_ns = elapsed_ns;
        let dt = elapsed_ns.min(MAX_STEP_MS.saturating_mul(1_000_000)) as f64 / 1e9;
        let nominal_dt = self.config.step_ms as f64 / 1e3;
        let config = &self.config;
        for market in &mut self.markets {
            market.evolve(dt);
            market.refresh_liquidity(&config.liquidity, now, books, &mut report);
            market.run_takers(&config.takers, now, dt, nominal_dt, books, &mut report);
            report.fair_mids.push((market.id(), market.fair_mid()));
        }
        report
    }

    fn state(&self, market: MarketId) -> Option<&MarketState> {
        self.markets.iter().find(|m| m.id() == market)
    }
}

#[cfg(test)]
mod tests;
