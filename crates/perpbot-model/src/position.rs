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
    pub fn estimate_liquidation_price(&self, spec: &MarketSpec) -> Option<Decimal> {
        if self.lots.is_zero() || self.leverage == 0 {
            return None;
        }
        let imr = Decimal::ONE / Decimal::from(self.leverage);
        let mmr = spec.maintenance_margin_rate();
        Some(match self.side {
            PositionSide::Long => self.entry_price * (Decimal::ONE - imr) / (Decimal::ONE - mmr),
            PositionSide::Short => self.entry_price * (Decimal::ONE + imr) / (Decimal::ONE + mmr),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

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
