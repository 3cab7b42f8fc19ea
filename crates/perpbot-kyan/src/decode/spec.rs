//! Kyan instruments as perpbot markets: the integer grid (lots, ticks) from Kyan's increments,
//! and exact conversions between Kyan's decimals and that grid.
//!
//! The grid: `base_decimals` = 8 (or finer when a contracts increment needs it), `lot_size` =
//! the contracts increment in base sub-units, `quote_decimals` = 6 (USDC) unless the product of
//! the two increments needs more, and `tick_size` = quote sub-units per tick per lot =
//! price increment × contracts increment × 10^quote_decimals. BTC (contracts 0.0001, price 1):
//! base_decimals 8, lot_size 10_000, tick_size 100 — one lot is 0.0001 BTC, one tick is $1.

use rust_decimal::Decimal;

use perpbot_model::{Lots, MarketId, MarketSpec, Rounding, Ticks};

use crate::config::pair_of;

/// \[ASSUMED\] Kyan has no leverage parameter (portfolio margin): the spec allows 20 so the
/// bot's own leverage-based margin estimate stays usable; Kyan's margin check is the real one.
pub const ASSUMED_MAX_LEVERAGE: u32 = 20;
/// \[ASSUMED\] maintenance margin for the bot's liquidation estimate (Kyan's is a risk matrix).
pub const ASSUMED_MAINTENANCE_BPS: u32 = 500;

/// One configured market and its Kyan instrument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarketEntry {
    /// The bot's market id.
    pub market: MarketId,
    /// Kyan's instrument (`BTC_USDC-PERPETUAL`).
    pub instrument: String,
    /// Its pair (`BTC_USDC`).
    pub pair: String,
    /// The grid.
    pub spec: MarketSpec,
}

fn pow10(n: u32) -> Decimal {
    Decimal::from_i128_with_scale(10i128.pow(n.min(27)), 0)
}

/// Is `d` an integer that fits a u64 (and positive)?
fn as_u64(d: Decimal) -> Option<u64> {
    let n = d.normalize();
    if n.scale() != 0 || n <= Decimal::ZERO {
        return None;
    }
    u64::try_from(n.mantissa()).ok()
}

/// The spec of an instrument from its price and contracts increments.
pub fn market_spec(
    market: MarketId,
    instrument: &str,
    price_increment: Decimal,
    size_increment: Decimal,
) -> Result<MarketSpec, String> {
    if price_increment <= Decimal::ZERO || size_increment <= Decimal::ZERO {
        return Err(format!(
            "{instrument}: increments must be positive (price {price_increment}, contracts {size_increment})"
        ));
    }
    let base_decimals = size_increment.normalize().scale().max(8);
    let lot_size = as_u64(size_increment * pow10(base_decimals))
        .ok_or_else(|| format!("{instrument}: contracts increment {size_increment} has no lot"))?;
    let per_lot = price_increment * size_increment;
    // USDC's 6 decimals, or more when one tick of one lot is finer than a micro-dollar.
    let quote_decimals = per_lot.normalize().scale().max(6);
    let tick_size = as_u64(per_lot * pow10(quote_decimals)).ok_or_else(|| {
        format!("{instrument}: price increment {price_increment} × contracts increment {size_increment} has no integer tick")
    })?;
    let quote_precision = price_increment.normalize().scale();
    let spec = MarketSpec {
        id: market,
        name: instrument.to_string(),
        base_decimals,
        quote_decimals,
        lot_size,
        tick_size,
        min_lots: 1,
        max_lots: 1_000_000_000_000,
        max_leverage: ASSUMED_MAX_LEVERAGE,
        maintenance_margin_bps: ASSUMED_MAINTENANCE_BPS,
        quote_precision,
    };
    spec.validate()?;
    Ok(spec)
}

impl MarketEntry {
    /// An entry from its id, instrument and increments.
    pub fn new(
        market: MarketId,
        instrument: &str,
        price_increment: Decimal,
        size_increment: Decimal,
    ) -> Result<MarketEntry, String> {
        Ok(MarketEntry {
            market,
            instrument: instrument.to_string(),
            pair: pair_of(instrument).to_string(),
            spec: market_spec(market, instrument, price_increment, size_increment)?,
        })
    }

    /// Base units → lots, with the rounding given; `None` when off the grid under `Exact`.
    pub fn lots(&self, size: Decimal, rounding: Rounding) -> Option<Lots> {
        self.spec.size_to_lots(size.abs(), rounding).ok()
    }

