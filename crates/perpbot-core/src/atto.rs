//! Quote amounts as whole 10⁻¹⁸ units in an `i128`, for the checks every order and every PnL
//! change run.
//!
//! The pre-trade check compares notionals, exposures and margins with configured limits and the
//! venue's collateral on every order. Done in `Decimal`, each comparison is a rescale, a 96-bit
//! multiply or a division, and those code paths alone were a fifth of the instruction-cache
//! misses of a backtest's order path. Here every amount is an integer at one scale: a notional
//! is exact (quote sub-units times a power of ten), a limit read from the config is rounded
//! down and the venue's collateral down, margins of new orders up and margins a cancel frees
//! down — so every comparison is exact or errs towards refusing.
//!
//! Written by hand: the arithmetic is a handful of integer operations with a rounding mode per
//! call site; the fixed-point crates round one way for all (or not at all), and `Decimal` is
//! what this replaces on the hot path. `Decimal` stays at the edges: configs, venue figures and
//! the refusal messages, which are rebuilt from the inputs and never from these integers.

use perpbot_model::{Lots, MarketSpec, Ticks};
use rust_decimal::Decimal;

/// Decimal places of one unit: 10⁻¹⁸ quote. Every venue's quote currency has fewer (Kana's
/// USDT has 6), so sub-units convert exactly; an amount beyond ±1.7·10²⁰ quote saturates.
pub(crate) const SCALE: u32 = 18;

/// Which way to round an amount that does not fall on a whole unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Round {
    /// Towards −∞.
    Down,
    /// Towards +∞.
    Up,
}

/// `10^0 ..= 10^38`, every power of ten an `i128` holds (a table: these run per order).
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `10^n`, or `None` above `10^38`.
#[inline]
pub(crate) fn pow10(n: u32) -> Option<i128> {
    POW10.get(n as usize).copied()
}

/// `v / d` for `d > 0`, rounded as asked (saturating; `d ≤ 0` gives `v`).
#[inline]
pub(crate) fn div(v: i128, d: i128, round: Round) -> i128 {
    if d <= 0 {
        return v;
    }
    // In 64 bits when both fit, the usual case: a 128-bit division is a library call, and it
    // was the longest step of the paper account's entry average, run on every opening fill.
    if let (Ok(v), Ok(d)) = (u64::try_from(v), u64::try_from(d)) {
        let up = round == Round::Up && v % d != 0;
        return i128::from(v / d) + i128::from(up);
    }
    let q = v.div_euclid(d);
    if round == Round::Up && v.rem_euclid(d) != 0 {
        q.saturating_add(1)
    } else {
        q
    }
}

/// Whole quote sub-units of a market with `quote_decimals` decimals.
#[inline]
pub(crate) fn from_sub_units(units: u128, quote_decimals: u32, round: Round) -> i128 {
    // The usual case in one widening multiply: sub-units that fit 64 bits, times 10^k ≤ 10^18.
    if quote_decimals <= SCALE
        && let (Ok(u), Some(p)) = (u64::try_from(units), pow10(SCALE - quote_decimals))
    {
        let p = p as u128; // ≤ 10^18: fits 64 bits, so the product fits 128.
        return i128::try_from(u128::from(u) * p).unwrap_or(i128::MAX);
    }
    let units = i128::try_from(units).unwrap_or(i128::MAX);
    if quote_decimals <= SCALE {
        pow10(SCALE - quote_decimals).map_or(i128::MAX, |p| units.saturating_mul(p))
    } else {
        pow10(quote_decimals - SCALE).map_or(0, |p| div(units, p, round))
    }
}

/// Notional of `lots` at `ticks` in `spec`'s market (exact for quote currencies of up to 18
/// decimals; rounded as asked beyond).
#[inline]
pub(crate) fn notional(spec: &MarketSpec, lots: Lots, ticks: Ticks, round: Round) -> i128 {
    from_sub_units(
        spec.notional_sub_units(lots, ticks),
        spec.quote_decimals,
        round,
    )
}

