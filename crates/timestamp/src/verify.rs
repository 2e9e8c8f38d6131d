//! Checking a `TimeStampResp` as received and verifying a stored `TimeStampToken` offline.

use crate::asn1::{
    digest_alg, oid, DigestAlg, EssCertIdV2, IssuerSerial, SigningCertificate,
    SigningCertificateV2, TstInfo,
};
use crate::chain::{extension, subject, validate_path, TrustedRoots};
use crate::error::{Result, TimestampError};
use crate::request::TimestampRequest;
use cms::cert::CertificateChoices;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{SignedData, SignerIdentifier, SignerInfo};
use der::asn1::{ObjectIdentifier, OctetString};
use der::{Decode, Encode, Tag, Tagged};
use sha2::Digest;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{ExtendedKeyUsage, KeyUsage};
use x509_cert::Certificate;
use x509_tsp::TimeStampResp;

/// A token that passed every check, the certificate path to the relying party's roots
/// included, as of its genTime. Only [`verify_token`] constructs one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifiedTimestamp {
    gen_time: jiff::Timestamp,
    accuracy: Option<jiff::SignedDuration>,
    serial: String,
    policy: String,
    signer: String,
    path: Vec<String>,
    valid_until: jiff::Timestamp,
}

impl VerifiedTimestamp {
    /// The earliest notAfter of the certificates on the path (signer to trusted root): after
    /// it the token stands only through a renewal obtained before it (RFC 4998's idea;
    /// `timestamp renew`).
    pub fn valid_until(&self) -> jiff::Timestamp {
        self.valid_until
    }

    /// When the TSA says it saw the data (TSTInfo genTime).
    pub fn gen_time(&self) -> jiff::Timestamp {
        self.gen_time
    }

    /// The TSA's stated accuracy, if any.
    pub fn accuracy(&self) -> Option<jiff::SignedDuration> {
        self.accuracy
    }

    /// The latest instant the data can have come into being by this token: genTime plus
    /// its accuracy (RFC 3161 §2.4.2). The upper bound on the `recorded_at` of every entry
    /// a timestamped seal covers.
    pub fn upper_bound(&self) -> jiff::Timestamp {
        self.accuracy
            .and_then(|a| self.gen_time.checked_add(a).ok())
            .unwrap_or(self.gen_time)
    }

    /// The token's serial number (hex).
    pub fn serial(&self) -> &str {
        &self.serial
    }

    /// The TSA policy OID under which the token was issued.
    pub fn policy(&self) -> &str {
        &self.policy
    }

    /// The signing certificate's subject.
    pub fn signer(&self) -> &str {
        &self.signer
    }

    /// The certificate path, signer first, trusted root last (subjects).
    pub fn path(&self) -> &[String] {
        &self.path
    }
}

/// A token just received for a request: status granted, over our data, with our nonce,
/// signed by the certificate it carries (valid at genTime, critical timeStamping EKU). Not
/// yet checked against trusted roots: that is [`verify_token`]'s.
#[derive(Clone, Debug)]
pub struct ReceivedToken {
    der: Vec<u8>,
    gen_time: jiff::Timestamp,
}

impl ReceivedToken {
    /// The DER `TimeStampToken` (a CMS ContentInfo), the bytes to store.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// genTime, as the TSA claims it (unverified until [`verify_token`]).
    pub fn gen_time(&self) -> jiff::Timestamp {
        self.gen_time
    }
}

/// Checks a DER `TimeStampResp` to `request`: see [`ReceivedToken`].
pub fn check_response(response: &[u8], request: &TimestampRequest) -> Result<ReceivedToken> {
    let resp = TimeStampResp::from_der(response).map_err(TimestampError::malformed("response"))?;
    let status = resp.status.status as u8;
    // granted (0) or grantedWithMods (1): RFC 3161 §2.4.2.
    if status > 1 {
        let text = resp
            .status
            .status_string
            .as_ref()
            .and_then(|s| s.iter().next())
            .map(|s| format!(": {}", printable(s.as_str())))
            .unwrap_or_default();
        return Err(TimestampError::Refused { status, text });
    }
    let token = resp
        .time_stamp_token
        .ok_or_else(|| TimestampError::invalid("response", "status granted but no token"))?;
    let der = token
        .to_der()
        .map_err(TimestampError::malformed("response"))?;
    let checked = inspect(&der, request.imprint(), Some(request.nonce()), None)?;
    Ok(ReceivedToken {
        der,
        gen_time: checked.gen_time,
    })
}

