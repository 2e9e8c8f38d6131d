//! Events signed elsewhere (docs/FORMAT.md §3, "Pre-signed events"): the fields a record
//! system gives when it signs with its own key (`signed_at`, `nonce`, `salt`, `signature`),
//! and the event they rebuild.
//!
//! The ledger rebuilds the event from the line's fields and these, so a pre-signed event
//! is appended exactly as signed; the store checks the signature against the author's
//! enrolled key (and `signed_at` against the ledger's clock) before anything is written.
//! Shared by `caseledger append`/`import` and the server.

use crate::line_error::{bail_line, line_err, Result};
use base64::Engine;
use caseledger_core::event::{AuthorSignature, Event, EventKind, Payload, EVENT_SSHSIG_NAMESPACE};
use caseledger_core::ids::Nonce;
use caseledger_core::{sshsig, ActorId, Date, RecordId, SignatureBytes, Timestamp};

/// What the four fields are called where they are read (JSON field or command-line flag).
pub struct Names {
    /// `signed_at`'s name here.
    pub signed_at: &'static str,
    /// `nonce`'s name here.
    pub nonce: &'static str,
    /// `salt`'s name here.
    pub salt: &'static str,
    /// `signature`'s name here.
    pub signature: &'static str,
}

/// The ingest line's field names.
pub const JSON_NAMES: Names = Names {
    signed_at: "signed_at",
    nonce: "nonce",
    salt: "salt",
    signature: "signature",
};

/// `caseledger append`'s flags.
pub const FLAG_NAMES: Names = Names {
    signed_at: "--signed-at",
    nonce: "--nonce",
    salt: "--salt",
    signature: "--signature",
};

/// The author-chosen parts of an event, when given rather than chosen here (now, a random
/// nonce, a random salt), and a signature made elsewhere.
#[derive(Default)]
pub struct Presign {
    signed_at: Option<Timestamp>,
    nonce: Option<Nonce>,
    salt: Option<[u8; 32]>,
    signature: Option<AuthorSignature>,
}

/// The fields as text, in the order of [`Names`].
pub struct Fields<'a> {
    /// When the author signed (RFC 3339).
    pub signed_at: Option<&'a str>,
    /// The event nonce (32 hex digits).
    pub nonce: Option<&'a str>,
    /// The payload's salt (64 hex digits).
    pub salt: Option<&'a str>,
    /// The author's signature (base64 Ed25519 or an armoured SSHSIG).
    pub signature: Option<&'a str>,
}

/// RFC 3339 (`2026-12-02T09:30:00Z`; any offset, only the instant is signed), at most
/// microsecond precision (what a [`Timestamp`] holds: finer digits would be signed bytes
/// the ledger cannot rebuild).
fn parse_signed_at(s: &str, name: &str) -> Result<Timestamp> {
    let ts: jiff::Timestamp = s
        .parse()
        .map_err(|_| line_err!("{name}: expected an RFC 3339 time such as 2026-12-02T09:30:00Z"))?;
    if ts.subsec_nanosecond() % 1000 != 0 {
        bail_line!("{name}: at most 6 fractional digits (microseconds)");
    }
    Ok(Timestamp(ts.as_microsecond()))
}

fn parse_hex<const N: usize>(s: &str, name: &str) -> Result<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out)
        .map_err(|_| line_err!("{name}: expected {} hex digits", 2 * N))?;
    Ok(out)
}

/// A 64-byte Ed25519 signature in base64, or an armoured SSHSIG in namespace
/// `caseledger-event` (SHA-512) as `ssh-keygen -Y sign` writes it.
fn parse_signature(s: &str, name: &str) -> Result<AuthorSignature> {
    let s = s.trim();
    if s.starts_with("-----BEGIN SSH SIGNATURE-----") {
        let (_, sig) = sshsig::detached_sha512(s, EVENT_SSHSIG_NAMESPACE)
            .map_err(|e| line_err!("{name}: {e}"))?;
        return Ok(AuthorSignature::SshSig(sig));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| line_err!("{name}: expected base64 of a 64-byte Ed25519 signature, or an armoured SSH signature"))?;
    let raw: [u8; 64] = bytes.try_into().map_err(|v: Vec<u8>| {
        line_err!(
            "{name}: {} bytes; an Ed25519 signature is 64 bytes",
            v.len()
        )
    })?;
    Ok(AuthorSignature::Ed25519(SignatureBytes(raw)))
}

impl Presign {
    /// Parses and checks the fields together: a signature needs `signed_at` and `nonce`, and
    /// `salt` when there is a payload (they are all signed); a salt needs a payload.
    pub fn parse(f: &Fields<'_>, names: &Names, has_payload: bool) -> Result<Presign> {
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
            bail_line!("{}: only with a payload", names.salt);
        }
        if p.signature.is_some() {
            p.require_fixed(names, has_payload, "signed with the event")?;
        }
        Ok(p)
    }

    /// Fails unless every signed author-chosen value is given (`why` says what needs them).
    pub fn require_fixed(&self, names: &Names, has_payload: bool, why: &str) -> Result<()> {
        if self.signed_at.is_none() {
            bail_line!("{}: required ({why})", names.signed_at);
        }
        if self.nonce.is_none() {
            bail_line!("{}: required ({why})", names.nonce);
        }
        if has_payload && self.salt.is_none() {
            bail_line!("{}: required with a payload ({why})", names.salt);
        }
        Ok(())
    }

    /// The signature made elsewhere, if any.
    pub fn signature(&self) -> Option<AuthorSignature> {
        self.signature
    }

    /// Whether the event comes signed.
    pub fn is_signed(&self) -> bool {
        self.signature.is_some()
    }

    /// The event these values (or now, a random nonce and a random salt) make, committing to
    /// the payload; and the payload with its salt.
    pub fn event(
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
