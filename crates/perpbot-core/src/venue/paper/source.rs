//! Book sources: where the paper venue's market data comes from.
//!
//! A [`BookSource`] is a plain iterator of timed [`SourceStep`]s — book snapshots, book deltas and
//! public trades — so the paper venue can run on a script ([`ScriptedSource`], for tests), on a
//! seeded synthetic market ([`RandomWalkSource`], the default) or on anything else a user plugs
//! in (a recorded session, a live feed bridged into steps).
//!
//! ```
//! use std::time::Duration;
//! use perpbot_model::{Level, MarketId};
//! use perpbot_core::venue::paper::{BookSource, ScriptedSource, SourceEvent, SourceStep};
//!
//! let mut source = ScriptedSource::new(vec![SourceStep {
//!     after: Duration::ZERO,
//!     event: SourceEvent::snapshot(
//!         MarketId(1338),
//!         vec![Level::new(5000, 1000)],
//!         vec![Level::new(5002, 1000)],
//!     ),
//! }]);
//! assert!(source.next().is_some());
//! assert!(source.next().is_none(), "exhausted: the venue keeps serving the last book");
//! ```

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Poisson, StandardNormal};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use perpbot_model::{Level, Lots, MarketId, MarketSpec, Rounding, Side, Ticks};

/// A stream of market data for the paper venue. `next` is called by the venue's task whenever
/// the previous step has been applied; it must not block.
pub trait BookSource: Send + 'static {
    /// The next step, or `None` when the source is exhausted (the venue keeps running and serves
    /// requests against the last book it saw).
    fn next(&mut self) -> Option<SourceStep>;
}

/// One timed piece of market data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceStep {
    /// Delay after the previous step (after connecting, for the first one).
    pub after: Duration,
    /// What happens.
    pub event: SourceEvent,
}

/// Market data a source produces.
///
/// Deltas and trades, nearly all of any stream, are 32 bytes; the rare snapshot is boxed so as
/// not to make every one of them its size (56 bytes unboxed): a backtest over data in memory
/// reads 40 bytes per timed event instead of 64 (BENCHMARKS.md, SBS-3, fourteenth session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceEvent {
    /// The whole book of a market (build one with [`SourceEvent::snapshot`]).
    Snapshot(Box<SourceSnapshot>),
    /// The size at one price changed (`lots == 0` removes the level).
    Delta {
        market: MarketId,
        /// Book side of the level.
        side: Side,
        /// Price of the level.
        price: Ticks,
        /// New total size at that price.
        lots: Lots,
    },
    /// A public trade.
    Trade {
        market: MarketId,
        /// Trade price.
        price: Ticks,
        /// Trade size.
        lots: Lots,
        /// The taker's side (a `Buy` aggressor lifts asks).
        aggressor: Side,
    },
}

// A variant that grows past 32 bytes makes every delta and trade that size (the enum's doc).
const _: () = assert!(std::mem::size_of::<SourceEvent>() <= 32);

/// The whole book of a market, levels in any order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceSnapshot {
    /// Its market.
    pub market: MarketId,
    /// Bid levels.
    pub bids: Vec<Level>,
    /// Ask levels.
    pub asks: Vec<Level>,
}

impl SourceEvent {
    /// A snapshot of `market`'s whole book.
    pub fn snapshot(market: MarketId, bids: Vec<Level>, asks: Vec<Level>) -> SourceEvent {
        SourceEvent::Snapshot(Box::new(SourceSnapshot { market, bids, asks }))
    }

    /// The market the event concerns.
    pub fn market(&self) -> MarketId {
        match self {
            SourceEvent::Snapshot(s) => s.market,
            SourceEvent::Delta { market, .. } | SourceEvent::Trade { market, .. } => *market,
        }
    }
}

