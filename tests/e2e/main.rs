//! One integration-test binary (ripgrep style): each module drives `caseledger` as a user would.
//!
//! The helpers (running the binary, the small ledger, the one-line error checks, snapshots of
//! a ledger's state) are `caseledger_testkit::cli`.
//!
//! * [`anchor`]: every `verify` verdict names its anchor; a self-attested run is never
//!   "intact", and `--require-anchor` makes it exit 1.
//! * [`custody`]: keys outside the ledger directory, private file modes whatever the umask,
//!   the KEK's recovery kit, passphrase-encrypted keys, a report signed through ssh-agent, no
//!   private key in a copy of the ledger.
//! * [`destruction`]: after a lawful `destroy` a canary planted in every payload of a record
//!   is in no file of the ledger or key directory, nor in archives and bundles exported
//!   afterwards, while `verify` and the record's proofs still pass; the guessing attack on
//!   what survives finds nothing.
//! * [`bundles`]: `export` builds complete bundles from the entries (never the `records`
//!   index) and `verify --bundle` names every omitted entry.
//! * [`happy`]: every command's happy path.
//! * [`errors`]: every command with bad input exits 2, prints one line, writes nothing.
//! * [`guide_example`]: the example of docs/GUIDE.md imports, verifies and exports.
//! * [`event_ids`]: client event ids on import lines and `append --id`: a repeat returns the
//!   original receipt, other content is refused, nothing of a destroyed event's id survives.
//! * [`import`]: the JSONL ingest format, line numbers, replays, no clinical content in errors.
//! * [`tamper`]: edits to the sled trees are findings (exit 1) naming the seq.
//! * [`tiles`]: `publish --tiles`, serve's C2SP tile routes, and `monitor` catching a rollback,
//!   a fork, an inconsistent checkpoint and a tampered mirror; an independent tlog client
//!   (`tlog_tiles`) reads the published tiles.
//! * [`interop`]: report and manifest signatures check with `ssh-keygen -Y verify` and
//!   `openssl pkeyutl`; the HTML footer's commands run as printed.
//! * [`newcomer`]: what a newcomer meets: every public-key form as a ledger key, exit 3 and
//!   `--wait` for a ledger in use, JSON errors, no Rust Debug text, `destroy` asks on a terminal.
//! * [`outside_time`]: `verify --witness --quorum --tsa-chain --skew --max-staleness` judges
//!   `recorded_at` against witness cosignatures (`witness serve`, some under `faketime`) and
//!   TSA tokens: the clock-forward attack caught at the next cosigned seal, a slow witness
//!   within the skew or outvoted by the quorum, staleness against the head.
//! * [`presigned`]: events signed elsewhere (`openssl pkeyutl -sign -rawin` over `event-bytes`,
//!   `ssh-keygen -Y sign`) append through `import` and `append` for an actor enrolled with a
//!   public key only; tampered, foreign-origin, stale and wrong-salt lines are refused with
//!   nothing written; authors sign through a real ssh-agent (SSHSIG, `ssh-keygen -Y verify`).
//! * [`readme`]: README.md's "Using it" walk-through (and the example's README) run as
//!   written, line by line, in a fresh directory.
//! * [`report_asof`]: reports true as of their date; `report verify DIR` over the manifest.
//! * [`retention_rules`]: service after termination is refused until `service_resumed`.
//! * [`insider`]: the insider campaign table: one row per attack of issue 12 and per class
//!   of the tamper suite, each editing real stored bytes or files, with the finding (kind,
//!   seq) the auditor's `verify` must give; clean ledgers give none.
//! * [`insider_evidence`]: archive payload frames out of place are findings (as `archive
//!   import` refuses them); the witness quorum counts distinct keys and `--trusted` copies.
//! * [`seals`]: every commit sealed; receipts and `verify --trusted RECEIPTS`; `checkpoint`
//!   and `export` sign nothing; keyless deletion is `unsealed_tail`; a flipped
//!   `meta.compact_range` is refused at open (attack 3).
//! * [`status`]: `status --record R` and why, `records --status S`, `destroy --dry-run` and
//!   `destroy --all-eligible`.
//! * [`storage`]: corrupted sled storage is a `storage_damaged` finding; `verify --read-only`
//!   verifies a private copy and writes nothing.
//! * [`timestamps`]: `caseledger timestamp` stores RFC 3161 tokens over seals from a test TSA
//!   on loopback; `timestamp verify` checks them offline, refuses other roots and tampered bytes.
//! * [`serve`]: `caseledger serve` as a child process on loopback over real HTTP: receipts,
//!   idempotent retries, status, seals, proofs; every scope refused without it; malformed
//!   requests 4xx with nothing written; 503 + Retry-After for a ledger held elsewhere and a
//!   body that never arrives; a snapshot verified while appends go on; SIGTERM with an
//!   append in flight; the Python client example (examples/python) against it.
//! * [`serve_attested`]: a destruction posted to `caseledger serve` cites a witness or a
//!   stored token as `destroy --cite-…` does (dry run too); the report calls it attested
//!   when the witness's time says so (`faketime` six years on).
//! * [`snapshot`]: `caseledger snapshot` while appends run verifies clean; a raw copy taken
//!   mid-write is an inconsistent copy (exit 2, no finding); tampering stays a finding.
//! * [`witness`]: `witness serve` as a child process on loopback and `witness add|list|sync`
//!   against it: cosignatures stored and counted by `verify --witness`, 409 with a stale
//!   size, a witness down, a rollback refused, a split view, `kill -9` mid-stream.

mod agent;
mod anchor;
mod attested;
mod bundles;
mod custody;
mod destruction;
mod errors;
mod event_ids;
mod guide_example;
mod happy;
mod import;
mod insider;
mod insider_evidence;
mod interop;
mod newcomer;
mod outside_time;
mod presigned;
mod readme;
mod report_asof;
mod report_html;
mod retention_rules;
mod seals;
mod serve;
mod serve_attested;
mod snapshot;
mod status;
mod storage;
mod tamper;
mod tiles;
mod timestamps;
// The loopback HTTPS server (test CA, rustls) shared with crates/timestamp and
// crates/witness TLS tests; used by `timestamps` and `witness`.
#[path = "../../crates/timestamp/tests/tls/mod.rs"]
mod tls;
mod witness;

#[test]
fn binary_prints_version() {
    let out = caseledger_testkit::cli::bin()
        .arg("--version")
        .output()
        .expect("binary runs");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("caseledger "));
}
