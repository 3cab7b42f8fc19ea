//! Markets and exact units: human `Decimal` sizes and prices at the edges, integer lots and ticks
//! inside.
//!
//! Kana Perps (like Econia, whose order book it uses) counts order sizes in **lots** and prices in
//! **ticks per lot**. A [`MarketSpec`] carries the market's grid (`lot_size`, `tick_size`, decimals)
//! and converts between the two worlds exactly — every conversion is integer arithmetic on the
//! decimal mantissa, so no value is silently rounded. Where a human value is off the grid the
//! caller chooses the direction with [`Rounding`].
//!
//! ```
//! use perpbot_model::{MarketSpec, Rounding};
//! use rust_decimal_macros::dec;
//!
//! // Kana testnet APT (market 1338), reference §3.3.
//! let apt = MarketSpec::kana_apt_testnet();
//! let lots = apt.size_to_lots(dec!(2.5), Rounding::Exact).unwrap();
//! let ticks = apt.price_to_ticks(dec!(5.518), Rounding::Exact).unwrap();
//! assert_eq!((lots.0, ticks.0), (2500, 5518));
//! assert_eq!(apt.notional(lots, ticks), dec!(13.795));
//! ```

use std::fmt;

use rust_decimal::Decimal;

use crate::quote_sum::QuoteAmount;
use serde::{Deserialize, Serialize};

/// A market's numeric id, as the venue names it (Kana: `1338` for testnet APT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MarketId(pub u64);

impl fmt::Display for MarketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An order or position size in whole lots of the market's grid.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Lots(pub u64);

impl Lots {
    /// No size at all.
    pub const ZERO: Lots = Lots(0);

    /// True when the size is zero.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self - other`, floored at zero (sizes are never negative).
    pub fn saturating_sub(self, other: Lots) -> Lots {
        Lots(self.0.saturating_sub(other.0))
    }
}

impl fmt::Display for Lots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} lots", self.0)
    }
}

/// A price in whole ticks of the market's grid (Econia: quote sub-units per lot, divided by
/// `tick_size`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Ticks(pub u64);

impl fmt::Display for Ticks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ticks", self.0)
    }
}

/// The largest price Econia accepts, in ticks (`E_PRICE_TOO_HIGH` above it).
pub const MAX_PRICE_TICKS: u64 = u32::MAX as u64;

/// Which way to move a human value that is not on the market's grid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Refuse a value that is off the grid.
    Exact,
    /// Towards zero (smaller size, lower price). The safe direction for sizes and for bids.
    Down,
    /// Away from zero (larger size, higher price). The safe direction for asks.
    Up,
}

/// Why a value could not be converted to, or accepted on, the market's grid. Every variant names
/// the value and the bound it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// A negative size or price.
    #[error("{what} {value} is negative")]
    Negative {
        /// "size" or "price".
        what: &'static str,
        /// The offending value.
        value: Decimal,
    },
    /// The value is not a whole number of lots/ticks and [`Rounding::Exact`] was asked for.
    #[error("{what} {value} is not a multiple of the market's {unit} ({step})")]
    OffGrid {
        /// "size" or "price".
        what: &'static str,
        /// The offending value.
        value: Decimal,
        /// "lot" or "tick".
        unit: &'static str,
        /// The grid step in human units.
        step: Decimal,
    },
    /// The arithmetic does not fit (absurdly large or precise input).
    #[error("{what} {value} overflows the market's integer units")]
    Overflow {
        /// "size" or "price".
        what: &'static str,
        /// The offending value.
        value: Decimal,
    },
    /// Order size below the market minimum.
    #[error("size {lots} lots is below the market minimum of {min} lots")]
    BelowMinLots {
        /// Requested size.
        lots: u64,
        /// `min_lots`.
        min: u64,
    },
    /// Order size above the market maximum.
    #[error("size {lots} lots is above the market maximum of {max} lots")]
    AboveMaxLots {
        /// Requested size.
        lots: u64,
        /// `max_lots`.
        max: u64,
    },
    /// A price of zero ticks.
    #[error("price rounds to 0 ticks; the smallest price is 1 tick ({step})")]
    ZeroPrice {
        /// One tick in human units.
        step: Decimal,
    },
    /// A price above what the order book accepts.
    #[error("price {ticks} ticks is above the order book's maximum of {max} ticks")]
    PriceTooHigh {
        /// Requested price.
        ticks: u64,
        /// [`MAX_PRICE_TICKS`].
        max: u64,
    },
    /// Leverage of zero or above the market's maximum.
    #[error("leverage {leverage} is outside 1..={max}")]
    Leverage {
        /// Requested leverage.
        leverage: u32,
        /// `max_leverage`.
        max: u32,
    },
}

