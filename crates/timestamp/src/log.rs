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
//!
//! A renewal (`timestamp renew`, RFC 4998's idea: a new token obtained while the old one's
//! certificate is still valid keeps the old one's evidence after it expires) is a record
//!
//! ```text
//! record = "caseledger-timestamp-renewal/v1\n"
//!          <checkpoint body> "\n"
//!          <standard base64 of the DER of the token renewed> "\n"
//!          <standard base64 of the DER of the new TimeStampToken> "\n"
//! ```
//!
//! whose new token's message imprint is SHA-256 of [`renewal_data`]: the renewed token's
//! DER followed by the checkpoint body. The DER is self-delimiting (its outer length says
//! where it ends), so the concatenation has one reading. The renewed token is another
//! record's token (an original or an earlier renewal's), so renewals chain.

use base64::Engine;
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::layout::{frame_log_record, LogError, LogRecords};

/// The file name, in the ledger directory.
pub const FILE_NAME: &str = caseledger_core::layout::TIMESTAMPS_LOG;

/// The first line of every token record (the record format's version).
pub const HEADER: &str = "caseledger-timestamp/v1";

/// The first line of every renewal record.
pub const RENEWAL_HEADER: &str = "caseledger-timestamp-renewal/v1";

/// The bytes a renewal token is over: the renewed token's DER, then the checkpoint body.
pub fn renewal_data(old_token: &[u8], body: &str) -> Vec<u8> {
    let mut d = Vec::with_capacity(old_token.len() + body.len());
    d.extend_from_slice(old_token);
    d.extend_from_slice(body.as_bytes());
    d
}

/// One stored renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The checkpoint body of the seal the chain of tokens is about.
    pub body: String,
    /// The seal's size (from the body).
    pub size: u64,
    /// The DER of the token renewed.
    pub old: Vec<u8>,
    /// The DER of the new token, over [`renewal_data`]`(old, body)`.
    pub token: Vec<u8>,
}

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
    /// Complete token records in file order.
    pub tokens: Vec<StoredToken>,
    /// Complete renewal records in file order (apart, so a reader of `tokens` never takes
    /// a renewal's token for one over a checkpoint body).
    pub renewals: Vec<Renewal>,
    /// The file ends inside a record (dropped).
    pub torn_tail: bool,
}

/// Frames one token over `body` (a checkpoint body) for appending to the file.
pub fn frame(body: &str, token: &[u8]) -> Result<Vec<u8>, LogFormatError> {
    Checkpoint::parse_body(body).map_err(|e| LogFormatError::NotACheckpoint(e.to_string()))?;
    let b64 = base64::engine::general_purpose::STANDARD.encode(token);
    Ok(frame_log_record(&format!("{HEADER}\n{body}\n{b64}\n")))
}

/// Frames a renewal of `old` by `token` for the seal `body`.
pub fn frame_renewal(body: &str, old: &[u8], token: &[u8]) -> Result<Vec<u8>, LogFormatError> {
    Checkpoint::parse_body(body).map_err(|e| LogFormatError::NotACheckpoint(e.to_string()))?;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    Ok(frame_log_record(&format!(
        "{RENEWAL_HEADER}\n{body}\n{}\n{}\n",
        b64(old),
        b64(token)
    )))
}

enum Record {
    Token(StoredToken),
    Renewal(Renewal),
}

fn parse_record(rec: &[u8], offset: usize) -> Result<Record, LogFormatError> {
    let bad = |why| LogFormatError::Malformed { offset, why };
    let text = std::str::from_utf8(rec).map_err(|_| bad("not UTF-8"))?;
    if let Some(rest) = text
        .strip_prefix(RENEWAL_HEADER)
        .and_then(|r| r.strip_prefix('\n'))
    {
        let (body, tokens) = rest
            .split_once("\n\n")
            .ok_or_else(|| bad("no blank line"))?;
        let body = format!("{body}\n");
        let cp = Checkpoint::parse_body(&body).map_err(|_| bad("not a checkpoint body"))?;
        let (old, new) = tokens
            .strip_suffix('\n')
            .and_then(|t| t.split_once('\n'))
            .ok_or_else(|| bad("renewal: expected two token lines"))?;
        let dec = |b: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|_| bad("token is not base64"))
        };
        return Ok(Record::Renewal(Renewal {
            body,
            size: cp.size,
            old: dec(old)?,
            token: dec(new)?,
        }));
    }
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
    Ok(Record::Token(StoredToken {
        body,
        size: cp.size,
        token,
    }))
}

/// Parses a whole `timestamps.log`.
pub fn parse(bytes: &[u8]) -> Result<Parsed, LogFormatError> {
    let mut records = LogRecords::new(bytes);
    let mut out = Parsed::default();
    loop {
        let offset = records.offset();
        match records.next() {
            None => return Ok(out),
            Some(Ok(rec)) => match parse_record(rec, offset)? {
                Record::Token(t) => out.tokens.push(t),
                Record::Renewal(r) => out.renewals.push(r),
            },
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
    fn renewals_are_framed_parsed_and_kept_apart_from_tokens() {
        let mut file = frame(BODY, b"old").unwrap();
        file.extend(frame_renewal(BODY, b"old", b"new").unwrap());
        let text = String::from_utf8(file.clone()).unwrap();
        assert!(text.ends_with("caseledger-timestamp-renewal/v1\nexample.org/ledger\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\nb2xk\nbmV3\n"), "{text}");
        let p = parse(&file).unwrap();
        assert_eq!(p.tokens.len(), 1);
        assert_eq!(
            p.renewals,
            [Renewal {
                body: BODY.into(),
                size: 3,
                old: b"old".to_vec(),
                token: b"new".to_vec()
            }]
        );
        assert_eq!(
            renewal_data(b"old", BODY),
            [b"old".as_slice(), BODY.as_bytes()].concat()
        );
        // One token line only: malformed.
        let bad = frame_log_record(&format!("{RENEWAL_HEADER}\n{BODY}\nb2xk\n"));
        assert!(parse(&bad).is_err());
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
