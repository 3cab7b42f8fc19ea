//! The paper account: collateral, realised PnL, fees and isolated-margin positions in hedge mode
//! (one long and one short per market, each with its own leverage, margin and TP/SL).
//!
//! Balances are derived, never accumulated, so they always add up:
//! `available = starting + realised − fees − position margins − reserved order margins` and
//! `total = available + position margins + reserved order margins`.

use std::borrow::Borrow;
use std::cell::Cell;

use litemap::LiteMap;
use rust_decimal::Decimal;

use crate::atto::{self, Round};

use perpbot_model::{
    Direction, Lots, MarketId, MarketSpec, Position, PositionSide, Ticks, Timestamp,
};

/// One open position (never stored flat: a position that reaches zero is removed).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Holding {
    /// Size.
    pub lots: Lots,
    /// Average entry price (quote per coin).
    pub entry_price: Decimal,
    /// Isolated margin posted.
    pub margin: Decimal,
    /// Leverage fixed by the first opening fill.
    pub leverage: u32,
    /// Kana's liquidation estimate (`Position::estimate_liquidation_price`) at `entry_price`
    /// and `leverage`, set by [`Account::apply_fill`] whenever the entry moves (only opening
    /// fills move it; nothing else writes either field). Kept here rather than computed for
    /// every position on every fill's snapshot: two decimal divisions each.
    pub liquidation_estimate: Option<Decimal>,
    /// Take-profit trigger.
    pub take_profit: Option<Ticks>,
    /// Stop-loss trigger.
    pub stop_loss: Option<Ticks>,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What one fill does to the account.
#[derive(Debug, Clone, Copy)]
pub(super) struct AccountFill {
    pub market: MarketId,
    /// Position acted on.
    pub position: PositionSide,
    /// Open or close.
    pub direction: Direction,
    /// Size.
    pub lots: Lots,
    pub price: Ticks,
    /// Leverage of the order (used when the fill opens a flat position).
    pub leverage: u32,
    /// Fee charged.
    pub fee: Decimal,
}

/// Open positions by market and side, in that order: a sorted vector (a few positions, walked
/// by every balance, snapshot and margin check).
pub(super) type Holdings = LiteMap<(MarketId, PositionSide), Holding>;

/// Collateral and positions.
#[derive(Debug, Clone)]
pub(super) struct Account {
    starting: Decimal,
    realized: Decimal,
    fees: Decimal,
    positions: Holdings,
    /// [`Account::total`] and the collateral not posted in positions, kept from one change of
    /// the account to the next: the paper venue asks for the balance after every request and
    /// fill, and summing decimals each time cost more than the request's matching. Emptied by
    /// every method that can change a term (`apply_fill`, `holding_mut`).
    balances: Cell<Option<(Decimal, Decimal)>>,
    /// Moves with every change that may touch the holdings (the same methods that empty
    /// `balances`): equal versions mean equal holdings, so the exchange compares a number
    /// instead of every position (and keeps no copy of them). A refused request's rollback
    /// puts back an earlier copy, version included, and the next change issues again a version
    /// the refused request had used; the exchange never saw that one, since it reads the
    /// version only after a request that succeeded (`PaperExchange::finish`).
    holdings_version: u64,
}

impl Account {
    /// A fresh account holding `starting` collateral and no positions.
    pub fn new(starting: Decimal) -> Account {
        Account {
            starting,
            realized: Decimal::ZERO,
            fees: Decimal::ZERO,
            positions: LiteMap::new(),
            balances: Cell::new(None),
            holdings_version: 0,
        }
    }

    /// See the field: equal versions mean the holdings are as they were.
    pub fn holdings_version(&self) -> u64 {
        self.holdings_version
    }

    /// The open position on one side of a market.
    pub fn holding(&self, market: MarketId, side: PositionSide) -> Option<&Holding> {
        self.positions.get(&(market, side))
    }

    /// The open position on one side of a market, mutably.
    pub fn holding_mut(&mut self, market: MarketId, side: PositionSide) -> Option<&mut Holding> {
        self.balances.set(None);
        self.holdings_version += 1;
        self.positions.get_mut(&(market, side))
    }

    /// Size of a position (zero when flat).
    pub fn lots(&self, market: MarketId, side: PositionSide) -> Lots {
        self.holding(market, side).map_or(Lots::ZERO, |h| h.lots)
    }

    /// All open positions of a market, by side.
    pub fn holdings_in(&self, market: MarketId) -> impl Iterator<Item = (PositionSide, &Holding)> {
        self.positions
            .iter()
            .filter(move |((m, _), _)| *m == market)
            .map(|((_, side), h)| (*side, h))
    }

