//! `TimeStampReq` (RFC 3161 §2.4.1): SHA-256 message imprint, a random 64-bit nonce,
//! `certReq` true (the TSA includes its certificate, so a stored token carries what the
//! verifier needs besides the relying party's roots).

use crate::asn1::oid;
use crate::error::{Result, TimestampError};
use der::asn1::{Int, OctetString};
use der::{Any, Encode};
use rand::RngCore;
use sha2::Digest;
use x509_cert::spki::AlgorithmIdentifierOwned;
use x509_tsp::{MessageImprint, TimeStampReq, TspVersion};

/// A request for a time-stamp token over some bytes, with the nonce to expect back.
#[derive(Clone, Debug)]
pub struct TimestampRequest {
    imprint: [u8; 32],
    nonce: Vec<u8>,
    der: Vec<u8>,
}

impl TimestampRequest {
    /// A request over `data` (hashed with SHA-256) with a fresh random nonce.
    pub fn new(data: &[u8]) -> Result<TimestampRequest> {
        let mut nonce = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        Self::with_nonce(data, nonce)
    }

    /// A request with a given nonce (tests; the high bit is cleared and a non-zero leading
    /// byte forced so the INTEGER is positive and minimally encoded).
    pub fn with_nonce(data: &[u8], mut nonce: [u8; 8]) -> Result<TimestampRequest> {
        nonce[0] = (nonce[0] & 0x7f) | 0x40;
        let imprint: [u8; 32] = sha2::Sha256::digest(data).into();
        let req = TimeStampReq {
            version: TspVersion::V1,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: oid::SHA256,
                    parameters: Some(Any::null()),
                },
                hashed_message: OctetString::new(imprint.to_vec())
                    .map_err(TimestampError::malformed("request"))?,
            },
            req_policy: None,
            nonce: Some(Int::new(&nonce).map_err(TimestampError::malformed("request"))?),
            cert_req: true,
            extensions: None,
        };
        let der = req.to_der().map_err(TimestampError::malformed("request"))?;
        Ok(TimestampRequest {
            imprint,
            nonce: nonce.to_vec(),
            der,
        })
    }

    /// The DER `TimeStampReq`, the body of the HTTP POST.
    pub fn to_der(&self) -> &[u8] {
        &self.der
    }

    /// SHA-256 of the data.
    pub fn imprint(&self) -> &[u8; 32] {
        &self.imprint
    }

    /// The nonce's INTEGER content bytes.
    pub fn nonce(&self) -> &[u8] {
        &self.nonce
    }
}
