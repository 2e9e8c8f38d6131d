//! Retention reports and their signatures: never panic; a parsed report's canonical JSON
//! parses back to the same report; no signature verifies over bytes it was not made for.
#![no_main]

use caseledger_core::keys::SigningKey;
use caseledger_verify::report::{sign_report, verify_report, RetentionReport, SignedReport};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    if let Ok(r) = serde_json::from_slice::<RetentionReport>(data) {
        let c = r.to_canonical_json().expect("serializes");
        let again: RetentionReport = serde_json::from_slice(&c).expect("canonical JSON parses");
        assert_eq!(again, r);
        assert_eq!(again.to_canonical_json().expect("serializes"), c);
    }
    // Made once, not per input.
    static FIXED: OnceLock<(SigningKey, SignedReport)> = OnceLock::new();
    let (key, sig) = FIXED.get_or_init(|| {
        let key = SigningKey::from_seed(&[5; 32]);
        let sig = sign_report(b"the signed report", &key).expect("sign");
        (key, sig)
    });
    if verify_report(data, sig, &key.public_key()).is_ok() {
        assert_eq!(
            data, b"the signed report",
            "a signature verified over other bytes"
        );
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = caseledger_core::sshsig::verify(s, "caseledger-report", b"the signed report");
    }
});
