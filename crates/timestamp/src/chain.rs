//! The relying party's trusted roots and the certificate path from a TSA's signing
//! certificate to one of them, every certificate judged **as of the token's genTime**.
//!
//! Every certificate in the roots file is a trust anchor (give the root, and any
//! intermediate you mean to trust directly); intermediates may also come from the token.
//! The path is: each certificate's issuer name is the next one's subject, the next one
//! signed it, is a CA (basicConstraints cA, keyCertSign if keyUsage is present), and every
//! certificate, the anchor included, was valid at genTime. A critical extension this code
//! does not process refuses the certificate (RFC 5280 §4.2). Revocation is not checked:
//! no CRL or OCSP is fetched offline (docs/THREAT-MODEL.md says so).

use crate::asn1::oid;
use crate::error::{Result, TimestampError};
use crate::time::cert_time;
use der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::Certificate;

/// Longest path accepted (leaf to anchor), so a crafted pool cannot make the walk long.
const MAX_DEPTH: usize = 8;

/// Most certificates read from a roots file (a bundle of public roots is ~150).
const MAX_ROOTS: usize = 1000;

/// The relying party's trust anchors for TSA certificates (`--tsa-chain FILE`, PEM).
#[derive(Clone, Debug)]
pub struct TrustedRoots {
    certs: Vec<Certificate>,
}

impl TrustedRoots {
    /// Reads the PEM `CERTIFICATE` blocks of a file (text around them, as `openssl x509
    /// -text` writes, is ignored); refuses a file with none, or a block that does not parse.
    pub fn from_pem(pem: &[u8]) -> Result<TrustedRoots> {
        // Split by hand: x509-cert 0.2's load_pem_chain panics on some malformed input.
        const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
        const END: &str = "-----END CERTIFICATE-----";
        let text = std::str::from_utf8(pem)
            .map_err(|_| TimestampError::Roots("not PEM text (not UTF-8)".into()))?;
        let mut certs = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find(BEGIN) {
            let block = rest.get(start..).unwrap_or_default();
            let end = block.find(END).ok_or_else(|| {
                TimestampError::Roots("a certificate block has no END line".into())
            })?;
            let (block, after) = block.split_at(end + END.len());
            let cert = <Certificate as der::DecodePem>::from_pem(block).map_err(|e| {
                TimestampError::Roots(format!(
                    "certificate {} does not parse ({e})",
                    certs.len() + 1
                ))
            })?;
            certs.push(cert);
            if certs.len() > MAX_ROOTS {
                return Err(TimestampError::Roots(format!(
                    "more than {MAX_ROOTS} certificates"
                )));
            }
            rest = after;
        }
        if certs.is_empty() {
            return Err(TimestampError::Roots(
                "no PEM certificate in the file".into(),
            ));
        }
        Ok(TrustedRoots { certs })
    }

    /// How many anchors there are.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// Never true for a constructed value (kept for the `len` convention).
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    fn contains(&self, c: &Certificate) -> bool {
        self.certs.iter().any(|r| r == c)
    }
}

/// The subject of a certificate, for messages (a DN, never clinical content).
pub(crate) fn subject(c: &Certificate) -> String {
    c.tbs_certificate.subject.to_string()
}

/// The certificate's extension `id`: (critical, value bytes).
pub(crate) fn extension<'c>(
    c: &'c Certificate,
    id: &der::asn1::ObjectIdentifier,
) -> Option<(bool, &'c [u8])> {
    c.tbs_certificate
        .extensions
        .as_ref()?
        .iter()
        .find(|e| &e.extn_id == id)
        .map(|e| (e.critical, e.extn_value.as_bytes()))
}

fn check_valid_at(c: &Certificate, at: jiff::Timestamp) -> Result<()> {
    let v = &c.tbs_certificate.validity;
    let (from, to) = (cert_time(&v.not_before)?, cert_time(&v.not_after)?);
    if at < from || at > to {
        return Err(TimestampError::NotValidAtGenTime {
            subject: subject(c),
            gen_time: at.to_string(),
        });
    }
    Ok(())
}

