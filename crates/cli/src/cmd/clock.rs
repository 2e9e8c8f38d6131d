//! `caseledger clock-corrected`: an admin records that the system clock was set back beyond
//! the skew the genesis allows (DESIGN v2 principle 4). Until then the store refuses every
//! append; afterwards the ledger runs on the corrected clock, and the verifier judges again
//! any destruction recorded while the clock ran ahead.

use super::ledger_ops::append_admin_reason;
use super::ClockCorrectedArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::Result;
use caseledger_core::event::EventKind;

/// `caseledger clock-corrected`.
pub(crate) fn run(a: ClockCorrectedArgs, out: &Out) -> Result<Outcome> {
    append_admin_reason(
        &a.ledger.ledger,
        a.keys.get(),
        &a.signer,
        &a.author,
        &a.reason,
        |reason| EventKind::ClockCorrected { reason },
        ("clock-corrected", "the clock correction"),
        |_| Ok(()),
        out,
    )
}
