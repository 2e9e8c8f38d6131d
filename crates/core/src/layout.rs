//! The on-disk layout of a ledger directory: files, sled trees, keys and values.
//! Names and layouts here are part of the format (docs/FORMAT.md is written from this
//! comment). The store writes them and the verifier reads them through these same names
//! and parsers: the verifier judges independently, but it does not keep a second copy of
//! what the bytes mean. No I/O here.
//!
//! # Directory
//!
//! ```text
//! <DIR>/sled/             the sled 0.34.7 database (trees below)
//! <DIR>/checkpoints.log   every signed checkpoint note, appended and fsynced (framing below)
//! <DIR>/timestamps.log    RFC 3161 tokens over seals (optional; caseledger_timestamp::log)
//! <DIR>/lock              empty file; the owning process holds an exclusive advisory lock
//!                         (flock via fs2) on it for as long as the ledger is open
//! No private key is ever in <DIR> (a key directory outside it holds them: docs/GUIDE.md,
//! "Keys"). <DIR> is 0700 and every file in it 0600; the store refuses to write to a <DIR>
//! where anything is accessible by group or others.
//! ```
//!
//! # Trees
//!
//! All integers in keys are big-endian (so keys sort numerically); "canonical" means the
//! one bincode configuration of `caseledger_core::encoding` (fixed-width little-endian
//! integers).
//!
//! | tree          | key                                   | value |
//! |---------------|---------------------------------------|-------|
//! | `entries`     | seq (u64 BE, 8 bytes)                 | `E_i`: canonical `Entry` bytes, exactly the bytes hashed |
//! | `payloads`    | seq (u64 BE)                          | salt (32 bytes) `\|\|` payload content; absent when the entry has no payload or the record was destroyed |
//! | `tiles`       | `tile_key`: tile level (u8) `\|\|` tile index (u64 BE), 9 bytes | the tile's hashes concatenated: 1 to 256 SHA-256 node hashes of tree level `8·L` (C2SP tlog-tiles geometry) |
//! | `records`     | record id `\|\|` 0x01                 | canonical `RecordState` after the record's latest entry |
//! | `records`     | record id `\|\|` 0x00 `\|\|` seq (u64 BE) | ledgers written before issue 18 only: an empty index row per entry; no longer written, ignored |
//! | `nonces`      | nonce (16 bytes)                      | seq (u64 BE) of the entry that carried it |
//! | `checkpoints` | tree size (u64 BE)                    | signed checkpoint note (UTF-8), including any witness cosignature lines: the newest seal, every cosigned one, those imported from an archive |
//! | `meta`        | `format_version`                      | canonical u16 (2 bytes LE), = `FORMAT_VERSION` (4) |
//! | `meta`        | `origin`                              | the genesis origin, UTF-8 |
//! | `meta`        | `ledger_key`                          | the ledger (checkpoint) Ed25519 public key, 32 raw bytes |
//! | `meta`        | `head`                                | canonical `Head` = (size u64, last entry hash 32 bytes, last recorded_at i64), 48 bytes |
//! | `meta`        | `compact_range`                       | canonical `CompactRange` = size u64, hash count u64, 32-byte hashes |
//!
//! Record and actor ids are `[A-Za-z0-9._:-]{1,64}`, so they never contain 0x00 or 0x01:
//! a state row never parses as an old index row. A record's entries are listed from its
//! state row's `last_seq` back along each entry's `placement.prev_in_record`, every step
//! checked (docs/FORMAT.md §6), not from index rows.
//!
//! `tiles` holds the Merkle tree as C2SP tlog-tiles: tile `(L, N)` holds the complete nodes
//! `N·256 ..` of tree level `8·L` (level 0: the leaves `SHA-256(0x00 || h_i)`), a partial
//! tile at the right edge rewritten, in the same transaction as the entries that grow it,
//! until it holds 256. Nodes of tree levels `8·L + 1 .. 8·L + 7` are hashed from their
//! tile. Ledgers written before tiles had a `nodes` tree (one row per node above the
//! leaves); opening one builds `tiles` from the entries and drops `nodes`.
//!
//! `meta.head` and `meta.compact_range` are what opening reads instead of replaying (both
//! checked against the newest seal). There is no registry row (format 3): opening rebuilds
//! the registry from the registry entries the head's chain of `prev_registry` pointers
//! names, each checked under the newest seal's root; its clock is the head's.
//!
//! # Transactions
//!
//! One group of appends = one multi-tree sled transaction over `entries`, `payloads`,
//! `tiles`, `records`, `nonces`, `meta` and `checkpoints`: entry, payload,
//! nonce, the Merkle tiles the group grows, record states, compact range, head and the
//! group's seal (the checkpoint of the new head signed by the ledger key; the previous
//! newest seal is removed unless cosigned) together. A `Destruction`
//! removes, in its transaction, the `payloads` rows of every entry of the record.
//!
//! # `checkpoints.log` framing
//!
//! A sequence of records, each
//!
//! ```text
//! <decimal byte length of the note, no sign, no leading zeros> "\n" <note bytes>
//! ```
//!
//! A note always ends in `"\n"`, so the file stays line-oriented and readable, but a reader
//! must split by the length, never by blank lines (notes contain a blank line). A record
//! whose length line or note bytes are cut short is a torn tail. The log holds every note
//! ever stored in `checkpoints`, in order: every seal when its commit is flushed, and again
//! (with the extra lines) whenever a cosignature is added; for a size, a later record
//! supersedes an earlier one. Before a note reaches the log, sled has been flushed, so the
//! log never names entries that are not durable. It is never cut short except for a torn
//! final record; a seal in sled but not in the log (a crash in between) is logged at open.

