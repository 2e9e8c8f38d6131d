//! `caseledger serve` and `caseledger witness serve` as child processes on loopback, a
//! plain HTTP/1.1 client written on `TcpStream` (so that a test can send malformed, slow or
//! oversized requests exactly as it wants, and sees every failure as an `io::Error` instead
//! of a panic), and the peak memory of a process. For the server campaigns of
//! `tests/reliability` (issue 17); `tests/e2e/serve.rs` keeps its own few lines.

use crate::cli::caseledger_bin;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A server child process (killed on drop) and the address it printed.
pub struct ServerProc {
    /// The child.
    pub child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// The witness's verifier key line (`witness serve` only).
    pub key: Option<String>,
}

impl ServerProc {
    /// `caseledger serve --config CONFIG` in `cwd`, its log appended to `log`; waits for
    /// the `listening on http://ADDR` line.
    pub fn serve(cwd: &Path, config: &str, log: &Path) -> ServerProc {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("server log");
        let mut child = Command::new(caseledger_bin())
            .args(["serve", "--config", config])
            .current_dir(cwd)
            .env_remove("CASELEDGER_KEYS")
            .env_remove("CASELEDGER_PASSPHRASE_FILE")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("caseledger serve starts");
        let mut line = String::new();
        let _ = BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line);
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| {
                let _ = child.kill();
                panic!("caseledger serve printed no address line: {line:?}")
            })
            .to_owned();
        ServerProc {
            child,
            addr,
            key: None,
        }
    }

    /// `caseledger witness serve` in `cwd` named `name`, with key file `key` (made with
    /// `keys generate` if missing), the log keys in `logs`, its state in `state`; waits for
    /// its URL and key lines.
    pub fn witness(cwd: &Path, name: &str, key: &str, logs: &str, state: &str) -> ServerProc {
        if !cwd.join(key).exists() {
            crate::cli::ok(&crate::cli::run_in(
                cwd,
                &["keys", "generate", "--out", key],
            ));
        }
        let mut child = Command::new(caseledger_bin())
            .args([
                "witness",
                "serve",
                "--addr",
                "127.0.0.1:0",
                "--key",
                key,
                "--logs",
                logs,
                "--state",
                state,
                "--name",
                name,
            ])
            .current_dir(cwd)
            .env("XDG_CONFIG_HOME", cwd.join(".config"))
            .env_remove("CASELEDGER_KEYS")
            .env_remove("CASELEDGER_PASSPHRASE_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("witness serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines.next().and_then(Result::ok).unwrap_or_default();
        let key = lines.next().and_then(Result::ok).unwrap_or_default();
        let Some(addr) = url.strip_prefix("http://").map(str::to_owned) else {
            let _ = child.kill();
            panic!("witness serve printed no URL line: {url:?}");
        };
        ServerProc {
            child,
            addr,
            key: Some(key),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `kill -9`, then reaped.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM (the server finishes requests in flight), then its exit code.
    pub fn stop(mut self) -> Option<i32> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().ok().and_then(|s| s.code())
    }

    /// Whether it is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body (lossy UTF-8).
    pub body: String,
}

impl Answer {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` when it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The error kind of a JSON error answer (empty when none).
    pub fn kind(&self) -> String {
        self.json()["error"]["kind"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// One request on its own connection (`Connection: close`), `path` sent as given; every
/// failure (refused, reset, timeout, no status line) is an error. `timeout` bounds each
/// read and write.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    timeout: Duration,
) -> std::io::Result<Answer> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(t) = token {
        head.push_str(&format!("Authorization: Bearer {t}\r\n"));
    }
    if let Some(b) = body {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    if let Some(b) = body {
        // The server may answer (413) before reading it all: a failed write is not the end.
        let _ = s.write_all(b);
    }
    read_answer(&mut s)
}

/// Reads an answer until the server closes the connection.
pub fn read_answer(s: &mut impl Read) -> std::io::Result<Answer> {
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    parse_answer(&raw)
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "no HTTP answer"))
}

/// Parses `HTTP/1.1 STATUS …\r\nheaders\r\n\r\nbody`.
pub fn parse_answer(raw: &[u8]) -> Option<Answer> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_owned(),
    })
}

/// A process's peak resident memory (`VmHWM` of `/proc/PID/status`), in KiB.
pub fn vm_hwm_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmHWM:")
}

/// A process's resident memory now (`VmRSS`), in KiB.
pub fn vm_rss_kib(pid: u32) -> Option<u64> {
    proc_status_kib(pid, "VmRSS:")
}

fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse().ok())
}

/// Open file descriptors of a process (entries of `/proc/PID/fd`).
pub fn open_fds(pid: u32) -> Option<usize> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()
        .map(Iterator::count)
}

/// A progress note as a record system posts it pre-signed (docs/FORMAT.md §3, "Pre-signed
/// events"): signed now by `key` as `author` under [`crate::ORIGIN`], with a fresh nonce
/// and salt; with client event id `id` when given. The same value posted again is the same
/// request (a retry); another call makes another signature, so another request.
pub fn presigned_note(
    key: &caseledger_core::keys::SigningKey,
    author: &str,
    id: Option<&str>,
    record: &str,
    payload: &str,
) -> serde_json::Value {
    use base64::Engine;
    use caseledger_core::event::{AuthorSignature, Event, EventKind, Payload};
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let p = Payload::new(payload.as_bytes().to_vec());
    let ev = Event {
        record: Some(caseledger_core::RecordId::new(record).expect("a record id")),
        author: caseledger_core::ActorId::new(author).expect("an actor id"),
        kind: EventKind::ProgressNote,
        occurred_on: "2025-05-03".parse().expect("a date"),
        signed_at: caseledger_core::Timestamp::now(),
        commitment: Some(p.commitment()),
        nonce: caseledger_core::ids::Nonce::random(),
    };
    let signed = ev.sign(crate::ORIGIN, key).expect("signed");
    let AuthorSignature::Ed25519(sig) = signed.signature else {
        panic!("an Ed25519 signature")
    };
    serde_json::json!({
        "id": id, "record": record, "kind": "progress_note", "occurred_on": "2025-05-03",
        "author": author, "payload": payload,
        "signed_at": signed.event.signed_at.to_string(),
        "nonce": hex(&signed.event.nonce.0),
        "salt": hex(p.salt()),
        "signature": base64::engine::general_purpose::STANDARD.encode(sig.0),
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_answer_parses_and_a_torn_one_does_not() {
        let a = super::parse_answer(
            b"HTTP/1.1 507 Insufficient Storage\r\nRetry-After: 1\r\n\r\n{\"error\":{\"kind\":\"storage_full\"}}",
        )
        .unwrap();
        assert_eq!(a.status, 507);
        assert_eq!(a.header("retry-after"), Some("1"));
        assert_eq!(a.kind(), "storage_full");
        assert!(super::parse_answer(b"HTTP/1.1 200 OK\r\nContent-Le").is_none());
    }

    #[test]
    fn this_process_has_a_peak_memory() {
        let pid = std::process::id();
        assert!(super::vm_hwm_kib(pid).is_some_and(|k| k > 0));
        assert!(super::vm_rss_kib(pid).is_some_and(|k| k > 0));
        assert!(super::open_fds(pid).is_some_and(|n| n >= 3));
    }
}
