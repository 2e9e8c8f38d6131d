//! A test time-stamp authority: a CA and a TSA certificate it issued (critical
//! `id-kp-timeStamping`), generated with `openssl` into a tempdir, `openssl ts -reply` as the
//! TSA, behind a loopback HTTP server ([`TestTsa::serve`]), and `openssl ts -verify` as the
//! independent verifier. Certificates and replies can be made under a faked clock
//! (`faketime`), for a TSA certificate that has since expired. Needs `openssl` and
//! `faketime` (.ci/run installs both). Loopback only; every loop is bounded.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Runs `openssl ARGS` in `dir`, under `faketime SPEC` when `fake` is given.
pub fn openssl(dir: &Path, fake: Option<&str>, args: &[&str]) -> Output {
    let mut cmd = match fake {
        Some(t) => {
            let mut c = Command::new("faketime");
            c.arg(t).arg("openssl");
            c
        }
        None => Command::new("openssl"),
    };
    cmd.args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl")
}

/// [`openssl`], asserting success.
#[track_caller]
pub fn openssl_ok(dir: &Path, fake: Option<&str>, args: &[&str]) {
    let out = openssl(dir, fake, args);
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The TSA's key type.
#[derive(Clone, Copy, Debug)]
pub enum TsaKey {
    /// RSA 2048, PKCS#1 v1.5 signatures.
    Rsa,
    /// ECDSA P-256.
    P256,
}

/// How the test TSA is made.
#[derive(Clone, Debug)]
pub struct TsaOptions {
    /// Key type (CA and TSA).
    pub key: TsaKey,
    /// faketime spec at which the CA (20 years) is made; `None`: now.
    pub ca_at: Option<String>,
    /// faketime spec at which the TSA certificate is issued; `None`: now.
    pub tsa_at: Option<String>,
    /// The TSA certificate's lifetime in days.
    pub tsa_days: u32,
    /// ESSCertIDv2 (SHA-256) instead of ESSCertID (SHA-1).
    pub ess_v2: bool,
}

impl Default for TsaOptions {
    fn default() -> TsaOptions {
        TsaOptions {
            key: TsaKey::Rsa,
            ca_at: None,
            tsa_at: None,
            tsa_days: 365,
            ess_v2: false,
        }
    }
}

/// A test TSA in a tempdir: `ca.pem` (the root to trust), `tsa.pem`, `ts.cnf`.
pub struct TestTsa {
    dir: tempfile::TempDir,
    /// faketime spec for `openssl ts -reply` (the TSA's clock); `None`: now.
    pub clock: Option<String>,
}

impl TestTsa {
    /// Generates the CA, the TSA certificate and the `openssl ts` configuration.
    pub fn new(o: &TsaOptions) -> TestTsa {
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        if matches!(o.key, TsaKey::P256) {
            openssl_ok(
                d,
                None,
                &["ecparam", "-name", "prime256v1", "-out", "ec.param"],
            );
        }
        let keyarg = match o.key {
            TsaKey::Rsa => "rsa:2048",
            TsaKey::P256 => "ec:ec.param",
        };
        #[rustfmt::skip]
        openssl_ok(d, o.ca_at.as_deref(), &[
            "req", "-x509", "-newkey", keyarg, "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
            "-subj", "/CN=Test TSA Root", "-days", "7300",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ]);
        #[rustfmt::skip]
        openssl_ok(d, None, &[
            "req", "-newkey", keyarg, "-nodes", "-keyout", "tsa.key", "-out", "tsa.csr",
            "-subj", "/CN=Test TSA",
        ]);
        std::fs::write(
            d.join("ext.cnf"),
            "[tsa_ext]\nbasicConstraints=CA:FALSE\n\
             keyUsage=critical,digitalSignature,nonRepudiation\n\
             extendedKeyUsage=critical,timeStamping\nsubjectKeyIdentifier=hash\n",
        )
        .expect("write ext.cnf");
        let days = o.tsa_days.to_string();
        #[rustfmt::skip]
        openssl_ok(d, o.tsa_at.as_deref(), &[
            "x509", "-req", "-in", "tsa.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "tsa.pem", "-days", &days,
            "-extfile", "ext.cnf", "-extensions", "tsa_ext", "-sha256",
        ]);
        std::fs::write(d.join("tsaserial"), "01\n").expect("write serial");
        // openssl ts configuration keys: openssl-ts(1), "CONFIGURATION FILE OPTIONS".
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
                ess = if o.ess_v2 { "sha256" } else { "sha1" },
            ),
        )
        .expect("write ts.cnf");
        TestTsa { dir, clock: None }
    }

    /// A file in the TSA's directory (`ca.pem`, `tsa.pem`, ...).
    pub fn path(&self, f: &str) -> PathBuf {
        self.dir.path().join(f)
    }

    /// `openssl ts -reply` to a DER query: the DER response.
    pub fn reply(&self, query: &[u8]) -> Vec<u8> {
        let d = self.dir.path();
        let q = tempfile::NamedTempFile::new_in(d).expect("query file");
        std::fs::write(q.path(), query).expect("write query");
        let r = tempfile::NamedTempFile::new_in(d).expect("reply file");
        let qp = q.path().to_str().expect("utf-8 path").to_owned();
        let rp = r.path().to_str().expect("utf-8 path").to_owned();
        #[rustfmt::skip]
        openssl_ok(d, self.clock.as_deref(), &[
            "ts", "-reply", "-config", "ts.cnf", "-queryfile", &qp, "-out", &rp,
        ]);
        std::fs::read(r.path()).expect("read reply")
    }

    /// Serves up to `n` requests on a loopback port with [`TestTsa::reply`] (415 for a
    /// request that is not `application/timestamp-query`); the thread gives up after 60 s.
    /// Returns the URL and the thread (join it to see a panic).
    pub fn serve(self: &Arc<Self>, n: usize) -> (String, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let url = format!("http://{}/tsa", listener.local_addr().expect("addr"));
        listener.set_nonblocking(true).expect("nonblocking");
        let me = Arc::clone(self);
        let h = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut served = 0;
            while served < n && Instant::now() < deadline {
                let stream = match listener.accept() {
                    Ok((s, _)) => s,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(10));
                        continue;
                    }
                    Err(e) => panic!("accept: {e}"),
                };
                served += 1;
                me.answer(stream);
            }
        });
        (url, h)
    }

    fn answer(&self, stream: std::net::TcpStream) {
        stream.set_nonblocking(false).expect("blocking");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let mut r = BufReader::new(stream);
        let (mut len, mut ctype) = (0usize, String::new());
        for _ in 0..100 {
            let mut line = String::new();
            if r.read_line(&mut line).expect("read header") == 0 || line == "\r\n" {
                break;
            }
            let l = line.to_ascii_lowercase();
            if let Some(v) = l.strip_prefix("content-length:") {
                len = v.trim().parse().expect("content-length");
            }
            if let Some(v) = l.strip_prefix("content-type:") {
                ctype = v.trim().to_owned();
            }
        }
        assert!(len < 10_000, "request too large");
        let mut body = vec![0; len];
        r.read_exact(&mut body).expect("read body");
        let mut s = r.into_inner();
        if ctype != "application/timestamp-query" {
            s.write_all(
                b"HTTP/1.1 415 Unsupported\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            )
            .expect("write");
            return;
        }
        let resp = self.reply(&body);
        write!(
            s,
            "HTTP/1.1 200 OK\r\nContent-Type: application/timestamp-reply\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n",
            resp.len()
        )
        .expect("write");
        s.write_all(&resp).expect("write");
    }

    /// `openssl ts -verify` of a DER token over `data`, trusting the CA file `ca`, with
    /// certificates judged at `attime` (Unix seconds) or now.
    pub fn openssl_verify(
        &self,
        token: &[u8],
        data: &[u8],
        ca: &Path,
        attime: Option<&str>,
    ) -> bool {
        let d = self.dir.path();
        let tok = tempfile::NamedTempFile::new_in(d).expect("token file");
        let dat = tempfile::NamedTempFile::new_in(d).expect("data file");
        std::fs::write(tok.path(), token).expect("write token");
        std::fs::write(dat.path(), data).expect("write data");
        let (tp, dp) = (
            tok.path().to_str().expect("utf-8"),
            dat.path().to_str().expect("utf-8"),
        );
        let ca = ca.to_str().expect("utf-8");
        let mut args = vec![
            "ts",
            "-verify",
            "-data",
            dp,
            "-in",
            tp,
            "-token_in",
            "-CAfile",
            ca,
        ];
        if let Some(t) = attime {
            args.extend(["-attime", t]);
        }
        openssl(d, None, &args).status.success()
    }
}
