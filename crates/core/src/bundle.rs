//! Evidence bundles: one record's entries, payloads and proofs, as a JSON document an
//! auditor verifies offline (docs/FORMAT.md, "Evidence bundle"). This module is the data
//! type and its byte codec; what a bundle proves is judged by `caseledger-verify`.
//!
//! # Format `caseledger-bundle/v1` (JSON; bytes are standard base64 with padding)
//!
//! ```text
//! {
//!   "format": "caseledger-bundle/v2",
//!   "origin": "<checkpoint origin>",
//!   "ledger_key": "<signed-note verifier key of the ledger: name+hex8+base64(0x01||pk)>",
//!   "checkpoint": "<signed checkpoint note text, cosignature lines included>",
//!   "record": "<record id>",
//!   "admin_entries": [ BundleEntry, ... ],   genesis, enrolments, revocations up to the checkpoint
//!   "entries": [ BundleEntry, ... ]          every entry of the record up to its record_head
//! }
//! BundleEntry = {
//!   "seq": <u64>,
//!   "entry": "<base64 canonical entry bytes E_seq>",
//!   "payload": "<base64 salt(32) || content>" | null,   null once destroyed (or for admin entries)
//!   "proof": ["<base64 32-byte hash>", ...]             RFC 6962 inclusion proof of leaf seq
//! }                                                     in the checkpoint's tree
//! ```
//!
//! The JSON is written pretty-printed (two-space indent) with the fields in the order above.
//! A bundle reveals nothing about other clients: besides the record's own entries it holds
//! only administration entries (actor ids, roles, public keys) and proof hashes.
//!
//! ```
//! use caseledger_core::bundle::{Bundle, BUNDLE_FORMAT};
//! use caseledger_core::RecordId;
//! let b = Bundle {
//!     format: BUNDLE_FORMAT.to_owned(),
//!     origin: "example.org/ledger".to_owned(),
//!     ledger_key: String::new(),
//!     checkpoint: String::new(),
//!     record: RecordId::new("C-1").unwrap(),
//!     admin_entries: Vec::new(),
//!     entries: Vec::new(),
//! };
//! let json = b.to_json().unwrap();
//! assert_eq!(Bundle::from_json(&json).unwrap(), b);
//! assert!(Bundle::from_json(b"{}").is_err());
//! ```

use crate::ids::RecordId;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The format name of version 1.
pub const BUNDLE_FORMAT: &str = "caseledger-bundle/v2";

/// Why bundle bytes could not be read or written. Never quotes a value of the bundle (its
/// strings include base64 payloads): only field names and positions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// Not JSON, or not the shape of a bundle (message redacted).
    #[error("{0}")]
    Json(String),
    /// The `format` field names another format.
    #[error("unknown format {0:?}")]
    UnknownFormat(String),
}

/// Bytes, serialized as a standard base64 string.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Base64(pub Vec<u8>);

impl std::fmt::Debug for Base64 {
    // May hold a payload: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Base64(<{} bytes>)", self.0.len())
    }
}

impl Serialize for Base64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&B64.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Base64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        // The decoder's message quotes a symbol of the text (which may encode a payload):
        // say only where it failed.
        B64.decode(s.as_bytes()).map(Base64).map_err(|_| {
            serde::de::Error::custom(format!(
                "a value of {} characters is not standard base64",
                s.len()
            ))
        })
    }
}

/// `message` with every double-quoted string replaced by `"<N chars redacted>"`: serde_json
/// quotes an unexpected string value in its errors (`invalid type: string "…"`), and a
/// bundle's strings include base64 payloads. Field names (in backticks) are kept.
fn redact_strings(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c != '"' {
            out.push(c);
            continue;
        }
        let mut n = 0usize;
        let mut escaped = false;
        for c in chars.by_ref() {
            match (escaped, c) {
                (false, '\\') => escaped = true,
                (false, '"') => break,
                _ => {
                    escaped = false;
                    n += 1;
                }
            }
        }
        out.push_str(&format!("\"<{n} chars redacted>\""));
    }
    out
}

/// One entry in a bundle, with its payload (if kept) and its inclusion proof.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct BundleEntry {
    /// The entry's seq (its leaf index).
    pub seq: u64,
    /// The stored entry bytes.
    pub entry: Base64,
    /// The stored payload (`nonce || ciphertext`, docs/FORMAT.md §3a), or null.
    pub payload: Option<Base64>,
    /// The entry's payload key (32 bytes: HKDF of the record key and the seq), or null: with
    /// it the payload can be read and checked against the author's commitment, and no
    /// other entry of the record can be read.
    pub key: Option<Base64>,
    /// The inclusion proof of leaf `seq` in the checkpoint's tree, each hash 32 bytes.
    pub proof: Vec<Base64>,
}

