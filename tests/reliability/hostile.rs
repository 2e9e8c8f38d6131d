//! Campaign 9 (issue 17): hostile clients against `caseledger serve` on loopback, in bounded
//! loops. Oversized bodies (declared and chunked), a body that never finishes, headers sent
//! a byte at a time (slowloris), 500 connections that send nothing, malformed JSON, bad
//! tile paths, missing, unknown, scope-less, expired and absurd tokens, path traversal in
//! ledger names, and one event replayed 200 times at once. The server must stay up, answer
//! each with a 4xx (or close a slow one within a bounded time), write nothing (the
//! ledger's size is unchanged and it verifies clean), answer every replay with the original
//! receipt, and keep its peak memory (`VmHWM`) within [`MEMORY_BOUND_MIB`] of what it was
//! before, its open file descriptors back to where they were.
//!
//! Deliberately broken variant: `CASELEDGER_BREAK=hostile-one-valid` slips one valid new
//! event in among the hostile requests (its answer not looked at): "writes nothing" must
//! catch it.

use crate::harness;
use crate::serve_faults::{entry_hash_at, event, post, receipt, site, size, verify_clean, LEDGER};
use caseledger_testkit::server::{self, open_fds, read_answer, vm_hwm_kib, Answer};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// How much the server's peak resident memory may grow over the whole campaign: what its
/// limits allow requests to hold at once, 256 connections (`max_connections`, the default)
/// each with at most a 256 KiB body (`max_body_bytes` here), 64 MiB. (sled's page cache is
/// bounded apart, by `ledger_cache_mib`, and the ledger is open before the first figure.)
const MEMORY_BOUND_MIB: u64 = 64;
/// The test server's header and request timeouts, in seconds.
const TIMEOUT: u64 = 2;
const T: Duration = Duration::from_secs(30);

fn connect(addr: &str) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(T)).expect("timeout");
    s.set_write_timeout(Some(T)).expect("timeout");
    s
}

/// Sends `head` then `body` raw and reads the answer.
fn raw(addr: &str, head: &str, body: &[u8]) -> Answer {
    let mut s = connect(addr);
    let _ = s
        .write_all(head.as_bytes())
        .and_then(|()| s.write_all(body));
    read_answer(&mut s).unwrap_or_else(|e| panic!("no answer to {head:?}: {e}"))
}

/// Asserts a 4xx JSON error (or any 4xx when hyper itself refused the request).
#[track_caller]
fn assert_4xx(what: &str, a: &Answer, tally: &mut BTreeMap<u16, u64>) {
    assert!(
        (400..500).contains(&a.status),
        "{what}: answered {} {}",
        a.status,
        a.body
    );
    assert!(
        !a.body.contains(caseledger_testkit::campaign::CANARY),
        "{what}: the answer quotes the payload"
    );
    *tally.entry(a.status).or_default() += 1;
}

/// Waits until the server closes `s` (read gives EOF or an error, after any answer);
/// returns how long it took, or None if it was still open after `limit`.
fn closed_within(s: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let t0 = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(200))).ok()?;
    let mut b = [0u8; 4096];
    while t0.elapsed() < limit {
        match s.read(&mut b) {
            Ok(0) => return Some(t0.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return Some(t0.elapsed()),
        }
    }
    None
}

