//! The store's one error type.

use caseledger_core::archive::ArchiveError;
use caseledger_core::ids::{ActorId, PayloadCommitment, Seq};
use caseledger_core::record::Violation;
use std::io;
use std::path::PathBuf;

/// Everything that can go wrong in the store. A refused append ([`StoreError::Refused`],
/// [`StoreError::BadSignature`], [`StoreError::PayloadMismatch`],
/// [`StoreError::PayloadTooLarge`]) has written nothing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process (or another `Ledger` in this process) has the ledger open.
    #[error("ledger is in use by another process: {}", path.display())]
    InUse {
        /// The ledger directory.
        path: PathBuf,
    },
    /// The directory is not a caseledger ledger (no `sled/`, or no format version in `meta`).
    #[error("{} is not a caseledger ledger: {why}", path.display())]
    NotALedger {
        /// The directory.
        path: PathBuf,
        /// What is missing.
        why: &'static str,
    },
    /// `create` or `import_archive` found a ledger (or other files) already at the path.
    #[error("{} already exists and is not empty; refusing to create a ledger there", path.display())]
    AlreadyExists {
        /// The directory.
        path: PathBuf,
    },
    /// The ledger was written by a format version this code does not read.
    #[error("this ledger is format {found}; this build reads format {} only: ledgers of other formats are not read (there is no migration)", caseledger_core::event::FORMAT_VERSION)]
    UnsupportedFormat {
        /// The version found in `meta`.
        found: u16,
    },
    /// The record state machine, the role rules, the clock or replay protection refused the
    /// event. Nothing was written.
    #[error("refused: {0}")]
    Refused(Violation),
    /// The author's signature does not verify with the author's enrolled key. Nothing was written.
    #[error("bad signature from {author}: {why}")]
    BadSignature {
        /// The claimed author.
        author: ActorId,
        /// Why it failed.
        why: String,
    },
    /// The payload does not match the event's commitment (or one is given without the
    /// other). Nothing was written.
    #[error(
        "payload does not match the event's commitment (event: {expected:?}, payload: {found:?})"
    )]
    PayloadMismatch {
        /// The event's commitment.
        expected: Option<PayloadCommitment>,
        /// The commitment of the payload given.
        found: Option<PayloadCommitment>,
    },
    /// A payload larger than [`MAX_PAYLOAD`](caseledger_core::archive::MAX_PAYLOAD), the
    /// most one archive frame carries: refused at append and at import, so that every
    /// ledger can be archived and read back.
    #[error("payload of {size} bytes is over the limit of {limit} bytes (the most an archive frame carries); store larger content outside the ledger and append its digest")]
    PayloadTooLarge {
        /// The payload's length in bytes.
        size: u64,
        /// The limit, `caseledger_core::archive::MAX_PAYLOAD`.
        limit: u64,
    },
    /// A payload is to be written or read but the ledger was opened without the practice's
    /// content key (KEK): payloads are stored encrypted (docs/FORMAT.md §3a).
    #[error("this needs the practice's content key (the `kek` file in the key directory): payloads are stored encrypted; give --keys DIR")]
    NoContentKey,
    /// A record's wrapped content key does not unwrap: another practice's KEK, or a key
    /// store slot that was altered.
    #[error("content key of record {record} does not unwrap with this KEK: {why}")]
    ContentKey {
        /// The record.
        record: caseledger_core::ids::RecordId,
        /// Why.
        why: String,
    },
    /// The system clock is behind the ledger's last `recorded_at` by more than the skew the
    /// genesis allows: appending now would either backdate entries or stamp them with a
    /// future time. An admin must record `clock_corrected` (or fix the clock).
    #[error("the system clock is {behind_secs} s behind the ledger's last entry (recorded at {last}), more than the allowed skew of {skew_secs} s: fix the system clock, or if it is right now, have an admin record it with `caseledger clock-corrected`")]
    ClockBehind {
        /// How far behind, in seconds.
        behind_secs: i64,
        /// The last `recorded_at`.
        last: caseledger_core::time::Timestamp,
        /// The allowed skew.
        skew_secs: u32,
    },
    /// Stored bytes are not what the store wrote: a corrupt or tampered ledger. Never
    /// returned together with the bad data.
    #[error("ledger is corrupt: {what}{}", seq.map(|s| format!(" (seq {s})")).unwrap_or_default())]
    Corrupt {
        /// What is wrong.
        what: String,
        /// The entry concerned, when there is one.
        seq: Option<Seq>,
    },
    /// A size or seq beyond the ledger's head.
    #[error("{what} {asked} is beyond the ledger head (size {size})")]
    BeyondHead {
        /// What was asked for ("tree size", "seq").
        what: &'static str,
        /// The value asked.
        asked: u64,
        /// The ledger's size.
        size: u64,
    },
    /// A proof request that makes no sense (index >= size, size1 > size2).
    #[error("invalid proof request: {0}")]
    Proof(#[from] caseledger_core::merkle::ProofError),
    /// The ledger key given (to open, or a checkpoint signer) is not the ledger key named
    /// at genesis.
    #[error("the key given is not this ledger's ledger (checkpoint) key named in genesis")]
    WrongLedgerKey,
    /// The ledger was opened without its ledger key: it cannot seal, so it appends nothing
    /// (DESIGN v2 principle 2: the process that appends holds the key). Nothing was written.
    #[error("the ledger was opened without its ledger key: appends are sealed with it, so nothing can be appended; open it with the ledger key")]
    NotSealing,
    /// At open, state the store keeps beside the entries (`meta`) disagrees with the
    /// entries and the newest seal: the ledger is refused rather than sealing a history
    /// derived from it. Names what disagrees; nothing was written or signed.
    #[error("ledger refused at open: {what} disagrees with {with}; nothing was signed. Verify the ledger (`caseledger verify`) and restore it from an archive or a backup")]
    DerivedState {
        /// The stored value that disagrees (`meta.compact_range`, `meta.head`, ...).
        what: &'static str,
        /// What it was checked against, in words.
        with: String,
    },
    /// At open, the registry (actors, keys, revocations, the close) could not be rebuilt
    /// from the sealed entries: following the `prev_registry` pointers back from the head
    /// reached an entry that is missing, is not a registry entry, does not point strictly
    /// back, or is not included under the root of the newest seal (its bytes were edited).
    /// Names the entry; nothing was written or signed.
    #[error("ledger refused at open: the registry chain is broken at seq {seq}: {why}; nothing was signed. Verify the ledger (`caseledger verify`) and restore it from an archive or a backup")]
    RegistryChain {
        /// The entry at fault.
        seq: Seq,
        /// What is wrong with it, in words.
        why: String,
    },
    /// A destruction was refused because the record's derived state row (in the `records`
    /// tree) disagrees with the state the record's own entries give: the row was edited
    /// (or is corrupt), and judging a destruction against it could erase content the law
    /// still protects. Names the fields that disagree, not their values. Nothing was
    /// written, destroyed or erased.
    #[error("record state row of {record} disagrees with its entries (derived state edited?) in: {}; nothing was destroyed. Verify the ledger (`caseledger verify`) and restore it from an archive or a backup", fields.join(", "))]
    RecordStateRow {
        /// The record.
        record: caseledger_core::ids::RecordId,
        /// The state fields that disagree.
        fields: Vec<&'static str>,
    },
    /// No checkpoint is stored for this size.
    #[error("no checkpoint is stored for size {size}")]
    NoSuchCheckpoint {
        /// The size.
        size: u64,
    },
    /// A cosigned note was refused (malformed, or for a different checkpoint body).
    #[error("cosignature refused: {0}")]
    Cosignature(String),
    /// An archive could not be read, or its content is not a valid ledger.
    #[error("archive refused: {0}")]
    Archive(String),
    /// An archived entry was refused while importing (chain break, bad signature, an
    /// unlawful event, a payload that does not match): nothing was imported.
    #[error("archive refused at seq {seq}: {error}")]
    ArchiveEntry {
        /// The archived entry's position.
        seq: Seq,
        /// Why it was refused.
        #[source]
        error: Box<StoreError>,
    },
    /// A value could not be encoded (over the encoding limit).
    #[error("cannot encode: {0}")]
    Encode(String),
    /// The ledger directory, or something in it, is accessible by group or others: a ledger
    /// holds clinical content and is opened for writing only when private to its user
    /// (like ssh with a private key). Nothing was opened.
    #[error(
        "{} is accessible by group or others (mode {mode:04o}); a ledger must be private \
         to its user: run `chmod -R go-rwx {}`",
        path.display(),
        dir.display()
    )]
    Exposed {
        /// The ledger directory.
        dir: PathBuf,
        /// The first path found with group or other permission bits.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The ledger holds `u64::MAX` entries.
    #[error("the ledger is full")]
    Full,
    /// An I/O error (disk full, permissions, ...), with the path when known. A failed append
    /// or checkpoint leaves the ledger as it was, except that an append whose transaction
    /// committed but whose flush failed may or may not be durable (it is in the ledger
    /// while this process runs).
    #[error("I/O error{}: {}", path.as_ref().map(|p| format!(" on {}", p.display())).unwrap_or_default(), describe_io(source))]
    Io {
        /// The file or directory, when known.
        path: Option<PathBuf>,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// sled reported an error that is not plain I/O (corruption, unsupported use, a bug).
    #[error("storage engine error: {0}")]
    Sled(sled::Error),
    /// A previous group commit failed inside the store (a bug); the append was not written.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// A client event id already names an entry: an append with it writes nothing (the
    /// caller looks the id up first with [`Ledger::event_id_seen`](crate::Ledger::event_id_seen)).
    #[error("the client event id is already recorded at seq {seq}")]
    EventIdRecorded {
        /// The entry it names.
        seq: Seq,
    },
    /// Client event ids are keyed by their record's content key: an administration event
    /// (no record) takes none.
    #[error("a client event id needs an event of a record (administration events take none)")]
    EventIdWithoutRecord,
}

/// `Result` with [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A plain description of an I/O error. sled wraps the OS error in a new one whose text is
/// its Debug form (`Os { code: 28, .. }`); the kind says the same thing readably.
fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    let plain = match e.kind() {
        K::StorageFull => "no space left on the device",
        K::PermissionDenied => "permission denied",
        K::ReadOnlyFilesystem => "the file system is read-only",
        K::FileTooLarge => "file too large (a file-size limit was reached)",
        K::QuotaExceeded => "disk quota exceeded",
        K::NotFound => "not found",
        _ => return e.to_string(),
    };
    plain.to_owned()
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> StoreError {
        match e {
            sled::Error::Io(source) => StoreError::Io { path: None, source },
            other => StoreError::Sled(other),
        }
    }
}

