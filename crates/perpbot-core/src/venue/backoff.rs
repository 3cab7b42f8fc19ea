//! The delay before reconnecting a venue stream, shared by every venue client.

use std::time::Duration;

use rand::Rng;

/// A connection that stayed up this long counts as healthy: the back-off starts over. Only
/// uptime proves it: a server that accepts, sends a frame and drops must not be reconnected to
/// at the shortest delay forever.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(30);

/// The delay before retry number `attempt` (0-based): `initial · 2^attempt`, capped at `max`,
/// then jittered uniformly into its upper half so that many clients dropped together do not
/// reconnect in lock-step.
pub fn reconnect_delay(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let factor = 1u32 << attempt.min(20);
    equal_jitter(initial.saturating_mul(factor).min(max))
}

/// A delay drawn uniformly from `[d/2, d]` ("equal jitter"): at least half the back-off is kept,
/// and clients that failed together spread out. Durations past 585 years are taken as that.
pub fn equal_jitter(d: Duration) -> Duration {
    let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_into_its_upper_half_and_stops_at_the_cap() {
        let (one, thirty) = (Duration::from_secs(1), Duration::from_secs(30));
        for attempt in 0..40 {
            let base = Duration::from_secs(1u64 << attempt.min(5)).min(thirty);
            let d = reconnect_delay(one, thirty, attempt);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d:?}");
        }
        assert_eq!(reconnect_delay(Duration::ZERO, thirty, 3), Duration::ZERO);
    }

    #[test]
    fn equal_jitter_keeps_at_least_half_and_saturates() {
        let d = Duration::from_millis(10);
        let draws: Vec<Duration> = (0..200).map(|_| equal_jitter(d)).collect();
        assert!(draws.iter().all(|j| *j >= d / 2 && *j <= d));
        assert!(draws.iter().any(|j| *j < d * 3 / 4) && draws.iter().any(|j| *j > d * 3 / 4));
        assert!(equal_jitter(Duration::MAX) >= Duration::from_nanos(u64::MAX / 2));
        assert_eq!(equal_jitter(Duration::ZERO), Duration::ZERO);
    }
}
