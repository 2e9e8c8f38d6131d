//! Events signed elsewhere (docs/FORMAT.md §3, "Pre-signed events"): the fields a record
//! system gives when it signs with its own key (`signed_at`, `nonce`, `salt`, `signature`),
//! the event they rebuild, and author signatures made through ssh-agent.
//!
//! The ledger rebuilds the event from the line's fields and these, so a pre-signed event
//! is appended exactly as signed; the store checks the signature against the author's
//! enrolled key (and `signed_at` against the ledger's clock) before anything is written.

use anyhow::{anyhow, bail, Result};
use base64::Engine;
use caseledger_core::event::{AuthorSignature, Event, EventKind, Payload, EVENT_SSHSIG_NAMESPACE};
use caseledger_core::ids::Nonce;
use caseledger_core::{sshsig, ActorId, Date, RecordId, SignatureBytes, Timestamp};
use caseledger_keyfile::agent::AgentSigner;
use caseledger_keyfile::Signer;
use caseledger_store::Ledger;
use std::path::Path;

/// What the four fields are called where they are read (JSON field or command-line flag).
pub(crate) struct Names {
    pub signed_at: &'static str,
    pub nonce: &'static str,
    pub salt: &'static str,
    pub signature: &'static str,
}

/// The ingest line's field names.
pub(crate) const JSON_NAMES: Names = Names {
    signed_at: "signed_at",
    nonce: "nonce",
    salt: "salt",
    signature: "signature",
};

/// `caseledger append`'s flags.
pub(crate) const FLAG_NAMES: Names = Names {
    signed_at: "--signed-at",
    nonce: "--nonce",
    salt: "--salt",
    signature: "--signature",
};

/// The author-chosen parts of an event, when given rather than chosen here (now, a random
/// nonce, a random salt), and a signature made elsewhere.
#[derive(Default)]
pub(crate) struct Presign {
    signed_at: Option<Timestamp>,
    nonce: Option<Nonce>,
    salt: Option<[u8; 32]>,
    signature: Option<AuthorSignature>,
}

/// The fields as text, in the order of [`Names`].
pub(crate) struct Fields<'a> {
    pub signed_at: Option<&'a str>,
    pub nonce: Option<&'a str>,
    pub salt: Option<&'a str>,
    pub signature: Option<&'a str>,
}

/// RFC 3339 (`2026-12-02T09:30:00Z`; any offset, only the instant is signed), at most
/// microsecond precision (what a [`Timestamp`] holds: finer digits would be signed bytes
/// the ledger cannot rebuild).
fn parse_signed_at(s: &str, name: &str) -> Result<Timestamp> {
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|_| anyhow!("{name}: expected an RFC 3339 time such as 2026-12-02T09:30:00Z"))?;
    if ts.subsec_nanosecond() % 1000 != 0 {
        bail!("{name}: at most 6 fractional digits (microseconds)");
    }
    Ok(Timestamp(ts.as_microsecond()))
}

fn parse_hex<const N: usize>(s: &str, name: &str) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| anyhow!("{name}: expected {} hex digits", 2 * N))?;
    Ok(out)
}

/// A 64-byte Ed25519 signature in base64, or an armoured SSHSIG in namespace
/// `caseledger-event` (SHA-512) as `ssh-keygen -Y sign` writes it.
fn parse_signature(s: &str, name: &str) -> Result<AuthorSignature> {
    let s = s.trim();
    if s.starts_with("-----BEGIN SSH SIGNATURE-----") {
        let (_, sig) = sshsig::detached_sha512(s, EVENT_SSHSIG_NAMESPACE)
            .map_err(|e| anyhow!("{name}: {e}"))?;
        return Ok(AuthorSignature::SshSig(sig));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| anyhow!("{name}: expected base64 of a 64-byte Ed25519 signature, or an armoured SSH signature"))?;
    let raw: [u8; 64] = bytes.try_into().map_err(|v: Vec<u8>| {
        anyhow!(
            "{name}: {} bytes; an Ed25519 signature is 64 bytes",
            v.len()
        )
    })?;
    Ok(AuthorSignature::Ed25519(SignatureBytes(raw)))
}

impl Presign {
    /// Parses and checks the fields together: a signature needs `signed_at` and `nonce`, and
    /// `salt` when there is a payload (they are all signed); a salt needs a payload.
    pub(crate) fn parse(f: &Fields<'_>, names: &Names, has_payload: bool) -> Result<Presign> {
        let p = Presign {
            signed_at: f
                .signed_at
                .map(|s| parse_signed_at(s, names.signed_at))
                .transpose()?,
            nonce: f
                .nonce
                .map(|s| parse_hex::<16>(s, names.nonce).map(Nonce))
                .transpose()?,
            salt: f.salt.map(|s| parse_hex::<32>(s, names.salt)).transpose()?,
            signature: f
                .signature
                .map(|s| parse_signature(s, names.signature))
                .transpose()?,
        };
        if p.salt.is_some() && !has_payload {
            bail!("{}: only with a payload", names.salt);
        }
        if p.signature.is_some() {
            p.require_fixed(names, has_payload, "signed with the event")?;
        }
        Ok(p)
    }

