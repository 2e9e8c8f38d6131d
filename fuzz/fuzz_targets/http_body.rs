//! `caseledger serve`'s JSON request bodies: the events route (one event object, or
//! `{"events":[…]}`) and the actors route (an enrolment). Never panics; every event of a
//! batch is parsed as its own line would be (`parse_value` agrees with `parse_line` on the
//! event's own JSON). The route handlers' body structs are private to http.rs, so their
//! serde shape is restated here (`Batch`, `Enrolment`, kept in step by hand) and the real
//! parsers of each field are called.
#![no_main]

use caseledger_core::event::Role;
use caseledger_core::ids::PublicKey;
use caseledger_core::{ActorId, Date};
use caseledger_serve::ingest::{json_value, parse_line, parse_value};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Batch {
    events: Vec<Value>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Enrolment {
    actor: String,
    role: String,
    public_key: String,
    author: String,
    occurred_on: Option<String>,
}

fuzz_target!(|data: &[u8]| {
    // The events route.
    if let Ok(v) = json_value(data) {
        let is_batch = v.as_object().is_some_and(|o| o.contains_key("events"));
        let values = if is_batch {
            serde_json::from_value::<Batch>(v)
                .map(|b| b.events)
                .unwrap_or_default()
        } else {
            vec![v]
        };
        for (i, v) in values.into_iter().take(1000).enumerate() {
            let text = serde_json::to_vec(&v).expect("a JSON value serializes");
            let by_value = parse_value(v, i + 1);
            let by_line = parse_line(&text, i + 1);
            assert_eq!(
                by_value.is_ok(),
                by_line.is_ok(),
                "an event of a batch is judged unlike its own line"
            );
            if let (Ok(a), Ok(b)) = (by_value, by_line) {
                assert!(a.request == b.request && a.payload == b.payload);
            }
        }
    }
    // The actors route.
    if let Ok(e) = serde_json::from_slice::<Enrolment>(data) {
        let _ = ActorId::new(&e.actor);
        let _ = ActorId::new(&e.author);
        let _ = Role::parse(&e.role);
        if let Ok(k) = PublicKey::parse_any(&e.public_key) {
            // Every accepted form names the same key as its hex form.
            assert_eq!(PublicKey::parse_any(&k.to_hex()).expect("reparse"), k);
        }
        if let Some(d) = &e.occurred_on {
            if let Ok(d) = d.parse::<Date>() {
                assert_eq!(d.to_string().parse::<Date>().expect("reparse"), d);
            }
        }
    }
});
