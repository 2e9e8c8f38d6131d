//! The command line (clap derive) and one module per command group.
// Doc comments here are `--help` text, where `<DIR>` is the usage convention, not HTML.
#![expect(rustdoc::invalid_html_tags, reason = "doc comments are --help text")]

use crate::output::Out;
use crate::Outcome;
use anyhow::Result;
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

pub(crate) mod actor;
pub(crate) mod append;
pub(crate) mod archive;
pub(crate) mod bundle;
pub(crate) mod checkpoint;
pub(crate) mod clock;
pub(crate) mod close;
pub(crate) mod evidence;
pub(crate) mod import;
pub(crate) mod ingest;
pub(crate) mod keys;
pub(crate) mod ledger_ops;
pub(crate) mod misc;
pub(crate) mod monitor;
pub(crate) mod presign;
pub(crate) mod prove;
pub(crate) mod publish;
pub(crate) mod records;
pub(crate) mod report;
pub(crate) mod serve;
pub(crate) mod snapshot;
pub(crate) mod status;
pub(crate) mod timestamp;
pub(crate) mod verify;
pub(crate) mod witness;

/// caseledger: a tamper-evident audit ledger for clinical social-work records
/// (Missouri 20 CSR 2263-3.040).
///
/// Exit status: 0 success (verified intact), 1 findings (tampering or violations),
/// 2 usage, input or I/O error (nothing concluded, nothing written), 3 the ledger is in use
/// by another process (nothing written; try again, or give --wait).
#[derive(Parser)]
#[command(
    name = "caseledger",
    version,
    propagate_version = true,
    max_term_width = 100
)]
pub(crate) struct Cli {
    /// Machine output (JSON) on stdout; messages for people stay on stderr.
    #[arg(long, global = true)]
    pub json: bool,
    /// When another process holds the ledger, wait up to DURATION for it (e.g. 30s, 2m,
    /// 500ms; a bare number is seconds) before giving up with exit 3. Default: half a second.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_wait)]
    pub wait: Option<std::time::Duration>,
    #[command(subcommand)]
    pub command: Command,
}

/// The kinds `append --kind` takes (listed in its help, offered by completions, "did you
/// mean" for a near miss); the administrative kinds are accepted but hidden, so that
/// `append` can point to the command that writes them.
fn kind_values() -> clap::builder::PossibleValuesParser {
    use caseledger_core::event::Kind;
    clap::builder::PossibleValuesParser::new(Kind::ALL.iter().map(|k| {
        clap::builder::PossibleValue::new(k.name()).hide(!k.has_record() || *k == Kind::RecordHead)
    }))
}

/// Parses `--wait`: a number with an optional unit (ms, s, m, h; seconds by default).
fn parse_wait(s: &str) -> std::result::Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| "expected a duration such as 30s, 2m or 500ms".to_owned())?;
    let ms = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1_000),
        "m" | "min" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        _ => return Err("expected a duration such as 30s, 2m or 500ms".to_owned()),
    };
    ms.map(std::time::Duration::from_millis)
        .ok_or_else(|| "too long".to_owned())
}

/// `--ledger <DIR>`, also from `CASELEDGER_LEDGER`.
#[derive(Args, Clone)]
pub(crate) struct LedgerArg {
    /// The ledger directory.
    #[arg(long, value_name = "DIR", env = "CASELEDGER_LEDGER")]
    pub ledger: PathBuf,
}

/// `--keys <DIR>`, also from `CASELEDGER_KEYS`: where the private keys are.
#[derive(Args, Clone)]
pub(crate) struct KeysArg {
    /// The key directory: private keys, outside the ledger directory (default:
    /// $XDG_CONFIG_HOME/caseledger/<origin>/, or ~/.config/caseledger/<origin>/).
    #[arg(long = "keys", value_name = "DIR", env = "CASELEDGER_KEYS")]
    pub keys: Option<PathBuf>,
}

impl KeysArg {
    /// The flag's value.
    pub fn get(&self) -> Option<&std::path::Path> {
        self.keys.as_deref()
    }
}

/// Where a signing command takes its key from, besides the key directory's file for the
/// signer (the default).
#[derive(Args, Clone)]
pub(crate) struct SignerArg {
    /// Sign with this private key file (PKCS#8 PEM, mode 0600) instead of the key
    /// directory's.
    #[arg(long, value_name = "FILE", conflicts_with = "ssh_key")]
    pub key: Option<PathBuf>,
    /// Sign through ssh-agent (SSH_AUTH_SOCK) with the Ed25519 key whose public half is in
    /// this file, enrolled as the signer's key: an SSHSIG signature (namespace
    /// caseledger-event); no key file is read.
    #[arg(long, value_name = "FILE.pub")]
    pub ssh_key: Option<PathBuf>,
}

/// `--no-sync`, on every command that seals.
#[derive(Args, Clone)]
pub(crate) struct NoSyncArg {
    /// Do not send the new seal to the witnesses and the TSA configured in the key
    /// directory after the write (`witness sync` and `timestamp` send it later). Without
    /// it, they are asked once the write is durable, within a few seconds, and one that is
    /// down only prints a warning.
    #[arg(long)]
    pub no_sync: bool,
}

