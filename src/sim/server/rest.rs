//! Kana's REST API as the simulator serves it (placeholder; being written).

use std::sync::Arc;

use super::Shared;

/// The REST routes.
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
}