/// Notional of `lots` at a mid given doubled in ticks (`OrderBook::mid_x2`: it may fall on a
/// half tick), rounded as asked.
#[inline]
pub(crate) fn notional_at_mid(spec: &MarketSpec, lots: Lots, mid_x2: u64, round: Round) -> i128 {
    div(notional(spec, lots, Ticks(mid_x2), round), 2, round)
}

/// Initial margin (`notional / leverage`, leverage 0 counting as 1) of `lots` at `ticks`,
/// rounded as asked. The sub-units divide first (in 64 bits when they fit) and only a remainder
/// is divided at the fine scale.
pub(crate) fn margin(
    spec: &MarketSpec,
    lots: Lots,
    ticks: Ticks,
    leverage: u32,
    round: Round,
) -> i128 {
    let sub_units = spec.notional_sub_units(lots, ticks);
    let leverage = leverage.max(1);
    let (whole, rest) = match u64::try_from(sub_units) {
        Ok(s) => {
            let l = u64::from(leverage);
            (u128::from(s / l), u128::from(s % l))
        }
        Err(_) => (
            sub_units / u128::from(leverage),
            sub_units % u128::from(leverage),
        ),
    };
    let qd = spec.quote_decimals;
    let margin = from_sub_units(whole, qd, round);
    if rest == 0 {
        return margin;
    }
    let fraction = div(from_sub_units(rest, qd, round), i128::from(leverage), round);
    margin.saturating_add(fraction)
}

/// A decimal amount (a limit, a balance, a notional at an off-grid price).
pub(crate) fn from_decimal(d: Decimal, round: Round) -> i128 {
    let mantissa = d.mantissa();
    let scale = d.scale();
    // The usual case: a mantissa of 64 bits times 10^k ≤ 10^18 cannot overflow 128.
    if scale <= SCALE
        && let (Ok(m), Some(p)) = (i64::try_from(mantissa), pow10(SCALE - scale))
    {
        return i128::from(m) * p;
    }
    from_scaled(mantissa, scale, round)
}

/// `mantissa · 10^−scale` in units, rounded as asked below one unit and saturating beyond the
/// range.
fn from_scaled(mantissa: i128, scale: u32, round: Round) -> i128 {
    if scale <= SCALE {
        let Some(p) = pow10(SCALE - scale) else {
            return mantissa.signum().saturating_mul(i128::MAX);
        };
        match mantissa.checked_mul(p) {
            Some(v) => v,
            None if mantissa < 0 => i128::MIN,
            None => i128::MAX,
        }
    } else {
        pow10(scale - SCALE).map_or(0, |p| div(mantissa, p, round))
    }
}

/// The notional of `lots` at a decimal price (a position's entry price), rounded once, as
/// asked, from the exact product: `lots · lot_size · price` as one integer product, rescaled.
///
/// The engine runs it for every position update. An entry price is usually an average (a
/// `Decimal` division), so it carries 20 or more decimal places; with the market's base
/// decimals on top, the product had more than `Decimal`'s 28 places, and the decimal path
/// (`spec.notional_at`, then [`from_decimal`]) rounded it twice and cost about 110 ns a call
/// (1.4 % of SBS-3's time-profile samples, 0.5 % of its time when taken out). Only a product
/// beyond 128 bits, or a result beyond the range, takes the decimal path now. Where the
/// decimal product is exact the two agree to the unit; where it is not, this one is the
/// exactly rounded value, and the decimal path (27 significant digits or more) may be a unit
/// off, or more for notionals beyond 10^8 quote.
pub(crate) fn notional_at_price(
    spec: &MarketSpec,
    lots: Lots,
    price: Decimal,
    round: Round,
) -> i128 {
    let sub_units = u128::from(lots.0) * u128::from(spec.lot_size);
    let mantissa = price.mantissa();
    let scale = spec.base_decimals.saturating_add(price.scale());
    let exact = sub_units
        .checked_mul(mantissa.unsigned_abs())
        .and_then(|p| i128::try_from(p).ok())
        .and_then(|p| {
            if scale > SCALE {
                // Dividing cannot overflow; a divisor beyond 10^38 leaves less than one unit.
                let product = p * mantissa.signum();
                Some(match pow10(scale - SCALE) {
                    Some(d) => div(product, d, round),
                    None => div(product, i128::MAX, round),
                })
            } else {
                pow10(SCALE - scale)
                    .and_then(|m| p.checked_mul(m))
                    .map(|v| v * mantissa.signum())
            }
        });
    match exact {
        Some(v) => v,
        // Beyond 128 bits: only absurd sizes and prices get here, and they saturate.
        None => from_decimal(spec.notional_at(lots, price), round),
    }
}

