//! README.md's "Using it" walk-through runs as written, command by command, in a fresh
//! directory, against the debug binary: a newcomer copying it line by line meets no error
//! the README does not announce. Also docs/GUIDE.md's "A ledger in five commands" and the example's own README
//! (`ledger-data/example/`).
//!
//! The blocks are read from the files at test time (never copied here), so an edit to the
//! README that breaks a step fails this test. What the walk-through says comes from
//! someone else is provided, and only that: the witness operator's key (`board.vkey`), and a
//! TSA: the README's placeholder URL is replaced by a test TSA on loopback and its root
//! certificate is `tsa-root.pem`. The witness at `http://127.0.0.1:8440` is not running,
//! which `witness sync` reports without failing, as the README says.

use caseledger_testkit::cli::caseledger_bin;
use caseledger_testkit::tsa::{TestTsa, TsaOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// The repository root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the repository root")
        .to_path_buf()
}

/// The commands of the first ```sh block after `heading` in `file` (continuation lines
/// joined, blank lines dropped).
fn commands(file: &Path, heading: &str) -> Vec<String> {
    let text = std::fs::read_to_string(file).expect("read the README");
    let after = text
        .split_once(heading)
        .unwrap_or_else(|| panic!("{}: no heading {heading:?}", file.display()))
        .1;
    let block = after
        .split_once("```sh\n")
        .expect("a ```sh block")
        .1
        .split_once("```")
        .expect("the block's end")
        .0;
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in block.lines() {
        match line.trim_end().strip_suffix('\\') {
            Some(head) => {
                cur.push_str(head);
                cur.push(' ');
            }
            None => {
                cur.push_str(line);
                if !cur.trim().is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                cur.clear();
            }
        }
    }
    out
}

/// A fresh directory for a walk-through: `ledger-data` is the repository's (read only),
/// HOME and the default key directory are inside it, and `caseledger` is on PATH.
struct Walk {
    dir: tempfile::TempDir,
    path: std::ffi::OsString,
}

impl Walk {
    fn new() -> Walk {
        let dir = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(repo().join("ledger-data"), dir.path().join("ledger-data"))
            .expect("link ledger-data");
        let bin_dir = caseledger_bin()
            .parent()
            .expect("the binary's directory")
            .to_path_buf();
        let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        Walk { dir, path }
    }

    /// Runs one README line with bash; returns (exit code, stdout+stderr).
    fn run(&self, line: &str) -> (Option<i32>, String) {
        let d = self.dir.path();
        let o = Command::new("bash")
            .args(["-c", line])
            .current_dir(d)
            .env("PATH", &self.path)
            .env("HOME", d)
            .env("XDG_CONFIG_HOME", d.join(".config"))
            .env("NO_COLOR", "1")
            .env_remove("CASELEDGER_LEDGER")
            .env_remove("CASELEDGER_KEYS")
            .env_remove("CASELEDGER_PASSPHRASE_FILE")
            .env_remove("CASELEDGER_TSA")
            .env_remove("SSH_AUTH_SOCK")
            .output()
            .expect("bash runs");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        (o.status.code(), text)
    }

    /// Runs every line in order: exit 0, except the lines `expected` names (a substring of
    /// the line and its exit code; each must match exactly one line).
    fn run_all(&self, lines: &[String], expected: &[(&str, i32)]) {
        for (needle, _) in expected {
            let n = lines.iter().filter(|l| l.contains(needle)).count();
            assert_eq!(n, 1, "{needle:?} matches {n} README lines, not one");
        }
        for line in lines {
            let want = expected
                .iter()
                .find(|(n, _)| line.contains(n))
                .map_or(0, |(_, c)| *c);
            let (code, text) = self.run(line);
            assert_eq!(
                code,
                Some(want),
                "README line exits {code:?}, not {want}:\n{line}\n{text}"
            );
            assert!(
                !text.contains("panicked") && !text.contains("internal error"),
                "{line}\n{text}"
            );
            assert_eq!(
                crate::newcomer::debug_text(&text),
                None,
                "Rust Debug text:\n{line}\n{text}"
            );
        }
    }
}

#[test]
fn the_readme_walk_through_runs_as_written() {
    let readme = repo().join("README.md");
    // The first block's commands stay true: the Makefile has them.
    let make = std::fs::read_to_string(repo().join("Makefile")).expect("Makefile");
    for first in commands(&readme, "# caseledger\n") {
        let target = first
            .split_whitespace()
            .nth(1)
            .expect("make TARGET")
            .to_owned();
        assert!(
            make.lines().any(|l| l.starts_with(&format!("{target}:"))),
            "README's `{first}`: no target {target} in the Makefile"
        );
    }

    let mut lines = commands(&readme, "## Using it\n");
    assert!(lines.len() >= 20, "the walk-through shrank: {lines:?}");
    let w = Walk::new();
    // Provided by others: the witness operator's key (a real cosignature key).
    let (code, text) = w.run(
        "caseledger keys generate --out board.pem >/dev/null && \
         caseledger keys export --key board.pem --witness --name board > board.vkey",
    );
    assert_eq!(code, Some(0), "{text}");
    // ... and a TSA: the test TSA on loopback for the README's placeholder.
    let tsa = Arc::new(TestTsa::new(&TsaOptions::default()));
    std::fs::copy(tsa.path("ca.pem"), w.dir.path().join("tsa-root.pem")).expect("copy root");
    let (url, server) = tsa.serve(1);
    let placeholder = "https://tsa.example/";
    // `timestamp config set` and `timestamp renew` name it.
    assert_eq!(
        lines.iter().filter(|l| l.contains(placeholder)).count(),
        2,
        "the TSA placeholder moved"
    );
    for l in &mut lines {
        *l = l.replace(placeholder, &url);
    }
    w.run_all(&lines, &[("--author custodian-01 --reason \"RP-5\"  #", 2)]);
    server.join().expect("the test TSA");

    // What the walk-through says it leaves.
    let d = w.dir.path();
    for f in [
        "cp.txt",
        "ledger.vkey",
        "receipts.jsonl",
        "C-0042.bundle",
        "report/report.json",
        "report/manifest.sha256",
        "report.pub",
        "evidence",
        "L/timestamps.log",
    ] {
        assert!(d.join(f).exists(), "the walk-through left no {f}");
    }
    let receipts = std::fs::read_to_string(d.join("receipts.jsonl")).expect("receipts");
    assert_eq!(receipts.lines().count(), 2, "one receipt per append");
}

/// docs/GUIDE.md's "A ledger in five commands", in a fresh directory.
#[test]
fn the_guides_five_commands_run_as_written() {
    let lines = commands(
        &repo().join("docs/GUIDE.md"),
        "## A ledger in five commands",
    );
    assert_eq!(lines.len(), 5, "{lines:?}");
    let w = Walk::new();
    w.run_all(&lines, &[]);
}

/// `ledger-data/example/README.md`: its three commands, in a fresh directory.
#[test]
fn the_example_readme_runs_as_written() {
    let lines = commands(
        &repo().join("ledger-data/example/README.md"),
        "# Example ingest file",
    );
    let w = Walk::new();
    w.run_all(&lines, &[]);
}
