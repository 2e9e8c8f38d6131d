//! The client side of `add-checkpoint`: what a ledger does to get a witness's cosignature
//! on its newest seal.
//!
//! [`submit`] sends the checkpoint with a consistency proof from the size it believes the
//! witness holds; on `409 Conflict` it resends with a proof from the size the witness
//! returned (at most [`Policy::max_conflicts`] times); `404`, `403`, `422` and `400` are
//! final (no retry); a witness that cannot be reached, times out or answers `5xx` is
//! retried [`Policy::attempts`] times in all, with doubling backoff. Every loop is bounded
//! in count, and every request in time ([`Http::new`]). The transport is a trait, so the
//! logic is tested without sockets and used over HTTP by [`Http`].

use crate::protocol::{
    encode_origin, parse_conflict, parse_cosignatures, AddCheckpoint, ReplyError,
    ADD_CHECKPOINT_PATH, LATEST_CHECKPOINT_PATH, MAX_RESPONSE_BYTES,
};
use caseledger_core::checkpoint::{Checkpoint, CosignatureVerifier};
use caseledger_core::merkle::Hash;
use std::sync::Arc;
use std::time::Duration;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

/// An HTTP answer: status, `Content-Type`, body (at most [`MAX_RESPONSE_BYTES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpReply {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// The body.
    pub body: Vec<u8>,
}

/// How requests reach a witness.
pub trait Transport {
    /// POSTs `body` to `url`. `Err` when no HTTP answer came (refused, timed out, reset):
    /// the message says why, in one line.
    fn post(&self, url: &str, body: &[u8]) -> Result<HttpReply, String>;
    /// GETs `url`.
    fn get(&self, url: &str) -> Result<HttpReply, String>;
}

/// The only roots an `https://` witness's certificate may chain to, instead of the built-in
/// Mozilla list (webpki-roots): for a witness behind a private CA. At least one certificate.
#[derive(Debug, Clone)]
pub struct TlsRoots(Arc<Vec<Certificate<'static>>>);

/// Why a TLS roots file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsRootsError {
    /// A PEM block does not parse.
    #[error("TLS roots: {0}")]
    Pem(String),
    /// No `CERTIFICATE` block.
    #[error("TLS roots: no CERTIFICATE block in the PEM file")]
    Empty,
}

impl TlsRoots {
    /// Reads the `CERTIFICATE` blocks of a PEM file (other blocks are skipped).
    pub fn from_pem(pem: &[u8]) -> Result<TlsRoots, TlsRootsError> {
        let mut certs = Vec::new();
        for item in ureq::tls::parse_pem(pem) {
            if let PemItem::Certificate(c) =
                item.map_err(|e| TlsRootsError::Pem(one_line(&e.to_string())))?
            {
                certs.push(c);
            }
        }
        if certs.is_empty() {
            return Err(TlsRootsError::Empty);
        }
        Ok(TlsRoots(Arc::new(certs)))
    }
}

/// HTTP or HTTPS with ureq (rustls): one overall timeout per request, no redirects.
#[derive(Debug, Clone)]
pub struct Http {
    agent: ureq::Agent,
}

impl Http {
    /// A client whose every request (connect, send, answer) ends within `timeout`;
    /// `https://` witnesses must chain to Mozilla's root list.
    pub fn new(timeout: Duration) -> Http {
        Http::with_roots(timeout, None)
    }

    /// As [`Http::new`], but `https://` witnesses must chain to `roots` when given.
    pub fn with_roots(timeout: Duration, roots: Option<&TlsRoots>) -> Http {
        let root_certs = roots.map_or(RootCerts::WebPki, |r| RootCerts::Specific(r.0.clone()));
        let agent = ureq::Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(root_certs).build())
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .max_redirects(0)
            .build()
            .new_agent();
        Http { agent }
    }

    /// The configured agent (the monitor's GETs send a bearer token: not a [`Transport`]).
    pub(crate) fn agent(&self) -> ureq::Agent {
        self.agent.clone()
    }
}

