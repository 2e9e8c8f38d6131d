//! The ASN.1 this crate needs beyond what `x509-tsp`, `cms` and `x509-cert` define: TSTInfo
//! with a genTime that may carry fractional seconds (`x509-tsp` 0.1's `GeneralizedTime`
//! refuses them, and public TSAs send them), the ESS signing-certificate attributes
//! (RFC 2634, RFC 5035), OIDs and digests.

use der::asn1::{Int, ObjectIdentifier, OctetString};
use der::{Any, Sequence};
use sha2::Digest as _;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::Extensions;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{Accuracy, MessageImprint, TspVersion};

/// `TSTInfo` (RFC 3161 §2.4.2), genTime kept as the raw GeneralizedTime (see [`crate::time`]).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct TstInfo {
    pub version: TspVersion,
    pub policy: ObjectIdentifier,
    pub message_imprint: MessageImprint,
    pub serial_number: Int,
    pub gen_time: Any,
    #[asn1(optional = "true")]
    pub accuracy: Option<Accuracy>,
    #[asn1(default = "Default::default")]
    pub ordering: bool,
    #[asn1(optional = "true")]
    pub nonce: Option<Int>,
    #[asn1(context_specific = "0", tag_mode = "EXPLICIT", optional = "true")]
    pub tsa: Option<GeneralName>,
    #[asn1(context_specific = "1", tag_mode = "IMPLICIT", optional = "true")]
    pub extensions: Option<Extensions>,
}

/// `IssuerSerial` (RFC 5035).
#[derive(Clone, Debug, Sequence)]
pub(crate) struct IssuerSerial {
    pub issuer: Vec<GeneralName>,
    pub serial_number: SerialNumber,
}