/// The market data a venue event carries, as the paper exchange takes it, appended to `out`: a
/// book snapshot as one snapshot, a delta as one step per level, a public trade as a trade.
/// Anything else carries none. A trade without an aggressor side (Kana's records name none
/// \[INF\]) gets one from the mid: at or above it, a buyer lifted an ask. `mid_x2` gives twice a
/// market's mid; returns `true` when a side was inferred.
pub fn market_data_of(
    event: &perpbot_model::Event,
    mid_x2: impl Fn(MarketId) -> Option<u64>,
    out: &mut Vec<SourceEvent>,
) -> bool {
    use perpbot_model::{BookUpdateKind, Event};
    match event {
        Event::Book(b) => {
            match b.kind {
                BookUpdateKind::Snapshot => out.push(SourceEvent::snapshot(
                    b.market,
                    b.bids.clone(),
                    b.asks.clone(),
                )),
                BookUpdateKind::Delta => {
                    for (side, levels) in [(Side::Buy, &b.bids), (Side::Sell, &b.asks)] {
                        out.extend(levels.iter().map(|l| SourceEvent::Delta {
                            market: b.market,
                            side,
                            price: l.price,
                            lots: l.lots,
                        }));
                    }
                }
            }
            false
        }
        Event::Trade(t) => {
            let (aggressor, inferred) = match t.aggressor {
                Some(side) => (side, false),
                None => {
                    let above = mid_x2(t.market)
                        .is_some_and(|m| u128::from(t.price.0) * 2 >= u128::from(m));
                    (if above { Side::Buy } else { Side::Sell }, true)
                }
            };
            out.push(SourceEvent::Trade {
                market: t.market,
                price: t.price,
                lots: t.lots,
                aggressor,
            });
            inferred
        }
        _ => false,
    }
}

/// A fixed list of steps, played once: for tests and replays.
#[derive(Debug, Clone, Default)]
pub struct ScriptedSource {
    steps: VecDeque<SourceStep>,
}

impl ScriptedSource {
    /// Play `steps` in order.
    pub fn new(steps: Vec<SourceStep>) -> ScriptedSource {
        ScriptedSource {
            steps: steps.into(),
        }
    }
}

impl BookSource for ScriptedSource {
    fn next(&mut self) -> Option<SourceStep> {
        self.steps.pop_front()
    }
}

/// Settings of the synthetic market (`[venue.paper.source]`). Every field has a default, so an
/// empty table is a working market around 5.5 quote per coin (APT-like).
///
/// Prices start at `start_prices["<market id>"]` when given, else at `start_price`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RandomWalkConfig {
    /// RNG seed; the same seed and markets give the same market data (default 1).
    pub seed: u64,
    /// Time between book snapshots, in milliseconds (default 250).
    pub step_ms: u64,
    /// Starting price (quote per coin) of markets not in `start_prices` (default 5.5).
    pub start_price: Decimal,
    /// Starting price per market, keyed by market id as a string, e.g. `"1338" = "5.5"`
    /// (default empty).
    pub start_prices: BTreeMap<String, Decimal>,
    /// Standard deviation of the mid's move per step, in ticks (default 2).
    pub volatility_ticks: f64,
    /// Probability per step of an extra jump (default 0.01).
    pub jump_probability: f64,
    /// Size of a jump in ticks, up or down with equal chance (default 25).
    pub jump_ticks: u64,
    /// Levels per book side (default 10).
    pub levels: u32,
    /// Distance from the mid to the best bid and best ask, in ticks (default 2).
    pub half_spread_ticks: u64,
    /// Smallest level size, in multiples of the market's `min_lots` (default 1).
    pub level_lots_min: u64,
    /// Largest level size, in multiples of the market's `min_lots` (default 20).
    pub level_lots_max: u64,
    /// Mean number of public trades per market per step (Poisson; default 0.5).
    pub trades_per_step: f64,
    /// Largest public trade, in multiples of `min_lots` (default 10).
    pub trade_lots_max: u64,
}

impl Default for RandomWalkConfig {
    fn default() -> RandomWalkConfig {
        RandomWalkConfig {
            seed: 1,
            step_ms: 250,
            start_price: Decimal::new(55, 1),
            start_prices: BTreeMap::new(),
            volatility_ticks: 2.0,
            jump_probability: 0.01,
            jump_ticks: 25,
            levels: 10,
            half_spread_ticks: 2,
            level_lots_min: 1,
            level_lots_max: 20,
            trades_per_step: 0.5,
            trade_lots_max: 10,
        }
    }
}