fn read(resp: ureq::http::Response<ureq::Body>) -> Result<HttpReply, String> {
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = resp
        .into_body()
        .into_with_config()
        .limit(u64::try_from(MAX_RESPONSE_BYTES).unwrap_or(u64::MAX))
        .read_to_vec()
        .map_err(|e| one_line(&e.to_string()))?;
    Ok(HttpReply {
        status,
        content_type,
        body,
    })
}

/// A failed request in plain words ("connection refused"), without the OS's error number
/// or the library's "io:" prefix: it is shown to whoever runs `witness sync` or `status`.
pub(crate) fn transport_why(e: &ureq::Error) -> String {
    use std::io::ErrorKind as K;
    match e {
        ureq::Error::Io(io) => match io.kind() {
            K::ConnectionRefused => "connection refused".to_owned(),
            K::ConnectionReset => "connection reset".to_owned(),
            K::ConnectionAborted => "connection aborted".to_owned(),
            K::TimedOut => "timed out".to_owned(),
            K::UnexpectedEof => "the connection closed before an answer".to_owned(),
            _ => without_os_error(&one_line(&io.to_string())),
        },
        other => without_os_error(&one_line(&other.to_string())),
    }
}

/// `s` without a trailing " (os error N)".
fn without_os_error(s: &str) -> String {
    match s.find(" (os error ") {
        Some(i) => s[..i].to_owned(),
        None => s.to_owned(),
    }
}

/// `n` and the noun in the right number ("1 attempt", "3 attempts").
fn count(n: u32, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

impl Transport for Http {
    fn post(&self, url: &str, body: &[u8]) -> Result<HttpReply, String> {
        let resp = self
            .agent
            .post(url)
            .header("content-type", "text/plain; charset=utf-8")
            .send(body)
            .map_err(|e| transport_why(&e))?;
        read(resp)
    }

    fn get(&self, url: &str) -> Result<HttpReply, String> {
        let resp = self.agent.get(url).call().map_err(|e| transport_why(&e))?;
        read(resp)
    }
}

/// A witness as a ledger knows it: where it is and the key its cosignatures must verify with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The URL prefix (`https://witness.example/prefix`, no trailing slash needed).
    pub url: String,
    /// Its cosignature/v1 key.
    pub key: CosignatureVerifier,
}

impl Endpoint {
    fn at(&self, path: &str) -> String {
        format!("{}{path}", self.url.trim_end_matches('/'))
    }
}

/// Retry bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Requests in all when the witness cannot be reached or answers `5xx` (at least 1).
    pub attempts: u32,
    /// The wait before the first retry; it doubles each time.
    pub backoff: Duration,
    /// How many `409 Conflict` answers are followed by a resend.
    pub max_conflicts: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            attempts: 3,
            backoff: Duration::from_millis(250),
            max_conflicts: 2,
        }
    }
}

/// A cosignature a witness returned, verified with its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    /// The signature line (ending in a newline).
    pub line: String,
    /// The witness's timestamp (seconds since the epoch).
    pub timestamp: u64,
    /// The old size the accepted request named: the size the witness held before.
    pub from_size: u64,
}

