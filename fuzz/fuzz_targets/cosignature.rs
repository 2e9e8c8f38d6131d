//! Witness cosignatures (C2SP tlog-cosignature, Ed25519 cosignature/v1): never panic;
//! a cosignature line verifies only over the cosigned body, with the cosigned timestamp.
#![no_main]

use caseledger_core::checkpoint::{
    append_cosignature, cosign, open_checkpoint, sign_checkpoint, verify_cosignatures, Checkpoint,
    CosignatureVerifier,
};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::Hash;
use caseledger_core::note::NoteSigner;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const TS: u64 = 1_700_000_000;

/// The witness, its verifier, the checkpoint, the log and a cosigned note: made once, not
/// per input (signing per input cost a good part of each execution).
struct Fixed {
    w: CosignatureVerifier,
    cp: Checkpoint,
    log: NoteSigner,
    line: String,
    note: String,
}

fn fixed() -> &'static Fixed {
    static F: OnceLock<Fixed> = OnceLock::new();
    F.get_or_init(|| {
        let key = SigningKey::from_seed(&[3; 32]);
        let w = CosignatureVerifier::new("witness.example", key.public_key()).expect("witness");
        let cp = Checkpoint::new("fuzz.example/log", 42, Hash([9; 32])).expect("checkpoint");
        let log =
            NoteSigner::new("fuzz.example/log", SigningKey::from_seed(&[7; 32])).expect("signer");
        let line = cosign(&cp, "witness.example", &key, TS).expect("cosign");
        let note = append_cosignature(&sign_checkpoint(&cp, &log), &line).expect("append");
        Fixed {
            w,
            cp,
            log,
            line,
            note,
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let Fixed {
        w,
        cp,
        log,
        line,
        note,
    } = fixed();
    if let Ok(ts) = w.verify_line(cp, s) {
        assert_eq!(ts, TS, "a line verified that the witness never made");
        assert_eq!(s.trim_end_matches('\n'), line.trim_end_matches('\n'));
    }
    let _ = CosignatureVerifier::parse(s);
    // The fuzz input appended as a signature line to a cosigned note.
    if let Ok(n) = append_cosignature(note, s) {
        if let Ok(o) = open_checkpoint(&n, &[log.verifier()]) {
            if let Ok(v) = verify_cosignatures(&o.note, std::slice::from_ref(w)) {
                assert!(v.iter().all(|c| c.timestamp == Some(TS)));
            }
        }
    }
});
