//! The simulator's clock work: synthetic market steps, block commits, the keeper (placeholder;
//! being written).

use std::sync::Arc;

use super::Shared;
use crate::sim::exchange::Exchange;
use crate::sim::market::SyntheticMarket;

/// Credit the synthetic traders' profiles so they can trade.
pub fn fund_synthetic(exchange: &mut Exchange, market: &SyntheticMarket) {
    let _ = (exchange, market);
}

/// Run until aborted.
pub async fn run(shared: Arc<Shared>) {
    let _ = shared;
    std::future::pending::<()>().await;
}
