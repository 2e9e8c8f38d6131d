//! The bytes of C2SP tlog-witness (<https://c2sp.org/tlog-witness>) `add-checkpoint`,
//! without HTTP: the request body and the answers, both ways.
//!
//! Request body: `old <size>\n`, 0..=63 lines of one base64 hash each (the consistency
//! proof), an empty line, then the signed checkpoint note. Answers: `200` with cosignature
//! lines, `409` with `<size>\n` (`Content-Type: text/x.tlog.size`), `400`, `403`, `404`,
//! `422`.

use caseledger_core::merkle::Hash;
use caseledger_core::note::{Note, SIGNATURE_PREFIX};

/// The most consistency proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;
/// The largest request body accepted: a note of 100 signature lines and a full proof fit
/// well within it.
pub const MAX_REQUEST_BYTES: usize = 64 << 10;
/// The largest answer a client reads.
pub const MAX_RESPONSE_BYTES: usize = 64 << 10;
/// The `Content-Type` of a `409 Conflict` answer's body.
pub const SIZE_CONTENT_TYPE: &str = "text/x.tlog.size";
/// The path of the submission call, under the witness's URL prefix.
pub const ADD_CHECKPOINT_PATH: &str = "/add-checkpoint";
/// This project's extension (C2SP defines none yet): `GET <prefix>/latest-checkpoint/<origin>`
/// answers the checkpoint the witness last cosigned for the origin, with its cosignature.
pub const LATEST_CHECKPOINT_PATH: &str = "/latest-checkpoint/";

/// Why a request body was refused as malformed (`400 Bad Request`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// Larger than [`MAX_REQUEST_BYTES`].
    #[error("request body larger than {MAX_REQUEST_BYTES} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("request body is not UTF-8")]
    NotUtf8,
    /// The first line is not `old <canonical decimal>`.
    #[error("the first line is not `old <size>`")]
    BadOldLine,
    /// A proof line is not base64 of 32 bytes.
    #[error("proof line {0} is not a base64 hash")]
    BadProofLine(usize),
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("more than {MAX_PROOF_LINES} proof lines")]
    TooManyProofLines,
    /// No empty line before the checkpoint.
    #[error("no empty line before the checkpoint")]
    NoCheckpoint,
}

/// An `add-checkpoint` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The size of the checkpoint the client believes the witness last cosigned.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint note (unparsed: the witness parses and verifies it).
    pub note: String,
}

fn parse_decimal(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

impl AddCheckpoint {
    /// The request body.
    pub fn to_body(&self) -> String {
        let mut s = format!("old {}\n", self.old);
        for h in &self.proof {
            s.push_str(&h.to_string());
            s.push('\n');
        }
        s.push('\n');
        s.push_str(&self.note);
        s
    }

    /// Parses a request body (the note itself is checked later, by the witness).
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, RequestError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge);
        }
        let text = std::str::from_utf8(body).map_err(|_| RequestError::NotUtf8)?;
        let (first, mut rest) = text.split_once('\n').ok_or(RequestError::BadOldLine)?;
        let old = first
            .strip_prefix("old ")
            .and_then(parse_decimal)
            .ok_or(RequestError::BadOldLine)?;
        let mut proof = Vec::new();
        loop {
            let (line, after) = rest.split_once('\n').ok_or(RequestError::NoCheckpoint)?;
            rest = after;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            let h: Hash = line
                .parse()
                .map_err(|_| RequestError::BadProofLine(proof.len() + 1))?;
            proof.push(h);
        }
        Ok(AddCheckpoint {
            old,
            proof,
            note: rest.to_owned(),
        })
    }
}

/// A witness's answer to `add-checkpoint`, as HTTP status and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `200`: the witness's cosignature line(s), each ending in a newline.
    Cosigned(String),
    /// `409 Conflict`: the size of the checkpoint the witness last cosigned for the origin
    /// (for a request at that very size: a different root, a fork).
    Conflict(u64),
    /// `400 Bad Request`.
    BadRequest(String),
    /// `403 Forbidden`: no signature verifies with a log key the witness trusts.
    Forbidden(String),
    /// `404 Not Found`: the witness does not know the origin.
    UnknownLog(String),
    /// `422 Unprocessable Entity`: the consistency proof does not verify.
    BadProof(String),
    /// `500`: the witness could not persist its state (it cosigned nothing).
    Internal(String),
}

