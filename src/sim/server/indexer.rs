//! Kana's WebSocket indexer as the simulator serves it (placeholder; being written).

use std::sync::Arc;

use super::Shared;

/// The WebSocket route (`/ws/`).
pub fn routes() -> axum::Router<Arc<Shared>> {
    axum::Router::new()
}
