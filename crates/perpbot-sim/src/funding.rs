//! Configurable funding-rate models and mark-price sources, and the [`Ledger`]'s mark price and
//! funding settlement.
//!
//! Kana's funding formula, interval and caps are unknown (reference §9.3: a keeper updates the
//! rate from Pyth prices, samples land on the hour, "positive → longs pay shorts", typical values
//! ±0.01–0.02 %), so the simulator makes them configuration:
//!
//! ```
//! use perpbot_sim::FundingModel;
//! use rust_decimal_macros::dec;
//!
//! let premium = FundingModel::Premium { sensitivity: dec!(1), cap: dec!(0.0002) };
//! // Mark 0.01 % above index → +0.0001 per interval; far above → capped.
//! assert_eq!(premium.rate(dec!(10.001), Some(dec!(10))), dec!(0.0001));
//! assert_eq!(premium.rate(dec!(11), Some(dec!(10))), dec!(0.0002));
//! ```

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use perpbot_aptos::AccountAddress;
use perpbot_model::{Lots, MarketId, PositionSide, Timestamp};

use super::Abort;
use super::accounting::{Ledger, market_range};
use super::liquidation::refresh_liquidation_price;

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

/// One position's part of a funding settlement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FundingPayment {
    /// Profile.
    pub account: AccountAddress,
    /// Position side.
    pub side: PositionSide,
    /// Position size at settlement.
    pub lots: Lots,
    /// Paid by the position (negative: received), settled into its margin.
    pub paid: Decimal,
}

/// What a funding settlement did in one market.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingSummary {
    /// Rate applied.
    pub rate: Decimal,
    /// Mark used.
    pub mark: Decimal,
    /// Total paid by long positions (negative: received).
    pub longs_paid: Decimal,
    /// Total received by short positions (negative: paid).
    pub shorts_received: Decimal,
    /// `longs_paid − shorts_received`, credited to the insurance fund.
    pub to_insurance: Decimal,
    /// Every position's payment, in position order (market, profile, side).
    pub payments: Vec<FundingPayment>,
}

impl Ledger {
    // ---- mark price ----

    /// Set the index (oracle) price of a market.
    pub fn set_index(&mut self, market: MarketId, price: Decimal) {
        if let Some(m) = self.markets.get_mut(&market) {
            m.index = Some(price);
        }
    }

    /// Set the book mid of a market (`None` when one side is empty).
    pub fn set_mid(&mut self, market: MarketId, mid: Option<Decimal>) {
        if let Some(m) = self.markets.get_mut(&market) {
            m.mid = mid;
        }
    }

    /// The mark price from the configured source, falling back to index, mid, last trade.
    pub fn mark(&self, market: MarketId) -> Option<Decimal> {
        let m = self.markets.get(&market)?;
        let chosen = match self.config.mark_source {
            MarkSource::Index => m.index,
            MarkSource::Mid => m.mid,
            MarkSource::LastTrade => m.last_trade,
        };
        chosen.or(m.index).or(m.mid).or(m.last_trade)
    }

    // ---- funding ----

    /// Apply one funding payment of `rate` at `mark` to every position in the market: each pays
    /// (long, positive rate) or receives (short) `size · mark · rate`, settled into its margin.
    pub fn apply_funding(
        &mut self,
        market: MarketId,
        rate: Decimal,
        mark: Decimal,
    ) -> Result<FundingSummary, Abort> {
        let spec = self.market(market)?.spec.clone();
        let mut summary = FundingSummary {
            rate,
            mark,
            longs_paid: Decimal::ZERO,
            shorts_received: Decimal::ZERO,
            to_insurance: Decimal::ZERO,
            payments: Vec::new(),
        };
        for ((_, account, side), position) in self.positions.range_mut(market_range(market)) {
            let payment = spec.notional_at(position.lots, mark) * rate;
            let paid = match side {
                PositionSide::Long => {
                    summary.longs_paid += payment;
                    payment
                }
                PositionSide::Short => {
                    summary.shorts_received += payment;
                    -payment
                }
            };
            position.margin -= paid;
            refresh_liquidation_price(position, &spec);
            summary.payments.push(FundingPayment {
                account: *account,
                side: *side,
                lots: position.lots,
                paid,
            });
            if let Some(b) = self.accounts.get_mut(account) {
                b.funding_paid += paid;
            }
        }
        summary.to_insurance = summary.longs_paid - summary.shorts_received;
        self.insurance_fund += summary.to_insurance;
        Ok(summary)
    }

    /// Settle funding if an interval has passed since the last settlement (the first call only
    /// starts the clock), with the configured model at the current mark.
    pub fn settle_funding(&mut self, market: MarketId, now: Timestamp) -> Option<FundingSummary> {
        let interval = self.config.funding_interval;
        let m = self.markets.get_mut(&market)?;
        let Some(last) = m.last_funding else {
            m.last_funding = Some(now);
            return None;
        };
        if now.since(last) < interval || interval.is_zero() {
            return None;
        }
        m.last_funding = Some(last.plus(interval));
        let index = m.index;
        let mark = self.mark(market)?;
        let rate = self.config.funding.rate(mark, index);
        self.apply_funding(market, rate, mark).ok()
    }
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
