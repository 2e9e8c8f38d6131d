//! Signed notes (C2SP signed-note) and key strings: never panic; a parsed note prints back
//! to exactly the input bytes.
#![no_main]

use caseledger_core::keys::SigningKey;
use caseledger_core::note::{open, Note, NoteSigner, NoteVerifier};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    if let Ok(n) = Note::parse(data) {
        assert_eq!(
            n.to_string().as_bytes(),
            data,
            "parse/print is not the identity"
        );
    }
    // The verifier is made once, not per input.
    static VERIFIER: OnceLock<NoteVerifier> = OnceLock::new();
    let verifier = VERIFIER.get_or_init(|| {
        NoteSigner::new("fuzz.example/log", SigningKey::from_seed(&[7; 32]))
            .expect("signer")
            .verifier()
    });
    let _ = open(data, std::slice::from_ref(verifier));
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(v) = NoteVerifier::parse(s) {
            assert_eq!(
                NoteVerifier::parse(&v.to_vkey_string()).expect("reparse"),
                v
            );
        }
        let _ = NoteSigner::parse(s);
    }
});
