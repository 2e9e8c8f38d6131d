//! Interop with OpenSSL's TSA ([`caseledger_testkit::tsa`]): a test CA and TSA certificate
//! generated into a tempdir, `openssl ts -reply` behind a loopback HTTP server, tokens
//! verified by this crate and by `openssl ts -verify`.

use caseledger_testkit::tsa::{TestTsa, TsaKey, TsaOptions};
use caseledger_timestamp::{
    check_response, client, verify_token, TimestampError, TimestampRequest, TrustedRoots,
};
use der::{Decode, Encode};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

const BODY: &[u8] = b"example.org/practice\n42\nq83vEjRWeJA0VniQq83vEjRWeJA0VniQq83vEjRWeJA=\n";

fn make_tsa(key: TsaKey, ess_v2: bool) -> TestTsa {
    TestTsa::new(&TsaOptions {
        key,
        ess_v2,
        ..TsaOptions::default()
    })
}

fn roots(t: &TestTsa) -> TrustedRoots {
    TrustedRoots::from_pem(&std::fs::read(t.path("ca.pem")).unwrap()).unwrap()
}

/// Obtains a token over BODY from `tsa` through the loopback server and `client::post`.
fn obtain(tsa: Arc<TestTsa>) -> Vec<u8> {
    let (url, h) = tsa.serve(1);
    let req = TimestampRequest::new(BODY).unwrap();
    let resp = client::post(&url, req.to_der(), Duration::from_secs(30)).unwrap();
    h.join().unwrap();
    let received = check_response(&resp, &req).unwrap();
    received.to_der().to_vec()
}

#[test]
fn rsa_token_over_http_verifies_here_and_with_openssl_and_binds_data_and_roots() {
    let tsa = Arc::new(make_tsa(TsaKey::Rsa, false));
    let token = obtain(tsa.clone());
    let v = verify_token(&token, BODY, &roots(&tsa)).unwrap();
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
        verify_token(&token, other, &roots(&tsa)),
        Err(TimestampError::ImprintMismatch)
    ));
    assert!(!tsa.openssl_verify(&token, other, &tsa.path("ca.pem"), None));

    // An untrusted chain (another CA, even one with the same name) is refused, by both.
    let stranger = make_tsa(TsaKey::Rsa, false);
    assert!(matches!(
        verify_token(&token, BODY, &roots(&stranger)),
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
        if let Ok(v2) = verify_token(&t, BODY, &roots(&tsa)) {
            // A change that still verifies can only be in unsigned, unused bytes; none exist
            // in this token but certificate-set bytes re-encoded identically would. Flag it.
            panic!("byte {i} changed and still verified: {v2:?}");
        }
    }
}

#[test]
fn p256_tsa_with_ess_cert_id_v2_verifies_here_and_with_openssl() {
    let tsa = Arc::new(make_tsa(TsaKey::P256, true));
    let token = obtain(tsa.clone());
    let v = verify_token(&token, BODY, &roots(&tsa)).unwrap();
    assert_eq!(v.signer(), "CN=Test TSA");
    assert!(tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), None));
}

#[test]
fn a_response_to_another_request_is_refused() {
    let tsa = make_tsa(TsaKey::Rsa, false);
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
    // Every truncation of the response and of its token is refused, never a panic.
    let token = check_response(&resp, &req).unwrap().to_der().to_vec();
    for n in 0..resp.len() {
        assert!(
            check_response(&resp[..n], &req).is_err(),
            "response cut at {n}"
        );
    }
    let roots = roots(&tsa);
    for n in 0..token.len() {
        assert!(
            verify_token(&token[..n], BODY, &roots).is_err(),
            "token cut at {n}"
        );
    }

    // A request the TSA refuses (SHA-1 imprint, not in its `digests`): the status is reported.
    let d = tsa.path("");
    std::fs::write(d.join("data.bin"), BODY).unwrap();
    let q = std::process::Command::new("openssl")
        .args(["ts", "-query", "-data", "data.bin", "-sha1", "-cert"])
        .current_dir(&d)
        .output()
        .unwrap();
    assert!(q.status.success());
    let refused = tsa.reply(&q.stdout);
    assert!(
        matches!(
            check_response(&refused, &req),
            Err(TimestampError::Refused { status: 2, .. })
        ),
        "{:?}",
        check_response(&refused, &req)
    );
}

#[test]
fn a_token_whose_tsa_certificate_has_since_expired_validates_as_of_gen_time() {
    // CA from 2019 for 20 years; TSA certificate valid 2020-01-01 for 366 days; the token
    // is made on 2020-06-01. Today the TSA certificate has long expired.
    let mut tsa = TestTsa::new(&TsaOptions {
        ca_at: Some("2019-12-01 00:00:00".into()),
        tsa_at: Some("2020-01-01 00:00:00".into()),
        tsa_days: 366,
        ..TsaOptions::default()
    });
    tsa.clock = Some("2020-06-01 12:00:00".into());
    let req = TimestampRequest::new(BODY).unwrap();
    let resp = tsa.reply(req.to_der());
    let token = check_response(&resp, &req).unwrap().to_der().to_vec();
    let v = verify_token(&token, BODY, &roots(&tsa)).unwrap();
    assert_eq!(v.gen_time().to_string()[..10], *"2020-06-01");
    // openssl judges validity now by default (expired), and as of a given time on request.
    assert!(!tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), None));
    let at = v.gen_time().as_second().to_string();
    assert!(tsa.openssl_verify(&token, BODY, &tsa.path("ca.pem"), Some(&at)));

    // A token dated after the certificate expired is refused: validity is judged at genTime.
    tsa.clock = Some("2021-06-01 12:00:00".into());
    let req = TimestampRequest::new(BODY).unwrap();
    // openssl (3.0) signs with an expired certificate; this verifier refuses the result.
    let resp = tsa.reply(req.to_der());
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
        verify_token(&late_token, BODY, &roots(&tsa)),
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
fn client_refuses_other_schemes_and_reports_a_closed_port() {
    let r = client::post("ftp://127.0.0.1:1/", b"x", Duration::from_secs(5));
    assert!(
        matches!(&r, Err(TimestampError::Http { why, .. }) if why.contains("only http:// and https://")),
        "{r:?}"
    );
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