/// The commands.
#[derive(Subcommand)]
pub(crate) enum Command {
    /// Create a ledger: genesis, an admin key, the ledger (checkpoint) key (it seals every
    /// commit), the content key (KEK) and its recovery kit in the key directory (outside
    /// the ledger directory).
    Init(InitArgs),
    /// Enrol or revoke an actor (admin, licensee, custodian).
    #[command(subcommand)]
    Actor(ActorCmd),
    /// Append one signed event to a record.
    Append(AppendArgs),
    /// Record (as an admin) that the system clock was set back beyond the allowed skew.
    ///
    /// The store refuses appends while the clock is behind the ledger's last entry by more
    /// than the genesis skew; after this entry the ledger runs on the corrected clock.
    ClockCorrected(ClockCorrectedArgs),
    /// Close the ledger (as an admin): a signed `ledger_closed` entry ends its life.
    ///
    /// Nothing can be appended after it (not even an export's `record_head`: export the
    /// bundles you need first); the ledger stays readable and verifiable, and `status`,
    /// `verify` and the retention report say when it was closed and by whom.
    Close(CloseArgs),
    /// Import events from a JSONL file (the ingest format: docs/GUIDE.md).
    ///
    /// One JSON object per line: `record`, `kind`, `occurred_on`, `author`, and `payload` or
    /// `payload_base64`, plus the kind's own fields (`amends`, `matter`, `reason`, `actor`,
    /// `role`), and for an event signed elsewhere `signed_at`, `nonce`, `salt` and
    /// `signature` (see `caseledger event-bytes`). Every line is parsed, and the whole file
    /// judged against the ledger's rules, before anything is written; an error names the
    /// line number and the field, and nothing is imported. The format and an example file
    /// (ledger-data/example/events.jsonl): docs/GUIDE.md, "Ingest format".
    Import(ImportArgs),
    /// Print the exact bytes an author signs for one ingest line (pre-signed events).
    ///
    /// A record system that signs with its own key (a KMS, the clinician's device) gives the
    /// line with `signed_at`, `nonce` and (with a payload) `salt`, signs the printed bytes
    /// (`openssl pkeyutl -sign -rawin`, or `ssh-keygen -Y sign -n caseledger-event`), adds
    /// `signature` to the line and imports it: docs/GUIDE.md, "Events signed by the record
    /// system"; the bytes: docs/FORMAT.md §3.
    EventBytes(EventBytesArgs),
    /// Print the newest seal: the checkpoint the ledger key signed for the last commit.
    ///
    /// Every commit is sealed when it is appended; this signs nothing. Give the note to an
    /// auditor or a witness (`cosign`), or store a witness's cosigned copy with --add-cosigned.
    Checkpoint(CheckpointArgs),
    /// As a witness: check a checkpoint's consistency with the last one seen, cosign it.
    Cosign(CosignArgs),
    /// Run a C2SP tlog-witness server, or configure the witnesses a ledger's seals go to.
    #[command(subcommand)]
    Witness(WitnessCmd),
    /// Serve ledgers to record systems over HTTP (JSON): append events, read statuses,
    /// seals and proofs, each behind a bearer token's scope (docs/GUIDE.md, "Serving
    /// record systems over HTTP").
    ///
    /// Runs until SIGTERM or ctrl-c, then finishes the requests in flight and closes the
    /// ledgers. `--new-token` prints a new client token and the hash the config stores.
    Serve(ServeArgs),
    /// Write the newest seal's C2SP tlog-tiles (tiles, entry bundles of entry hashes, the
    /// checkpoint) as static files for any web server or object store to serve.
    ///
    /// Atomic writes, the checkpoint last; a rerun writes only what changed. Auditors follow
    /// the directory with `caseledger monitor` (docs/GUIDE.md, "Following a ledger").
    Publish(PublishArgs),
    /// Follow a served or published ledger through its C2SP tiles: check the checkpoint's
    /// signature and its consistency with the last one seen (recomputed from tiles).
    ///
    /// Exit 1 (and --hook) on a rollback, a fork, an inconsistent checkpoint, tiles that do
    /// not match, a bad signature or a stale checkpoint; 0 when consistent; 2 when the log
    /// cannot be read. Run it from cron or a timer with --state.
    Monitor(MonitorArgs),
    /// Obtain an RFC 3161 time-stamp token over the newest seal from a TSA and store it in
    /// <DIR>/timestamps.log; `timestamp verify` checks the stored tokens offline.
    ///
    /// Runs beside a process holding the ledger open (it reads checkpoints.log only). A
    /// seal already timestamped is not sent again, so a schedule (cron, a systemd timer)
    /// may run it often.
    Timestamp(TimestampArgs),
    /// Verify a ledger, an archive or an evidence bundle; exit 1 on findings.
    Verify(VerifyArgs),
    /// Print an inclusion or consistency proof (JSON, base64 hashes).
    #[command(subcommand)]
    Prove(ProveCmd),
    /// Write the evidence bundle of one record (verifies offline with `verify --bundle`).
    ///
    /// Appends the record's `record_head` entry (sealed, as every commit is; needs the
    /// ledger key) so the bundle proves the record complete; signs no other checkpoint.
    Export(ExportArgs),
    /// Export the ledger to one engine-independent archive file, or import one.
    #[command(subcommand)]
    Archive(ArchiveCmd),
    /// Copy a ledger consistently into a new directory, for evidence (safe while appends run).
    ///
    /// A raw copy (`cp -r`) of a ledger taken while it is written may be an inconsistent
    /// copy, which `verify` refuses to judge (exit 2). The snapshot is taken under the
    /// ledger's lock, byte for byte (damage and tampering included), files 0600 and
    /// directories 0700, and marked as a snapshot: `verify --ledger DIR` judges it. Appends
    /// by other processes wait while the files are copied (the time is printed). A ledger
    /// held open by a running process is snapshotted through that process.
    Snapshot(SnapshotArgs),
    /// Place or release a legal hold on a record.
    #[command(subcommand)]
    Hold(HoldCmd),
    /// Destroy a record's content after retention (refused, with the lawful date, before).
    ///
    /// `--dry-run` says what would be destroyed and whether it would be lawful today, and
    /// writes nothing. `--all-eligible` destroys every record eligible today (retention run
    /// out, no hold), listing them first.
    Destroy(DestroyArgs),
    /// Verify the ledger, then print one record's retention status and why.
    Status(StatusArgs),
    /// Verify the ledger, then list records by retention status (what to run before a purge).
    Records(RecordsArgs),
    /// Write or verify a signed retention report.
    #[command(subcommand)]
    Report(ReportCmd),
    /// Generate key files and export public keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Print a shell completion script.
    Completions(CompletionsArgs),
    /// Print the manual page (roff) on stdout, or write every page to a directory.
    Man(ManArgs),
    /// Write a deterministic sample practice in the JSONL ingest format (docs/GUIDE.md).
    Sample(SampleArgs),
}

/// `caseledger init`.
#[derive(Args)]
pub(crate) struct InitArgs {
    /// The new ledger directory (must not exist, or be empty).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
    /// The checkpoint origin (C2SP), e.g. `example.org/practice-ledger`.
    #[arg(long)]
    pub origin: String,
    /// The licensees are in private practice: (11)(F) applies.
    #[arg(long)]
    pub private_practice: bool,
    /// The first admin's actor id.
    #[arg(long, value_name = "ID", default_value = "admin")]
    pub admin: String,
    /// The practice's IANA time zone (retention days are calendar days there), e.g.
    /// America/Chicago. Fixed in genesis.
    #[arg(long, value_name = "TZ", default_value = "UTC")]
    pub time_zone: String,
    /// How many days the practice keeps backups (reports state it beside each
    /// destruction: older backups may hold destroyed content until they expire).
    #[arg(long, value_name = "DAYS", default_value_t = 0)]
    pub backup_retention_days: u32,
    #[command(flatten)]
    pub keys: KeysArg,
    /// Encrypt the private key files with a passphrase (from CASELEDGER_PASSPHRASE_FILE,
    /// else asked twice on the terminal); every command that signs then needs it.
    #[arg(long)]
    pub encrypt_keys: bool,
    /// Wrap the recovery kit to this age X25519 recipient (`age1...`; its identity kept
    /// offline). Default: a new recovery identity, written beside the kit to move offsite.
    #[arg(long, value_name = "AGE1", conflicts_with = "recovery_passphrase_file")]
    pub recovery_recipient: Option<String>,
    /// Wrap the recovery kit with the passphrase in this file (age scrypt).
    #[arg(long, value_name = "F")]
    pub recovery_passphrase_file: Option<PathBuf>,
}

/// `caseledger actor`.
#[derive(Subcommand)]
pub(crate) enum ActorCmd {
    /// Enrol an actor (generates its key in <KEYS>/actors/ unless --pubkey is given).
    Add(ActorAddArgs),
    /// Revoke an actor's key: it may sign nothing more.
    Revoke(ActorRevokeArgs),
}

/// `caseledger actor add`.
#[derive(Args)]
pub(crate) struct ActorAddArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The new actor's id.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// The actor's role.
    #[arg(long, value_enum)]
    pub role: RoleArg,
    /// Use this public key (SPKI PEM, ssh-ed25519, note key) instead of generating one:
    /// the actor's private key stays where it is (a KMS, a device, ssh-agent) and the actor
    /// appends pre-signed events or signs through ssh-agent.
    #[arg(long, value_name = "FILE", alias = "public-key")]
    pub pubkey: Option<PathBuf>,
    /// The admin who signs the enrolment.
    #[arg(long, value_name = "ID", default_value = "admin")]
    pub author: String,
    #[command(flatten)]
    pub signer: SignerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    /// Encrypt the new key with a passphrase (from CASELEDGER_PASSPHRASE_FILE, else asked
    /// twice on the terminal). Default: encrypted when the ledger's keys are
    /// (`init --encrypt-keys`).
    #[arg(long, conflicts_with_all = ["pubkey", "no_encrypt_key"])]
    pub encrypt_key: bool,
    /// Write the new key unencrypted (0600) even when the ledger's keys are encrypted.
    #[arg(long, conflicts_with = "pubkey")]
    pub no_encrypt_key: bool,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger actor revoke`.
#[derive(Args)]
pub(crate) struct ActorRevokeArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The actor to revoke.
    #[arg(long, value_name = "ID")]
    pub id: String,
    /// Accepted for symmetry with `actor add`; the role is not needed to revoke.
    #[arg(long, value_enum, hide = true)]
    pub role: Option<RoleArg>,
    /// The admin who signs the revocation.
    #[arg(long, value_name = "ID", default_value = "admin")]
    pub author: String,
    #[command(flatten)]
    pub signer: SignerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger clock-corrected`.
