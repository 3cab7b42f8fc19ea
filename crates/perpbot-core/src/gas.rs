//! Gas is money: what the venue's transactions cost in the chain's coin, priced in the quote
//! currency and handed to the risk engine, so PnL, `max_loss`, the drawdown and the fee budget
//! all count it.
//!
//! Each new amount of gas is priced when it is seen (at that moment's price, not the final
//! one): at the mid of a traded market whose base is the gas coin (APT-USD on Kana), else at the
//! configured `risk.gas_coin_price`. Gas seen while neither exists is held and priced as soon
//! as one does; until then the report says it is unpriced.

use std::fmt;

use rust_decimal::Decimal;
use serde::Serialize;
use tracing::warn;

use crate::risk::RiskEngine;
use crate::state::State;
use perpbot_model::Timestamp;

/// Where the gas coin's price came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "detail")]
pub enum GasPriceSource {
    /// No gas was paid yet.
    NotNeeded,
    /// The mid of this traded market.
    MarketMid(String),
    /// `risk.gas_coin_price`.
    Configured,
    /// Neither: the gas is not in the PnL yet.
    Unpriced,
}

impl fmt::Display for GasPriceSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GasPriceSource::NotNeeded => f.write_str("no gas paid"),
            GasPriceSource::MarketMid(m) => write!(f, "at the mid of {m}"),
            GasPriceSource::Configured => f.write_str("at risk.gas_coin_price"),
            GasPriceSource::Unpriced => {
                f.write_str("UNPRICED: no market of the gas coin traded and no risk.gas_coin_price")
            }
        }
    }
}

/// Gas paid, in the chain's coin and in the quote currency (see the module header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GasCost {
    /// The coin (APT).
    pub coin: String,
    /// Paid in that coin.
    pub native: Decimal,
    /// Converted to the quote currency (the part priced so far).
    pub in_quote: Decimal,
    /// Of `native`, the part not priced yet.
    pub unpriced: Decimal,
    /// Where the last price came from.
    pub price_source: GasPriceSource,
}

/// Follows the venue's running gas total and feeds each new part to the risk engine.
#[derive(Debug)]
pub struct GasMeter {
    coin: String,
    configured_price: Option<Decimal>,
    native: Decimal,
    unpriced: Decimal,
    source: GasPriceSource,
    warned: bool,
}

impl GasMeter {
    /// A meter for gas paid in `coin`, with an optional configured price.
    pub fn new(coin: &str, configured_price: Option<Decimal>) -> GasMeter {
        GasMeter {
            coin: coin.to_string(),
            configured_price,
            native: Decimal::ZERO,
            unpriced: Decimal::ZERO,
            source: GasPriceSource::NotNeeded,
            warned: false,
        }
    }

    /// The gas coin's price now, and where it came from.
    pub fn price(&self, state: &State) -> Option<(Decimal, GasPriceSource)> {
        let traded = state.markets().find_map(|spec| {
            if !spec.base_asset().eq_ignore_ascii_case(&self.coin) {
                return None;
            }
            let mid = state.mid_price(spec.id)?;
            Some((mid, GasPriceSource::MarketMid(spec.name.clone())))
        });
        traded.or_else(|| {
            self.configured_price
                .map(|p| (p, GasPriceSource::Configured))
        })
    }

    /// Take the venue's running total of gas paid (`total_native`): record the new part in the
    /// gas budget and, priced, in PnL and the fee budget. Returns true when PnL changed.
    pub fn update(
        &mut self,
        total_native: Decimal,
        state: &State,
        risk: &mut RiskEngine,
        now: Timestamp,
    ) -> bool {
        if total_native > self.native {
            let new = total_native - self.native;
            risk.record_gas(now, new);
            self.unpriced += new;
            self.native = total_native;
        }
        if self.unpriced.is_zero() {
            return false;
        }
        match self.price(state) {
            Some((price, source)) => {
                risk.record_gas_in_quote(now, self.unpriced * price);
                self.unpriced = Decimal::ZERO;
                self.source = source;
                true
            }
            None => {
                if !self.warned {
                    self.warned = true;
                    warn!(
                        coin = %self.coin,
                        "gas cannot be priced: no {} market is traded and risk.gas_coin_price is not set; \
                         PnL and the loss limits do not count it until it can be",
                        self.coin
                    );
                }
                self.source = GasPriceSource::Unpriced;
                false
            }
        }
    }

