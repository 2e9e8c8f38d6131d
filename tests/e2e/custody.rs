//! Key custody (issue 13): private keys live in a key directory outside the ledger; the
//! ledger is private to its user whatever the umask and refused for writing otherwise;
//! the content key (KEK) comes back from its recovery kit; passphrase-encrypted keys work
//! without a terminal; a report signs through ssh-agent.

use caseledger_testkit::cli::{bin_in, fails, ok, stderr, stdout, Fixture};
use caseledger_testkit::ORIGIN;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn mode(p: &Path) -> u32 {
    fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every directory under `dir` (and `dir`) has `dirs`, every file `files`; returns how many
/// files were checked.
fn assert_modes(dir: &Path, dirs: u32, files: u32) -> usize {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        assert_eq!(mode(&d), dirs, "{}", d.display());
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                assert_eq!(mode(&p), files, "{}", p.display());
                n += 1;
            }
        }
    }
    n
}

fn write_0600(p: &Path, bytes: &[u8]) {
    fs::write(p, bytes).unwrap();
    fs::set_permissions(p, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn init_under_umask_022_gives_a_private_ledger_and_key_directory() {
    let f = Fixture::empty();
    let bin = caseledger_testkit::cli::caseledger_bin();
    // The shell sets the umask, then runs the binary with the test's environment.
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 022 && "$BIN" init L --origin "$ORIGIN" && "$BIN" actor add --ledger L --id lic-1 --role licensee && "$BIN" append --ledger L --author lic-1 --record C-1 --kind record_opened --occurred-on 2024-01-01 && "$BIN" checkpoint --ledger L"#)
        .current_dir(f.dir())
        .env("BIN", &bin)
        .env("ORIGIN", ORIGIN)
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .env_remove("CASELEDGER_KEYS")
        .env_remove("CASELEDGER_LEDGER")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    // A file made under this umask would be 0644: the ledger's are not.
    let probe = Command::new("sh")
        .args(["-c", "umask 022 && touch probe && stat -c %a probe"])
        .current_dir(f.dir())
        .output()
        .unwrap();
    assert_eq!(stdout(&probe).trim(), "644");
    assert!(assert_modes(&f.ledger(), 0o700, 0o600) >= 4);
    assert!(assert_modes(&f.keys(), 0o700, 0o600) >= 6);
    // The stderr of init says where the keys are and that the kit goes offsite.
    let o = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 022 && "$BIN" init M --origin example.org/m"#)
        .current_dir(f.dir())
        .env("BIN", &bin)
        .env("XDG_CONFIG_HOME", f.path(".config"))
        .env_remove("CASELEDGER_KEYS")
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains("KEEP A COPY OFFSITE") && err.contains("recovery-kit.age"),
        "{err}"
    );
    assert!(err.contains("never in the ledger directory"), "{err}");
}

#[test]
fn a_ledger_others_can_read_is_refused_for_writing_with_the_fix_but_still_verified() {
    let f = Fixture::small();
    let append = [
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-06-01",
    ];
    for (path, m) in [
        (f.ledger(), 0o755),
        (f.ledger().join("checkpoints.log"), 0o644),
        (f.ledger().join("sled/db"), 0o604),
    ] {
        let before = f.snapshot();
        f.chmod(&path, m);
        let line = fails(&f.run(&append));
        assert!(
            line.contains("accessible by group or others")
                && line.contains(&format!("{m:04o}"))
                && line.contains("chmod -R go-rwx L"),
            "{line}"
        );
        // Exit 2 is "nothing written" for every writing command, checkpoint too.
        fails(&f.run(&["checkpoint", "--ledger", "L"]));
        // An evidence copy is verified whatever its modes.
        let v = f.run(&["verify", "--ledger", "L"]);
        assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
        // The fix in the message works.
        let fix = Command::new("chmod")
            .args(["-R", "go-rwx", "L"])
            .current_dir(f.dir())
            .status()
            .unwrap();
        assert!(fix.success());
        assert_eq!(before, f.snapshot(), "a refused command wrote something");
    }
    ok(&f.run(&append));
    assert_modes(&f.ledger(), 0o700, 0o600);
}

#[test]
fn a_key_directory_inside_the_ledger_is_refused_and_nothing_is_written() {
    let f = Fixture::empty();
    for keys in ["L/keys", "L", "L/./k", "L/a/../keys"] {
        let line = fails(&f.run(&["init", "L", "--origin", ORIGIN, "--keys", keys]));
        assert!(
            line.contains("inside the ledger directory"),
            "{keys}: {line}"
        );
        assert!(!f.ledger().exists(), "{keys}");
    }
    // Through a symlink to the ledger's parent, too.
    fs::create_dir(f.path("d")).unwrap();
    std::os::unix::fs::symlink(f.path("d"), f.path("link")).unwrap();
    let line = fails(&f.run(&["init", "d/L", "--origin", ORIGIN, "--keys", "link/L/keys"]));
    assert!(line.contains("inside the ledger directory"), "{line}");
    // A later command given such a --keys is refused too.
    ok(&f.run(&["init", "L", "--origin", ORIGIN]));
    let line = fails(&f.run(&[
        "actor", "revoke", "--ledger", "L", "--id", "nobody", "--keys", "L/k",
    ]));
    assert!(line.contains("inside the ledger directory"), "{line}");
    // A second ledger of the same origin does not take over the first one's keys.
    let line = fails(&f.run(&["init", "L2", "--origin", ORIGIN]));
    assert!(
        line.contains("already holds") && line.contains("--keys"),
        "{line}"
    );
    assert!(!f.path("L2").exists());
}

/// Every file under `dir`, with its bytes.
fn files_with_bytes(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    caseledger_testkit::files_under(dir)
        .into_iter()
        .map(|p| {
            let b = fs::read(&p).unwrap();
            (p, b)
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn a_copy_of_the_ledger_directory_holds_no_private_key() {
    let f = Fixture::small();
    ok(&f.run(&[
        "hold", "place", "--ledger", "L", "--record", "C-NEW", "--matter", "M-1", "--author",
        "cust-1",
    ]));
    ok(&f.run(&[
        "export", "--ledger", "L", "--record", "C-NEW", "--out", "b.bundle",
    ]));
    ok(&f.run(&["archive", "export", "--ledger", "L", "--out", "a.cla"]));
    // A copy, as handed to an auditor.
    caseledger_testkit::copy_dir(&f.ledger(), &f.path("copy")).unwrap();
    let copied = files_with_bytes(&f.path("copy"));
    assert!(copied.len() >= 4);
    // Every secret the key directory holds: each private key's seed, and the KEK.
    let mut secrets: Vec<(String, Vec<u8>)> = Vec::new();
    for p in caseledger_testkit::files_under(&f.keys()) {
        if p.extension().is_some_and(|e| e == "pem") {
            let k = caseledger_keyfile::read(&p).unwrap();
            secrets.push((p.display().to_string(), k.seed().to_vec()));
        }
    }
    assert_eq!(secrets.len(), 4, "ledger, admin, lic-1, cust-1");
    secrets.push((
        "kek".into(),
        caseledger_keyfile::read_kek(&f.keys())
            .unwrap()
            .as_bytes()
            .to_vec(),
    ));
    let markers: [&[u8]; 5] = [
        b"PRIVATE KEY",
        b"OPENSSH PRIVATE KEY",
        b"ENCRYPTED PRIVATE KEY",
        b"AGE-SECRET-KEY-",
        b"BEGIN AGE ENCRYPTED FILE",
    ];
    let mut scanned = copied;
    for extra in ["b.bundle", "a.cla", "L/checkpoints.log"] {
        scanned.push((f.path(extra), fs::read(f.path(extra)).unwrap()));
    }
    for (path, bytes) in &scanned {
        for m in markers {
            assert!(
                !contains(bytes, m),
                "{} holds {:?}",
                path.display(),
                String::from_utf8_lossy(m)
            );
        }
        for (what, secret) in &secrets {
            let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
            assert!(
                !contains(bytes, secret),
                "{} holds the raw bytes of {what}",
                path.display()
            );
            assert!(
                !contains(bytes, hex.as_bytes()),
                "{} holds {what} in hex",
                path.display()
            );
        }
    }
    // The scan does find a seed where there is one (the key directory itself).
    let ledger_pem = files_with_bytes(&f.keys());
    assert!(ledger_pem.iter().any(|(_, b)| contains(b, b"PRIVATE KEY")));
    assert!(ledger_pem
        .iter()
        .any(|(_, b)| contains(b, &secrets.last().unwrap().1)));
    // And the copy verifies without any key.
    ok(&f.run(&["verify", "--ledger", "copy"]));
}

fn run_env(f: &Fixture, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let mut c = bin_in(f.dir());
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args).output().unwrap()
}

#[test]
fn the_content_key_is_restored_from_the_recovery_kit() {
    let f = Fixture::empty();
    ok(&f.run(&["init", "L", "--origin", ORIGIN]));
    let keys = f.keys();
    let kek = fs::read(keys.join("kek")).unwrap();
    assert_eq!(kek.len(), 32);
    let kit = keys.join("recovery-kit.age");
    let identity = keys.join("recovery-identity.txt");
    assert!(fs::read_to_string(&kit)
        .unwrap()
        .starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    // The practice keeps the kit and the identity offsite; then the key directory is lost.
    fs::copy(&kit, f.path("offsite-kit.age")).unwrap();
    fs::copy(&identity, f.path("offsite-identity.txt")).unwrap();
    fs::remove_dir_all(&keys).unwrap();
    let k = keys.display().to_string();
    ok(&f.run(&[
        "keys",
        "recover",
        "--kit",
        "offsite-kit.age",
        "--identity",
        "offsite-identity.txt",
        "--keys",
        &k,
    ]));
    assert_eq!(fs::read(keys.join("kek")).unwrap(), kek, "the same key");
    assert_eq!(mode(&keys.join("kek")), 0o600);
    assert_eq!(mode(&keys), 0o700);
    // Again: the same key is already there.
    let o = f.run(&[
        "keys",
        "recover",
        "--kit",
        "offsite-kit.age",
        "--identity",
        "offsite-identity.txt",
        "--keys",
        &k,
    ]);
    assert!(stderr(&ok_out(o)).contains("already there"));
    // A different KEK in place is never replaced.
    write_0600(&keys.join("kek"), &[7u8; 32]);
    let line = fails(&f.run(&[
        "keys",
        "recover",
        "--kit",
        "offsite-kit.age",
        "--identity",
        "offsite-identity.txt",
        "--keys",
        &k,
    ]));
    assert!(
        line.contains("differs") && line.contains("refusing"),
        "{line}"
    );
    // Another identity does not open the kit.
    let (other, _) = caseledger_keyfile::kek::generate_recovery_identity();
    write_0600(&f.path("other.txt"), other.as_bytes());
    fs::remove_file(keys.join("kek")).unwrap();
    let line = fails(&f.run(&[
        "keys",
        "recover",
        "--kit",
        "offsite-kit.age",
        "--identity",
        "other.txt",
        "--keys",
        &k,
    ]));
    assert!(line.contains("does not open"), "{line}");
    assert!(!line.contains("AGE-SECRET-KEY"), "{line}");
}

fn ok_out(o: Output) -> Output {
    ok(&o);
    o
}

#[test]
fn recovery_kits_wrapped_to_a_passphrase_or_an_age_recipient() {
    let f = Fixture::empty();
    write_0600(&f.path("kit-pw"), b"a long recovery passphrase\n");
    ok(&f.run(&[
        "init",
        "L",
        "--origin",
        ORIGIN,
        "--keys",
        "k1",
        "--recovery-passphrase-file",
        "kit-pw",
    ]));
    assert!(
        !f.path("k1/recovery-identity.txt").exists(),
        "no identity is generated"
    );
    let kek = fs::read(f.path("k1/kek")).unwrap();
    fs::remove_file(f.path("k1/kek")).unwrap();
    write_0600(&f.path("wrong-pw"), b"another passphrase\n");
    let line = fails(&f.run(&[
        "keys",
        "recover",
        "--kit",
        "k1/recovery-kit.age",
        "--keys",
        "k1",
        "--passphrase-file",
        "wrong-pw",
    ]));
    assert!(
        line.contains("does not open") && !line.contains("another passphrase"),
        "{line}"
    );
    assert!(!f.path("k1/kek").exists());
    // CASELEDGER_PASSPHRASE_FILE serves when no flag is given.
    let o = run_env(
        &f,
        &[
            "keys",
            "recover",
            "--kit",
            "k1/recovery-kit.age",
            "--keys",
            "k1",
        ],
        &[("CASELEDGER_PASSPHRASE_FILE", &f.path("kit-pw"))],
    );
    ok(&o);
    assert_eq!(fs::read(f.path("k1/kek")).unwrap(), kek);

    // An age recipient: the identity never touches this machine's key directory.
    let (identity, recipient) = caseledger_keyfile::kek::generate_recovery_identity();
    write_0600(&f.path("offline-identity.txt"), identity.as_bytes());
    ok(&f.run(&[
        "init",
        "M",
        "--origin",
        "example.org/m",
        "--keys",
        "k2",
        "--recovery-recipient",
        &recipient,
    ]));
    assert!(!f.path("k2/recovery-identity.txt").exists());
    let kek = fs::read(f.path("k2/kek")).unwrap();
    fs::remove_file(f.path("k2/kek")).unwrap();
    ok(&f.run(&[
        "keys",
        "recover",
        "--kit",
        "k2/recovery-kit.age",
        "--keys",
        "k2",
        "--identity",
        "offline-identity.txt",
    ]));
    assert_eq!(fs::read(f.path("k2/kek")).unwrap(), kek);
    let line = fails(&f.run(&[
        "init",
        "N",
        "--origin",
        "example.org/n",
        "--keys",
        "k3",
        "--recovery-recipient",
        "age1notarecipient",
    ]));
    assert!(line.contains("--recovery-recipient"), "{line}");
    assert!(!f.path("N").exists() && !f.path("k3/kek").exists());
}

#[test]
fn encrypted_keys_work_with_a_passphrase_file_and_a_wrong_one_is_exit_2() {
    let f = Fixture::empty();
    let pw = f.path("pw");
    write_0600(&pw, b"correct horse battery staple\n");
    let env = [("CASELEDGER_PASSPHRASE_FILE", pw.as_path())];
    ok(&run_env(
        &f,
        &["init", "L", "--origin", ORIGIN, "--encrypt-keys"],
        &env,
    ));
    for k in ["ledger.pem", "actors/admin.pem"] {
        let text = fs::read_to_string(f.keys().join(k)).unwrap();
        assert!(
            text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"),
            "{k}"
        );
    }
    ok(&run_env(
        &f,
        &[
            "actor", "add", "--ledger", "L", "--id", "lic-1", "--role", "licensee",
        ],
        &env,
    ));
    assert!(is_encrypted_pem(&f.keys().join("actors/lic-1.pem")));
    ok(&run_env(
        &f,
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-1",
            "--record",
            "C-1",
            "--kind",
            "record_opened",
            "--occurred-on",
            "2024-01-01",
        ],
        &env,
    ));
    ok(&run_env(&f, &["checkpoint", "--ledger", "L"], &env));
    let bad = f.path("bad");
    write_0600(&bad, b"wrong horse\n");
    let before = f.snapshot();
    // A wrong passphrase: exit 2, one clear line, no key material, nothing written.
    // Both refusals below come from the same append, which reads the (encrypted) ledger key.
    let contact = [
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-1",
        "--record",
        "C-1",
        "--kind",
        "contact",
        "--occurred-on",
        "2024-01-01",
    ];
    let o = run_env(&f, &contact, &[("CASELEDGER_PASSPHRASE_FILE", &bad)]);
    let line = fails(&o);
    assert!(
        line.contains("wrong passphrase") && line.contains("ledger.pem"),
        "{line}"
    );
    assert!(
        !line.contains("horse") && !line.contains("PRIVATE KEY"),
        "{line}"
    );
    // No passphrase source and no terminal: says how to give one.
    let line = fails(&f.run(&contact));
    assert!(line.contains("CASELEDGER_PASSPHRASE_FILE"), "{line}");
    assert_eq!(before, f.snapshot());
    // keys generate --encrypt writes one that openssl-style readers open with the passphrase.
    ok(&run_env(
        &f,
        &["keys", "generate", "--out", "w.pem", "--encrypt"],
        &env,
    ));
    assert!(fs::read_to_string(f.path("w.pem"))
        .unwrap()
        .contains("ENCRYPTED PRIVATE KEY"));
    let o = run_env(
        &f,
        &["keys", "export", "--key", "w.pem", "--format", "ssh"],
        &env,
    );
    assert!(stdout(&ok_out(o)).starts_with("ssh-ed25519 "));
}

fn is_encrypted_pem(p: &Path) -> bool {
    fs::read_to_string(p)
        .unwrap()
        .starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----")
}

#[test]
fn actors_added_to_a_ledger_with_encrypted_keys_get_encrypted_keys() {
    let f = Fixture::empty();
    let pw = f.path("pw");
    write_0600(&pw, b"correct horse battery staple\n");
    let bad = f.path("bad");
    write_0600(&bad, b"wrong horse\n");
    let env = [("CASELEDGER_PASSPHRASE_FILE", pw.as_path())];
    ok(&run_env(
        &f,
        &["init", "L", "--origin", ORIGIN, "--encrypt-keys"],
        &env,
    ));
    let add = |id: &'static str, extra: &[&'static str]| -> Vec<&'static str> {
        let mut a = vec![
            "actor", "add", "--ledger", "L", "--id", id, "--role", "licensee",
        ];
        a.extend_from_slice(extra);
        a
    };
    let lic1 = f.keys().join("actors/lic-1.pem");
    // A wrong passphrase, or none: exit 2, one clear line, no key file, nothing appended.
    let before = f.snapshot();
    let line = fails(&run_env(
        &f,
        &add("lic-1", &[]),
        &[("CASELEDGER_PASSPHRASE_FILE", &bad)],
    ));
    assert!(line.contains("wrong passphrase"), "{line}");
    assert!(!line.contains("horse"), "{line}");
    let line = fails(&f.run(&add("lic-1", &[])));
    assert!(line.contains("CASELEDGER_PASSPHRASE_FILE"), "{line}");
    assert!(!lic1.exists() && !lic1.with_extension("pub").exists());
    assert_eq!(before, f.snapshot());
    // The passphrase given: the new key is encrypted (with it) like the ledger's.
    let o = run_env(&f, &add("lic-1", &[]), &env);
    assert!(stderr(&ok_out(o)).contains("passphrase-encrypted"));
    assert!(is_encrypted_pem(&lic1));
    assert_eq!(mode(&lic1), 0o600);
    let export = [
        "keys",
        "export",
        "--key",
        lic1.to_str().unwrap(),
        "--format",
        "ssh",
    ];
    let line = fails(&run_env(
        &f,
        &export,
        &[("CASELEDGER_PASSPHRASE_FILE", &bad)],
    ));
    assert!(
        line.contains("wrong passphrase") && line.contains("lic-1.pem"),
        "{line}"
    );
    let ssh = stdout(&ok_out(run_env(&f, &export, &env)));
    assert_eq!(
        ssh.split(' ').take(2).collect::<Vec<_>>(),
        fs::read_to_string(lic1.with_extension("pub"))
            .unwrap()
            .split(' ')
            .take(2)
            .collect::<Vec<_>>()
    );
    ok(&run_env(
        &f,
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-1",
            "--record",
            "C-1",
            "--kind",
            "record_opened",
            "--occurred-on",
            "2024-01-01",
        ],
        &env,
    ));
    // An actor enrolled by an import line: encrypted too.
    f.write(
        "enrol.jsonl",
        br#"{"kind":"actor_enrolled","actor":"lic-3","role":"licensee","occurred_on":"2024-01-02","author":"admin"}
"#,
    );
    ok(&run_env(
        &f,
        &["import", "--ledger", "L", "enrol.jsonl"],
        &env,
    ));
    assert!(is_encrypted_pem(&f.keys().join("actors/lic-3.pem")));
    // --no-encrypt-key keeps the unencrypted option; it reads without a passphrase.
    ok(&run_env(&f, &add("lic-2", &["--no-encrypt-key"]), &env));
    let lic2 = f.keys().join("actors/lic-2.pem");
    assert!(fs::read_to_string(&lic2)
        .unwrap()
        .starts_with("-----BEGIN PRIVATE KEY-----"));
    ok(&f.run(&[
        "keys",
        "export",
        "--key",
        lic2.to_str().unwrap(),
        "--format",
        "ssh",
    ]));
    // On a ledger with unencrypted keys, --encrypt-key asks for one.
    ok(&f.run(&["init", "M", "--origin", "example.org/m", "--keys", "mk"]));
    let plain = [
        "actor", "add", "--ledger", "M", "--keys", "mk", "--id", "lic-1", "--role", "licensee",
    ];
    ok(&f.run(&plain));
    assert!(!is_encrypted_pem(&f.path("mk/actors/lic-1.pem")));
    let mut enc = plain.to_vec();
    enc[7] = "lic-4";
    enc.push("--encrypt-key");
    fails(&f.run(&enc));
    ok(&run_env(&f, &enc, &env));
    assert!(is_encrypted_pem(&f.path("mk/actors/lic-4.pem")));
}

