//! Signature deadlines. Kyan has no nonces: a signature is replay-safe because its deadline must
//! be at most ~30 s ahead and strictly greater than the last one accepted for that maker (§3.6).
//! So every maker gets `max(now + lead, last + 1)`, and the clock is corrected by the skew a
//! `SIGNATURE_DEADLINE_INVALID` error reveals through its `serverTime` \[S\].

use std::collections::HashMap;

use alloy_primitives::Address;

/// How far ahead of the server's clock Kyan accepts a deadline (\[D\]: about 30 s).
pub const MAX_AHEAD_SECS: u64 = 30;

/// Hands out strictly increasing deadlines per maker.
#[derive(Debug, Clone)]
pub struct Deadlines {
    /// Seconds ahead of (corrected) now.
    lead_secs: u64,
    /// The server's clock minus ours, in seconds, from the last error that told it.
    skew_secs: i64,
    last: HashMap<Address, u64>,
}

impl Deadlines {
    /// Deadlines `lead_secs` ahead (Kyan accepts up to about 30 s \[D\]).
    pub fn new(lead_secs: u64) -> Deadlines {
        Deadlines {
            lead_secs,
            skew_secs: 0,
            last: HashMap::new(),
        }
    }

    /// The next deadline of `maker` at local Unix time `now_secs`.
    pub fn next(&mut self, maker: Address, now_secs: u64) -> u64 {
        let server_now = now_secs.saturating_add_signed(self.skew_secs);
        let candidate = server_now.saturating_add(self.lead_secs);
        let last = self.last.entry(maker).or_insert(0);
        let deadline = candidate.max(last.saturating_add(1));
        *last = deadline;
        deadline
    }

    /// The last deadline handed to `maker` (0 before the first).
    pub fn last(&self, maker: Address) -> u64 {
        self.last.get(&maker).copied().unwrap_or(0)
    }

    /// Put `maker`'s counter back to `last` (deadlines drawn for a request that is not sent
    /// are given back, so they do not push later ones further ahead).
    pub fn restore(&mut self, maker: Address, last: u64) {
        self.last.insert(maker, last);
    }

    /// Whether `maker`'s last deadline is still inside the window Kyan accepts at local time
    /// `now_secs` ([`MAX_AHEAD_SECS`] past the corrected clock). Deadlines are whole seconds and
    /// strictly increasing, so a maker that signs more than one request a second runs ahead of
    /// the clock and, after [`MAX_AHEAD_SECS`] of it, out of the window: such a request would
    /// only be refused.
    pub fn within_window(&self, maker: Address, now_secs: u64) -> bool {
        let server_now = now_secs.saturating_add_signed(self.skew_secs);
        self.last(maker) <= server_now.saturating_add(MAX_AHEAD_SECS)
    }

    /// Learn the server's clock from a `SIGNATURE_DEADLINE_INVALID` error's `serverTime`
    /// (Unix seconds, or milliseconds: a value above 10^12 is taken as ms \[INF\]), received
    /// at local time `now_secs`.
    pub fn observe_server_time(&mut self, server_time: u64, now_secs: u64) {
        let server_secs = if server_time > 1_000_000_000_000 {
            server_time / 1_000
        } else {
            server_time
        };
        let skew = i128::from(server_secs) - i128::from(now_secs);
        self.skew_secs = i64::try_from(skew).unwrap_or(0);
    }

    /// Learn from an error answer: a `SIGNATURE_DEADLINE_INVALID` carrying `serverTime`
    /// corrects the clock (true); anything else changes nothing (false).
    pub fn observe_error(&mut self, error: &crate::errors::KyanError, now_secs: u64) -> bool {
        match error.server_time {
            Some(t) if error.code == "SIGNATURE_DEADLINE_INVALID" => {
                self.observe_server_time(t, now_secs);
                true
            }
            _ => false,
        }
    }

    /// The clock correction in use (seconds the server is ahead).
    pub fn skew_secs(&self) -> i64 {
        self.skew_secs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Address = Address::repeat_byte(1);
    const B: Address = Address::repeat_byte(2);

    #[test]
    fn signing_faster_than_one_a_second_runs_out_of_the_window_and_gets_drawn_deadlines_back() {
        let mut d = Deadlines::new(20);
        let now = 1_000;
        // 20 s of lead plus 10 more signatures in the same second: still inside 30 s.
        for _ in 0..11 {
            d.next(A, now);
        }
        assert!(d.within_window(A, now));
        let before = d.last(A);
        d.next(A, now);
        assert!(
            !d.within_window(A, now),
            "31 s ahead is outside Kyan's window"
        );
        d.restore(A, before);
        assert!(d.within_window(A, now));
        // A second later there is room for one more.
        d.next(A, now + 1);
        assert!(d.within_window(A, now + 1));
        assert!(d.within_window(B, now), "makers have their own counters");
    }

    #[test]
    fn deadlines_increase_per_maker_even_within_one_second() {
        let mut d = Deadlines::new(20);
        assert_eq!(d.next(A, 1_000), 1_020);
        assert_eq!(d.next(A, 1_000), 1_021);
        assert_eq!(d.next(A, 1_000), 1_022);
        // Another maker has its own sequence.
        assert_eq!(d.next(B, 1_000), 1_020);
        // Time moving on overtakes the counter.
        assert_eq!(d.next(A, 1_010), 1_030);
    }

    #[test]
    fn the_server_clock_from_an_error_corrects_later_deadlines() {
        let mut d = Deadlines::new(20);
        d.observe_server_time(1_050, 1_000);
        assert_eq!(d.skew_secs(), 50);
        assert_eq!(d.next(A, 1_000), 1_070);
        // Milliseconds are recognised; a server behind us moves deadlines back, but never
        // below what was already handed out.
        d.observe_server_time(1_700_000_000_000, 1_700_000_010);
        assert_eq!(d.skew_secs(), -10);
        assert_eq!(d.next(B, 1_700_000_010), 1_700_000_020);
        assert_eq!(d.next(A, 1_000), 1_071);
    }

    #[test]
    fn a_deadline_error_from_the_server_sets_the_skew() {
        let mut d = Deadlines::new(20);
        let e = crate::errors::KyanError::parse(
            400,
            r#"{"error":"SIGNATURE_DEADLINE_INVALID","serverTime":2030,"givenTimestamp":2000}"#,
        );
        assert!(d.observe_error(&e, 2_000));
        assert_eq!(d.next(A, 2_000), 2_050);
        let other = crate::errors::KyanError::parse(400, r#"{"error":"INVALID_PRICE"}"#);
        assert!(!d.observe_error(&other, 2_000));
        assert_eq!(d.skew_secs(), 30);
    }
}