/// `ESSCertID` (RFC 2634): SHA-1 of the certificate.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct EssCertId {
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificate` (RFC 2634); policies are not used.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct SigningCertificate {
    pub certs: Vec<EssCertId>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// `ESSCertIDv2` (RFC 5035): hash algorithm DEFAULT SHA-256.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct EssCertIdV2 {
    #[asn1(optional = "true")]
    pub hash_algorithm: Option<AlgorithmIdentifierOwned>,
    pub cert_hash: OctetString,
    #[asn1(optional = "true")]
    pub issuer_serial: Option<IssuerSerial>,
}

/// `SigningCertificateV2` (RFC 5035); policies are not used.
#[derive(Clone, Debug, Sequence)]
pub(crate) struct SigningCertificateV2 {
    pub certs: Vec<EssCertIdV2>,
    #[asn1(optional = "true")]
    pub policies: Option<Any>,
}

/// OIDs, spelled out so each can be checked against its RFC.
pub(crate) mod oid {
    use der::asn1::ObjectIdentifier as O;
    /// id-signedData (RFC 5652).
    pub const SIGNED_DATA: O = O::new_unwrap("1.2.840.113549.1.7.2");
    /// id-ct-TSTInfo (RFC 3161).
    pub const CT_TST_INFO: O = O::new_unwrap("1.2.840.113549.1.9.16.1.4");
    /// content-type attribute (RFC 5652).
    pub const CONTENT_TYPE: O = O::new_unwrap("1.2.840.113549.1.9.3");
    /// message-digest attribute (RFC 5652).
    pub const MESSAGE_DIGEST: O = O::new_unwrap("1.2.840.113549.1.9.4");
    /// id-aa-signingCertificate (RFC 2634).
    pub const SIGNING_CERTIFICATE: O = O::new_unwrap("1.2.840.113549.1.9.16.2.12");
    /// id-aa-signingCertificateV2 (RFC 5035).
    pub const SIGNING_CERTIFICATE_V2: O = O::new_unwrap("1.2.840.113549.1.9.16.2.47");
    /// SHA-1, SHA-256, SHA-384, SHA-512 (RFC 5754).
    pub const SHA1: O = O::new_unwrap("1.3.14.3.2.26");
    pub const SHA256: O = O::new_unwrap("2.16.840.1.101.3.4.2.1");
    pub const SHA384: O = O::new_unwrap("2.16.840.1.101.3.4.2.2");
    pub const SHA512: O = O::new_unwrap("2.16.840.1.101.3.4.2.3");
    /// rsaEncryption and the PKCS#1 v1.5 signature algorithms with SHA-2 (RFC 4055).
    pub const RSA_ENCRYPTION: O = O::new_unwrap("1.2.840.113549.1.1.1");
    pub const SHA256_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.11");
    pub const SHA384_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.12");
    pub const SHA512_WITH_RSA: O = O::new_unwrap("1.2.840.113549.1.1.13");
    /// id-ecPublicKey, secp256r1, ECDSA with SHA-2 (RFC 5480, RFC 5758).
    pub const EC_PUBLIC_KEY: O = O::new_unwrap("1.2.840.10045.2.1");
    pub const SECP256R1: O = O::new_unwrap("1.2.840.10045.3.1.7");
    pub const ECDSA_SHA256: O = O::new_unwrap("1.2.840.10045.4.3.2");
    pub const ECDSA_SHA384: O = O::new_unwrap("1.2.840.10045.4.3.3");
    pub const ECDSA_SHA512: O = O::new_unwrap("1.2.840.10045.4.3.4");
    /// Certificate extensions (RFC 5280).
    pub const BASIC_CONSTRAINTS: O = O::new_unwrap("2.5.29.19");
    pub const KEY_USAGE: O = O::new_unwrap("2.5.29.15");
    pub const EXT_KEY_USAGE: O = O::new_unwrap("2.5.29.37");
    pub const SUBJECT_KEY_ID: O = O::new_unwrap("2.5.29.14");
    pub const AUTHORITY_KEY_ID: O = O::new_unwrap("2.5.29.35");
    pub const CERTIFICATE_POLICIES: O = O::new_unwrap("2.5.29.32");
    pub const SUBJECT_ALT_NAME: O = O::new_unwrap("2.5.29.17");
    /// id-kp-timeStamping (RFC 3161 §2.3).
    pub const KP_TIME_STAMPING: O = O::new_unwrap("1.3.6.1.5.5.7.3.8");
}

/// A SHA-2 digest (SHA-1 only where ESSCertID requires it, never for signatures).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestAlg {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl DigestAlg {
    /// The digest named by an AlgorithmIdentifier's OID (parameters absent or NULL).
    pub fn from_oid(o: &ObjectIdentifier) -> Option<DigestAlg> {
        match *o {
            oid::SHA1 => Some(DigestAlg::Sha1),
            oid::SHA256 => Some(DigestAlg::Sha256),
            oid::SHA384 => Some(DigestAlg::Sha384),
            oid::SHA512 => Some(DigestAlg::Sha512),
            _ => None,
        }
    }

    /// The hash of `data`.
    pub fn hash(self, data: &[u8]) -> Vec<u8> {
        match self {
            DigestAlg::Sha1 => sha1::Sha1::digest(data).to_vec(),
            DigestAlg::Sha256 => sha2::Sha256::digest(data).to_vec(),
            DigestAlg::Sha384 => sha2::Sha384::digest(data).to_vec(),
            DigestAlg::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

/// A digest AlgorithmIdentifier this crate accepts: a known OID, parameters absent or NULL.
pub(crate) fn digest_alg(
    alg: &AlgorithmIdentifierOwned,
    what: &'static str,
) -> crate::error::Result<DigestAlg> {
    let params_ok = alg
        .parameters
        .as_ref()
        .is_none_or(|p| der::Tagged::tag(p) == der::Tag::Null && p.value().is_empty());
    match DigestAlg::from_oid(&alg.oid) {
        Some(d) if params_ok => Ok(d),
        _ => Err(crate::TimestampError::Unsupported {
            what,
            oid: alg.oid.to_string(),
        }),
    }
}