fn check_critical_extensions(c: &Certificate) -> Result<()> {
    const KNOWN: [der::asn1::ObjectIdentifier; 7] = [
        oid::BASIC_CONSTRAINTS,
        oid::KEY_USAGE,
        oid::EXT_KEY_USAGE,
        oid::SUBJECT_KEY_ID,
        oid::AUTHORITY_KEY_ID,
        oid::CERTIFICATE_POLICIES,
        oid::SUBJECT_ALT_NAME,
    ];
    for e in c.tbs_certificate.extensions.iter().flatten() {
        if e.critical && !KNOWN.contains(&e.extn_id) {
            return Err(TimestampError::invalid(
                "certificate",
                format!(
                    "{} has an unsupported critical extension {}",
                    subject(c),
                    e.extn_id
                ),
            ));
        }
    }
    Ok(())
}

fn check_is_ca(c: &Certificate) -> Result<()> {
    let not_ca = |why: &str| TimestampError::Untrusted {
        why: format!("issuer {} {why}", subject(c)),
    };
    let bc = extension(c, &oid::BASIC_CONSTRAINTS)
        .map(|(_, v)| BasicConstraints::from_der(v))
        .transpose()
        .map_err(TimestampError::malformed("basicConstraints"))?;
    if !bc.is_some_and(|b| b.ca) {
        return Err(not_ca("is not a CA (basicConstraints)"));
    }
    let ku = extension(c, &oid::KEY_USAGE)
        .map(|(_, v)| KeyUsage::from_der(v))
        .transpose()
        .map_err(TimestampError::malformed("keyUsage"))?;
    if ku.is_some_and(|k| !k.key_cert_sign()) {
        return Err(not_ca("may not sign certificates (keyUsage)"));
    }
    Ok(())
}

/// Whether `issuer` signed `c`.
fn signed_by(c: &Certificate, issuer: &Certificate) -> Result<()> {
    if c.signature_algorithm != c.tbs_certificate.signature {
        return Err(TimestampError::invalid(
            "certificate",
            "outer and inner signature algorithms differ",
        ));
    }
    let tbs = c
        .tbs_certificate
        .to_der()
        .map_err(TimestampError::malformed("certificate"))?;
    let sig = c
        .signature
        .as_bytes()
        .ok_or_else(|| TimestampError::invalid("certificate", "signature is not whole bytes"))?;
    crate::sig::verify(
        &issuer.tbs_certificate.subject_public_key_info,
        &c.signature_algorithm.oid,
        None,
        &tbs,
        sig,
        "certificate",
    )
}

/// The certificate's notAfter.
pub(crate) fn not_after(c: &Certificate) -> Result<jiff::Timestamp> {
    cert_time(&c.tbs_certificate.validity.not_after)
}

/// The path from `leaf` to a trusted root, all valid at `at`; returns the subjects, leaf
/// first, anchor last, and the earliest notAfter on the path (when the path stops being
/// valid). `pool` is the certificates the token carries.
pub(crate) fn validate_path(
    leaf: &Certificate,
    pool: &[Certificate],
    roots: &TrustedRoots,
    at: jiff::Timestamp,
) -> Result<(Vec<String>, jiff::Timestamp)> {
    let mut path = vec![subject(leaf)];
    let mut current = leaf.clone();
    let mut until = not_after(leaf)?;
    for _ in 0..MAX_DEPTH {
        check_valid_at(&current, at)?;
        check_critical_extensions(&current)?;
        until = until.min(not_after(&current)?);
        if roots.contains(&current) {
            return Ok((path, until));
        }
        let issuer_name = &current.tbs_certificate.issuer;
        let mut next = None;
        let mut last_err = None;
        for cand in roots.certs.iter().chain(pool) {
            if &cand.tbs_certificate.subject != issuer_name || cand == &current {
                continue;
            }
            match check_is_ca(cand).and_then(|()| signed_by(&current, cand)) {
                Ok(()) => {
                    next = Some(cand.clone());
                    break;
                }
                Err(e) => last_err = Some(e),
            }
        }
        match next {
            Some(n) => {
                path.push(subject(&n));
                current = n;
            }
            None => {
                return Err(match last_err {
                    Some(e) => TimestampError::Untrusted {
                        why: format!("no issuer of {} verifies: {e}", subject(&current)),
                    },
                    None => TimestampError::Untrusted {
                        why: format!(
                            "no trusted root or known issuer for {} (issuer {})",
                            subject(&current),
                            issuer_name
                        ),
                    },
                })
            }
        }
    }
    Err(TimestampError::Untrusted {
        why: format!("no trusted root within {MAX_DEPTH} certificates"),
    })
}