/// Back to a decimal, normalised, for a message or a report (exact while it fits `Decimal`'s
/// 96 bits; otherwise the last digits are dropped).
pub(crate) fn to_decimal(mut v: i128) -> Decimal {
    let mut scale = SCALE;
    loop {
        if let Ok(d) = Decimal::try_from_i128_with_scale(v, scale) {
            return d.normalize();
        }
        if scale == 0 {
            return if v < 0 { Decimal::MIN } else { Decimal::MAX };
        }
        v /= 10;
        scale -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sub_units_convert_exactly_and_decimals_round_as_asked() {
        // 1.5 USDT in 6-decimal sub-units.
        assert_eq!(
            from_sub_units(1_500_000, 6, Round::Down),
            1_500_000_000_000_000_000
        );
        // A market with more decimals than the scale rounds as told.
        assert_eq!(from_sub_units(15, 19, Round::Down), 1);
        assert_eq!(from_sub_units(15, 19, Round::Up), 2);
        assert_eq!(from_sub_units(u128::MAX, 6, Round::Down), i128::MAX);

        assert_eq!(
            from_decimal(dec!(2.5), Round::Down),
            2_500_000_000_000_000_000
        );
        assert_eq!(
            from_decimal(dec!(-2.5), Round::Up),
            -2_500_000_000_000_000_000
        );
        // 20 decimals: below one unit, rounded either way, negatives towards −∞ for Down.
        let tiny = Decimal::new(15, 20);
        assert_eq!(from_decimal(tiny, Round::Down), 0);
        assert_eq!(from_decimal(tiny, Round::Up), 1);
        assert_eq!(from_decimal(-tiny, Round::Down), -1);
        assert_eq!(from_decimal(-tiny, Round::Up), 0);
        // Beyond the range: saturates with the sign.
        assert_eq!(from_decimal(Decimal::MAX, Round::Down), i128::MAX);
        assert_eq!(from_decimal(Decimal::MIN, Round::Down), i128::MIN);
    }

    #[test]
    fn notional_at_a_decimal_price_is_the_exact_product_rounded_once() {
        let mut below = crate::test_support::below(0x5eed_a770);
        let mut spec = perpbot_model::MarketSpec {
            id: perpbot_model::MarketId(1),
            name: "T".into(),
            base_decimals: 8,
            quote_decimals: 6,
            lot_size: 100_000,
            tick_size: 100,
            min_lots: 1,
            max_lots: u64::MAX,
            max_leverage: 10,
            maintenance_margin_bps: 250,
            quote_precision: 1,
        };
        let (mut decimal_exact, mut decimal_rounded) = (0, 0);
        for _ in 0..50_000 {
            spec.base_decimals = below(30) as u32;
            spec.lot_size =
                [1, 7, 100_000, 10u64.pow(below(20) as u32), u64::MAX][below(5) as usize];
            let lots = Lots([0, 1, below(1_000), below(u64::MAX), u64::MAX][below(5) as usize]);
            let mantissa = match below(4) {
                0 => i128::from(below(100_000_000)),
                1 => i128::from(below(u64::MAX)) << below(32),
                2 => -i128::from(below(1_000_000)),
                _ => i128::from(below(1_000)),
            };
            let Ok(price) = Decimal::try_from_i128_with_scale(mantissa, below(29) as u32) else {
                continue;
            };
            let sub_units = u128::from(lots.0) * u128::from(spec.lot_size);
            let scale = spec.base_decimals + price.scale();
            let decimal_is_exact = sub_units
                .checked_mul(mantissa.unsigned_abs())
                .is_some_and(|p| p < 1 << 96)
                && scale <= 28;
            for round in [Round::Down, Round::Up] {
                let fast = notional_at_price(&spec, lots, price, round);
                let slow = from_decimal(spec.notional_at(lots, price), round);
                let at = || format!("{lots:?} at {price} with {spec:?}, {round:?}");
                if decimal_is_exact {
                    assert_eq!(fast, slow, "{}", at());
                    decimal_exact += 1;
                } else if let Some(exact) = exactly_rounded(sub_units, mantissa, scale, round) {
                    assert_eq!(fast, exact, "{}", at());
                    // Where the decimal path could hold the size, it kept at least 27
                    // significant digits of the product.
                    if sub_units < 1 << 96 && spec.base_decimals <= 28 {
                        let slack = slow.unsigned_abs() / 10u128.pow(26) + 1;
                        assert!(fast.abs_diff(slow) <= slack, "{} vs {slow}", at());
                    }
                    decimal_rounded += 1;
                } else {
                    assert_eq!(fast, slow, "beyond 128 bits: {}", at());
                }
            }
        }
        // Every path was exercised.
        assert!(decimal_exact > 20_000, "{decimal_exact}");
        assert!(decimal_rounded > 5_000, "{decimal_rounded}");
    }

    /// `sub_units · mantissa · 10^(18 − scale)` rounded as asked, in unsigned arithmetic with
    /// the sign applied last (the code under test uses signed Euclidean division): `None` when
    /// it does not fit.
    fn exactly_rounded(sub_units: u128, mantissa: i128, scale: u32, round: Round) -> Option<i128> {
        let magnitude = sub_units.checked_mul(mantissa.unsigned_abs())?;
        i128::try_from(magnitude).ok()?;
        let negative = mantissa < 0;
        let value = if scale >= SCALE {
            let (q, r) = match 10u128.checked_pow(scale - SCALE) {
                Some(d) => (magnitude / d, magnitude % d),
                None => (0, magnitude),
            };
            let away = u128::from(r != 0);
            match (negative, round) {
                (false, Round::Down) | (true, Round::Up) => q,
                (false, Round::Up) | (true, Round::Down) => q + away,
            }
        } else {
            magnitude.checked_mul(10u128.pow(SCALE - scale))?
        };
        let value = i128::try_from(value).ok()?;
        Some(if negative { -value } else { value })
    }

    #[test]
    fn division_rounds_as_asked_and_back_to_decimal_is_exact() {
        assert_eq!(div(10, 4, Round::Down), 2);
        assert_eq!(div(10, 4, Round::Up), 3);
        assert_eq!(div(12, 4, Round::Up), 3);
        assert_eq!(div(-10, 4, Round::Down), -3);
        assert_eq!(div(-10, 4, Round::Up), -2);
        assert_eq!(div(7, 0, Round::Up), 7);
        // Past 64 bits (the 128-bit path), rounded the same ways.
        let big = i128::from(u64::MAX) * 3;
        assert_eq!(div(big + 1, 3, Round::Down), i128::from(u64::MAX));
        assert_eq!(div(big + 1, 3, Round::Up), i128::from(u64::MAX) + 1);
        assert_eq!(div(-big - 1, 3, Round::Down), -i128::from(u64::MAX) - 1);

        for d in [
            dec!(0),
            dec!(11.036),
            dec!(-0.000001),
            dec!(123456789.123456789),
        ] {
            assert_eq!(to_decimal(from_decimal(d, Round::Down)), d.normalize());
        }
        // Too many digits for Decimal: the last are dropped, the magnitude kept.
        let big = to_decimal(i128::MAX);
        assert!(big > dec!(1.7e20) && big < dec!(1.8e20), "{big}");
    }
}
