//! Where a run's PnL came from and how the strategy traded: the numbers a market maker is
//! judged by, kept by the engine from the events it applies.
//!
//! The PnL splits into
//! - **spread capture**: for every fill, the distance of its price from the mid at that moment,
//!   times its size — what quoting earned before the market moved;
//! - **inventory PnL**: the position held times every later change of the mid — what holding
//!   inventory earned or lost;
//! - **fees** paid on fills, and **funding** paid or received on the position.
//!
//! `spread + inventory − fees + funding` is the total. The tracker also keeps cash and position
//! separately, so [`Performance::marked_to_mid`] (`cash + position·mid − fees + funding`) is a
//! second, independent computation of the same total: the two agree exactly when the books are
//! kept right, which the tests check.
//!
//! Funding on Kana is an assumption (\[INF\], reference §9.3: formula and interval unknown): every
//! `live_funding_rate` record after the first one of a market is taken as one settlement of that
//! rate on the position at the mid (positive rate: longs pay).

use litemap::LiteMap;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::state::State;
use perpbot_model::{Event, Liquidity, MarketId, Side, Timestamp};

/// One market's share of the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MarketPerformance {
    /// Market id.
    pub market: MarketId,
    /// Market name.
    pub name: String,
    /// Fill price versus the mid at the fill, times size (quote).
    pub spread_capture: Decimal,
    /// Position times mid changes (quote).
    pub inventory_pnl: Decimal,
    /// Fees paid (quote).
    pub fees: Decimal,
    /// Funding received (positive) or paid (negative), estimated (quote).
    pub funding: Decimal,
    pub maker_fills: u64,
    pub taker_fills: u64,
    /// Base coins traded.
    pub volume: Decimal,
    /// Time-weighted average |position| (base coins).
    pub avg_abs_inventory: Decimal,
    /// Largest |position| seen (base coins).
    pub max_abs_inventory: Decimal,
    /// Net position at the end (base coins, signed).
    pub final_position: Decimal,
    /// Last mid seen.
    pub last_mid: Option<Decimal>,
    /// Cash from fills: −Σ signed size·price (quote).
    pub cash: Decimal,
}

impl MarketPerformance {
    /// `spread + inventory − fees + funding`.
    pub fn total(&self) -> Decimal {
        self.spread_capture + self.inventory_pnl - self.fees + self.funding
    }
}

/// The whole run's performance.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Performance {
    /// Sum of the markets' spread capture.
    pub spread_capture: Decimal,
    /// Sum of the markets' inventory PnL.
    pub inventory_pnl: Decimal,
    /// Fees paid.
    pub fees: Decimal,
    /// Funding (estimated).
    pub funding: Decimal,
    /// `spread_capture + inventory_pnl − fees + funding`.
    pub total_pnl: Decimal,
    /// Largest drop of the total PnL from an earlier peak (quote).
    pub max_drawdown: Decimal,
    /// Seconds from the first to the last event.
    pub duration_secs: f64,
    /// Per market.
    pub markets: Vec<MarketPerformance>,
}

impl Performance {
    /// The same total computed from cash and position: `Σ cash + position·mid − fees + funding`.
    pub fn marked_to_mid(&self) -> Decimal {
        self.markets
            .iter()
            .map(|m| {
                m.cash + m.final_position * m.last_mid.unwrap_or_default() - m.fees + m.funding
            })
            .sum()
    }
}

#[derive(Debug, Clone)]
struct Ledger {
    perf: MarketPerformance,
    position: Decimal,
    since: Option<Timestamp>,
    /// Σ |position| · dt with dt in nanoseconds (divided once, in the report).
    abs_inventory_nanos: Decimal,
    seen_funding: Option<Timestamp>,
}

impl Ledger {
    fn new(market: MarketId, name: String) -> Ledger {
        Ledger {
            perf: MarketPerformance {
                market,
                name,
                spread_capture: Decimal::ZERO,
                inventory_pnl: Decimal::ZERO,
                fees: Decimal::ZERO,
                funding: Decimal::ZERO,
                maker_fills: 0,
                taker_fills: 0,
                volume: Decimal::ZERO,
                avg_abs_inventory: Decimal::ZERO,
                max_abs_inventory: Decimal::ZERO,
                final_position: Decimal::ZERO,
                last_mid: None,
                cash: Decimal::ZERO,
            },
            position: Decimal::ZERO,
            since: None,
            abs_inventory_nanos: Decimal::ZERO,
            seen_funding: None,
        }
    }

    /// Accumulate |position|·dt up to `now`.
    fn advance(&mut self, now: Timestamp) {
        self.abs_inventory_nanos = self.abs_inventory_until(now);
        self.since = Some(now);
    }

