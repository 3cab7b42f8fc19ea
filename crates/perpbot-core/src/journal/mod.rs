//! The write-ahead journal: an append-only, crash-safe record of what the bot asked the venue
//! and what became of it, so a restart after a crash neither sends anything twice nor forgets an
//! order resting on the venue.
//!
//! The design and the reasons for it: `docs/design/journal.md`.
//!
//! ```no_run
//! use std::path::Path;
//! use perpbot_core::journal::{Journal, JournalOptions, record::SessionRecord};
//!
//! let session = SessionRecord {
//!     venue: "kana".into(),
//!     chain_id: Some(2),
//!     pid: std::process::id(),
//!     version: env!("CARGO_PKG_VERSION").into(),
//!     carries_over: true,
//!     signs_before_send: true,
//! };
//! let opened = Journal::open(Path::new("perpbot.journal"), JournalOptions::default(), session)?;
//! println!("{} live orders to re-track", opened.replay.orders.len());
//! # Ok::<(), perpbot_core::journal::JournalError>(())
//! ```

mod fold;
pub mod format;
pub mod record;
mod recover;
pub mod show;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tracing::{error, warn};

use crate::state::State;
use crate::venue::{
    RequestOutcome, RequestScope, ResumeToken, SentHook, VenueRequest, VenueWriter,
};
use perpbot_model::{ClientOrderId, Fill, Intent, Order, Timestamp};

pub use fold::{Fold, OpenRequest, order_events};
pub use format::{MAGIC, Scan, TornTail};
pub use recover::{RecoveryReport, recover};

use record::{
    Entry, FillRecord, OrderRecord, OutcomeRecord, Record, RequestRecord, SessionRecord,
    SignedRecord,
};

/// When records are fsynced (`[engine] journal_sync`); see the module docs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JournalSync {
    /// Write-ahead records (`request`, `signed`) and snapshots fsynced before the call returns;
    /// the rest in batches.
    #[default]
    WriteAhead,
    /// Every record fsynced before the call returns.
    EveryRecord,
    /// Never fsynced (survives a process crash, not a machine crash).
    None,
}

/// How a journal writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JournalOptions {
    /// fsync policy.
    pub sync: JournalSync,
    /// How often [`Journal::after_step`] writes a snapshot.
    pub snapshot_every: Duration,
    /// Longest time a batched record stays un-fsynced under [`JournalSync::WriteAhead`].
    pub batch_sync_every: Duration,
    /// When a snapshot is due and the file is larger than this (bytes), the journal starts a new
    /// file holding the session and the snapshot — all a restart needs — and keeps the old one
    /// beside it as `FILE.FIRST-LAST` (its record numbers), so a restart never replays days of
    /// records.
    pub compact_above: u64,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            sync: JournalSync::WriteAhead,
            snapshot_every: Duration::from_secs(10),
            batch_sync_every: Duration::from_millis(200),
            compact_above: 64 * 1024 * 1024,
        }
    }
}

/// What went wrong with a journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// Reading, writing or syncing the file failed.
    #[error("journal {path}: {what}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Another process (or another journal in this one) has the journal open: two writers
    /// would interleave records and each would resume orders the other still trades.
    #[error(
        "journal {path} is in use by another perpbot process (lock {lock} is held); stop it \
         first, or give this run its own `[engine] journal`"
    )]
    InUse {
        /// The journal.
        path: PathBuf,
        /// The lock file.
        lock: PathBuf,
    },
    /// The file exists but is not a perpbot journal (it is never overwritten).
    #[error("{path} is not a perpbot journal (it starts with {found}); refusing to touch it")]
    NotAJournal {
        /// The file.
        path: PathBuf,
        /// Its first bytes, hex.
        found: String,
    },
    /// An intact record this version does not understand (written by another version).
    #[error(
        "journal {path}: record {index} at byte {offset} is intact but not understood by this \
         version ({reason}); not resuming from it — read it with the version that wrote it"
    )]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Index of the record.
        index: usize,
        /// Its byte offset.
        offset: u64,
        /// The decoder's complaint.
        reason: String,
    },
    /// The journal has live orders or open requests on another venue or chain (a run on another
    /// venue would forget them).
    #[error(
        "journal {path} holds live orders or open requests on {journaled}, but this run trades \
         on {current}; use another journal file"
    )]
    WrongVenue {
        /// The file.
        path: PathBuf,
        /// The venue the journal's last session traded on.
        journaled: String,
        /// The venue of this run.
        current: String,
    },
    /// A record could not be encoded (or is larger than [`format::MAX_RECORD`]).
    #[error("journal {path}: cannot encode a {kind} record: {reason}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// Record kind.
        kind: &'static str,
        /// Why.
        reason: String,
    },
    /// An earlier write failed and could not be undone: nothing more is recorded.
    #[error("journal {path} stopped recording after a failed write: {reason}")]
    Broken {
        /// The file.
        path: PathBuf,
        /// The failure.
        reason: String,
    },
}

