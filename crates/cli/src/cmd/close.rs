//! `caseledger close`: an admin ends the ledger's life with a signed `ledger_closed` entry
//! (issue 14). The store refuses every append after it, the verifier reports any entry
//! after it, and `status` and the retention report say the ledger is closed. The ledger
//! stays readable and verifiable; bundles must be exported before (an export appends).

use super::ledger_ops::append_admin_reason;
use super::CloseArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};
use caseledger_core::event::EventKind;
use std::io::IsTerminal;

/// `caseledger close`.
pub(crate) fn run(a: CloseArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    append_admin_reason(
        dir,
        a.keys.get(),
        &a.signer,
        &a.author,
        &a.reason,
        |reason| EventKind::LedgerClosed { reason },
        ("close", "the close of the ledger"),
        |author| {
            // As `destroy`: a person at a terminal confirms an act that cannot be undone; a
            // script (stdin not a terminal) or --yes does not.
            if a.yes || !std::io::stdin().is_terminal() {
                return Ok(());
            }
            super::records::confirm(
                &format!(
                    "close ledger {} as {author}? Nothing can be appended after it, ever (it \
                     stays readable and verifiable; export bundles first). Type yes to confirm: ",
                    dir.display()
                ),
                "nothing written",
            )
            .map_err(|e| anyhow!("close: {e}"))
        },
        out,
    )
}