/// Why no cosignature was obtained.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    /// No answer after every attempt (down, refused, timed out), or only `5xx`.
    #[error("unreachable after {}: {last}", count(*attempts, "attempt", "attempts"))]
    Unreachable {
        /// Requests made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// `404`: the witness does not know this log's origin.
    #[error(
        "the witness does not know this log (404): add the ledger's verifier key to its log list"
    )]
    UnknownLog,
    /// `403`: the witness holds another key for this origin.
    #[error("the witness refused the checkpoint's signature (403): it trusts another key for this origin")]
    Forbidden,
    /// `422`: the witness refused the consistency proof.
    #[error("the witness refused the consistency proof from size {from} (422)")]
    BadProof {
        /// The old size of the proof.
        from: u64,
    },
    /// `400`: the witness found the request malformed.
    #[error("the witness refused the request as malformed (400): {0}")]
    BadRequest(String),
    /// Another status.
    #[error("unexpected answer {status}: {why}")]
    Status {
        /// The status.
        status: u16,
        /// The body's first line.
        why: String,
    },
    /// `409` at the checkpoint's own size: the witness cosigned another root for it.
    #[error("the witness holds a different checkpoint of size {size}: the log forked (split view or rewritten history)")]
    Fork {
        /// The size.
        size: u64,
    },
    /// `409` naming a size beyond this checkpoint: the witness cosigned a larger tree.
    #[error("the witness has cosigned size {witness}, beyond this checkpoint's size {size}: the log was rolled back, or another copy of it grew")]
    Ahead {
        /// The witness's size.
        witness: u64,
        /// This checkpoint's size.
        size: u64,
    },
    /// Still `409` after [`Policy::max_conflicts`] resends.
    #[error("still 409 Conflict after {}", count(*.0, "resend", "resends"))]
    TooManyConflicts(u32),
    /// An answer that does not follow the protocol.
    #[error("answer does not follow the protocol: {0}")]
    Protocol(#[from] ReplyError),
    /// No returned line verifies with the witness's configured key.
    #[error("no cosignature in the answer verifies with the configured witness key")]
    NoValidCosignature,
    /// The ledger could not prove consistency from the witness's size.
    #[error("no consistency proof from size {from}: {why}")]
    Proof {
        /// The old size.
        from: u64,
        /// Why.
        why: String,
    },
}

/// One line, at most 200 characters, no control characters: safe to print whatever a
/// remote party sent.
pub(crate) fn one_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(200)
        .collect()
}

