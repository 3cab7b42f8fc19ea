//! Recordings: every raw frame of a venue's market-data stream with its local receive time, in
//! hourly, compressed, append-only files, plus a manifest naming the venue and its markets.
//!
//! A file (`<venue>-YYYYMMDDTHH.pbrec.gz`, the hour of the receive time, UTC) is a series of gzip
//! members, one per flushed block; inside, each record is *length · CRC-32 · receive time · frame
//! bytes*. A crash loses at most the block not yet flushed; on read, a record whose bytes end
//! early or whose CRC does not match ends the file there and is reported as a torn tail, never
//! decoded. Whole gzip members make a file readable by any gzip tool (`zcat` shows the bytes).
//!
//! The compression is gzip through `flate2`'s pure-Rust deflate, not zstd: no C library to build,
//! and market data compresses about as well for this use; the framing is written here because no
//! crate offers a checksummed, append-only record log over gzip members.

mod read;
mod write;

#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use perpbot_model::{MarketSpec, Timestamp};

pub use read::{RecordingReader, ReplayStats, read_file};
pub use write::{Recorder, RecorderOptions};

/// The manifest's file name inside a recording folder.
pub const MANIFEST: &str = "manifest.json";

/// A record's fixed header: length (u32), CRC-32 of the rest (u32), receive time (u64 ns).
const HEADER: usize = 16;

/// Largest frame accepted (a frame claiming more is corruption, not data).
pub const MAX_FRAME: usize = 16 << 20;

/// What a recording is of: the decoder needs the venue, its markets and their units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The venue whose frames these are (`kana`).
    pub venue: String,
    /// The markets subscribed, as the venue described them when the recording started.
    pub markets: Vec<MarketSpec>,
    /// How the venue writes sizes and prices (`human`, `raw`, `auto`; see `KanaUnits`).
    pub units: String,
    /// Where the frames came from (the WebSocket address), for the record.
    pub source: String,
}

impl Manifest {
    /// Read `DIR/manifest.json`.
    pub fn load(dir: &Path) -> Result<Manifest, RecordingError> {
        let path = dir.join(MANIFEST);
        let text = std::fs::read_to_string(&path).map_err(|e| RecordingError::io(&path, e))?;
        serde_json::from_str(&text).map_err(|e| RecordingError::Manifest {
            path,
            detail: e.to_string(),
        })
    }

    /// The decoder for this recording's frames: its markets, in its units. The message names
    /// what is wrong (a venue other than Kana, unknown units, an invalid market).
    pub fn decoder(&self) -> Result<perpbot_kana::decode::KanaDecoder, String> {
        use perpbot_kana::decode::{KanaDecoder, KanaUnits};
        if self.venue != "kana" {
            return Err(format!(
                "recording of venue {:?}: only kana recordings can be replayed",
                self.venue
            ));
        }
        let units = match self.units.as_str() {
            "human" => KanaUnits::Human,
            "raw" => KanaUnits::Raw,
            "auto" => KanaUnits::Auto,
            other => return Err(format!("units {other:?} is not human, raw or auto")),
        };
        KanaDecoder::new(self.markets.clone(), units).map_err(|e| e.to_string())
    }

    /// Write `DIR/manifest.json` (creating the folder).
    pub fn save(&self, dir: &Path) -> Result<(), RecordingError> {
        std::fs::create_dir_all(dir).map_err(|e| RecordingError::io(dir, e))?;
        let path = dir.join(MANIFEST);
        let text = serde_json::to_string_pretty(self).map_err(|e| RecordingError::Manifest {
            path: path.clone(),
            detail: e.to_string(),
        })?;
        std::fs::write(&path, text).map_err(|e| RecordingError::io(&path, e))
    }
}

/// One recorded frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// When this process received it.
    pub received: Timestamp,
    /// The frame's text, as it came off the socket.
    pub text: String,
}

/// What can go wrong with a recording.
#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The manifest is missing a field or is not JSON.
    #[error("{path}: not a recording manifest: {detail}")]
    Manifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// No recording files in the folder (for the time range asked).
    #[error("{0}: no recorded frames (for the time range asked)")]
    Empty(PathBuf),
}

impl RecordingError {
    fn io(path: &Path, source: std::io::Error) -> RecordingError {
        RecordingError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The file a frame received at `t` goes to: `<venue>-YYYYMMDDTHH.pbrec.gz`.
pub fn file_name(venue: &str, t: Timestamp) -> String {
    let (y, m, d, h) = utc_hour(t);
    format!("{venue}-{y:04}{m:02}{d:02}T{h:02}.pbrec.gz")
}

/// Year, month, day and hour (UTC) of a timestamp (civil-from-days, Howard Hinnant's
/// algorithm: exact for every date a `u64` of nanoseconds reaches).
fn utc_hour(t: Timestamp) -> (u64, u64, u64, u64) {
    let secs = t.0 / 1_000_000_000;
    let days = secs / 86_400;
    let hour = (secs % 86_400) / 3_600;
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day, hour)
}

/// Encode one record (header and frame) onto `out`.
fn encode(received: Timestamp, text: &str, out: &mut Vec<u8>) {
    let body_len = 8 + text.len();
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&received.0.to_le_bytes());
    hasher.update(text.as_bytes());
    out.extend_from_slice(&(body_len as u32).to_le_bytes());
    out.extend_from_slice(&hasher.finalize().to_le_bytes());
    out.extend_from_slice(&received.0.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}
