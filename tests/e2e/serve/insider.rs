//! Issue 17, the insider campaign against the served ledger: the attacks of the insider
//! table (`crate::insider`) that the store refuses before anything is signed, made on the
//! real stored bytes while the server is down, then met by `caseledger serve` on its next
//! request. Each must be answered with a JSON error naming the refusal (never a 2xx, never a
//! seal over the edited state), write nothing (the verdict and `checkpoints.log` are
//! unchanged), leak nothing clinical, and leave the server up for the next request.

use super::*;
use crate::insider;

/// One attack: its name, the tampering, the request that meets it, and a word of the
/// refusal's message.
type Attack = (&'static str, fn(&Fixture), fn() -> Value, &'static str);

fn contact() -> Value {
    json!({"record": "C-OPEN", "kind": "contact", "occurred_on": "2025-06-01",
           "author": "lic-1"})
}

fn destroy_new() -> Value {
    json!({"record": "C-NEW", "kind": "destruction", "occurred_on": today(),
           "author": "cust-1", "reason": "policy R-7"})
}

/// What must not change: `verify --json` (findings, size, root) and `checkpoints.log`.
fn evidence(f: &Fixture) -> (String, Vec<u8>) {
    (
        stdout(&f.run(&["--json", "verify", "--ledger", "L"])),
        std::fs::read(f.ledger().join("checkpoints.log")).unwrap(),
    )
}

#[test]
fn attacks_the_store_refuses_are_refused_over_http_and_write_nothing() {
    let attacks: [Attack; 4] = [
        (
            "compact range flipped",
            insider::flip_compact_range,
            contact,
            "meta.compact_range disagrees",
        ),
        (
            "state row made destroyable under a hold",
            |f| {
                insider::export_new(f);
                insider::state_row_made_destroyable(f, "C-NEW");
            },
            destroy_new,
            "record state row of C-NEW disagrees with its entries",
        ),
        (
            "registry row planted for a revoked author",
            |f| {
                insider::revoked_author_restored(f);
                insider::registry_row_planted(f);
            },
            contact,
            "author lic-1 was revoked",
        ),
        (
            "revocation entry edited",
            |f| {
                insider::revoked_author_restored(f);
                insider::revocation_entry_edited(f);
            },
            contact,
            "the registry chain is broken at seq 11",
        ),
    ];
    for (name, tamper, body, word) in attacks {
        let f = Fixture::small();
        tamper(&f);
        caseledger_store::modes::tighten(&f.ledger()).unwrap();
        let before = evidence(&f);
        let s = serve(&f);
        for round in 0..2 {
            let a = s.post(&s.tokens.all, &body());
            assert!(
                a.status >= 400 && a.kind() != "",
                "{name}, request {round}: {} {}",
                a.status,
                a.body
            );
            let msg = a.json()["error"]["message"].as_str().unwrap().to_owned();
            assert!(msg.contains(word), "{name}: {msg}");
            assert!(!a.body.contains("SECRET"), "{name}: {}", a.body);
        }
        // Without a token: 401 before the ledger is opened, so nothing of it is told.
        let a = request(
            &s.addr,
            "POST",
            &format!("/v1/ledgers/{LEDGER}/events"),
            None,
            Some("application/json"),
            body().to_string().as_bytes(),
        );
        assert_eq!(a.status, 401, "{name}: {}", a.body);
        // The server is still up and answers what needs no ledger.
        assert_eq!(s.get(None, "/openapi.json").status, 200, "{name}");
        assert_eq!(s.stop().code(), Some(0), "{name}");
        assert_eq!(evidence(&f), before, "{name}: something was written");
    }
}