#[derive(Args)]
pub(crate) struct ClockCorrectedArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// What happened and who fixed it (never clinical content).
    #[arg(long)]
    pub reason: String,
    /// The admin who signs the correction.
    #[arg(long, value_name = "ID", default_value = "admin")]
    pub author: String,
    #[command(flatten)]
    pub signer: SignerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger close`.
#[derive(Args)]
pub(crate) struct CloseArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Why the ledger is closed (a case or policy reference; never clinical content).
    #[arg(long)]
    pub reason: String,
    /// The admin who signs the close.
    #[arg(long, value_name = "ID", default_value = "admin")]
    pub author: String,
    /// Do not ask for confirmation (`close` asks on a terminal: it cannot be undone).
    #[arg(long)]
    pub yes: bool,
    #[command(flatten)]
    pub signer: SignerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// A role on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// Enrols and revokes actors.
    Admin,
    /// Writes clinical events.
    Licensee,
    /// Places holds and destroys after retention.
    Custodian,
}

impl RoleArg {
    /// The core role.
    pub fn role(self) -> caseledger_core::event::Role {
        use caseledger_core::event::Role;
        match self {
            RoleArg::Admin => Role::Admin,
            RoleArg::Licensee => Role::Licensee,
            RoleArg::Custodian => Role::Custodian,
        }
    }
}

/// `caseledger append`.
#[derive(Args)]
pub(crate) struct AppendArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The enrolled actor who signs (key in <KEYS>/actors/<ID>.pem).
    #[arg(long, value_name = "ID")]
    pub author: String,
    #[command(flatten)]
    pub keys: KeysArg,
    /// The client record id.
    #[arg(long, value_name = "R")]
    pub record: String,
    /// The event kind (docs/GUIDE.md, "Ingest format").
    #[arg(long, value_parser = kind_values())]
    pub kind: String,
    /// When it happened (YYYY-MM-DD, or `today`: the practice's date); for
    /// service_terminated, the termination date.
    #[arg(long, value_name = "DATE")]
    pub occurred_on: String,
    /// Read the payload (clinical content) from this file.
    #[arg(long, value_name = "F", conflicts_with = "payload")]
    pub payload_file: Option<PathBuf>,
    /// Read the payload from stdin: `--payload -`.
    #[arg(long, value_name = "-")]
    pub payload: Option<String>,
    /// amendment: the seq of the entry being corrected.
    #[arg(long, value_name = "SEQ")]
    pub amends: Option<u64>,
    /// hold_placed / hold_released: the matter (a case number, never clinical content).
    #[arg(long)]
    pub matter: Option<String>,
    /// destruction: the authority or policy. service_terminated: why (completed,
    /// impairment, dual_relationship, other; rules (4) and (5) need a written notice and
    /// a referral after impairment or a dual relationship).
    #[arg(long)]
    pub reason: Option<String>,
    /// Append the receipt (seq, entry hash, the seal covering it) as one JSON line to this
    /// file (created 0600): evidence for the record system to keep (docs/FORMAT.md).
    #[arg(long, value_name = "FILE")]
    pub receipts: Option<PathBuf>,
    /// The record system's own id of this event (1-128 bytes of printable text): sent
    /// again with the same content it appends nothing and returns the original receipt;
    /// with other content it is refused (docs/GUIDE.md, "Client event ids").
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,
    /// A pre-signed event: when the author signed (RFC 3339, e.g. 2026-12-02T09:30:00Z).
    /// Without --signature: use this instead of now.
    #[arg(long, value_name = "TIME")]
    pub signed_at: Option<String>,
    /// A pre-signed event: the author's nonce (32 hex digits). Without --signature: use this
    /// instead of a random one.
    #[arg(long, value_name = "HEX")]
    pub nonce: Option<String>,
    /// A pre-signed event: the payload's salt (64 hex digits), signed through the payload
    /// commitment. Without --signature: use this instead of a random one.
    #[arg(long, value_name = "HEX")]
    pub salt: Option<String>,
    /// Append an event signed elsewhere (docs/GUIDE.md, "Events signed by the record
    /// system"): base64 of the 64-byte Ed25519 signature over the bytes `caseledger
    /// event-bytes` prints, or an armoured SSHSIG (`ssh-keygen -Y sign -n caseledger-event`).
    /// Needs --signed-at, --nonce (and --salt with a payload); no private key is read.
    #[arg(long, value_name = "SIG", conflicts_with = "ssh_key")]
    pub signature: Option<String>,
    /// Sign through ssh-agent (SSH_AUTH_SOCK) with the Ed25519 key whose public half is in
    /// this file (e.g. ~/.ssh/id_ed25519.pub), enrolled as the author's key: an SSHSIG
    /// author signature (namespace caseledger-event); no key file is read.
    #[arg(long, value_name = "FILE.pub")]
    pub ssh_key: Option<PathBuf>,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger event-bytes`.
#[derive(Args)]
pub(crate) struct EventBytesArgs {
    /// The ledger whose origin the event is signed for.
    #[arg(
        long,
        value_name = "DIR",
        env = "CASELEDGER_LEDGER",
        required_unless_present = "origin",
        conflicts_with = "origin"
    )]
    pub ledger: Option<PathBuf>,
    /// The ledger's origin, when the ledger is not at hand (the record system's machine).
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,
    /// One ingest line (JSONL, with signed_at, nonce, and salt with a payload; without
    /// signature), or `-` for stdin.
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
    /// Print the bytes as lower-case hex (and a newline) instead of raw.
    #[arg(long)]
    pub hex: bool,
    /// For an `actor_enrolled` line: the public key it enrols (a file: SPKI PEM,
    /// `ssh-ed25519`, note key, 64 hex digits), so an admin can sign the enrolment offline
    /// and send it to `caseledger serve`'s actors route.
    #[arg(long, value_name = "FILE", alias = "pubkey")]
    pub public_key: Option<PathBuf>,
}

/// `caseledger import`.
#[derive(Args)]
pub(crate) struct ImportArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The JSONL file (format: docs/GUIDE.md, "Ingest format"), or `-` for stdin.
    #[arg(value_name = "FILE", default_value = "-")]
    pub file: PathBuf,
    #[command(flatten)]
    pub keys: KeysArg,
    /// Append one receipt per imported event (JSON lines: seq, entry hash, the seal
    /// covering it) to this file (created 0600), once they are sealed and durable.
    #[arg(long, value_name = "FILE")]
    pub receipts: Option<PathBuf>,
    /// Sign through ssh-agent (SSH_AUTH_SOCK) with the Ed25519 key whose public half is in
    /// this file, for the lines whose author is enrolled with that key (SSHSIG author
    /// signatures, namespace caseledger-event); other lines as before.
    #[arg(long, value_name = "FILE.pub")]
    pub ssh_key: Option<PathBuf>,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger checkpoint`.
