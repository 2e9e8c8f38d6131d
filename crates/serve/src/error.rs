//! The JSON error every failure is answered with:
//! `{"error":{"kind":"…","message":"…","line":N}}` (`line`: the 1-based event of a batch it
//! is about, when it is about one). Messages name fields, never their values.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use caseledger_store::StoreError;

/// The kind of the `507` answered when the disk under a ledger is full.
pub const STORAGE_FULL: &str = "storage_full";

/// How long a busy client is told to wait before retrying, in seconds.
pub const RETRY_AFTER_SECS: u64 = 1;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable word for programs (`bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `conflict`, `payload_too_large`, `unsupported_media_type`, `refused`, `rate_limited`,
    /// `busy`, `storage_full`, `ledger_refused`, `internal`).
    pub kind: &'static str,
    /// One sentence for people.
    pub message: String,
    /// The event of the request it is about (1-based).
    pub line: Option<usize>,
}

/// Whether `r` failed on a full disk: its ledger must then be discarded from the pool
/// (`Pool::discard`), because the open database stays failed after a full disk; the next
/// request reopens it, and appends resume once space is freed.
pub(crate) fn failed_full<T>(r: &Result<T, ApiError>) -> bool {
    matches!(r, Err(e) if e.kind == STORAGE_FULL)
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
    /// another process is busy (`503`), a full disk is `507 storage_full` (with
    /// `Retry-After`: the client retries with the same id once the operator frees space), a
    /// ledger whose stored bytes fail its checks at open is `500 ledger_refused` with the
    /// store's sentence, the rest is ours (`500`, logged).
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
            // A full disk is the operator's to fix, not a bug: a 500 would hide it, and a
            // record system would not know the append may be retried. "May not": a commit
            // whose flush failed may or may not be durable, hence "the same id".
            E::Io { source, .. } if storage_full(source) => {
                tracing::error!(error = %e, "store error: storage full");
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    STORAGE_FULL,
                    "the server's storage for this ledger is full: the append may not have been written; retry with the same id once space is freed",
                )
            }
            other => {
                tracing::error!(error = %other, "store error");
                ApiError::internal()
            }
        }
    }
}

/// Whether an I/O error means no room to write: the disk (`ENOSPC`), a quota (`EDQUOT`) or
/// a file-size limit (`EFBIG`). By kind, not by OS code: sled re-wraps the OS error and keeps
/// only its kind.
fn storage_full(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::StorageFull | K::QuotaExceeded | K::FileTooLarge
    )
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
            || self.status == StatusCode::INSUFFICIENT_STORAGE
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    fn answer(e: &StoreError) -> (StatusCode, &'static str, Option<String>) {
        let a = ApiError::store(e);
        let (status, kind) = (a.status, a.kind);
        let r = a.into_response();
        let retry = r
            .headers()
            .get(header::RETRY_AFTER)
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        (status, kind, retry)
    }

    /// A full disk under the server was a `500 internal` (found by the server disk-full
    /// campaign, tests/reliability/serve_faults.rs): now `507 storage_full` with
    /// `Retry-After`, as sled reports it (the OS error re-wrapped, its kind kept).
    #[test]
    fn a_full_disk_is_507_storage_full_with_retry_after() {
        for kind in [
            io::ErrorKind::StorageFull,
            io::ErrorKind::QuotaExceeded,
            io::ErrorKind::FileTooLarge,
        ] {
            let e = StoreError::Io {
                path: None,
                source: io::Error::new(kind, "Os { code: 28, kind: StorageFull }"),
            };
            assert_eq!(
                answer(&e),
                (
                    StatusCode::INSUFFICIENT_STORAGE,
                    "storage_full",
                    Some(RETRY_AFTER_SECS.to_string())
                ),
                "{kind:?}"
            );
        }
        let e = StoreError::Io {
            path: Some("/l/sled".into()),
            source: io::Error::from_raw_os_error(28),
        };
        let a = ApiError::store(&e);
        assert_eq!(a.status, StatusCode::INSUFFICIENT_STORAGE);
        // The path is the operator's business (the log), not the client's.
        assert!(!a.message.contains("/l/sled"), "{}", a.message);
    }

    /// Other I/O errors stay `500 internal`, the details in the log only.
    #[test]
    fn other_io_errors_stay_internal() {
        let e = StoreError::Io {
            path: Some("/l/sled".into()),
            source: io::Error::from(io::ErrorKind::PermissionDenied),
        };
        assert_eq!(
            answer(&e),
            (StatusCode::INTERNAL_SERVER_ERROR, "internal", None)
        );
    }
}
