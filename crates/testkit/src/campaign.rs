//! The reliability campaigns' fixtures ([`Cast::CAMPAIGN`]): a ledger with a licensee and a
//! custodian, events whose payloads hold a canary that must never leave the payload store.

use crate::{rid, Cast};
use caseledger_core::event::{Entry, EventKind, Payload, SignedEvent, FORMAT_VERSION};
use caseledger_core::{Date, EntryHash, Seq, Timestamp};
use caseledger_store::{Ledger, OpenOptions, Receipt};
use std::path::Path;

/// A string that must never appear outside the payload store (campaign 6).
pub const CANARY: &str = "CANARY-7f3e-clinical-secret";

/// Every form in which `needle` could leak: as text, hex, base64 at the three alignments
/// (the alignment-dependent ends dropped), and Rust's `Debug` of its first 8 bytes as a byte
/// slice. `needle` must be at least 8 bytes.
pub fn leak_forms(needle: &str) -> Vec<String> {
    use base64::Engine;
    let b = needle.as_bytes();
    let mut forms = vec![
        needle.to_owned(),
        b.iter().map(|x| format!("{x:02x}")).collect(),
    ];
    for skip in 0..3 {
        let e = base64::engine::general_purpose::STANDARD.encode(&b[skip..]);
        forms.push(e[4..e.len() - 4].to_owned());
    }
    forms.push(
        b[..8]
            .iter()
            .map(u8::to_string)
            .collect::<Vec<_>>()
            .join(", "),
    );
    forms
}

/// The campaigns' cast.
const CAST: Cast = Cast::CAMPAIGN;

/// A date the ledger clock is never before.
pub fn day() -> Date {
    Date::parse("2024-01-02").expect("date")
}

/// Creates a ledger at `dir` (genesis, a licensee, a custodian), with `options`. The
/// enrolments are dated 2000-01-01: early enough for any clock a campaign sets.
pub fn create_ledger_with(dir: &Path, mut options: OpenOptions) -> Ledger {
    // Payloads need the practice's content key.
    if options.kek.is_none() {
        options.kek = Some(crate::kek());
    }
    CAST.staffed(dir, options, Date::parse("2000-01-01").expect("date"))
}

/// [`create_ledger_with`] default options (Immediate durability, system clock).
pub fn create_ledger(dir: &Path) -> Ledger {
    create_ledger_with(dir, OpenOptions::default())
}

/// A licensee event on `record` with a payload holding the canary.
pub fn clinical(record: &str, kind: EventKind, on: Date, text: &str) -> (SignedEvent, Payload) {
    let content = format!("{CANARY} {text}");
    let (e, p) = CAST
        .licensee
        .sign(Some(&rid(record)), kind, on, Some(content.as_bytes()));
    (e, p.expect("a payload"))
}

/// A custodian event on `record` (no payload).
pub fn custodial(record: &str, kind: EventKind, on: Date) -> SignedEvent {
    CAST.custodian.sign(Some(&rid(record)), kind, on, None).0
}

/// Appends `RecordOpened` for `record`.
pub fn open_record(ledger: &Ledger, record: &str) -> Receipt {
    let (e, p) = clinical(record, EventKind::RecordOpened, day(), "intake");
    ledger.append(e, Some(p)).expect("open record")
}

/// Appends one progress note to `record` (opened before).
pub fn note(ledger: &Ledger, record: &str, i: u64) -> caseledger_store::Result<Receipt> {
    let (e, p) = clinical(
        record,
        EventKind::ProgressNote,
        day(),
        &format!("progress note {i}"),
    );
    ledger.append(e, Some(p))
}

/// The auditor's policy: trusts the ledger key, the checkpoints given and the origin.
pub fn policy(checkpoints: Vec<String>) -> caseledger_verify::Policy {
    CAST.policy_with_origin(checkpoints)
}

/// Valid entry bytes to mutate: the golden ledger's entries, plus a fresh entry.
pub fn sample_entry_bytes() -> Vec<Vec<u8>> {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ledger-data/vectors/golden-ledger.json");
    let mut out = Vec::new();
    if let Ok(text) = std::fs::read_to_string(path) {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            for e in v["entries"].as_array().into_iter().flatten() {
                if let Some(b) = e["entry_bytes"].as_str().and_then(crate::hex_decode) {
                    out.push(b);
                }
            }
        }
    }
    let (ev, _) = clinical("C-0001", EventKind::ProgressNote, day(), "x");
    let entry = Entry {
        format_version: FORMAT_VERSION,
        seq: Seq(7),
        prev: EntryHash([9; 32]),
        recorded_at: Timestamp(1_700_000_000_000_000),
        placement: Some(caseledger_core::event::Placement {
            ordinal: 3,
            prev_in_record: Some(Seq(5)),
        }),
        prev_registry: Some(Seq(2)),
        content: None,
        event: ev,
    };
    out.push(entry.to_bytes().expect("encode"));
    out
}

#[cfg(test)]
mod tests {
    /// The golden ledger is found from this crate's directory (else only one sample).
    #[test]
    fn sample_entries_include_the_golden_ledger() {
        assert!(super::sample_entry_bytes().len() > 1);
    }
}