#[derive(Args)]
pub(crate) struct CheckpointArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Store a witness's cosigned copy of a stored checkpoint (from `cosign`) instead of signing.
    #[arg(long, value_name = "FILE")]
    pub add_cosigned: Option<PathBuf>,
    #[command(flatten)]
    pub keys: KeysArg,
}

/// `caseledger timestamp`.
#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct TimestampArgs {
    #[command(subcommand)]
    pub verify: Option<TimestampCmd>,
    /// The ledger directory.
    #[arg(long, value_name = "DIR", env = "CASELEDGER_LEDGER", required = true)]
    pub ledger: Option<PathBuf>,
    /// The TSA's URL (https:// or http://; the token is signed either way). Default: the
    /// TSA configured in the key directory (`timestamp config set`), with its chain.
    #[arg(long, value_name = "URL", env = "CASELEDGER_TSA")]
    pub tsa: Option<String>,
    /// PEM certificates: for an https:// TSA, the only roots its TLS certificate may chain
    /// to (a private CA), instead of Mozilla's list built in.
    #[arg(long, value_name = "FILE")]
    pub tls_roots: Option<PathBuf>,
    /// PEM certificates to trust for the TSA (its root): the token is verified before it is
    /// stored. Without it the token is checked against the certificate it carries only.
    #[arg(long, value_name = "FILE")]
    pub tsa_chain: Option<PathBuf>,
    /// Give up on the TSA after this many seconds (connect and answer together).
    #[arg(long, value_name = "S", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_secs: u64,
    #[command(flatten)]
    pub keys: KeysArg,
}

/// `caseledger timestamp verify|config|renew`.
#[derive(Subcommand)]
pub(crate) enum TimestampCmd {
    /// Verify every token in <DIR>/timestamps.log offline, as of its genTime, against the
    /// TSA roots you trust, and every renewal (`timestamp renew`); print genTime per seal
    /// size. Exit 1 if any token or renewal is refused.
    Verify(TimestampVerifyArgs),
    /// Configure the TSA every write asks for a token (in <KEYS>/tsa.txt, beside the keys).
    #[command(subcommand)]
    Config(TimestampConfigCmd),
    /// Re-timestamp the stored tokens whose TSA certificate expires soon (RFC 4998's idea):
    /// a new token over the old token and the seal, so the evidence outlives the certificate.
    Renew(TimestampRenewArgs),
}

/// `caseledger timestamp config`.
#[derive(Subcommand)]
pub(crate) enum TimestampConfigCmd {
    /// Set the TSA (URL and the certificates to trust for it); replaces the one set before.
    Set(TimestampConfigSetArgs),
    /// Print the configured TSA.
    Show(TimestampConfigArgs),
    /// Remove the TSA configuration (the stored tokens stay).
    Remove(TimestampConfigArgs),
}

/// `caseledger timestamp config set`.
#[derive(Args)]
pub(crate) struct TimestampConfigSetArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    /// The TSA's URL (https:// or http://).
    #[arg(long, value_name = "URL")]
    pub tsa: String,
    /// PEM certificates to trust for the TSA (its root): each token is verified against
    /// them before it is stored. Its absolute path is stored.
    #[arg(long, value_name = "FILE")]
    pub tsa_chain: PathBuf,
    /// For an https:// TSA behind a private CA: the only TLS roots (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_roots: Option<PathBuf>,
    /// Ask the TSA after writes at most once per this many seconds (0: for every seal; the
    /// newest seal wins).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub min_interval: u64,
}

/// `caseledger timestamp config show|remove`.
#[derive(Args)]
pub(crate) struct TimestampConfigArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(flatten)]
    pub keys: KeysArg,
}

/// `caseledger timestamp renew`.
#[derive(Args)]
pub(crate) struct TimestampRenewArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The TSA's URL.
    #[arg(long, value_name = "URL")]
    pub tsa: String,
    /// PEM certificates to trust for the TSAs: the stored tokens' and the new one's.
    #[arg(long, value_name = "FILE")]
    pub tsa_chain: PathBuf,
    /// For an https:// TSA behind a private CA: the only TLS roots (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_roots: Option<PathBuf>,
    /// Renew the tokens whose certificates expire within this window: `90d`, `12h`, `0d`
    /// (units s, m, h, d, w).
    #[arg(long, value_name = "DURATION", default_value = "90d")]
    pub before: caseledger_verify::TimeSpan,
    /// Give up on the TSA after this many seconds per request.
    #[arg(long, value_name = "S", default_value_t = 30,
          value_parser = clap::value_parser!(u64).range(1..=600))]
    pub timeout_secs: u64,
}

/// `caseledger timestamp verify`.
#[derive(Args)]
pub(crate) struct TimestampVerifyArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// PEM certificates to trust for the TSA (the relying party's choice, not the practice's).
    #[arg(long, value_name = "FILE")]
    pub tsa_chain: PathBuf,
}

/// `caseledger cosign`.
#[derive(Args)]
pub(crate) struct CosignArgs {
    /// The witness's private key file (0600 PEM; create one with `keys generate`).
    #[arg(long, value_name = "K")]
    pub key: PathBuf,
    /// The witness name in the cosignature line (default: the key file's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The witness's state file: last checkpoint seen per origin (created if missing).
    #[arg(long, value_name = "FILE")]
    pub state: PathBuf,
    /// The log's verifier key (note key `origin+hex8+base64`, ledger.pub, SPKI PEM; text or
    /// file); required the first time an origin is seen, then remembered in the state file.
    #[arg(long = "log-key", value_name = "VKEY")]
    pub log_key: Option<String>,
    /// A consistency proof from the last seen size (JSON from `prove consistency`).
    #[arg(long, value_name = "FILE", conflicts_with = "ledger")]
    pub proof: Option<PathBuf>,
    /// Compute the consistency proof from this ledger instead.
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,
    /// The signed checkpoint note to cosign.
    #[arg(value_name = "CHECKPOINT")]
    pub checkpoint: PathBuf,
}

/// `caseledger witness`.
#[derive(Subcommand)]
pub(crate) enum WitnessCmd {
    /// Serve a C2SP tlog-witness over HTTP: `POST /add-checkpoint`, and
    /// `GET /latest-checkpoint/<origin>` (the checkpoint it last cosigned, for rollback checks).
    ///
    /// Prints its URL and its cosignature key (give the key to those who verify), then
    /// serves until stopped. Each checkpoint it cosigns is on disk (--state) before it
    /// answers: killing it at any moment loses no cosignature.
    Serve(WitnessServeArgs),
    /// Configure a witness for this ledger (in <KEYS>/witnesses.txt, beside the keys).
    Add(WitnessAddArgs),
    /// List the configured witnesses with the last seal each cosigned and how long ago.
    List(WitnessLedgerArgs),
    /// Remove a configured witness (its stored cosignatures stay).
    Remove(WitnessRemoveArgs),
    /// Send the newest seal to every configured witness and store their cosignatures.
    ///
    /// A witness that is down or refuses is reported as lagging (exit 0); a witness that
    /// holds a different checkpoint of this size, or a larger one (a fork or a rollback of
    /// this ledger), is evidence: exit 1.
    Sync(WitnessSyncArgs),
}

/// `caseledger serve`.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// The server's configuration (TOML: ledgers, clients, limits; docs/GUIDE.md).
    #[arg(long, value_name = "FILE", required_unless_present = "new_token")]
    pub config: Option<PathBuf>,
    /// Print a new client token (stdout, line 1) and its token_sha256 for the config
    /// (line 2), then exit.
    #[arg(long, conflicts_with = "config")]
    pub new_token: bool,
}

