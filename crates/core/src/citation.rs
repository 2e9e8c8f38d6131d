//! The external time a destruction cites (format 4, docs/FORMAT.md §2 "TimeCitation").
//!
//! A destruction signed with a citation proves it was written after the cited time T: its
//! author had seen a witness's cosignature (made at T) or a TSA's token (made at genTime)
//! over one of the ledger's checkpoints. The verifier decides whether the citation counts
//! (the witness key or TSA roots must be the relying party's, the checkpoint the ledger's);
//! this module only fixes the bytes and refuses shapes that can never count.
//!
//! Why only the part relied on: a seal's note grows as witnesses add cosignatures, so its
//! hash changes; the checkpoint body (what cosignatures and tokens sign over) and the one
//! cosignature line or token relied on do not.
//!
//! ```
//! use caseledger_core::citation::TimeCitation;
//! let body = "example.org/ledger\n3\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";
//! let c = TimeCitation::timestamp(body, vec![0x30, 0x03, 0x02, 0x01, 0x01]).unwrap();
//! assert_eq!(c.checkpoint().size, 3);
//! // Not a checkpoint body: refused.
//! assert!(TimeCitation::timestamp("three\n", vec![0x30]).is_err());
//! ```

use crate::checkpoint::Checkpoint;
use serde::{Deserialize, Serialize};

/// The largest cited checkpoint body, in bytes (an origin of at most 256 bytes, a size and
/// a root take about 330; extension lines are allowed, within this).
pub const MAX_CITED_BODY: usize = 1024;
/// The largest cited cosignature line, in bytes (`— <name> <base64 of 76 bytes>`).
pub const MAX_COSIGNATURE_LINE: usize = 512;
/// The largest cited time-stamp token (DER), in bytes.
pub const MAX_TOKEN_DER: usize = 64 * 1024;

/// A citation refused by its constructor (or by the strict decoder).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CitationError {
    /// The body is not a checkpoint body, or is too long.
    #[error("the cited checkpoint body is not a checkpoint body of at most 1024 bytes: {0}")]
    Body(String),
    /// The cosignature line is not one note signature line.
    #[error("the cited cosignature is not one signature line ('— <name> <base64>', at most 512 bytes, no newline)")]
    Line,
    /// The token is empty, too long, or not a DER SEQUENCE.
    #[error("the cited time-stamp token is not DER of 1-65536 bytes")]
    Token,
}

/// An external time T a destruction cites, with exactly the bytes it rests on.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(try_from = "RawCitation", into = "RawCitation")]
pub struct TimeCitation(RawCitation);

/// The wire form (variant index = tag): validated into [`TimeCitation`].
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum RawCitation {
    /// A witness's C2SP `cosignature/v1` over a checkpoint of the ledger.
    Cosignature {
        /// The checkpoint body `<origin>\n<size>\n<base64 root>\n`: exactly the bytes the
        /// cosignature signs after its `cosignature/v1\ntime <t>\n` prefix.
        body: String,
        /// The one signature line relied on, `— <name> <base64(keyid ‖ time BE ‖ sig)>`,
        /// without its final newline.
        line: String,
    },
    /// An RFC 3161 time-stamp token over a checkpoint body of the ledger (as
    /// `timestamps.log` holds them: the token's imprint is SHA-256 of `body`).
    Timestamp {
        /// The checkpoint body the token stamps, exactly.
        body: String,
        /// The DER `TimeStampToken`.
        token: Vec<u8>,
    },
}

fn check_body(body: &str) -> Result<Checkpoint, CitationError> {
    if body.len() > MAX_CITED_BODY {
        return Err(CitationError::Body(format!("{} bytes", body.len())));
    }
    Checkpoint::parse_body(body).map_err(|e| CitationError::Body(e.to_string()))
}

impl TryFrom<RawCitation> for TimeCitation {
    type Error = CitationError;
    fn try_from(raw: RawCitation) -> Result<TimeCitation, CitationError> {
        match &raw {
            RawCitation::Cosignature { body, line } => {
                check_body(body)?;
                let ok = line.len() <= MAX_COSIGNATURE_LINE
                    && line.starts_with("— ")
                    && !line.chars().any(char::is_control)
                    && line.split(' ').count() == 3;
                if !ok {
                    return Err(CitationError::Line);
                }
            }
            RawCitation::Timestamp { body, token } => {
                check_body(body)?;
                if token.is_empty() || token.len() > MAX_TOKEN_DER || token.first() != Some(&0x30) {
                    return Err(CitationError::Token);
                }
            }
        }
        // INVARIANT: the body parses as a checkpoint body; the line or token has its shape.
        Ok(TimeCitation(raw))
    }
}