/// Everything needed to trade one market exactly: its grid, its bounds and its margin rules.
///
/// Built from Kana's `getMarketInfo` fields (reference §3.2) or written in the config for the
/// paper venue. All fields are validated by [`MarketSpec::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketSpec {
    /// Venue market id.
    pub id: MarketId,
    /// Display name, e.g. `APT-USD`.
    pub name: String,
    /// Decimals of the base asset (8 for APT/BTC/ETH/SOL on Kana).
    pub base_decimals: u32,
    /// Decimals of the quote/collateral asset (6 for USDT/USDC).
    pub quote_decimals: u32,
    /// Base sub-units per lot.
    pub lot_size: u64,
    /// Quote sub-units per tick, per lot.
    pub tick_size: u64,
    /// Smallest order, in lots.
    pub min_lots: u64,
    /// Largest order, in lots.
    pub max_lots: u64,
    /// Highest leverage the market allows.
    pub max_leverage: u32,
    /// Maintenance margin in basis points of notional (`250` = 2.5 %).
    pub maintenance_margin_bps: u32,
    /// Decimals in a human price (3 for APT).
    pub quote_precision: u32,
}

/// `10^exp` as i128, or `None` when it does not fit.
fn pow10(exp: u32) -> Option<i128> {
    10i128.checked_pow(exp)
}

/// `(10^num_exp, 10^den_exp)` with their common power of ten cancelled: the ratio is the same,
/// and a mantissa near `Decimal`'s 28 digits times a market's decimals no longer overflows
/// `i128` on the way to a result that fits (a price at `u64::MAX` ticks did, found by the
/// `ticks_round_trip_exactly` property).
fn cancelled_pow10(num_exp: u32, den_exp: u32) -> Option<(i128, i128)> {
    let common = num_exp.min(den_exp);
    Some((pow10(num_exp - common)?, pow10(den_exp - common)?))
}

/// `units / 10^scale` as a normalised `Decimal` (no trailing zeros, as `normalize()` leaves
/// it), or `None` when it does not fit exactly. Trailing zeros come off the integer first, in
/// `u64` arithmetic when it fits, which is several times cheaper than `normalize()` dividing
/// the 96-bit mantissa digit by digit; the result is the same value with the same scale.
fn scaled(units: u128, scale: u32) -> Option<Decimal> {
    if units == 0 {
        return Some(Decimal::ZERO);
    }
    let (mut units, mut scale) = (units, scale);
    if let Ok(mut small) = u64::try_from(units) {
        while scale > 0 && small.is_multiple_of(10) {
            small /= 10;
            scale -= 1;
        }
        units = u128::from(small);
    } else {
        while scale > 0 && units.is_multiple_of(10) {
            units /= 10;
            scale -= 1;
        }
    }
    Decimal::try_from_i128_with_scale(i128::try_from(units).ok()?, scale).ok()
}

