//! The queryable history of every run: runs, fills, orders and PnL samples in human units, in a
//! SQLite database (rusqlite, SQLite bundled). PnL over several runs and restarts adds up from it.
//!
//! Tables (stable; new columns are only ever added at the end):
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `runs` | run | `id`, `started_ms`, `ended_ms`, `strategy`, `venue`, `net_pnl`, `pnl_before_gas`, `fees`, `gas`, `fills`, `clean` |
//! | `fills` | fill of the bot's | `run_id`, `ts_ms`, `market`, `side`, `price`, `size`, `fee`, `liquidity`, `trade_id`, `venue_order_id` |
//! | `orders` | order the bot placed (its state at the end of the run) | `run_id`, `client_id`, `market`, `side`, `price`, `size`, `filled`, `status` |
//! | `pnl` | sample every `sample_secs` | `run_id`, `ts_ms`, `net`, `before_gas`, `spread_capture`, `inventory`, `fees`, `gas`, `funding` |
//!
//! Money is stored as decimal text (exact; SQLite's `CAST(x AS REAL)` for sums), times as
//! milliseconds since the epoch. Writes happen on a thread of their own; the engine only hands
//! records to a bounded queue and never waits for the disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{Connection, params};
use serde::Deserialize;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::engine::{Finished, Status};
use crate::model::{Fill, Liquidity, MarketSpec, Side};

/// `[history]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryConfig {
    /// The database file (relative to the config file's folder). Default: the journal's path
    /// with `.history.sqlite` appended, when a journal is configured; otherwise no history.
    pub database: Option<PathBuf>,
    /// How often a PnL sample is written (s).
    #[serde(default = "default_sample")]
    pub sample_secs: u64,
}

fn default_sample() -> u64 {
    10
}

impl Default for HistoryConfig {
    fn default() -> HistoryConfig {
        HistoryConfig {
            database: None,
            sample_secs: default_sample(),
        }
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY, started_ms INTEGER NOT NULL, ended_ms INTEGER,
    strategy TEXT NOT NULL, venue TEXT NOT NULL, net_pnl TEXT, pnl_before_gas TEXT,
    fees TEXT, gas TEXT, fills INTEGER, clean INTEGER);
CREATE TABLE IF NOT EXISTS fills (
    run_id INTEGER NOT NULL REFERENCES runs(id), ts_ms INTEGER NOT NULL, market TEXT NOT NULL,
    side TEXT NOT NULL, price TEXT NOT NULL, size TEXT NOT NULL, fee TEXT NOT NULL,
    liquidity TEXT NOT NULL, trade_id TEXT NOT NULL, venue_order_id TEXT);
CREATE INDEX IF NOT EXISTS fills_ts ON fills(ts_ms);
CREATE TABLE IF NOT EXISTS orders (
    run_id INTEGER NOT NULL REFERENCES runs(id), client_id INTEGER NOT NULL, market TEXT NOT NULL,
    side TEXT NOT NULL, price TEXT, size TEXT NOT NULL, filled TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pnl (
    run_id INTEGER NOT NULL REFERENCES runs(id), ts_ms INTEGER NOT NULL, net TEXT NOT NULL,
    before_gas TEXT NOT NULL, spread_capture TEXT NOT NULL, inventory TEXT NOT NULL,
    fees TEXT NOT NULL, gas TEXT NOT NULL, funding TEXT NOT NULL);
";

/// What the writer thread is handed.
enum Record {
    Fill(Fill),
    Sample(Arc<Status>),
    End(Box<RunEnd>),
}

/// The end of a run, as written to `runs` and `orders`.
struct RunEnd {
    summary: crate::engine::RunSummary,
    orders: Vec<OrderRow>,
    ended_ms: u64,
}

struct OrderRow {
    client_id: u64,
    market: String,
    side: &'static str,
    price: Option<String>,
    size: String,
    filled: String,
    status: String,
}

/// The history of the current run: hand it records; they are written by a thread of its own.
pub struct History {
    tx: std::sync::mpsc::SyncSender<Record>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "buy",
        Side::Sell => "sell",
    }
}

/// Open (or create) the database and start a run in it.
fn open(
    path: &Path,
    strategy: &str,
    venue: &str,
    started_ms: u64,
) -> rusqlite::Result<(Connection, i64)> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        let _ = std::fs::create_dir_all(dir);
    }
    let db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.execute_batch(SCHEMA)?;
    db.execute(
        "INSERT INTO runs (started_ms, strategy, venue) VALUES (?1, ?2, ?3)",
        params![started_ms as i64, strategy, venue],
    )?;
    let run = db.last_insert_rowid();
    Ok((db, run))
}

