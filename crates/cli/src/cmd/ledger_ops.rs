//! Shared steps of the commands that write: open a ledger, sign an event, append it,
//! and explain a refusal in one line.

use super::SignerArg;
use crate::keys::KeyDir;
use crate::output::Out;
use anyhow::{anyhow, Context, Result};
use caseledger_core::event::{Event, SignedEvent};
use caseledger_core::keys::SigningKey;
use caseledger_core::record::Registry;
use caseledger_core::ActorId;
use caseledger_core::{Date, Timestamp};
use caseledger_keyfile::agent::AgentSigner;
use caseledger_store::{Durability, Ledger, OpenOptions, Receipt, StoreError};
use serde::Serialize;
use serde_json::json;
use std::path::Path;

/// Opens a ledger without its key: reading, proofs, cosignatures (nothing is appended).
pub(crate) fn open(dir: &Path, durability: Durability) -> Result<Ledger> {
    crate::io::check_ledger_dir(dir)?;
    Ledger::open(dir, OpenOptions::default().with_durability(durability))
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))
}

/// The origin of the ledger at `dir` (opened for writing and closed again): for finding
/// the default key directory before a command opens the ledger itself.
pub(crate) fn origin_of(dir: &Path) -> Result<String> {
    let ledger = open(dir, Durability::Immediate)?;
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| anyhow!("ledger {}: has no genesis", dir.display()))?;
    ledger
        .close()
        .map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?;
    Ok(origin)
}

/// Opens a ledger to append, with the keys of the key directory (`--keys`, else the
/// default for its origin): the ledger key, which seals every commit, and the practice's
/// content key (KEK), which payloads need. Returns the key directory for the author's key.
pub(crate) fn open_sealing(
    dir: &Path,
    keys: Option<&Path>,
    durability: Durability,
) -> Result<(Ledger, KeyDir)> {
    crate::io::check_ledger_dir(dir)?;
    let kd = KeyDir::resolve(keys, dir, || origin_of(dir))?;
    let key = kd
        .ledger_key()
        .context("the ledger key seals every append")?;
    let mut options = OpenOptions::default()
        .with_durability(durability)
        .with_ledger_key(key);
    if let Some(kek) = kd.kek()? {
        options = options.with_kek(kek);
    }
    let ledger =
        Ledger::open(dir, options).map_err(|e| anyhow!("ledger {}: {e}", dir.display()))?;
    Ok((ledger, kd))
}

/// Today in the practice's time zone (genesis): the date the store and the fold give an
/// entry recorded now, so the date of an event the CLI signs (an enrolment, a hold, a
/// destruction) is that day, not the UTC one (a day ahead in an American evening).
pub(crate) fn today(ledger: &Ledger) -> Result<Date> {
    day_at(&ledger.registry(), Timestamp::now())
}

/// The practice's date at `now`.
pub(crate) fn day_at(registry: &Registry, now: Timestamp) -> Result<Date> {
    registry
        .ledger_date(now)
        .map_err(|e| anyhow!("the system clock: {e}"))
}

/// Parses a `--occurred-on`-style date argument (an ISO date; `today` is [`day_arg`]'s).
pub(crate) fn date_arg(s: &str, flag: &str) -> Result<Date> {
    Date::parse(s).map_err(|_| {
        let shown = s.chars().take(32).collect::<String>();
        // The right shape but no such day (2025-02-30, or a year out of range): saying
        // "expected YYYY-MM-DD" would send the reader looking at the wrong thing.
        let shaped = s.len() == 10
            && s.bytes().enumerate().all(|(i, b)| {
                if i == 4 || i == 7 {
                    b == b'-'
                } else {
                    b.is_ascii_digit()
                }
            });
        if shaped {
            anyhow!(
                "{flag} {shown:?}: no such day (a real month and day, years {}-{})",
                caseledger_core::time::MIN_YEAR,
                caseledger_core::time::MAX_YEAR
            )
        } else {
            anyhow!("{flag} {shown:?}: expected an ISO date YYYY-MM-DD, or `today`")
        }
    })
}

/// A date argument that may be `today`: `None` for today, which is the practice's date
/// ([`today`]) and so known only once the ledger is open; checked before it is opened.
pub(crate) fn day_arg(s: &str, flag: &str) -> Result<Option<Date>> {
    if s == "today" {
        return Ok(None);
    }
    date_arg(s, flag).map(Some)
}

