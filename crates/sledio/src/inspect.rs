//! Reading sled 0.34.7's file headers, without sled, to tell whether a `sled/` directory
//! can be one moment's state of a database (what a writer, even one killed mid-write,
//! leaves) or must be files taken at different moments (a directory copied while sled
//! wrote it).
//!
//! sled's log is the `db` file, cut in segments of `segment_size` bytes (the `conf` file
//! names it; 512 KiB by default). Each segment starts with a 20-byte header: a CRC32
//! (stored XORed with `0xFFFF_FFFF`) over the next 16 bytes, the segment's LSN and the
//! highest stable LSN when it was written (each an i64 LE, XORed with `i64::MAX`). A
//! snapshot file `snap.<LSN, 16 hex digits>` indexes the log up to that LSN. sled writes a
//! snapshot only over log bytes that are already on disk, and never gives two segments the
//! same LSN (a reused segment gets a new one; recovery zeroes a torn one).
//!
//! [`SledFiles::tear`] reports what no single moment can show:
//! * two segments with the same LSN (sled asserts this never happens and panics on it);
//! * a snapshot naming an LSN beyond every segment in `db` (the snapshot was taken later
//!   than the `db` bytes beside it).
//!
//! Files edited through sled (an insider with the ledger's account) show none of these:
//! sled wrote them. Files damaged on purpose can show them; what that gains an insider is
//! in docs/THREAT-MODEL.md ("inconsistent copy").

use std::io::{Read, Seek};
use std::path::Path;

/// sled 0.34.7's segment header length.
const SEG_HEADER_LEN: usize = 20;
/// sled 0.34.7's default segment size, used when `conf` does not name one.
const DEFAULT_SEGMENT_SIZE: u64 = 512 * 1024;

/// One segment header of `db`, as read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Byte offset of the segment in `db`.
    pub offset: u64,
    /// The segment's LSN.
    pub lsn: i64,
    /// The highest stable LSN when the segment was written.
    pub max_stable_lsn: i64,
}

/// Why a `sled/` directory cannot be one moment's state (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// Two segments carry the same LSN.
    DuplicateSegment {
        /// The LSN.
        lsn: i64,
    },
    /// The newest snapshot indexes log bytes that `db` does not hold.
    SnapshotBeyondLog {
        /// The snapshot's LSN.
        snapshot: i64,
        /// The end of the log `db` holds (the last segment's LSN plus a segment).
        log_end: i64,
    },
}

impl std::fmt::Display for Tear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Tear::DuplicateSegment { lsn } => {
                write!(
                    f,
                    "two segments of sled/db carry the same log position ({lsn})"
                )
            }
            Tear::SnapshotBeyondLog { snapshot, log_end } => write!(
                f,
                "sled's snapshot file indexes the log up to position {snapshot}, but sled/db \
                 ends at {log_end}: the snapshot was copied later than sled/db"
            ),
        }
    }
}

/// What [`inspect`] read from a `sled/` directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SledFiles {
    /// The segment size (from `conf`).
    pub segment_size: u64,
    /// The valid segment headers (CRC matches), in file order.
    pub segments: Vec<Segment>,
    /// The LSNs of the completed snapshot files (`snap.<hex>`), ascending.
    pub snapshots: Vec<i64>,
    /// The length of `db`.
    pub db_len: u64,
    /// For the segment holding the newest snapshot's LSN, if `db` holds it: the LSN right
    /// after its last valid log message (as sled's recovery reads it), and whether the log
    /// ends cleanly there (see `valid_log_end`) rather than on damaged bytes.
    pub snapshot_segment_end: Option<(i64, bool)>,
}

