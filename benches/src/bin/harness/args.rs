//! The command line (clap): the benchmark options, and the diagnostics the harness runs on
//! itself (a child verification for P5) or that profiling uses.

use crate::child::Child;
use clap::error::ErrorKind;
use clap::{ArgGroup, CommandFactory, Parser, ValueEnum};
use std::path::PathBuf;

/// Measures caseledger against raw sled and Ed25519 floors on the same bytes, and prints one
/// table of medians and ratios against the performance targets (see benches/RESULTS.md).
///
/// A target not met is a table row, never an error: the harness exits non-zero only when it
/// could not run.
#[derive(Parser)]
#[command(
    name = "harness",
    args_override_self = true,
    group(ArgGroup::new("diagnostic").multiple(false))
)]
struct Cli {
    /// Small sizes, under two minutes: P1–P3 at 3k, 200 and 10k events, verification and
    /// proofs at 50k, P5 at 10k and 50k (default: the full sizes, 1M events).
    #[arg(long)]
    quick: bool,

    /// Repetitions of each write-path section (P1–P3); 0 means the default
    /// [default: 3 with --quick, else 5].
    #[arg(long, value_name = "N")]
    reps: Option<usize>,

    /// Also measure P5 at 10M events (long: builds a 10M-event ledger; not with --quick).
    #[arg(long)]
    ten_million: bool,

    /// Also write the table (Markdown) to FILE.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,

    /// Build the ledgers under DIR and keep them; the verification ledgers
    /// (DIR/ledger-N, N events) are reused by the next run.
    #[arg(long, value_name = "DIR")]
    keep: Option<PathBuf>,

    /// Run only these sections, comma-separated (for profiling one of them); `verify` also
    /// runs p6 [default: all].
    #[arg(long, value_name = "SECTIONS", value_enum, value_delimiter = ',')]
    only: Vec<Section>,

    /// Verify the ledger in DIR in this process and print its time and peak RSS (one line
    /// starting `CHILD `); what P5 runs in a fresh child process.
    #[arg(
        long,
        value_name = "DIR",
        group = "diagnostic",
        help_heading = "Diagnostics"
    )]
    child_verify: Option<PathBuf>,

    /// As --child-verify, on an exported archive (`ArchiveSource`).
    #[arg(
        long,
        value_name = "FILE",
        group = "diagnostic",
        help_heading = "Diagnostics"
    )]
    child_verify_archive: Option<PathBuf>,

    /// A raw sled scan (F4) of the ledger in DIR with a page cache of CACHE_BYTES, printing
    /// time and peak RSS: tells sled's cache from the verifier's own memory. CACHE_BYTES 1
    /// only opens the database (what sled's recovery costs).
    #[arg(
        long,
        num_args = 2,
        value_names = ["DIR", "CACHE_BYTES"],
        group = "diagnostic",
        help_heading = "Diagnostics"
    )]
    child_scan: Option<Vec<PathBuf>>,

    /// Copy the `entries` and `payloads` trees of the ledger in SRC into a fresh two-tree
    /// sled database in DST (the F3/F4 layout at the ledger's scale).
    #[arg(
        long,
        num_args = 2,
        value_names = ["SRC", "DST"],
        group = "diagnostic",
        help_heading = "Diagnostics"
    )]
    copy_raw: Option<Vec<PathBuf>>,
}

/// A section of the table, for `--only`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Section {
    /// P1 durable appends, 64 writers (floor F1).
    P1,
    /// P2 single writer, flush per append (floor F2).
    P2,
    /// P3 bulk import (floor F3).
    P3,
    /// P4 full verification (floors F4, F5), the P7 retention report, and P6.
    Verify,
    /// P6 proofs at the verification ledger's size.
    P6,
    /// P5 peak RSS and cost per event, verified in child processes.
    P5,
    /// Content encryption: AEAD per payload, its share of P3 (run with `p3`), key store per
    /// destruction.
    Crypto,
}

/// The benchmark options.
pub struct Opts {
    pub quick: bool,
    /// Repetitions of the write-path sections (never 0).
    pub reps: usize,
    pub ten_million: bool,
    pub out: Option<PathBuf>,
    pub keep: Option<PathBuf>,
    /// Sections to run (`--only`); empty: all.
    pub only: Vec<Section>,
}

impl Opts {
    pub fn runs(&self, section: Section) -> bool {
        self.only.is_empty() || self.only.contains(&section)
    }
    pub fn reps_of(&self, section: Section) -> usize {
        if self.runs(section) {
            self.reps
        } else {
            0
        }
    }
}

/// What this invocation does.
pub enum Mode {
    /// Run the benchmarks and print the table.
    Bench(Opts),
    /// `--child-verify*`, `--child-scan`: one measurement in this process.
    Child(Child),
    /// `--copy-raw SRC DST`.
    CopyRaw { src: PathBuf, dst: PathBuf },
}

/// Parses the command line; on a bad one, clap prints the error and exits with status 2
/// (and `--help` exits 0).
pub fn parse() -> Mode {
    let cli = Cli::parse();
    let child = |dir: PathBuf, archive: bool| {
        Mode::Child(Child {
            dir,
            scan_cache: None,
            archive,
        })
    };
    if let Some(dir) = cli.child_verify {
        return child(dir, false);
    }
    if let Some(file) = cli.child_verify_archive {
        return child(file, true);
    }
    if let Some([dir, bytes]) = cli.child_scan.as_deref() {
        let Some(cache) = bytes.to_str().and_then(|s| s.parse().ok()) else {
            Cli::command()
                .error(
                    ErrorKind::InvalidValue,
                    format!(
                        "invalid value '{}' for CACHE_BYTES of '--child-scan': not a number of bytes",
                        bytes.display()
                    ),
                )
                .exit();
        };
        return Mode::Child(Child {
            dir: dir.clone(),
            scan_cache: Some(cache),
            archive: false,
        });
    }
    if let Some([src, dst]) = cli.copy_raw.as_deref() {
        return Mode::CopyRaw {
            src: src.clone(),
            dst: dst.clone(),
        };
    }
    let reps = match cli.reps {
        Some(n) if n > 0 => n,
        _ if cli.quick => 3,
        _ => 5,
    };
    Mode::Bench(Opts {
        quick: cli.quick,
        reps,
        ten_million: cli.ten_million,
        out: cli.out,
        keep: cli.keep,
        only: cli.only,
    })
}