/// Name of the sled directory inside a ledger directory.
pub const SLED_DIR: &str = "sled";
/// Name of the checkpoint log file inside a ledger directory.
pub const CHECKPOINTS_LOG: &str = "checkpoints.log";
/// RFC 3161 time-stamp tokens over seals, appended by `caseledger timestamp` (framing:
/// `caseledger_timestamp::log`, docs/FORMAT.md). Public evidence, copied with snapshots.
pub const TIMESTAMPS_LOG: &str = "timestamps.log";
/// Name of the lock file inside a ledger directory.
pub const LOCK_FILE: &str = "lock";

/// Tree `entries`: seq (u64 BE) → canonical entry bytes.
pub const TREE_ENTRIES: &str = "entries";
/// Tree `payloads`: seq (u64 BE) → salt (32) || content.
pub const TREE_PAYLOADS: &str = "payloads";
/// Tree `nodes` of ledgers written before Merkle tiles: `NodeId::to_key` → 32-byte node
/// hash. No longer written or read: opening such a ledger builds `tiles` from its entries
/// and drops this tree.
pub const TREE_NODES: &str = "nodes";
/// Tree `tiles`: [`tile_key`] → the tile's hashes concatenated (1 to 256 of 32 bytes).
pub const TREE_TILES: &str = "tiles";

