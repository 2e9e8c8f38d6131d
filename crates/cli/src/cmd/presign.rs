//! Events signed elsewhere (docs/FORMAT.md §3, "Pre-signed events"): the fields a record
//! system gives when it signs with its own key (`signed_at`, `nonce`, `salt`, `signature`),
//! the event they rebuild, and author signatures made through ssh-agent.
//!
//! The ledger rebuilds the event from the line's fields and these, so a pre-signed event
//! is appended exactly as signed; the store checks the signature against the author's
//! enrolled key (and `signed_at` against the ledger's clock) before anything is written.
//! The fields are parsed in `caseledger_serve::presign` (the server accepts the same).

use anyhow::{anyhow, Result};
use caseledger_core::event::{AuthorSignature, Event, EVENT_SSHSIG_NAMESPACE};
use caseledger_core::{sshsig, ActorId};
use caseledger_keyfile::agent::AgentSigner;
use caseledger_keyfile::Signer;
use caseledger_store::Ledger;
use std::path::Path;

pub(crate) use caseledger_serve::presign::{Fields, Presign, FLAG_NAMES, JSON_NAMES};

/// Signs `ev` for `origin` through ssh-agent: an SSHSIG (namespace `caseledger-event`,
/// SHA-512) over the signing message, stored as [`AuthorSignature::SshSig`].
pub(crate) fn sign_through_agent(
    ev: Event,
    origin: &str,
    agent: &AgentSigner,
) -> Result<caseledger_core::event::SignedEvent> {
    let msg = ev.signing_message(origin)?;
    let sig = Signer::sign(
        agent,
        &sshsig::signed_data_sha512(EVENT_SSHSIG_NAMESPACE, &msg),
    )
    .map_err(|e| anyhow!("{e}"))?;
    Ok(ev.with_signature(AuthorSignature::SshSig(sig)))
}

/// The ssh-agent signer for the key in `pub_file` (`--ssh-key`).
pub(crate) fn agent_signer(pub_file: &Path) -> Result<AgentSigner> {
    AgentSigner::from_pub_file(pub_file).map_err(|e| anyhow!("--ssh-key: {e}"))
}

/// The actors whose enrolled key is `signer`'s key (an author who signs through ssh-agent).
pub(crate) fn actors_with_key(ledger: &Ledger, signer: &AgentSigner) -> Vec<ActorId> {
    let key = Signer::public_key(signer);
    ledger
        .registry()
        .actors
        .iter()
        .filter(|(_, a)| a.key == key)
        .map(|(id, _)| id.clone())
        .collect()
}
