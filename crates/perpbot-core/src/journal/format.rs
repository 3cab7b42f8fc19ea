//! The file format: an 8-byte header, then frames of `length (u32 LE) · CRC-32 (u32 LE) · JSON`.
//!
//! A frame is trusted only when its length is sane, all its bytes are there and its checksum
//! matches. Reading stops at the first frame that fails: after a crash that is the record being
//! written when the process died (a *torn tail*), which is reported and ignored — never a panic,
//! never a guess. A frame whose checksum holds but whose JSON this version does not understand
//! is *unreadable*, not torn: it was written whole (by another version), so it is reported as
//! such and never truncated away.

use std::path::Path;

use super::record::Entry;

/// First bytes of every journal file: `PBJRNL`, a zero, and the format version.
pub const MAGIC: [u8; 8] = *b"PBJRNL\x00\x01";

/// Largest frame accepted (16 MiB): a corrupted length must not make the reader allocate
/// gigabytes.
pub const MAX_RECORD: u32 = 16 * 1024 * 1024;

/// Bytes before a frame's JSON: length and checksum.
const FRAME_HEADER: usize = 8;

/// One frame around a record's JSON.
pub fn frame(payload: &[u8]) -> Option<Vec<u8>> {
    let len = u32::try_from(payload.len())
        .ok()
        .filter(|l| *l <= MAX_RECORD)?;
    let mut out = Vec::with_capacity(FRAME_HEADER + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Where reading stopped before the end of the file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TornTail {
    /// Byte offset of the first bad frame (everything before it is good).
    pub offset: u64,
    /// Bytes from there to the end of the file, ignored.
    pub bytes: u64,
    /// What was wrong.
    pub reason: String,
}

impl std::fmt::Display for TornTail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} at byte {} ({} bytes ignored)",
            self.reason, self.offset, self.bytes
        )
    }
}

/// A frame whose checksum holds but whose JSON could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// Index of the frame in the file (0-based).
    pub index: usize,
    /// Byte offset of the frame.
    pub offset: u64,
    /// The decoder's complaint.
    pub reason: String,
}

/// One intact frame.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A record this version understands.
    Entry {
        /// Byte offset of the frame.
        offset: u64,
        /// The record.
        entry: Entry,
    },
    /// Intact but not understood.
    Unreadable(Unreadable),
}

/// Everything a scan of a journal found.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// Intact frames in file order.
    pub frames: Vec<Frame>,
    /// Bytes of intact data (header included): where the next record goes.
    pub good_len: u64,
    /// The tail that was ignored, if any.
    pub torn: Option<TornTail>,
}

impl Scan {
    /// The records understood, in order.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.frames.iter().filter_map(|f| match f {
            Frame::Entry { entry, .. } => Some(entry),
            Frame::Unreadable(_) => None,
        })
    }

    /// The first intact frame that could not be decoded, if any.
    pub fn first_unreadable(&self) -> Option<&Unreadable> {
        self.frames.iter().find_map(|f| match f {
            Frame::Unreadable(u) => Some(u),
            Frame::Entry { .. } => None,
        })
    }
}

/// Why bytes are not a journal at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAJournal {
    /// The first bytes found (hex).
    pub found: String,
}

/// Scan journal bytes. Never panics on any input: a bad header that could be the start of ours
/// (a crash while creating the file) is a torn tail at 0; anything else is [`NotAJournal`].
pub fn scan(bytes: &[u8]) -> Result<Scan, NotAJournal> {
    let total = bytes.len() as u64;
    let head = bytes.get(..MAGIC.len());
    match head {
        Some(h) if h == MAGIC => {}
        _ => {
            let n = bytes.len().min(MAGIC.len());
            let prefix = bytes.get(..n).unwrap_or_default();
            if MAGIC.starts_with(prefix) {
                // Empty, or the header itself was torn: nothing was ever recorded.
                return Ok(Scan {
                    frames: Vec::new(),
                    good_len: 0,
                    torn: (total > 0).then(|| TornTail {
                        offset: 0,
                        bytes: total,
                        reason: "incomplete file header".into(),
                    }),
                });
            }
            return Err(NotAJournal {
                found: hex::encode(prefix),
            });
        }
    }
    let mut pos = MAGIC.len();
    let mut frames = Vec::new();
    let mut torn = None;
    while pos < bytes.len() {
        let offset = pos as u64;
        let tear = |reason: String| TornTail {
            offset,
            bytes: total - offset,
            reason,
        };
        let Some(header) = bytes.get(pos..pos + FRAME_HEADER) else {
            torn = Some(tear("incomplete record header".into()));
            break;
        };
        let word = |i: usize| {
            let mut b = [0u8; 4];
            b.copy_from_slice(header.get(i..i + 4).unwrap_or(&[0; 4]));
            u32::from_le_bytes(b)
        };
        let (len, crc) = (word(0), word(4));
        if len == 0 || len > MAX_RECORD {
            torn = Some(tear(format!("implausible record length {len}")));
            break;
        }
        let start = pos + FRAME_HEADER;
        let Some(payload) = bytes.get(start..start + len as usize) else {
            torn = Some(tear(format!(
                "record of {len} bytes cut short ({} present)",
                bytes.len() - start
            )));
            break;
        };
        let actual = crc32fast::hash(payload);
        if actual != crc {
            torn = Some(tear(format!(
                "checksum mismatch (stored {crc:08x}, computed {actual:08x})"
            )));
            break;
        }
        match serde_json::from_slice::<Entry>(payload) {
            Ok(entry) => frames.push(Frame::Entry { offset, entry }),
            Err(e) => frames.push(Frame::Unreadable(Unreadable {
                index: frames.len(),
                offset,
                reason: e.to_string(),
            })),
        }
        pos = start + len as usize;
    }
    let good_len = torn.as_ref().map_or(total, |t| t.offset);
    Ok(Scan {
        frames,
        good_len,
        torn,
    })
}

/// Read and scan a journal file (read-only: nothing is truncated or repaired).
pub fn read_file(path: &Path) -> std::io::Result<Result<Scan, NotAJournal>> {
    let bytes = std::fs::read(path)?;
    Ok(scan(&bytes))
}