    /// What was paid so far.
    pub fn cost(&self, risk: &RiskEngine) -> GasCost {
        GasCost {
            coin: self.coin.clone(),
            native: self.native,
            in_quote: risk.gas_in_quote(),
            unpriced: self.unpriced,
            price_source: self.source.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::risk::RiskConfig;
    use perpbot_model::{
        BookUpdate, BookUpdateKind, Event, Level, Lots, MarketId, MarketSpec, Ticks,
    };
    use rust_decimal_macros::dec;

    fn apt_state(bid: u64, ask: u64) -> State {
        let spec = MarketSpec::kana_apt_testnet();
        let id = spec.id;
        let mut s = State::new(&[spec]);
        s.apply(&Event::Book(BookUpdate {
            market: id,
            kind: BookUpdateKind::Snapshot,
            bids: vec![Level {
                price: Ticks(bid),
                lots: Lots(1000),
            }],
            asks: vec![Level {
                price: Ticks(ask),
                lots: Lots(1000),
            }],
            ts: Timestamp(1),
        }));
        s
    }

    #[test]
    fn gas_is_priced_at_the_apt_mid_and_counts_in_pnl_and_the_loss_limit() {
        let state = apt_state(5_000, 5_002); // mid 5.001 on the APT grid (3 decimals)
        let mut risk = RiskEngine::new(RiskConfig {
            max_loss: Some(dec!(0.1)),
            ..RiskConfig::default()
        });
        let mut meter = GasMeter::new("APT", None);
        assert_eq!(risk.evaluate(&state), None);
        assert!(meter.update(dec!(0.03), &state, &mut risk, Timestamp(2)));
        let cost = meter.cost(&risk);
        assert_eq!(cost.in_quote, dec!(0.15003));
        assert!(
            matches!(cost.price_source, GasPriceSource::MarketMid(ref m) if m.starts_with("APT"))
        );
        assert_eq!(risk.net_pnl(&state), dec!(-0.15003), "gas is a loss");
        assert_eq!(
            risk.cost_last_hour(Timestamp(3)),
            dec!(0.15003),
            "and a fee"
        );
        let change = risk.evaluate(&state).expect("gas alone trips max_loss");
        assert!(change.reason.contains("max_loss"), "{}", change.reason);
        // The same total again adds nothing.
        assert!(!meter.update(dec!(0.03), &state, &mut risk, Timestamp(4)));
    }

    #[test]
    fn without_a_price_gas_is_held_until_one_is_configured_or_traded() {
        let spec = MarketSpec::kana_apt_testnet();
        let empty = State::new(&[spec]);
        let mut risk = RiskEngine::new(RiskConfig::default());
        let mut meter = GasMeter::new("APT", None);
        assert!(!meter.update(dec!(0.02), &empty, &mut risk, Timestamp(1)));
        assert_eq!(meter.cost(&risk).price_source, GasPriceSource::Unpriced);
        assert_eq!(meter.cost(&risk).unpriced, dec!(0.02));
        assert_eq!(
            risk.gas_last_hour(Timestamp(2)),
            dec!(0.02),
            "the APT budget counts it"
        );
        let state = apt_state(6_000, 6_000);
        assert!(meter.update(dec!(0.02), &state, &mut risk, Timestamp(3)));
        assert_eq!(risk.gas_in_quote(), dec!(0.12));

        let mut risk = RiskEngine::new(RiskConfig::default());
        let mut meter = GasMeter::new("APT", Some(dec!(4)));
        let other = State::new(&[MarketSpec {
            id: MarketId(1339),
            name: "BTC-USD".into(),
            ..MarketSpec::kana_apt_testnet()
        }]);
        assert!(meter.update(dec!(0.5), &other, &mut risk, Timestamp(1)));
        assert_eq!(risk.gas_in_quote(), dec!(2));
        assert_eq!(meter.cost(&risk).price_source, GasPriceSource::Configured);
    }
}
