//! Exact sums of quote amounts (notionals, margins) over many orders or positions, kept in
//! integer quote sub-units rather than converted to [`Decimal`] term by term.

use rust_decimal::Decimal;

use crate::units::MarketSpec;

/// A quote amount of one market: whole quote sub-units, or a decimal when the amount is not a
/// whole number of them (a margin whose leverage does not divide its notional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuoteAmount {
    /// Whole quote sub-units of the market.
    SubUnits(u128),
    /// Any other amount, in quote units.
    Decimal(Decimal),
}

/// A running sum of quote amounts. Consecutive sub-unit terms of one market add as integers
/// and are converted once, when the market changes or the sum is taken: exact, and one
/// conversion for the usual single market instead of one per term. Risk limits and the paper
/// venue's margin reserve sum over every resting order on every request, so this is on the
/// order path. Saturates instead of overflowing.
#[derive(Debug, Default)]
pub struct QuoteSum<'a> {
    total: Decimal,
    run: Option<(&'a MarketSpec, u128)>,
}

impl<'a> QuoteSum<'a> {
    /// An empty sum.
    pub fn new() -> QuoteSum<'a> {
        QuoteSum::default()
    }

    /// Add an amount of `spec`'s market.
    pub fn add(&mut self, spec: &'a MarketSpec, amount: QuoteAmount) {
        match amount {
            QuoteAmount::SubUnits(units) => self.add_sub_units(spec, units),
            QuoteAmount::Decimal(value) => self.add_decimal(value),
        }
    }

    /// Add whole quote sub-units of `spec`'s market.
    pub fn add_sub_units(&mut self, spec: &'a MarketSpec, units: u128) {
        match &mut self.run {
            Some((s, acc)) if s.id == spec.id => *acc = acc.saturating_add(units),
            _ => {
                self.flush();
                self.run = Some((spec, units));
            }
        }
    }

    /// Add an amount already in quote units.
    pub fn add_decimal(&mut self, value: Decimal) {
        self.total = self.total.checked_add(value).unwrap_or(Decimal::MAX);
    }

    fn flush(&mut self) {
        if let Some((spec, units)) = self.run.take() {
            self.add_decimal(spec.sub_units_to_quote(units));
        }
    }

    /// The sum.
    pub fn total(mut self) -> Decimal {
        self.flush();
        self.total
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn sums_per_market_runs_and_decimals_exactly() {
        let apt = MarketSpec::kana_apt_testnet();
        let other = MarketSpec {
            id: crate::MarketId(7),
            quote_decimals: 2,
            ..apt.clone()
        };
        let mut sum = QuoteSum::new();
        sum.add(&apt, QuoteAmount::SubUnits(1_500_000));
        sum.add(&apt, QuoteAmount::SubUnits(250_000));
        sum.add(&other, QuoteAmount::SubUnits(125));
        sum.add(&apt, QuoteAmount::Decimal(dec!(0.333)));
        sum.add(&apt, QuoteAmount::SubUnits(1));
        let want = apt.sub_units_to_quote(1_750_000)
            + other.sub_units_to_quote(125)
            + dec!(0.333)
            + apt.sub_units_to_quote(1);
        assert_eq!(sum.total(), want);
        assert_eq!(QuoteSum::new().total(), Decimal::ZERO);
    }
}