    /// Margin posted in all positions.
    pub fn position_margin(&self) -> Decimal {
        self.positions.values().map(|h| h.margin).sum()
    }

    /// Free collateral, given the margin reserved by resting opening orders.
    pub fn available(&self, reserved: Decimal) -> Decimal {
        self.balances().1 - reserved
    }

    /// Available plus all margins.
    pub fn total(&self) -> Decimal {
        self.balances().0
    }

    /// Total collateral, and what of it no position holds as margin.
    fn balances(&self) -> (Decimal, Decimal) {
        if let Some(kept) = self.balances.get() {
            return kept;
        }
        let total = self.starting + self.realized - self.fees;
        let balances = (total, total - self.position_margin());
        self.balances.set(Some(balances));
        balances
    }

    /// Realised PnL so far.
    #[cfg(test)]
    pub fn realized(&self) -> Decimal {
        self.realized
    }

    /// Fees paid so far.
    #[cfg(test)]
    pub fn fees(&self) -> Decimal {
        self.fees
    }

    /// Apply one fill: an opening fill averages the entry and posts `notional / leverage`; a
    /// closing fill realises PnL, releases margin pro rata and shrinks the position (clamped to
    /// its size). Returns the realised PnL.
    pub fn apply_fill(&mut self, spec: &MarketSpec, fill: AccountFill, now: Timestamp) -> Decimal {
        self.balances.set(None);
        self.holdings_version += 1;
        self.fees += fill.fee;
        let price = spec.ticks_to_price(fill.price);
        let key = (fill.market, fill.position);
        match fill.direction {
            Direction::Open => {
                let margin = spec.initial_margin(fill.lots, fill.price, fill.leverage);
                let h = self.positions.entry(key).or_insert_with(|| Holding {
                    lots: Lots::ZERO,
                    entry_price: Decimal::ZERO,
                    margin: Decimal::ZERO,
                    leverage: fill.leverage.max(1),
                    liquidation_estimate: None,
                    take_profit: None,
                    stop_loss: None,
                    updated_at: now,
                });
                h.entry_price = average_entry(spec, fill.position, h, price, fill.lots);
                h.lots = Lots(h.lots.0.saturating_add(fill.lots.0));
                h.margin += margin;
                h.updated_at = now;
                h.liquidation_estimate = position_of(fill.market, fill.position, h, spec)
                    .estimate_liquidation_price(spec);
                Decimal::ZERO
            }
            Direction::Close => {
                let Some(h) = self.positions.get_mut(&key) else {
                    return Decimal::ZERO;
                };
                let closed = Lots(fill.lots.0.min(h.lots.0));
                let size = spec.lots_to_size(closed);
                let pnl = match fill.position {
                    PositionSide::Long => (price - h.entry_price) * size,
                    PositionSide::Short => (h.entry_price - price) * size,
                };
                let released = if closed == h.lots {
                    h.margin
                } else {
                    h.margin * Decimal::from(closed.0) / Decimal::from(h.lots.0)
                };
                h.margin -= released;
                h.lots = h.lots.saturating_sub(closed);
                h.updated_at = now;
                if h.lots.is_zero() {
                    self.positions.remove(&key);
                }
                self.realized += pnl;
                pnl
            }
        }
    }

    /// Every open position as the venue reports it.
    pub fn snapshot<S: Borrow<MarketSpec>>(&self, specs: &LiteMap<MarketId, S>) -> Vec<Position> {
        self.positions
            .iter()
            .filter_map(|((market, side), h)| {
                let spec = specs.get(market)?.borrow();
                let mut p = position_of(*market, *side, h, spec);
                p.liquidation_price = h.liquidation_estimate;
                Some(p)
            })
            .collect()
    }
}

/// Decimal places an averaged entry price keeps beyond the market's price precision
/// (`quote_precision`): a millionth of the smallest price step.
const ENTRY_EXTRA_PLACES: u32 = 6;