/// Most trades generated for one market in one step (guards against absurd means).
const MAX_TRADES_PER_STEP: u64 = 1_000;

impl RandomWalkConfig {
    /// Check the settings; the message names the key under `prefix` (e.g. `venue.paper.source`).
    pub fn validate(&self, prefix: &str) -> Result<(), String> {
        let bad = |key: &str, why: &str| Err(format!("{prefix}.{key} {why}"));
        if self.step_ms == 0 {
            return bad("step_ms", "must be at least 1");
        }
        if self.start_price <= Decimal::ZERO {
            return bad("start_price", "must be positive");
        }
        for (market, price) in &self.start_prices {
            if market.parse::<u64>().is_err() {
                return bad(
                    &format!("start_prices.{market}"),
                    "must be keyed by a numeric market id",
                );
            }
            if *price <= Decimal::ZERO {
                return bad(&format!("start_prices.{market}"), "must be positive");
            }
        }
        if !(self.volatility_ticks.is_finite() && self.volatility_ticks >= 0.0) {
            return bad("volatility_ticks", "must be a finite number >= 0");
        }
        if !(0.0..=1.0).contains(&self.jump_probability) {
            return bad("jump_probability", "must be within 0..=1");
        }
        if self.levels == 0 {
            return bad("levels", "must be at least 1");
        }
        if self.half_spread_ticks == 0 {
            return bad("half_spread_ticks", "must be at least 1");
        }
        if self.level_lots_min == 0 || self.level_lots_min > self.level_lots_max {
            return bad(
                "level_lots_min",
                "must be at least 1 and not above level_lots_max",
            );
        }
        if !(self.trades_per_step.is_finite()
            && (0.0..=MAX_TRADES_PER_STEP as f64).contains(&self.trades_per_step))
        {
            return bad("trades_per_step", "must be within 0..=1000");
        }
        if self.trade_lots_max == 0 {
            return bad("trade_lots_max", "must be at least 1");
        }
        Ok(())
    }

    /// The starting price for a market.
    fn start_price_for(&self, market: MarketId) -> Decimal {
        self.start_prices
            .get(&market.0.to_string())
            .copied()
            .unwrap_or(self.start_price)
    }
}

/// One market's synthetic state.
#[derive(Debug, Clone)]
struct WalkMarket {
    id: MarketId,
    min_lots: u64,
    mid: u64,
    /// Book of the current step, consumed by trades (best level last on each side).
    bids: Vec<Level>,
    asks: Vec<Level>,
}

/// A seeded synthetic market: per market a mid price (integer ticks) moving by a normal shock
/// with occasional jumps, a fresh book of `levels` levels a side around it every step, and public
/// trades at the best bid or ask at random times within the step. A trade takes its size out of
/// the level it hits (a delta follows it); a trade larger than the level prints in full at that
/// price — the excess stands for liquidity the book does not show, such as paper orders queued
/// there.
#[derive(Debug, Clone)]
pub struct RandomWalkSource {
    config: RandomWalkConfig,
    rng: ChaCha8Rng,
    trades: Option<Poisson<f64>>,
    markets: Vec<WalkMarket>,
    queue: VecDeque<SourceStep>,
    /// Milliseconds of the current step already handed out.
    used_ms: u64,
    started: bool,
}

