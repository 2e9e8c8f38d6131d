//! The engine-independent archive: one file holding a whole ledger (entry bytes, payloads,
//! checkpoint notes), so the ledger can outlive sled and be verified without it.
//!
//! Byte layout (docs/FORMAT.md, "Archive"):
//!
//! ```text
//! magic   "caseledger archive v2\n"                      (22 bytes)
//! frame*  tag (u8) || len (u64 LE) || body (len bytes)
//!   0x01 header      body = origin (UTF-8)
//!   0x02 entry       body = canonical entry bytes E_i (entries appear in seq order)
//!   0x03 payload     body = seq (u64 BE) || stored payload (nonce || ciphertext, FORMAT.md §3a)
//!   0x04 checkpoint  body = signed note text (UTF-8), cosignature lines included
//!   0x05 content key body = slot (u32 LE) || key store slot (160 bytes, FORMAT.md §6);
//!                    only in archives exported with `--with-content-keys`
//!   0xFF end         body = entries (u64 LE) || payloads (u64 LE) || checkpoints (u64 LE)
//!                           || content keys (u64 LE)
//!                           || BLAKE3-derive-key("caseledger archive v2", magic || every frame before end)
//! ```
//!
//! The header is the first frame and the end frame the last; nothing may follow it. The end
//! frame's counts and digest catch truncation and accidental damage; tampering is the
//! verifier's job (the archive is untrusted input like any ledger).
//!
//! ```
//! use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
//! let mut w = ArchiveWriter::new(Vec::new(), "example.org/ledger").unwrap();
//! w.entry(b"entry bytes").unwrap();
//! let bytes = w.finish().unwrap();
//! let mut r = ArchiveReader::new(bytes.as_slice()).unwrap();
//! assert_eq!(r.origin(), "example.org/ledger");
//! assert!(matches!(r.next(), Some(Ok(ArchiveItem::Entry(_)))));
//! assert!(r.next().is_none());
//! ```

use crate::ids::Seq;
use std::io::{self, Read, Write};

/// The first bytes of every archive.
pub const MAGIC: &[u8; 22] = b"caseledger archive v2\n";
/// The magic of version 1 archives, refused by name.
pub const MAGIC_V1: &[u8; 22] = b"caseledger archive v1\n";
/// BLAKE3 derive-key context of the end frame's digest.
pub const DIGEST_CONTEXT: &str = "caseledger archive v2";
/// The largest frame body accepted (256 MiB): bounds memory on hostile input. The writer
/// refuses a larger frame rather than write an archive no reader accepts.
pub const MAX_FRAME: u64 = 256 << 20;
/// The largest payload (content, without its salt) a ledger accepts: the most whose stored
/// form (`nonce (24) || ciphertext of salt (32) || len (4) || content || padding to 256 ||
/// tag (16)`) fits one payload frame (`seq (8) || stored`) within [`MAX_FRAME`]. The store
/// refuses a larger payload at append, so every ledger can be archived and read back.
pub const MAX_PAYLOAD: u64 = (MAX_FRAME - 8 - 24 - 16) / 256 * 256 - 36;
/// The length of a content key frame body: slot (4) and a key store slot (160).
pub const CONTENT_KEY_FRAME: usize = 4 + 160;

const TAG_HEADER: u8 = 0x01;
const TAG_ENTRY: u8 = 0x02;
const TAG_PAYLOAD: u8 = 0x03;
const TAG_CHECKPOINT: u8 = 0x04;
const TAG_CONTENT_KEY: u8 = 0x05;
const TAG_END: u8 = 0xFF;

/// What is wrong with an archive.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// Reading or writing failed.
    #[error("archive I/O: {0}")]
    Io(#[from] io::Error),
    /// Not an archive (wrong magic).
    #[error("not a caseledger archive (bad magic)")]
    BadMagic,
    /// A version 1 archive.
    #[error(
        "this is a version 1 archive: this build reads format {} only (no migration)",
        crate::event::FORMAT_VERSION
    )]
    Version1,
    /// The stream ended before the end frame.
    #[error("archive is truncated (no end frame)")]
    Truncated,
    /// A frame is malformed.
    #[error("malformed archive frame {index}: {why}")]
    Malformed {
        /// 0-based frame index.
        index: u64,
        /// What is wrong.
        why: &'static str,
    },
    /// The end frame's counts or digest do not match what came before.
    #[error("archive end frame does not match its contents: {0}")]
    EndMismatch(&'static str),
    /// A frame to be written is larger than [`MAX_FRAME`]: no reader would accept it.
    #[error("archive frame of {len} bytes is over the limit of {MAX_FRAME} bytes (a payload may be at most {MAX_PAYLOAD} bytes)")]
    FrameTooLarge {
        /// The frame body's length.
        len: u64,
    },
}