fn post_with_retries(
    t: &dyn Transport,
    url: &str,
    body: &[u8],
    policy: &Policy,
) -> Result<HttpReply, SubmitError> {
    let attempts = policy.attempts.max(1);
    let mut wait = policy.backoff;
    let mut last = String::new();
    for n in 1..=attempts {
        match t.post(url, body) {
            Ok(r) if r.status < 500 => return Ok(r),
            Ok(r) => {
                last = format!(
                    "{} {}",
                    r.status,
                    one_line(&String::from_utf8_lossy(&r.body))
                )
            }
            Err(e) => last = e,
        }
        if n < attempts {
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
    }
    Err(SubmitError::Unreachable { attempts, last })
}

/// Asks `witness` to cosign `note` (the signed `checkpoint`), starting from `old`: the size
/// the ledger believes the witness holds (0 when it never cosigned). `proof(from, to)` gives
/// the consistency proof between two sizes. Returns the verified cosignature.
pub fn submit(
    transport: &dyn Transport,
    witness: &Endpoint,
    note: &str,
    checkpoint: &Checkpoint,
    mut old: u64,
    proof: &mut dyn FnMut(u64, u64) -> Result<Vec<Hash>, String>,
    policy: &Policy,
) -> Result<Cosignature, SubmitError> {
    let size = checkpoint.size;
    let url = witness.at(ADD_CHECKPOINT_PATH);
    let mut conflicts = 0;
    loop {
        if old > size {
            return Err(SubmitError::Ahead { witness: old, size });
        }
        let hashes = if old == 0 || old == size {
            Vec::new()
        } else {
            proof(old, size).map_err(|why| SubmitError::Proof { from: old, why })?
        };
        let body = AddCheckpoint {
            old,
            proof: hashes,
            note: note.to_owned(),
        }
        .to_body();
        let r = post_with_retries(transport, &url, body.as_bytes(), policy)?;
        let why = || one_line(&String::from_utf8_lossy(&r.body));
        match r.status {
            200 => {
                let lines = parse_cosignatures(note, &r.body)?;
                // Lines from other keys are ignored, as the spec says.
                return lines
                    .iter()
                    .find_map(|l| {
                        witness
                            .key
                            .verify_line(checkpoint, l)
                            .ok()
                            .map(|ts| Cosignature {
                                line: l.clone(),
                                timestamp: ts,
                                from_size: old,
                            })
                    })
                    .ok_or(SubmitError::NoValidCosignature);
            }
            409 => {
                let held = parse_conflict(r.content_type.as_deref(), &r.body)?;
                if held == old {
                    // The old size was right, so the conflict is the root at this size.
                    return Err(SubmitError::Fork { size: held });
                }
                if held > size {
                    return Err(SubmitError::Ahead {
                        witness: held,
                        size,
                    });
                }
                if conflicts == policy.max_conflicts {
                    return Err(SubmitError::TooManyConflicts(conflicts));
                }
                conflicts += 1;
                old = held;
            }
            404 => return Err(SubmitError::UnknownLog),
            403 => return Err(SubmitError::Forbidden),
            422 => return Err(SubmitError::BadProof { from: old }),
            400 => return Err(SubmitError::BadRequest(why())),
            status => return Err(SubmitError::Status { status, why: why() }),
        }
    }
}

/// Fetches the checkpoint the witness last cosigned for `origin` (this project's extension,
/// `GET <prefix>/latest-checkpoint/<origin>`): `None` when it holds none.
pub fn latest_checkpoint(
    transport: &dyn Transport,
    witness: &Endpoint,
    origin: &str,
) -> Result<Option<String>, SubmitError> {
    let url = witness.at(&format!(
        "{LATEST_CHECKPOINT_PATH}{}",
        encode_origin(origin)
    ));
    let r = transport
        .get(&url)
        .map_err(|last| SubmitError::Unreachable { attempts: 1, last })?;
    match r.status {
        200 => String::from_utf8(r.body)
            .map(Some)
            .map_err(|_| SubmitError::Protocol(ReplyError::BadSignatureLines)),
        404 => Ok(None),
        status => Err(SubmitError::Status {
            status,
            why: one_line(&String::from_utf8_lossy(&r.body)),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    /// Answers scripted in order; records each request.
    struct Script {
        answers: RefCell<Vec<Result<HttpReply, String>>>,
        sent: RefCell<Vec<String>>,
    }

    impl Transport for Script {
        fn post(&self, _url: &str, body: &[u8]) -> Result<HttpReply, String> {
            self.sent
                .borrow_mut()
                .push(String::from_utf8_lossy(body).into_owned());
            let mut a = self.answers.borrow_mut();
            if a.is_empty() {
                return Err("no more answers".into());
            }
            a.remove(0)
        }
        fn get(&self, url: &str) -> Result<HttpReply, String> {
            self.post(url, b"")
        }
    }

    fn reply(status: u16, ct: &str, body: &str) -> Result<HttpReply, String> {
        Ok(HttpReply {
            status,
            content_type: Some(ct.to_owned()),
            body: body.as_bytes().to_vec(),
        })
    }

    fn script(answers: Vec<Result<HttpReply, String>>) -> Script {
        Script {
            answers: RefCell::new(answers),
            sent: RefCell::new(Vec::new()),
        }
    }

    fn fixture() -> (Endpoint, Checkpoint, String, String) {
        use caseledger_core::checkpoint::{cosign, sign_checkpoint};
        use caseledger_core::keys::SigningKey;
        use caseledger_core::note::NoteSigner;
        let log = NoteSigner::new("example.org/l", SigningKey::from_seed(&[1; 32])).unwrap();
        let cp = Checkpoint::new("example.org/l", 9, Hash([3; 32])).unwrap();
        let note = sign_checkpoint(&cp, &log);
        let wk = SigningKey::from_seed(&[2; 32]);
        let line = cosign(&cp, "w.example", &wk, 1_700_000_000).unwrap();
        let ep = Endpoint {
            url: "http://127.0.0.1:1/".into(),
            key: CosignatureVerifier::new("w.example", wk.public_key()).unwrap(),
        };
        (ep, cp, note, line)
    }

    const FAST: Policy = Policy {
        attempts: 3,
        backoff: Duration::from_millis(1),
        max_conflicts: 2,
    };

    fn proofs() -> impl FnMut(u64, u64) -> Result<Vec<Hash>, String> {
        |from, _| Ok(vec![Hash([u8::try_from(from).unwrap(); 32])])
    }

    #[test]
    fn a_conflict_is_resent_from_the_witness_size() {
        let (ep, cp, note, line) = fixture();
        let t = script(vec![
            reply(409, "text/x.tlog.size", "4\n"),
            reply(200, "text/plain", &line),
        ]);
        let c = submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST).unwrap();
        assert_eq!((c.line, c.timestamp, c.from_size), (line, 1_700_000_000, 4));
        let sent = t.sent.borrow();
        assert!(
            sent[0].starts_with("old 0\n\nexample.org/l\n9\n"),
            "{}",
            sent[0]
        );
        assert!(
            sent[1].starts_with(&format!("old 4\n{}\n\n", Hash([4; 32]))),
            "{}",
            sent[1]
        );
    }

    #[test]
    fn final_answers_are_not_retried() {
        let (ep, cp, note, _) = fixture();
        for (status, want) in [
            (404, SubmitError::UnknownLog),
            (403, SubmitError::Forbidden),
            (422, SubmitError::BadProof { from: 3 }),
            (400, SubmitError::BadRequest("bad".into())),
        ] {
            let t = script(vec![reply(status, "text/plain", "bad\n")]);
            assert_eq!(
                submit(&t, &ep, &note, &cp, 3, &mut proofs(), &FAST),
                Err(want)
            );
            assert_eq!(t.sent.borrow().len(), 1);
        }
    }

    #[test]
    fn forks_rollbacks_and_endless_conflicts_stop() {
        let (ep, cp, note, _) = fixture();
        let t = script(vec![reply(409, "text/x.tlog.size", "9\n")]);
        assert_eq!(
            submit(&t, &ep, &note, &cp, 9, &mut proofs(), &FAST),
            Err(SubmitError::Fork { size: 9 })
        );
        let t = script(vec![reply(409, "text/x.tlog.size", "12\n")]);
        assert_eq!(
            submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST),
            Err(SubmitError::Ahead {
                witness: 12,
                size: 9
            })
        );
        let t = script(vec![
            reply(409, "text/x.tlog.size", "1\n"),
            reply(409, "text/x.tlog.size", "2\n"),
            reply(409, "text/x.tlog.size", "3\n"),
            reply(409, "text/x.tlog.size", "4\n"),
        ]);
        assert_eq!(
            submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST),
            Err(SubmitError::TooManyConflicts(2))
        );
        assert_eq!(t.sent.borrow().len(), 3);
        let t = script(vec![reply(409, "text/plain", "1\n")]);
        assert_eq!(
            submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST),
            Err(SubmitError::Protocol(ReplyError::BadContentType))
        );
    }

    #[test]
    fn down_witnesses_are_retried_a_bounded_number_of_times() {
        let (ep, cp, note, line) = fixture();
        let t = script(vec![
            Err("connection refused".into()),
            reply(503, "text/plain", "busy\n"),
            reply(200, "text/plain", &line),
        ]);
        assert!(submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST).is_ok());
        let t = script(vec![]);
        let e = submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST).unwrap_err();
        assert_eq!(
            e,
            SubmitError::Unreachable {
                attempts: 3,
                last: "no more answers".into()
            }
        );
        assert_eq!(t.sent.borrow().len(), 3);
    }

    #[test]
    fn cosignatures_must_verify_with_the_configured_key() {
        let (ep, cp, note, _) = fixture();
        use caseledger_core::keys::SigningKey;
        let other = caseledger_core::checkpoint::cosign(
            &cp,
            "w.example",
            &SigningKey::from_seed(&[5; 32]),
            1,
        )
        .unwrap();
        let t = script(vec![reply(200, "text/plain", &other)]);
        assert_eq!(
            submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST),
            Err(SubmitError::NoValidCosignature)
        );
        let t = script(vec![reply(200, "text/plain", "not lines")]);
        assert!(matches!(
            submit(&t, &ep, &note, &cp, 0, &mut proofs(), &FAST),
            Err(SubmitError::Protocol(_))
        ));
    }

    #[test]
    fn remote_text_is_one_short_line() {
        let s = one_line(&format!("a\u{7}b\nsecond{}", "x".repeat(500)));
        assert_eq!(s, "ab");
        assert_eq!(one_line(&"y".repeat(500)).len(), 200);
    }
}