/// A store error in words; refusals are the fold's own words.
pub(crate) fn store_why(e: &StoreError) -> String {
    match e {
        StoreError::Refused(v) => format!("refused: {v}"),
        other => other.to_string(),
    }
}

/// Who signs an event: a private key (the key directory's file for the signer, or
/// `--key FILE`) or ssh-agent (`--ssh-key FILE.pub`: an SSHSIG signature).
pub(crate) enum AuthorSigner {
    /// A key file.
    Key(SigningKey),
    /// ssh-agent.
    Agent(AgentSigner),
}

impl AuthorSigner {
    /// The signer `--ssh-key`, `--key` or the key directory gives for `author`. A key that
    /// is not the author's enrolled key is refused by the store ("bad signature").
    pub(crate) fn resolve(arg: &SignerArg, kd: &KeyDir, author: &ActorId) -> Result<AuthorSigner> {
        match (&arg.ssh_key, &arg.key) {
            (Some(p), _) => Ok(AuthorSigner::Agent(super::presign::agent_signer(p)?)),
            (None, Some(p)) => Ok(AuthorSigner::Key(
                crate::keys::read_private(p).map_err(|e| anyhow!("--key {}: {e}", p.display()))?,
            )),
            (None, None) => Ok(AuthorSigner::Key(kd.actor_key(author)?)),
        }
    }

    /// Signs `ev` for the ledger `origin`.
    pub(crate) fn sign(&self, ev: Event, origin: &str) -> Result<SignedEvent> {
        match self {
            AuthorSigner::Key(k) => Ok(ev.sign(origin, k)?),
            AuthorSigner::Agent(a) => super::presign::sign_through_agent(ev, origin, a),
        }
    }
}

/// Signs an event without payload with `signer` and appends it: the outer error is the
/// signing (a key or the agent), the inner one the store's.
pub(crate) fn sign_append_as(
    ledger: &Ledger,
    signer: &AuthorSigner,
    ev: Event,
) -> Result<Result<Receipt, StoreError>> {
    let origin = ledger
        .origin()
        .map(|o| o.as_str().to_owned())
        .ok_or_else(|| anyhow!("the ledger has no genesis"))?;
    let signed = signer.sign(ev, &origin)?;
    Ok(ledger.append(signed, None))
}

/// A receipt as one JSON line (docs/FORMAT.md, "Receipts"): keys in this order, the
/// seal's note as a JSON string. What a record system keeps; `verify --trusted` reads it.
#[derive(Serialize)]
pub(crate) struct ReceiptLine<'a> {
    /// The entry's seq.
    seq: u64,
    /// Its entry hash, lowercase hex.
    hash: String,
    /// Its recorded_at, microseconds since the epoch.
    recorded_at_us: i64,
    /// The seal's signed checkpoint note.
    seal: Option<&'a str>,
}

