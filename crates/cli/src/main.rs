//! The `caseledger` command: a thin layer over `caseledger-store` and `caseledger-verify`.
//!
//! Exit codes (as `git fsck`, `minisign` and `ssh-keygen -Y verify` users expect):
//! * `0`: success; for `verify`, the ledger, archive or bundle is intact.
//! * `1`: findings: verification found tampering or violations (the report names them).
//! * `2`: usage, input or I/O error: nothing was concluded and nothing was written.
//! * `3`: the ledger is in use by another process (nothing written; `--wait DURATION` waits
//!   for it, as `restic --retry-lock`).
//!
//! Errors are one line on stderr, `caseledger: error: <what>: <why>`, naming the
//! file, field or line at fault; never clinical content. With `--json` the error is also a
//! JSON document on stdout (`{"error": {kind, message, exit_code, file, line}}`).

mod cmd;
mod io;
mod keys;
mod output;
mod render;
mod sample;

use clap::Parser;
use std::process::ExitCode;

/// How a command ended when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Success / intact.
    Ok,
    /// Verification findings (exit 1).
    Findings,
}

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::clap_error(&e),
    };
    let out = output::Out::new(cli.json);
    if let Some(wait) = cli.wait {
        caseledger_sledio::set_lock_wait(wait);
    }
    // A panic is a bug; it must still end as one line and exit 2, never a backtrace, and
    // never its message (which could quote data). The hook only notes where it happened:
    // a panic a library catches and turns into an error (sled inside the verifier) prints
    // nothing; one that reaches here prints one line.
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut at) = PANIC_AT.lock() {
            *at = info
                .location()
                .map(|l| format!(" at {}:{}", l.file(), l.line()));
        }
    }));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cmd::run(cli, &out)));
    match result {
        Ok(Ok(Outcome::Ok)) => ExitCode::SUCCESS,
        Ok(Ok(Outcome::Findings)) => ExitCode::from(1),
        Ok(Err(e)) if e.is::<output::BrokenPipe>() => ExitCode::SUCCESS,
        Ok(Err(e)) => ExitCode::from(out.error(&e).exit_code()),
        Err(_) => {
            let at = PANIC_AT
                .lock()
                .ok()
                .and_then(|a| a.clone())
                .unwrap_or_default();
            output::print_error(
                out.json,
                output::ErrorKind::Internal,
                &format!("internal error{at} (please report this bug)"),
                None,
            );
            ExitCode::from(2)
        }
    }
}

/// Where the last panic happened (set by the panic hook, printed only if it reaches `main`).
static PANIC_AT: std::sync::Mutex<Option<String>> = std::sync::Mutex::new(None);
