//! tlog-witness answers as the client reads them (crates/witness/src/protocol.rs): a `409`
//! body (`<size>\n`, `text/x.tlog.size`) and a `200` body (cosignature lines). Never
//! panics; what is accepted is exactly what the protocol allows (a canonical decimal and
//! newline; whole signature lines that parse as lines of the submitted note).
#![no_main]

use caseledger_core::checkpoint::{cosign, sign_checkpoint, Checkpoint, CosignatureVerifier};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::Hash;
use caseledger_core::note::{NoteSigner, SIGNATURE_PREFIX};
use caseledger_witness::protocol::{parse_conflict, parse_cosignatures, SIZE_CONTENT_TYPE};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const TS: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the Content-Type the answer came with.
    let (ct, body) = match data.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => (Some("text/plain"), rest),
        Some((2, rest)) => (Some("text/x.tlog.size; charset=utf-8"), rest),
        Some((_, rest)) => (Some(SIZE_CONTENT_TYPE), rest),
        None => (Some(SIZE_CONTENT_TYPE), data),
    };
    if let Ok(n) = parse_conflict(ct, body) {
        assert_eq!(
            body,
            format!("{n}\n").as_bytes(),
            "a size that is not canonical"
        );
    }
    // The checkpoint, its note, the witness and its one line: made once, not per input.
    static FIXED: OnceLock<(Checkpoint, String, CosignatureVerifier, String)> = OnceLock::new();
    let (cp, note, w, own) = FIXED.get_or_init(|| {
        let cp = Checkpoint::new("fuzz.example/log", 42, Hash([9; 32])).expect("checkpoint");
        let log =
            NoteSigner::new("fuzz.example/log", SigningKey::from_seed(&[7; 32])).expect("log");
        let key = SigningKey::from_seed(&[3; 32]);
        let w = CosignatureVerifier::new("witness.example", key.public_key()).expect("w");
        let own = cosign(&cp, "witness.example", &key, TS).expect("cosign");
        (cp.clone(), sign_checkpoint(&cp, &log), w, own)
    });
    if let Ok(lines) = parse_cosignatures(note, body) {
        assert_eq!(lines.concat().as_bytes(), body, "lines lost or added bytes");
        for l in &lines {
            assert!(l.starts_with(SIGNATURE_PREFIX) && l.ends_with('\n'));
            if w.verify_line(cp, l).is_ok() {
                assert_eq!(
                    l, own,
                    "a cosignature line verified that the witness never made"
                );
            }
        }
    }
});
