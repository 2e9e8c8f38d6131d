//! The TSA client over HTTPS, against a loopback rustls server with a test CA: it succeeds
//! when given that CA as its TLS roots and refuses the certificate without them.

mod tls;

use caseledger_timestamp::client::{self, TlsRoots};
use caseledger_timestamp::TimestampError;
use std::time::Duration;

#[test]
fn https_tsa_with_the_private_ca_as_roots_answers() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tls::TestPki::new(dir.path());
    let (port, server) = tls::serve_once(&pki, |_, _| {
        (
            200,
            "application/timestamp-reply".into(),
            b"token bytes".to_vec(),
        )
    });
    let roots = TlsRoots::from_pem(&std::fs::read(&pki.ca_pem).unwrap()).unwrap();
    let got = client::post_with_roots(
        &format!("https://127.0.0.1:{port}/tsa"),
        b"request bytes",
        Duration::from_secs(10),
        Some(&roots),
    )
    .unwrap();
    assert_eq!(got, b"token bytes");
    let (line, body) = server.join().unwrap().unwrap();
    assert_eq!(line, "POST /tsa HTTP/1.1");
    assert_eq!(body, b"request bytes");
}

#[test]
fn https_tsa_under_an_unknown_ca_is_refused_with_a_certificate_error() {
    let dir = tempfile::tempdir().unwrap();
    let pki = tls::TestPki::new(dir.path());
    let (port, server) = tls::serve_once(&pki, |_, _| (200, String::new(), vec![]));
    // The built-in Mozilla roots do not include the test CA.
    let r = client::post(
        &format!("https://127.0.0.1:{port}/"),
        b"x",
        Duration::from_secs(10),
    );
    match r {
        Err(TimestampError::Http { why, .. }) => {
            assert!(why.to_lowercase().contains("certificate"), "{why}");
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
    // The server saw no request: the handshake failed.
    assert!(server.join().unwrap().is_err());
}

#[test]
fn tls_roots_file_without_a_certificate_is_refused() {
    assert!(matches!(
        TlsRoots::from_pem(b"not pem at all"),
        Err(TimestampError::Roots(_))
    ));
    assert!(TlsRoots::from_pem(b"").is_err());
}