/// Counters for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JournalStats {
    /// Records written by this process.
    pub records: u64,
    /// fsyncs done.
    pub fsyncs: u64,
    /// Records that could not be written.
    pub write_errors: u64,
}

/// Whether a record must be on disk before the call that writes it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Durability {
    /// Write-ahead: fsynced unless the policy is [`JournalSync::None`].
    Now,
    /// Fsynced in batches under [`JournalSync::WriteAhead`].
    Batched,
}

struct Inner {
    path: PathBuf,
    file: File,
    /// Bytes of whole records (a failed write is cut back to this).
    len: u64,
    next_seq: u64,
    /// Sequence number of the file's first record (names the archive when it is compacted).
    first_seq: u64,
    options: JournalOptions,
    /// Written since the last fsync.
    dirty: bool,
    last_sync: Instant,
    last_snapshot: Instant,
    /// The journal's own view of what it recorded.
    fold: Fold,
    broken: Option<String>,
    stats: JournalStats,
    /// `FILE.lock`, locked exclusively for as long as this journal is open (the OS drops the
    /// lock when the process dies, SIGKILL included, so a crash never leaves it stale). A
    /// separate file, because compaction replaces the journal's own inode.
    _lock: Arc<File>,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl Inner {
    fn io(&self, what: &'static str, source: std::io::Error) -> JournalError {
        JournalError::Io {
            path: self.path.clone(),
            what,
            source,
        }
    }

    fn append(&mut self, record: Record, durability: Durability) -> Result<(), JournalError> {
        if let Some(reason) = &self.broken {
            self.stats.write_errors += 1;
            return Err(JournalError::Broken {
                path: self.path.clone(),
                reason: reason.clone(),
            });
        }
        let kind = record.kind();
        let entry = Entry {
            seq: self.next_seq,
            ts_ms: now_ms(),
            record,
        };
        let frame = serde_json::to_vec(&entry)
            .map_err(|e| e.to_string())
            .and_then(|payload| {
                format::frame(&payload).ok_or_else(|| "record too large".to_string())
            })
            .map_err(|reason| JournalError::Encode {
                path: self.path.clone(),
                kind,
                reason,
            })?;
        if let Err(e) = self.file.write_all(&frame) {
            self.stats.write_errors += 1;
            // Cut a half-written frame back off, so later records do not follow garbage.
            if let Err(cut) = self.file.set_len(self.len) {
                let reason = format!("write failed ({e}) and could not be undone ({cut})");
                error!(path = %self.path.display(), %reason, "journal stops recording");
                self.broken = Some(reason);
            }
            return Err(self.io("writing a record", e));
        }
        self.len += frame.len() as u64;
        self.next_seq += 1;
        self.stats.records += 1;
        self.dirty = true;
        self.fold
            .apply(&entry.record, Timestamp::from_millis(entry.ts_ms));
        let sync = match (self.options.sync, durability) {
            (JournalSync::EveryRecord, _) | (JournalSync::WriteAhead, Durability::Now) => true,
            (JournalSync::WriteAhead, Durability::Batched) | (JournalSync::None, _) => false,
        };
        if sync {
            self.fsync()?;
        }
        Ok(())
    }

    fn fsync(&mut self) -> Result<(), JournalError> {
        if let Err(e) = self.file.sync_data() {
            // After a failed fsync the kernel may have dropped the data: nothing written since
            // the last good one can be trusted to be on disk, so stop rather than pretend.
            let reason = format!("fsync failed: {e}");
            error!(path = %self.path.display(), %reason, "journal stops recording");
            self.broken = Some(reason);
            self.stats.write_errors += 1;
            return Err(self.io("syncing", e));
        }
        self.dirty = false;
        self.last_sync = Instant::now();
        self.stats.fsyncs += 1;
        Ok(())
    }

    fn checkpoint(&mut self, state: &State) -> Result<(), JournalError> {
        let orders = state.live_orders(None).map(OrderRecord::from).collect();
        let positions = state.positions().cloned().collect();
        let record = self.fold.snapshot_with(orders, positions);
        self.last_snapshot = Instant::now();
        if self.len > self.options.compact_above && self.broken.is_none() {
            match self.compact(&record) {
                Ok(()) => return Ok(()),
                // The old file is intact and still appended to: only its size is the problem.
                Err(e) => {
                    warn!(error = %e, "journal: compaction failed; going on with the old file")
                }
            }
        }
        self.append(record, Durability::Now)
    }

    /// Replace the file by one holding the session and `snapshot`, keeping the old one as
    /// `FILE.FIRST-LAST`. At every instant `FILE` is either the whole old file or the whole new
    /// one: the new file is written and fsynced aside, the old one linked to its archive name,
    /// then the new one renamed over it.
    fn compact(&mut self, snapshot: &Record) -> Result<(), JournalError> {
        let name = self
            .path
            .file_name()
            .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
        let first = self.next_seq;
        let records = self
            .fold
            .session
            .clone()
            .map(Record::Session)
            .into_iter()
            .chain([snapshot.clone()]);
        let mut bytes = MAGIC.to_vec();
        let mut seq = first;
        for record in records {
            let kind = record.kind();
            let entry = Entry {
                seq,
                ts_ms: now_ms(),
                record,
            };
            let frame = serde_json::to_vec(&entry)
                .ok()
                .and_then(|p| format::frame(&p))
                .ok_or_else(|| JournalError::Encode {
                    path: self.path.clone(),
                    kind,
                    reason: "cannot encode for compaction".into(),
                })?;
            bytes.extend_from_slice(&frame);
            seq += 1;
        }
        let fresh = self.path.with_file_name(format!("{name}.compacting"));
        let archive = self
            .path
            .with_file_name(format!("{name}.{}-{}", self.first_seq, first - 1));
        let mut open = OpenOptions::new();
        open.create(true).write(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let mut file = open.open(&fresh).map_err(|e| self.io("compacting", e))?;
        file.write_all(&bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| self.io("compacting", e))?;
        let _ = std::fs::remove_file(&archive);
        if std::fs::hard_link(&self.path, &archive).is_err() {
            std::fs::copy(&self.path, &archive).map_err(|e| self.io("archiving", e))?;
        }
        std::fs::rename(&fresh, &self.path).map_err(|e| self.io("compacting", e))?;
        sync_parent(&self.path);
        let file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(|e| self.io("reopening after compaction", e))?;
        tracing::info!(
            path = %self.path.display(),
            archive = %archive.display(),
            from = self.len,
            to = bytes.len(),
            "journal compacted"
        );
        self.file = file;
        self.len = bytes.len() as u64;
        self.first_seq = first;
        self.next_seq = seq;
        self.stats.records += seq - first;
        self.stats.fsyncs += 1;
        self.dirty = false;
        self.last_sync = Instant::now();
        // The session is the fold's own; the snapshot replaces its orders with the engine's.
        self.fold.apply(snapshot, Timestamp::from_millis(now_ms()));
        Ok(())
    }

    /// Log a failed record once per kind of trouble (a broken journal would log on every call).
    fn report(&self, what: &str, result: Result<(), JournalError>) {
        match result {
            Ok(()) => {}
            Err(JournalError::Broken { .. }) => {}
            Err(e) => error!(error = %e, "journal: could not record {what}"),
        }
    }
}

/// What [`Journal::open`] found and set up.
pub struct Opened {
    /// The journal, ready to record this session.
    pub journal: Journal,
    /// What the earlier sessions left (empty when this session does not carry over): hand it to
    /// [`recover`].
    pub replay: Fold,
    /// Intact records read.
    pub records: usize,
    /// The torn tail found and cut off, if any.
    pub torn: Option<TornTail>,
    /// Where the torn tail's bytes were kept.
    pub saved_tail: Option<PathBuf>,
}

/// The journal of one process. Cheap to clone (a shared handle); every method may be called from
/// any task.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.lock();
        f.debug_struct("Journal")
            .field("path", &inner.path)
            .field("len", &inner.len)
            .field("stats", &inner.stats)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Open (or create) the journal at `path` for `session`: read what is there, cut off a torn
    /// tail (kept in `FILE.torn-OFFSET`), refuse a file that is not a journal, holds records this
    /// version cannot read, or has live orders on another venue, then record the session.
    pub fn open(
        path: &Path,
        options: JournalOptions,
        session: SessionRecord,
    ) -> Result<Opened, JournalError> {
        let io = |what, source| JournalError::Io {
            path: path.to_path_buf(),
            what,
            source,
        };
        let lock = lock_exclusively(path)?;
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io("reading", e)),
        };
        let scan = format::scan(&bytes).map_err(|n| JournalError::NotAJournal {
            path: path.to_path_buf(),
            found: n.found,
        })?;
        if let Some(u) = scan.first_unreadable() {
            return Err(JournalError::Unreadable {
                path: path.to_path_buf(),
                index: u.index,
                offset: u.offset,
                reason: u.reason.clone(),
            });
        }
        let fold = Fold::from_entries(scan.entries());
        // Live orders on a venue that outlives its processes are never dropped silently: not
        // by a run on another venue or chain, nor by one that starts afresh.
        if let Some(previous) = &fold.session
            && previous.carries_over
            && (!fold.orders.is_empty() || !fold.open.is_empty())
            && previous.venue_identity() != session.venue_identity()
        {
            return Err(JournalError::WrongVenue {
                path: path.to_path_buf(),
                journaled: previous.venue_identity(),
                current: session.venue_identity(),
            });
        }
        let saved_tail = match &scan.torn {
            Some(torn) => {
                let name = path
                    .file_name()
                    .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
                let tail_path = path.with_file_name(format!("{name}.torn-{}", torn.offset));
                let tail = bytes.get(torn.offset as usize..).unwrap_or_default();
                std::fs::write(&tail_path, tail).map_err(|e| io("keeping the torn tail", e))?;
                warn!(
                    path = %path.display(),
                    torn = %torn,
                    kept = %tail_path.display(),
                    "journal: torn tail from a crash ignored"
                );
                Some(tail_path)
            }
            None => None,
        };
        let mut open = OpenOptions::new();
        open.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            open.mode(0o600);
        }
        let mut file = open.open(path).map_err(|e| io("opening", e))?;
        let mut len = scan.good_len;
        if len < MAGIC.len() as u64 {
            file.set_len(0).map_err(|e| io("creating", e))?;
            file.write_all(&MAGIC).map_err(|e| io("creating", e))?;
            file.sync_all().map_err(|e| io("creating", e))?;
            sync_parent(path);
            len = MAGIC.len() as u64;
        } else if scan.torn.is_some() {
            file.set_len(len)
                .map_err(|e| io("cutting off the torn tail", e))?;
            file.sync_all()
                .map_err(|e| io("cutting off the torn tail", e))?;
        }
        let now = Instant::now();
        let mut inner = Inner {
            path: path.to_path_buf(),
            file,
            len,
            next_seq: fold.last_seq + 1,
            first_seq: scan.entries().next().map_or(fold.last_seq + 1, |e| e.seq),
            options,
            dirty: false,
            last_sync: now,
            last_snapshot: now,
            fold,
            broken: None,
            stats: JournalStats::default(),
            _lock: lock,
        };
        inner.append(Record::Session(session), Durability::Now)?;
        let replay = inner.fold.clone();
        Ok(Opened {
            journal: Journal {
                inner: Arc::new(Mutex::new(inner)),
            },
            replay,
            records: scan.frames.len(),
            torn: scan.torn,
            saved_tail,
        })
    }

    /// The journal, if it can be had within `wait` (polled: the callers are synchronous hooks).
    fn lock_within(&self, wait: Duration) -> Option<MutexGuard<'_, Inner>> {
        let deadline = Instant::now() + wait;
        loop {
            match self.inner.try_lock() {
                Ok(inner) => return Some(inner),
                Err(std::sync::TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(std::sync::TryLockError::WouldBlock) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err(std::sync::TryLockError::WouldBlock) => return None,
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves at worst a record half-applied to the in-memory
        // view; the file itself only ever receives whole frames.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The file.
    pub fn path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// Counters so far.
    pub fn stats(&self) -> JournalStats {
        self.lock().stats
    }

    /// The journal's current view (what a restart right now would find).
    pub fn view(&self) -> Fold {
        self.lock().fold.clone()
    }

    /// A hook for a venue's writer ([`SentHook`]): each [`ResumeToken`] (Kana: a signed
    /// transaction) is journaled under the request it belongs to before the request leaves. If that fails, a placing request is not sent; a cancel (or one outside any
    /// request, like the watchdog's) goes anyway.
    pub fn signed_hook(&self) -> SentHook {
        let journal = self.clone();
        Arc::new(move |scope: Option<RequestScope>, t: &ResumeToken| journal.on_signed(scope, t))
    }

    fn on_signed(&self, scope: Option<RequestScope>, t: &ResumeToken) -> Result<(), String> {
        let record = Record::Signed(SignedRecord {
            request: scope.map(|s| s.request),
            token: t.clone(),
        });
        // Outside a request (the stall watchdog's cancels) the engine may be the thing that is
        // stuck, possibly inside a journal write: wait a little for the journal, never for ever.
        let mut inner = match scope {
            Some(_) => self.lock(),
            None => match self.lock_within(Duration::from_millis(100)) {
                Some(inner) => inner,
                None => {
                    error!(token = %t.handle, "journal: busy for 100 ms (the engine may be stalled inside a write); the watchdog's transaction is sent unrecorded");
                    return Ok(());
                }
            },
        };
        match inner.append(record, Durability::Now) {
            Ok(()) => Ok(()),
            Err(e) if scope.is_none_or(|s| s.cancel_only) => {
                error!(error = %e, token = %t.handle, "journal: transaction not recorded; it only cancels, so it is sent anyway");
                Ok(())
            }
            Err(e) => Err(format!("the write-ahead journal could not record it: {e}")),
        }
    }

    /// Record request `id` before it is handed to the venue (write-ahead). `Err` means it must
    /// not be sent: it places orders and could not be recorded. A cancel-only request is always
    /// `Ok` (sent even unrecorded, with an error logged).
    pub fn write_ahead(&self, id: u64, request: &VenueRequest) -> Result<(), String> {
        let record = Record::Request {
            id,
            request: RequestRecord::from(request),
        };
        match self.lock().append(record, Durability::Now) {
            Ok(()) => Ok(()),
            Err(e) if request.is_cancel_only() => {
                error!(error = %e, request = id, "journal: cancel not recorded; sent anyway");
                Ok(())
            }
            Err(e) => Err(format!(
                "not sent: the write-ahead journal could not record it: {e}"
            )),
        }
    }

    /// Record how request `id` ended (or that it is still ambiguous).
    pub fn record_outcome(&self, id: u64, outcome: &RequestOutcome) {
        let record = Record::Outcome {
            id,
            outcome: OutcomeRecord::from(outcome),
            at_start: false,
        };
        let mut inner = self.lock();
        let result = inner.append(record, Durability::Batched);
        inner.report("an outcome", result);
    }

    /// Record the outcome of a request an earlier process sent, resolved at start-up.
    fn record_outcome_at_start(&self, id: u64, outcome: &RequestOutcome) {
        let record = Record::Outcome {
            id,
            outcome: OutcomeRecord::from(outcome),
            at_start: true,
        };
        let mut inner = self.lock();
        let result = inner.append(record, Durability::Now);
        inner.report("a resolved outcome", result);
    }

    /// Record an intent the risk check approved.
    pub fn record_intent(&self, intent: &Intent) {
        let mut inner = self.lock();
        let result = match serde_json::to_value(intent) {
            Ok(intent) => inner.append(Record::Intent { intent }, Durability::Batched),
            Err(e) => Err(JournalError::Encode {
                path: inner.path.clone(),
                kind: "intent",
                reason: e.to_string(),
            }),
        };
        inner.report("an intent", result);
    }

    /// Record a fill.
    pub fn record_fill(&self, fill: &Fill) {
        let mut inner = self.lock();
        let result = inner.append(Record::Fill(FillRecord::from(fill)), Durability::Batched);
        inner.report("a fill", result);
    }

    /// The engine's periodic duty (after each step of its loop): record every journaled order
    /// whose status, venue id or fill size changed in `state`, write a snapshot when one is due,
    /// and fsync batched records when they have waited long enough.
    pub fn after_step(&self, state: &State) {
        let mut inner = self.lock();
        if inner.broken.is_some() {
            return;
        }
        let changed: Vec<OrderRecord> = inner
            .fold
            .orders
            .values()
            .filter_map(|known| {
                let now = state.order(known.client_id())?;
                order_changed(known, now).then(|| OrderRecord::from(now))
            })
            .collect();
        for order in changed {
            let result = inner.append(Record::Order(order), Durability::Batched);
            inner.report("an order change", result);
        }
        if inner.last_snapshot.elapsed() >= inner.options.snapshot_every {
            let result = inner.checkpoint(state);
            inner.report("a snapshot", result);
        }
        if inner.dirty
            && inner.options.sync == JournalSync::WriteAhead
            && inner.last_sync.elapsed() >= inner.options.batch_sync_every
        {
            let result = inner.fsync();
            inner.report("(fsync)", result);
        }
    }

    /// Write a snapshot of `state` now (fsynced).
    pub fn checkpoint(&self, state: &State) {
        let mut inner = self.lock();
        let result = inner.checkpoint(state);
        inner.report("a snapshot", result);
    }

    /// The graceful end of a run: order changes, a final snapshot and the shutdown record, all
    /// on disk before this returns.
    pub fn record_shutdown(&self, state: &State, left_open: &[ClientOrderId]) {
        self.after_step(state);
        let mut inner = self.lock();
        let result = inner.checkpoint(state);
        inner.report("a snapshot", result);
        let record = Record::Shutdown {
            clean: left_open.is_empty(),
            left_open: left_open.to_vec(),
        };
        let result = inner.append(record, Durability::Now);
        inner.report("the shutdown", result);
        if inner.dirty && inner.options.sync != JournalSync::None {
            let result = inner.fsync();
            inner.report("(fsync)", result);
        }
    }

    /// Settle what an earlier process left open and re-track its orders in `state` (see
    /// [`recover`]).
    pub async fn recover(
        &self,
        replay: Fold,
        state: &mut State,
        writer: &dyn VenueWriter,
        timeout: Duration,
    ) -> RecoveryReport {
        recover(self, replay, state, writer, timeout).await
    }
}

/// Split a request the journal could not record into what is refused (its places) and what
/// still goes (its cancels, as a cancel-only request): a replace that cannot be journaled must
/// not strand the quotes it was replacing.
pub fn split_cancels(request: VenueRequest) -> (VenueRequest, Option<VenueRequest>) {
    match request {
        VenueRequest::Orders {
            market,
            cancel,
            place,
        } if !cancel.is_empty() && !place.is_empty() => (
            VenueRequest::Orders {
                market,
                cancel: Vec::new(),
                place,
            },
            Some(VenueRequest::Orders {
                market,
                cancel,
                place: Vec::new(),
            }),
        ),
        other => (other, None),
    }
}

/// Whether the engine's order moved on from what the journal knows.
fn order_changed(known: &Order, now: &Order) -> bool {
    known.status != now.status || known.venue_id != now.venue_id || known.filled != now.filled
}

/// Make a newly created file's directory entry durable (best effort: not every platform can).
/// Journal locks this process holds, by lock file: a journal opened again in the same process
/// (a restart simulated in tests, a tool reading beside the engine) shares the lock, since the
/// lock is there to keep *processes* apart.
static HELD_LOCKS: std::sync::LazyLock<Mutex<HashMap<PathBuf, std::sync::Weak<File>>>> =
    std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));