/// An evidence bundle (a plain struct: `caseledger-store`'s `Ledger::export_bundle` fills
/// it from a ledger; `caseledger-verify` judges it).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Bundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The ledger's origin.
    pub origin: String,
    /// The ledger key as a signed-note verifier key string.
    pub ledger_key: String,
    /// The signed checkpoint note every proof leads to.
    pub checkpoint: String,
    /// The record.
    pub record: RecordId,
    /// Genesis, enrolments and revocations up to the checkpoint.
    pub admin_entries: Vec<BundleEntry>,
    /// The record's entries up to the checkpoint.
    pub entries: Vec<BundleEntry>,
}

impl Bundle {
    /// The bundle as JSON bytes (pretty-printed, fields in declaration order).
    pub fn to_json(&self) -> Result<Vec<u8>, BundleError> {
        serde_json::to_vec_pretty(self).map_err(|e| BundleError::Json(e.to_string()))
    }
    /// Reads a bundle from JSON; refuses other formats.
    pub fn from_json(bytes: &[u8]) -> Result<Bundle, BundleError> {
        let b: Bundle = serde_json::from_slice(bytes)
            .map_err(|e| BundleError::Json(redact_strings(&e.to_string())))?;
        b.check_format()?;
        Ok(b)
    }
    /// Refuses a bundle whose `format` is not [`BUNDLE_FORMAT`].
    pub fn check_format(&self) -> Result<(), BundleError> {
        if self.format != BUNDLE_FORMAT {
            return Err(BundleError::UnknownFormat(
                self.format.chars().take(64).collect(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Bundle {
        let e = |seq, payload: Option<&[u8]>| BundleEntry {
            seq,
            entry: Base64(vec![1, 2, 3]),
            payload: payload.map(|p| Base64(p.to_vec())),
            key: payload.map(|_| Base64(vec![9; 32])),
            proof: vec![Base64(vec![7; 32])],
        };
        Bundle {
            format: BUNDLE_FORMAT.to_owned(),
            origin: "example.org/l".to_owned(),
            ledger_key: "example.org/l+01234567+AQ==".to_owned(),
            checkpoint: "example.org/l\n1\nAA==\n".to_owned(),
            record: RecordId::new("C-1").unwrap(),
            admin_entries: vec![e(0, None)],
            entries: vec![e(1, Some(b"salt and content"))],
        }
    }

    #[test]
    fn json_layout_is_the_documented_one() {
        let json = String::from_utf8(sample().to_json().unwrap()).unwrap();
        let expected = r#"{
  "format": "caseledger-bundle/v2",
  "origin": "example.org/l",
  "ledger_key": "example.org/l+01234567+AQ==",
  "checkpoint": "example.org/l\n1\nAA==\n",
  "record": "C-1",
  "admin_entries": [
    {
      "seq": 0,
      "entry": "AQID",
      "payload": null,
      "key": null,
      "proof": [
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
      ]
    }
  ],
  "entries": [
    {
      "seq": 1,
      "entry": "AQID",
      "payload": "c2FsdCBhbmQgY29udGVudA==",
      "key": "CQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
      "proof": [
        "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc="
      ]
    }
  ]
}"#;
        assert_eq!(json, expected);
        assert_eq!(Bundle::from_json(json.as_bytes()).unwrap(), sample());
    }

    #[test]
    fn other_formats_are_refused() {
        let mut b = sample();
        b.format = "caseledger-bundle/v9".to_owned();
        let json = b.to_json().unwrap();
        assert_eq!(
            Bundle::from_json(&json).unwrap_err(),
            BundleError::UnknownFormat("caseledger-bundle/v9".to_owned())
        );
    }

    #[test]
    fn errors_never_quote_values() {
        let misplaced =
            br#"{"format":"caseledger-bundle/v2","admin_entries":"Q0FOQVJZLWNsaW5pY2Fs"}"#;
        let not_b64 = br#"{"format":"caseledger-bundle/v2","origin":"o","ledger_key":"k","checkpoint":"c","record":"C-1","admin_entries":[{"seq":0,"entry":"CANARY~clinical","payload":null,"key":null,"proof":[]}],"entries":[]}"#;
        for bytes in [&misplaced[..], &not_b64[..]] {
            let e = Bundle::from_json(bytes).unwrap_err();
            let shown = format!("{e} {e:?}");
            assert!(matches!(e, BundleError::Json(_)), "{shown}");
            for leak in ["Q0FOQVJZ", "CANARY", "126", "~"] {
                assert!(!shown.contains(leak), "{leak} in {shown}");
            }
        }
        assert_eq!(
            redact_strings(r#"invalid type: string "a\"b", expected `x`"#),
            r#"invalid type: string "<3 chars redacted>", expected `x`"#
        );
        assert_eq!(format!("{:?}", Base64(vec![0; 5])), "Base64(<5 bytes>)");
    }
}
