//! The one error type: why a request could not be made or a token was refused.

/// Why a time-stamp request failed or a response or token was refused. Messages name the
/// structure or check at fault, never the timestamped data.
#[derive(Debug, thiserror::Error)]
pub enum TimestampError {
    /// DER that does not parse as the structure named.
    #[error("malformed {what}: {source}")]
    Malformed {
        /// The structure being parsed.
        what: &'static str,
        /// The decoder's reason.
        source: der::Error,
    },
    /// A structurally valid object that breaks a rule of RFC 3161 / RFC 5652 / RFC 5280.
    #[error("invalid {what}: {why}")]
    Invalid {
        /// The object.
        what: &'static str,
        /// The rule broken.
        why: String,
    },
    /// The TSA answered with a status other than granted.
    #[error("the TSA refused the request: status {status}{text}")]
    Refused {
        /// PKIStatus (2 rejection, 3 waiting, 4 revocation warning, 5 revocation notification).
        status: u8,
        /// The TSA's status text, if any (`: ...`).
        text: String,
    },
    /// The token's message imprint is not the hash of the given bytes.
    #[error("the token is over other data (message imprint differs)")]
    ImprintMismatch,
    /// The token does not carry the request's nonce.
    #[error("the token does not carry the request's nonce")]
    NonceMismatch,
    /// An algorithm this verifier does not accept.
    #[error("unsupported {what} algorithm {oid}")]
    Unsupported {
        /// Where it was found.
        what: &'static str,
        /// Its OID.
        oid: String,
    },
    /// A signature (the token's, or a certificate's) did not verify.
    #[error("bad signature on {what}")]
    BadSignature {
        /// What was signed.
        what: &'static str,
    },
    /// No path from the signer certificate to a trusted root.
    #[error("untrusted TSA certificate: {why}")]
    Untrusted {
        /// Why the path failed.
        why: String,
    },
    /// A certificate on the path was not valid at the token's genTime.
    #[error("certificate {subject} was not valid at the token's genTime {gen_time}")]
    NotValidAtGenTime {
        /// The certificate's subject.
        subject: String,
        /// The token's genTime.
        gen_time: String,
    },
    /// The trusted roots file holds no certificate or does not parse.
    #[error("trusted roots: {0}")]
    Roots(String),
    /// The HTTP exchange with the TSA failed.
    #[error("TSA request to {url}: {why}")]
    Http {
        /// The TSA's URL.
        url: String,
        /// What failed.
        why: String,
    },
}

impl TimestampError {
    pub(crate) fn malformed(what: &'static str) -> impl FnOnce(der::Error) -> TimestampError {
        move |source| TimestampError::Malformed { what, source }
    }

    pub(crate) fn invalid(what: &'static str, why: impl Into<String>) -> TimestampError {
        TimestampError::Invalid {
            what,
            why: why.into(),
        }
    }
}

/// This crate's results.
pub type Result<T> = std::result::Result<T, TimestampError>;