impl RandomWalkSource {
    /// A synthetic market for each spec, refusing an invalid config (the message names the key)
    /// or a start price that is off the market's scale or not above the book's depth.
    pub fn try_new(
        config: RandomWalkConfig,
        markets: &[MarketSpec],
    ) -> Result<RandomWalkSource, String> {
        const PREFIX: &str = "venue.paper.source";
        config.validate(PREFIX)?;
        let floor = config
            .half_spread_ticks
            .saturating_add(u64::from(config.levels));
        for spec in markets {
            let price = config.start_price_for(spec.id);
            let mid = spec
                .price_to_ticks(price, Rounding::Down)
                .map_err(|e| format!("{PREFIX}.start_price for market {}: {e}", spec.id))?;
            if mid.0 <= floor {
                return Err(format!(
                    "{PREFIX}.start_price for market {}: {price} is {} ticks, not above half_spread_ticks + levels ({floor})",
                    spec.id, mid.0
                ));
            }
        }
        Ok(RandomWalkSource::new(config, markets))
    }

    /// A synthetic market for each spec. Never fails: out-of-range settings are clamped into
    /// range and a start price below the book's depth starts just above it (use
    /// [`RandomWalkSource::try_new`] or [`RandomWalkConfig::validate`] to refuse them instead).
    pub fn new(mut config: RandomWalkConfig, markets: &[MarketSpec]) -> RandomWalkSource {
        config.step_ms = config.step_ms.max(1);
        if !(config.volatility_ticks.is_finite() && config.volatility_ticks >= 0.0) {
            config.volatility_ticks = 0.0;
        }
        config.jump_probability = if config.jump_probability.is_finite() {
            config.jump_probability.clamp(0.0, 1.0)
        } else {
            0.0
        };
        config.levels = config.levels.max(1);
        config.half_spread_ticks = config.half_spread_ticks.max(1);
        config.level_lots_min = config.level_lots_min.max(1);
        config.level_lots_max = config.level_lots_max.max(config.level_lots_min);
        config.trade_lots_max = config.trade_lots_max.max(1);
        let trades = if config.trades_per_step.is_finite() && config.trades_per_step > 0.0 {
            Poisson::new(config.trades_per_step.min(MAX_TRADES_PER_STEP as f64)).ok()
        } else {
            None
        };
        let floor = config
            .half_spread_ticks
            .saturating_add(u64::from(config.levels))
            .saturating_add(1);
        let walk_markets = markets
            .iter()
            .map(|spec| {
                let mid = spec
                    .price_to_ticks(config.start_price_for(spec.id), Rounding::Down)
                    .map_or(floor, |t| t.0);
                WalkMarket {
                    id: spec.id,
                    min_lots: spec.min_lots,
                    mid: mid.max(floor),
                    bids: Vec::new(),
                    asks: Vec::new(),
                }
            })
            .collect();
        RandomWalkSource {
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            trades,
            markets: walk_markets,
            queue: VecDeque::new(),
            used_ms: 0,
            started: false,
        }
    }

    /// Generate one step: a snapshot per market at the step's start, then the step's trades at
    /// sorted random offsets.
    fn generate_step(&mut self) {
        let step_ms = self.config.step_ms;
        // The first snapshot comes at once; later ones a full step after the previous one.
        let first_after = if self.started {
            step_ms.saturating_sub(self.used_ms)
        } else {
            0
        };
        self.started = true;
        self.used_ms = 0;
        let mut timed: Vec<(u64, SourceEvent)> = Vec::new();
        for i in 0..self.markets.len() {
            let snapshot = self.snapshot(i);
            let offset_trades = self.trades(i, step_ms);
            timed.push((0, snapshot));
            timed.extend(offset_trades);
        }
        // Stable: snapshots (offset 0) stay first and a trade's delta stays right after it.
        timed.sort_by_key(|(offset, _)| *offset);
        let mut last = 0u64;
        for (n, (offset, event)) in timed.into_iter().enumerate() {
            let after = if n == 0 {
                first_after
            } else {
                offset.saturating_sub(last)
            };
            last = offset;
            self.queue.push_back(SourceStep {
                after: Duration::from_millis(after),
                event,
            });
        }
        self.used_ms = last;
    }

