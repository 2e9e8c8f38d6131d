//! Interop with OpenSSL's TSA: a test CA and TSA certificate are generated into a tempdir,
//! `openssl ts -reply` answers behind a loopback HTTP server, tokens are verified by this
//! crate and by `openssl ts -verify`. Needs `openssl` and `faketime` (.ci/run installs both).

use caseledger_timestamp::{
    check_response, client, verify_token, TimestampError, TimestampRequest, TrustedRoots,
};
use der::{Decode, Encode};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const BODY: &[u8] = b"example.org/practice\n42\nq83vEjRWeJA0VniQq83vEjRWeJA0VniQq83vEjRWeJA=\n";

fn run(dir: &Path, fake: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = match fake {
        Some(t) => {
            let mut c = Command::new("faketime");
            c.arg(t).arg("openssl");
            c
        }
        None => Command::new("openssl"),
    };
    cmd.args(args).current_dir(dir).output().unwrap()
}

fn ok(dir: &Path, fake: Option<&str>, args: &[&str]) {
    let out = run(dir, fake, args);
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a TSA certificate it issued (critical EKU timeStamping), plus the ts config.
struct Tsa {
    dir: tempfile::TempDir,
    /// faketime spec for `openssl ts -reply` (the TSA's clock).
    clock: Option<String>,
}

#[derive(Clone, Copy)]
enum Key {
    Rsa,
    P256,
}

impl Tsa {
    /// `ca_at`/`tsa_at`: faketime specs for creating the CA and the TSA certificate (None:
    /// now); `tsa_days`: the TSA certificate's lifetime; `ess_v2`: ESSCertIDv2 (SHA-256)
    /// instead of ESSCertID (SHA-1).
    fn new(
        key: Key,
        ca_at: Option<&str>,
        tsa_at: Option<&str>,
        tsa_days: u32,
        ess_v2: bool,
    ) -> Tsa {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        if matches!(key, Key::P256) {
            ok(
                d,
                None,
                &["ecparam", "-name", "prime256v1", "-out", "ec.param"],
            );
        }
        let keyarg = match key {
            Key::Rsa => "rsa:2048".to_string(),
            Key::P256 => "ec:ec.param".to_string(),
        };
        ok(
            d,
            ca_at,
            &[
                "req",
                "-x509",
                "-newkey",
                &keyarg,
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-subj",
                "/CN=Test TSA Root",
                "-days",
                "7300",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        ok(
            d,
            None,
            &[
                "req",
                "-newkey",
                &keyarg,
                "-nodes",
                "-keyout",
                "tsa.key",
                "-out",
                "tsa.csr",
                "-subj",
                "/CN=Test TSA",
            ],
        );
        std::fs::write(
            d.join("ext.cnf"),
            "[tsa_ext]\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,nonRepudiation\n\
             extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\n",
        )
        .unwrap();
        ok(
            d,
            tsa_at,
            &[
                "x509",
                "-req",
                "-in",
                "tsa.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "tsa.pem",
                "-days",
                &tsa_days.to_string(),
                "-extfile",
                "ext.cnf",
                "-extensions",
                "tsa_ext",
                "-sha256",
            ],
        );
        std::fs::write(d.join("tsaserial"), "01\n").unwrap();
        std::fs::write(
            d.join("ts.cnf"),
            format!(
                "[tsa]\ndefault_tsa = tsa1\n[tsa1]\ndir = {dir}\nserial = $dir/tsaserial\n\
                 crypto_device = builtin\nsigner_cert = $dir/tsa.pem\nsigner_key = $dir/tsa.key\n\
                 signer_digest = sha256\ndefault_policy = 1.2.3.4.1\n\
                 digests = sha256, sha384, sha512\naccuracy = secs:1, millisecs:500\n\
                 clock_precision_digits = 0\nordering = no\ntsa_name = yes\n\
                 ess_cert_id_chain = no\ness_cert_id_alg = {ess}\n",
                dir = d.display(),
                ess = if ess_v2 { "sha256" } else { "sha1" },
            ),
        )
        .unwrap();
        Tsa { dir, clock: None }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    fn roots(&self) -> TrustedRoots {
        TrustedRoots::from_pem(&std::fs::read(self.path("ca.pem")).unwrap()).unwrap()
    }

    /// `openssl ts -reply` to a DER query.
    fn reply(&self, query: &[u8]) -> Vec<u8> {
        let d = self.dir.path();
        let q = tempfile::NamedTempFile::new_in(d).unwrap();
        std::fs::write(q.path(), query).unwrap();
        let r = d.join(format!("resp-{}.der", std::process::id()));
        let qp = q.path().to_str().unwrap().to_owned();
        let rp = r.to_str().unwrap().to_owned();
        ok(
            d,
            self.clock.as_deref(),
            &[
                "ts",
                "-reply",
                "-config",
                "ts.cnf",
                "-queryfile",
                &qp,
                "-out",
                &rp,
            ],
        );
        std::fs::read(&r).unwrap()
    }

    /// Serves up to `n` requests on loopback with `openssl ts -reply`; gives up after 60 s.
    fn serve(self: &std::sync::Arc<Self>, n: usize) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/tsa", listener.local_addr().unwrap());
        listener.set_nonblocking(true).unwrap();
        let me = std::sync::Arc::clone(self);
        let h = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while served < n && Instant::now() < deadline {
                let (stream, _) = match listener.accept() {
                    Ok(s) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                served += 1;
                stream.set_nonblocking(false).unwrap();
                stream
                    .set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut r = BufReader::new(stream);
                let mut len = 0usize;
                let mut ctype = String::new();
                loop {
                    let mut line = String::new();
                    if r.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                        break;
                    }
                    let l = line.to_ascii_lowercase();
                    if let Some(v) = l.strip_prefix("content-length:") {
                        len = v.trim().parse().unwrap();
                    }
                    if let Some(v) = l.strip_prefix("content-type:") {
                        ctype = v.trim().to_owned();
                    }
                }
                assert!(len < 10_000);
                let mut body = vec![0; len];
                r.read_exact(&mut body).unwrap();
                let mut s = r.into_inner();
                if ctype != "application/timestamp-query" {
                    s.write_all(b"HTTP/1.1 415 Unsupported\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .unwrap();
                    continue;
                }
                let resp = me.reply(&body);
                write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n\
                     Content-Length: {}\r\nConnection: close\r\n\r\n",
                    resp.len()
                )
                .unwrap();
                s.write_all(&resp).unwrap();
            }
        });
        (url, h)
    }

    /// `openssl ts -verify` of a token over `data` with `ca` as the CA file.
    fn openssl_verify(&self, token: &[u8], data: &[u8], ca: &Path, attime: Option<&str>) -> bool {
        let d = self.dir.path();
        std::fs::write(d.join("tok.der"), token).unwrap();
        std::fs::write(d.join("data.bin"), data).unwrap();
        let ca = ca.to_str().unwrap();
        let mut args = vec![
            "ts",
            "-verify",
            "-data",
            "data.bin",
            "-in",
            "tok.der",
            "-token_in",
            "-CAfile",
            ca,
        ];
        if let Some(t) = attime {
            args.extend(["-attime", t]);
        }
        run(d, None, &args).status.success()
    }
}

/// Obtains a token over BODY from `tsa` through the loopback server and `client::post`.
fn obtain(tsa: std::sync::Arc<Tsa>) -> Vec<u8> {
    let (url, h) = tsa.serve(1);
    let req = TimestampRequest::new(BODY).unwrap();
    let resp = client::post(&url, req.to_der(), Duration::from_secs(30)).unwrap();
    h.join().unwrap();
    let received = check_response(&resp, &req).unwrap();
    received.to_der().to_vec()
}

#[test]
fn rsa_token_over_http_verifies_here_and_with_openssl_and_binds_data_and_roots() {
    let tsa = std::sync::Arc::new(Tsa::new(Key::Rsa, None, None, 365, false));
    let token = obtain(tsa.clone());
    let v = verify_token(&token, BODY, &tsa.roots()).unwrap();
    let now = jiff::Timestamp::now();
    assert!((now - v.gen_time()).get_seconds().abs() < 3600);
    assert_eq!(v.signer(), "CN=Test TSA");
    assert_eq!(v.path(), ["CN=Test TSA", "CN=Test TSA Root"]);
    assert_eq!(v.policy(), "1.2.3.4.1");
    assert_eq!(
        v.upper_bound(),
        v.gen_time() + jiff::SignedDuration::from_millis(1500)
    );
    assert!(tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), None));

    // A token for other data is refused, by both.
    let other = b"example.org/practice\n43\nq83vEjRWeJA0VniQq83vEjRWeJA0VniQq83vEjRWeJA=\n";
    assert!(matches!(
        verify_token(&token, other, &tsa.roots()),
        Err(TimestampError::ImprintMismatch)
    ));
    assert!(!tsa.openssl_verify(&token, other, &tsa.path("ca.pem"), None));

    // An untrusted chain (another CA, even one with the same name) is refused, by both.
    let stranger = Tsa::new(Key::Rsa, None, None, 365, false);
    assert!(matches!(
        verify_token(&token, BODY, &stranger.roots()),
        Err(TimestampError::Untrusted { .. })
    ));
    assert!(!tsa.openssl_verify(&token, BODY, &stranger.path("ca.pem"), None));
    // Neither is the TSA's own (non-CA) certificate as a root accepted as proof of a chain
    // it is not on; trusting the TSA certificate itself directly is the relying party's call.
    let tsa_cert = TrustedRoots::from_pem(&std::fs::read(tsa.path("tsa.pem")).unwrap()).unwrap();
    assert!(verify_token(&token, BODY, &tsa_cert).is_ok());

    // Tampered stored bytes: every single-byte change in the TSTInfo or the signature
    // region is refused (sampled: one byte in every 16).
    for i in (0..token.len()).step_by(16) {
        let mut t = token.clone();
        t[i] ^= 0x01;
        if let Ok(v2) = verify_token(&t, BODY, &tsa.roots()) {
            // A change that still verifies can only be in unsigned, unused bytes; none exist
            // in this token but certificate-set bytes re-encoded identically would. Flag it.
            panic!("byte {i} changed and still verified: {v2:?}");
        }
    }
}

