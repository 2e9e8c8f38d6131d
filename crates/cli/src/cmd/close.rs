//! `caseledger close`: an admin ends the ledger's life with a signed `ledger_closed` entry
//! (issue 14). The store refuses every append after it, the verifier reports any entry
//! after it, and `status` and the retention report say the ledger is closed. The ledger
//! stays readable and verifiable; bundles must be exported before (an export appends).

use super::ledger_ops::{
    open_sealing, print_receipt, sign_append_as, store_why, today, AuthorSigner,
};
use super::CloseArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_core::event::{Event, EventKind, ShortText};
use caseledger_core::ActorId;
use caseledger_store::Durability;
use std::io::IsTerminal;

/// `caseledger close`.
pub(crate) fn run(a: CloseArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let author = ActorId::new(a.author.as_str()).map_err(|e| anyhow!("--author: {e}"))?;
    let reason = ShortText::new(a.reason.as_str())
        .map_err(|_| anyhow!("--reason: must be 1-256 bytes of text without control characters"))?;
    // As `destroy`: a person at a terminal confirms an act that cannot be undone; a script
    // (stdin not a terminal) or --yes does not. Asked before the ledger's lock is taken.
    if !a.yes && std::io::stdin().is_terminal() {
        super::records::confirm(
            &format!(
                "close ledger {} as {author}? Nothing can be appended after it, ever (it stays \
             readable and verifiable; export bundles first). Type yes to confirm: ",
                dir.display()
            ),
            "nothing written",
        )
        .map_err(|e| anyhow!("close: {e}"))?;
    }
    let (ledger, kd) = open_sealing(dir, a.keys.get(), Durability::Immediate)?;
    let signer = AuthorSigner::resolve(&a.signer, &kd, &author)?;
    let ev = Event::new(
        None,
        author,
        EventKind::LedgerClosed { reason },
        today(&ledger)?,
    );
    let receipt =
        sign_append_as(&ledger, &signer, ev)?.map_err(|e| anyhow!("close: {}", store_why(&e)))?;
    print_receipt("the close of the ledger", &receipt, None, out)?;
    Ok(Outcome::Ok)
}
