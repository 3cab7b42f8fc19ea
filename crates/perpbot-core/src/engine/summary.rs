//! What a run did: the summary printed at the end and handed back with the final state.

use rust_decimal::Decimal;
use serde::Serialize;

use crate::report::Performance;
use crate::state::State;
use perpbot_model::{ClientOrderId, TradingState};

/// What a run did, printed at the end and returned to the caller.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    /// Strategy name.
    pub strategy: String,
    /// Trading state at the end.
    pub trading_state: TradingState,
    /// Fills seen.
    pub fills: u64,
    /// Of which maker fills.
    pub maker_fills: u64,
    /// PnL realised by fills (quote, before fees).
    pub realized_pnl: Decimal,
    /// Unrealised PnL at the last mids (quote).
    pub unrealized_pnl: Decimal,
    /// Fees paid (quote).
    pub fees: Decimal,
    /// realised − fees + unrealised (before gas).
    pub total_pnl: Decimal,
    /// What the venue's transactions cost in gas, in the chain's coin and in the quote.
    pub gas: crate::gas::GasCost,
    /// `total_pnl` − gas: what the run made or lost.
    pub net_pnl: Decimal,
    /// PnL and drawdown as the loss limits count them: over the loss window, earlier runs
    /// included when the limits are saved.
    pub limits_window_pnl: Decimal,
    /// Drawdown as the limits count it.
    pub limits_window_drawdown: Decimal,
    /// True when a second stop request cut short the wait for cancel confirmations.
    pub shutdown_interrupted: bool,
    /// Venue requests sent.
    pub requests_sent: u64,
    pub orders_sent: u64,
    /// Intents refused before leaving the process, by the risk check or the rate limiter.
    pub risk_rejections: u64,
    /// Requests the venue refused.
    pub venue_rejections: u64,
    /// Orders still live when the engine stopped (not confirmed cancelled).
    pub left_open: Vec<ClientOrderId>,
    /// Events the strategy could not handle (returned an error).
    pub strategy_errors: u64,
    /// Why the strategy was stopped, if it panicked (trading was then halted).
    pub strategy_failure: Option<String>,
    /// Fills per order sent (0 when none was sent).
    pub fill_ratio: f64,
    /// What the venue's own transactions cost (gas on Kana).
    pub tx_costs: crate::venue::TxCosts,
    /// What reconciliation with the venue found over the run.
    pub reconciliation: ReconciliationStats,
    /// Fills that named no order and were matched to one by market, side, price, size and time
    /// (Kana's documented fill records carry no order id).
    pub attributed_fills: u64,
    /// Fills no order of this bot owned: venue-made closes (TP/SL, liquidation), orders placed
    /// elsewhere, or ones that could not be matched. Counted in PnL and fees; the position
    /// follows the venue.
    pub unattributed_fills: u64,
    /// Where the PnL came from, inventory and drawdown.
    pub performance: Performance,
}

impl RunSummary {
    /// True when every order was confirmed closed.
    pub fn clean(&self) -> bool {
        self.left_open.is_empty()
    }
}

/// Totals of what reconciliation found (see [`crate::reconcile`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReconciliationStats {
    /// Reconciliations run (start-up and after each reconnect).
    pub runs: u64,
    /// Venue orders adopted as external.
    pub adopted: u64,
    /// Orders the venue no longer listed, closed locally.
    pub gone: u64,
    /// Position differences explained (missed fills, TP/SL, liquidation).
    pub explained: u64,
    /// Position differences nothing explained (each switched trading to reduce-only).
    pub unexplained: u64,
}

/// What [`Engine::run`] hands back: the summary and the final state (for tools and tests).
#[derive(Debug)]
pub struct Finished {
    /// The run's summary.
    pub summary: RunSummary,
    /// The state at the end.
    pub state: State,
}