impl<'a> ReceiptLine<'a> {
    pub(crate) fn of(r: &'a Receipt) -> ReceiptLine<'a> {
        ReceiptLine {
            seq: r.seq.0,
            hash: r.hash.to_hex(),
            recorded_at_us: r.recorded_at.0,
            seal: r.seal.as_ref().map(|s| &*s.note),
        }
    }

    /// The line, with its final newline.
    pub(crate) fn to_line(&self) -> Result<String> {
        let mut s = serde_json::to_string(self)?;
        s.push('\n');
        Ok(s)
    }
}

/// Appends receipts to a JSONL file (created 0600 if missing), fsynced: written only after
/// the appends they describe were acknowledged (sealed and durable).
pub(crate) fn write_receipts(path: &Path, receipts: &[Receipt]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut text = String::new();
    for r in receipts {
        text.push_str(&ReceiptLine::of(r).to_line()?);
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
        .map_err(crate::io::io_why)
        .with_context(|| format!("receipts {}", path.display()))?;
    f.write_all(text.as_bytes())
        .and_then(|()| f.sync_all())
        .map_err(crate::io::io_why)
        .with_context(|| format!("receipts {}", path.display()))?;
    Ok(())
}

/// Prints an accepted append (and appends its receipt to `receipts`, if given).
pub(crate) fn print_receipt(
    what: &str,
    r: &Receipt,
    receipts: Option<&Path>,
    out: &Out,
) -> Result<()> {
    if let Some(p) = receipts {
        write_receipts(p, std::slice::from_ref(r))?;
    }
    if out.json {
        out.json_data(&json!({
            "seq": r.seq.0,
            "hash": r.hash.to_hex(),
            "recorded_at_us": r.recorded_at.0,
            "seal": r.seal.as_ref().map(|s| &*s.note),
        }))
    } else {
        out.data(&format!("seq {} {}", r.seq.0, r.hash.to_hex()))?;
        let sealed = r
            .seal
            .as_ref()
            .map(|s| format!(", sealed at size {}", s.size))
            .unwrap_or_default();
        out.say(format!("appended {what} at seq {}{sealed}", r.seq.0));
        Ok(())
    }
}

/// An admin's entry that carries only a reason (`clock-corrected`, `close`): the author and
/// reason checked, the ledger opened for sealing, the event signed (key file, key directory
/// or ssh-agent), appended durably and its receipt printed as `what`. `confirm` runs after
/// the arguments are checked and before the ledger's lock is taken (a question at a
/// terminal never holds the lock). Errors of the store are prefixed with `cmd`.
#[allow(clippy::too_many_arguments)] // one call per command; a struct would only rename them
pub(crate) fn append_admin_reason(
    dir: &Path,
    keys: Option<&Path>,
    signer: &SignerArg,
    author: &str,
    reason: &str,
    kind: fn(caseledger_core::event::ShortText) -> caseledger_core::event::EventKind,
    (cmd, what): (&str, &str),
    confirm: impl FnOnce(&ActorId) -> Result<()>,
    out: &Out,
) -> Result<crate::Outcome> {
    let author = ActorId::new(author).map_err(|e| anyhow!("--author: {e}"))?;
    let reason = caseledger_core::event::ShortText::new(reason)
        .map_err(|_| anyhow!("--reason: must be 1-256 bytes of text without control characters"))?;
    confirm(&author)?;
    let (ledger, kd) = open_sealing(dir, keys, Durability::Immediate)?;
    let signer = AuthorSigner::resolve(signer, &kd, &author)?;
    let ev = Event::new(None, author, kind(reason), today(&ledger)?);
    let receipt =
        sign_append_as(&ledger, &signer, ev)?.map_err(|e| anyhow!("{cmd}: {}", store_why(&e)))?;
    print_receipt(what, &receipt, None, out)?;
    Ok(crate::Outcome::Ok)
}

#[cfg(test)]
mod tests {
    use super::*;
    use caseledger_core::event::{LedgerSettings, ShortText, TimeZoneName};
    use caseledger_core::ActorId;
    use caseledger_store::CreateOptions;
    use std::sync::Arc;

    /// 00:30 UTC on 2 December is still the evening of 1 December in Chicago: a ledger
    /// created for a practice there dates an event the CLI signs then on the 1st, as the
    /// store and the fold do (the UTC date, the 2nd, is what `today` used to give).
    #[test]
    fn today_is_the_practices_date_not_the_utc_one() {
        // No tempfile here: a directory of this process, removed at the end.
        let dir = std::env::temp_dir().join(format!("caseledger-cli-today-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let utc_day = Date::parse("2026-12-02").unwrap();
        let at = Timestamp(Timestamp::start_of(utc_day).unwrap().0 + 30 * 60 * 1_000_000);
        let admin = SigningKey::from_seed(&[1; 32]);
        let ledger_key = SigningKey::from_seed(&[2; 32]);
        let mut days = Vec::new();
        for zone in ["America/Chicago", "UTC", "Asia/Tokyo"] {
            let l = Ledger::create(
                dir.join(zone.replace('/', "-")),
                CreateOptions {
                    origin: ShortText::new("example.org/today").unwrap(),
                    admin: ActorId::new("admin").unwrap(),
                    admin_key: &admin,
                    ledger_key: ledger_key.public_key(),
                    settings: LedgerSettings::new(false, TimeZoneName::new(zone).unwrap()),
                    open: OpenOptions::default()
                        .with_clock(Arc::new(move || at))
                        .with_ledger_key(ledger_key.clone()),
                },
            )
            .unwrap();
            days.push(day_at(&l.registry(), at).unwrap().to_string());
            l.close().unwrap();
        }
        assert_eq!(at.date_utc().unwrap(), utc_day);
        assert_eq!(days, ["2026-12-01", "2026-12-02", "2026-12-02"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