/// One item of an archive, in file order.
#[derive(Clone, PartialEq, Eq)]
pub enum ArchiveItem {
    /// Canonical entry bytes, in seq order.
    Entry(Vec<u8>),
    /// A stored payload value (`salt || payload`) for an entry.
    Payload {
        /// The entry's seq.
        seq: Seq,
        /// `salt || payload`.
        stored: Vec<u8>,
    },
    /// A signed checkpoint note.
    Checkpoint(String),
    /// A record's wrapped content key, as its key store slot holds it.
    ContentKey {
        /// The slot index.
        slot: u32,
        /// The slot's 160 bytes.
        bytes: Vec<u8>,
    },
}

impl std::fmt::Debug for ArchiveItem {
    // Payloads are clinical content: never in Debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArchiveItem::Entry(b) => write!(f, "Entry(<{} bytes>)", b.len()),
            ArchiveItem::Payload { seq, stored } => write!(
                f,
                "Payload {{ seq: {seq}, <{} bytes redacted> }}",
                stored.len()
            ),
            ArchiveItem::Checkpoint(n) => write!(f, "Checkpoint({n:?})"),
            ArchiveItem::ContentKey { slot, .. } => write!(f, "ContentKey {{ slot: {slot} }}"),
        }
    }
}

/// Writes an archive frame by frame.
pub struct ArchiveWriter<W: Write> {
    w: W,
    digest: blake3::Hasher,
    counts: [u64; 4],
}

impl<W: Write> ArchiveWriter<W> {
    /// Starts an archive: magic and header.
    pub fn new(mut w: W, origin: &str) -> Result<Self, ArchiveError> {
        w.write_all(MAGIC)?;
        let mut digest = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
        digest.update(MAGIC);
        let mut a = ArchiveWriter {
            w,
            digest,
            counts: [0; 4],
        };
        a.frame(TAG_HEADER, &[origin.as_bytes()])?;
        Ok(a)
    }

    fn frame(&mut self, tag: u8, parts: &[&[u8]]) -> Result<(), ArchiveError> {
        let len: u64 = parts.iter().map(|p| p.len() as u64).sum();
        if len > MAX_FRAME {
            return Err(ArchiveError::FrameTooLarge { len });
        }
        let head = [[tag].as_slice(), &len.to_le_bytes()].concat();
        self.w.write_all(&head)?;
        self.digest.update(&head);
        for p in parts {
            self.w.write_all(p)?;
            self.digest.update(p);
        }
        Ok(())
    }

    /// Appends an entry's canonical bytes (call in seq order).
    pub fn entry(&mut self, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.counts[0] += 1;
        self.frame(TAG_ENTRY, &[bytes])
    }

    /// Appends a stored payload value (`salt || payload`) for `seq`.
    pub fn payload(&mut self, seq: Seq, stored: &[u8]) -> Result<(), ArchiveError> {
        self.counts[1] += 1;
        self.frame(TAG_PAYLOAD, &[&seq.to_be_bytes(), stored])
    }

    /// Appends a signed checkpoint note.
    pub fn checkpoint(&mut self, note: &str) -> Result<(), ArchiveError> {
        self.counts[2] += 1;
        self.frame(TAG_CHECKPOINT, &[note.as_bytes()])
    }

    /// Appends a key store slot (a record's wrapped content key).
    pub fn content_key(&mut self, slot: u32, bytes: &[u8]) -> Result<(), ArchiveError> {
        self.counts[3] += 1;
        self.frame(TAG_CONTENT_KEY, &[&slot.to_le_bytes(), bytes])
    }

    /// Writes the end frame and returns the writer (flushed).
    pub fn finish(mut self) -> Result<W, ArchiveError> {
        let digest = *self.digest.finalize().as_bytes();
        let [e, p, c, k] = self.counts;
        let head = [[TAG_END].as_slice(), &64u64.to_le_bytes()].concat();
        self.w.write_all(&head)?;
        self.w.write_all(&e.to_le_bytes())?;
        self.w.write_all(&p.to_le_bytes())?;
        self.w.write_all(&c.to_le_bytes())?;
        self.w.write_all(&k.to_le_bytes())?;
        self.w.write_all(&digest)?;
        self.w.flush()?;
        Ok(self.w)
    }
}

