//! Running the `caseledger` binary as a user would, and a small ledger made through it.
//!
//! `cargo test --workspace` does not build the binary of a package that has no integration
//! tests of its own, and `CARGO_BIN_EXE_caseledger` is only set for tests inside the CLI's
//! package, so [`caseledger_bin`] finds (and if needed builds) `target/<profile>/caseledger`
//! itself. `make test` builds it first, so it is never stale there.

use crate::ORIGIN;
use assert_cmd::Command;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// The `caseledger` binary of this build profile, built once per test process if missing.
pub fn caseledger_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(p) = std::env::var_os("CARGO_BIN_EXE_caseledger") {
            return PathBuf::from(p);
        }
        let exe = std::env::current_exe().expect("the test binary's path");
        // target/<profile>/deps/<test>-<hash> → target/<profile>/caseledger
        let dir = exe
            .parent()
            .and_then(Path::parent)
            .expect("a target directory")
            .to_path_buf();
        let path = dir.join("caseledger");
        if !path.is_file() {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut c = std::process::Command::new(cargo);
            c.args(["build", "-p", "caseledger"])
                .current_dir(env!("CARGO_MANIFEST_DIR"));
            if dir.file_name().is_some_and(|n| n == "release") {
                c.arg("--release");
            }
            let st = c.status().expect("run cargo build -p caseledger");
            assert!(
                st.success() && path.is_file(),
                "could not build the caseledger binary at {}",
                path.display()
            );
        }
        path
    })
    .clone()
}

/// The `caseledger` binary, with a clean environment for the variables it reads. The
/// default key directory points nowhere usable (under `/dev/null`): a test that signs
/// runs in a working directory ([`bin_in`], [`run_in`]) or gives `--keys`.
pub fn bin() -> Command {
    let mut c = Command::new(caseledger_bin());
    c.env_remove("CASELEDGER_LEDGER")
        .env_remove("CASELEDGER_KEYS")
        .env_remove("CASELEDGER_PASSPHRASE_FILE")
        .env_remove("SSH_AUTH_SOCK")
        .env("XDG_CONFIG_HOME", "/dev/null/caseledger-test-config")
        .env("NO_COLOR", "1");
    c
}

/// The `caseledger` binary run in `cwd`, whose default key directories are under
/// `<cwd>/.config` (`XDG_CONFIG_HOME`): outside the ledger directory, gone with the test.
pub fn bin_in(cwd: &Path) -> Command {
    let mut c = bin();
    c.current_dir(cwd)
        .env("XDG_CONFIG_HOME", cwd.join(".config"));
    c
}

/// A path in the default key directory of a [`crate::ORIGIN`] ledger made by [`run_in`],
/// relative to the working directory, as a `&'static str`:
/// `keys_path!("ledger.pem")` is `.config/caseledger/example.org%2Ftest-ledger/ledger.pem`.
#[macro_export]
macro_rules! keys_path {
    ($p:literal) => {
        concat!(".config/caseledger/example.org%2Ftest-ledger/", $p)
    };
}

/// The default key directory of a ledger with `origin` created by [`run_in`] in `cwd`.
pub fn keys_in(cwd: &Path, origin: &str) -> PathBuf {
    cwd.join(".config")
        .join("caseledger")
        .join(caseledger_keyfile::keydir::origin_dir_name(origin))
}

/// Runs `caseledger` with `args` in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    bin_in(cwd).args(args).output().expect("binary runs")
}

/// Runs with stdin.
pub fn run_stdin(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    bin_in(cwd)
        .args(args)
        .write_stdin(stdin.to_vec())
        .output()
        .expect("binary runs")
}

/// Runs `caseledger` in `cwd` with trace logging on (and no inherited ledger variable), to
/// check what the most verbose logging shows.
pub fn run_traced(cwd: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut c = bin_in(cwd);
    c.args(args).env("RUST_LOG", "trace");
    if let Some(s) = stdin {
        c.write_stdin(s.to_vec());
    }
    c.output().expect("caseledger runs")
}

/// Text of stdout.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// Text of stderr.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts success and returns stdout.
#[track_caller]
pub fn ok(o: &Output) -> String {
    assert_eq!(
        o.status.code(),
        Some(0),
        "expected success\nstdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
    stdout(o)
}

/// Asserts the input-error convention: exit 2, exactly one stderr line
/// `caseledger: error: …`, and returns that line.
#[track_caller]
pub fn fails(o: &Output) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(2),
        "expected exit 2\nstdout:\n{}\nstderr:\n{err}",
        stdout(o)
    );
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected exactly one line on stderr, got:\n{err}"
    );
    assert!(
        lines[0].starts_with("caseledger: error: "),
        "not the error convention: {err}"
    );
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "a panic: {err}"
    );
    lines[0].to_owned()
}

/// A ledger in a temporary directory, with the CLI's conventions.
pub struct Fixture {
    /// Keeps the directory alive.
    pub tmp: tempfile::TempDir,
}

/// Today's date, UTC (`YYYY-MM-DD`): the ledger clock's day.
pub fn today() -> String {
    caseledger_core::Timestamp::now()
        .date_utc()
        .expect("a date")
        .to_string()
}