#[test]
fn a_report_signs_through_ssh_agent() {
    if !crate::agent::available() {
        println!("skipped: ssh-agent, ssh-add or ssh-keygen not installed (apt-get install openssh-client)");
        return;
    }
    let f = Fixture::small();
    crate::agent::with_key(&f, "id_ed25519", "reports@practice", |sock| {
        let day = caseledger_testkit::cli::today();
        let args = [
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            day.as_str(),
            "--ssh-key",
            "id_ed25519.pub",
            "--out",
            "rep",
        ];
        let o = run_env(&f, &args, &[("SSH_AUTH_SOCK", sock)]);
        ok(&o);
        ok(&f.run(&["report", "verify", "rep", "--key", "id_ed25519.pub"]));
        let identity = fs::read_to_string(f.path("rep/allowed_signers")).unwrap();
        let identity = identity.split(' ').next().unwrap().to_owned();
        let v = Command::new("sh")
            .arg("-c")
            .arg(format!("ssh-keygen -Y verify -f rep/allowed_signers -I '{identity}' -n caseledger-report -s rep/manifest.sha256.sig < rep/manifest.sha256"))
            .current_dir(f.dir())
            .output()
            .unwrap();
        assert!(v.status.success(), "{}", stderr(&v));
        // Without the agent: a clear error.
        let line = fails(&f.run(&[
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            day.as_str(),
            "--ssh-key",
            "id_ed25519.pub",
            "--out",
            "rep2",
        ]));
        assert!(line.contains("SSH_AUTH_SOCK"), "{line}");
    });
}