/// `caseledger publish`.
#[derive(Args)]
pub(crate) struct PublishArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The directory to write the tiles to (created; `tile/…` and `checkpoint` inside).
    #[arg(long, value_name = "DIR")]
    pub tiles: PathBuf,
}

/// `caseledger monitor`.
#[derive(Args)]
pub(crate) struct MonitorArgs {
    /// The log's tile prefix: `http(s)://HOST/v1/ledgers/NAME/tlog` for `caseledger serve`,
    /// the URL a `publish --tiles` directory is served at, or that directory itself.
    #[arg(value_name = "URL")]
    pub url: String,
    /// The ledger's verifier key `origin+hex8+base64` (`caseledger keys export --ledger
    /// DIR`), or a file holding it.
    #[arg(long, value_name = "K")]
    pub key: String,
    /// What the last run saw (JSON, replaced atomically; created on the first run). Without
    /// it every run checks the whole log and can detect nothing across runs.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// A file holding a bearer token with the read-proofs scope (`caseledger serve`);
    /// default: $CASELEDGER_TOKEN, else none (a static mirror).
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// A finding when the checkpoint has not changed for this long (e.g. 36h, 7d).
    #[arg(long, value_name = "DURATION")]
    pub max_age: Option<caseledger_verify::TimeSpan>,
    /// Run this shell command for each finding, with CASELEDGER_MONITOR_FINDING (the kind),
    /// CASELEDGER_MONITOR_MESSAGE and CASELEDGER_MONITOR_URL set; the exit is 1 still.
    #[arg(long, value_name = "CMD")]
    pub hook: Option<String>,
    /// Seconds each request may take.
    #[arg(long, value_name = "SECS", default_value_t = 30)]
    pub timeout: u64,
    /// PEM certificates: the only roots an https:// log's certificate may chain to.
    #[arg(long, value_name = "FILE")]
    pub tls_roots: Option<PathBuf>,
    /// Keep running: check again this long after each round ends (e.g. 200ms, 30s, 5m),
    /// writing the state after every round that moved it. Stops with exit 1 at the first
    /// finding (after the hook); a round that cannot read the log says so and is retried.
    #[arg(long, value_name = "DURATION")]
    pub every: Option<monitor::Every>,
    /// With --every: stop after this many rounds (exit 0 when none found anything, 2 when
    /// the last could not read the log). Default: run until stopped.
    #[arg(long, value_name = "N", requires = "every", value_parser = clap::value_parser!(u64).range(1..))]
    pub rounds: Option<u64>,
}

/// `caseledger witness serve`.
#[derive(Args)]
pub(crate) struct WitnessServeArgs {
    /// The address to listen on, e.g. 127.0.0.1:8440 (port 0: any free port; the URL is printed).
    #[arg(long, value_name = "ADDR")]
    pub addr: std::net::SocketAddr,
    /// The witness's private key file (0600 PEM; create one with `keys generate`).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// The logs it accepts: one log verifier key `origin+hex8+base64` per line
    /// (`caseledger keys export --ledger DIR`); `#` comments.
    #[arg(long, value_name = "FILE")]
    pub logs: PathBuf,
    /// The directory of its memory: the last checkpoint it cosigned per log (created 0700).
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// The witness name in its cosignature lines and key (default: the key file's name).
    #[arg(long)]
    pub name: Option<String>,
}

/// `caseledger witness add`.
#[derive(Args)]
pub(crate) struct WitnessAddArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    /// A local name for the witness (letters, digits, '.', '-', '_').
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Its URL prefix (http:// or https://; `--tls-roots` for a private CA);
    /// `add-checkpoint` is appended.
    #[arg(value_name = "URL")]
    pub url: String,
    /// Its cosignature key `name+hex8+base64` (as `witness serve` prints it), or a file.
    #[arg(value_name = "VKEY")]
    pub key: String,
    /// Send it a seal after writes at most once per this many seconds (0: every seal; the
    /// newest seal wins; `witness sync` is not limited).
    #[arg(long, value_name = "SECS", default_value_t = 0)]
    pub min_interval: u64,
    /// Trust only the roots in this PEM file for this witness's https:// URL (a witness
    /// behind a private CA), after writes and in `witness sync`; kept as an absolute path.
    #[arg(long, value_name = "FILE")]
    pub tls_roots: Option<PathBuf>,
}

/// `caseledger witness list`.
#[derive(Args)]
pub(crate) struct WitnessLedgerArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(flatten)]
    pub keys: KeysArg,
}

/// `caseledger witness remove`.
#[derive(Args)]
pub(crate) struct WitnessRemoveArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    /// The witness's local name.
    #[arg(value_name = "NAME")]
    pub name: String,
}

/// `caseledger witness sync`.
#[derive(Args)]
pub(crate) struct WitnessSyncArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    /// Seconds each request may take (connect, send, answer).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
    /// Requests per witness when it cannot be reached or answers 5xx (backoff 250 ms, doubling).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub attempts: u32,
    /// PEM certificates: for https:// witnesses, the only roots their TLS certificates may
    /// chain to (a private CA), instead of Mozilla's list built in.
    #[arg(long, value_name = "FILE")]
    pub tls_roots: Option<PathBuf>,
}

/// `caseledger verify`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("input").required(true).multiple(true).args(["ledger", "archive", "bundle"])))]
pub(crate) struct VerifyArgs {
    /// A ledger directory.
    #[arg(long, value_name = "DIR", env = "CASELEDGER_LEDGER")]
    pub ledger: Option<PathBuf>,
    /// An archive file (`archive export`).
    #[arg(long, value_name = "F", conflicts_with = "bundle")]
    pub archive: Option<PathBuf>,
    /// An evidence bundle (`export`).
    #[arg(long, value_name = "F")]
    pub bundle: Option<PathBuf>,
    /// A signed checkpoint the auditor holds, or a receipts file (JSON lines from `append`
    /// or `import --receipts`: each receipt's seal counts); repeatable.
    #[arg(long, value_name = "CHECKPOINT")]
    pub trusted: Vec<PathBuf>,
    /// A ledger (checkpoint) key the relying party trusts, text or file: the note key
    /// `keys export --ledger DIR` prints, or a bare public key (the key directory's
    /// ledger.pub, SPKI PEM, hex), taken as the key of the origin the input names; repeatable.
    #[arg(long, value_name = "VKEY")]
    pub key: Vec<String>,
    /// A trusted witness key (cosignature/v1 note key string or file); repeatable.
    // Not with --bundle: a bundle carries no cosignatures or tokens, so a quorum asked for
    // could not be enforced; refused rather than ignored (as --tsa-chain and --skew are).
    #[arg(long, value_name = "VKEY", conflicts_with = "bundle")]
    pub witness: Vec<String>,
    /// How many of the --witness keys must have cosigned the newest checkpoint. Also the
    /// outside-time rule: an entry's bound is the K-th smallest time the named witnesses
    /// (and TSAs) give it, tolerating K-1 slow clocks.
    #[arg(
        long,
        value_name = "K",
        requires = "witness",
        conflicts_with = "bundle"
    )]
    pub quorum: Option<usize>,
    /// TSA roots the relying party trusts (PEM): RFC 3161 tokens in the ledger's
    /// timestamps.log that verify against them (as of genTime) count as outside time.
    #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
    pub tsa_chain: Option<PathBuf>,
    /// How far an entry's recorded_at may be after the outside time that saw it
    /// (witness cosignature, TSA token) before it is a clock_ahead_of_witness finding
    /// (default 5m; units s, m, h, d, w).
    #[arg(long, value_name = "DURATION", conflicts_with = "bundle")]
    pub skew: Option<caseledger_verify::TimeSpan>,
    /// A finding (anchor_stale) when the head's recorded_at is more than DURATION after the
    /// newest outside time (e.g. 7d, 36h). Compared with the head, not with today: an idle
    /// ledger is not stale.
    #[arg(long, value_name = "DURATION", conflicts_with = "bundle")]
    pub max_staleness: Option<caseledger_verify::TimeSpan>,
    /// Verify incrementally from a resume state this auditor saved earlier (--save-state):
    /// only the entries appended since are read. Run a full verification now and then.
    #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
    pub from_state: Option<PathBuf>,
    /// After a verification with no findings, save the resume state here (replacing it)
    /// for the next --from-state run. Keep it where you keep trusted checkpoints.
    #[arg(long, value_name = "FILE", conflicts_with = "bundle")]
    pub save_state: Option<PathBuf>,
    /// Exit 1 unless something you supplied (--key, --trusted, --witness with --quorum)
    /// anchors the verdict: a clean self-attested run is not enough.
    #[arg(long)]
    pub require_anchor: bool,
    /// Treat the ledger directory as read-only evidence: copy its `sled/` and
    /// `checkpoints.log` into a private temporary directory (0700) and verify the copy,
    /// deleting it afterwards; nothing in the directory is written. Costs one ledger's size
    /// of free disk in the temporary directory ($TMPDIR). Done without this flag when the
    /// directory is not writable (read-only media, no write permission).
    #[arg(long, conflicts_with_all = ["archive", "bundle"])]
    pub read_only: bool,
}

