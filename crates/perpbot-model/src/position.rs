//! Positions as the venue reports them: one per market and [`PositionSide`] (hedge mode).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::Timestamp;
use super::order::PositionSide;
use super::units::{Lots, MarketId, MarketSpec};

/// One position (one side of one market). Prices here are human `Decimal`s: an average entry or a
/// liquidation estimate is generally not on the tick grid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    pub market: MarketId,
    /// Long or short.
    pub side: PositionSide,
    /// Size (zero means flat).
    pub lots: Lots,
    /// Average entry price (quote per coin).
    pub entry_price: Decimal,
    /// Isolated margin posted (quote).
    pub margin: Decimal,
    /// Leverage of the position.
    pub leverage: u32,
    /// Liquidation price estimate, when known.
    pub liquidation_price: Option<Decimal>,
    /// Take-profit trigger price, when set.
    pub take_profit: Option<Decimal>,
    /// Stop-loss trigger price, when set.
    pub stop_loss: Option<Decimal>,
    /// When the venue last changed it.
    pub updated_at: Timestamp,
}

impl Position {
    /// A flat position (used when a snapshot no longer lists a side).
    pub fn flat(market: MarketId, side: PositionSide, now: Timestamp) -> Position {
        Position {
            market,
            side,
            lots: Lots::ZERO,
            entry_price: Decimal::ZERO,
            margin: Decimal::ZERO,
            leverage: 1,
            liquidation_price: None,
            take_profit: None,
            stop_loss: None,
            updated_at: now,
        }
    }

    /// Unrealised PnL at `mark` (quote).
    pub fn unrealized_pnl(&self, spec: &MarketSpec, mark: Decimal) -> Decimal {
        let size = spec.lots_to_size(self.lots);
        match self.side {
            PositionSide::Long => (mark - self.entry_price) * size,
            PositionSide::Short => (self.entry_price - mark) * size,
        }
    }

    /// Signed size in lots: positive for long, negative for short.
    pub fn signed_lots(&self) -> i128 {
        match self.side {
            PositionSide::Long => i128::from(self.lots.0),
            PositionSide::Short => -i128::from(self.lots.0),
        }
    }

    /// Liquidation price estimate from Kana's rule (reference §9.2): with IMR = 1/leverage and
    /// MMR = maintenance margin, long `entry·(1−IMR)/(1−MMR)`, short `entry·(1+IMR)/(1+MMR)`.
    ///
    /// Computed as `entry · n / d` with the factor an exact ratio of integers (IMR and MMR in
    /// basis points: long `(L−1)·10⁴ / (L·(10⁴−bps))`), one product and one division: the
    /// paper venue prices it on every opening fill, where three decimal divisions and a
    /// product of two 28-digit decimals cost more than the fill. `None` for a flat position,
    /// no leverage, or a maintenance margin of 100 % or more on a long (no such price).
    pub fn estimate_liquidation_price(&self, spec: &MarketSpec) -> Option<Decimal> {
        if self.lots.is_zero() || self.leverage == 0 {
            return None;
        }
        const BPS: i64 = 10_000;
        let leverage = i64::from(self.leverage);
        let mm_bps = i64::from(spec.maintenance_margin_bps);
        let (n, d) = match self.side {
            PositionSide::Long => ((leverage - 1) * BPS, leverage * (BPS - mm_bps)),
            PositionSide::Short => ((leverage + 1) * BPS, leverage * (BPS + mm_bps)),
        };
        if d <= 0 {
            return None;
        }
        self.entry_price
            .checked_mul(Decimal::from(n))?
            .checked_div(Decimal::from(d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    /// The one-ratio form equals the rule's three-step decimal form to 25 significant digits
    /// (each rounds at 28), or to 20 places for tiny prices, where the three-step form runs
    /// out of decimal places first, over leverages, maintenance margins and entries;
    /// a long whose maintenance margin is 100 % has no such price (the decimal form divided
    /// by zero).
    #[test]
    fn liquidation_estimate_is_the_rule_in_one_ratio() {
        let mut spec = MarketSpec::kana_apt_testnet();
        let entries = [
            dec!(6.05),
            dec!(0.000001),
            dec!(115300),
            dec!(5.000243283582089552238805970),
        ];
        for bps in [0u32, 50, 250, 1_000, 9_999] {
            spec.maintenance_margin_bps = bps;
            let mmr = spec.maintenance_margin_rate();
            for leverage in 1..=20u32 {
                let imr = Decimal::ONE / Decimal::from(leverage);
                for entry in entries {
                    for side in [PositionSide::Long, PositionSide::Short] {
                        let mut p = Position::flat(spec.id, side, Timestamp(0));
                        p.lots = Lots(1);
                        p.leverage = leverage;
                        p.entry_price = entry;
                        let rule = match side {
                            PositionSide::Long => {
                                entry * (Decimal::ONE - imr) / (Decimal::ONE - mmr)
                            }
                            PositionSide::Short => {
                                entry * (Decimal::ONE + imr) / (Decimal::ONE + mmr)
                            }
                        };
                        let got = p.estimate_liquidation_price(&spec).unwrap();
                        let slack = (rule.abs() * dec!(1e-25)).max(dec!(1e-20));
                        assert!(
                            (got - rule).abs() <= slack,
                            "{side:?} {entry} at {leverage}x, {bps} bps: {got} vs {rule}"
                        );
                    }
                }
            }
        }
        spec.maintenance_margin_bps = 10_000;
        let mut p = Position::flat(spec.id, PositionSide::Long, Timestamp(0));
        (p.lots, p.leverage, p.entry_price) = (Lots(1), 2, dec!(6.05));
        assert_eq!(p.estimate_liquidation_price(&spec), None);
        p.side = PositionSide::Short;
        assert!(p.estimate_liquidation_price(&spec).is_some());
    }

    #[test]
    fn liquidation_estimate_matches_reference_sample() {
        // Short 1 APT at 6.050 with 2x → 8.8537 (reference §9.2, the positions sample).
        let spec = MarketSpec::kana_apt_testnet();
        let mut p = Position::flat(spec.id, PositionSide::Short, Timestamp(0));
        p.lots = Lots(1000);
        p.entry_price = dec!(6.05);
        p.leverage = 2;
        let liq = p.estimate_liquidation_price(&spec).unwrap();
        assert_eq!(liq.round_dp(4), dec!(8.8537));
        // Docs' worked example: 7 @ 10x → long 6.46, short 7.51.
        p.entry_price = dec!(7);
        p.leverage = 10;
        assert_eq!(
            p.estimate_liquidation_price(&spec).unwrap().round_dp(2),
            dec!(7.51)
        );
        p.side = PositionSide::Long;
        assert_eq!(
            p.estimate_liquidation_price(&spec).unwrap().round_dp(2),
            dec!(6.46)
        );
    }

    #[test]
    fn unrealized_pnl_signs() {
        let spec = MarketSpec::kana_apt_testnet();
        let mut p = Position::flat(spec.id, PositionSide::Long, Timestamp(0));
        p.lots = Lots(2000); // 2 APT
        p.entry_price = dec!(5);
        assert_eq!(p.unrealized_pnl(&spec, dec!(5.5)), dec!(1.0));
        p.side = PositionSide::Short;
        assert_eq!(p.unrealized_pnl(&spec, dec!(5.5)), dec!(-1.0));
        assert_eq!(p.signed_lots(), -2000);
    }
}
