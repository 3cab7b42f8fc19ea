//! Reading a recording back: the hourly files in order, record by record, a torn tail detected
//! and reported, never decoded.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::MultiGzDecoder;
use tracing::warn;

use super::{Frame, HEADER, MAX_FRAME, RecordingError};
use perpbot_model::Timestamp;

/// What reading found besides the frames.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplayStats {
    /// Files read.
    pub files: u64,
    /// Frames handed out (within the time range).
    pub frames: u64,
    /// Files that ended in a torn or corrupt record (a crash while writing); the rest of such a
    /// file is skipped.
    pub torn_files: u64,
    /// Frames whose bytes were not UTF-8 (skipped).
    pub not_text: u64,
}

/// The frames of every file of a recording folder, in receive-time order, within `[from, to)`.
pub struct RecordingReader {
    files: std::vec::IntoIter<PathBuf>,
    current: Option<(PathBuf, BufReader<MultiGzDecoder<File>>)>,
    from: Timestamp,
    to: Timestamp,
    stats: ReplayStats,
}

impl RecordingReader {
    /// Open `dir`'s recording files (`*.pbrec.gz`, in name order = hour order), keeping frames
    /// received in `[from, to)`.
    pub fn open(
        dir: &Path,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
    ) -> Result<RecordingReader, RecordingError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| RecordingError::io(dir, e))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.ends_with(".pbrec.gz"))
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(RecordingError::Empty(dir.to_path_buf()));
        }
        Ok(RecordingReader {
            files: files.into_iter(),
            current: None,
            from: from.unwrap_or(Timestamp(0)),
            to: to.unwrap_or(Timestamp(u64::MAX)),
            stats: ReplayStats::default(),
        })
    }

    /// What has been read so far.
    pub fn stats(&self) -> &ReplayStats {
        &self.stats
    }

    /// The next record of the current file: `Ok(None)` at its clean end, `Err` for a torn or
    /// corrupt tail (with what was wrong).
    fn next_record(
        reader: &mut BufReader<MultiGzDecoder<File>>,
    ) -> Result<Option<(Timestamp, Vec<u8>)>, String> {
        let mut header = [0u8; HEADER];
        let mut got = 0;
        while got < HEADER {
            match reader.read(&mut header[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => {
                    return Err(format!(
                        "the file ends inside a record header ({got} bytes)"
                    ));
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("decompression failed: {e}")),
            }
        }
        let word =
            |i: usize| u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]);
        let body_len = word(0) as usize;
        let crc = word(4);
        if !(8..=MAX_FRAME + 8).contains(&body_len) {
            return Err(format!("a record claims {body_len} bytes"));
        }
        let mut received = [0u8; 8];
        received.copy_from_slice(&header[8..16]);
        let mut text = vec![0u8; body_len - 8];
        reader
            .read_exact(&mut text)
            .map_err(|e| format!("the file ends inside a record ({e})"))?;
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&received);
        hasher.update(&text);
        if hasher.finalize() != crc {
            return Err("a record's checksum does not match".into());
        }
        Ok(Some((Timestamp(u64::from_le_bytes(received)), text)))
    }
}

impl Iterator for RecordingReader {
    type Item = Frame;

    fn next(&mut self) -> Option<Frame> {
        loop {
            if self.current.is_none() {
                let path = self.files.next()?;
                match File::open(&path) {
                    Ok(f) => {
                        self.stats.files += 1;
                        self.current = Some((path, BufReader::new(MultiGzDecoder::new(f))));
                    }
                    Err(e) => {
                        warn!(file = %path.display(), error = %e, "recording file skipped");
                        continue;
                    }
                }
            }
            let (path, reader) = self.current.as_mut()?;
            match Self::next_record(reader) {
                Ok(Some((received, bytes))) => {
                    if received < self.from || received >= self.to {
                        continue;
                    }
                    match String::from_utf8(bytes) {
                        Ok(text) => {
                            self.stats.frames += 1;
                            return Some(Frame { received, text });
                        }
                        Err(_) => self.stats.not_text += 1,
                    }
                }
                Ok(None) => self.current = None,
                Err(detail) => {
                    warn!(file = %path.display(), %detail, "recording: torn tail (a crash while writing); the rest of this file is skipped");
                    self.stats.torn_files += 1;
                    self.current = None;
                }
            }
        }
    }
}

/// Every frame of one file and what reading it found (for tests and tools).
pub fn read_file(path: &Path) -> Result<(Vec<Frame>, ReplayStats), RecordingError> {
    let file = File::open(path).map_err(|e| RecordingError::io(path, e))?;
    let mut reader = RecordingReader {
        files: Vec::new().into_iter(),
        current: Some((
            path.to_path_buf(),
            BufReader::new(MultiGzDecoder::new(file)),
        )),
        from: Timestamp(0),
        to: Timestamp(u64::MAX),
        stats: ReplayStats {
            files: 1,
            ..ReplayStats::default()
        },
    };
    let frames: Vec<Frame> = reader.by_ref().collect();
    Ok((frames, reader.stats))
}
