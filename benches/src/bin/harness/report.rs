//! P7 retention report: building the report from a verification, encoding it and signing
//! it, against the verification it followed.

use crate::plan::EVENTS_PER_RECORD;
use crate::table::{fmt_secs, Row, Verdict};
use crate::util::Res;
use caseledger_bench::stats::{median, si};
use caseledger_core::keys::SigningKey;
use caseledger_verify::report::{sign_report, RetentionReport};
use caseledger_verify::Verified;
use std::time::Instant;

/// Seconds to build the retention report of `v`, encode it and sign it.
pub fn time_report(v: &Verified) -> Res<f64> {
    let t = Instant::now();
    let as_of = caseledger_core::Timestamp::now().date_utc()?;
    let r = RetentionReport::build(v, as_of, true)?;
    let json = r.to_canonical_json()?;
    let signed = sign_report(&json, &SigningKey::from_seed(&[4; 32]))?;
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