/// Verifies a stored DER `TimeStampToken` over `data` offline, against the relying
/// party's `roots`, as of the token's genTime (module docs of the crate).
pub fn verify_token(token: &[u8], data: &[u8], roots: &TrustedRoots) -> Result<VerifiedTimestamp> {
    let imprint: [u8; 32] = sha2::Sha256::digest(data).into();
    inspect(token, &imprint, None, Some(roots))
}

/// Every check of [`verify_token`] but the path to trusted roots (the signer's own
/// certificate must still have been valid at genTime): the genTime a token claims, for a
/// status display when no roots are at hand. Never evidence: it proves nothing about who
/// signed.
pub fn unanchored_gen_time(token: &[u8], data: &[u8]) -> Result<jiff::Timestamp> {
    let imprint: [u8; 32] = sha2::Sha256::digest(data).into();
    inspect(token, &imprint, None, None).map(|v| v.gen_time)
}

/// A TSA's free text, kept to printable ASCII and bounded (it reaches a terminal).
fn printable(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_graphic() || *c == ' ')
        .take(200)
        .collect()
}

fn attr_value(si: &SignerInfo, id: ObjectIdentifier, required: bool) -> Result<Option<&der::Any>> {
    let attrs = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TimestampError::invalid("token", "no signed attributes"))?;
    let mut found = attrs.iter().filter(|a| a.oid == id);
    let Some(a) = found.next() else {
        return if required {
            Err(TimestampError::invalid(
                "token",
                format!("signed attribute {id} missing"),
            ))
        } else {
            Ok(None)
        };
    };
    if found.next().is_some() || a.values.len() != 1 {
        return Err(TimestampError::invalid(
            "token",
            format!("signed attribute {id} must occur once with one value"),
        ));
    }
    Ok(a.values.iter().next())
}

fn issuer_serial_matches(is: &IssuerSerial, cert: &Certificate) -> bool {
    is.serial_number == cert.tbs_certificate.serial_number
        && is.issuer.iter().any(|g| match g {
            GeneralName::DirectoryName(n) => n == &cert.tbs_certificate.issuer,
            _ => false,
        })
}

/// The ESS signing-certificate attribute names `cert` (RFC 3161 §2.4.1 requires one).
fn check_ess(si: &SignerInfo, cert: &Certificate) -> Result<()> {
    let cert_der = cert
        .to_der()
        .map_err(TimestampError::malformed("certificate"))?;
    let mismatch = || {
        TimestampError::invalid(
            "token",
            "the signing-certificate attribute does not name the signer's certificate",
        )
    };
    if let Some(v2) = attr_value(si, oid::SIGNING_CERTIFICATE_V2, false)? {
        let sc: SigningCertificateV2 = v2
            .decode_as()
            .map_err(TimestampError::malformed("signingCertificateV2"))?;
        let first: &EssCertIdV2 = sc.certs.first().ok_or_else(mismatch)?;
        let alg = match &first.hash_algorithm {
            None => DigestAlg::Sha256,
            Some(a) => digest_alg(a, "ESSCertIDv2 hash")?,
        };
        if alg == DigestAlg::Sha1 || first.cert_hash.as_bytes() != alg.hash(&cert_der) {
            return Err(mismatch());
        }
        if first
            .issuer_serial
            .as_ref()
            .is_some_and(|is| !issuer_serial_matches(is, cert))
        {
            return Err(mismatch());
        }
        return Ok(());
    }
    let v1 = attr_value(si, oid::SIGNING_CERTIFICATE, false)?
        .ok_or_else(|| TimestampError::invalid("token", "no signingCertificate(V2) attribute"))?;
    let sc: SigningCertificate = v1
        .decode_as()
        .map_err(TimestampError::malformed("signingCertificate"))?;
    let first = sc.certs.first().ok_or_else(mismatch)?;
    if first.cert_hash.as_bytes() != DigestAlg::Sha1.hash(&cert_der) {
        return Err(mismatch());
    }
    if first
        .issuer_serial
        .as_ref()
        .is_some_and(|is| !issuer_serial_matches(is, cert))
    {
        return Err(mismatch());
    }
    Ok(())
}