impl History {
    /// Start recording a run of `strategy` on `venue` into `path`, trading `markets`; PnL
    /// samples come from `status` every `sample`.
    pub fn start(
        path: &Path,
        strategy: &str,
        venue: &str,
        markets: Vec<MarketSpec>,
        started_ms: u64,
        mut status: watch::Receiver<Arc<Status>>,
        sample: Duration,
    ) -> rusqlite::Result<History> {
        let (db, run) = open(path, strategy, venue, started_ms)?;
        info!(database = %path.display(), run, "history recorded");
        let (tx, rx) = std::sync::mpsc::sync_channel::<Record>(4096);
        let sampler = tx.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(sample);
            tick.tick().await;
            loop {
                tick.tick().await;
                if status.has_changed().is_err() {
                    break;
                }
                let s = status.borrow_and_update().clone();
                if sampler.try_send(Record::Sample(s)).is_err() {
                    break;
                }
            }
        });
        let thread = std::thread::Builder::new()
            .name("perpbot-history".into())
            .spawn(move || writer(db, run, &markets, rx))
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        Ok(History {
            tx,
            thread: Some(thread),
        })
    }

    /// A queue that takes the run's fills (for [`crate::engine::Engine::watch_fills`]).
    pub fn fills(&self) -> mpsc::Sender<Fill> {
        let (fills_tx, mut fills_rx) = mpsc::channel::<Fill>(4096);
        let tx = self.tx.clone();
        tokio::spawn(async move {
            while let Some(f) = fills_rx.recv().await {
                if tx.try_send(Record::Fill(f)).is_err() {
                    warn!("history: queue full, a fill was not recorded");
                }
            }
        });
        fills_tx
    }

    /// Close the run with its end state and wait for everything to be written.
    pub fn finish(mut self, finished: &Finished, markets: &[MarketSpec], ended_ms: u64) {
        let orders = finished
            .state
            .orders()
            .filter_map(|o| {
                let spec = markets.iter().find(|m| m.id == o.market())?;
                Some(OrderRow {
                    client_id: o.client_id().0,
                    market: spec.name.clone(),
                    side: side(o.request.order.side),
                    price: o
                        .request
                        .order
                        .price
                        .map(|p| spec.ticks_to_price(p).to_string()),
                    size: spec.lots_to_size(o.request.order.lots).to_string(),
                    filled: spec.lots_to_size(o.filled).to_string(),
                    status: format!("{:?}", o.status).to_lowercase(),
                })
            })
            .collect();
        let end = RunEnd {
            summary: finished.summary.clone(),
            orders,
            ended_ms,
        };
        let _ = self.tx.send(Record::End(Box::new(end)));
        if let Some(t) = self.thread.take() {
            drop(self.tx);
            let _ = t.join();
        }
    }
}

fn writer(db: Connection, run: i64, markets: &[MarketSpec], rx: std::sync::mpsc::Receiver<Record>) {
    let spec = |m| markets.iter().find(|s| s.id == m);
    for record in rx {
        let result = match record {
            Record::Fill(f) => match spec(f.market) {
                Some(s) => db
                    .execute(
                        "INSERT INTO fills VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                        params![
                            run,
                            (f.ts.0 / 1_000_000) as i64,
                            s.name,
                            side(f.side),
                            s.ticks_to_price(f.price).to_string(),
                            s.lots_to_size(f.lots).to_string(),
                            f.fee.to_string(),
                            match f.liquidity {
                                Liquidity::Maker => "maker",
                                Liquidity::Taker => "taker",
                            },
                            f.trade_id.0.to_string(),
                            f.venue_id.map(|v| v.0.to_string()),
                        ],
                    )
                    .map(drop),
                None => Ok(()),
            },
            Record::Sample(s) => {
                let p = &s.pnl;
                db.execute(
                    "INSERT INTO pnl VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                    params![
                        run,
                        (s.ts.0 / 1_000_000) as i64,
                        p.net.to_string(),
                        p.before_gas.to_string(),
                        p.spread_capture.to_string(),
                        p.inventory.to_string(),
                        p.fees.to_string(),
                        p.gas.to_string(),
                        p.funding.to_string()
                    ],
                )
                .map(drop)
            }
            Record::End(e) => end(&db, run, &e),
        };
        if let Err(e) = result {
            warn!(error = %e, "history: a record was not written");
        }
    }
}