    /// Move market `i`'s mid and draw its new book.
    fn snapshot(&mut self, i: usize) -> SourceEvent {
        let cfg = &self.config;
        // Saturating float→int conversion; shocks are a few ticks.
        let z: f64 = self.rng.sample(StandardNormal);
        let mut step = (z * cfg.volatility_ticks).round() as i64;
        if self.rng.random_bool(cfg.jump_probability) {
            let jump = i64::try_from(cfg.jump_ticks).unwrap_or(i64::MAX);
            step = step.saturating_add(if self.rng.random_bool(0.5) {
                jump
            } else {
                -jump
            });
        }
        let floor = cfg
            .half_spread_ticks
            .saturating_add(u64::from(cfg.levels))
            .saturating_add(1);
        let (lo, hi, levels, half_spread) = (
            cfg.level_lots_min,
            cfg.level_lots_max,
            cfg.levels,
            cfg.half_spread_ticks,
        );
        let Some(market) = self.markets.get_mut(i) else {
            return SourceEvent::snapshot(MarketId(0), Vec::new(), Vec::new());
        };
        market.mid = market.mid.saturating_add_signed(step).max(floor);
        let rng = &mut self.rng;
        let mut size = || rng.random_range(lo..=hi).saturating_mul(market.min_lots);
        // Stored worst → best so the best level is last.
        market.bids = (0..u64::from(levels))
            .rev()
            .map(|k| Level {
                price: Ticks(market.mid.saturating_sub(half_spread + k)),
                lots: Lots(size()),
            })
            .collect();
        market.asks = (0..u64::from(levels))
            .rev()
            .map(|k| Level {
                price: Ticks(market.mid.saturating_add(half_spread + k)),
                lots: Lots(size()),
            })
            .collect();
        SourceEvent::snapshot(market.id, market.bids.clone(), market.asks.clone())
    }

    /// Market `i`'s public trades for one step, each followed by the delta of the level it hit.
    fn trades(&mut self, i: usize, step_ms: u64) -> Vec<(u64, SourceEvent)> {
        let count = match &self.trades {
            Some(poisson) => (poisson.sample(&mut self.rng) as u64).min(MAX_TRADES_PER_STEP),
            None => 0,
        };
        let mut offsets: Vec<u64> = (0..count)
            .map(|_| self.rng.random_range(0..step_ms))
            .collect();
        offsets.sort_unstable();
        let max_trade = self.config.trade_lots_max;
        let mut out = Vec::with_capacity(offsets.len() * 2);
        for offset in offsets {
            let aggressor = if self.rng.random_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            let multiple = self.rng.random_range(1..=max_trade);
            let Some(market) = self.markets.get_mut(i) else {
                break;
            };
            let lots = multiple.saturating_mul(market.min_lots);
            let book = match aggressor {
                Side::Buy => &mut market.asks,
                Side::Sell => &mut market.bids,
            };
            let Some(best) = book.last_mut() else {
                continue;
            };
            let price = best.price;
            best.lots = best.lots.saturating_sub(Lots(lots));
            let left = best.lots;
            if left.is_zero() {
                book.pop();
            }
            out.push((
                offset,
                SourceEvent::Trade {
                    market: market.id,
                    price,
                    lots: Lots(lots),
                    aggressor,
                },
            ));
            let side = aggressor.opposite();
            out.push((
                offset,
                SourceEvent::Delta {
                    market: market.id,
                    side,
                    price,
                    lots: left,
                },
            ));
        }
        out
    }
}

