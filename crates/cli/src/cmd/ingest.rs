//! The JSONL ingest format (DESIGN.md, "Ingest format"): one line parsed and validated into
//! a [`Line`], and the idempotency key of each line.
//!
//! Nonces and payload salts are random (the OS RNG); a line is known again by its request
//! key, a keyed hash of the file's digest and the line number (docs/FORMAT.md §3), stored
//! with the entry: re-running a file appends nothing and says how many lines were there.
//! A line may instead carry the record system's own id (`id`, DESIGN.md v2 principle 8):
//! it is keyed by that id and a digest of the whole request ([`request_digest`]), so a
//! repeat is recognised whatever file or line it comes in.

use caseledger_store::RequestKey;

// The line format itself is shared with the server (`caseledger serve` accepts the same
// events): parsed in the library, so both key a request to the same digest.
pub(crate) use caseledger_serve::ingest::{parse_line, request_digest, Line, LineKind};

/// Splits the input into numbered lines, skipping blank ones; refuses non-UTF-8 per line.
pub(crate) fn split_lines(input: &[u8]) -> impl Iterator<Item = (usize, &[u8])> {
    input
        .split(|&b| b == b'\n')
        .enumerate()
        .map(|(i, l)| (i + 1, l.strip_suffix(b"\r").unwrap_or(l)))
        .filter(|(_, l)| !l.iter().all(u8::is_ascii_whitespace))
}

/// BLAKE3 derive-key context of the key of import request keys.
pub(crate) const IMPORT_REQUEST_CONTEXT: &str = "caseledger import request v2";

/// The request key of line `line` of a file whose digest is `file_digest` (the import's
/// per-line keyed digest, docs/FORMAT.md §3):
/// `BLAKE3-keyed(k, file_digest || u64 BE line)` with `k = BLAKE3-derive-key("caseledger
/// import request v2", secret)`, where `secret` is the practice's content key (or, for a
/// ledger without one, its origin): the stored key says nothing about the file.
pub(crate) fn request_key(secret: &[u8], file_digest: &[u8; 32], line: usize) -> RequestKey {
    let key = blake3::derive_key(IMPORT_REQUEST_CONTEXT, secret);
    let mut h = blake3::Hasher::new_keyed(&key);
    h.update(file_digest);
    h.update(&u64::try_from(line).unwrap_or(u64::MAX).to_be_bytes());
    RequestKey(*h.finalize().as_bytes())
}