fn end(db: &Connection, run: i64, e: &RunEnd) -> rusqlite::Result<()> {
    let s = &e.summary;
    db.execute(
        "UPDATE runs SET ended_ms = ?2, net_pnl = ?3, pnl_before_gas = ?4, fees = ?5, gas = ?6, fills = ?7, clean = ?8 WHERE id = ?1",
        params![
            run,
            e.ended_ms as i64,
            s.net_pnl.to_string(),
            s.total_pnl.to_string(),
            s.fees.to_string(),
            s.gas.in_quote.to_string(),
            s.fills as i64,
            s.clean()
        ],
    )?;
    for o in &e.orders {
        db.execute(
            "INSERT INTO orders VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                run,
                o.client_id as i64,
                o.market,
                o.side,
                o.price,
                o.size,
                o.filled,
                o.status
            ],
        )?;
    }
    Ok(())
}

/// One day of `perpbot history`.
#[derive(Debug, Clone, PartialEq)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Fills that day.
    pub fills: u64,
    /// Volume in coins.
    pub volume: f64,
    /// Fees paid.
    pub fees: f64,
}

/// Fills in `db` since `since_ms` (optionally one market), oldest first, as text rows:
/// ts_ms, market, side, price, size, fee, liquidity, run.
pub fn fills(db: &Path, since_ms: u64, market: Option<&str>) -> rusqlite::Result<Vec<[String; 8]>> {
    let db = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut q = db.prepare(
        "SELECT ts_ms, market, side, price, size, fee, liquidity, run_id FROM fills
         WHERE ts_ms >= ?1 AND (?2 IS NULL OR market = ?2) ORDER BY ts_ms",
    )?;
    let rows = q.query_map(params![since_ms as i64, market], |r| {
        Ok([
            r.get::<_, i64>(0)?.to_string(),
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get::<_, i64>(7)?.to_string(),
        ])
    })?;
    rows.collect()
}

/// One run of `perpbot history`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRow {
    /// Its id.
    pub id: i64,
    /// When it started (ms since the epoch).
    pub started_ms: u64,
    /// The strategy.
    pub strategy: String,
    /// Net PnL as written at its end; empty while running or when it was cut short.
    pub net_pnl: String,
    /// PnL before gas, likewise.
    pub pnl_before_gas: String,
    /// Fills.
    pub fills: i64,
}

/// Every run since `since_ms`: what several runs and restarts add up to.
pub fn runs(db: &Path, since_ms: u64) -> rusqlite::Result<Vec<RunRow>> {
    let db = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut q = db.prepare(
        "SELECT id, started_ms, strategy, COALESCE(net_pnl, ''), COALESCE(pnl_before_gas, ''), COALESCE(fills, 0)
         FROM runs WHERE started_ms >= ?1 ORDER BY id",
    )?;
    let rows = q.query_map(params![since_ms as i64], |r| {
        Ok(RunRow {
            id: r.get(0)?,
            started_ms: r.get::<_, i64>(1)? as u64,
            strategy: r.get(2)?,
            net_pnl: r.get(3)?,
            pnl_before_gas: r.get(4)?,
            fills: r.get(5)?,
        })
    })?;
    rows.collect()
}

/// Fills and volume per UTC day since `since_ms`.
pub fn days(db: &Path, since_ms: u64, market: Option<&str>) -> rusqlite::Result<Vec<Day>> {
    let db = Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut q = db.prepare(
        "SELECT date(ts_ms / 1000, 'unixepoch') AS day, COUNT(*), SUM(CAST(size AS REAL)),
                SUM(CAST(fee AS REAL))
         FROM fills WHERE ts_ms >= ?1 AND (?2 IS NULL OR market = ?2)
         GROUP BY day ORDER BY day",
    )?;
    let rows = q.query_map(params![since_ms as i64, market], |r| {
        Ok(Day {
            day: r.get(0)?,
            fills: r.get::<_, i64>(1)? as u64,
            volume: r.get(2)?,
            fees: r.get(3)?,
        })
    })?;
    rows.collect()
}
