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

use crate::atto::{self, Round};
use crate::state::State;
use perpbot_model::{Event, Liquidity, Lots, MarketId, MarketSpec, Side, Ticks, Timestamp};

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

/// One market's running books, in integers: sizes in lots, prices in half ticks (a mid may fall
/// on one), money in lot·half-tick units (`lh`: a lot's value moved by half a tick), so a mid
/// move or a fill costs a few integer operations. Fees and funding arrive as decimals and stay
/// so; everything converts to decimals, exactly, when the report is taken.
#[derive(Debug, Clone)]
struct Ledger {
    spec: MarketSpec,
    /// Signed position in lots.
    lots: i128,
    /// Twice the last mid, in ticks.
    mid_x2: Option<u64>,
    /// Σ (mid·2 − price·2) · signed lots over fills (lh).
    spread_lh: i128,
    /// Σ lots · (mid·2 change) (lh).
    inventory_lh: i128,
    /// Σ −price·2 · signed lots (lh).
    cash_lh: i128,
    volume_lots: u128,
    max_abs_lots: u128,
    fees: Decimal,
    funding: Decimal,
    /// Funding less fees in [`atto`] units, for the running total's peak and drawdown.
    funding_less_fees_atto: i128,
    maker_fills: u64,
    taker_fills: u64,
    since: Option<Timestamp>,
    /// Σ |lots| · dt with dt in nanoseconds (divided once, in the report).
    abs_lot_nanos: u128,
    seen_funding: Option<Timestamp>,
}

impl Ledger {
    fn new(spec: &MarketSpec) -> Ledger {
        Ledger {
            spec: spec.clone(),
            lots: 0,
            mid_x2: None,
            spread_lh: 0,
            inventory_lh: 0,
            cash_lh: 0,
            volume_lots: 0,
            max_abs_lots: 0,
            fees: Decimal::ZERO,
            funding: Decimal::ZERO,
            funding_less_fees_atto: 0,
            maker_fills: 0,
            taker_fills: 0,
            since: None,
            abs_lot_nanos: 0,
            seen_funding: None,
        }
    }

    /// Accumulate |position|·dt up to `now`.
    fn advance(&mut self, now: Timestamp) {
        self.abs_lot_nanos = self.abs_lot_nanos_until(now);
        self.since = Some(now);
    }

    /// Σ |lots|·dt (ns) up to `now`, counting the position held since the last fill.
    fn abs_lot_nanos_until(&self, now: Timestamp) -> u128 {
        match self.since {
            Some(since) if now > since && self.lots != 0 => self
                .abs_lot_nanos
                .saturating_add(self.lots.unsigned_abs() * u128::from(now.0 - since.0)),
            _ => self.abs_lot_nanos,
        }
    }

    fn mark(&mut self, mid_x2: u64) {
        if let Some(old) = self.mid_x2 {
            let moved = i128::from(mid_x2) - i128::from(old);
            self.inventory_lh = self
                .inventory_lh
                .saturating_add(self.lots.saturating_mul(moved));
        }
        self.mid_x2 = Some(mid_x2);
    }

    /// Quote value of `lh` lot·half-tick units: `lh · tick_size / 2` sub-units, exactly.
    fn quote(&self, lh: i128) -> Decimal {
        // Halving a decimal is multiplying by 5 at one more decimal place.
        lh.checked_mul(i128::from(self.spec.tick_size))
            .and_then(|v| v.checked_mul(5))
            .and_then(|v| Decimal::try_from_i128_with_scale(v, self.spec.quote_decimals + 1).ok())
            .map(|d| d.normalize())
            .unwrap_or_else(|| {
                // Beyond 96 bits at this scale: the nearest decimal, saturating.
                let edge = if lh < 0 { Decimal::MIN } else { Decimal::MAX };
                Decimal::try_from_i128_with_scale(lh, 0)
                    .ok()
                    .and_then(|v| v.checked_mul(Decimal::from(self.spec.tick_size)))
                    .and_then(|v| v.checked_div(Decimal::TWO))
                    .and_then(|v| v.checked_div(decimal_pow10(self.spec.quote_decimals)))
                    .map_or(edge, |v| v.normalize())
            })
    }

    /// [`Ledger::quote`] in [`atto`] units (rounded down where it is not whole: only for quote
    /// currencies of 18 decimals or more).
    fn atto(&self, lh: i128) -> i128 {
        let qd = self.spec.quote_decimals;
        let tick = i128::from(self.spec.tick_size);
        if qd < atto::SCALE
            && let Some(p) = atto::pow10(atto::SCALE - qd - 1)
        {
            // 10^(18 − qd) / 2 = 5 · 10^(17 − qd): exact, and below 2^59.
            let half = p * 5;
            // The usual case without overflow checks: |lh · tick| below 2^63, times half.
            if let (Ok(l), Ok(t)) = (i64::try_from(lh), i64::try_from(tick))
                && let Ok(x) = i64::try_from(i128::from(l) * i128::from(t))
            {
                return i128::from(x) * half;
            }
            return lh.saturating_mul(tick).saturating_mul(half);
        }
        let p = atto::pow10(qd - atto::SCALE).unwrap_or(i128::MAX);
        atto::div(lh.saturating_mul(tick), p.saturating_mul(2), Round::Down)
    }

    /// This market's PnL in [`atto`] units: spread + inventory − fees + funding.
    fn total_atto(&self) -> i128 {
        self.atto(self.spread_lh.saturating_add(self.inventory_lh))
            .saturating_add(self.funding_less_fees_atto)
    }

