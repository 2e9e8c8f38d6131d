//! Error lines are part of the product: one line on stderr, `caseledger: error: …`, exit 2,
//! no clinical content. `tests/cmd/*.md` snapshot every command's common mistakes (and the
//! set-up steps they need) against the real binary, so a changed word shows in review.
//!
//! Each `<case>.md` runs in a fresh sandbox copied from `<case>.in/` (its input files);
//! `<case>.out/` exists to turn the sandbox on. After changing an error message, regenerate
//! with `TRYCMD=overwrite cargo test -p caseledger --test cli_snapshots` and read the diff.
//! Output that really varies (keys, roots, today's date) is matched with `[..]`/`...`.
//! Private keys go to `K/` in the sandbox (`CASELEDGER_KEYS`), beside the ledger `L/`.
//!
//! The "key file too open" cases use input files as git checks them out (0644 under the
//! usual umask 022 or 002); under umask 077 they would be 0600 and fail differently.

#[test]
fn cli_snapshots() {
    // The ledger flag falls back to this variable; a developer's own setting must not
    // change the snapshots. Nothing else in this test binary runs concurrently yet.
    std::env::remove_var("CASELEDGER_LEDGER");
    std::env::remove_var("CASELEDGER_PASSPHRASE_FILE");
    std::env::remove_var("SSH_AUTH_SOCK");
    trycmd::TestCases::new()
        .register_bin(
            "caseledger",
            std::path::Path::new(env!("CARGO_BIN_EXE_caseledger")),
        )
        .env("NO_COLOR", "1")
        // The key directory, relative to each case's sandbox (outside its ledger `L`).
        .env("CASELEDGER_KEYS", "K")
        .case("tests/cmd/*.md");
}
