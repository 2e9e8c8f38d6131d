//! Create, reopen (after close and after drop), exclusive ownership, directory hygiene.
use caseledger_core::event::EventKind;
use caseledger_core::ids::Seq;
use caseledger_core::time::Timestamp;
use caseledger_store::{Durability, Ledger, OpenOptions, StoreError};
use caseledger_testkit::*;

#[test]
fn reopen_after_close_and_after_drop() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let clock = TestClock::at("2024-01-10");
    let r = rid("C-1");
    let (head1, root1) = {
        let l = Cast::TEST.staffed_on(&path, &clock, Durability::Immediate);
        let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
        l.append(e, p).unwrap();
        let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, Some(b"first"));
        l.append(e, p).unwrap();
        let out = (l.head(), l.root());
        l.close().unwrap();
        out
    };
    // After close.
    let l = Cast::TEST
        .open(&path, clock.options(Durability::Immediate))
        .unwrap();
    assert_eq!(l.head(), head1);
    assert_eq!(l.root(), root1);
    assert_eq!(l.root_at(head1.size).unwrap(), root1);
    assert_eq!(l.payload(Seq(4)).unwrap().unwrap().content(), b"first");
    assert_eq!(l.registry().last_recorded_at, Some(head1.last_recorded_at));
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, Some(b"second"));
    let rc = l.append(e, p).unwrap();
    assert_eq!(rc.seq, Seq(head1.size));
    let head2 = l.head();
    // After drop without close.
    drop(l);
    let l = Cast::TEST
        .open(&path, clock.options(Durability::Immediate))
        .unwrap();
    assert_eq!(l.head(), head2);
    assert_eq!(l.root(), recomputed_root(&l));
    assert_eq!(l.payload(rc.seq).unwrap().unwrap().content(), b"second");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None);
    assert_eq!(l.append(e, p).unwrap().seq, Seq(head2.size));
    // The state machine state survived: a second RecordOpened is refused.
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    assert!(matches!(l.append(e, p), Err(StoreError::Refused(_))));
    // recorded_at never goes backwards across a reopen, even if the clock does: a step
    // back within the genesis skew (300 s) is clamped; a larger one is refused.
    clock.set(Timestamp(head2.last_recorded_at.0 - 60_000_000));
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::Contact, None);
    let rc = l.append(e, p).unwrap();
    assert!(rc.recorded_at >= head2.last_recorded_at);
    clock.set_day("2024-01-01");
    let (e, p) = sign(
        "lic",
        &Cast::TEST.licensee.key(),
        Some(&r),
        EventKind::Contact,
        date("2024-01-01"),
        None,
    );
    assert!(matches!(
        l.append(e, p),
        Err(StoreError::ClockBehind { skew_secs: 300, .. })
    ));
}

#[test]
fn deferred_appends_are_durable_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Deferred);
    let flushes = l.stats().flushes;
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    assert_eq!(
        l.stats().flushes,
        flushes,
        "Deferred must not flush per append"
    );
    l.flush().unwrap();
    let head = l.head();
    drop(l);
    assert_eq!(
        Ledger::open(dir.path(), OpenOptions::default())
            .unwrap()
            .head(),
        head
    );
}

#[test]
fn second_open_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.create(dir.path(), clock.options(Durability::Immediate));
    let err = Ledger::open(dir.path(), OpenOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::InUse { .. }), "{err:?}");
    assert!(err
        .to_string()
        .contains("ledger is in use by another process"));
    drop(l);
    Ledger::open(dir.path(), OpenOptions::default()).unwrap();
}

/// Runs in a child process: opens the ledger named by the environment and reports.
#[test]
fn child_open_probe() {
    let Ok(dir) = std::env::var("CASELEDGER_PROBE_DIR") else {
        return;
    };
    match Ledger::open(&dir, OpenOptions::default()) {
        Err(StoreError::InUse { .. }) => println!("PROBE:in-use"),
        Err(e) => println!("PROBE:error {e}"),
        Ok(_) => println!("PROBE:opened"),
    }
}