#[test]
fn hostile_clients_get_4xx_write_nothing_and_keep_memory_bounded() {
    let rounds = harness::count(1, 4);
    let started = Instant::now();
    let s = site(
        None,
        1,
        &format!(
            "request_timeout_secs = {TIMEOUT}\nheader_read_timeout_secs = {TIMEOUT}\nidle_close_secs = 300"
        ),
    );
    let mut srv = s.serve();
    let (addr, pid, tok) = (srv.addr.clone(), srv.pid(), s.token.clone());
    let events = format!("/v1/ledgers/{LEDGER}/events");
    // The one legitimate event, replayed later.
    let legit = event("legit-1", 0, 200);
    let first = post(&addr, &tok, &legit, T).expect("answered");
    assert_eq!(first.status, 200, "{}", first.body);
    let (seq, hash, _) = receipt(&first).expect("receipt");
    let size0 = size(&addr, &tok);
    let (hwm0, fds0) = (vm_hwm_kib(pid).expect("VmHWM"), open_fds(pid).expect("fds"));
    let mut tally: BTreeMap<u16, u64> = BTreeMap::new();
    let (mut slow_closed_ms, mut idle_closed, mut replays) = (0u128, 0u64, 0u64);
    for round in 0..rounds {
        // 1. Oversized: 64 MiB declared, 1 MiB sent, 8 at once; and chunked beyond the limit.
        let big: Vec<Answer> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (addr, tok, events) = (&addr, &tok, &events);
                    sc.spawn(move || {
                        let head = format!("POST {events} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", 64 << 20);
                        raw(addr, &head, &vec![b'['; 1 << 20])
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        for a in &big {
            assert_4xx("64 MiB body", a, &mut tally);
            assert_eq!(a.status, 413, "{}", a.body);
        }
        let mut chunked = Vec::new();
        for _ in 0..40 {
            chunked.extend_from_slice(format!("{:x}\r\n", 16 << 10).as_bytes());
            chunked.extend(std::iter::repeat_n(b' ', 16 << 10));
            chunked.extend_from_slice(b"\r\n");
        }
        chunked.extend_from_slice(b"0\r\n\r\n");
        let head = format!("POST {events} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n");
        let a = raw(&addr, &head, &chunked);
        assert_4xx("chunked 640 KiB body", &a, &mut tally);
        // 2. A body that never finishes: 503 (request timeout) or closed, within bounds.
        let mut slow = connect(&addr);
        let head = format!("POST {events} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"id\":");
        slow.write_all(head.as_bytes()).expect("write");
        let t0 = Instant::now();
        let a = read_answer(&mut slow);
        let took = t0.elapsed();
        assert!(
            took < Duration::from_secs(TIMEOUT + 5),
            "a stalled body held its connection {took:?}"
        );
        if let Ok(a) = a {
            assert_eq!(a.status, 503, "stalled body: {}", a.body);
        }
        slow_closed_ms = slow_closed_ms.max(took.as_millis());
        // 3. Slowloris: 20 connections sending their headers a byte every 300 ms.
        let loris: Vec<Option<Duration>> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..20)
                .map(|_| {
                    let addr = &addr;
                    sc.spawn(move || {
                        let mut c = connect(addr);
                        let t0 = Instant::now();
                        for b in b"GET /v1/ledgers/practice/checkpoint HTTP/1.1\r\nHost: x\r\nX-A: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
                            if c.write_all(&[*b]).is_err() {
                                return Some(t0.elapsed());
                            }
                            std::thread::sleep(Duration::from_millis(300));
                            if t0.elapsed() > Duration::from_secs(TIMEOUT + 8) {
                                return None;
                            }
                        }
                        None
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        for l in &loris {
            let d =
                l.expect("a slowloris connection was not cut off within the header timeout + 8 s");
            slow_closed_ms = slow_closed_ms.max(d.as_millis());
        }
        // 4. 500 connections that send nothing; meanwhile a real request is still answered.
        let mut idle: Vec<TcpStream> = (0..500)
            .filter_map(|_| {
                TcpStream::connect_timeout(&addr.parse().expect("addr"), Duration::from_secs(2))
                    .ok()
            })
            .collect();
        let t0 = Instant::now();
        assert_eq!(
            size(&addr, &tok),
            size0,
            "a request while 500 connections idle"
        );
        let busy_answer = t0.elapsed();
        assert!(
            busy_answer < Duration::from_secs(5 * TIMEOUT + 10),
            "answered after {busy_answer:?} with 500 idle connections"
        );
        for c in &mut idle {
            assert!(
                closed_within(c, Duration::from_secs(20 * TIMEOUT)).is_some(),
                "an idle connection was not closed by the server within {} s",
                20 * TIMEOUT
            );
        }
        idle_closed += idle.len() as u64;
        drop(idle);
        // 5. Malformed JSON (and not JSON).
        let deep = "[".repeat(100_000);
        let bodies: Vec<(&str, Vec<u8>)> = vec![
            ("empty", b"".to_vec()),
            ("truncated", b"{\"id\":\"x\",".to_vec()),
            ("array", b"[]".to_vec()),
            ("null", b"null".to_vec()),
            ("empty batch", b"{\"events\":[]}".to_vec()),
            ("wrong types", b"{\"id\":1,\"record\":[],\"kind\":{}}".to_vec()),
            ("deep nesting", deep.into_bytes()),
            ("not UTF-8", b"{\"id\":\"\xff\xfe\"}".to_vec()),
            ("huge number", format!("{{\"id\":{}}}", "9".repeat(10_000)).into_bytes()),
            (
                "repeated field",
                br#"{"id":"h-1","record":"R-0","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","payload":"a","payload":"b"}"#.to_vec(),
            ),
            (
                "unknown field",
                br#"{"id":"h-2","record":"R-0","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1","sneaky":1}"#.to_vec(),
            ),
            (
                "unknown kind",
                br#"{"id":"h-3","record":"R-0","kind":"drop_table","occurred_on":"2025-05-03","author":"lic-1"}"#.to_vec(),
            ),
            (
                "author not allowed",
                br#"{"id":"h-4","record":"R-0","kind":"progress_note","occurred_on":"2025-05-03","author":"admin"}"#.to_vec(),
            ),
            (
                "record never opened",
                br#"{"id":"h-5","record":"R-404","kind":"progress_note","occurred_on":"2025-05-03","author":"lic-1"}"#.to_vec(),
            ),
            (
                "batch over the limit",
                format!("{{\"events\":[{}]}}", vec!["{}"; 1001].join(",")).into_bytes(),
            ),
        ];
        for (what, body) in &bodies {
            let a = server::request(&addr, "POST", &events, Some(&tok), Some(body), T)
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_4xx(what, &a, &mut tally);
        }
        let a = raw(
            &addr,
            &format!("POST {events} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {tok}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"),
            b"{}",
        );
        assert_4xx("not JSON", &a, &mut tally);
        // The same id with other content: 409, nothing written.
        let mut other = legit.clone();
        other["payload"] = "other content".into();
        let a = post(&addr, &tok, &other, T).expect("answered");
        assert_eq!(a.status, 409, "{}", a.body);
        assert_4xx("same id, other content", &a, &mut tally);
        if harness::broken("hostile-one-valid") && round == 0 {
            let _ = post(&addr, &tok, &event("sneaked-in", 0, 10), T);
        }
        // 6. Tile paths.
        let tiles = [
            "../../../../etc/passwd",
            "..%2f..%2f..%2fetc%2fpasswd",
            "0/x001/999",
            "99/000",
            "0/000.p/0",
            "0/000.p/257",
            "0/-1",
            "0/18446744073709551616",
            "entries/000.p/x",
            "0/x000/x000/x000/x000/x000/x000/x000/x000/x000/x000/000",
            "%00",
            "0/000%00",
        ];
        for t in tiles {
            let path = format!("/v1/ledgers/{LEDGER}/tlog/tile/{t}");
            let a = server::request(&addr, "GET", &path, Some(&tok), None, T)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            assert_4xx(&path, &a, &mut tally);
        }
        // 7. Tokens.
        let body = legit.to_string();
        let long = "a".repeat(100_000);
        let tokens: [(&str, Option<&str>); 6] = [
            ("no token", None),
            ("unknown token", Some("clt_0000000000000000000000000000")),
            ("empty token", Some("")),
            ("read-status only", Some(&s.status_token)),
            ("expired", Some(&s.expired_token)),
            ("100 KB token", Some(&long)),
        ];
        for (what, t) in tokens {
            match server::request(&addr, "POST", &events, t, Some(body.as_bytes()), T) {
                Ok(a) => assert_4xx(what, &a, &mut tally),
                // hyper may close a connection whose headers are too large without a word.
                Err(_) if what == "100 KB token" => *tally.entry(0).or_default() += 1,
                Err(e) => panic!("{what}: {e}"),
            }
        }
        let a = raw(
            &addr,
            &format!("POST {events} HTTP/1.1\r\nHost: x\r\nAuthorization: Basic {tok}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len()),
            body.as_bytes(),
        );
        assert_4xx("Basic instead of Bearer", &a, &mut tally);
        // 8. Path traversal and odd ledger names.
        let names = [
            "..",
            "..%2f..%2fL",
            "%2e%2e",
            "practice%2f..%2f..%2fL",
            "PRACTICE",
            "practice%00",
            "-practice",
            "practice.",
            &"a".repeat(5000),
        ];
        for n in names {
            for (m, path) in [
                ("POST", format!("/v1/ledgers/{n}/events")),
                ("GET", format!("/v1/ledgers/{n}/checkpoint")),
            ] {
                let b = (m == "POST").then_some(body.as_bytes());
                let a = server::request(&addr, m, &path, Some(&tok), b, T)
                    .unwrap_or_else(|e| panic!("{m} {path}: {e}"));
                assert_4xx(&format!("{m} {path}"), &a, &mut tally);
            }
        }
        // 9. The legitimate event replayed 200 times, 8 at once: the original receipt.
        let answers: Vec<Answer> = std::thread::scope(|sc| {
            let hs: Vec<_> = (0..8)
                .map(|_| {
                    let (addr, tok, legit) = (&addr, &tok, &legit);
                    sc.spawn(move || {
                        (0..25)
                            .map(|_| post(addr, tok, legit, T).expect("answered"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            hs.into_iter()
                .flat_map(|h| h.join().expect("thread"))
                .collect()
        });
        for a in &answers {
            assert_eq!(
                receipt(a),
                Some((seq, hash.clone(), true)),
                "a replay: {}",
                a.body
            );
            replays += 1;
        }
        assert!(srv.alive(), "the server died in round {round}");
        assert_eq!(
            size(&addr, &tok),
            size0,
            "round {round}: a hostile request wrote to the ledger"
        );
    }
    let hwm1 = vm_hwm_kib(pid).expect("VmHWM");
    // The server's connection tasks end shortly after their clients: give them a moment.
    let mut fds1 = open_fds(pid).expect("fds");
    for _ in 0..50 {
        if fds1 <= fds0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        fds1 = open_fds(pid).expect("fds");
    }
    assert_eq!(
        entry_hash_at(&addr, &tok, seq).as_deref(),
        Some(hash.as_str())
    );
    assert_eq!(srv.stop(), Some(0), "the server stops cleanly");
    assert_eq!(verify_clean(&s.f, &s.ledger), size0);
    let grew_mib = hwm1.saturating_sub(hwm0) / 1024;
    assert!(
        grew_mib <= MEMORY_BOUND_MIB,
        "the server's peak memory grew {grew_mib} MiB (VmHWM {hwm0} → {hwm1} KiB), over the bound of {MEMORY_BOUND_MIB} MiB"
    );
    assert!(
        fds1 <= fds0,
        "the server holds {fds1} file descriptors, {fds0} before"
    );
    println!(
        "hostile clients: {rounds} rounds, answers {tally:?} (0 = closed by the server), 0 written, {replays} replays answered with the original receipt, slow requests cut off within {slow_closed_ms} ms at most, {idle_closed} idle connections (of {} opened) all closed by the server, VmHWM {hwm0} → {hwm1} KiB (+{grew_mib} MiB, bound {MEMORY_BOUND_MIB} MiB), fds {fds0} → {fds1}, {:.1} s",
        500 * rounds,
        started.elapsed().as_secs_f64()
    );
}