/// The entry price after `added` lots at `price` join `held`: the size-weighted average,
/// rounded to `quote_precision + 6` places, up for a long and down for a short (towards the
/// lower PnL). A first fill's price is the entry as it is.
///
/// Rounded, because an unrounded average carries `Decimal`'s full 28 digits, and every use
/// of the entry afterwards pays for them (the position's notional, its liquidation estimate,
/// the engine's basis). In integers, because the decimal average (two products, a sum and a
/// division) ran on every opening fill. Together about 2 % of SBS-3, whose quoter's positions
/// only grow, so every fill averages. Each average moves the entry by less than a millionth of
/// a tick. A venue reports its entry at its own precision too (Kana's `entry_price`; how Kana
/// rounds it is not known), and `docs/backtesting.md` lists this among the paper exchange's
/// assumptions.
///
/// In integers at that scale; the decimal average only where they would overflow (absurd
/// prices and sizes).
fn average_entry(
    spec: &MarketSpec,
    side: PositionSide,
    held: &Holding,
    price: Decimal,
    added: Lots,
) -> Decimal {
    if held.lots.is_zero() {
        return price;
    }
    let total = held.lots.0.saturating_add(added.0);
    let round = match side {
        PositionSide::Long => Round::Up,
        PositionSide::Short => Round::Down,
    };
    let places = spec.quote_precision.saturating_add(ENTRY_EXTRA_PLACES);
    let in_integers = || {
        let entry = mantissa_at(held.entry_price, places, round)?;
        let price = mantissa_at(price, places, round)?;
        let sum = entry
            .checked_mul(i128::from(held.lots.0))?
            .checked_add(price.checked_mul(i128::from(added.0))?)?;
        let average = atto::div(sum, i128::from(total), round);
        Decimal::try_from_i128_with_scale(average, places)
            .ok()
            .map(|d| d.normalize())
    };
    in_integers().unwrap_or_else(|| {
        (held.entry_price * Decimal::from(held.lots.0) + price * Decimal::from(added.0))
            / Decimal::from(total)
    })
}

/// `d`'s mantissa at `places` decimal places (rounded as asked when `d` has more), or `None`
/// when it would not fit.
fn mantissa_at(d: Decimal, places: u32, round: Round) -> Option<i128> {
    let scale = d.scale();
    if scale <= places {
        d.mantissa().checked_mul(atto::pow10(places - scale)?)
    } else {
        Some(atto::div(d.mantissa(), atto::pow10(scale - places)?, round))
    }
}

