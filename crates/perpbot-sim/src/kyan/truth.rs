//! The simulator's own view of a maker ([`KyanTruth`]), for tests and the project's integration
//! checks: what the client's state should converge to.

use alloy_primitives::Address;
use rust_decimal::Decimal;

use super::core::{Core, hex_id};

/// One open order as the simulator holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthOrder {
    /// 32-hex id.
    pub order_id: String,
    /// Instrument name.
    pub instrument: String,
    /// `buy` or `sell`.
    pub direction: String,
    /// Price.
    pub price: Decimal,
    /// Contracts still resting.
    pub remaining: Decimal,
    /// MMP flag.
    pub mmp: bool,
}

/// A net position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthPosition {
    /// Instrument name.
    pub instrument: String,
    /// Signed contracts (negative = short).
    pub contracts: Decimal,
    /// Average entry price.
    pub average_price: Decimal,
}

/// One pair's margin account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TruthAccount {
    /// `BTC_USDC`, …
    pub pair: String,
    /// Collateral (USDC).
    pub collateral: Decimal,
    /// Equity at mark (USDC).
    pub equity: Decimal,
    /// Initial margin.
    pub im: Decimal,
    /// Maintenance margin.
    pub mm: Decimal,
    /// Realised PnL.
    pub realised_pnl: Decimal,
}

/// The simulator's state for one maker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KyanTruth {
    /// Open orders, by instrument then age.
    pub open_orders: Vec<TruthOrder>,
    /// Non-zero positions.
    pub positions: Vec<TruthPosition>,
    /// Margin accounts by pair.
    pub accounts: Vec<TruthAccount>,
    /// Own fill records (a taker order with several fills counts each).
    pub fills: u64,
    /// Orders accepted.
    pub orders_accepted: u64,
    /// Fees paid (USDC).
    pub fees_paid: Decimal,
    /// Funding paid (USDC; negative = received).
    pub funding_paid: Decimal,
}

impl KyanTruth {
    /// The signed position on `instrument` (0 when flat).
    pub fn position(&self, instrument: &str) -> Decimal {
        self.positions
            .iter()
            .find(|p| p.instrument == instrument)
            .map_or(Decimal::ZERO, |p| p.contracts)
    }

    /// The account of `pair`.
    pub fn account(&self, pair: &str) -> Option<&TruthAccount> {
        self.accounts.iter().find(|a| a.pair == pair)
    }
}

impl Core {
    /// The truth for `maker` (empty for an unknown maker).
    pub fn truth(&self, maker: Address) -> KyanTruth {
        let Some(m) = self.makers.get(&maker) else {
            return KyanTruth::default();
        };
        let open_orders = self
            .open_orders(maker, None)
            .into_iter()
            .map(|o| TruthOrder {
                order_id: hex_id(o.id),
                instrument: self.instruments[o.inst].cfg.name.clone(),
                direction: if o.buy { "buy" } else { "sell" }.into(),
                price: self.price(o.inst, o.price),
                remaining: self.contracts(o.inst, o.remaining()),
                mmp: o.mmp,
            })
            .collect();
        let mut positions = Vec::new();
        let mut accounts = Vec::new();
        for (pair, a) in &m.accounts {
            for (inst, p) in &a.positions {
                positions.push(TruthPosition {
                    instrument: self.instruments[*inst].cfg.name.clone(),
                    contracts: self.instruments[*inst].spec.signed_size(p.lots),
                    average_price: p.avg,
                });
            }
            let v = self.margin(maker, pair);
            accounts.push(TruthAccount {
                pair: pair.clone(),
                collateral: v.collateral,
                equity: v.equity,
                im: v.im,
                mm: v.mm,
                realised_pnl: a.realised_pnl,
            });
        }
        KyanTruth {
            open_orders,
            positions,
            accounts,
            fills: m.fills,
            orders_accepted: m.orders_accepted,
            fees_paid: m.fees_paid,
            funding_paid: m.funding_paid,
        }
    }
}
