//! A recording as normalised Parquet tables, for research at scale: the files load unchanged into
//! Polars, DuckDB, DataFusion or Spark.
//!
//! | file | one row per | columns |
//! |---|---|---|
//! | `book.parquet` | price level of a book update | `ts_ns`, `market`, `kind` (`snapshot`/`delta`), `side` (`bid`/`ask`), `price_ticks`, `lots`, `price`, `size` |
//! | `trades.parquet` | public trade | `ts_ns`, `market`, `price_ticks`, `lots`, `price`, `size`, `aggressor` (`buy`/`sell`/null) |
//! | `funding.parquet` | funding record | `ts_ns`, `market`, `rate` (text, exact), `rate_f64` |
//!
//! `ts_ns` is the local receive time. `price_ticks` and `lots` are the exact values on the market's
//! grid; `price` and `size` are the same as `f64` in human units, for convenience in analysis
//! (never for sizing an order). A snapshot's levels share its `ts_ns`: a new snapshot replaces the
//! book. The recording holds market data only, so there is no table of the bot's own fills.

//!
//! The writer is behind the crate's `parquet` feature (arrow and parquet are a large build);
//! without it [`to_parquet`] answers [`ExportError::NotBuilt`].

use std::path::{Path, PathBuf};

use crate::recording::RecordingError;
use perpbot_model::Timestamp;

#[cfg(all(test, feature = "parquet"))]
mod tests;
#[cfg(feature = "parquet")]
mod write;

/// What an export wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportStats {
    /// Frames read.
    pub frames: u64,
    /// Frames the decoder refused (skipped).
    pub decode_errors: u64,
    /// Rows of `book.parquet`.
    pub book_rows: u64,
    /// Rows of `trades.parquet`.
    pub trade_rows: u64,
    /// Rows of `funding.parquet`.
    pub funding_rows: u64,
}

/// An export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The recording could not be read.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The manifest's markets or units are not usable.
    #[error("recording manifest: {0}")]
    Manifest(String),
    /// This build has no Parquet writer (the `parquet` feature is off).
    #[error(
        "this perpbot was built without Parquet export (it adds arrow and parquet to the build): build it with `cargo build --release --features parquet`"
    )]
    NotBuilt,
    /// A Parquet file could not be written.
    #[error("{path}: {detail}")]
    Write {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
}

/// Export the recording in `data` (all of it, or `[from, to)`) as Parquet tables into `out`
/// (created).
pub fn to_parquet(
    data: &Path,
    out: &Path,
    from: Option<Timestamp>,
    to: Option<Timestamp>,
) -> Result<ExportStats, ExportError> {
    #[cfg(feature = "parquet")]
    {
        write::to_parquet(data, out, from, to)
    }
    #[cfg(not(feature = "parquet"))]
    {
        let _ = (data, out, from, to);
        Err(ExportError::NotBuilt)
    }
}
