//! `caseledger clock-corrected`: an admin records that the system clock was set back beyond
//! the skew the genesis allows (DESIGN v2 principle 4). Until then the store refuses every
//! append; afterwards the ledger runs on the corrected clock, and the verifier judges again
//! any destruction recorded while the clock ran ahead.

use super::ledger_ops::{
    open_sealing, print_receipt, sign_append_as, store_why, today, AuthorSigner,
};
use super::ClockCorrectedArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_core::event::{Event, EventKind, ShortText};
use caseledger_core::ActorId;
use caseledger_store::Durability;

/// `caseledger clock-corrected`.
pub(crate) fn run(a: ClockCorrectedArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let author = ActorId::new(a.author.as_str()).map_err(|e| anyhow!("--author: {e}"))?;
    let reason = ShortText::new(a.reason.as_str())
        .map_err(|_| anyhow!("--reason: must be 1-256 bytes of text without control characters"))?;
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let signer = AuthorSigner::resolve(&a.signer, &kd, &author)?;
    let ev = Event::new(
        None,
        author,
        EventKind::ClockCorrected { reason },
        today(&ledger)?,
    );
    let receipt = sign_append_as(&ledger, &signer, ev)?
        .map_err(|e| anyhow!("clock-corrected: {}", store_why(&e)))?;
    print_receipt("the clock correction", &receipt, None, out)?;
    Ok(Outcome::Ok)
}