/// Reads the segment headers and snapshot names of `sled_dir` (reading only; nothing is
/// opened for writing). A missing `db` reads as no segments.
pub fn inspect(sled_dir: &Path) -> std::io::Result<SledFiles> {
    let segment_size = std::fs::read_to_string(sled_dir.join("conf"))
        .ok()
        .and_then(|conf| {
            conf.lines()
                .find_map(|l| l.strip_prefix("segment_size:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
        })
        .filter(|s| s.is_power_of_two() && *s >= 256)
        .unwrap_or(DEFAULT_SEGMENT_SIZE);
    let mut segments = Vec::new();
    let mut db_len = 0;
    match std::fs::File::open(sled_dir.join("db")) {
        Ok(mut f) => {
            // Only the headers are read: one seek and 20 bytes per segment.
            let len = f.metadata()?.len();
            db_len = len;
            let mut offset = 0u64;
            let mut header = [0u8; SEG_HEADER_LEN];
            while offset.saturating_add(SEG_HEADER_LEN as u64) <= len {
                f.seek(std::io::SeekFrom::Start(offset))?;
                f.read_exact(&mut header)?;
                if let Some(s) = parse_header(&header, offset) {
                    segments.push(s);
                }
                offset = offset.saturating_add(segment_size);
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut snapshots = Vec::new();
    for item in std::fs::read_dir(sled_dir)? {
        let name = item?.file_name();
        let Some(hex) = name.to_str().and_then(|n| n.strip_prefix("snap.")) else {
            continue;
        };
        // `snap.<lsn>.generating` (unfinished) and `.in___motion` are not snapshots.
        if hex.len() == 16 {
            if let Ok(lsn) = i64::from_str_radix(hex, 16) {
                snapshots.push(lsn);
            }
        }
    }
    snapshots.sort_unstable();
    let snapshot_segment_end = match snapshots.last() {
        Some(&snap) => {
            let size = i64::try_from(segment_size).unwrap_or(i64::MAX);
            match segments
                .iter()
                .find(|s| s.lsn <= snap && snap < s.lsn.saturating_add(size))
            {
                Some(seg) => {
                    let mut f = std::fs::File::open(sled_dir.join("db"))?;
                    f.seek(std::io::SeekFrom::Start(seg.offset))?;
                    let mut bytes = Vec::new();
                    f.take(segment_size).read_to_end(&mut bytes)?;
                    let (end, clean) = valid_log_end(&bytes, seg.lsn, segment_size);
                    let end = seg.lsn.saturating_add(i64::try_from(end).unwrap_or(0));
                    Some((end, clean))
                }
                None => None,
            }
        }
        None => None,
    };
    Ok(SledFiles {
        segment_size,
        segments,
        snapshots,
        db_len,
        snapshot_segment_end,
    })
}

/// sled 0.34.7's largest message header; a segment with less room left is full.
const MAX_MSG_HEADER_LEN: usize = 32;
/// Message kinds: `Corrupted` (0, the torn-write canary and sled's shredding byte) and
/// `Cap` (2, padding that fills the rest of a segment).
const KIND_CORRUPTED: u8 = 0;
const KIND_CAP: u8 = 2;

/// sled's variable-length u64 (serialization.rs): returns the value and its length.
fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    match first {
        0..=240 => Some((u64::from(first), 1)),
        241..=248 => Some((
            240 + 256 * (u64::from(first) - 241) + u64::from(*b.get(1)?),
            2,
        )),
        249 => Some((
            2288 + 256 * u64::from(*b.get(1)?) + u64::from(*b.get(2)?),
            3,
        )),
        other => {
            let n = usize::from(other) - 247;
            let mut le = [0u8; 8];
            le.get_mut(..n)?.copy_from_slice(b.get(1..=n)?);
            Some((u64::from_le_bytes(le), n + 1))
        }
    }
}

/// The offset, within one segment's bytes, right after its last valid message: the
/// messages sled's recovery reads in order from the header on, each with a matching CRC
/// and this segment's number, until a `Corrupted` byte, a bad message or the end. A `Cap`
/// message fills the segment. With it, whether the log ends *cleanly* there: the segment
/// is full, or zero bytes follow (sled's shredding of an unused tail, or a file never
/// written that far), or the file ends. A log that ends on garbage is damage, not an end.
fn valid_log_end(seg: &[u8], lsn: i64, segment_size: u64) -> (usize, bool) {
    let number = u64::try_from(lsn).unwrap_or(0) / segment_size.max(1);
    let size = usize::try_from(segment_size).unwrap_or(usize::MAX);
    let mut pos = SEG_HEADER_LEN;
    loop {
        if size.saturating_sub(pos) < MAX_MSG_HEADER_LEN {
            return (pos, true);
        }
        match message_at(seg, pos, number, size) {
            Some(None) => return (size, true),
            Some(Some(len)) => pos += len,
            None => {
                let next = seg.get(pos..).unwrap_or_default();
                let clean = next.iter().take(MAX_MSG_HEADER_LEN).all(|&b| b == 0)
                    || cut_by_end_of_file(seg, pos, size);
                return (pos, clean);
            }
        }
    }
}

/// Whether the file ends inside the message at `pos` (its header names more bytes than
/// the file holds): the end of what was written when the file was read.
fn cut_by_end_of_file(seg: &[u8], pos: usize, size: usize) -> bool {
    if seg.len() >= size {
        return false;
    }
    let Some(b) = seg.get(pos..) else {
        return true;
    };
    if b.len() < MAX_MSG_HEADER_LEN {
        return true;
    }
    let mut at = 5;
    let mut next = || {
        let (v, n) = varint(b.get(at..)?)?;
        at += n;
        Some(v)
    };
    let (Some(len), Some(_), Some(_)) = (next(), next(), next()) else {
        return false;
    };
    b.get(4) != Some(&KIND_CORRUPTED)
        && usize::try_from(len).is_ok_and(|l| pos + at + l <= size && at + l > b.len())
}

/// The message at `pos`: `None` if it is not a valid message, `Some(None)` for a `Cap`,
/// else `Some(Some(its length))`.
fn message_at(seg: &[u8], pos: usize, number: u64, size: usize) -> Option<Option<usize>> {
    let b = seg.get(pos..)?;
    let crc = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?);
    let kind = *b.get(4)?;
    let mut at = 5;
    let (len, n) = varint(b.get(at..)?)?;
    at += n;
    let (seg_no, n) = varint(b.get(at..)?)?;
    at += n;
    let (_pid, n) = varint(b.get(at..)?)?;
    at += n;
    let len = usize::try_from(len).ok()?;
    if kind == KIND_CORRUPTED || len > size.saturating_sub(pos + at) {
        return None;
    }
    let body = b.get(at..at.checked_add(len)?)?;
    let mut h = crc32fast::Hasher::new();
    h.update(body);
    h.update(b.get(4..at)?);
    if h.finalize() ^ 0xFFFF_FFFF != crc || seg_no != number {
        return None;
    }
    Some((kind != KIND_CAP).then_some(at + len))
}

fn parse_header(b: &[u8], offset: u64) -> Option<Segment> {
    let word = |r: std::ops::Range<usize>| -> Option<i64> {
        Some(i64::from_le_bytes(b.get(r)?.try_into().ok()?) ^ i64::MAX)
    };
    let stored_crc = u32::from_le_bytes(b.get(0..4)?.try_into().ok()?) ^ 0xFFFF_FFFF;
    let mut crc = crc32fast::Hasher::new();
    crc.update(b.get(4..20)?);
    if crc.finalize() != stored_crc {
        return None;
    }
    let lsn = word(4..12)?;
    let max_stable_lsn = word(12..20)?;
    // A header sled would use: a non-negative LSN at a segment boundary.
    (lsn >= 0 && lsn % 256 == 0).then_some(Segment {
        offset,
        lsn,
        max_stable_lsn,
    })
}

impl SledFiles {
    /// The first sign that these files were taken at different moments, if any.
    pub fn tear(&self) -> Option<Tear> {
        let size = i64::try_from(self.segment_size).ok()?;
        let mut lsns: Vec<i64> = self.segments.iter().map(|s| s.lsn).collect();
        lsns.sort_unstable();
        if let Some(w) = lsns.windows(2).find(|w| w[0] == w[1]) {
            return Some(Tear::DuplicateSegment { lsn: w[0] });
        }
        // A log that ends cleanly before the snapshot's position is an earlier moment's log
        // beside a later snapshot. (One that ends on damaged bytes is damage: a finding.)
        if let (Some(&snapshot), Some((end, true))) =
            (self.snapshots.last(), self.snapshot_segment_end)
        {
            if snapshot > end {
                return Some(Tear::SnapshotBeyondLog {
                    snapshot,
                    log_end: end,
                });
            }
        }
        if let Some(&snapshot) = self.snapshots.last() {
            // The log ends in the segment with the highest LSN, after the bytes `db` holds
            // of it. sled may name the start of the next segment when the last one is
            // (nearly) full, so a snapshot past that segment's end is compared with its end.
            let last = self.segments.iter().max_by_key(|s| s.lsn);
            let log_end = last.map_or(0, |s| {
                let present = self.db_len.saturating_sub(s.offset).min(self.segment_size);
                let full = s.lsn.saturating_add(size);
                if snapshot >= full {
                    full
                } else {
                    s.lsn
                        .saturating_add(i64::try_from(present).unwrap_or(i64::MAX))
                }
            });
            if snapshot > log_end {
                return Some(Tear::SnapshotBeyondLog { snapshot, log_end });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(lsn: i64, max_stable: i64) -> Vec<u8> {
        let mut b = vec![0u8; 20];
        b[4..12].copy_from_slice(&(lsn ^ i64::MAX).to_le_bytes());
        b[12..20].copy_from_slice(&(max_stable ^ i64::MAX).to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&b[4..20]);
        b[0..4].copy_from_slice(&(crc.finalize() ^ 0xFFFF_FFFF).to_le_bytes());
        b
    }

    fn files(segs: &[(i64, i64)], snaps: &[i64]) -> SledFiles {
        SledFiles {
            segment_size: 1024,
            segments: segs
                .iter()
                .enumerate()
                .map(|(i, &(lsn, max_stable_lsn))| Segment {
                    offset: i as u64 * 1024,
                    lsn,
                    max_stable_lsn,
                })
                .collect(),
            snapshots: snaps.to_vec(),
            db_len: segs.len() as u64 * 1024,
            snapshot_segment_end: None,
        }
    }

    #[test]
    fn headers_parse_as_sled_writes_them_and_a_bad_crc_is_skipped() {
        let b = header(2048, 1500);
        assert_eq!(
            parse_header(&b, 7),
            Some(Segment {
                offset: 7,
                lsn: 2048,
                max_stable_lsn: 1500
            })
        );
        let mut bad = b.clone();
        bad[5] ^= 1;
        assert_eq!(parse_header(&bad, 7), None);
    }

    #[test]
    fn one_moments_files_show_no_tear() {
        assert_eq!(files(&[], &[]).tear(), None);
        assert_eq!(files(&[(0, -1), (1024, 900)], &[900]).tear(), None);
        // Reused segments out of file order; a torn tail (missing 3072) above everything
        // stable, as a crash leaves it.
        assert_eq!(
            files(&[(2048, 1900), (1024, 900), (4096, 2000)], &[1900]).tear(),
            None
        );
        // A snapshot at the start of the segment after a full last segment.
        assert_eq!(files(&[(0, -1), (1024, 900)], &[2048]).tear(), None);
        // A last segment written in part, the snapshot within what was written.
        let mut part = files(&[(0, -1), (1024, 900)], &[1500]);
        part.db_len = 1024 + 600;
        assert_eq!(part.tear(), None);
    }

    #[test]
    fn files_from_different_moments_show_a_tear() {
        assert_eq!(
            files(&[(0, -1), (0, 10)], &[]).tear(),
            Some(Tear::DuplicateSegment { lsn: 0 })
        );
        assert_eq!(
            files(&[(0, -1), (1024, 900)], &[5000]).tear(),
            Some(Tear::SnapshotBeyondLog {
                snapshot: 5000,
                log_end: 2048
            })
        );
        // `db` cut short: the snapshot indexes bytes past its end.
        let mut cut = files(&[(0, -1), (1024, 900)], &[1900]);
        cut.db_len = 1024 + 100;
        assert_eq!(
            cut.tear(),
            Some(Tear::SnapshotBeyondLog {
                snapshot: 1900,
                log_end: 1124
            })
        );
    }

    #[test]
    fn a_real_database_shows_no_tear() {
        let dir = tempfile::tempdir().unwrap();
        let sled_dir = dir.path().join("sled");
        {
            let db = crate::open_db(&sled_dir, |c| c.create_new(true).segment_size(4096)).unwrap();
            let t = db.open_tree("t").unwrap();
            for i in 0u32..2000 {
                t.insert(i.to_be_bytes(), vec![7u8; 100]).unwrap();
                if i % 500 == 0 {
                    db.flush().unwrap();
                }
            }
            db.flush().unwrap();
        }
        // Reopened: recovery writes a snapshot.
        drop(crate::open_db(&sled_dir, |c| c.segment_size(4096)).unwrap());
        let f = inspect(&sled_dir).unwrap();
        assert_eq!(f.segment_size, 4096);
        assert!(f.segments.len() > 10, "{f:?}");
        assert!(!f.snapshots.is_empty(), "{f:?}");
        // The walk reads the log up to the snapshot (a walk that stops early would see a
        // tear in every database).
        let (end, _) = f
            .snapshot_segment_end
            .expect("the snapshot's segment is in db");
        assert!(end >= *f.snapshots.last().unwrap(), "{f:?}");
        assert_eq!(f.tear(), None, "{f:?}");
    }
}
