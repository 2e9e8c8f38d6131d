//! Damaged sled storage is a `storage_damaged` finding (exit 1) without sled's text;
//! `verify --read-only` verifies a private copy and writes nothing into the evidence.

use caseledger_testkit::cli::{ok, stderr, stdout, Fixture};
use caseledger_testkit::files_under;
use std::path::Path;

/// Every file's (path, len, mtime, bytes) under `dir`.
fn snapshot(dir: &Path) -> Vec<(std::path::PathBuf, u64, std::time::SystemTime, Vec<u8>)> {
    let mut files = files_under(dir);
    files.sort();
    files
        .into_iter()
        .map(|f| {
            let m = std::fs::metadata(&f).expect("metadata");
            (
                f.clone(),
                m.len(),
                m.modified().expect("mtime"),
                std::fs::read(&f).expect("read"),
            )
        })
        .collect()
}

#[test]
fn corrupted_storage_is_a_finding_not_sleds_text() {
    let f = Fixture::small();
    // A first verify lets sled write its snapshot; zeroed bytes it points into are then
    // reported corrupted by sled on open.
    ok(&f.run(&["verify", "--ledger", "L"]));
    let db = f.ledger().join("sled/db");
    let mut b = std::fs::read(&db).expect("read");
    b[21..25].fill(0);
    std::fs::write(&db, &b).expect("write");
    let o = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains("every entry was deleted"), "{all}");
    assert!(all.contains("storage_damaged"), "{all}");
    for sled_text in ["offset", "backtrace", "Inline"] {
        assert!(!all.contains(sled_text), "{all}");
    }
}

#[test]
fn read_only_verifies_a_copy_and_leaves_the_evidence_untouched() {
    let f = Fixture::small();
    let before = snapshot(&f.ledger());
    let o = f.run(&["verify", "--ledger", "L", "--read-only"]);
    ok(&o);
    assert!(
        stderr(&o).contains("verified a temporary copy"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        snapshot(&f.ledger()),
        before,
        "verify --read-only wrote into the evidence"
    );
}

/// A tmpfs mount, unmounted on drop.
struct Mount(std::path::PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Option<Mount> {
        std::fs::create_dir_all(at).ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
            .arg(at)
            .output()
            .is_ok_and(|o| o.status.success());
        ok.then(|| Mount(at.to_path_buf()))
    }
    fn read_only(&self) -> bool {
        std::process::Command::new("mount")
            .args(["-o", "remount,ro"])
            .arg(&self.0)
            .output()
            .is_ok_and(|o| o.status.success())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).output();
    }
}

// Without the flag, on a really read-only file system (EROFS): the probe finds it and the
// copy is verified. Where mounting is not permitted, `--read-only` above covers the path.
#[test]
fn a_read_only_file_system_is_verified_through_a_copy() {
    let f = Fixture::small();
    let Some(mount) = Mount::tmpfs(&f.path("media")) else {
        eprintln!("mount not permitted here: the read-only file system case is skipped");
        return;
    };
    caseledger_testkit::copy_dir(&f.ledger(), &f.path("media/L")).expect("copy");
    assert!(mount.read_only(), "remount read-only");
    let before = snapshot(&f.path("media/L"));
    let o = f.run(&["verify", "--ledger", "media/L"]);
    ok(&o);
    assert!(
        stderr(&o).contains("verified a temporary copy"),
        "{}",
        stderr(&o)
    );
    assert_eq!(snapshot(&f.path("media/L")), before);
    drop(mount);
}