/// A holding as the venue reports it, without the liquidation estimate.
fn position_of(market: MarketId, side: PositionSide, h: &Holding, spec: &MarketSpec) -> Position {
    Position {
        market,
        side,
        lots: h.lots,
        entry_price: h.entry_price,
        margin: h.margin,
        leverage: h.leverage,
        liquidation_price: None,
        take_profit: h.take_profit.map(|t| spec.ticks_to_price(t)),
        stop_loss: h.stop_loss.map(|t| spec.ticks_to_price(t)),
        updated_at: h.updated_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fill(direction: Direction, lots: u64, price: u64) -> AccountFill {
        AccountFill {
            market: MarketId(1338),
            position: PositionSide::Long,
            direction,
            lots: Lots(lots),
            price: Ticks(price),
            leverage: 2,
            fee: Decimal::ZERO,
        }
    }

    #[test]
    fn the_holdings_version_moves_with_every_change_and_not_when_read() {
        let spec = MarketSpec::kana_apt_testnet();
        let mut a = Account::new(dec!(100));
        let mut seen = vec![a.holdings_version()];
        a.apply_fill(&spec, fill(Direction::Open, 1000, 5000), Timestamp(1));
        assert!(!seen.contains(&a.holdings_version()));
        seen.push(a.holdings_version());
        a.apply_fill(&spec, fill(Direction::Close, 500, 6000), Timestamp(2));
        assert!(!seen.contains(&a.holdings_version()));
        seen.push(a.holdings_version());
        // Touching a position mutably (a TP/SL change) counts as a change.
        assert!(a.holding_mut(MarketId(1338), PositionSide::Long).is_some());
        assert!(!seen.contains(&a.holdings_version()));
        // Reading does not.
        let v = a.holdings_version();
        let _ = a.snapshot(&LiteMap::from_iter([(spec.id, spec.clone())]));
        let _ = (a.total(), a.lots(MarketId(1338), PositionSide::Long));
        assert_eq!(a.holdings_version(), v);
    }

    #[test]
    fn the_snapshot_reports_the_liquidation_estimate_of_the_current_entry() {
        let spec = MarketSpec::kana_apt_testnet();
        let specs = LiteMap::from_iter([(spec.id, spec.clone())]);
        let mut a = Account::new(dec!(1000));
        let short = |direction, lots, price| AccountFill {
            position: PositionSide::Short,
            leverage: 5,
            ..fill(direction, lots, price)
        };
        let steps = [
            fill(Direction::Open, 1000, 5000),
            short(Direction::Open, 300, 5100),
            fill(Direction::Open, 700, 5300),
            fill(Direction::Close, 400, 5200),
            short(Direction::Open, 200, 4900),
            short(Direction::Close, 100, 5000),
        ];
        for (i, step) in steps.into_iter().enumerate() {
            a.apply_fill(&spec, step, Timestamp(i as u64));
            // A trigger change after the fill moves nothing the estimate depends on.
            if let Some(h) = a.holding_mut(MarketId(1338), PositionSide::Long) {
                h.take_profit = Some(Ticks(6000 + i as u64));
            }
            let snapshot = a.snapshot(&specs);
            assert_eq!(snapshot.len(), if i == 0 { 1 } else { 2 });
            for p in &snapshot {
                // Computed afresh from what the venue reports, as the snapshot once did.
                let fresh = Position {
                    liquidation_price: None,
                    ..p.clone()
                }
                .estimate_liquidation_price(&spec);
                assert!(fresh.is_some());
                assert_eq!(p.liquidation_price, fresh, "step {i}, {:?}", p.side);
            }
        }
    }

    /// Over a seeded run of opening fills, each side's entry stays on the side of the exact
    /// size-weighted average that lowers PnL (a long's at or above it, a short's at or below),
    /// within one place per averaging fill, at `quote_precision + 6` places.
    #[test]
    fn a_rounded_entry_errs_towards_the_lower_pnl_by_less_than_a_place_per_fill() {
        let spec = MarketSpec::kana_apt_testnet();
        let places = spec.quote_precision + ENTRY_EXTRA_PLACES;
        let unit = Decimal::new(1, places);
        let mut a = Account::new(dec!(1000000000));
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |range: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % range
        };
        // Σ lots · price, Σ lots and the fills per side, exact (prices have 3 places, sizes
        // are small).
        let mut sums = [(Decimal::ZERO, 0u64, 0u64); 2];
        let mut rounded_steps = 0;
        for step in 0..2_000 {
            let side = if next(2) == 0 {
                PositionSide::Long
            } else {
                PositionSide::Short
            };
            let (lots, ticks) = (1 + next(5_000), 4_000 + next(3_000));
            let f = AccountFill {
                position: side,
                ..fill(Direction::Open, lots, ticks)
            };
            a.apply_fill(&spec, f, Timestamp(step));
            let s = &mut sums[usize::from(side == PositionSide::Short)];
            s.0 += spec.ticks_to_price(Ticks(ticks)) * Decimal::from(lots);
            s.1 += lots;
            s.2 += 1;
            let h = a.holding(MarketId(1338), side).unwrap();
            assert_eq!(h.lots, Lots(s.1));
            // entry · size against the exact Σ lots · price, so no division is trusted.
            let held = h.entry_price * Decimal::from(s.1);
            let bound = unit * Decimal::from(s.1) * Decimal::from(s.2);
            match side {
                PositionSide::Long => assert!(held >= s.0 && held - s.0 < bound, "step {step}"),
                PositionSide::Short => assert!(held <= s.0 && s.0 - held < bound, "step {step}"),
            }
            assert!(
                h.entry_price.scale() <= places,
                "step {step}: {}",
                h.entry_price
            );
            if held != s.0 {
                rounded_steps += 1;
            }
        }
        assert!(
            rounded_steps > 1_000,
            "few averages needed rounding: {rounded_steps}"
        );
    }

    #[test]
    fn entry_averages_and_partial_close_releases_pro_rata() {
        let spec = MarketSpec::kana_apt_testnet();
        let mut a = Account::new(dec!(100));
        a.apply_fill(&spec, fill(Direction::Open, 1000, 5000), Timestamp(1));
        a.apply_fill(&spec, fill(Direction::Open, 1000, 6000), Timestamp(2));
        let h = a.holding(MarketId(1338), PositionSide::Long).unwrap();
        assert_eq!(
            (h.lots, h.entry_price, h.margin),
            (Lots(2000), dec!(5.5), dec!(5.5))
        );
        let pnl = a.apply_fill(&spec, fill(Direction::Close, 500, 6500), Timestamp(3));
        assert_eq!(pnl, dec!(0.5));
        let h = a.holding(MarketId(1338), PositionSide::Long).unwrap();
        assert_eq!((h.lots, h.margin), (Lots(1500), dec!(4.125)));
        assert_eq!(
            a.available(Decimal::ZERO) + a.position_margin(),
            dec!(100.5)
        );
        a.apply_fill(&spec, fill(Direction::Close, 5000, 5500), Timestamp(4));
        assert!(
            a.holding(MarketId(1338), PositionSide::Long).is_none(),
            "clamped and removed"
        );
        assert_eq!(a.available(Decimal::ZERO), dec!(100.5));
        assert_eq!((a.realized(), a.fees()), (dec!(0.5), dec!(0)));
    }
}
