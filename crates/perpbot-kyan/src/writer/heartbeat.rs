//! Kyan's dead-man's switch: `POST /heartbeat {maker, timeout}` every interval while the engine
//! is alive (its last [`perpbot_core::venue::VenueWriter::engine_alive`] is recent). When the
//! engine stalls or dies, heartbeats stop and Kyan cancels every order of the maker after
//! `timeout` seconds on its own. The task stops with the writer.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;
use tracing::{debug, warn};

use perpbot_model::Timestamp;
use perpbot_model::clock::Clock;

use super::WriterConfig;
use crate::rest::KyanApi;

/// Start the heartbeat task.
pub fn spawn(
    api: Arc<KyanApi>,
    alive: Arc<AtomicU64>,
    clock: Clock,
    config: WriterConfig,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(config.heartbeat_interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut stalled = false;
        loop {
            tick.tick().await;
            let last = alive.load(Ordering::Relaxed);
            if last == 0 || clock.now().since(Timestamp(last)) > config.alive_window {
                if !stalled && last != 0 {
                    warn!("engine silent: Kyan heartbeats stop, its cancel-all-after will fire");
                }
                stalled = true;
                continue;
            }
            stalled = false;
            match api.heartbeat(config.heartbeat_timeout_secs).await {
                Ok(_) => debug!("Kyan heartbeat sent"),
                Err(e) => warn!(error = %e, "Kyan heartbeat failed"),
            }
        }
    })
}