impl Fixture {
    /// An empty working directory.
    pub fn empty() -> Fixture {
        Fixture {
            tmp: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The working directory.
    pub fn dir(&self) -> &Path {
        self.tmp.path()
    }

    /// `<tmp>/L`: the ledger.
    pub fn ledger(&self) -> PathBuf {
        self.dir().join("L")
    }

    /// The ledger `L`'s key directory: the default for [`ORIGIN`] under
    /// `<tmp>/.config` (see [`bin_in`]).
    pub fn keys(&self) -> PathBuf {
        keys_in(self.dir(), ORIGIN)
    }

    /// A path in the working directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }

    /// Runs in the working directory.
    pub fn run(&self, args: &[&str]) -> Output {
        run_in(self.dir(), args)
    }

    /// `caseledger append --ledger L --author AUTHOR --record RECORD --kind KIND
    /// --occurred-on ON [--payload-file FILE]`.
    pub fn append(
        &self,
        author: &str,
        record: &str,
        kind: &str,
        on: &str,
        payload_file: Option<&str>,
    ) -> Output {
        let mut args = vec![
            "append",
            "--ledger",
            "L",
            "--author",
            author,
            "--record",
            record,
            "--kind",
            kind,
            "--occurred-on",
            on,
        ];
        if let Some(file) = payload_file {
            args.extend(["--payload-file", file]);
        }
        self.run(&args)
    }

    /// Writes a file in the working directory.
    pub fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        fs::write(&p, bytes).expect("write");
        p
    }

    /// A small ledger: init, a licensee and a custodian, three records (one terminated long
    /// ago, one recently, one open), payloads, an amendment, a checkpoint.
    pub fn small() -> Fixture {
        let f = Fixture::empty();
        ok(&f.run(&["init", "L", "--origin", ORIGIN, "--private-practice"]));
        ok(&f.run(&[
            "actor", "add", "--ledger", "L", "--id", "lic-1", "--role", "licensee",
        ]));
        ok(&f.run(&[
            "actor",
            "add",
            "--ledger",
            "L",
            "--id",
            "cust-1",
            "--role",
            "custodian",
        ]));
        f.write(
            "note.txt",
            b"Client reports improved sleep. SECRET-CLINICAL-NOTE",
        );
        let lines = [
            r#"{"record":"C-OLD","kind":"record_opened","occurred_on":"2018-03-01","author":"lic-1"}"#,
            r#"{"record":"C-OLD","kind":"assessment","occurred_on":"2018-03-02","author":"lic-1","payload":"assessment text SECRET-CLINICAL-A"}"#,
            r#"{"record":"C-OLD","kind":"service_terminated","occurred_on":"2019-01-15","author":"lic-1"}"#,
            r#"{"record":"C-NEW","kind":"record_opened","occurred_on":"2024-01-10","author":"lic-1"}"#,
            r#"{"record":"C-NEW","kind":"progress_note","occurred_on":"2024-02-10","author":"lic-1","payload":"note SECRET-CLINICAL-B"}"#,
            r#"{"record":"C-NEW","kind":"service_terminated","occurred_on":"2025-01-10","author":"lic-1"}"#,
            r#"{"record":"C-OPEN","kind":"record_opened","occurred_on":"2025-05-01","author":"lic-1"}"#,
        ];
        f.write("events.jsonl", (lines.join("\n") + "\n").as_bytes());
        ok(&f.run(&["import", "--ledger", "L", "events.jsonl"]));
        ok(&f.append(
            "lic-1",
            "C-OPEN",
            "progress_note",
            "2025-05-02",
            Some("note.txt"),
        ));
        ok(&f.run(&["checkpoint", "--ledger", "L"]));
        f
    }

    /// `report retention --ledger L --as-of <today> --signing-key rk.pem --generate-key --out
    /// rep`, followed by `extra`. Today (UTC): the fixture's entries are recorded now, and a
    /// report as of an earlier day would describe none of them.
    pub fn report(&self, extra: &[&str]) -> Output {
        let day = today();
        let mut args = vec![
            "report",
            "retention",
            "--ledger",
            "L",
            "--as-of",
            day.as_str(),
            "--signing-key",
            "rk.pem",
            "--generate-key",
            "--out",
            "rep",
        ];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// What must not change when a command fails: `verify --json`, the checkpoint log and
    /// the list of files (with sizes and modes) in the ledger directory outside sled.
    pub fn snapshot(&self) -> String {
        let v = self.run(&["--json", "verify", "--ledger", "L"]);
        let mut s = stdout(&v);
        s.push_str(&format!("exit {:?}\n", v.status.code()));
        s.push_str(&String::from_utf8_lossy(
            &fs::read(self.ledger().join("checkpoints.log")).unwrap_or_default(),
        ));
        let mut files = Vec::new();
        list(self.dir(), &mut files);
        files.sort();
        s.push_str(&files.join("\n"));
        s
    }

    /// Sets a file's mode.
    pub fn chmod(&self, path: &Path, mode: u32) {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// The ledger's size from `verify --json`.
    pub fn size(&self) -> u64 {
        let v: serde_json::Value =
            serde_json::from_str(&stdout(&self.run(&["--json", "verify", "--ledger", "L"])))
                .expect("verify --json");
        v["size"].as_u64().expect("size")
    }
}

fn list(dir: &Path, out: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        // sled's own files may be rewritten by any open; the verdict covers their content.
        if p.file_name().is_some_and(|n| n == "sled") {
            continue;
        }
        let name = p.to_string_lossy().into_owned();
        let Ok(m) = fs::symlink_metadata(&p) else {
            continue;
        };
        if m.is_dir() {
            out.push(format!("{name}/ {:o}", m.permissions().mode()));
            list(&p, out);
        } else {
            out.push(format!("{name} {} {:o}", m.len(), m.permissions().mode()));
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn keys_path_is_the_default_key_directory_of_origin() {
        let cwd = std::path::Path::new("/w");
        assert_eq!(
            super::keys_in(cwd, crate::ORIGIN).join("ledger.pem"),
            cwd.join(crate::keys_path!("ledger.pem"))
        );
    }
}
