//! HTTPS for `caseledger serve` (`[tls]` in the config): rustls on the ring provider, the
//! same TLS stack as the witness and TSA clients, through tokio-rustls.
//!
//! The key file is read as every private key is (`caseledger_keyfile`): a regular file
//! that group and others cannot access, at most 64 KiB. The certificate is public.
//!
//! Per connection (`serve_tls`): the handshake must finish within the header-read timeout
//! (a client that opens a connection and never completes TLS holds a connection slot no
//! longer than one that never sends its headers), and a client that speaks plain HTTP to
//! the TLS port is told so in one plain-HTTP `400` and closed, instead of a TLS alert it
//! cannot read.
//!
//! Renewal without a restart ([`Reloadable`]): on SIGHUP the server reads the certificate
//! and key files again (as at start: the key checked as a private key file) and, when they
//! make a usable pair, later handshakes use them; connections already made keep theirs. A
//! pair that cannot be used is logged and the certificate in use stays (a renewal script
//! that wrote half a file does not take HTTPS down).

use crate::config::TlsConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

/// Why the certificate or key could not be used (paths only, never key bytes).
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// The certificate file.
    #[error("tls cert {path}: {why}")]
    Cert {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The key file: unreadable, too open, not a key.
    #[error("tls key: {0}")]
    Key(String),
    /// rustls refused the pair (a key that is not the certificate's, an unsupported kind).
    #[error("tls: {0}")]
    Config(String),
}

/// The acceptor for `[tls]`: the chain, the key (checked as a private key file), HTTP/1.1
/// announced over ALPN (the only protocol served).
pub fn acceptor(t: &TlsConfig) -> Result<TlsAcceptor, TlsError> {
    let cert_err = |why: String| TlsError::Cert {
        path: t.cert.display().to_string(),
        why,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&t.cert)
        .map_err(|e| cert_err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| cert_err(e.to_string()))?;
    if certs.is_empty() {
        return Err(cert_err("no CERTIFICATE in the file".into()));
    }
    let pem =
        caseledger_keyfile::read_secret_string(&t.key).map_err(|e| TlsError::Key(e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(pem.as_bytes()).map_err(|_| {
        TlsError::Key(format!(
            "{}: no PEM private key (PKCS#8, RSA or EC) in the file",
            t.key.display()
        ))
    })?;
    drop(pem);
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| TlsError::Config(e.to_string()))?
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .map_err(|e| TlsError::Config(format!("the certificate and key: {e}")))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// The acceptor in use, replaced whole by [`Reloadable::reload`].
pub struct Reloadable {
    config: TlsConfig,
    current: std::sync::RwLock<TlsAcceptor>,
}

impl Reloadable {
    /// From `[tls]`, read now (an error stops the start).
    pub fn new(t: &TlsConfig) -> Result<Reloadable, TlsError> {
        Ok(Reloadable {
            current: std::sync::RwLock::new(acceptor(t)?),
            config: t.clone(),
        })
    }

    /// The acceptor for the next handshake (a clone: an `Arc` inside).
    pub fn current(&self) -> TlsAcceptor {
        self.current
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Reads the certificate and key files again; in use from the next handshake when
    /// they make a usable pair, else the error and nothing changed. Blocks (file reads).
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = acceptor(&self.config)?;
        *self
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
        Ok(())
    }
}

/// Reloads `r` on every SIGHUP from `hangup` (installed by the caller before it listens, so
/// that a SIGHUP never finds the default action, which ends the process), logging the
/// outcome. Runs until the runtime stops.
pub async fn reload_on_hangup(r: Arc<Reloadable>, mut hangup: tokio::signal::unix::Signal) {
    while hangup.recv().await.is_some() {
        let r = r.clone();
        match tokio::task::spawn_blocking(move || r.reload()).await {
            Ok(Ok(())) => tracing::info!("tls: certificate and key reloaded (SIGHUP)"),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "tls: reload refused; the certificate in use stays")
            }
            Err(_) => tracing::error!("tls: reload failed; the certificate in use stays"),
        }
    }
}

/// The first byte of a TLS connection: a handshake record.
const TLS_HANDSHAKE: u8 = 0x16;

/// What a client sending plain HTTP to the TLS port is answered.
const PLAIN_HTTP_ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: 99\r\n\r\n{\"error\":{\"kind\":\"bad_request\",\"message\":\"this port speaks HTTPS: use https:// (TLS)\",\"line\":null}}";

/// The handshake on an accepted connection, within `within`; `None` when it failed, took
/// too long, or the client spoke plain HTTP (answered `400` and closed).
pub async fn handshake(
    acceptor: &TlsAcceptor,
    mut stream: TcpStream,
    within: Duration,
) -> Option<TlsStream<TcpStream>> {
    let hs = async {
        let mut first = [0u8; 1];
        let n = stream.peek(&mut first).await.ok()?;
        if n == 0 {
            return None;
        }
        if first[0] != TLS_HANDSHAKE {
            // Best effort: the client may already be gone.
            let _ = stream.write_all(PLAIN_HTTP_ANSWER).await;
            let _ = stream.shutdown().await;
            return None;
        }
        match acceptor.accept(stream).await {
            Ok(s) => Some(s),
            Err(e) => {
                // The reason only (e.g. a client that does not trust the certificate
                // alerts "UnknownCA"): what an operator needs, nothing of the client's.
                tracing::info!(error = %e, "TLS handshake failed");
                None
            }
        }
    };
    tokio::time::timeout(within, hs).await.ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plain_http_answer_is_well_formed() {
        let text = std::str::from_utf8(PLAIN_HTTP_ANSWER).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(len, body.len());
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["kind"], "bad_request");
    }

    #[test]
    fn a_key_file_others_can_read_is_refused_and_a_missing_cert_named() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        let key = d.path().join("key.pem");
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let cert = d.path().join("cert.pem");
        let t = TlsConfig {
            cert: cert.clone(),
            key: key.clone(),
        };
        let e = acceptor(&t).err().unwrap().to_string();
        assert!(e.starts_with("tls cert ") && e.contains("cert.pem"), "{e}");
        // A certificate-shaped file, so the key is reached.
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = acceptor(&t).err().unwrap().to_string();
        assert!(e.contains("UNPROTECTED PRIVATE KEY FILE"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        // Owner-only now: read, and refused as a pair rustls cannot use (never quoted).
        let e = acceptor(&t).err().unwrap().to_string();
        assert!(!e.contains("UNPROTECTED") && !e.contains("AAAA"), "{e}");
    }
}