/// RFC 3161 §2.3: the TSA certificate has exactly one extended key usage,
/// id-kp-timeStamping, in a critical extension; keyUsage, if present, allows signing.
fn check_tsa_certificate(cert: &Certificate) -> Result<()> {
    let bad =
        |why: &str| TimestampError::invalid("TSA certificate", format!("{}: {why}", subject(cert)));
    let (critical, value) =
        extension(cert, &oid::EXT_KEY_USAGE).ok_or_else(|| bad("no extended key usage"))?;
    let eku =
        ExtendedKeyUsage::from_der(value).map_err(TimestampError::malformed("extKeyUsage"))?;
    if !critical {
        return Err(bad("extended key usage is not critical"));
    }
    if eku.0 != [oid::KP_TIME_STAMPING] {
        return Err(bad("extended key usage is not exactly id-kp-timeStamping"));
    }
    if let Some((_, v)) = extension(cert, &oid::KEY_USAGE) {
        let ku = KeyUsage::from_der(v).map_err(TimestampError::malformed("keyUsage"))?;
        if !ku.digital_signature() && !ku.non_repudiation() {
            return Err(bad("key usage allows no signature"));
        }
    }
    Ok(())
}

fn find_signer<'c>(
    sid: &SignerIdentifier,
    pool: impl Iterator<Item = &'c Certificate>,
) -> Option<&'c Certificate> {
    let mut pool = pool;
    pool.find(|c| match sid {
        SignerIdentifier::IssuerAndSerialNumber(is) => {
            is.issuer == c.tbs_certificate.issuer
                && is.serial_number == c.tbs_certificate.serial_number
        }
        SignerIdentifier::SubjectKeyIdentifier(ski) => extension(c, &oid::SUBJECT_KEY_ID)
            .and_then(|(_, v)| OctetString::from_der(v).ok())
            .is_some_and(|k| k == ski.0),
    })
}

fn accuracy(tst: &TstInfo) -> Result<Option<jiff::SignedDuration>> {
    let Some(a) = &tst.accuracy else {
        return Ok(None);
    };
    let sub = |v: Option<i16>| -> Result<i64> {
        match v {
            None => Ok(0),
            Some(n) if (1..=999).contains(&n) => Ok(i64::from(n)),
            Some(_) => Err(TimestampError::invalid(
                "TSTInfo",
                "accuracy millis/micros out of 1..999",
            )),
        }
    };
    let secs = i64::try_from(a.seconds.unwrap_or(0))
        .ok()
        .filter(|s| *s < 1 << 32)
        .ok_or_else(|| TimestampError::invalid("TSTInfo", "accuracy out of range"))?;
    let micros = secs * 1_000_000 + sub(a.millis)? * 1000 + sub(a.micros)?;
    Ok(Some(jiff::SignedDuration::from_micros(micros)))
}

