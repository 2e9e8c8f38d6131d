//! The JSON event line (`caseledger import`'s JSONL, crates/serve/src/ingest.rs): never
//! panics; the CLI's path (`parse_line`, bytes) and the server's (`json_value` then
//! `parse_value`) accept the same lines and key them to the same request digest; a refusal
//! never quotes a payload (clinical content). This target found that parsing the body with
//! `serde_json::Value` let a repeated field through (the last one winning) where import
//! refuses it: `json_value` is the fix.
#![no_main]

use caseledger_serve::ingest::{json_value, parse_line, parse_value, Line};
use libfuzzer_sys::fuzz_target;

/// A payload starting with this is a canary: no error message may contain it.
const CANARY: &str = "CANARY-";

fn same(a: &Line, b: &Line) -> bool {
    a.request == b.request
        && a.author == b.author
        && a.record == b.record
        && a.occurred_on == b.occurred_on
        && a.payload == b.payload
        && a.id == b.id
        && a.pre.is_signed() == b.pre.is_signed()
}

fuzz_target!(|data: &[u8]| {
    let by_line = parse_line(data, 1);
    if let Err(e) = &by_line {
        // Errors name fields, never values: a payload must not come back in one.
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_slice(data) {
            if let Some(serde_json::Value::String(p)) = o.get("payload") {
                if p.starts_with(CANARY) && p.len() >= 16 {
                    assert!(!e.0.contains(p.as_str()), "an error quoted the payload");
                }
            }
        }
    }
    // The server parses a JSON value first; a line that is not one JSON value (or repeats
    // a key) is refused by both.
    match json_value(data) {
        Ok(v) => match (&by_line, parse_value(v, 1)) {
            (Ok(a), Ok(b)) => assert!(same(a, &b), "CLI and server parse one line differently"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!(
                "CLI and server disagree on a line: CLI ok={} server ok={}",
                a.is_ok(),
                b.is_ok()
            ),
        },
        Err(_) => assert!(by_line.is_err(), "a line that is not JSON was accepted"),
    }
});