impl Reply {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            Reply::Cosigned(_) => 200,
            Reply::BadRequest(_) => 400,
            Reply::Forbidden(_) => 403,
            Reply::UnknownLog(_) => 404,
            Reply::Conflict(_) => 409,
            Reply::BadProof(_) => 422,
            Reply::Internal(_) => 500,
        }
    }

    /// The `Content-Type` of the body.
    pub fn content_type(&self) -> &'static str {
        match self {
            Reply::Conflict(_) => SIZE_CONTENT_TYPE,
            _ => "text/plain; charset=utf-8",
        }
    }

    /// The body: cosignature lines, `<size>\n`, or one line saying why.
    pub fn body(&self) -> String {
        match self {
            Reply::Cosigned(lines) => lines.clone(),
            Reply::Conflict(size) => format!("{size}\n"),
            Reply::BadRequest(why)
            | Reply::Forbidden(why)
            | Reply::UnknownLog(why)
            | Reply::BadProof(why)
            | Reply::Internal(why) => format!("{why}\n"),
        }
    }
}

/// Why a witness's answer could not be read as the protocol says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    /// A `409` whose body is not `<size>\n`.
    #[error("409 answer is not a size")]
    BadSize,
    /// A `409` without `Content-Type: text/x.tlog.size`.
    #[error("409 answer's content type is not {SIZE_CONTENT_TYPE}")]
    BadContentType,
    /// A `200` whose body is not signature lines.
    #[error("200 answer is not note signature lines")]
    BadSignatureLines,
}

/// Reads a `409` answer's body (`<size>\n`, `text/x.tlog.size`).
pub fn parse_conflict(content_type: Option<&str>, body: &[u8]) -> Result<u64, ReplyError> {
    let ct = content_type
        .map(|c| c.split(';').next().unwrap_or_default().trim())
        .unwrap_or_default();
    if !ct.eq_ignore_ascii_case(SIZE_CONTENT_TYPE) {
        return Err(ReplyError::BadContentType);
    }
    std::str::from_utf8(body)
        .ok()
        .and_then(|s| s.strip_suffix('\n'))
        .and_then(parse_decimal)
        .ok_or(ReplyError::BadSize)
}

/// Reads a `200` answer's body: one or more note signature lines, each ending in a newline.
/// Returns the lines (with their newlines); the caller verifies the ones it trusts.
pub fn parse_cosignatures(note: &str, body: &[u8]) -> Result<Vec<String>, ReplyError> {
    let text = std::str::from_utf8(body).map_err(|_| ReplyError::BadSignatureLines)?;
    if text.is_empty() || !text.ends_with('\n') {
        return Err(ReplyError::BadSignatureLines);
    }
    let lines: Vec<String> = text.split_inclusive('\n').map(str::to_owned).collect();
    if lines.iter().any(|l| !l.starts_with(SIGNATURE_PREFIX)) {
        return Err(ReplyError::BadSignatureLines);
    }
    // Each must parse as a signature line of this note: the spec lets a client concatenate
    // the answer to the checkpoint and parse the whole note.
    let body_text = Note::parse(note.as_bytes())
        .map_err(|_| ReplyError::BadSignatureLines)?
        .text()
        .to_owned();
    let joined = format!("{body_text}\n{}", lines.concat());
    Note::parse(joined.as_bytes()).map_err(|_| ReplyError::BadSignatureLines)?;
    Ok(lines)
}