/// Every check but the trusted path when `roots` is `None`.
fn inspect(
    token: &[u8],
    imprint: &[u8; 32],
    nonce: Option<&[u8]>,
    roots: Option<&TrustedRoots>,
) -> Result<VerifiedTimestamp> {
    let ci = ContentInfo::from_der(token).map_err(TimestampError::malformed("token"))?;
    if ci.content_type != oid::SIGNED_DATA {
        return Err(TimestampError::invalid("token", "not CMS SignedData"));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(TimestampError::malformed("SignedData"))?;
    if sd.encap_content_info.econtent_type != oid::CT_TST_INFO {
        return Err(TimestampError::invalid("token", "content is not TSTInfo"));
    }
    let econtent = sd
        .encap_content_info
        .econtent
        .as_ref()
        .filter(|e| e.tag() == Tag::OctetString)
        .ok_or_else(|| TimestampError::invalid("token", "no encapsulated TSTInfo"))?;
    let tst_bytes = econtent.value();
    let tst = TstInfo::from_der(tst_bytes).map_err(TimestampError::malformed("TSTInfo"))?;

    let mi = &tst.message_imprint;
    if digest_alg(&mi.hash_algorithm, "message imprint")? != DigestAlg::Sha256 {
        return Err(TimestampError::Unsupported {
            what: "message imprint",
            oid: mi.hash_algorithm.oid.to_string(),
        });
    }
    if mi.hashed_message.as_bytes() != imprint.as_slice() {
        return Err(TimestampError::ImprintMismatch);
    }
    if let Some(n) = nonce {
        if tst.nonce.as_ref().map(|t| t.as_bytes()) != Some(n) {
            return Err(TimestampError::NonceMismatch);
        }
    }
    let gen_time = crate::time::gen_time(&tst.gen_time)?;
    let accuracy = accuracy(&tst)?;

    let mut signers = sd.signer_infos.0.iter();
    let si = match (signers.next(), signers.next()) {
        (Some(si), None) => si,
        _ => {
            return Err(TimestampError::invalid(
                "token",
                "must have exactly one signer",
            ))
        }
    };
    // RFC 5652 §5.1/§5.3: content other than id-data means SignedData version 3; the
    // SignerInfo version follows its sid; its digest algorithm is among digestAlgorithms.
    let sid_version = match si.sid {
        SignerIdentifier::IssuerAndSerialNumber(_) => CmsVersion::V1,
        SignerIdentifier::SubjectKeyIdentifier(_) => CmsVersion::V3,
    };
    if sd.version != CmsVersion::V3 || si.version != sid_version {
        return Err(TimestampError::invalid("token", "wrong CMS version"));
    }
    if !sd.digest_algorithms.iter().any(|a| a == &si.digest_alg) {
        return Err(TimestampError::invalid(
            "token",
            "the signer's digest algorithm is not listed in digestAlgorithms",
        ));
    }
    let pool: Vec<Certificate> = sd
        .certificates
        .iter()
        .flat_map(|cs| cs.0.iter())
        .filter_map(|c| match c {
            CertificateChoices::Certificate(c) => Some(c.clone()),
            CertificateChoices::Other(_) => None,
        })
        .collect();
    let signer = find_signer(&si.sid, pool.iter())
        .ok_or_else(|| TimestampError::invalid("token", "the signer's certificate is not in it"))?;

    // Signed attributes: content-type, message-digest, the ESS signer binding.
    let ct: ObjectIdentifier = attr_value(si, oid::CONTENT_TYPE, true)?
        .ok_or_else(|| TimestampError::invalid("token", "no content-type"))?
        .decode_as()
        .map_err(TimestampError::malformed("content-type attribute"))?;
    if ct != oid::CT_TST_INFO {
        return Err(TimestampError::invalid(
            "token",
            "content-type attribute is not TSTInfo",
        ));
    }
    let digest = digest_alg(&si.digest_alg, "signer digest")?;
    let md: OctetString = attr_value(si, oid::MESSAGE_DIGEST, true)?
        .ok_or_else(|| TimestampError::invalid("token", "no message-digest"))?
        .decode_as()
        .map_err(TimestampError::malformed("message-digest attribute"))?;
    if digest == DigestAlg::Sha1 || md.as_bytes() != digest.hash(tst_bytes) {
        return Err(TimestampError::invalid(
            "token",
            "message-digest attribute does not match the TSTInfo",
        ));
    }
    check_ess(si, signer)?;

    // The signature is over the DER SET OF the signed attributes (RFC 5652 §5.4).
    let signed = si
        .signed_attrs
        .as_ref()
        .ok_or_else(|| TimestampError::invalid("token", "no signed attributes"))?
        .to_der()
        .map_err(TimestampError::malformed("signed attributes"))?;
    crate::sig::verify(
        &signer.tbs_certificate.subject_public_key_info,
        &si.signature_algorithm.oid,
        Some(digest),
        &signed,
        si.signature.as_bytes(),
        "token",
    )?;
    check_tsa_certificate(signer)?;

    let (path, valid_until) = match roots {
        Some(r) => validate_path(signer, &pool, r, gen_time)?,
        None => {
            // Even unanchored, the signer must have been valid at genTime.
            let v = &signer.tbs_certificate.validity;
            let (from, to) = (
                crate::time::cert_time(&v.not_before)?,
                crate::time::cert_time(&v.not_after)?,
            );
            if gen_time < from || gen_time > to {
                return Err(TimestampError::NotValidAtGenTime {
                    subject: subject(signer),
                    gen_time: gen_time.to_string(),
                });
            }
            (vec![subject(signer)], to)
        }
    };
    Ok(VerifiedTimestamp {
        gen_time,
        accuracy,
        serial: hex_upper(tst.serial_number.as_bytes()),
        policy: tst.policy.to_string(),
        signer: subject(signer),
        path,
        valid_until,
    })
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
