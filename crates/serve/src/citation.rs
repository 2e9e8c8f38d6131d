//! The outside time a destruction cites (docs/FORMAT.md §2, `Destruction { reason,
//! citation }`; §9): the newest stored cosignature of a witness, or the newest stored
//! RFC 3161 token over this ledger's tree. Shared by `caseledger destroy --cite-witness
//! NAME|KEY` / `--cite-timestamp` and the server's destruction events (`cite_witness`,
//! `cite_timestamp`), so both cite exactly the same thing for the same ledger.
//!
//! Only what the ledger already holds is cited: the cosignatures in its stored seals
//! (`checkpoints.log`, written by `witness sync` and every write's own sync) and the tokens
//! of its `timestamps.log` (`caseledger timestamp`). Nothing is fetched here.

use caseledger_core::checkpoint::{Checkpoint, CosignatureVerifier};
use caseledger_core::citation::TimeCitation;
use caseledger_core::note::Note;
use caseledger_store::Ledger;
use std::path::{Path, PathBuf};

/// What to cite.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CiteChoice {
    /// A witness: a name in the key directory's witness list, or a cosignature key
    /// `name+hex8+base64`.
    Witness(String),
    /// The newest token of the ledger's `timestamps.log` over this ledger's tree.
    Timestamp,
}

/// Why nothing can be cited (the destruction is then not made).
#[derive(Debug, thiserror::Error)]
pub enum CiteError {
    /// A `+` in the witness given, but not a cosignature key.
    #[error("not a cosignature key: {0}")]
    NotAKey(String),
    /// A name the witness list does not hold.
    #[error("no witness of that name in {} (give its name from `caseledger witness list`, or its cosignature key)", .0.display())]
    UnknownWitness(PathBuf),
    /// The witness list cannot be read.
    #[error("witness list {}: {why}", .list.display())]
    WitnessList {
        /// The list's file.
        list: PathBuf,
        /// Why.
        why: String,
    },
    /// No stored seal carries a valid cosignature of the witness.
    #[error("no stored seal carries a valid cosignature by {0}; nothing destroyed (send the newest seal with `caseledger witness sync` first)")]
    NotCosigned(String),
    /// The ledger has no `timestamps.log`.
    #[error("{} does not exist; nothing destroyed (obtain a token with `caseledger timestamp` first)", .0.display())]
    NoTimestampLog(PathBuf),
    /// `timestamps.log` cannot be read or parsed.
    #[error("{}: {why}", .log.display())]
    TimestampLog {
        /// The log's file.
        log: PathBuf,
        /// Why.
        why: String,
    },
    /// No token of `timestamps.log` is over a checkpoint of this ledger's tree.
    #[error("{} holds no token over a checkpoint of this ledger; nothing destroyed (obtain one with `caseledger timestamp`)", .0.display())]
    NoToken(PathBuf),
    /// The stored seals cannot be read.
    #[error("the stored seals: {0}")]
    Store(String),
    /// The citation would not be well formed.
    #[error("{0}")]
    Citation(String),
}

/// The witness list's file in the key directory `keys` (`witnesses.txt`).
pub fn witness_list(keys: &Path) -> PathBuf {
    keys.join(caseledger_witness::config::CONFIG_FILE)
}

/// The cosignature key of the witness `w`: a key as given, else the key of the witness
/// named `w` in the key directory's witness list.
pub fn witness_key(w: &str, keys: &Path) -> Result<CosignatureVerifier, CiteError> {
    if w.contains('+') {
        return CosignatureVerifier::parse(w).map_err(|e| CiteError::NotAKey(e.to_string()));
    }
    let path = witness_list(keys);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CiteError::UnknownWitness(path))
        }
        Err(e) => {
            return Err(CiteError::WitnessList {
                list: path,
                why: e.kind().to_string(),
            })
        }
    };
    let list = caseledger_witness::config::Witnesses::parse(&text).map_err(|e| {
        CiteError::WitnessList {
            list: path.clone(),
            why: e.to_string(),
        }
    })?;
    let found = list.iter().find(|e| e.name() == w).map(|e| e.key().clone());
    found.ok_or(CiteError::UnknownWitness(path))
}

/// The citation `choice` asks for, from what `ledger` stores (its key directory `keys`
/// holds the witness list).
pub fn cite(ledger: &Ledger, keys: &Path, choice: &CiteChoice) -> Result<TimeCitation, CiteError> {
    match choice {
        CiteChoice::Witness(w) => cite_witness(ledger, &witness_key(w, keys)?),
        CiteChoice::Timestamp => cite_timestamp(ledger),
    }
}

/// The newest stored cosignature of `key`: the latest time this witness gives the ledger.
pub fn cite_witness(ledger: &Ledger, key: &CosignatureVerifier) -> Result<TimeCitation, CiteError> {
    let stored = ledger
        .checkpoints()
        .map_err(|e| CiteError::Store(e.to_string()))?;
    // Newest first.
    for (_, text) in stored.iter().rev() {
        let Ok(note) = Note::parse(text.as_bytes()) else {
            continue;
        };
        let Ok(cp) = Checkpoint::parse_body(note.text()) else {
            continue;
        };
        let best = note
            .signatures()
            .iter()
            .filter(|s| s.name == key.name() && s.key_id == key.key_id())
            .filter_map(|s| {
                let line = s.to_line();
                key.verify_line(&cp, &line).ok().map(|t| (t, line))
            })
            .max_by_key(|(t, _)| *t);
        if let Some((_, line)) = best {
            return TimeCitation::cosignature(note.text(), &line)
                .map_err(|e| CiteError::Citation(e.to_string()));
        }
    }
    Err(CiteError::NotCosigned(key.name().to_owned()))
}

/// The newest token of the ledger's `timestamps.log` whose checkpoint is this ledger's
/// tree (its origin, a size it has, its root at that size).
pub fn cite_timestamp(ledger: &Ledger) -> Result<TimeCitation, CiteError> {
    let path = ledger.dir().join("timestamps.log");
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(CiteError::NoTimestampLog(path))
        }
        Err(e) => {
            return Err(CiteError::TimestampLog {
                log: path,
                why: e.kind().to_string(),
            })
        }
    };
    let parsed = caseledger_timestamp::log::parse(&bytes).map_err(|e| CiteError::TimestampLog {
        log: path.clone(),
        why: e.to_string(),
    })?;
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .unwrap_or_default();
    // Newest first, the first whose checkpoint is this ledger's tree.
    for t in parsed.tokens.iter().rev() {
        let Ok(cp) = Checkpoint::parse_body(&t.body) else {
            continue;
        };
        let ours = cp.origin == origin
            && cp.size <= ledger.head().size
            && ledger.root_at(cp.size).is_ok_and(|r| r == cp.root);
        if ours {
            return TimeCitation::timestamp(&t.body, t.token.clone())
                .map_err(|e| CiteError::Citation(e.to_string()));
        }
    }
    Err(CiteError::NoToken(path))
}
