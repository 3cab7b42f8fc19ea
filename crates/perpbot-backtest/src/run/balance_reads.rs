//! When the backtest reads the exchange's balance for the bot, under
//! [`BalanceReports::Polled`]: the live Kana reader's loop (`perpbot_kana::balance::spawn`)
//! replayed on simulated time. Live, it reads, then sleeps the interval unless a fill wakes it,
//! and a wake starts the shorter after-fill sleep instead; a wake during that sleep (or during a
//! read) is kept and makes the next sleep the after-fill one too.

use std::time::Duration;

use perpbot_model::Timestamp;

use crate::models::BalanceReports;

/// The reader's schedule.
#[derive(Debug, Clone)]
pub(super) struct BalanceReads {
    interval: Duration,
    after_fill: Duration,
    /// When the next read happens.
    next: Timestamp,
    /// Sleeping the after-fill delay (a wake now is kept for the next turn).
    after_fill_sleep: bool,
    /// A wake kept for the next turn.
    woken: bool,
}

impl BalanceReads {
    /// The schedule for `reports`, with the first read (the session's) at `start`; `None`
    /// when the exchange streams the balance instead.
    pub(super) fn new(reports: BalanceReports, start: Timestamp) -> Option<BalanceReads> {
        match reports {
            BalanceReports::Streamed => None,
            BalanceReports::Polled {
                interval_ms,
                after_fill_ms,
            } => {
                let interval = Duration::from_millis(interval_ms);
                Some(BalanceReads {
                    interval,
                    after_fill: Duration::from_millis(after_fill_ms),
                    next: start.plus(interval),
                    after_fill_sleep: false,
                    woken: false,
                })
            }
        }
    }

    /// When the next read is due.
    pub(super) fn next_at(&self) -> Timestamp {
        self.next
    }

    /// A fill reached the bot at `now`.
    pub(super) fn wake(&mut self, now: Timestamp) {
        if self.after_fill_sleep {
            self.woken = true;
        } else {
            self.after_fill_sleep = true;
            self.next = now.plus(self.after_fill);
        }
    }

    /// The read due at `now` happened: schedule the next.
    pub(super) fn read(&mut self, now: Timestamp) {
        self.after_fill_sleep = std::mem::take(&mut self.woken);
        let sleep = if self.after_fill_sleep {
            self.after_fill
        } else {
            self.interval
        };
        self.next = now.plus(sleep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn reads() -> BalanceReads {
        BalanceReads::new(
            BalanceReports::Polled {
                interval_ms: 10_000,
                after_fill_ms: 500,
            },
            Timestamp(0),
        )
        .expect("polled")
    }

    #[test]
    fn streamed_balances_need_no_reads() {
        assert!(BalanceReads::new(BalanceReports::Streamed, Timestamp(0)).is_none());
    }

    #[test]
    fn reads_come_every_interval_while_nothing_fills() {
        let mut r = reads();
        assert_eq!(r.next_at(), Timestamp(10_000 * MS));
        r.read(r.next_at());
        assert_eq!(r.next_at(), Timestamp(20_000 * MS));
    }

    #[test]
    fn a_fill_brings_the_read_forward_and_fills_close_together_make_one_read() {
        let mut r = reads();
        r.wake(Timestamp(3_000 * MS));
        assert_eq!(r.next_at(), Timestamp(3_500 * MS));
        // Two more fills inside the half second: the read stays where it was…
        r.wake(Timestamp(3_100 * MS));
        r.wake(Timestamp(3_400 * MS));
        assert_eq!(r.next_at(), Timestamp(3_500 * MS));
        // …and, as the live reader keeps the wake, one more read follows half a second later.
        r.read(Timestamp(3_500 * MS));
        assert_eq!(r.next_at(), Timestamp(4_000 * MS));
        r.read(Timestamp(4_000 * MS));
        assert_eq!(r.next_at(), Timestamp(14_000 * MS));
    }

    #[test]
    fn a_fill_just_before_the_periodic_read_moves_it_as_live() {
        // Live, the wake ends the interval's sleep and starts the half second's.
        let mut r = reads();
        r.wake(Timestamp(9_900 * MS));
        assert_eq!(r.next_at(), Timestamp(10_400 * MS));
    }
}
