//! caseledger-timestamp: RFC 3161 time-stamp tokens over caseledger seals.
//!
//! A time-stamp authority (TSA) signs "these bytes existed at genTime". The bytes are a
//! seal's **checkpoint body** (`<origin>\n<size>\n<base64 root>\n`, the signed note's text
//! without its signature lines): cosignatures accruing on the note later do not change
//! them, and the root commits to every entry the seal covers, so a verified token bounds
//! the `recorded_at` of all of them from above.
//!
//! * [`TimestampRequest`]: a `TimeStampReq` (RFC 3161 §2.4.1) with a SHA-256
//!   messageImprint, a random nonce and `certReq` true.
//! * [`check_response`]: a `TimeStampResp` as received: status granted, the token over our
//!   bytes with our nonce, signed by the certificate it carries. Chain validation against
//!   the relying party's roots is [`verify_token`]'s, which is the only way to obtain a
//!   [`VerifiedTimestamp`].
//! * [`verify_token`]: offline verification of a stored token (a CMS `SignedData` holding a
//!   `TSTInfo`) **as of its genTime**: message imprint, signed attributes (content-type,
//!   message-digest, ESSCertID or ESSCertIDv2 binding the signer certificate), the
//!   signature (RSA PKCS#1 v1.5 or ECDSA P-256, SHA-2), the signer's critical
//!   `id-kp-timeStamping` extended key usage, and the certificate path to a root of
//!   [`TrustedRoots`], every certificate valid at genTime (so a token whose certificate
//!   has since expired still validates).
//! * [`log`]: the `timestamps.log` framing (docs/FORMAT.md), no I/O.
//! * [`client`]: the one function that talks HTTP (`application/timestamp-query`).
//! * [`config`]: `tsa.txt`, the TSA a ledger asks after writes (no I/O).
//!
//! Nothing here panics on input; every refusal is a [`TimestampError`].
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod asn1;
mod chain;
pub mod client;
pub mod config;
mod error;
pub mod log;
pub use log::{LogFormatError, Renewal, StoredToken};
mod request;
mod sig;
mod time;
mod verify;

pub use chain::TrustedRoots;
pub use error::TimestampError;
pub use request::TimestampRequest;
pub use verify::{
    check_response, unanchored_gen_time, verify_token, ReceivedToken, VerifiedTimestamp,
};
