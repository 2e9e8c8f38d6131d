//! Shared by the integration tests of this package (`e2e/`, `reliability/`): where the
//! `caseledger` binary is.
//!
//! `cargo test --workspace` does not build the binary of a package that has no integration
//! tests of its own, and `CARGO_BIN_EXE_caseledger` is only set for tests inside the CLI's
//! package, so these tests find (and if needed build) `target/<profile>/caseledger`
//! themselves. `make test` builds it first, so it is never stale there.

use std::path::{Path, PathBuf};
use std::process::Command;
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
            let mut c = Command::new(cargo);
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
