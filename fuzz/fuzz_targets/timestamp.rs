//! RFC 3161 time-stamp responses and tokens, and the `timestamps.log` framing
//! (crates/timestamp): never panics; a response accepted for our request carries a token
//! that claims the same genTime when inspected again; a token that verifies against the
//! trusted root also passes the unanchored check with the same genTime; a parsed log
//! re-framed parses back to the same records.
//!
//! The root, the checkpoint body and the request nonce are those the seed corpus was made
//! with (fuzz/seeds/make.sh: a test TSA's root; its key is not kept).
#![no_main]

use caseledger_timestamp::log::{frame, frame_renewal, parse, renewal_data};
use caseledger_timestamp::{
    check_response, unanchored_gen_time, verify_token, TimestampRequest, TrustedRoots,
};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const ROOT: &str = include_str!("../seeds/tsa-root.pem");
const BODY: &str = include_str!("../seeds/tsa-body.txt");
const NONCE: [u8; 8] = *b"fuzznonc";

fn roots() -> &'static TrustedRoots {
    static R: OnceLock<TrustedRoots> = OnceLock::new();
    R.get_or_init(|| TrustedRoots::from_pem(ROOT.as_bytes()).expect("the seed root parses"))
}

/// A token that verifies is also unanchored-valid, with the same genTime.
fn check_token(token: &[u8], data: &[u8]) {
    let unanchored = unanchored_gen_time(token, data);
    if let Ok(v) = verify_token(token, data, roots()) {
        assert_eq!(
            unanchored.ok(),
            Some(v.gen_time()),
            "verify and unanchored disagree"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let req = TimestampRequest::with_nonce(BODY.as_bytes(), NONCE).expect("request");
    if let Ok(t) = check_response(data, &req) {
        assert_eq!(
            unanchored_gen_time(t.to_der(), BODY.as_bytes()).ok(),
            Some(t.gen_time()),
            "an accepted response's token does not inspect the same"
        );
        check_token(t.to_der(), BODY.as_bytes());
    }
    check_token(data, BODY.as_bytes());
    if let Ok(p) = parse(data) {
        let mut again = Vec::new();
        for t in &p.tokens {
            check_token(&t.token, t.body.as_bytes());
            again.extend(frame(&t.body, &t.token).expect("a parsed body frames"));
        }
        for r in &p.renewals {
            check_token(&r.token, &renewal_data(&r.old, &r.body));
            again.extend(frame_renewal(&r.body, &r.old, &r.token).expect("frames"));
        }
        let q = parse(&again).expect("a re-framed log parses");
        if !p.torn_tail && p.renewals.is_empty() {
            assert_eq!(
                again, data,
                "a whole log of tokens is not framed canonically"
            );
        }
        assert_eq!(
            (q.tokens, q.renewals),
            (p.tokens, p.renewals),
            "re-framing changed records"
        );
    }
});