#[test]
fn second_process_is_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.create(dir.path(), clock.options(Durability::Immediate));
    let probe = || {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "child_open_probe",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("CASELEDGER_PROBE_DIR", dir.path())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let seen = probe();
    assert!(seen.contains("PROBE:in-use"), "{seen}");
    drop(l);
    let seen = probe();
    assert!(seen.contains("PROBE:opened"), "{seen}");
}

#[test]
fn not_a_ledger_and_already_exists() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        Ledger::open(dir.path(), OpenOptions::default()),
        Err(StoreError::NotALedger { .. })
    ));
    // Opening a non-ledger creates nothing.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    let clock = TestClock::at("2024-01-10");
    drop(Cast::TEST.create(dir.path(), clock.options(Durability::Immediate)));
    let admin = Cast::TEST.admin.key();
    let err = Ledger::create(
        dir.path(),
        caseledger_store::CreateOptions {
            origin: text(ORIGIN),
            admin: actor("admin"),
            admin_key: &admin,
            ledger_key: Cast::TEST.ledger_key().public_key(),
            settings: Default::default(),
            open: OpenOptions::default(),
        },
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    // The existing ledger is untouched.
    assert_eq!(
        Ledger::open(dir.path(), OpenOptions::default())
            .unwrap()
            .head()
            .size,
        1
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    for n in ["sled", "checkpoints.log", "lock"] {
        assert!(names.contains(&n.to_string()), "{names:?}");
    }
}

#[test]
fn failed_create_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new");
    let clock = TestClock::at("2024-01-10");
    // A genesis whose signature does not verify (signed by another key).
    let (mut e, _) = sign(
        "admin",
        &Cast::TEST.admin.key(),
        None,
        EventKind::Genesis {
            origin: text(ORIGIN),
            admin: actor("admin"),
            admin_key: Cast::TEST.admin.key().public_key(),
            ledger_key: Cast::TEST.ledger_key().public_key(),
            settings: Default::default(),
        },
        clock.today(),
        None,
    );
    e.signature = caseledger_core::event::AuthorSignature::Ed25519(
        Cast::TEST.licensee.key().sign(b"something else"),
    );
    let err = Ledger::create_with_genesis(
        &path,
        e,
        Cast::TEST.sealing(clock.options(Durability::Immediate)),
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::BadSignature { .. }), "{err:?}");
    assert!(!path.exists());
    // A non-genesis first event is refused too.
    let (e, _) = sign(
        "admin",
        &Cast::TEST.admin.key(),
        None,
        EventKind::KeyRevoked { actor: actor("x") },
        clock.today(),
        None,
    );
    assert!(Ledger::create_with_genesis(
        &path,
        e,
        Cast::TEST.sealing(clock.options(Durability::Immediate))
    )
    .is_err());
    assert!(!path.exists());
}

#[test]
fn open_refuses_a_ledger_shorter_than_it_recorded() {
    // Entries lost from the tree (sled dropping a damaged tail) while meta says more.
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let size = l.head().size;
    drop(l);
    {
        // sled's lock may outlive the dropped ledger for a moment: tamper::db waits for it.
        let db = caseledger_testkit::tamper::db(dir.path());
        db.open_tree("entries")
            .unwrap()
            .remove((size - 1).to_be_bytes())
            .unwrap();
        db.flush().unwrap();
    }
    let err = Ledger::open(dir.path(), OpenOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains("head says"), "{err}");

    // A checkpoint in the log names more entries than the ledger has (an old copy restored).
    let dir = tempfile::tempdir().unwrap();
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let note = l.newest_seal().unwrap().unwrap().1;
    let size = l.head().size;
    drop(l);
    let bigger = note.replacen(&format!("\n{size}\n"), &format!("\n{}\n", size + 5), 1);
    let mut log = std::fs::read(dir.path().join("checkpoints.log")).unwrap();
    log.extend(caseledger_store::layout::frame_log_record(&bigger));
    std::fs::write(dir.path().join("checkpoints.log"), &log).unwrap();
    let err = Ledger::open(dir.path(), OpenOptions::default()).unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("checkpoint names {}", size + 5)),
        "{err}"
    );
}