/// Reads an archive; an iterator of items. The end frame is checked when reached: the
/// iterator yields an error, never a silent `None`, for a truncated or altered archive.
pub struct ArchiveReader<R: Read> {
    r: R,
    origin: String,
    digest: blake3::Hasher,
    counts: [u64; 4],
    index: u64,
    done: bool,
}

impl<R: Read> ArchiveReader<R> {
    /// Reads the magic and header.
    pub fn new(mut r: R) -> Result<Self, ArchiveError> {
        let mut magic = [0u8; 22];
        read_exact_or(&mut r, &mut magic, ArchiveError::BadMagic)?;
        if &magic == MAGIC_V1 {
            return Err(ArchiveError::Version1);
        }
        if &magic != MAGIC {
            return Err(ArchiveError::BadMagic);
        }
        let mut digest = blake3::Hasher::new_derive_key(DIGEST_CONTEXT);
        digest.update(MAGIC);
        let mut a = ArchiveReader {
            r,
            origin: String::new(),
            digest,
            counts: [0; 4],
            index: 0,
            done: false,
        };
        let (tag, body) = a.read_frame()?.ok_or(ArchiveError::Truncated)?;
        if tag != TAG_HEADER {
            return Err(ArchiveError::Malformed {
                index: 0,
                why: "first frame is not the header",
            });
        }
        a.origin = String::from_utf8(body).map_err(|_| ArchiveError::Malformed {
            index: 0,
            why: "origin is not UTF-8",
        })?;
        Ok(a)
    }

    /// The origin named in the header.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Reads one frame; `None` at a clean end of stream (which is an error unless after the end frame).
    fn read_frame(&mut self) -> Result<Option<(u8, Vec<u8>)>, ArchiveError> {
        let mut head = [0u8; 9];
        let mut got = 0;
        while got < head.len() {
            let n = self.r.read(head.get_mut(got..).unwrap_or_default())?;
            if n == 0 {
                return if got == 0 {
                    Ok(None)
                } else {
                    Err(ArchiveError::Truncated)
                };
            }
            got += n;
        }
        let [tag, l @ ..] = head;
        let len = u64::from_le_bytes(l);
        if len > MAX_FRAME {
            return Err(ArchiveError::Malformed {
                index: self.index,
                why: "frame larger than 256 MiB",
            });
        }
        let mut body = Vec::new();
        (&mut self.r).take(len).read_to_end(&mut body)?;
        if body.len() as u64 != len {
            return Err(ArchiveError::Truncated);
        }
        if tag != TAG_END {
            self.digest.update(&head);
            self.digest.update(&body);
        }
        self.index += 1;
        Ok(Some((tag, body)))
    }

    fn check_end(&mut self, body: &[u8]) -> Result<(), ArchiveError> {
        let malformed = ArchiveError::Malformed {
            index: self.index,
            why: "end frame is not 64 bytes",
        };
        let (counts, digest) = body.split_first_chunk::<32>().ok_or(malformed)?;
        let digest: &[u8; 32] = digest.try_into().map_err(|_| ArchiveError::Malformed {
            index: self.index,
            why: "end frame is not 64 bytes",
        })?;
        for (i, c) in counts.chunks_exact(8).enumerate() {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            if self.counts.get(i) != Some(&u64::from_le_bytes(b)) {
                return Err(ArchiveError::EndMismatch(
                    [
                        "entry count",
                        "payload count",
                        "checkpoint count",
                        "content key count",
                    ]
                    .get(i)
                    .copied()
                    .unwrap_or("count"),
                ));
            }
        }
        if self.digest.finalize().as_bytes() != digest {
            return Err(ArchiveError::EndMismatch("digest"));
        }
        let mut extra = [0u8; 1];
        if self.r.read(&mut extra)? != 0 {
            return Err(ArchiveError::Malformed {
                index: self.index,
                why: "data after the end frame",
            });
        }
        Ok(())
    }