/// The `tiles` key of the tile with tile level `level` and index `index`: level (u8) `||`
/// index (u64 BE), 9 bytes (so a level's tiles sort by index).
pub fn tile_key(level: u8, index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = level;
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

/// Parses a [`tile_key`]; `None` unless 9 bytes.
pub fn parse_tile_key(key: &[u8]) -> Option<(u8, u64)> {
    let (&level, index) = key.split_first()?;
    Some((level, u64::from_be_bytes(index.try_into().ok()?)))
}
/// Tree `records`: record states (and, in ledgers written before issue 18, index rows).
pub const TREE_RECORDS: &str = "records";
/// Tree `nonces`: nonce (16 bytes) → seq (u64 BE).
pub const TREE_NONCES: &str = "nonces";
/// Tree `checkpoints`: size (u64 BE) → signed note text.
pub const TREE_CHECKPOINTS: &str = "checkpoints";
/// Tree `meta`: the keys below.
pub const TREE_META: &str = "meta";

/// `meta` key: canonical u16 format version.
pub const META_FORMAT_VERSION: &[u8] = b"format_version";
/// `meta` key: origin (UTF-8).
pub const META_ORIGIN: &[u8] = b"origin";
/// `meta` key: ledger public key (32 bytes).
pub const META_LEDGER_KEY: &[u8] = b"ledger_key";
/// `meta` key: canonical `Head` (the store's `caseledger_store::Head`).
pub const META_HEAD: &[u8] = b"head";
/// `meta` key: canonical `CompactRange`.
pub const META_COMPACT_RANGE: &[u8] = b"compact_range";

/// Separator byte after a record id for index rows (`records`; no longer written, kept
/// to name the rows an older ledger has, which readers ignore).
pub const RECORD_INDEX_TAG: u8 = 0x00;
/// Byte after a record id for the record state row (`records`).
pub const RECORD_STATE_TAG: u8 = 0x01;

/// `record id || 0x00`: the prefix of a record's index rows.
pub fn record_index_prefix(record: &crate::RecordId) -> Vec<u8> {
    let mut k = Vec::with_capacity(record.as_str().len() + 9);
    k.extend_from_slice(record.as_str().as_bytes());
    k.push(RECORD_INDEX_TAG);
    k
}

/// `record id || 0x00 || seq BE`: one index row.
pub fn record_index_key(record: &crate::RecordId, seq: u64) -> Vec<u8> {
    let mut k = record_index_prefix(record);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The seq of one of `record`'s index rows (the inverse of [`record_index_key`]); `None`
/// when `key` is not exactly `record id || 0x00 || 8 bytes`.
///
/// ```
/// use caseledger_core::layout::{record_index_key, record_index_seq};
/// use caseledger_core::RecordId;
/// let r = RecordId::new("C-1").unwrap();
/// assert_eq!(record_index_seq(&r, &record_index_key(&r, 7)), Some(7));
/// assert_eq!(record_index_seq(&r, b"C-1\x00short"), None);
/// assert_eq!(record_index_seq(&RecordId::new("C-2").unwrap(), &record_index_key(&r, 7)), None);
/// ```
pub fn record_index_seq(record: &crate::RecordId, key: &[u8]) -> Option<u64> {
    let seq = key
        .strip_prefix(record.as_str().as_bytes())?
        .strip_prefix(&[RECORD_INDEX_TAG])?;
    <[u8; 8]>::try_from(seq).ok().map(u64::from_be_bytes)
}

/// `record id || 0x01`: the record state row.
pub fn record_state_key(record: &crate::RecordId) -> Vec<u8> {
    let mut k = Vec::with_capacity(record.as_str().len() + 1);
    k.extend_from_slice(record.as_str().as_bytes());
    k.push(RECORD_STATE_TAG);
    k
}

/// Frames one note for `checkpoints.log`: `<len>\n<note>`.
pub fn frame_log_record(note: &str) -> Vec<u8> {
    let mut v = format!("{}\n", note.len()).into_bytes();
    v.extend_from_slice(note.as_bytes());
    v
}

/// Why `checkpoints.log` could not be split into notes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogError {
    /// The file ends inside a record (a torn write): `complete` records were read before it.
    #[error(
        "checkpoints.log ends in a torn record at byte {offset} after {complete} complete notes"
    )]
    TornTail {
        /// Byte offset where the torn record starts.
        offset: usize,
        /// Complete notes before it.
        complete: usize,
    },
    /// A length line is not a canonical decimal number, or a note is not UTF-8.
    #[error("checkpoints.log is malformed at byte {offset}")]
    Malformed {
        /// Byte offset of the bad record.
        offset: usize,
    },
}

/// Iterates over the raw records of a `checkpoints.log`, in file order: `Ok(note bytes)`
/// for each complete record, then at most one `Err` for a torn or malformed record, after
/// which it ends. The one implementation of the framing: the store's strict reader
/// ([`parse_checkpoints_log`]) and the verifier's tolerant one both use it.
///
/// ```
/// use caseledger_core::layout::{frame_log_record, LogError, LogRecords};
/// let mut log = frame_log_record("a\n\n— k sig\n");
/// log.extend(b"12\nshort");
/// let items: Vec<_> = LogRecords::new(&log).collect();
/// assert_eq!(items[0], Ok("a\n\n— k sig\n".as_bytes()));
/// assert!(matches!(items[1], Err(LogError::TornTail { complete: 1, .. })));
/// assert_eq!(items.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct LogRecords<'a> {
    bytes: &'a [u8],
    pos: usize,
    complete: usize,
    done: bool,
}

