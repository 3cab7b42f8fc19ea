//! The engine's clock: wall-clock time that follows tokio's clock, so a test that pauses or
//! advances tokio time (`#[tokio::test(start_paused = true)]`) gets the same timestamps on every run.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::model::Timestamp;

/// A clock anchored at a wall-clock instant and advanced by tokio's monotonic clock.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    epoch: Timestamp,
    origin: tokio::time::Instant,
}

impl Clock {
    /// Anchored at the current wall-clock time.
    pub fn system() -> Clock {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock::starting_at(Timestamp(nanos))
    }

    /// Anchored at a fixed time: with paused tokio time this makes timestamps reproducible.
    pub fn starting_at(epoch: Timestamp) -> Clock {
        Clock {
            epoch,
            origin: tokio::time::Instant::now(),
        }
    }

    /// The current time.
    pub fn now(&self) -> Timestamp {
        self.epoch.plus(self.origin.elapsed())
    }

    /// The tokio instant corresponding to a timestamp (for sleeping until it).
    pub fn instant_at(&self, t: Timestamp) -> tokio::time::Instant {
        self.origin + t.since(self.epoch)
    }
}