#[test]
fn open_removes_an_unfinished_sled_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let head = l.head();
    drop(l);
    // What a kill -9 during sled's snapshot leaves behind; sled 0.34.7 would read it.
    let stale = dir
        .path()
        .join("sled")
        .join("snap.00000000DEADBEEF.generating");
    std::fs::write(&stale, b"").unwrap();
    std::fs::set_permissions(&stale, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let l = Ledger::open(dir.path(), OpenOptions::default()).unwrap();
    assert_eq!(l.head(), head);
    assert!(!stale.exists());
}

/// Every directory 0700 and every file 0600 under `dir`.
fn assert_private(dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut stack = vec![dir.to_path_buf()];
    let mut files = 0;
    while let Some(d) = stack.pop() {
        let m = std::fs::metadata(&d).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, 0o700, "{}", d.display());
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let m = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
                assert_eq!(m, 0o600, "{}", p.display());
                files += 1;
            }
        }
    }
    assert!(files >= 4, "sled's files, the log and the lock");
}

#[test]
fn ledger_files_are_private_and_an_exposed_ledger_is_refused_for_writing() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger");
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(&path, &clock, Durability::Immediate);
    let (e, p) = Cast::TEST.licensee_event(&clock, &rid("C-1"), EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    l.close().unwrap();
    assert_private(&path);
    let l = Ledger::open(&path, clock.options(Durability::Immediate)).unwrap();
    l.close().unwrap();
    assert_private(&path);

    // A file others can read: refused, naming the file and the fix.
    let db = path.join("sled/db");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Ledger::open(&path, clock.options(Durability::Immediate)).unwrap_err();
    assert!(
        matches!(err, StoreError::Exposed { mode: 0o644, .. }),
        "{err}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("sled/db") && msg.contains(&format!("chmod -R go-rwx {}", path.display())),
        "{msg}"
    );
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();
    // The directory itself open to the group: refused too.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o750)).unwrap();
    assert!(matches!(
        Ledger::open(&path, clock.options(Durability::Immediate)),
        Err(StoreError::Exposed { mode: 0o750, .. })
    ));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
    Ledger::open(&path, clock.options(Durability::Immediate)).unwrap();
}

/// sled's own flush writes a large value's blob file without any fsync (and its log with
/// `sync_file_range` only); the store's flush fsyncs what a commit may have made a blob, and
/// only then: a small payload syncs no blob file, a 300 KiB one does, and it reads back
/// after a reopen.
#[test]
fn a_flush_fsyncs_the_blob_files_a_large_payload_became() {
    let dir = tempfile::tempdir().unwrap();
    let clock = TestClock::at("2024-01-10");
    let l = Cast::TEST.staffed_on(dir.path(), &clock, Durability::Immediate);
    let r = rid("C-1");
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::RecordOpened, None);
    l.append(e, p).unwrap();
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, Some(b"small"));
    l.append(e, p).unwrap();
    assert_eq!(l.stats().blobs_synced, 0, "no value was large enough");
    let big: Vec<u8> = (0..300u32 << 10).map(|i| (i % 251) as u8).collect();
    let (e, p) = Cast::TEST.licensee_event(&clock, &r, EventKind::ProgressNote, Some(&big));
    let rc = l.append(e, p).unwrap();
    assert!(
        dir.path().join("sled/blobs").read_dir().unwrap().count() >= 1,
        "sled keeps a 300 KiB value in a blob file"
    );
    assert!(l.stats().blobs_synced >= 1, "{:?}", l.stats());
    drop(l);
    let l = Cast::TEST
        .open(dir.path(), clock.options(Durability::Immediate))
        .unwrap();
    assert_eq!(l.payload(rc.seq).unwrap().unwrap().content(), &big[..]);
}
