//! The JSON error every failure is answered with:
//! `{"error":{"kind":"…","message":"…","line":N}}` (`line`: the 1-based event of a batch it
//! is about, when it is about one). Messages name fields, never their values.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use caseledger_store::StoreError;

/// How long a busy client is told to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable word for programs (`bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `refused`, `rate_limited`,
    /// `busy`, `ledger_refused`, `internal`).
    pub kind: &'static str,
    /// One sentence for people.
    pub message: String,
    /// The event of the request it is about (1-based).
    pub line: Option<usize>,
}

impl ApiError {
    /// An error of `status` and `kind`.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            kind,
            message: message.into(),
            line: None,
        }
    }

    /// `400 bad_request`.
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// `403 forbidden`.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// `503 busy` (with `Retry-After`).
    pub fn busy(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", message)
    }

    /// `500 internal`: the details go to the log, not to the client.
    pub fn internal() -> ApiError {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (the server log says more)",
        )
    }

    /// About event `line` of the request.
    pub fn at(mut self, line: Option<usize>) -> ApiError {
        self.line = line;
        self
    }

    /// A store error: the ledger's refusals are the client's (`422`), a ledger held by
    /// another process is busy (`503`), a ledger whose stored bytes fail its checks at open
    /// is `500 ledger_refused` with the store's sentence, the rest is ours (`500`, logged).
    pub fn store(e: &StoreError) -> ApiError {
        use StoreError as E;
        match e {
            E::Refused(v) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "refused",
                format!("refused: {v}"),
            ),
            E::BadSignature { .. }
            | E::PayloadMismatch { .. }
            | E::PayloadTooLarge { .. }
            | E::BeyondHead { .. }
            | E::EventIdWithoutRecord
            | E::RecordStateRow { .. } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "refused", e.to_string())
            }
            E::EventIdRecorded { .. } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", e.to_string())
            }
            // The server's clock, not the client's request: retried once it is fixed.
            E::ClockBehind { .. } => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "clock", e.to_string())
            }
            E::InUse { .. } => ApiError::busy("the ledger is in use by another process"),
            // The ledger's own bytes fail its checks (an insider's edit, damage): no retry
            // helps and the client must hear it, not "internal error". The messages name
            // seqs, trees, fields and record ids, never content (nor the server's paths).
            E::DerivedState { .. } | E::RegistryChain { .. } | E::Corrupt { .. } => {
                tracing::error!(error = %e, "ledger refused");
                ApiError::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "ledger_refused",
                    e.to_string(),
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {"kind": self.kind, "message": self.message, "line": self.line}
        });
        let mut r = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            || self.status == StatusCode::TOO_MANY_REQUESTS
        {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        // The error kind, for the request log (the body is not read back).
        r.extensions_mut().insert(ErrorKind(self.kind));
        r
    }
}

/// The kind of an error response, for the request log.
#[derive(Clone, Copy, Debug)]
pub struct ErrorKind(pub &'static str);
