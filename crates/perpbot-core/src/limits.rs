//! Loss, drawdown and cost limits that outlive the process.
//!
//! A bot that a loss limit stopped must not start trading again because someone restarted it,
//! and a bot restarted every hour must not get a fresh `max_loss` every hour. So the risk engine
//! keeps its PnL history (net of fees and gas) over a rolling window, 24 h by default, and its
//! trailing-hour fee and gas spend, and the engine saves them to a small JSON file next to the
//! journal. At start-up they are restored: the loss and drawdown count from the window's start,
//! not from the restart, and a tripped limit stays tripped until an operator runs
//! `perpbot rearm`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::atto::{self, Round};
use perpbot_model::{Timestamp, TradingState};

const MINUTE_NANOS: u64 = 60_000_000_000;

/// One minute of PnL history: the last and the highest cumulative PnL seen in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PnlMinute {
    /// Minutes since the Unix epoch.
    pub minute: u64,
    /// Cumulative PnL at the end of the minute (so far).
    pub last: Decimal,
    /// Highest cumulative PnL within the minute.
    pub high: Decimal,
}

/// Cumulative PnL (across runs) over a rolling window, at one-minute resolution, so a day of
/// history is at most 1,440 entries however many events arrive. Kept in [`atto`] units (the
/// risk engine observes it on every mid or position move); decimals at the edges.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PnlWindow {
    window: Duration,
    /// Cumulative PnL when the window starts (the last minute that fell out of it).
    baseline: i128,
    minutes: VecDeque<Minute>,
    /// The minutes that can still be the window's highest, as (minute, high) with highs
    /// strictly falling from front to back: the front is the peak. Kept as minutes come and go
    /// (each enters and leaves once), so [`PnlWindow::peak`], checked on every PnL change, does
    /// not walk up to a day of minutes.
    peaks: VecDeque<(u64, i128)>,
}

/// [`PnlMinute`] in [`atto`] units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Minute {
    minute: u64,
    last: i128,
    high: i128,
}

impl PnlWindow {
    /// An empty window of the given length, starting from zero.
    pub fn new(window: Duration) -> PnlWindow {
        PnlWindow {
            window,
            baseline: 0,
            minutes: VecDeque::new(),
            peaks: VecDeque::new(),
        }
    }

    /// Record the cumulative PnL at `now`.
    pub fn observe(&mut self, now: Timestamp, cumulative: Decimal) {
        self.observe_atto(now, atto::from_decimal(cumulative, Round::Down));
    }

    /// [`PnlWindow::observe`] in [`atto`] units.
    pub(crate) fn observe_atto(&mut self, now: Timestamp, cumulative: i128) {
        let minute = now.0 / MINUTE_NANOS;
        match self.minutes.back_mut() {
            Some(m) if m.minute >= minute => {
                m.last = cumulative;
                if cumulative > m.high {
                    m.high = cumulative;
                    let entry = (m.minute, cumulative);
                    self.add_peak(entry);
                }
            }
            _ => {
                self.minutes.push_back(Minute {
                    minute,
                    last: cumulative,
                    high: cumulative,
                });
                self.add_peak((minute, cumulative));
            }
        }
        self.prune(now);
    }

    /// A minute's (new) high, as the newest candidate for the peak: older candidates no higher
    /// can never be the peak again (this one outlives them).
    fn add_peak(&mut self, entry: (u64, i128)) {
        while self.peaks.back().is_some_and(|p| p.1 <= entry.1) {
            self.peaks.pop_back();
        }
        self.peaks.push_back(entry);
    }

    /// Drop minutes older than the window; the last one dropped becomes the baseline.
    pub fn prune(&mut self, now: Timestamp) {
        let window_minutes = self.window.as_secs().div_ceil(60);
        let first_kept = (now.0 / MINUTE_NANOS).saturating_sub(window_minutes);
        while let Some(m) = self.minutes.front().copied() {
            if m.minute >= first_kept {
                break;
            }
            self.baseline = m.last;
            self.minutes.pop_front();
            while self.peaks.front().is_some_and(|p| p.0 <= m.minute) {
                self.peaks.pop_front();
            }
        }
    }

    /// PnL within the window for a cumulative value.
    pub fn pnl(&self, cumulative: Decimal) -> Decimal {
        atto::to_decimal(self.pnl_atto(atto::from_decimal(cumulative, Round::Down)))
    }

    /// [`PnlWindow::pnl`] in [`atto`] units.
    pub(crate) fn pnl_atto(&self, cumulative: i128) -> i128 {
        cumulative.saturating_sub(self.baseline)
    }

    /// The highest PnL within the window (never below zero: the window's start counts).
    pub fn peak(&self) -> Decimal {
        atto::to_decimal(self.peak_atto())
    }

