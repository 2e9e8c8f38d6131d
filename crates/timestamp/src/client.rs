//! The one function here that does I/O: POST a `TimeStampReq` to a TSA over HTTP
//! (RFC 3161 §3.4), bounded in time and size. The answer is checked by
//! [`crate::check_response`]; transport security adds nothing to a signed token, so plain
//! `http://` is what this client speaks (no TLS library is linked).

use crate::error::{Result, TimestampError};
use std::time::Duration;

/// The largest response read: a token with a certificate chain is a few KiB.
pub const MAX_RESPONSE: u64 = 256 * 1024;

/// POSTs `request` (a DER `TimeStampReq`) to `url` with `Content-Type:
/// application/timestamp-query` and returns the response body (a DER `TimeStampResp`).
/// The whole exchange, connect included, must end within `timeout`; no redirect is
/// followed; a body over [`MAX_RESPONSE`] or a status other than 200 is an error.
pub fn post(url: &str, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let err = |why: String| TimestampError::Http {
        url: url.to_owned(),
        why,
    };
    if !url.starts_with("http://") {
        return Err(err(
            "only http:// URLs are supported (the token is signed; no TLS is needed)".into(),
        ));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .max_redirects(0)
        .http_status_as_error(false)
        .build()
        .into();
    let mut resp = agent
        .post(url)
        .header("Content-Type", "application/timestamp-query")
        .header("Accept", "application/timestamp-reply")
        .send(request)
        .map_err(|e| err(e.to_string()))?;
    let status = resp.status().as_u16();
    if status != 200 {
        return Err(err(format!("HTTP status {status}")));
    }
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    // RFC 3161 §3.4 names application/timestamp-reply; some TSAs say -response.
    if !ctype.starts_with("application/timestamp-reply")
        && !ctype.starts_with("application/timestamp-response")
    {
        return Err(err("response is not application/timestamp-reply".into()));
    }
    resp.body_mut()
        .with_config()
        .limit(MAX_RESPONSE)
        .read_to_vec()
        .map_err(|e| err(e.to_string()))
}