impl BookSource for RandomWalkSource {
    fn next(&mut self) -> Option<SourceStep> {
        if self.queue.is_empty() {
            self.generate_step();
        }
        self.queue.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn specs() -> Vec<MarketSpec> {
        let apt = MarketSpec::kana_apt_testnet();
        let mut other = apt.clone();
        other.id = MarketId(1339);
        vec![apt, other]
    }

    fn take(seed: u64, n: usize) -> Vec<SourceStep> {
        let cfg = RandomWalkConfig {
            seed,
            trades_per_step: 2.0,
            ..RandomWalkConfig::default()
        };
        let mut s = RandomWalkSource::try_new(cfg, &specs()).unwrap();
        (0..n).map(|_| s.next().unwrap()).collect()
    }

    #[test]
    fn same_seed_same_sequence_different_seed_different() {
        let a = take(7, 1000);
        assert_eq!(a, take(7, 1000));
        assert_ne!(a, take(8, 1000));
        assert!(
            a.iter()
                .any(|s| matches!(s.event, SourceEvent::Trade { .. }))
        );
        assert!(
            a.iter()
                .any(|s| matches!(s.event, SourceEvent::Delta { .. }))
        );
    }

    #[test]
    fn books_are_sane_and_steps_add_up_to_step_ms() {
        let steps = take(3, 2000);
        assert_eq!(steps[0].after, Duration::ZERO, "first book at once");
        let mut snapshots = 0;
        let mut since_first_snapshot = Duration::ZERO;
        for s in &steps {
            if let SourceEvent::Snapshot(snapshot) = &s.event {
                let (market, bids, asks) = (&snapshot.market, &snapshot.bids, &snapshot.asks);
                let best_bid = bids.iter().map(|l| l.price).max().unwrap();
                let best_ask = asks.iter().map(|l| l.price).min().unwrap();
                assert_eq!(best_ask.0 - best_bid.0, 4, "2 × half_spread_ticks");
                assert_eq!((bids.len(), asks.len()), (10, 10));
                assert!(
                    bids.iter()
                        .chain(asks)
                        .all(|l| l.lots.0 >= 500 && l.lots.0 % 500 == 0)
                );
                if *market == MarketId(1338) {
                    snapshots += 1;
                }
            }
            if snapshots > 0 {
                since_first_snapshot += s.after;
            }
        }
        // The elapsed time up to the last snapshot is whole steps.
        assert!(snapshots > 10);
        assert!(since_first_snapshot >= Duration::from_millis(250 * (snapshots - 1)));
    }

    #[test]
    fn start_prices_per_market_and_validation() {
        let mut cfg = RandomWalkConfig::default();
        cfg.start_prices.insert("1339".into(), dec!(7.25));
        cfg.volatility_ticks = 0.0;
        cfg.jump_probability = 0.0;
        let mut s = RandomWalkSource::try_new(cfg.clone(), &specs()).unwrap();
        let mut mids = BTreeMap::new();
        while mids.len() < 2 {
            if let Some(SourceStep {
                event: SourceEvent::Snapshot(snapshot),
                ..
            }) = s.next()
            {
                let max_bid = snapshot.bids.iter().map(|l| l.price.0).max().unwrap();
                mids.insert(snapshot.market, max_bid + 2);
            }
        }
        assert_eq!(mids[&MarketId(1338)], 5500);
        assert_eq!(mids[&MarketId(1339)], 7250);

        let err = RandomWalkConfig {
            step_ms: 0,
            ..cfg.clone()
        }
        .validate("venue.paper.source")
        .unwrap_err();
        assert!(err.contains("venue.paper.source.step_ms"), "{err}");
        let low = RandomWalkConfig {
            start_price: dec!(0.005),
            ..cfg
        };
        let err = RandomWalkSource::try_new(low.clone(), &specs()).unwrap_err();
        assert!(err.contains("start_price"), "{err}");
        // The infallible constructor starts just above the book's depth instead.
        let mut s = RandomWalkSource::new(low, &specs());
        let Some(SourceStep {
            event: SourceEvent::Snapshot(snapshot),
            ..
        }) = s.next()
        else {
            panic!()
        };
        assert_eq!(snapshot.bids.iter().map(|l| l.price.0).min(), Some(2));
    }

    #[test]
    fn scripted_source_plays_in_order() {
        let step = |p| SourceStep {
            after: Duration::from_millis(1),
            event: SourceEvent::Trade {
                market: MarketId(1),
                price: Ticks(p),
                lots: Lots(1),
                aggressor: Side::Buy,
            },
        };
        let mut s = ScriptedSource::new(vec![step(1), step(2)]);
        assert_eq!(s.next(), Some(step(1)));
        assert_eq!(s.next(), Some(step(2)));
        assert_eq!(s.next(), None);
    }
}
