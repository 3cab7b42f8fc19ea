//! The Aptos fullnode endpoints of the simulator (placeholder; being written).

use std::sync::Arc;

use super::Shared;

/// The node's routes under `/v1`.
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
}
