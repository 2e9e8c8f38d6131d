//! The one function here that does I/O: POST a `TimeStampReq` to a TSA over HTTP or HTTPS
//! (RFC 3161 §3.4), bounded in time and size. The answer is checked by
//! [`crate::check_response`]: the token is signed, so TLS protects the request's privacy and
//! reachability through proxies, not the token. `https://` trusts Mozilla's root list
//! (webpki-roots) unless [`TlsRoots`] name other roots (a private CA).

use crate::error::{Result, TimestampError};
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// The largest response read: a token with a certificate chain is a few KiB.
pub const MAX_RESPONSE: u64 = 256 * 1024;

/// The only roots an `https://` server certificate may chain to, instead of the built-in
/// Mozilla list: for a TSA behind a private CA. At least one certificate.
#[derive(Debug, Clone)]
pub struct TlsRoots(Arc<Vec<Certificate<'static>>>);

impl TlsRoots {
    /// Reads the `CERTIFICATE` blocks of a PEM file (other blocks are skipped); refuses a
    /// file with none or a block that does not parse.
    pub fn from_pem(pem: &[u8]) -> Result<TlsRoots> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let PemItem::Certificate(c) =
                item.map_err(|e| TimestampError::Roots(format!("TLS roots: {e}")))?
            {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(TimestampError::Roots(
                "TLS roots: no CERTIFICATE block in the PEM file".into(),
            ));
        }
        Ok(TlsRoots(Arc::new(certs)))
    }
}

/// [`post_with_roots`] trusting the built-in roots for `https://`.
pub fn post(url: &str, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    post_with_roots(url, request, timeout, None)
}

/// POSTs `request` (a DER `TimeStampReq`) to `url` with `Content-Type:
/// application/timestamp-query` and returns the response body (a DER `TimeStampResp`).
/// The whole exchange, connect included, must end within `timeout`; no redirect is
/// followed; a body over [`MAX_RESPONSE`] or a status other than 200 is an error.
/// `http://` or `https://` only; for `https://` the server's certificate must chain to
/// `roots` when given, else to Mozilla's list.
pub fn post_with_roots(
    url: &str,
    request: &[u8],
    timeout: Duration,
    roots: Option<&TlsRoots>,
) -> Result<Vec<u8>> {
    let err = |why: String| TimestampError::Http {
        url: url.to_owned(),
        why,
    };
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(err("only http:// and https:// URLs are supported".into()));
    }
    let root_certs = roots.map_or(RootCerts::WebPki, |r| RootCerts::Specific(r.0.clone()));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .tls_config(TlsConfig::builder().root_certs(root_certs).build())
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
