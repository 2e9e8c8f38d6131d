//! The ratio-to-floor harness: measures raw floors (sled, Ed25519) and caseledger's figures
//! on the same entry and payload bytes in one run, and prints one table of medians and
//! ratios against the performance targets of issue 6 (see benches/RESULTS.md).
//!
//! ```text
//! harness [--quick] [--reps N] [--ten-million] [--out FILE] [--keep DIR] [--only SECTIONS]
//! ```
//!
//! `harness --help` documents each option ([`args`]). The sections, one module each:
//! [`p1`], [`p2`] and [`p3`] (the write path against [`floors`] F1–F3), [`crypto`] (what
//! content encryption costs: AEAD per payload, its share of P3, key store per destruction), [`verify`] (P4
//! against F4 and F5, and the [`report`] row P7), [`p6`] (proofs) and [`p5`] (memory and
//! cost per event, each size verified in a [`child`] process); [`sqlite`] is the SQLite peer
//! (a hash-chained audit table) that P1, P3 and P4 are also compared with, and [`space`]
//! the space row (P3's ledger against raw sled with the same values); [`run`] drives them
//! and [`table`] prints the result.
//!
//! The harness never judges the machine: a target not met is printed, never an error. It
//! exits non-zero only when it could not run (a ledger could not be created, a child
//! process failed); 2 for a bad command line.

mod args;
mod child;
mod crypto;
mod floors;
mod ledger;
mod p1;
mod p2;
mod p3;
mod p5;
mod p6;
mod plan;
mod report;
mod run;
mod space;
mod sqlite;
mod table;
mod util;
mod verify;

use std::process::ExitCode;

fn main() -> ExitCode {
    let result = match args::parse() {
        args::Mode::Bench(opts) => run::run(&opts),
        args::Mode::Child(child) => child::run_child(&child),
        args::Mode::CopyRaw { src, dst } => child::copy_raw(&src, &dst),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("harness: could not run: {e}");
            ExitCode::FAILURE
        }
    }
}