/// `num / den` normalised: by [`scaled`] when `den` divides a power of ten (every Kana grid,
/// and a mid's half tick on it), else by [`ratio`].
fn ratio_normalized(num: u128, den: u128) -> Option<Decimal> {
    let mut exp = 0;
    // Every grid's denominator fits 64 bits, where dividing by a constant is a multiply; in
    // 128 bits each step is a library call.
    let d = match u64::try_from(den) {
        Ok(mut d) => {
            while d > 1 && d.is_multiple_of(10) {
                d /= 10;
                exp += 1;
            }
            u128::from(d)
        }
        Err(_) => {
            let mut d = den;
            while d > 1 && d.is_multiple_of(10) {
                d /= 10;
                exp += 1;
            }
            d
        }
    };
    // What is left, if made of twos and fives only (2 for a mid, 2·5^k or 2^k for some lot
    // sizes), divides 10^e: multiplying `num` by 10^e / d makes the quotient exact with no
    // division, which is the costly part of a `Decimal` conversion.
    if let Some((twos, fives)) = twos_and_fives(d) {
        let e = twos.max(fives);
        let factor = 2u128
            .checked_pow(e - twos)
            .zip(5u128.checked_pow(e - fives))
            .and_then(|(a, b)| a.checked_mul(b));
        if let Some(v) = factor
            .and_then(|f| num.checked_mul(f))
            .and_then(|n| scaled(n, exp + e))
        {
            return Some(v);
        }
    }
    ratio(num, den).map(|v| v.normalize())
}

/// `(a, b)` when `d = 2^a · 5^b` (`d ≥ 1`).
fn twos_and_fives(d: u128) -> Option<(u32, u32)> {
    if d == 0 {
        return None;
    }
    let twos = d.trailing_zeros();
    // At most 2^128 / 2^twos: in 64 bits for every real grid.
    let mut rest = u64::try_from(d >> twos).ok()?;
    let mut fives = 0;
    while rest > 1 && rest.is_multiple_of(5) {
        rest /= 5;
        fives += 1;
    }
    (rest == 1).then_some((twos, fives))
}

/// `num / den` as a `Decimal`: exact wherever the quotient is a decimal of at most 28
/// significant digits, otherwise correct to 28 significant digits. `None` when the quotient does
/// not fit `Decimal` (above ~7.9·10^28) or `den` is zero; never panics.
pub(crate) fn ratio(num: u128, den: u128) -> Option<Decimal> {
    let dec = |x: u128| Decimal::try_from_i128_with_scale(i128::try_from(x).ok()?, 0).ok();
    if let (Some(n), Some(d)) = (dec(num), dec(den)) {
        return n.checked_div(d);
    }
    // Wider than Decimal's 96-bit mantissa: whole part plus the remainder's fraction. When `den`
    // itself is that wide, both are shifted right until it fits (a relative error of 2^-96).
    let whole = dec(num.checked_div(den)?)?;
    let (mut rem, mut den) = (num % den, den);
    let shift = (128 - den.leading_zeros()).saturating_sub(96);
    rem >>= shift;
    den >>= shift;
    whole.checked_add(dec(rem)?.checked_div(dec(den)?)?)
}

/// Integer division of a non-negative numerator by a positive denominator in the given direction.
/// `None` for `Rounding::Exact` with a remainder.
fn div_round(num: i128, den: i128, rounding: Rounding) -> Option<i128> {
    let (q, r) = (num / den, num % den);
    match (r, rounding) {
        (0, _) => Some(q),
        (_, Rounding::Exact) => None,
        (_, Rounding::Down) => Some(q),
        (_, Rounding::Up) => Some(q + 1),
    }
}

impl MarketSpec {
    /// Kana testnet APT (market 1338) as documented in reference §3.3; handy in tests and docs.
    pub fn kana_apt_testnet() -> MarketSpec {
        MarketSpec {
            id: MarketId(1338),
            name: "APT-USD".to_string(),
            base_decimals: 8,
            quote_decimals: 6,
            lot_size: 100_000,
            tick_size: 1,
            min_lots: 500,
            max_lots: 150_000_000,
            max_leverage: 20,
            maintenance_margin_bps: 250,
            quote_precision: 3,
        }
    }