    /// Fails unless every signed author-chosen value is given (`why` says what needs them).
    pub(crate) fn require_fixed(&self, names: &Names, has_payload: bool, why: &str) -> Result<()> {
        if self.signed_at.is_none() {
            bail!("{}: required ({why})", names.signed_at);
        }
        if self.nonce.is_none() {
            bail!("{}: required ({why})", names.nonce);
        }
        if has_payload && self.salt.is_none() {
            bail!("{}: required with a payload ({why})", names.salt);
        }
        Ok(())
    }

    /// The signature made elsewhere, if any.
    pub(crate) fn signature(&self) -> Option<AuthorSignature> {
        self.signature
    }

    /// Whether the event comes signed.
    pub(crate) fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// The event these values (or now, a random nonce and a random salt) make, committing to
    /// the payload; and the payload with its salt.
    pub(crate) fn event(
        &self,
        record: Option<RecordId>,
        author: ActorId,
        kind: EventKind,
        occurred_on: Date,
        payload: Option<Vec<u8>>,
    ) -> (Event, Option<Payload>) {
        let payload = payload.map(|c| match self.salt {
            Some(s) => Payload::with_salt(s, c),
            None => Payload::new(c),
        });
        let ev = Event {
            record,
            author,
            kind,
            occurred_on,
            signed_at: self.signed_at.unwrap_or_else(Timestamp::now),
            commitment: payload.as_ref().map(Payload::commitment),
            nonce: self.nonce.unwrap_or_else(Nonce::random),
        };
        (ev, payload)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(
        signed_at: Option<&'a str>,
        nonce: Option<&'a str>,
        salt: Option<&'a str>,
        signature: Option<&'a str>,
    ) -> Fields<'a> {
        Fields {
            signed_at,
            nonce,
            salt,
            signature,
        }
    }

    const SIG: &str =
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

    #[test]
    fn a_signature_needs_every_signed_value() {
        let n = &JSON_NAMES;
        let nonce = "22222222222222222222222222222222";
        let salt = &"11".repeat(32);
        let at = "2026-12-02T09:30:00Z";
        let e = Presign::parse(&fields(None, Some(nonce), None, Some(SIG)), n, false)
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("signed_at: required"), "{e}");
        let e = Presign::parse(&fields(Some(at), None, None, Some(SIG)), n, false)
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("nonce: required"), "{e}");
        let e = Presign::parse(&fields(Some(at), Some(nonce), None, Some(SIG)), n, true)
            .err()
            .unwrap();
        assert!(e.to_string().starts_with("salt: required"), "{e}");
        let e = Presign::parse(&fields(None, None, Some(salt), None), n, false)
            .err()
            .unwrap();
        assert_eq!(e.to_string(), "salt: only with a payload");
        let p = Presign::parse(
            &fields(Some(at), Some(nonce), Some(salt), Some(SIG)),
            n,
            true,
        )
        .unwrap();
        assert!(p.is_signed());
        assert_eq!(p.signed_at, Some(Timestamp(1_796_203_800_000_000)));
    }

    #[test]
    fn malformed_values_name_their_field() {
        let n = &FLAG_NAMES;
        let bad = |f: Fields<'_>| Presign::parse(&f, n, true).err().unwrap().to_string();
        assert!(
            bad(fields(Some("yesterday"), None, None, None)).starts_with("--signed-at: expected")
        );
        assert!(bad(fields(
            Some("2026-12-02T09:30:00.0000001Z"),
            None,
            None,
            None
        ))
        .starts_with("--signed-at: at most 6"));
        assert!(bad(fields(None, Some("abc"), None, None)).starts_with("--nonce: expected 32 hex"));
        assert!(bad(fields(None, None, Some("zz"), None)).starts_with("--salt: expected 64 hex"));
        assert!(
            bad(fields(None, None, None, Some("!!"))).starts_with("--signature: expected base64")
        );
        assert!(bad(fields(None, None, None, Some("AAAA"))).starts_with("--signature: 3 bytes"));
        // An offset other than Z names the same instant.
        let p = Presign::parse(
            &fields(Some("2026-12-02T10:30:00+01:00"), None, None, None),
            n,
            false,
        )
        .unwrap();
        assert_eq!(p.signed_at, Some(Timestamp(1_796_203_800_000_000)));
    }
}