    fn next_item(&mut self) -> Result<Option<ArchiveItem>, ArchiveError> {
        let index = self.index;
        let (tag, body) = self.read_frame()?.ok_or(ArchiveError::Truncated)?;
        let item = match tag {
            TAG_ENTRY => {
                self.counts[0] += 1;
                ArchiveItem::Entry(body)
            }
            TAG_PAYLOAD => {
                let (seq, stored) =
                    body.split_first_chunk::<8>()
                        .ok_or(ArchiveError::Malformed {
                            index,
                            why: "payload frame shorter than a seq",
                        })?;
                if stored.len() < 24 + 16 {
                    return Err(ArchiveError::Malformed {
                        index,
                        why: "payload frame shorter than a nonce and a tag",
                    });
                }
                self.counts[1] += 1;
                ArchiveItem::Payload {
                    seq: Seq(u64::from_be_bytes(*seq)),
                    stored: stored.to_vec(),
                }
            }
            TAG_CONTENT_KEY => {
                if body.len() != CONTENT_KEY_FRAME {
                    return Err(ArchiveError::Malformed {
                        index,
                        why: "content key frame is not 164 bytes",
                    });
                }
                let (slot, bytes) = body.split_at(4);
                let mut b = [0u8; 4];
                b.copy_from_slice(slot);
                self.counts[3] += 1;
                ArchiveItem::ContentKey {
                    slot: u32::from_le_bytes(b),
                    bytes: bytes.to_vec(),
                }
            }
            TAG_CHECKPOINT => {
                self.counts[2] += 1;
                ArchiveItem::Checkpoint(String::from_utf8(body).map_err(|_| {
                    ArchiveError::Malformed {
                        index,
                        why: "checkpoint is not UTF-8",
                    }
                })?)
            }
            TAG_END => {
                self.check_end(&body)?;
                return Ok(None);
            }
            _ => {
                return Err(ArchiveError::Malformed {
                    index,
                    why: "unknown frame tag",
                })
            }
        };
        Ok(Some(item))
    }
}

fn read_exact_or<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    short: ArchiveError,
) -> Result<(), ArchiveError> {
    match r.read_exact(buf) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(short),
        Err(e) => Err(e.into()),
    }
}

impl<R: Read> Iterator for ArchiveReader<R> {
    type Item = Result<ArchiveItem, ArchiveError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_item() {
            Ok(Some(item)) => Some(Ok(item)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut w = ArchiveWriter::new(Vec::new(), "o").unwrap();
        w.entry(b"e0").unwrap();
        w.payload(Seq(0), &[7u8; 40]).unwrap();
        w.entry(b"e1").unwrap();
        w.checkpoint("o\n2\nroot\n\n— o sig\n").unwrap();
        w.finish().unwrap()
    }

    fn read_all(b: &[u8]) -> Result<Vec<ArchiveItem>, ArchiveError> {
        ArchiveReader::new(b)?.collect()
    }

    #[test]
    fn round_trip() {
        let items = read_all(&sample()).unwrap();
        assert_eq!(items.len(), 4);
        assert_eq!(
            items[1],
            ArchiveItem::Payload {
                seq: Seq(0),
                stored: vec![7; 40]
            }
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let b = sample();
        for cut in 0..b.len() {
            assert!(
                read_all(&b[..cut]).is_err(),
                "truncated at {cut} read as complete"
            );
        }
    }

    #[test]
    fn every_bit_flip_is_an_error_or_changes_nothing_silently() {
        let b = sample();
        for i in 0..b.len() {
            let mut c = b.clone();
            c[i] ^= 1;
            // The digest covers every byte before the end frame; the end frame checks itself.
            assert!(read_all(&c).is_err(), "flip at byte {i} went unnoticed");
        }
    }

    #[test]
    fn trailing_data_and_huge_frames_are_refused() {
        let mut b = sample();
        b.push(0);
        assert!(matches!(read_all(&b), Err(ArchiveError::Malformed { .. })));
        let mut h = MAGIC.to_vec();
        h.push(TAG_HEADER);
        h.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(read_all(&h), Err(ArchiveError::Malformed { .. })));
    }

    #[test]
    fn the_writer_refuses_a_frame_no_reader_accepts() {
        let mut w = ArchiveWriter::new(Vec::new(), "o").unwrap();
        // Zeroed: the pages are never touched, the length is refused first.
        let stored = vec![0u8; usize::try_from(MAX_FRAME - 8 + 1).unwrap()];
        assert!(matches!(
            w.payload(Seq(0), &stored),
            Err(ArchiveError::FrameTooLarge { len }) if len == MAX_FRAME + 1
        ));
        // The largest payload's stored form fits a frame; one more byte would not.
        let stored_len = |content: u64| 24 + (32 + 4 + content).div_ceil(256) * 256 + 16;
        assert!(8 + stored_len(MAX_PAYLOAD) <= MAX_FRAME);
        assert!(8 + stored_len(MAX_PAYLOAD + 1) > MAX_FRAME);
    }

    #[test]
    fn debug_redacts_payloads() {
        let p = ArchiveItem::Payload {
            seq: Seq(1),
            stored: b"secret note text padded to more than 32 bytes".to_vec(),
        };
        assert!(!format!("{p:?}").contains("secret"));
    }
}
