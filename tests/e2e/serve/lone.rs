//! Issue 15, S1: a lone pre-signed event to an open ledger is submitted to the store's group
//! commit from the request's async task (`write::append_lone`), with no blocking thread
//! per request, the id judged by the store alone. It must answer exactly as the batch path
//! does: a receipt with its seal, the original receipt for a retry, `409` for an id
//! reused with other content, `422` for a signature that does not match, one entry for
//! racing retries, and every `200` durable when the server is stopped mid-stream.

use super::*;

/// `lic-1`'s progress note in `record`, signed by `lic-1`'s key (as a record system signs
/// before it posts), with a client event id when given.
fn presigned(f: &Fixture, id: Option<&str>, record: &str, payload: &str) -> Value {
    let key = caseledger_keyfile::read(&f.keys().join("actors").join("lic-1.pem")).unwrap();
    caseledger_testkit::server::presigned_note(&key, "lic-1", id, record, payload)
}

/// The receipt of a `200` with one event.
fn receipt(a: &Answer) -> Value {
    assert_eq!(a.status, 200, "{}", a.body);
    let rs = a.json()["receipts"].as_array().unwrap().clone();
    assert_eq!(rs.len(), 1, "{}", a.body);
    rs[0].clone()
}

#[test]
fn a_lone_pre_signed_event_is_answered_as_a_batch_would_be() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = s.tokens.append_presigned.clone();
    let before = s.size();
    // The ledger is open (`size` asked for its checkpoint): every post below takes the
    // lone path (a batch or a server-signed event would not).
    let first = receipt(&s.post(&t, &presigned(&f, None, "C-OPEN", "opening note")));
    assert_eq!(first["seq"].as_u64(), Some(before));
    // Without an id: a receipt whose seal covers it.
    let a = receipt(&s.post(&t, &presigned(&f, None, "C-OPEN", "SECRET-CLINICAL-L1")));
    assert_eq!(a["seq"].as_u64(), Some(before + 1));
    assert_eq!(a["replayed"], json!(false));
    let seal = a["seal"].as_str().unwrap();
    assert!(seal.contains(&format!("\n{}\n", before + 2)), "{seal}");
    // The same signed event again, without an id: its nonce is spent (422), nothing written.
    let once = presigned(&f, None, "C-OPEN", "sent twice");
    receipt(&s.post(&t, &once));
    let twice = s.post(&t, &once);
    assert_eq!(
        (twice.status, twice.kind().as_str()),
        (422, "refused"),
        "{}",
        twice.body
    );
    assert_eq!(s.size(), before + 3);
    // With an id: appended; the retry (the same bytes) gets the original receipt.
    let keyed = presigned(&f, Some("lone-1"), "C-OPEN", "SECRET-CLINICAL-L2");
    let k = receipt(&s.post(&t, &keyed));
    assert_eq!(k["seq"].as_u64(), Some(before + 3));
    assert_eq!(k["replayed"], json!(false));
    let again = receipt(&s.post(&t, &keyed));
    assert_eq!(again["replayed"], json!(true));
    for f in ["seq", "hash", "recorded_at_us", "seal"] {
        assert_eq!(again[f], k[f], "{f}");
    }
    // The same id with other content (signed anew): 409, nothing written, nothing echoed.
    let other = s.post(
        &t,
        &presigned(&f, Some("lone-1"), "C-OPEN", "SECRET-CLINICAL-L3"),
    );
    assert_eq!(
        (other.status, other.kind().as_str()),
        (409, "conflict"),
        "{}",
        other.body
    );
    assert!(!other.body.contains("SECRET") && !other.body.contains("lone-1"));
    // A payload changed after signing: the signature check refuses it (422), nothing written.
    let mut forged = presigned(&f, Some("lone-2"), "C-OPEN", "as signed");
    forged["payload"] = json!("changed after signing");
    let bad = s.post(&t, &forged);
    assert_eq!(
        (bad.status, bad.kind().as_str()),
        (422, "refused"),
        "{}",
        bad.body
    );
    assert!(
        bad.body.contains("signature") || bad.body.contains("commit"),
        "{}",
        bad.body
    );
    // An event the ledger refuses (no such record): 422 at its line, nothing written.
    let no_record = s.post(&t, &presigned(&f, Some("lone-3"), "C-NONE", "n"));
    assert_eq!(
        (no_record.status, no_record.kind().as_str()),
        (422, "refused"),
        "{}",
        no_record.body
    );
    assert_eq!(s.size(), before + 4);
    // Racing retries of one id: one entry, every answer its receipt, one not a replay.
    let same = presigned(&f, Some("lone-race"), "C-OPEN", "one note");
    let answers = race(&s, &t, 8, &|_| same.clone());
    let rs: Vec<Value> = answers.iter().map(receipt).collect();
    assert_eq!(
        rs.iter().filter(|r| r["replayed"] == json!(false)).count(),
        1
    );
    for r in &rs {
        for k in ["seq", "hash", "recorded_at_us", "seal"] {
            assert_eq!(r[k], rs[0][k], "{k}");
        }
    }
    assert_eq!(s.size(), before + 5);
    // Racing requests with one id and different content: one appended, the others 409.
    let answers = race(&s, &t, 8, &|i| {
        presigned(&f, Some("lone-race-2"), "C-OPEN", &format!("note {i}"))
    });
    assert_eq!(answers.iter().filter(|a| a.status == 200).count(), 1);
    assert!(answers.iter().all(|a| a.status == 200 || a.status == 409));
    assert_eq!(s.size(), before + 6);
    assert_eq!(s.stop().code(), Some(0));
    let log = std::fs::read_to_string(f.path("serve.log")).unwrap();
    for secret in ["SECRET", "lone-1", "C-OPEN"] {
        assert!(!log.contains(secret), "{secret} in the log: {log}");
    }
    // Every answered event is in the ledger, and it verifies.
    assert_eq!(f.size(), before + 6);
    let v = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(v.status.code(), Some(0), "{}", stdout(&v));
}

