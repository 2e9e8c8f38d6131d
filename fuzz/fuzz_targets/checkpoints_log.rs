//! `checkpoints.log` as the verifier reads it: never panics, never loses bytes silently.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = caseledger_verify::checkpoints_log::parse(data);
});
