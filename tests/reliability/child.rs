//! The child side of the campaigns that need a process to kill, to confine, or to watch
//! for panics: this test binary re-executed on the ignored test [`child_main`].
//!
//! Protocol: one line per fact on stdout, `TAG value...`, printed and flushed only after
//! the fact is true (an `ACK` only after `append` returned Ok).

use crate::harness;
use caseledger_store::{Ledger, OpenOptions};
use caseledger_testkit::campaign::CANARY;
use caseledger_testkit::{self as kit, campaign};
use std::io::Write;
use std::path::PathBuf;

fn say(line: &str) {
    let out = std::io::stdout();
    let mut l = out.lock();
    let _ = writeln!(l, "{line}");
    let _ = l.flush();
}

/// Dispatches on `CASELEDGER_CHILD`; does nothing when run without it (e.g. `--ignored`).
#[test]
#[ignore = "child process entry point of the reliability campaigns; run by the parent tests"]
fn child_main() {
    let Ok(mode) = std::env::var("CASELEDGER_CHILD") else {
        return;
    };
    let dir = PathBuf::from(std::env::var("CASELEDGER_CHILD_DIR").expect("CASELEDGER_CHILD_DIR"));
    match mode.as_str() {
        "append" => append_forever(&dir, false),
        "append-checkpoint" => append_forever(&dir, true),
        "reopen" => {
            let l = kit::open_settled(
                &dir,
                kit::Cast::CAMPAIGN
                    .sealing(OpenOptions::default().with_kek(caseledger_testkit::kek())),
            )
            .expect("reopen");
            say(&format!("OPENED {}", l.head().size));
        }
        "fill" => fill(&dir),
        "open" => match Ledger::open(
            &dir,
            kit::Cast::CAMPAIGN.sealing(OpenOptions::default().with_kek(caseledger_testkit::kek())),
        ) {
            Ok(l) => say(&format!("OPENED {}", l.head().size)),
            Err(caseledger_store::StoreError::InUse { .. }) => say("INUSE"),
            Err(e) => say(&format!("ERR {e}")),
        },
        "verify-open" => match kit::verify_dir(&dir, &campaign::policy(vec![])) {
            Ok(v) => say(&format!("VERIFIED {}", v.size())),
            Err(caseledger_verify::VerifyError::InUse(_)) => say("INUSE"),
            Err(e) => say(&format!("ERR {e}")),
        },
        "damaged" => damaged(&dir),
        other => panic!("unknown child mode {other}"),
    }
}

/// Appends with `Immediate` durability from three threads until killed, printing
/// `ACK <seq> <hash>` for each acknowledged entry; with `checkpoints`, also reads the
/// newest seal every few appends (every commit is sealed) and prints `CKPT <hex of the note>`.
fn append_forever(dir: &std::path::Path, checkpoints: bool) {
    // The deliberately broken variant (docs/RELIABILITY.md): acknowledge before durable.
    let options = if harness::broken("deferred") {
        OpenOptions::default()
            .with_kek(caseledger_testkit::kek())
            .with_durability(caseledger_store::Durability::Deferred)
    } else {
        OpenOptions::default().with_kek(caseledger_testkit::kek())
    };
    let ledger = if dir.join("sled").is_dir() {
        kit::open_settled(dir, kit::Cast::CAMPAIGN.sealing(options)).expect("open")
    } else {
        campaign::create_ledger_with(dir, options)
    };
    say(&format!("OPENED {}", ledger.head().size));
    let pid = std::process::id();
    std::thread::scope(|s| {
        for t in 0..3u32 {
            let ledger = &ledger;
            s.spawn(move || {
                let record = format!("R{pid}-{t}");
                let r = campaign::open_record(ledger, &record);
                say(&format!("ACK {} {}", r.seq.0, r.hash.to_hex()));
                for i in 0u64.. {
                    match campaign::note(ledger, &record, i) {
                        Ok(r) => say(&format!("ACK {} {}", r.seq.0, r.hash.to_hex())),
                        Err(e) => {
                            say(&format!("ERR {e}"));
                            return;
                        }
                    }
                    if checkpoints && t == 0 && i % 3 == 0 {
                        match ledger
                            .newest_seal()
                            .map(|s| s.map(|(_, n)| n).unwrap_or_default())
                        {
                            Ok(note) => say(&format!("CKPT {}", kit::hex(note.as_bytes()))),
                            Err(e) => say(&format!("ERR checkpoint: {e}")),
                        }
                    }
                }
            });
        }
    });
}

