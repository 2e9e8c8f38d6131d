//! Signature verification: RSA PKCS#1 v1.5 (2048 to 4096 bits) and ECDSA P-256, with
//! SHA-256/384/512. Public-key operations only.

use crate::asn1::{oid, DigestAlg};
use crate::error::{Result, TimestampError};
use der::asn1::ObjectIdentifier;
use der::Encode;
use x509_cert::spki::SubjectPublicKeyInfoOwned;

/// RSA keys below this size are refused (NIST SP 800-131A).
const MIN_RSA_BITS: usize = 2048;

/// The digest a signature algorithm OID implies, if it names one; `None` for the bare key
/// algorithms (`rsaEncryption`, `id-ecPublicKey`), which CMS pairs with `digestAlgorithm`.
fn implied_digest(sig_alg: &ObjectIdentifier) -> Result<Option<DigestAlg>> {
    Ok(match *sig_alg {
        oid::SHA256_WITH_RSA | oid::ECDSA_SHA256 => Some(DigestAlg::Sha256),
        oid::SHA384_WITH_RSA | oid::ECDSA_SHA384 => Some(DigestAlg::Sha384),
        oid::SHA512_WITH_RSA | oid::ECDSA_SHA512 => Some(DigestAlg::Sha512),
        oid::RSA_ENCRYPTION | oid::EC_PUBLIC_KEY => None,
        _ => {
            return Err(TimestampError::Unsupported {
                what: "signature",
                oid: sig_alg.to_string(),
            })
        }
    })
}

/// Verifies `signature` over `message` by the key `spki`. `sig_alg` is the signature
/// AlgorithmIdentifier's OID; `digest` the digest it must use (from a CMS SignerInfo's
/// digestAlgorithm) or `None` when the signature algorithm alone says (certificates).
pub(crate) fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    sig_alg: &ObjectIdentifier,
    digest: Option<DigestAlg>,
    message: &[u8],
    signature: &[u8],
    what: &'static str,
) -> Result<()> {
    let implied = implied_digest(sig_alg)?;
    let digest = match (implied, digest) {
        (Some(a), Some(b)) if a != b => {
            return Err(TimestampError::invalid(
                what,
                "signature algorithm and digest algorithm disagree",
            ))
        }
        (Some(a), _) | (None, Some(a)) => a,
        (None, None) => {
            return Err(TimestampError::Unsupported {
                what: "signature",
                oid: sig_alg.to_string(),
            })
        }
    };
    if digest == DigestAlg::Sha1 {
        return Err(TimestampError::Unsupported {
            what: "signature digest",
            oid: oid::SHA1.to_string(),
        });
    }
    let hashed = digest.hash(message);
    let bad = || TimestampError::BadSignature { what };
    let is_rsa_sig = matches!(
        *sig_alg,
        oid::RSA_ENCRYPTION | oid::SHA256_WITH_RSA | oid::SHA384_WITH_RSA | oid::SHA512_WITH_RSA
    );
    match spki.algorithm.oid {
        oid::RSA_ENCRYPTION if is_rsa_sig => {
            use rsa::pkcs8::DecodePublicKey;
            use rsa::traits::PublicKeyParts;
            let der = spki
                .to_der()
                .map_err(TimestampError::malformed("public key"))?;
            let key = rsa::RsaPublicKey::from_public_key_der(&der)
                .map_err(|_| TimestampError::invalid("public key", "not an RSA key"))?;
            if key.size() * 8 < MIN_RSA_BITS {
                return Err(TimestampError::invalid(
                    "public key",
                    "RSA key shorter than 2048 bits",
                ));
            }
            let scheme = match digest {
                DigestAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                DigestAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
                DigestAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
                DigestAlg::Sha1 => return Err(bad()),
            };
            key.verify(scheme, &hashed, signature).map_err(|_| bad())
        }
        oid::EC_PUBLIC_KEY if !is_rsa_sig => {
            use p256::ecdsa::signature::hazmat::PrehashVerifier;
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            if curve != Some(oid::SECP256R1) {
                return Err(TimestampError::Unsupported {
                    what: "elliptic curve",
                    oid: curve.map(|c| c.to_string()).unwrap_or_default(),
                });
            }
            let point = spki
                .subject_public_key
                .as_bytes()
                .ok_or_else(|| TimestampError::invalid("public key", "not whole bytes"))?;
            let key = p256::ecdsa::VerifyingKey::from_sec1_bytes(point)
                .map_err(|_| TimestampError::invalid("public key", "not a P-256 point"))?;
            let sig = p256::ecdsa::Signature::from_der(signature).map_err(|_| bad())?;
            key.verify_prehash(&hashed, &sig).map_err(|_| bad())
        }
        other => Err(TimestampError::Unsupported {
            what: "public key",
            oid: other.to_string(),
        }),
    }
}