    /// The market's share of the report, as of `now` (`span`: the run's duration in ns).
    fn performance(&self, span: Option<u64>, now: Option<Timestamp>) -> MarketPerformance {
        let spec = &self.spec;
        let size = |lots: u128| {
            u64::try_from(lots)
                .map(|l| spec.lots_to_size(Lots(l)))
                .unwrap_or(Decimal::MAX)
        };
        let avg_abs_inventory = match (span, now) {
            (Some(span), Some(now)) if span > 0 => {
                let nanos = self.abs_lot_nanos_until(now);
                nanos
                    .checked_mul(u128::from(spec.lot_size))
                    .and_then(|v| i128::try_from(v).ok())
                    .and_then(|v| Decimal::try_from_i128_with_scale(v, spec.base_decimals).ok())
                    .map_or(Decimal::MAX, |total| {
                        (total / Decimal::from(span)).round_dp(8)
                    })
            }
            _ => Decimal::ZERO,
        };
        MarketPerformance {
            market: spec.id,
            name: spec.name.clone(),
            spread_capture: self.quote(self.spread_lh),
            inventory_pnl: self.quote(self.inventory_lh),
            fees: self.fees,
            funding: self.funding,
            maker_fills: self.maker_fills,
            taker_fills: self.taker_fills,
            volume: size(self.volume_lots),
            avg_abs_inventory,
            max_abs_inventory: size(self.max_abs_lots),
            final_position: spec.signed_size(self.lots),
            last_mid: self.mid_x2.map(|m| spec.mid_price(Ticks(m))),
            cash: self.quote(self.cash_lh),
        }
    }
}

/// `10^n` as a decimal (saturating).
fn decimal_pow10(n: u32) -> Decimal {
    atto::pow10(n)
        .and_then(|p| Decimal::try_from_i128_with_scale(p, 0).ok())
        .unwrap_or(Decimal::MAX)
}

/// Keeps [`Performance`] from the events the engine applies.
#[derive(Debug, Clone, Default)]
pub struct PerformanceTracker {
    /// By market (a sorted vector: a few markets, looked up on every event).
    ledgers: LiteMap<MarketId, Ledger>,
    first: Option<Timestamp>,
    last: Option<Timestamp>,
    /// Highest total PnL so far and the largest fall from a peak, in [`atto`] units.
    peak_atto: i128,
    max_drawdown_atto: i128,
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
            .or_insert_with(|| Ledger::new(spec));
        match event {
            Event::Book(_) | Event::BestPrice(_) => {
                self.mids_seen_at = Some(state.pnl_version());
                match state.book(market).and_then(|b| b.mid_x2()) {
                    // Most book updates leave the mid where it was: nothing to mark or total.
                    Some(mid_x2) if ledger.mid_x2 != Some(mid_x2) => ledger.mark(mid_x2),
                    _ => return,
                }
            }
            Event::Fill(f) => {
                // The position held so far counts up to now; from here on, the new one.
                ledger.advance(now);
                let lots = i128::from(f.lots.0);
                let signed = match f.side {
                    Side::Buy => lots,
                    Side::Sell => -lots,
                };
                let price_x2 = i128::from(f.price.0).saturating_mul(2);
                let mid_x2 = ledger.mid_x2.map_or(price_x2, i128::from);
                ledger.spread_lh = ledger
                    .spread_lh
                    .saturating_add((mid_x2 - price_x2).saturating_mul(signed));
                ledger.cash_lh = ledger
                    .cash_lh
                    .saturating_sub(price_x2.saturating_mul(signed));
                ledger.fees += f.fee;
                ledger.funding_less_fees_atto = ledger
                    .funding_less_fees_atto
                    .saturating_sub(atto::from_decimal(f.fee, Round::Up));
                ledger.volume_lots = ledger.volume_lots.saturating_add(u128::from(f.lots.0));
                match f.liquidity {
                    Liquidity::Maker => ledger.maker_fills += 1,
                    Liquidity::Taker => ledger.taker_fills += 1,
                }
                if ledger.mid_x2.is_none() {
                    ledger.mid_x2 = u64::try_from(price_x2).ok();
                }
                ledger.lots = ledger.lots.saturating_add(signed);
                ledger.max_abs_lots = ledger.max_abs_lots.max(ledger.lots.unsigned_abs());
            }
            Event::Funding(f) => {
                let settles = ledger.seen_funding.is_some_and(|t| f.ts > t);
                if ledger.seen_funding.is_none_or(|t| f.ts > t) {
                    ledger.seen_funding = Some(f.ts);
                }
                if settles && let Some(mid_x2) = ledger.mid_x2 {
                    let position = ledger.spec.signed_size(ledger.lots);
                    let mid = ledger.spec.mid_price(Ticks(mid_x2));
                    let paid = f.rate * position * mid;
                    ledger.funding -= paid;
                    ledger.funding_less_fees_atto = ledger
                        .funding_less_fees_atto
                        .saturating_sub(atto::from_decimal(paid, Round::Up));
                }
            }
            _ => return,
        }
        let total = self
            .ledgers
            .values()
            .fold(0i128, |sum, l| sum.saturating_add(l.total_atto()));
        self.peak_atto = self.peak_atto.max(total);
        self.max_drawdown_atto = self
            .max_drawdown_atto
            .max(self.peak_atto.saturating_sub(total));
    }

    /// The report so far.
    pub fn performance(&self) -> Performance {
        let mut out = Performance {
            max_drawdown: atto::to_decimal(self.max_drawdown_atto),
            duration_secs: match (self.first, self.last) {
                (Some(a), Some(b)) => b.since(a).as_secs_f64(),
                _ => 0.0,
            },
            ..Performance::default()
        };
        let span = match (self.first, self.last) {
            (Some(a), Some(b)) if b > a => Some(b.0 - a.0),
            _ => None,
        };
        for ledger in self.ledgers.values() {
            let m = ledger.performance(span, self.last);
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