/// Percent-encodes an origin as one path segment of [`LATEST_CHECKPOINT_PATH`] (every byte
/// but ASCII letters, digits, `-`, `.`, `_`, `~`).
pub fn encode_origin(origin: &str) -> String {
    let mut out = String::with_capacity(origin.len() * 3);
    for b in origin.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "example.org/l\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.org/l AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    #[test]
    fn request_round_trips_and_matches_the_spec_layout() {
        let r = AddCheckpoint {
            old: 1,
            proof: vec![Hash([1; 32]), Hash([2; 32])],
            note: NOTE.to_owned(),
        };
        let body = r.to_body();
        assert!(body.starts_with("old 1\nAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\n"));
        assert!(body.contains("=\n\nexample.org/l\n2\n"));
        assert_eq!(AddCheckpoint::parse(body.as_bytes()), Ok(r));
        let empty = AddCheckpoint::parse(format!("old 0\n\n{NOTE}").as_bytes()).unwrap();
        assert_eq!((empty.old, empty.proof.len()), (0, 0));
    }

    #[test]
    fn malformed_requests_are_refused() {
        let cases: &[(&str, RequestError)] = &[
            ("old 01\n\nx", RequestError::BadOldLine),
            ("old -1\n\nx", RequestError::BadOldLine),
            ("new 1\n\nx", RequestError::BadOldLine),
            ("old 1", RequestError::BadOldLine),
            ("old 1\nnot base64\n\nx", RequestError::BadProofLine(1)),
            ("old 1\nAAAA\n\nx", RequestError::BadProofLine(1)),
            ("old 1\n", RequestError::NoCheckpoint),
        ];
        for (body, want) in cases {
            assert_eq!(
                AddCheckpoint::parse(body.as_bytes()).as_ref(),
                Err(want),
                "{body:?}"
            );
        }
        let line = format!("{}\n", Hash([0; 32]));
        let many = format!("old 1\n{}\n{NOTE}", line.repeat(MAX_PROOF_LINES + 1));
        assert_eq!(
            AddCheckpoint::parse(many.as_bytes()),
            Err(RequestError::TooManyProofLines)
        );
        let max = format!("old 1\n{}\n{NOTE}", line.repeat(MAX_PROOF_LINES));
        assert_eq!(
            AddCheckpoint::parse(max.as_bytes()).unwrap().proof.len(),
            63
        );
        assert_eq!(
            AddCheckpoint::parse(&vec![b'a'; MAX_REQUEST_BYTES + 1]),
            Err(RequestError::TooLarge)
        );
        assert_eq!(
            AddCheckpoint::parse(b"old 1\n\xff\n"),
            Err(RequestError::NotUtf8)
        );
    }

    #[test]
    fn conflict_answers_need_the_size_content_type() {
        assert_eq!(parse_conflict(Some("text/x.tlog.size"), b"12\n"), Ok(12));
        assert_eq!(parse_conflict(Some("Text/X.Tlog.Size; q=1"), b"0\n"), Ok(0));
        assert_eq!(
            parse_conflict(Some("text/plain"), b"12\n"),
            Err(ReplyError::BadContentType)
        );
        assert_eq!(
            parse_conflict(None, b"12\n"),
            Err(ReplyError::BadContentType)
        );
        for bad in [&b"12"[..], b"012\n", b"x\n", b""] {
            assert_eq!(
                parse_conflict(Some(SIZE_CONTENT_TYPE), bad),
                Err(ReplyError::BadSize)
            );
        }
        let r = Reply::Conflict(7);
        assert_eq!(
            (r.status(), r.content_type(), r.body()),
            (409, SIZE_CONTENT_TYPE, "7\n".to_owned())
        );
    }

    #[test]
    fn cosignature_answers_are_signature_lines() {
        let line = "\u{2014} w.example AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
        assert_eq!(
            parse_cosignatures(NOTE, line.as_bytes()),
            Ok(vec![line.to_owned()])
        );
        for bad in [
            "",
            "junk\n",
            &line[..line.len() - 1],
            "\u{2014} bad name x\n",
        ] {
            assert_eq!(
                parse_cosignatures(NOTE, bad.as_bytes()),
                Err(ReplyError::BadSignatureLines),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn origins_are_one_path_segment() {
        assert_eq!(encode_origin("example.org/l"), "example.org%2Fl");
        assert_eq!(encode_origin("a b%"), "a%20b%25");
    }
}