impl From<TimeCitation> for RawCitation {
    fn from(c: TimeCitation) -> RawCitation {
        c.0
    }
}

impl TimeCitation {
    /// Cites one witness cosignature line over `body` (the line with or without its final
    /// newline). Nothing is verified here: the verifier checks it under its policy.
    pub fn cosignature(body: &str, line: &str) -> Result<TimeCitation, CitationError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        TimeCitation::try_from(RawCitation::Cosignature {
            body: body.to_owned(),
            line: line.to_owned(),
        })
    }
    /// Cites a time-stamp token over `body`.
    pub fn timestamp(body: &str, token: Vec<u8>) -> Result<TimeCitation, CitationError> {
        TimeCitation::try_from(RawCitation::Timestamp {
            body: body.to_owned(),
            token,
        })
    }
    /// The wire form.
    pub fn raw(&self) -> &RawCitation {
        &self.0
    }
    /// The cited checkpoint body.
    pub fn body(&self) -> &str {
        match &self.0 {
            RawCitation::Cosignature { body, .. } | RawCitation::Timestamp { body, .. } => body,
        }
    }
    /// The cited checkpoint (the body was validated, so it parses).
    pub fn checkpoint(&self) -> Checkpoint {
        // The constructor parsed this body; a failure here cannot happen, and an empty
        // checkpoint (size 0, never a destruction's) would only make the citation not count.
        Checkpoint::parse_body(self.body()).unwrap_or(Checkpoint {
            origin: String::new(),
            size: 0,
            root: crate::merkle::Hash([0; 32]),
            extensions: Vec::new(),
        })
    }
    /// `cosignature` or `timestamp` (report and JSON names).
    pub fn kind_name(&self) -> &'static str {
        match &self.0 {
            RawCitation::Cosignature { .. } => "cosignature",
            RawCitation::Timestamp { .. } => "timestamp",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoding;

    const BODY: &str = "o.example\n2\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

    /// The bytes of docs/FORMAT.md §2 ("TimeCitation"): a destruction citing a token.
    #[test]
    fn the_bytes_of_a_citation_are_pinned() {
        let kind = crate::event::EventKind::Destruction {
            reason: crate::event::ShortText::new("p").unwrap(),
            citation: Some(
                TimeCitation::timestamp(BODY, vec![0x30, 0x03, 0x02, 0x01, 0x01]).unwrap(),
            ),
        };
        let expected = [
            "15000000", // variant 21, Destruction
            "0100000000000000",
            "70",       // reason "p"
            "01",       // citation: Some
            "01000000", // variant 1, Timestamp
            "3900000000000000",
            &hex::encode(BODY), // body, 57 bytes
            "0500000000000000",
            "3003020101", // token DER, 5 bytes
        ]
        .concat();
        assert_eq!(hex::encode(encoding::encode(&kind).unwrap()), expected);
        let none = crate::event::EventKind::Destruction {
            reason: crate::event::ShortText::new("p").unwrap(),
            citation: None,
        };
        assert_eq!(
            hex::encode(encoding::encode(&none).unwrap()),
            "15000000010000000000000070".to_owned() + "00"
        );
        assert_eq!(BODY.len(), 0x39);
    }

    #[test]
    fn shapes_that_can_never_count_are_refused_at_decode() {
        let good = TimeCitation::cosignature(BODY, "— w.example/a AAAA\n").unwrap();
        let bytes = encoding::encode(&good).unwrap();
        assert_eq!(
            encoding::decode_canonical::<TimeCitation>(&bytes).unwrap(),
            good
        );
        for bad in [
            RawCitation::Cosignature {
                body: "o.example\n2\n".into(),
                line: "— w AAAA".into(),
            },
            RawCitation::Cosignature {
                body: BODY.into(),
                line: "w AAAA".into(),
            },
            RawCitation::Cosignature {
                body: BODY.into(),
                line: "— w AAAA\n— v BBBB".into(),
            },
            RawCitation::Timestamp {
                body: BODY.into(),
                token: vec![],
            },
            RawCitation::Timestamp {
                body: BODY.into(),
                token: vec![0x04, 0x00],
            },
        ] {
            let b = encoding::encode(&bad).unwrap();
            assert!(
                encoding::decode_canonical::<TimeCitation>(&b).is_err(),
                "{bad:?}"
            );
        }
    }
}