    /// Base units → lots exactly, else rounded down with `inexact` set.
    pub fn lots_down(&self, size: Decimal, inexact: &mut bool) -> Option<Lots> {
        match self.lots(size, Rounding::Exact) {
            Some(l) => Some(l),
            None => {
                *inexact = true;
                self.lots(size, Rounding::Down)
            }
        }
    }

    /// A price → ticks exactly, else rounded as given with `inexact` set.
    pub fn ticks(&self, price: Decimal, rounding: Rounding, inexact: &mut bool) -> Option<Ticks> {
        match self.spec.price_to_ticks(price, Rounding::Exact) {
            Ok(t) => Some(t),
            Err(_) => {
                *inexact = true;
                self.spec.price_to_ticks(price, rounding).ok()
            }
        }
    }

    /// USD notional at `price` → lots, rounded **down** (never overstate liquidity); `inexact`
    /// set when the notional is not a whole number of lots. Integer arithmetic on the scaled
    /// values, so a 28-digit rounding of the quotient can never push it over a lot boundary.
    pub fn notional_to_lots(
        &self,
        amount: Decimal,
        price: Decimal,
        inexact: &mut bool,
    ) -> Option<Lots> {
        if price <= Decimal::ZERO || amount < Decimal::ZERO {
            return None;
        }
        // lots = amount / (price × lot_in_coins)
        let per_lot = price.checked_mul(self.spec.lot_in_coins())?;
        let q = amount.checked_div(per_lot)?.floor();
        let mut q = q;
        // Correct a quotient rounded up at the 28th digit.
        while q > Decimal::ZERO && q.checked_mul(per_lot)? > amount {
            q -= Decimal::ONE;
        }
        if q.checked_mul(per_lot)? != amount {
            *inexact = true;
        }
        u64::try_from(q.normalize().mantissa()).ok().map(Lots)
    }

    /// Lots → base units.
    pub fn size(&self, lots: Lots) -> Decimal {
        self.spec.lots_to_size(lots)
    }

    /// Ticks → price.
    pub fn price(&self, ticks: Ticks) -> Decimal {
        self.spec.ticks_to_price(ticks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn btc_and_eth_grids_are_the_documented_ones() {
        let btc =
            MarketEntry::new(MarketId(1), "BTC_USDC-PERPETUAL", dec!(1), dec!(0.0001)).unwrap();
        assert_eq!(
            (
                btc.spec.base_decimals,
                btc.spec.lot_size,
                btc.spec.tick_size
            ),
            (8, 10_000, 100)
        );
        assert_eq!(btc.spec.quote_decimals, 6);
        assert_eq!(btc.pair, "BTC_USDC");
        assert_eq!(btc.price(Ticks(65_000)), dec!(65000));
        assert_eq!(btc.size(Lots(15)), dec!(0.0015));
        let eth =
            MarketEntry::new(MarketId(2), "ETH_USDC-PERPETUAL", dec!(0.1), dec!(0.001)).unwrap();
        let mut inexact = false;
        assert_eq!(
            eth.ticks(dec!(2500.1), Rounding::Exact, &mut inexact),
            Some(Ticks(25_001))
        );
        assert!(!inexact);
        assert_eq!(eth.price(Ticks(25_001)), dec!(2500.1));
    }

    #[test]
    fn notional_converts_to_lots_rounding_down_and_says_so() {
        let btc =
            MarketEntry::new(MarketId(1), "BTC_USDC-PERPETUAL", dec!(1), dec!(0.0001)).unwrap();
        let mut inexact = false;
        // $650 at 65000 = 0.01 BTC = 100 lots exactly.
        assert_eq!(
            btc.notional_to_lots(dec!(650), dec!(65000), &mut inexact),
            Some(Lots(100))
        );
        assert!(!inexact);
        // $651 = 0.0100153… BTC → 100 lots, inexact.
        assert_eq!(
            btc.notional_to_lots(dec!(651), dec!(65000), &mut inexact),
            Some(Lots(100))
        );
        assert!(inexact);
        let mut inexact = false;
        // $6.49 < one lot ($6.50).
        assert_eq!(
            btc.notional_to_lots(dec!(6.49), dec!(65000), &mut inexact),
            Some(Lots(0))
        );
        assert!(inexact);
    }
}
