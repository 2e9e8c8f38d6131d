//! `timestamps.log`: the time-stamp tokens a ledger obtained, in the ledger directory beside
//! `checkpoints.log` (docs/FORMAT.md, "timestamps.log"). No I/O here: the CLI appends and
//! fsyncs; this frames and parses.
//!
//! The file is a sequence of records in `checkpoints.log`'s framing
//! ([`caseledger_core::layout::LogRecords`]): `<decimal byte length>\n<record>`, where
//!
//! ```text
//! record = "caseledger-timestamp/v1\n"
//!          <checkpoint body: "<origin>\n<size>\n<base64 root>\n" and any extension lines>
//!          "\n"
//!          <standard base64 (with padding) of the DER TimeStampToken> "\n"
//! ```
//!
//! The checkpoint body is exactly the bytes whose SHA-256 is the token's message imprint:
//! the seal's note text without its signature lines. A body has no empty line, so the first
//! empty line ends it. A torn final record (a crash mid-append) is reported, not fatal.

use base64::Engine;
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::layout::{frame_log_record, LogError, LogRecords};

/// The file name, in the ledger directory.
pub const FILE_NAME: &str = caseledger_core::layout::TIMESTAMPS_LOG;

/// The first line of every record (the record format's version).
pub const HEADER: &str = "caseledger-timestamp/v1";

/// Why a record could not be framed or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogFormatError {
    /// The bytes to timestamp are not a checkpoint body.
    #[error("not a checkpoint body: {0}")]
    NotACheckpoint(String),
    /// A record (at this byte offset of the file) breaks the framing.
    #[error("timestamps.log is malformed at byte {offset}: {why}")]
    Malformed {
        /// Where the record starts.
        offset: usize,
        /// What is wrong.
        why: &'static str,
    },
}

/// One stored token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredToken {
    /// The checkpoint body the token is over (the exact bytes timestamped).
    pub body: String,
    /// The seal's size (from the body).
    pub size: u64,
    /// The DER TimeStampToken.
    pub token: Vec<u8>,
}

/// The file's records, and whether it ends in a torn record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Parsed {
    /// Complete records in file order.
    pub tokens: Vec<StoredToken>,
    /// The file ends inside a record (dropped).
    pub torn_tail: bool,
}

/// Frames one token over `body` (a checkpoint body) for appending to the file.
pub fn frame(body: &str, token: &[u8]) -> Result<Vec<u8>, LogFormatError> {
    Checkpoint::parse_body(body).map_err(|e| LogFormatError::NotACheckpoint(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    Ok(frame_log_record(&format!("{HEADER}\n{body}\n{b64}\n")))
}

fn parse_record(rec: &[u8], offset: usize) -> Result<StoredToken, LogFormatError> {
    let bad = |why| LogFormatError::Malformed { offset, why };
    let text = std::str::from_utf8(rec).map_err(|_| bad("not UTF-8"))?;
    let rest = text
        .strip_prefix(HEADER)
        .and_then(|r| r.strip_prefix('\n'))
        .ok_or_else(|| bad("no caseledger-timestamp/v1 header"))?;
    let (body, b64) = rest
        .split_once("\n\n")
        .ok_or_else(|| bad("no blank line"))?;
    let body = format!("{body}\n");
    let cp = Checkpoint::parse_body(&body).map_err(|_| bad("not a checkpoint body"))?;
    let b64 = b64
        .strip_suffix('\n')
        .ok_or_else(|| bad("no final newline"))?;
    let token = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| bad("token is not base64"))?;
    Ok(StoredToken {
        body,
        size: cp.size,
        token,
    })
}

/// Parses a whole `timestamps.log`.
pub fn parse(bytes: &[u8]) -> Result<Parsed, LogFormatError> {
    let mut records = LogRecords::new(bytes);
    let mut out = Parsed::default();
    loop {
        let offset = records.offset();
        match records.next() {
            None => return Ok(out),
            Some(Ok(rec)) => out.tokens.push(parse_record(rec, offset)?),
            Some(Err(LogError::TornTail { .. })) => {
                out.torn_tail = true;
                return Ok(out);
            }
            Some(Err(LogError::Malformed { offset })) => {
                return Err(LogFormatError::Malformed {
                    offset,
                    why: "bad length line",
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = "example.org/ledger\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    #[test]
    fn frames_and_parses_back_and_reports_a_torn_tail() {
        let mut file = frame(BODY, b"\x30\x03\x02\x01\x05").unwrap();
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(text.starts_with("100\ncaseledger-timestamp/v1\nexample.org/ledger\n3\n"));
        assert!(text.ends_with("\n\nMAMCAQU=\n"));
        file.extend(frame(BODY, b"x").unwrap());
        let p = parse(&file).unwrap();
        assert_eq!(p.tokens.len(), 2);
        assert_eq!((p.tokens[0].size, p.tokens[0].body.as_str()), (3, BODY));
        assert_eq!(p.tokens[1].token, b"x");
        assert!(!p.torn_tail);
        let torn = parse(&file[..file.len() - 4]).unwrap();
        assert_eq!((torn.tokens.len(), torn.torn_tail), (1, true));
    }

    #[test]
    fn refuses_what_is_not_a_record() {
        assert!(frame("not a body", b"t").is_err());
        let rec = "caseledger-timestamp/v1\nno blank line\n";
        let mut file = format!("{}\n{rec}", rec.len()).into_bytes();
        assert!(matches!(
            parse(&file),
            Err(LogFormatError::Malformed { offset: 0, .. })
        ));
        file = frame(BODY, b"t").unwrap();
        let n = file.len();
        file[n - 3] = b'!';
        assert!(parse(&file).is_err());
        assert!(parse(b"x\n").is_err());
    }
}
