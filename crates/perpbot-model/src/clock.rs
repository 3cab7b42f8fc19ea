//! The engine's clock: wall-clock time that follows tokio's clock, so a test that pauses or
//! advances tokio time (`#[tokio::test(start_paused = true)]`) gets the same timestamps on every run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Timestamp;

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

/// Parse a duration: `1h`, `90m`, `30s`, `500ms`, or a plain number of seconds (`300`). Every
/// duration on the command line and in a config file goes through here, so they all read alike.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let n: u64 = digits.parse().map_err(|_| {
        format!("duration {text:?}: expected a number with an optional unit (h, m, s, ms)")
    })?;
    let secs = |k: u64| {
        n.checked_mul(k)
            .map(Duration::from_secs)
            .ok_or_else(|| format!("duration {text:?} is too long"))
    };
    match unit.trim() {
        "" | "s" => secs(1),
        "m" | "min" => secs(60),
        "h" => secs(3_600),
        "ms" => Ok(Duration::from_millis(n)),
        other => Err(format!(
            "duration {text:?}: unknown unit {other:?} (use h, m, s or ms)"
        )),
    }
}

/// Serde for a config duration: a string [`parse_duration`] reads (`"24h"`) or whole seconds.
pub mod serde_duration {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer};

    /// Deserialize `"24h"`, `"90m"`, `"30s"` or `86400`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Secs(u64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Secs(s) => Ok(Duration::from_secs(s)),
            Raw::Text(t) => super::parse_duration(&t).map_err(serde::de::Error::custom),
        }
    }
}