    /// Check that the spec describes a usable grid; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let field = |name: &str, why: &str| Err(format!("market {}: {name} {why}", self.id));
        if self.lot_size == 0 {
            return field("lot_size", "must be positive");
        }
        if self.tick_size == 0 {
            return field("tick_size", "must be positive");
        }
        if self.base_decimals > 18 {
            return field("base_decimals", "must be at most 18");
        }
        if self.quote_decimals > 18 {
            return field("quote_decimals", "must be at most 18");
        }
        if self.min_lots == 0 || self.min_lots > self.max_lots {
            return field("min_lots", "must be positive and not above max_lots");
        }
        if self.max_leverage == 0 {
            return field("max_leverage", "must be at least 1");
        }
        if self.maintenance_margin_bps == 0 || self.maintenance_margin_bps >= 10_000 {
            return field("maintenance_margin_bps", "must be within 1..10000");
        }
        Ok(())
    }

    /// One lot in base coins (`lot_size / 10^base_decimals`).
    pub fn lot_in_coins(&self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.lot_size), self.base_decimals).normalize()
    }

    /// One tick in quote per coin (`tick_size · 10^base_decimals / (lot_size · 10^quote_decimals)`).
    pub fn tick_in_price(&self) -> Decimal {
        self.ticks_to_price(Ticks(1))
    }

    /// Human size (base coins) → lots, rounded as asked.
    pub fn size_to_lots(&self, size: Decimal, rounding: Rounding) -> Result<Lots, UnitError> {
        const WHAT: &str = "size";
        if size.is_sign_negative() && !size.is_zero() {
            return Err(UnitError::Negative {
                what: WHAT,
                value: size,
            });
        }
        // lots = mantissa · 10^base_decimals / (10^scale · lot_size), all in integers.
        let overflow = || UnitError::Overflow {
            what: WHAT,
            value: size,
        };
        // Trailing zeros only inflate the mantissa: drop them first.
        let norm = size.normalize();
        let (num_pow, den_pow) =
            cancelled_pow10(self.base_decimals, norm.scale()).ok_or_else(overflow)?;
        let num = norm.mantissa().checked_mul(num_pow).ok_or_else(overflow)?;
        let den = den_pow
            .checked_mul(i128::from(self.lot_size))
            .ok_or_else(overflow)?;
        let lots = div_round(num, den, rounding).ok_or_else(|| UnitError::OffGrid {
            what: WHAT,
            value: size,
            unit: "lot",
            step: self.lot_in_coins(),
        })?;
        u64::try_from(lots).map(Lots).map_err(|_| overflow())
    }

    /// Human price (quote per coin) → ticks, rounded as asked.
    pub fn price_to_ticks(&self, price: Decimal, rounding: Rounding) -> Result<Ticks, UnitError> {
        const WHAT: &str = "price";
        if price.is_sign_negative() && !price.is_zero() {
            return Err(UnitError::Negative {
                what: WHAT,
                value: price,
            });
        }
        // ticks = mantissa · lot_size · 10^quote_decimals / (10^scale · tick_size · 10^base_decimals)
        let overflow = || UnitError::Overflow {
            what: WHAT,
            value: price,
        };
        // Trailing zeros only inflate the mantissa: drop them first.
        let norm = price.normalize();
        let (num_pow, den_pow) = norm
            .scale()
            .checked_add(self.base_decimals)
            .and_then(|den_exp| cancelled_pow10(self.quote_decimals, den_exp))
            .ok_or_else(overflow)?;
        let num = num_pow
            .checked_mul(i128::from(self.lot_size))
            .and_then(|p| p.checked_mul(norm.mantissa()))
            .ok_or_else(overflow)?;
        let den = den_pow
            .checked_mul(i128::from(self.tick_size))
            .ok_or_else(overflow)?;
        let ticks = div_round(num, den, rounding).ok_or_else(|| UnitError::OffGrid {
            what: WHAT,
            value: price,
            unit: "tick",
            step: self.tick_in_price(),
        })?;
        u64::try_from(ticks).map(Ticks).map_err(|_| overflow())
    }

    /// The base asset's symbol, from the display name (`APT` of `APT-USD` or `APT/USDC`). Kana
    /// gives no separate base field, and its names vary by network (docs/reference §3.1), so the
    /// part before the first `-`, `/` or `_` is taken. Used to price gas in the chain's coin.
    pub fn base_asset(&self) -> &str {
        self.name
            .split(['-', '/', '_'])
            .next()
            .unwrap_or(&self.name)
    }

    /// A net position of `net_lots` (negative when short) as a signed size in base coins.
    pub fn signed_size(&self, net_lots: i128) -> Decimal {
        let lots = u64::try_from(net_lots.unsigned_abs()).unwrap_or(u64::MAX);
        let size = self.lots_to_size(Lots(lots));
        if net_lots < 0 { -size } else { size }
    }

    /// Lots → human size in base coins (exact while it fits 28 significant digits; saturates at
    /// `Decimal::MAX` for sizes beyond `Decimal`'s range, which no valid order reaches).
    pub fn lots_to_size(&self, lots: Lots) -> Decimal {
        // u64 · u64 always fits u128 (not i128).
        let sub_units = u128::from(lots.0) * u128::from(self.lot_size);
        scaled(sub_units, self.base_decimals)
            .or_else(|| {
                ratio(sub_units, pow10(self.base_decimals)?.try_into().ok()?).map(|v| v.normalize())
            })
            .unwrap_or(Decimal::MAX.normalize())
    }

    /// Ticks → human price in quote per coin (exact for every grid whose lot size divides a power
    /// of ten, which is every Kana market; otherwise correct to 28 significant digits). Saturates
    /// at `Decimal::MAX` for prices beyond `Decimal`'s range (~7.9·10^28), far above what any
    /// order book accepts ([`MAX_PRICE_TICKS`]).
    pub fn ticks_to_price(&self, ticks: Ticks) -> Decimal {
        self.price_of_ticks_over(ticks, 1)
    }

    /// The price of half of `ticks_x2` ticks — a mid, from `OrderBook::mid_x2`, which may fall
    /// on a half tick: `ticks_to_price(ticks_x2) / 2` in value, as one ratio rather than a
    /// conversion and a decimal division (it runs whenever a best price moves).
    pub fn mid_price(&self, ticks_x2: Ticks) -> Decimal {
        self.price_of_ticks_over(ticks_x2, 2)
    }

    /// `ticks_to_price(ticks) / divisor` (divisor 1 or 2), normalised.
    fn price_of_ticks_over(&self, ticks: Ticks, divisor: u128) -> Decimal {
        // price = ticks · tick_size · 10^(base_decimals − quote_decimals) / lot_size, as one
        // integer ratio (u64 · u64 always fits u128).
        let n = u128::from(ticks.0) * u128::from(self.tick_size);
        let lot = u128::from(self.lot_size) * divisor;
        let price = if self.base_decimals >= self.quote_decimals {
            let shift = pow10(self.base_decimals - self.quote_decimals)
                .and_then(|p| u128::try_from(p).ok());
            match shift.and_then(|p| n.checked_mul(p)) {
                Some(num) => ratio_normalized(num, lot),
                // n · 10^k overflows u128: divide first (then the result is huge anyway).
                None => shift
                    .and_then(|p| ratio(n, lot)?.checked_mul(ratio(p, 1)?))
                    .map(|v| v.normalize()),
            }
        } else {
            pow10(self.quote_decimals - self.base_decimals)
                .and_then(|p| u128::try_from(p).ok()?.checked_mul(lot))
                .and_then(|den| ratio_normalized(n, den))
        };
        price.unwrap_or(Decimal::MAX.normalize())
    }

    /// Notional of `lots` at `ticks` in quote sub-units (`lots · ticks · tick_size`), exact;
    /// saturates at `u128::MAX` (only absurd lots, ticks and tick sizes together reach it).
    pub fn notional_sub_units(&self, lots: Lots, ticks: Ticks) -> u128 {
        (u128::from(lots.0) * u128::from(ticks.0)).saturating_mul(u128::from(self.tick_size))
    }

    /// Notional of `lots` at `ticks` in human quote units (e.g. USDT).
    pub fn notional(&self, lots: Lots, ticks: Ticks) -> Decimal {
        self.sub_units_to_quote(self.notional_sub_units(lots, ticks))
    }

    /// Initial margin of `lots` at `ticks` and `leverage` (0 counts as 1): the notional over the
    /// leverage. Equal in value to `notional(lots, ticks) / leverage`, but when the division
    /// of the integer sub-units is exact (the usual case: leverage divides the notional) it
    /// costs one conversion, not a decimal division.
    pub fn initial_margin(&self, lots: Lots, ticks: Ticks, leverage: u32) -> Decimal {
        match self.initial_margin_amount(lots, ticks, leverage) {
            QuoteAmount::SubUnits(units) => self.sub_units_to_quote(units),
            QuoteAmount::Decimal(value) => value,
        }
    }

    /// [`MarketSpec::initial_margin`] as whole quote sub-units when it is one, for a
    /// [`QuoteSum`](crate::QuoteSum) over many orders (risk and the paper venue's reserve sum
    /// every resting order on every request).
    pub fn initial_margin_amount(&self, lots: Lots, ticks: Ticks, leverage: u32) -> QuoteAmount {
        self.margin_of_notional(self.notional_sub_units(lots, ticks), leverage)
    }

    /// The initial margin of a notional given in quote sub-units (a sum of
    /// [`MarketSpec::notional_sub_units`]) at `leverage` (0 counts as 1), as
    /// [`MarketSpec::initial_margin_amount`] gives it.
    pub fn margin_of_notional(&self, sub_units: u128, leverage: u32) -> QuoteAmount {
        let leverage = leverage.max(1);
        // In 64 bits when the notional fits (it runs for every resting order on every request).
        if let Ok(s) = u64::try_from(sub_units) {
            let l = u64::from(leverage);
            if s.is_multiple_of(l) {
                return QuoteAmount::SubUnits(u128::from(s / l));
            }
        }
        let leverage = u128::from(leverage);
        if sub_units.is_multiple_of(leverage) {
            QuoteAmount::SubUnits(sub_units / leverage)
        } else {
            QuoteAmount::Decimal(self.sub_units_to_quote(sub_units) / Decimal::from(leverage))
        }
    }

    /// Quote sub-units → human quote amount. Saturates at `i128::MAX` sub-units (unreachable
    /// with u64 lots and ticks).
    pub fn sub_units_to_quote(&self, sub_units: u128) -> Decimal {
        let v = sub_units.min(i128::MAX as u128);
        scaled(v, self.quote_decimals).unwrap_or(Decimal::MAX.normalize())
    }

    /// Notional of `lots` at a human price (e.g. a mark or average entry that is off the grid).
    /// Saturates at `Decimal::MAX` (or `Decimal::MIN` for a negative price) instead of
    /// overflowing.
    pub fn notional_at(&self, lots: Lots, price: Decimal) -> Decimal {
        self.lots_to_size(lots)
            .checked_mul(price)
            .unwrap_or(if price.is_sign_negative() {
                Decimal::MIN
            } else {
                Decimal::MAX
            })
    }

    /// Check an order size against `min_lots`/`max_lots`.
    pub fn check_lots(&self, lots: Lots) -> Result<(), UnitError> {
        if lots.0 < self.min_lots {
            return Err(UnitError::BelowMinLots {
                lots: lots.0,
                min: self.min_lots,
            });
        }
        if lots.0 > self.max_lots {
            return Err(UnitError::AboveMaxLots {
                lots: lots.0,
                max: self.max_lots,
            });
        }
        Ok(())
    }

    /// Check a limit price is within what the order book accepts (1..=2^32−1 ticks).
    pub fn check_ticks(&self, ticks: Ticks) -> Result<(), UnitError> {
        if ticks.0 == 0 {
            return Err(UnitError::ZeroPrice {
                step: self.tick_in_price(),
            });
        }
        if ticks.0 > MAX_PRICE_TICKS {
            return Err(UnitError::PriceTooHigh {
                ticks: ticks.0,
                max: MAX_PRICE_TICKS,
            });
        }
        Ok(())
    }

    /// Check leverage is within 1..=max_leverage.
    pub fn check_leverage(&self, leverage: u32) -> Result<(), UnitError> {
        if leverage == 0 || leverage > self.max_leverage {
            return Err(UnitError::Leverage {
                leverage,
                max: self.max_leverage,
            });
        }
        Ok(())
    }

    /// Maintenance margin rate as a fraction (`250` bps → 0.025).
    pub fn maintenance_margin_rate(&self) -> Decimal {
        Decimal::new(i64::from(self.maintenance_margin_bps), 4)
    }
}

#[cfg(test)]
mod tests;
