//! Checkpoint bodies and signed checkpoints: never panic; a parsed body prints back to the
//! input; a note that opens under the log key has the body that key signed.
#![no_main]

use caseledger_core::checkpoint::{open_checkpoint, sign_checkpoint, Checkpoint};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::Hash;
use caseledger_core::note::NoteSigner;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

/// The log key, the one body it signed and its note: made once, not per input (signing
/// per input cost a good part of each execution).
fn fixed() -> &'static (NoteSigner, Checkpoint, String) {
    static F: OnceLock<(NoteSigner, Checkpoint, String)> = OnceLock::new();
    F.get_or_init(|| {
        let log =
            NoteSigner::new("fuzz.example/log", SigningKey::from_seed(&[7; 32])).expect("signer");
        let body = Checkpoint::new("fuzz.example/log", 42, Hash([9; 32])).expect("checkpoint");
        let note = sign_checkpoint(&body, &log);
        (log, body, note)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(c) = Checkpoint::parse_body(s) {
        assert_eq!(c.to_body(), s, "parse/print is not the identity");
    }
    let (log, signed_body, note) = fixed();
    if let Ok(o) = open_checkpoint(s, &[log.verifier()]) {
        // The only body this key ever signed (below) is `signed_body`.
        assert_eq!(
            &o.checkpoint, signed_body,
            "a forged checkpoint opened under the log key"
        );
    }
    // Also mutate a real signed note by splicing the fuzz input into it.
    let cut = data.len() % (note.len() + 1);
    if note.is_char_boundary(cut) {
        let spliced = format!("{}{}{}", &note[..cut], s, &note[cut..]);
        if let Ok(o) = open_checkpoint(&spliced, &[log.verifier()]) {
            assert_eq!(
                &o.checkpoint, signed_body,
                "a spliced note opened with another body"
            );
        }
    }
});