#[test]
fn p256_tsa_with_ess_cert_id_v2_verifies_here_and_with_openssl() {
    let tsa = std::sync::Arc::new(Tsa::new(Key::P256, None, None, 365, true));
    let token = obtain(tsa.clone());
    let v = verify_token(&token, BODY, &tsa.roots()).unwrap();
    assert_eq!(v.signer(), "CN=Test TSA");
    assert!(tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), None));
}

#[test]
fn a_response_to_another_request_is_refused() {
    let tsa = Tsa::new(Key::Rsa, None, None, 365, false);
    let req = TimestampRequest::with_nonce(BODY, [1; 8]).unwrap();
    let resp = tsa.reply(req.to_der());
    assert!(check_response(&resp, &req).is_ok());
    let same_data_other_nonce = TimestampRequest::with_nonce(BODY, [2; 8]).unwrap();
    assert!(matches!(
        check_response(&resp, &same_data_other_nonce),
        Err(TimestampError::NonceMismatch)
    ));
    let other_data = TimestampRequest::with_nonce(b"x\n1\nAA==\n", [1; 8]).unwrap();
    assert!(matches!(
        check_response(&resp, &other_data),
        Err(TimestampError::ImprintMismatch)
    ));
    assert!(check_response(b"\x30\x00", &req).is_err());
    assert!(check_response(b"", &req).is_err());
}