    /// [`PnlWindow::peak`] in [`atto`] units.
    pub(crate) fn peak_atto(&self) -> i128 {
        self.peaks
            .front()
            .map_or(0, |p| p.1.saturating_sub(self.baseline).max(0))
    }

    /// Start counting afresh from `cumulative` (after an operator re-armed the limits).
    pub fn restart_from(&mut self, cumulative: Decimal) {
        self.baseline = atto::from_decimal(cumulative, Round::Down);
        self.minutes.clear();
        self.peaks.clear();
    }

    /// The window's history, to save (normalised decimals: the file is read by people too).
    pub fn saved(&self) -> (Decimal, Vec<PnlMinute>) {
        let minutes = self
            .minutes
            .iter()
            .map(|m| PnlMinute {
                minute: m.minute,
                last: atto::to_decimal(m.last),
                high: atto::to_decimal(m.high),
            })
            .collect();
        (atto::to_decimal(self.baseline), minutes)
    }

    /// A window from saved history.
    pub fn from_saved(window: Duration, baseline: Decimal, minutes: Vec<PnlMinute>) -> PnlWindow {
        let mut w = PnlWindow {
            window,
            baseline: atto::from_decimal(baseline, Round::Down),
            minutes: VecDeque::with_capacity(minutes.len()),
            peaks: VecDeque::new(),
        };
        for m in minutes {
            let m = Minute {
                minute: m.minute,
                last: atto::from_decimal(m.last, Round::Down),
                high: atto::from_decimal(m.high, Round::Down),
            };
            w.minutes.push_back(m);
            w.add_peak((m.minute, m.high));
        }
        w
    }
}

/// A limit that stopped the bot: kept until an operator re-arms it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tripped {
    /// When (Unix ms).
    pub at_ms: u64,
    /// The trading state it imposed.
    pub state: TradingState,
    /// Which limit and by how much.
    pub reason: String,
}

/// What is saved between runs: see the module header.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SavedLimits {
    /// When it was written (Unix ms).
    pub saved_at_ms: u64,
    /// PnL net of fees and gas summed over every run since the file was created (quote).
    pub cumulative_pnl: Decimal,
    /// Cumulative PnL at the start of the loss window.
    pub window_baseline: Decimal,
    /// Minutes of PnL history inside the window.
    pub window: Vec<PnlMinute>,
    /// Fees and gas (quote) paid in the last hour: (Unix ns, amount).
    pub costs: Vec<(u64, Decimal)>,
    /// Gas (the chain's coin) paid in the last hour: (Unix ns, amount).
    pub gas: Vec<(u64, Decimal)>,
    /// A loss or drawdown limit that stopped trading and was not re-armed.
    pub tripped: Option<Tripped>,
}

impl SavedLimits {
    /// Clear a tripped limit and count loss and drawdown from the current PnL onwards: what
    /// `perpbot rearm` does. Returns what was cleared.
    pub fn rearm(&mut self) -> Option<Tripped> {
        self.window_baseline = self.cumulative_pnl;
        self.window.clear();
        self.tripped.take()
    }
}

/// Why the saved limits could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LimitsFileError {
    /// The file exists but cannot be read.
    #[error("cannot read the risk state file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not what perpbot writes.
    #[error(
        "the risk state file {path} is damaged ({source}); move it away to start with fresh limits \
         (the loss already counted in the window would be forgotten)"
    )]
    Damaged {
        /// The file.
        path: PathBuf,
        /// The parse error.
        source: serde_json::Error,
    },
    /// It could not be written.
    #[error("cannot write the risk state file {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Read saved limits; `None` when the file does not exist yet (a first run).
pub fn load(path: &Path) -> Result<Option<SavedLimits>, LimitsFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(LimitsFileError::Read {
                path: path.into(),
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|source| LimitsFileError::Damaged {
            path: path.into(),
            source,
        })
}