/// A post that may find the server gone: `None` when it takes no connection or closes it
/// unanswered (what a server shutting down does to a request it did not take); else the
/// status and body.
fn try_post(addr: &str, token: &str, body: &Value) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let body = body.to_string();
    let head = format!(
        "POST /v1/ledgers/{LEDGER}/events HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Length: {}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).ok()?;
    s.write_all(body.as_bytes()).ok()?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n")?;
    let status = head.lines().next()?.split(' ').nth(1)?.parse().ok()?;
    Some((status, body.to_owned()))
}

/// Lone pre-signed events streaming in when SIGTERM arrives: the server finishes what it
/// took (each `200` is durable, with the entry hash it answered) and exits 0.
#[test]
fn lone_pre_signed_appends_in_flight_at_shutdown_are_completed() {
    let f = Fixture::small();
    let s = serve(&f);
    let t = s.tokens.append_presigned.clone();
    let before = s.size();
    receipt(&s.post(&t, &presigned(&f, None, "C-OPEN", "opening note")));
    let answered: Vec<(u64, String)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..8)
            .map(|w| {
                let (f, s, t) = (&f, &s, &t);
                sc.spawn(move || {
                    let mut got = Vec::new();
                    for i in 0.. {
                        let body = presigned(f, Some(&format!("sd-{w}-{i}")), "C-OPEN", "n");
                        match try_post(&s.addr, t, &body) {
                            Some((200, body)) => {
                                let r: Value = serde_json::from_str(&body).unwrap();
                                let r = &r["receipts"][0];
                                got.push((
                                    r["seq"].as_u64().unwrap(),
                                    r["hash"].as_str().unwrap().to_owned(),
                                ));
                            }
                            // Not taken: the server is stopping (503) or gone.
                            None | Some((503, _)) => break,
                            Some((other, body)) => panic!("{other}: {body}"),
                        }
                    }
                    got
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(400));
        let pid = s.child.id().to_string();
        ok(&std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .output()
            .unwrap());
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(
        answered.len() >= 8,
        "answered before the signal: {}",
        answered.len()
    );
    let mut s = s;
    assert_eq!(s.child.wait().unwrap().code(), Some(0));
    // Exactly the answered events were appended (after the opening note), each as answered.
    assert_eq!(f.size(), before + 1 + answered.len() as u64);
    let l = caseledger_store::Ledger::open(f.path("L"), Default::default()).unwrap();
    for (seq, hash) in &answered {
        let bytes = l.entry_bytes(caseledger_core::Seq(*seq)).unwrap().unwrap();
        assert_eq!(
            &caseledger_core::hash::entry_hash(&bytes).to_hex(),
            hash,
            "seq {seq}"
        );
    }
    l.close().unwrap();
}
