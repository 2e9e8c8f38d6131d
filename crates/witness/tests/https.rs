//! The witness client over HTTPS: the in-process witness (plain HTTP on 127.0.0.1) behind a
//! loopback rustls proxy with a test CA. With that CA as its TLS roots the client gets a
//! verified cosignature; with the built-in roots it refuses the certificate.

#[path = "../../timestamp/tests/tls/mod.rs"]
mod tls;

use caseledger_core::checkpoint::{sign_checkpoint, Checkpoint};
use caseledger_core::keys::SigningKey;
use caseledger_core::merkle::{root_at, Hash, MemoryNodes, Sha256Hasher};
use caseledger_core::note::NoteSigner;
use caseledger_witness::client::{self, Endpoint, Http, Policy, SubmitError, TlsRoots, Transport};
use caseledger_witness::http::Running;
use caseledger_witness::server::{LogKeys, Witness};
use caseledger_witness::state::StateDir;
use std::sync::Arc;
use std::time::Duration;

const ORIGIN: &str = "example.org/https";

fn log() -> NoteSigner {
    NoteSigner::new(ORIGIN, SigningKey::from_seed(&[21; 32])).unwrap()
}

fn note(size: u64) -> (String, Checkpoint) {
    let leaves: Vec<Hash> = (0..size)
        .map(|i| {
            use sha2::Digest;
            Hash(sha2::Sha256::digest(i.to_be_bytes()).into())
        })
        .collect();
    let t = MemoryNodes::from_leaf_hashes(&Sha256Hasher, &leaves);
    let cp = Checkpoint::new(ORIGIN, size, root_at(&Sha256Hasher, &t, size).unwrap()).unwrap();
    (sign_checkpoint(&cp, &log()), cp)
}

/// The witness on plain HTTP, and an HTTPS proxy for one request in front of it.
fn witness_behind_tls(
    dir: &std::path::Path,
    pki: &tls::TestPki,
) -> (Running, Endpoint, std::thread::JoinHandle<tls::Seen>) {
    let logs = LogKeys::parse(&log().verifier().to_vkey_string()).unwrap();
    let w = Witness::new(
        "witness.example/tls",
        SigningKey::from_seed(&[22; 32]),
        logs,
        StateDir::open(dir.join("state")).unwrap(),
    )
    .unwrap();
    let key = w.verifier().clone();
    let running = Running::start(
        std::net::TcpListener::bind("127.0.0.1:0").unwrap(),
        Arc::new(w),
    )
    .unwrap();
    let plain = running.url();
    let (port, proxy) = tls::serve_once(pki, move |line, body| {
        let path = line.split(' ').nth(1).unwrap_or("/");
        let r = Http::new(Duration::from_secs(10))
            .post(&format!("{}{path}", plain.trim_end_matches('/')), body)
            .expect("the plain witness answers");
        (r.status, r.content_type.unwrap_or_default(), r.body)
    });
    let ep = Endpoint {
        url: format!("https://127.0.0.1:{port}"),
        key,
    };
    (running, ep, proxy)
}

#[test]
fn https_witness_with_the_private_ca_as_roots_cosigns() {
    let t = tempfile::tempdir().unwrap();
    let pki = tls::TestPki::new(t.path());
    let (_running, ep, proxy) = witness_behind_tls(t.path(), &pki);
    let roots = TlsRoots::from_pem(&std::fs::read(&pki.ca_pem).unwrap()).unwrap();
    let http = Http::with_roots(Duration::from_secs(10), Some(&roots));
    let (n, cp) = note(4);
    let mut none = |_, _| Ok(vec![]);
    let policy = Policy {
        attempts: 1,
        ..Policy::default()
    };
    // submit verifies the cosignature with the witness's key before returning it.
    let c = client::submit(&http, &ep, &n, &cp, 0, &mut none, &policy).unwrap();
    assert!(
        c.line.starts_with("\u{2014} witness.example/tls "),
        "{}",
        c.line
    );
    let (line, _) = proxy.join().unwrap().unwrap();
    assert_eq!(line, "POST /add-checkpoint HTTP/1.1");
}

#[test]
fn https_witness_under_an_unknown_ca_is_refused_with_a_certificate_error() {
    let t = tempfile::tempdir().unwrap();
    let pki = tls::TestPki::new(t.path());
    let (_running, ep, proxy) = witness_behind_tls(t.path(), &pki);
    let http = Http::new(Duration::from_secs(10));
    let (n, cp) = note(4);
    let mut none = |_, _| Ok(vec![]);
    let policy = Policy {
        attempts: 1,
        ..Policy::default()
    };
    match client::submit(&http, &ep, &n, &cp, 0, &mut none, &policy) {
        Err(SubmitError::Unreachable { last, .. }) => {
            assert!(last.to_lowercase().contains("certificate"), "{last}");
        }
        other => panic!("expected a certificate error, got {other:?}"),
    }
    assert!(proxy.join().unwrap().is_err(), "no request got through");
}

#[test]
fn tls_roots_file_without_a_certificate_is_refused() {
    assert!(
        TlsRoots::from_pem(b"-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n").is_err()
    );
    assert!(TlsRoots::from_pem(b"").is_err());
}
