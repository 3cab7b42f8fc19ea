//! Writing a recording: frames buffered into blocks, each block one gzip member appended to the
//! hour's file.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::{RecordingError, encode, file_name};
use perpbot_model::Timestamp;

/// When a block is flushed to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecorderOptions {
    /// Flush once a block holds this many bytes (before compression).
    pub block_bytes: usize,
    /// Flush once the oldest frame in the block is this old (by receive time).
    pub block_age: Duration,
}

impl Default for RecorderOptions {
    fn default() -> RecorderOptions {
        RecorderOptions {
            block_bytes: 256 << 10,
            block_age: Duration::from_secs(1),
        }
    }
}

/// Appends frames to the hourly files of one venue in a folder.
#[derive(Debug)]
pub struct Recorder {
    dir: PathBuf,
    venue: String,
    options: RecorderOptions,
    /// Encoded records not yet written, and the file they belong to.
    block: Vec<u8>,
    block_file: Option<String>,
    block_started: Timestamp,
    frames: u64,
    bytes_written: u64,
}

impl Recorder {
    /// A recorder writing `venue`'s frames into `dir` (created if missing).
    pub fn new(
        dir: &Path,
        venue: &str,
        options: RecorderOptions,
    ) -> Result<Recorder, RecordingError> {
        std::fs::create_dir_all(dir).map_err(|e| RecordingError::io(dir, e))?;
        Ok(Recorder {
            dir: dir.to_path_buf(),
            venue: venue.to_string(),
            options,
            block: Vec::new(),
            block_file: None,
            block_started: Timestamp(0),
            frames: 0,
            bytes_written: 0,
        })
    }

    /// Add one frame received at `received`. Flushes the block when it is full, old, or the
    /// hour changed (a frame never goes to another hour's file).
    pub fn record(&mut self, received: Timestamp, text: &str) -> Result<(), RecordingError> {
        let file = file_name(&self.venue, received);
        if self.block_file.as_deref().is_some_and(|f| f != file) {
            self.flush()?;
        }
        if self.block.is_empty() {
            self.block_started = received;
            self.block_file = Some(file);
        }
        encode(received, text, &mut self.block);
        self.frames += 1;
        if self.block.len() >= self.options.block_bytes
            || received.since(self.block_started) >= self.options.block_age
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Write the block as one gzip member and sync it.
    pub fn flush(&mut self) -> Result<(), RecordingError> {
        let Some(name) = self.block_file.take() else {
            return Ok(());
        };
        if self.block.is_empty() {
            return Ok(());
        }
        let path = self.dir.join(&name);
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| RecordingError::io(&path, e))?;
        let mut gz = GzEncoder::new(file, Compression::default());
        gz.write_all(&self.block)
            .map_err(|e| RecordingError::io(&path, e))?;
        let file: File = gz.finish().map_err(|e| RecordingError::io(&path, e))?;
        file.sync_data().map_err(|e| RecordingError::io(&path, e))?;
        self.bytes_written += self.block.len() as u64;
        self.block.clear();
        Ok(())
    }

    /// Frames recorded so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Frame bytes flushed so far (before compression).
    pub fn bytes_written(&self) -> u64 {
        self.bytes_written
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            tracing::error!(error = %e, "recording: the last block was not written");
        }
    }
}