impl From<sled::transaction::TransactionError<std::convert::Infallible>> for StoreError {
    fn from(e: sled::transaction::TransactionError<std::convert::Infallible>) -> StoreError {
        match e {
            sled::transaction::TransactionError::Storage(s) => s.into(),
            sled::transaction::TransactionError::Abort(never) => match never {},
        }
    }
}

impl From<caseledger_core::encoding::EncodeError> for StoreError {
    fn from(e: caseledger_core::encoding::EncodeError) -> StoreError {
        StoreError::Encode(e.to_string())
    }
}

impl From<ArchiveError> for StoreError {
    fn from(e: ArchiveError) -> StoreError {
        match e {
            ArchiveError::Io(source) => StoreError::Io { path: None, source },
            other => StoreError::Archive(other.to_string()),
        }
    }
}

impl StoreError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> StoreError {
        StoreError::Io {
            path: Some(path.into()),
            source,
        }
    }

    pub(crate) fn corrupt(what: impl Into<String>, seq: Option<Seq>) -> StoreError {
        StoreError::Corrupt {
            what: what.into(),
            seq,
        }
    }

    /// A copy for every caller of a failed group commit (I/O errors are not `Clone`).
    pub(crate) fn duplicate(&self) -> StoreError {
        match self {
            StoreError::Io { path, source } => StoreError::Io {
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            StoreError::Sled(e) => StoreError::Sled(e.clone()),
            StoreError::Refused(v) => StoreError::Refused(v.clone()),
            StoreError::Corrupt { what, seq } => StoreError::Corrupt {
                what: what.clone(),
                seq: *seq,
            },
            StoreError::Encode(s) => StoreError::Encode(s.clone()),
            StoreError::Full => StoreError::Full,
            StoreError::NotSealing => StoreError::NotSealing,
            StoreError::RecordStateRow { record, fields } => StoreError::RecordStateRow {
                record: record.clone(),
                fields: fields.clone(),
            },
            other => StoreError::Internal(match other {
                StoreError::Internal(s) => s,
                _ => "group commit failed",
            }),
        }
    }
}

/// A refused [`append_batch`](crate::Ledger::append_batch): nothing of the batch was written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {error}", index.map(|i| format!("batch item {i} refused")).unwrap_or_else(|| "batch not written".into()))]
pub struct BatchError {
    /// 0-based index of the item that was refused; `None` when the batch as a whole failed
    /// to be written (an I/O error).
    pub index: Option<usize>,
    /// Why.
    #[source]
    pub error: StoreError,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_read_plainly_with_their_path() {
        // What sled hands us on a full disk: the OS error's Debug text as the message.
        let source = io::Error::new(
            io::ErrorKind::StorageFull,
            "Os { code: 28, kind: StorageFull }",
        );
        let e = StoreError::Io {
            path: Some(PathBuf::from("/l/sled")),
            source,
        };
        assert_eq!(
            e.to_string(),
            "I/O error on /l/sled: no space left on the device"
        );
        let other = StoreError::Io {
            path: None,
            source: io::Error::other("odd"),
        };
        assert_eq!(other.to_string(), "I/O error: odd");
    }
}