#[test]
fn a_token_whose_tsa_certificate_has_since_expired_validates_as_of_gen_time() {
    // CA from 2019 for 20 years; TSA certificate valid 2020-01-01 for 366 days; the token
    // is made on 2020-06-01. Today the TSA certificate has long expired.
    let mut tsa = Tsa::new(
        Key::Rsa,
        Some("2019-12-01 00:00:00"),
        Some("2020-01-01 00:00:00"),
        366,
        false,
    );
    tsa.clock = Some("2020-06-01 12:00:00".into());
    let req = TimestampRequest::new(BODY).unwrap();
    let resp = tsa.reply(req.to_der());
    let token = check_response(&resp, &req).unwrap().to_der().to_vec();
    let v = verify_token(&token, BODY, &tsa.roots()).unwrap();
    assert_eq!(v.gen_time().to_string()[..10], *"2020-06-01");
    // openssl judges validity now by default (expired), and as of a given time on request.
    assert!(!tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), None));
    let at = v.gen_time().as_second().to_string();
    assert!(tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), Some(&at)));

    // A token dated after the certificate expired is refused: validity is judged at genTime.
    tsa.clock = Some("2021-06-01 12:00:00".into());
    let req = TimestampRequest::new(BODY).unwrap();
    let out = {
        let d = tsa.dir.path();
        std::fs::write(d.join("late.tsq"), req.to_der()).unwrap();
        run(
            d,
            tsa.clock.as_deref(),
            &[
                "ts",
                "-reply",
                "-config",
                "ts.cnf",
                "-queryfile",
                "late.tsq",
                "-out",
                "late.tsr",
            ],
        )
    };
    // openssl (3.0) signs with an expired certificate; this verifier refuses the result.
    assert!(out.status.success());
    let resp = std::fs::read(tsa.path("late.tsr")).unwrap();
    let late = check_response(&resp, &req);
    assert!(
        matches!(late, Err(TimestampError::NotValidAtGenTime { .. })),
        "{late:?}"
    );
    let late_token = x509_tsp::TimeStampResp::from_der(&resp)
        .unwrap()
        .time_stamp_token
        .unwrap()
        .to_der()
        .unwrap();
    assert!(matches!(
        verify_token(&late_token, BODY, &tsa.roots()),
        Err(TimestampError::NotValidAtGenTime { .. })
    ));
}

#[test]
fn roots_file_must_hold_certificates() {
    assert!(matches!(
        TrustedRoots::from_pem(b"not pem"),
        Err(TimestampError::Roots(_))
    ));
    assert!(TrustedRoots::from_pem(b"").is_err());
}

#[test]
fn client_refuses_https_and_reports_a_closed_port() {
    assert!(matches!(
        client::post("https://127.0.0.1:1/", b"x", Duration::from_secs(5)),
        Err(TimestampError::Http { .. })
    ));
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // The listener is dropped: nothing answers there.
    let r = client::post(
        &format!("http://127.0.0.1:{port}/"),
        b"x",
        Duration::from_secs(5),
    );
    assert!(matches!(r, Err(TimestampError::Http { .. })), "{r:?}");
}