/// Take `FILE.lock` exclusively, or say that another process holds it. Advisory (`flock` on
/// Unix, `LockFileEx` on Windows): it keeps perpbot processes apart, which is what matters.
fn lock_exclusively(path: &Path) -> Result<Arc<File>, JournalError> {
    let name = path
        .file_name()
        .map_or_else(|| "journal".into(), |n| n.to_string_lossy().into_owned());
    let lock_path = path.with_file_name(format!("{name}.lock"));
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let key = std::fs::canonicalize(dir).map_or_else(
        |_| lock_path.clone(),
        |dir| dir.join(format!("{name}.lock")),
    );
    let mut held = HELD_LOCKS.lock().unwrap_or_else(|p| p.into_inner());
    held.retain(|_, lock| lock.strong_count() > 0);
    if let Some(lock) = held.get(&key).and_then(std::sync::Weak::upgrade) {
        return Ok(lock);
    }
    let mut open = OpenOptions::new();
    open.create(true).truncate(false).write(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        open.mode(0o600);
    }
    let file = open.open(&lock_path).map_err(|source| JournalError::Io {
        path: lock_path.clone(),
        what: "opening the lock file",
        source,
    })?;
    match file.try_lock() {
        Ok(()) => {
            let lock = Arc::new(file);
            held.insert(key, Arc::downgrade(&lock));
            Ok(lock)
        }
        Err(std::fs::TryLockError::WouldBlock) => Err(JournalError::InUse {
            path: path.to_path_buf(),
            lock: lock_path,
        }),
        Err(std::fs::TryLockError::Error(source)) => Err(JournalError::Io {
            path: lock_path,
            what: "locking",
            source,
        }),
    }
}

fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(dir) = File::open(parent) {
        let _ = dir.sync_all();
    }
}
