//! Configurable funding-rate models and mark-price sources for the simulated ledger.
//!
//! Kana's funding formula, interval and caps are unknown (reference §9.3: a keeper updates the
//! rate from Pyth prices, samples land on the hour, "positive → longs pay shorts", typical values
//! ±0.01–0.02 %), so the simulator makes them configuration:
//!
//! ```
//! use perpbot::sim::FundingModel;
//! use rust_decimal_macros::dec;
//!
//! let premium = FundingModel::Premium { sensitivity: dec!(1), cap: dec!(0.0002) };
//! // Mark 0.01 % above index → +0.0001 per interval; far above → capped.
//! assert_eq!(premium.rate(dec!(10.001), Some(dec!(10))), dec!(0.0001));
//! assert_eq!(premium.rate(dec!(11), Some(dec!(10))), dec!(0.0002));
//! ```

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// How the funding rate for one interval is computed. The rate is a fraction of the position's
/// notional at the mark; positive means longs pay shorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case", deny_unknown_fields)]
pub enum FundingModel {
    /// The same rate every interval.
    Constant {
        /// Rate per interval (e.g. `0.0001` = 0.01 %).
        rate: Decimal,
    },
    /// Premium of the mark over the index: `clamp(sensitivity · (mark − index) / index, ±cap)`.
    /// Zero while no index price is known (or it is not positive).
    Premium {
        /// Multiplier of the relative premium.
        sensitivity: Decimal,
        /// Largest absolute rate per interval.
        cap: Decimal,
    },
}

impl Default for FundingModel {
    /// A constant 0.01 % per interval, the size of rate Kana's docs illustrate.
    fn default() -> FundingModel {
        FundingModel::Constant {
            rate: Decimal::new(1, 4),
        }
    }
}

impl FundingModel {
    /// The rate for one interval at `mark`, given the index (oracle) price when known.
    pub fn rate(&self, mark: Decimal, index: Option<Decimal>) -> Decimal {
        match *self {
            FundingModel::Constant { rate } => rate,
            FundingModel::Premium { sensitivity, cap } => {
                let Some(index) = index.filter(|i| i.is_sign_positive() && !i.is_zero()) else {
                    return Decimal::ZERO;
                };
                let cap = cap.abs();
                let raw = sensitivity
                    .checked_mul(mark - index)
                    .and_then(|p| p.checked_div(index))
                    .unwrap_or(cap);
                raw.clamp(-cap, cap)
            }
        }
    }
}

/// Where the mark price of a market comes from. When the chosen source has no value yet, the
/// ledger falls back to the others in the order index, mid, last trade.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkSource {
    /// The oracle/index price set by the simulator (Kana: Pyth). The default.
    #[default]
    Index,
    /// Mid of the book's best bid and ask.
    Mid,
    /// Price of the last trade.
    LastTrade,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn constant_and_premium_rates() {
        assert_eq!(FundingModel::default().rate(dec!(5), None), dec!(0.0001));
        let m = FundingModel::Premium {
            sensitivity: dec!(0.5),
            cap: dec!(0.001),
        };
        assert_eq!(m.rate(dec!(9.99), Some(dec!(10))), dec!(-0.0005));
        assert_eq!(m.rate(dec!(5), Some(dec!(10))), dec!(-0.001));
        assert_eq!(m.rate(dec!(10), None), Decimal::ZERO);
        assert_eq!(m.rate(dec!(10), Some(Decimal::ZERO)), Decimal::ZERO);
    }
}