    /// Σ |position|·dt (ns) up to `now`, counting the position held since the last fill.
    fn abs_inventory_until(&self, now: Timestamp) -> Decimal {
        match self.since {
            Some(since) if now > since && !self.position.is_zero() => {
                self.abs_inventory_nanos + self.position.abs() * Decimal::from(now.0 - since.0)
            }
            _ => self.abs_inventory_nanos,
        }
    }

    fn mark(&mut self, mid: Decimal) {
        if let Some(old) = self.perf.last_mid {
            self.perf.inventory_pnl += self.position * (mid - old);
        }
        self.perf.last_mid = Some(mid);
    }
}

/// Keeps [`Performance`] from the events the engine applies.
#[derive(Debug, Clone, Default)]
pub struct PerformanceTracker {
    /// By market (a sorted vector: a few markets, looked up on every event).
    ledgers: LiteMap<MarketId, Ledger>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    peak: Decimal,
    max_drawdown: Decimal,
    /// The state's PnL version when a book last had its mid compared: a book event at the same
    /// version moved no mid (the state bumps the version when one moves), so it is skipped.
    mids_seen_at: Option<u64>,
}

impl PerformanceTracker {
    /// A tracker with nothing seen.
    pub fn new() -> PerformanceTracker {
        PerformanceTracker::default()
    }

    /// Account for `event`, which the state has just applied (call it only for events the state
    /// accepted, so a duplicate fill is not counted twice).
    pub fn observe(&mut self, event: &Event, state: &State) {
        let now = state.now();
        self.first.get_or_insert(now);
        self.last = Some(now);
        let is_book = matches!(event, Event::Book(_) | Event::BestPrice(_));
        if is_book && self.mids_seen_at == Some(state.pnl_version()) {
            return;
        }
        let Some(market) = event.market() else {
            return;
        };
        let Some(spec) = state.spec(market) else {
            return;
        };
        let ledger = self
            .ledgers
            .entry(market)
            .or_insert_with(|| Ledger::new(market, spec.name.clone()));
        match event {
            Event::Book(_) | Event::BestPrice(_) => {
                self.mids_seen_at = Some(state.pnl_version());
                match state.mid_price(market) {
                    // Most book updates leave the mid where it was: nothing to mark or total.
                    Some(mid) if ledger.perf.last_mid != Some(mid) => ledger.mark(mid),
                    _ => return,
                }
            }
            Event::Fill(f) => {
                // The position held so far counts up to now; from here on, the new one.
                ledger.advance(now);
                let size = spec.lots_to_size(f.lots);
                let price = spec.ticks_to_price(f.price);
                let signed = match f.side {
                    Side::Buy => size,
                    Side::Sell => -size,
                };
                let mid = ledger.perf.last_mid.unwrap_or(price);
                let p = &mut ledger.perf;
                p.spread_capture += (mid - price) * signed;
                p.cash -= price * signed;
                p.fees += f.fee;
                p.volume += size;
                match f.liquidity {
                    Liquidity::Maker => p.maker_fills += 1,
                    Liquidity::Taker => p.taker_fills += 1,
                }
                if p.last_mid.is_none() {
                    p.last_mid = Some(price);
                }
                ledger.position += signed;
                p.max_abs_inventory = p.max_abs_inventory.max(ledger.position.abs());
            }
            Event::Funding(f) => {
                let settles = ledger.seen_funding.is_some_and(|t| f.ts > t);
                if ledger.seen_funding.is_none_or(|t| f.ts > t) {
                    ledger.seen_funding = Some(f.ts);
                }
                if settles && let Some(mid) = ledger.perf.last_mid {
                    ledger.perf.funding -= f.rate * ledger.position * mid;
                }
            }
            _ => return,
        }
        let total: Decimal = self.ledgers.values().map(|l| l.perf.total()).sum();
        self.peak = self.peak.max(total);
        self.max_drawdown = self.max_drawdown.max(self.peak - total);
    }

    /// The report so far.
    pub fn performance(&self) -> Performance {
        let mut out = Performance {
            max_drawdown: self.max_drawdown,
            duration_secs: match (self.first, self.last) {
                (Some(a), Some(b)) => b.since(a).as_secs_f64(),
                _ => 0.0,
            },
            ..Performance::default()
        };
        for ledger in self.ledgers.values() {
            let mut m = ledger.perf.clone();
            m.final_position = ledger.position;
            if let (Some(a), Some(b)) = (self.first, self.last)
                && b > a
            {
                let span = Decimal::from(b.0 - a.0);
                m.avg_abs_inventory = (ledger.abs_inventory_until(b) / span).round_dp(8);
            }
            out.spread_capture += m.spread_capture;
            out.inventory_pnl += m.inventory_pnl;
            out.fees += m.fees;
            out.funding += m.funding;
            out.markets.push(m);
        }
        out.total_pnl = out.spread_capture + out.inventory_pnl - out.fees + out.funding;
        out
    }
}

#[cfg(test)]
mod tests;