impl<'a> LogRecords<'a> {
    /// Starts reading `bytes`, the whole content of a `checkpoints.log`.
    pub fn new(bytes: &'a [u8]) -> LogRecords<'a> {
        LogRecords {
            bytes,
            pos: 0,
            complete: 0,
            done: false,
        }
    }

    /// Byte offset of the next record (after the last one returned).
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// The rest of the file from the next record on.
    pub fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.pos..).unwrap_or_default()
    }

    fn next_record(&mut self) -> Result<&'a [u8], LogError> {
        let pos = self.pos;
        let rest = self.rest();
        let torn = LogError::TornTail {
            offset: pos,
            complete: self.complete,
        };
        let Some(nl) = rest.iter().position(|&b| b == b'\n') else {
            return Err(if rest.iter().all(u8::is_ascii_digit) {
                torn
            } else {
                LogError::Malformed { offset: pos }
            });
        };
        let digits = rest.get(..nl).unwrap_or_default();
        // Canonical decimal: no sign, no leading zeros, at most 12 digits (a note is far
        // below a terabyte; the bound keeps the parse from overflowing).
        let canonical = !digits.is_empty()
            && digits.iter().all(u8::is_ascii_digit)
            && (digits == b"0" || digits.first() != Some(&b'0'))
            && digits.len() <= 12;
        if !canonical {
            return Err(LogError::Malformed { offset: pos });
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(LogError::Malformed { offset: pos })?;
        let start = nl + 1;
        let note = start
            .checked_add(len)
            .and_then(|end| rest.get(start..end))
            .ok_or(torn)?;
        self.pos += start + len;
        self.complete += 1;
        Ok(note)
    }
}

impl<'a> Iterator for LogRecords<'a> {
    type Item = Result<&'a [u8], LogError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.pos >= self.bytes.len() {
            return None;
        }
        let item = self.next_record();
        self.done = item.is_err();
        Some(item)
    }
}

/// Splits the content of a `checkpoints.log` into its notes, in file order; a torn or
/// malformed record, or a note that is not UTF-8, is an error.
///
/// ```
/// use caseledger_core::layout::{frame_log_record, parse_checkpoints_log};
/// let mut log = frame_log_record("a\n\n— k sig\n");
/// log.extend(frame_log_record("b\n\n— k sig\n"));
/// assert_eq!(parse_checkpoints_log(&log).unwrap(), vec!["a\n\n— k sig\n", "b\n\n— k sig\n"]);
/// assert!(parse_checkpoints_log(&log[..log.len() - 1]).is_err());
/// ```
pub fn parse_checkpoints_log(bytes: &[u8]) -> Result<Vec<String>, LogError> {
    let mut records = LogRecords::new(bytes);
    let mut out = Vec::new();
    loop {
        let offset = records.offset();
        match records.next() {
            None => return Ok(out),
            Some(Err(e)) => return Err(e),
            Some(Ok(note)) => {
                let note = std::str::from_utf8(note).map_err(|_| LogError::Malformed { offset })?;
                out.push(note.to_owned());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framing_round_trips_and_rejects_non_canonical_lengths() {
        let a = "o\n1\nAAAA\n\n\u{2014} k sig\n";
        let mut log = frame_log_record(a);
        log.extend(frame_log_record(a));
        assert_eq!(parse_checkpoints_log(&log).unwrap(), vec![a, a]);
        assert_eq!(
            parse_checkpoints_log(&log[..log.len() - 3]),
            Err(LogError::TornTail {
                offset: frame_log_record(a).len(),
                complete: 1
            })
        );
        for bad in [&b"01\nx"[..], b"+1\nx", b"\nx", b"x\n", b"1234567890123\n"] {
            assert!(
                matches!(
                    parse_checkpoints_log(bad),
                    Err(LogError::Malformed { offset: 0 })
                ),
                "{bad:?}"
            );
        }
        assert_eq!(
            parse_checkpoints_log(b"12"),
            Err(LogError::TornTail {
                offset: 0,
                complete: 0
            })
        );
        assert_eq!(
            parse_checkpoints_log(b"1\n\xff"),
            Err(LogError::Malformed { offset: 0 })
        );
        assert!(parse_checkpoints_log(b"").unwrap().is_empty());
    }
}
