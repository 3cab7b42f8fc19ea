//! Kyan's signed amounts: sizes and prices are `parseUnits(x, 6)` (§3.2), i.e. the decimal times
//! 10^6 as an integer. The conversion is exact: a value finer than 10^-6 or below zero is
//! refused, never rounded, because the signature covers the exact number.

use alloy_primitives::U256;
use rust_decimal::Decimal;

/// Decimals of every signed size and price.
pub const DECIMALS: u32 = 6;

/// Why an amount cannot be signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// Below zero.
    #[error("{field}: {value} is negative")]
    Negative {
        /// The field.
        field: String,
        /// The value.
        value: Decimal,
    },
    /// More than six decimals.
    #[error("{field}: {value} has more than 6 decimals (the signed grid is 10^-6)")]
    OffGrid {
        /// The field.
        field: String,
        /// The value.
        value: Decimal,
    },
}

/// `value × 10^6` exactly, for the message field `field`.
pub fn units(field: &str, value: Decimal) -> Result<U256, AmountError> {
    if value.is_sign_negative() && !value.is_zero() {
        return Err(AmountError::Negative {
            field: field.into(),
            value,
        });
    }
    let scaled = value.normalize();
    if scaled.scale() > DECIMALS {
        return Err(AmountError::OffGrid {
            field: field.into(),
            value,
        });
    }
    // mantissa × 10^(6 − scale): an integer, at most 96 bits times 10^6, well inside U256.
    let mantissa = U256::from(scaled.mantissa().unsigned_abs());
    Ok(mantissa * U256::from(10u64).pow(U256::from(DECIMALS - scaled.scale())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sizes_and_prices_scale_by_a_million_exactly() {
        assert_eq!(
            units("size", dec!(10000)).unwrap(),
            U256::from(10_000_000_000u64)
        );
        assert_eq!(
            units("price", dec!(65000.5)).unwrap(),
            U256::from(65_000_500_000u64)
        );
        assert_eq!(units("price", dec!(0.000001)).unwrap(), U256::from(1u64));
        assert_eq!(
            units("size", dec!(1.500000)).unwrap(),
            U256::from(1_500_000u64)
        );
        assert_eq!(units("size", Decimal::ZERO).unwrap(), U256::ZERO);
    }

    #[test]
    fn finer_than_the_grid_or_negative_is_refused_naming_the_field() {
        let e = units("price", dec!(1.0000001)).unwrap_err();
        assert!(e.to_string().starts_with("price: 1.0000001"), "{e}");
        let e = units("size", dec!(-1)).unwrap_err();
        assert!(matches!(e, AmountError::Negative { .. }), "{e}");
    }
}