/// Write saved limits atomically (a temporary file renamed over the old one), so a crash
/// mid-write leaves the previous version, never half a file.
pub fn save(path: &Path, limits: &SavedLimits) -> Result<(), LimitsFileError> {
    let err = |source| LimitsFileError::Write {
        path: path.into(),
        source,
    };
    let mut text = serde_json::to_string_pretty(limits).map_err(|e| err(e.into()))?;
    text.push('\n');
    let tmp = appended(path, ".tmp");
    std::fs::write(&tmp, text).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The file a config's limits are saved in: `risk.state_file`, else the journal's name with
/// `.limits` appended, else none (limits then start afresh with every run).
pub fn state_file(configured: Option<&Path>, journal: Option<&Path>) -> Option<PathBuf> {
    configured
        .map(Path::to_path_buf)
        .or_else(|| journal.map(|j| appended(j, ".limits")))
}

/// `path` with `suffix` added to its file name (`bot.journal` → `bot.journal.limits`).
pub fn appended(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn at_min(m: u64) -> Timestamp {
        Timestamp(m * MINUTE_NANOS)
    }

    /// The peak kept as minutes come and go equals the highest minute in the window, over
    /// seeded walks with rises, falls, repeats, gaps longer than the window and clocks that step
    /// back, and after a save and restore.
    #[test]
    fn the_kept_peak_is_the_highest_minute_in_the_window() {
        let naive = |w: &PnlWindow| {
            crate::atto::to_decimal(
                w.minutes
                    .iter()
                    .map(|m| m.high - w.baseline)
                    .fold(0, i128::max),
            )
        };
        let mut next = crate::test_support::below(0x5EED_0F0A_11BE_EF00);
        for window_min in [1u64, 5, 60] {
            let mut w = PnlWindow::new(Duration::from_secs(60 * window_min));
            let mut now = 1_000 * MINUTE_NANOS;
            let mut pnl = Decimal::ZERO;
            for step in 0..20_000 {
                now = match next(100) {
                    0 => now + 3 * window_min * MINUTE_NANOS,
                    1 => now.saturating_sub(MINUTE_NANOS / 2),
                    2..=40 => now + MINUTE_NANOS / 3,
                    _ => now + 1_000_000_000,
                };
                pnl += Decimal::new(i64::try_from(next(2001)).unwrap_or(0) - 1000, 2);
                w.observe(Timestamp(now), pnl);
                assert_eq!(w.peak(), naive(&w), "step {step}, window {window_min} min");
                if step % 997 == 0 {
                    let (baseline, minutes) = w.saved();
                    let restored = PnlWindow::from_saved(w.window, baseline, minutes);
                    assert_eq!(restored.peak(), w.peak());
                    assert_eq!(restored, w);
                }
            }
        }
    }

    #[test]
    fn the_window_forgets_what_is_older_than_its_length() {
        let mut w = PnlWindow::new(Duration::from_secs(600)); // 10 minutes
        w.observe(at_min(100), dec!(5));
        w.observe(at_min(100), dec!(3)); // same minute: last 3, high 5
        w.observe(at_min(105), dec!(-2));
        assert_eq!(w.pnl(dec!(-2)), dec!(-2), "counted from zero");
        assert_eq!(w.peak(), dec!(5));
        w.observe(at_min(111), dec!(-4));
        // Minute 100 fell out: the baseline is its last value (3), its high no longer counts.
        assert_eq!(w.pnl(dec!(-4)), dec!(-7));
        assert_eq!(w.peak(), dec!(0), "no later minute was above the baseline");
        w.restart_from(dec!(-4));
        assert_eq!(w.pnl(dec!(-4)), dec!(0));
    }

    #[test]
    fn saved_limits_round_trip_and_rearm_clears_the_trip() {
        let dir = std::env::temp_dir().join(format!("perpbot-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bot.journal.limits");
        assert_eq!(load(&path).unwrap(), None, "no file yet");
        let mut saved = SavedLimits {
            saved_at_ms: 1,
            cumulative_pnl: dec!(-12.5),
            window_baseline: dec!(0),
            window: vec![PnlMinute {
                minute: 7,
                last: dec!(-12.5),
                high: dec!(1),
            }],
            costs: vec![(5, dec!(0.2))],
            gas: vec![(5, dec!(0.03))],
            tripped: Some(Tripped {
                at_ms: 1,
                state: TradingState::Halted,
                reason: "loss 12.5 reached max_loss 10".into(),
            }),
        };
        save(&path, &saved).unwrap();
        assert_eq!(load(&path).unwrap().as_ref(), Some(&saved));
        let cleared = saved.rearm().expect("it was tripped");
        assert!(cleared.reason.contains("max_loss"));
        assert_eq!(saved.window_baseline, dec!(-12.5), "losses count from here");
        assert!(saved.window.is_empty() && saved.tripped.is_none());

        std::fs::write(&path, "{ not json").unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("damaged") && err.contains("move it away"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_state_file_sits_next_to_the_journal_unless_named() {
        assert_eq!(
            state_file(None, Some(Path::new("/x/bot.journal"))),
            Some(PathBuf::from("/x/bot.journal.limits"))
        );
        assert_eq!(
            state_file(Some(Path::new("/y/r.json")), Some(Path::new("/x/j"))),
            Some(PathBuf::from("/y/r.json"))
        );
        assert_eq!(state_file(None, None), None);
    }
}
