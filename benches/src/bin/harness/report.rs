//! P7 retention report: building the report from a verification, encoding it and signing
//! it, against the verification it followed.

use crate::plan::EVENTS_PER_RECORD;
use crate::table::{fmt_secs, Row, Verdict};
use crate::util::Res;
use caseledger_bench::stats::{median, si};
use caseledger_core::keys::SigningKey;
use caseledger_core::{Date, Timestamp};
use caseledger_verify::asof::AsOf;
use caseledger_verify::report::{sign_report, ReportContext, RetentionReport};
use caseledger_verify::Policy;
use std::time::Instant;

/// Seconds to build the retention report of `a` (a verification that also folded the prefix
/// recorded by the end of `as_of`), encode it and sign it.
pub fn time_report(a: &AsOf, policy: &Policy, as_of: Date, now: Timestamp) -> Res<f64> {
    let t = Instant::now();
    let key = SigningKey::from_seed(&[4; 32]);
    let ctx = ReportContext {
        as_of,
        time_zone: "UTC".to_owned(),
        produced_at: now,
        identity: "bench".to_owned(),
        key: key.public_key(),
    };
    let r = RetentionReport::build(a, policy, &ctx, true)?;
    let json = r.to_canonical_json()?;
    let signed = sign_report(&json, &key)?;
    std::hint::black_box((json.len(), signed.raw_ed25519[0]));
    Ok(t.elapsed().as_secs_f64())
}

/// The P7 row from the per-repetition seconds of verification (`p7v`) and of the report
/// that followed it (`p7r`), on a ledger of `verify_n` events.
pub fn row(verify_n: u64, p7v: &[f64], p7r: &[f64]) -> Row {
    // Report overhead per repetition (report time over the verification it followed), median.
    let overs: Vec<f64> = p7v
        .iter()
        .zip(p7r)
        .map(|(v, r)| if *v > 0.0 { r / v } else { 0.0 })
        .collect();
    let over = median(&overs);
    Row {
        target: format!(
            "P7 retention report, {} events / {} records",
            si(verify_n as f64),
            si((verify_n / EVENTS_PER_RECORD) as f64)
        ),
        floor: format!("verification alone {:.2} s", median(p7v)),
        ours: format!("report build + JSON + sign {:.3} s", median(p7r)),
        ratio: format!("+{:.1}%", over * 100.0),
        goal: "<= +10% over verification".to_owned(),
        verdict: if over <= 0.10 {
            Verdict::Met
        } else {
            Verdict::NotMet
        },
        note: format!(
            "same process, right after each verification; reps verify [{}] s, report [{}] s",
            fmt_secs(p7v),
            fmt_secs(p7r)
        ),
    }
}
