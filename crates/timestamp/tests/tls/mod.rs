//! A loopback HTTPS server for the ureq clients' TLS tests: a test CA and a server
//! certificate for 127.0.0.1 made with the openssl CLI in a tempdir, and a thread that
//! answers one request through rustls with what a handler returns (a fixed reply, or the
//! answer of a plain-HTTP server behind it, as a TLS-terminating proxy would). Shared by
//! crates/timestamp and crates/witness tests (`#[path]`), which need no other test crate. Bounded: the accepted stream has
//! read and write timeouts, so a client that gives up never leaves the thread waiting.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The test CA (`ca.pem`) and the server's certificate and key, in `dir`.
pub struct TestPki {
    pub ca_pem: PathBuf,
    leaf_pem: PathBuf,
    leaf_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TestPki {
    pub fn new(dir: &Path) -> TestPki {
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        let mut ca = vec!["req", "-x509"];
        ca.extend(ec);
        ca.extend([
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=caseledger test CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ]);
        openssl(dir, &ca);
        let mut csr = vec!["req"];
        csr.extend(ec);
        csr.extend([
            "-keyout",
            "leaf.key",
            "-out",
            "leaf.csr",
            "-subj",
            "/CN=127.0.0.1",
        ]);
        openssl(dir, &csr);
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        TestPki {
            ca_pem: dir.join("ca.pem"),
            leaf_pem: dir.join("leaf.pem"),
            leaf_key: dir.join("leaf.key"),
        }
    }
}

/// What the server saw: the request line and the body; `Err` when the TLS handshake or the
/// exchange failed (a client that refused the certificate).
pub type Seen = Result<(String, Vec<u8>), String>;

/// An answer: status, content type, body.
pub type Reply = (u16, String, Vec<u8>);

/// Listens on 127.0.0.1 and answers one request (request line, body) with `handler`'s reply.
/// Returns the port and the thread.
pub fn serve_once<H>(pki: &TestPki, handler: H) -> (u16, JoinHandle<Seen>)
where
    H: FnOnce(&str, &[u8]) -> Reply + Send + 'static,
{
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&pki.leaf_pem)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&pki.leaf_key).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let handle = std::thread::spawn(move || -> Seen {
        let (tcp, _) = listener.accept().map_err(|e| e.to_string())?;
        tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        tcp.set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let conn = rustls::ServerConnection::new(config).map_err(|e| e.to_string())?;
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        // Headers up to the blank line (at most 64 KiB), then Content-Length bytes of body.
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if buf.len() > 65536 || tls.read(&mut byte).map_err(|e| e.to_string())? == 0 {
                return Err("connection closed before the request ended".into());
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&buf).into_owned();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut req_body = vec![0u8; len];
        tls.read_exact(&mut req_body).map_err(|e| e.to_string())?;
        let request_line = head.lines().next().unwrap_or_default().to_owned();
        let (status, content_type, body) = handler(&request_line, &req_body);
        let reply = format!(
            "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        );
        tls.write_all(reply.as_bytes()).map_err(|e| e.to_string())?;
        tls.write_all(&body).map_err(|e| e.to_string())?;
        tls.conn.send_close_notify();
        tls.flush().map_err(|e| e.to_string())?;
        Ok((request_line, req_body))
    });
    (port, handle)
}