/// `caseledger prove`.
#[derive(Subcommand)]
pub(crate) enum ProveCmd {
    /// Inclusion of entry <SEQ> in the tree of size <M> (default: the head).
    Inclusion(ProveInclusionArgs),
    /// Consistency of tree size <N> with size <M> (default: the head).
    Consistency(ProveConsistencyArgs),
}

/// `caseledger prove inclusion`.
#[derive(Args)]
pub(crate) struct ProveInclusionArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The entry.
    #[arg(long, value_name = "N")]
    pub seq: u64,
    /// The tree size (default: the ledger's size).
    #[arg(long, value_name = "M")]
    pub size: Option<u64>,
}

/// `caseledger prove consistency`.
#[derive(Args)]
pub(crate) struct ProveConsistencyArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The older tree size.
    #[arg(long, value_name = "N")]
    pub from: u64,
    /// The newer tree size (default: the ledger's size).
    #[arg(long, value_name = "M")]
    pub to: Option<u64>,
}

/// `caseledger export`.
#[derive(Args)]
pub(crate) struct ExportArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The record.
    #[arg(long, value_name = "R")]
    pub record: String,
    /// The bundle file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    #[command(flatten)]
    pub keys: KeysArg,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger archive`.
#[derive(Subcommand)]
pub(crate) enum ArchiveCmd {
    /// Write the whole ledger to one archive file.
    Export(ArchiveExportArgs),
    /// Create a new ledger directory from an archive file.
    Import(ArchiveImportArgs),
}

/// `caseledger archive export`.
#[derive(Args)]
pub(crate) struct ArchiveExportArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The archive file to write (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Include the records' content keys (wrapped by the practice's KEK; unreadable
    /// without it). Without them the archive proves integrity but its payloads cannot be
    /// read back.
    #[arg(long)]
    pub with_content_keys: bool,
}

/// `caseledger snapshot`.
#[derive(Args)]
pub(crate) struct SnapshotArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The snapshot directory to write (must not exist, or be empty).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `caseledger archive import`.
#[derive(Args)]
pub(crate) struct ArchiveImportArgs {
    /// The archive file.
    #[arg(value_name = "FILE")]
    pub archive: PathBuf,
    /// The new ledger directory (must not exist, or be empty).
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

/// `caseledger hold`.
#[derive(Subcommand)]
pub(crate) enum HoldCmd {
    /// Place a legal hold: destruction is refused while it is in force.
    Place(HoldArgs),
    /// Release the hold for a matter.
    Release(HoldArgs),
}

/// `caseledger hold place|release`.
#[derive(Args)]
pub(crate) struct HoldArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The record.
    #[arg(long, value_name = "R")]
    pub record: String,
    /// The matter (a case number; never clinical content).
    #[arg(long, value_name = "TEXT")]
    pub matter: String,
    /// The custodian who signs.
    #[arg(long, value_name = "ID")]
    pub author: String,
    /// The date of the hold (YYYY-MM-DD; default: `today`, in the practice's time zone).
    #[arg(long, value_name = "DATE")]
    pub occurred_on: Option<String>,
    #[command(flatten)]
    pub signer: SignerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// `caseledger destroy`.
#[derive(Args)]
#[command(after_help = "\
Exit status: 0 destroyed (with --dry-run: the question was answered, whether the destruction \
would be lawful or would be refused; the output says which); 1 the ledger has findings \
(--dry-run, --all-eligible), or --all-eligible had a destruction refused (the others are \
still appended and reported); 2 usage, input or I/O error, or a single destruction refused \
(nothing written).")]
pub(crate) struct DestroyArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The record.
    #[arg(
        long,
        value_name = "R",
        required_unless_present = "all_eligible",
        conflicts_with = "all_eligible"
    )]
    pub record: Option<String>,
    /// The custodian who signs (each destruction is its own signed event).
    #[arg(long, value_name = "ID", required_unless_present = "dry_run")]
    pub author: Option<String>,
    /// The authority or policy (never clinical content).
    #[arg(long, value_name = "TEXT", required_unless_present = "dry_run")]
    pub reason: Option<String>,
    /// The date of the destruction (YYYY-MM-DD; default: `today`, in the practice's time zone).
    #[arg(long, value_name = "DATE")]
    pub occurred_on: Option<String>,
    /// Verify the ledger and say what would be destroyed (entries, content) and whether it
    /// would be lawful today (with the lawful-from date and holds); write nothing. Exit 0
    /// either way.
    #[arg(long)]
    pub dry_run: bool,
    /// Verify the ledger, list every record eligible today (retention run out, no hold) and
    /// destroy each, one signed event per record. Asks on a terminal; needs --yes otherwise.
    #[arg(long)]
    pub all_eligible: bool,
    /// Do not ask for confirmation: a destruction asks on a terminal (--all-eligible needs
    /// --yes when stdin is not a terminal; one --record does not).
    #[arg(long)]
    pub yes: bool,
    /// Cite, in the signed destruction, the newest stored cosignature of this witness (a
    /// name in the ledger's witness list, or a cosignature key `name+hex8+base64`): the
    /// report can then say "lawful, attested by" it (docs/GUIDE.md, "Attested destruction").
    #[arg(long, value_name = "NAME|KEY", conflicts_with_all = ["cite_timestamp", "dry_run"])]
    pub cite_witness: Option<String>,
    /// Cite, in the signed destruction, the newest time-stamp token in the ledger's
    /// `timestamps.log` (from `caseledger timestamp`).
    #[arg(long, conflicts_with = "dry_run")]
    pub cite_timestamp: bool,
    #[command(flatten)]
    pub signer: SignerArg,
    #[command(flatten)]
    pub keys: KeysArg,
    #[command(flatten)]
    pub sync: NoSyncArg,
}

/// The anchor of a verification a read command runs: `--trusted` / `--ledger-key`.
#[derive(Args, Clone)]
pub(crate) struct AnchorArgs {
    /// A signed checkpoint the auditor holds: anchors the integrity verdict; repeatable.
    #[arg(long, value_name = "CHECKPOINT")]
    pub trusted: Vec<PathBuf>,
    /// The ledger's verifier key as the relying party holds it (note key `name+hex8+base64`
    /// from `keys export --ledger`, the key directory's ledger.pub, SPKI PEM; text or file):
    /// anchors the integrity verdict; repeatable.
    #[arg(long, value_name = "VKEY")]
    pub ledger_key: Vec<String>,
}

/// `caseledger status`.
#[derive(Args)]
#[command(after_help = "\
Without --record: the ledger's outside evidence: the newest seal's size, per configured witness \
the last size it cosigned, when and how far behind, and the last time-stamp token; read from \
checkpoints.log and timestamps.log, nothing verified (run `verify`, `timestamp verify`); exit 0.

With --record, exit status: 0 the ledger verified in this run with no findings; 1 it has \
findings (the status is still printed, as the ledger says, with the finding count); 2 usage, \
input or I/O error, or a record not in the ledger by the end of --as-of.")]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The record (without it: the ledger's seal, witnesses and time-stamps).
    #[arg(long, value_name = "R")]
    pub record: Option<String>,
    /// The status as of the end of this day in the practice's time zone (`init --time-zone`)
    /// (YYYY-MM-DD, or `today`; not after today):
    /// entries recorded later are not part of it.
    #[arg(long, value_name = "DATE", default_value = "today")]
    pub as_of: String,
    #[command(flatten)]
    pub anchor: AnchorArgs,
    /// Without --record: the key directory whose witnesses.txt and tsa.txt are shown.
    #[arg(long = "keys", value_name = "DIR", env = "CASELEDGER_KEYS")]
    pub keys: Option<PathBuf>,
}

/// `caseledger records`.
#[derive(Args)]
#[command(after_help = "\
Output: one record per line, tab-separated: id, status, retained until, lawful from, holds \
(`-` when none). Exit status as for `status`.")]
pub(crate) struct RecordsArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Only records with this status; repeatable (default: every record).
    #[arg(long, value_enum, value_name = "STATUS")]
    pub status: Vec<StatusArg>,
    /// Statuses as of the end of this day in the practice's time zone (`init --time-zone`)
    /// (YYYY-MM-DD, or `today`; not after today).
    #[arg(long, value_name = "DATE", default_value = "today")]
    pub as_of: String,
    #[command(flatten)]
    pub anchor: AnchorArgs,
}

/// A retention status on the command line (the retention report's words).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "snake_case")]
pub(crate) enum StatusArg {
    /// Service has not terminated.
    Open,
    /// Terminated; must be kept until its retention ends.
    Retained,
    /// Retention has run out and no hold is in force: may lawfully be destroyed.
    Eligible,
    /// A hold is in force.
    OnHold,
    /// Destroyed after retention, without a hold.
    DestroyedLawfully,
    /// Destroyed before retention ran out, while open, or under a hold.
    DestroyedEarly,
    /// Content gone without a lawful destruction.
    ContentMissing,
}

impl StatusArg {
    /// The report's name of the status.
    pub fn name(self) -> &'static str {
        match self {
            StatusArg::Open => "open",
            StatusArg::Retained => "retained",
            StatusArg::Eligible => "eligible",
            StatusArg::OnHold => "on_hold",
            StatusArg::DestroyedLawfully => "destroyed_lawfully",
            StatusArg::DestroyedEarly => "destroyed_early",
            StatusArg::ContentMissing => "content_missing",
        }
    }
}

/// `caseledger report`.
#[derive(Subcommand)]
pub(crate) enum ReportCmd {
    /// Verify the ledger, then write the signed retention report as of the end of a day to <DIR>.
    Retention(Box<ReportRetentionArgs>),
    /// Verify a report directory (its signed manifest and every file), or a report.json's
    /// two signatures.
    Verify(ReportVerifyArgs),
}

/// `caseledger report retention`.
#[derive(Args)]
pub(crate) struct ReportRetentionArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// The report describes the ledger as it stood at the end of this day (YYYY-MM-DD, or
    /// `today`; not after today): entries recorded later are not part of it.
    #[arg(long, value_name = "DATE")]
    pub as_of: String,
    /// The time zone of the end of --as-of (IANA name, e.g. America/Chicago; default: the
    /// practice's, `init --time-zone`).
    #[arg(long, value_name = "ZONE")]
    pub tz: Option<String>,
    /// The reporting private key file (0600 PEM, plain or passphrase-encrypted) that signs
    /// the report.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "ssh_key",
        conflicts_with = "ssh_key"
    )]
    pub signing_key: Option<PathBuf>,
    /// Sign through ssh-agent (SSH_AUTH_SOCK) with the Ed25519 key whose public half is in
    /// this file (e.g. ~/.ssh/id_ed25519.pub) instead of a key file.
    #[arg(long, value_name = "FILE.pub")]
    pub ssh_key: Option<PathBuf>,
    /// Create the --signing-key file (0600) when it does not exist.
    #[arg(long, requires = "signing_key")]
    pub generate_key: bool,
    /// The output directory (created; existing report files are not overwritten).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Report on a ledger with findings (they head the report) instead of refusing.
    #[arg(long)]
    pub include_findings: bool,
    /// The reporting identity, in the report and in allowed_signers (default: the ledger's origin).
    #[arg(long, value_name = "NAME", alias = "identity")]
    pub signer: Option<String>,
    /// A signed checkpoint the auditor holds: anchors the integrity verdict; repeatable.
    #[arg(long, value_name = "CHECKPOINT")]
    pub trusted: Vec<PathBuf>,
    /// The ledger's verifier key as the relying party holds it (note key `name+hex8+base64`
    /// from `keys export --ledger`, the key directory's ledger.pub, SPKI PEM; text or file):
    /// anchors the integrity verdict; repeatable.
    #[arg(long, value_name = "VKEY")]
    pub ledger_key: Vec<String>,
    /// A witness key the relying party trusts (cosignature/v1; repeatable): its
    /// cosignature times bound `recorded_at` (see `verify --witness`).
    #[arg(long, value_name = "VKEY")]
    pub witness: Vec<String>,
    /// As `verify --quorum`.
    #[arg(long, value_name = "K", requires = "witness")]
    pub quorum: Option<usize>,
    /// As `verify --tsa-chain`: TSA roots whose tokens bound `recorded_at`.
    #[arg(long, value_name = "FILE")]
    pub tsa_chain: Option<PathBuf>,
    /// As `verify --skew` (default 5m).
    #[arg(long, value_name = "DURATION")]
    pub skew: Option<caseledger_verify::TimeSpan>,
    /// As `verify --max-staleness`.
    #[arg(long, value_name = "DURATION")]
    pub max_staleness: Option<caseledger_verify::TimeSpan>,
}

/// `caseledger report verify`.
#[derive(Args)]
pub(crate) struct ReportVerifyArgs {
    /// A report directory (checks manifest.sha256's signatures and every file's SHA-256), or
    /// a report.json file (checks its two signatures).
    #[arg(value_name = "DIR|REPORT")]
    pub report: PathBuf,
    /// The reporting public key (SPKI PEM, ssh-ed25519 line, note key): file or text.
    #[arg(long, value_name = "PUB")]
    pub key: String,
    /// With a report.json: the SSHSIG signature (default: <REPORT>.sig).
    #[arg(long, value_name = "FILE")]
    pub sig: Option<PathBuf>,
    /// With a report.json: the raw Ed25519 signature (default: <REPORT>.ed25519).
    #[arg(long, value_name = "FILE")]
    pub ed25519: Option<PathBuf>,
}

/// `caseledger keys`.
#[derive(Subcommand)]
pub(crate) enum KeysCmd {
    /// Generate an Ed25519 private key file (0600 PKCS#8 PEM; never overwrites).
    Generate(KeysGenerateArgs),
    /// Print a public key (never a private one) as a note key, SPKI PEM or OpenSSH line.
    Export(KeysExportArgs),
    /// Restore the content key (KEK) into a key directory from the recovery kit `init` wrote.
    Recover(KeysRecoverArgs),
}

/// `caseledger keys recover`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("opener").args(["identity", "passphrase_file"])))]
pub(crate) struct KeysRecoverArgs {
    /// The recovery kit (`recovery-kit.age`, an age file).
    #[arg(long, value_name = "FILE")]
    pub kit: PathBuf,
    /// The key directory to restore the KEK into (created 0700 if missing).
    #[arg(long = "keys", value_name = "DIR", env = "CASELEDGER_KEYS")]
    pub keys: PathBuf,
    /// The age identity file that opens the kit (`recovery-identity.txt`, AGE-SECRET-KEY-1...).
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
    /// The kit's passphrase, in this file (default: CASELEDGER_PASSPHRASE_FILE, or asked on
    /// the terminal).
    #[arg(long, value_name = "F")]
    pub passphrase_file: Option<PathBuf>,
}

/// `caseledger keys generate`.
#[derive(Args)]
pub(crate) struct KeysGenerateArgs {
    /// The private key file to create.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Encrypt it with a passphrase (from CASELEDGER_PASSPHRASE_FILE, else asked twice on
    /// the terminal): PKCS#8 PBES2 (PBKDF2-SHA256, AES-256-CBC), as `openssl pkcs8 -topk8`.
    #[arg(long)]
    pub encrypt: bool,
}

/// `caseledger keys export`.
#[derive(Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["key", "ledger"])))]
pub(crate) struct KeysExportArgs {
    /// A key file (private or public); only the public half is printed.
    #[arg(long, value_name = "FILE")]
    pub key: Option<PathBuf>,
    /// A ledger: its ledger (checkpoint) key, or --actor's key.
    #[arg(long, value_name = "DIR")]
    pub ledger: Option<PathBuf>,
    /// With --ledger: this actor's key instead of the ledger key.
    #[arg(long, value_name = "ID", requires = "ledger")]
    pub actor: Option<String>,
    /// The output form.
    #[arg(long, value_enum, default_value = "note")]
    pub format: KeyFormat,
    /// The key name for --format note (default: the ledger origin, or the file name).
    #[arg(long)]
    pub name: Option<String>,
    /// --format note: a witness (cosignature/v1) key instead of a log key.
    #[arg(long)]
    pub witness: bool,
}

/// Public key output forms.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum KeyFormat {
    /// A signed-note verifier key `name+hex8+base64`.
    Note,
    /// SPKI PEM (`openssl pkeyutl -verify -pubin`).
    Pem,
    /// An OpenSSH `ssh-ed25519` line.
    Ssh,
}

/// `caseledger completions`.
#[derive(Args)]
pub(crate) struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// `caseledger man`.
#[derive(Args)]
pub(crate) struct ManArgs {
    /// Write caseledger.1 and one page per subcommand (caseledger-verify.1, ...) into this
    /// directory (created) instead of printing the main page: `make install` does this.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// `caseledger sample`.
#[derive(Args)]
pub(crate) struct SampleArgs {
    /// How many client records.
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub clients: u32,
    /// The random seed (same seed, same output).
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Write here instead of stdout (must not exist).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs one parsed command; after one that sealed, sends the newest seal to the outside
/// evidence the key directory configures ([`evidence::after_write`]: never an error).
pub(crate) fn run(cli: Cli, out: &Out) -> Result<Outcome> {
    let after = evidence::target(&cli.command);
    let outcome = dispatch(cli.command, out)?;
    if let Some(t) = after {
        evidence::after_write(&t, out);
    }
    Ok(outcome)
}

fn dispatch(command: Command, out: &Out) -> Result<Outcome> {
    match command {
        Command::Init(a) => actor::init(a, out),
        Command::Actor(ActorCmd::Add(a)) => actor::add(a, out),
        Command::Actor(ActorCmd::Revoke(a)) => actor::revoke(a, out),
        Command::ClockCorrected(a) => clock::run(a, out),
        Command::Close(a) => close::run(a, out),
        Command::Append(a) => append::run(a, out),
        Command::Import(a) => import::run(a, out),
        Command::EventBytes(a) => append::event_bytes(a, out),
        Command::Checkpoint(a) => checkpoint::checkpoint(a, out),
        Command::Cosign(a) => checkpoint::cosign(a, out),
        Command::Witness(WitnessCmd::Serve(a)) => witness::serve(a, out),
        Command::Serve(a) => serve::run(a, out),
        Command::Publish(a) => publish::run(a, out),
        Command::Monitor(a) => monitor::run(a, out),
        Command::Witness(WitnessCmd::Add(a)) => witness::add(a, out),
        Command::Witness(WitnessCmd::List(a)) => witness::list(a, out),
        Command::Witness(WitnessCmd::Remove(a)) => witness::remove(a, out),
        Command::Witness(WitnessCmd::Sync(a)) => witness::sync(a, out),
        Command::Timestamp(TimestampArgs {
            verify: Some(TimestampCmd::Verify(a)),
            ..
        }) => timestamp::verify(a, out),
        Command::Timestamp(TimestampArgs {
            verify: Some(TimestampCmd::Config(c)),
            ..
        }) => match c {
            TimestampConfigCmd::Set(a) => timestamp::config_set(a, out),
            TimestampConfigCmd::Show(a) => timestamp::config_show(a, out),
            TimestampConfigCmd::Remove(a) => timestamp::config_remove(a, out),
        },
        Command::Timestamp(TimestampArgs {
            verify: Some(TimestampCmd::Renew(a)),
            ..
        }) => timestamp::renew(a, out),
        Command::Timestamp(a) => timestamp::obtain(a, out),
        Command::Verify(a) => verify::run(a, out),
        Command::Prove(ProveCmd::Inclusion(a)) => prove::inclusion(a, out),
        Command::Prove(ProveCmd::Consistency(a)) => prove::consistency(a, out),
        Command::Export(a) => bundle::export(a, out),
        Command::Archive(ArchiveCmd::Export(a)) => archive::export(a, out),
        Command::Archive(ArchiveCmd::Import(a)) => archive::import(a, out),
        Command::Snapshot(a) => snapshot::run(a, out),
        Command::Hold(HoldCmd::Place(a)) => records::hold(a, true, out),
        Command::Hold(HoldCmd::Release(a)) => records::hold(a, false, out),
        Command::Destroy(a) => records::destroy(a, out),
        Command::Status(a) => status::status(a, out),
        Command::Records(a) => status::records(a, out),
        Command::Report(ReportCmd::Retention(a)) => report::retention(*a, out),
        Command::Report(ReportCmd::Verify(a)) => report::verify(a, out),
        Command::Keys(KeysCmd::Generate(a)) => keys::generate(a, out),
        Command::Keys(KeysCmd::Export(a)) => keys::export(a, out),
        Command::Keys(KeysCmd::Recover(a)) => keys::recover(a, out),
        Command::Completions(a) => misc::completions(a, out),
        Command::Man(a) => misc::man(a, out),
        Command::Sample(a) => misc::sample(a, out),
    }
}