/// Appends until appends fail `CASELEDGER_CHILD_FAILS` times in a row (disk full), printing
/// `ACK` for successes and `ERR <message>` for failures; then exits normally.
fn fill(dir: &std::path::Path) {
    let stop_after: u32 = std::env::var("CASELEDGER_CHILD_FAILS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let max: u64 = std::env::var("CASELEDGER_CHILD_MAX")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(u64::MAX);
    let options = if harness::broken("deferred") {
        OpenOptions::default()
            .with_kek(caseledger_testkit::kek())
            .with_durability(caseledger_store::Durability::Deferred)
    } else {
        OpenOptions::default().with_kek(caseledger_testkit::kek())
    };
    let ledger = match kit::open_settled(dir, kit::Cast::CAMPAIGN.sealing(options)) {
        Ok(l) => l,
        Err(e) => {
            say(&format!("ERR open: {e}"));
            return;
        }
    };
    say(&format!("OPENED {}", ledger.head().size));
    let record = format!("F{}", std::process::id());
    let (e, p) = campaign::clinical(
        &record,
        caseledger_core::event::EventKind::RecordOpened,
        campaign::day(),
        "intake",
    );
    let mut fails = 0;
    match ledger.append(e, Some(p)) {
        Ok(r) => say(&format!("ACK {} {}", r.seq.0, r.hash.to_hex())),
        Err(e) => {
            say(&format!("ERR {e}"));
            return;
        }
    }
    // Large payloads fill the disk quickly.
    let filler = "x".repeat(8 * 1024);
    for i in 0..max {
        let (e, p) = campaign::clinical(
            &record,
            caseledger_core::event::EventKind::ProgressNote,
            campaign::day(),
            &format!("{i} {filler}"),
        );
        match ledger.append(e, Some(p)) {
            Ok(r) => {
                fails = 0;
                say(&format!("ACK {} {}", r.seq.0, r.hash.to_hex()));
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(
                    !msg.contains(CANARY),
                    "error message leaks the payload: {msg}"
                );
                say(&format!("ERR {msg}"));
                fails += 1;
                if fails >= stop_after {
                    break;
                }
            }
        }
    }
    say("DONE");
}

/// Opens a damaged ledger with the store, then verifies it with the auditor's checkpoint
/// (`CASELEDGER_CHILD_CHECKPOINT`, hex); prints one `STORE` and one `VERDICT` line.
fn damaged(dir: &std::path::Path) {
    match kit::open_settled(
        dir,
        kit::Cast::CAMPAIGN.sealing(OpenOptions::default().with_kek(caseledger_testkit::kek())),
    ) {
        Ok(l) => {
            // Read everything through the store's own queries too.
            let size = l.head().size;
            let mut bad = 0;
            for s in 0..size {
                if l.entry(caseledger_core::Seq(s)).is_err() {
                    bad += 1;
                }
            }
            say(&format!("STORE opened size {size} unreadable {bad}"));
        }
        Err(e) => say(&format!("STORE error {}", e.to_string().replace('\n', " "))),
    }
    let cp_hex = std::env::var("CASELEDGER_CHILD_CHECKPOINT").unwrap_or_default();
    let note = String::from_utf8(kit::unhex(&cp_hex)).expect("checkpoint hex");
    // The deliberately broken variant: an auditor who kept no checkpoint of their own.
    let policy = campaign::policy(if harness::broken("no-auditor-checkpoint") {
        vec![]
    } else {
        vec![note]
    });
    match kit::verify_dir(dir, &policy) {
        Ok(v) if v.is_clean() => {
            let cp = v
                .checkpoint()
                .map(|c| (c.size, kit::hex(&c.root.0)))
                .unwrap_or((u64::MAX, String::new()));
            say(&format!(
                "VERDICT clean {} {} {} {}",
                v.size(),
                kit::hex(&v.root().0),
                cp.0,
                cp.1
            ));
        }
        Ok(v) => {
            let kinds: Vec<&str> = v.findings().iter().map(|f| f.kind.name()).collect();
            say(&format!("VERDICT findings {}", kinds.join(",")));
        }
        Err(e) => say(&format!(
            "VERDICT error {}",
            e.to_string().replace('\n', " ")
        )),
    }
}
