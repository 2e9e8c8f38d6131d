//! Evidence bundles: never panic in parsing or verification; a parsed bundle serializes to
//! a canonical form that parses back to the same bundle.
#![no_main]

use caseledger_verify::bundle::{verify_bundle, Bundle};
use caseledger_verify::Policy;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(b) = Bundle::from_json(data) else {
        return;
    };
    let json = b.to_json().expect("a parsed bundle serializes");
    let again = Bundle::from_json(&json).expect("its serialization parses");
    assert_eq!(again, b);
    assert_eq!(
        again.to_json().expect("serializes"),
        json,
        "serialization is not canonical"
    );
    let _ = verify_bundle(&b, &Policy::default());
});
