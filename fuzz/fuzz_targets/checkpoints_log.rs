//! `checkpoints.log` as the store and the verifier read it: never panics, never loses
//! bytes silently. The store's strict reader accepts a log exactly when re-framing its
//! notes gives back the input; the verifier's tolerant reader agrees with it on every
//! complete record and, past them, keeps a malformed rest as one last item.
#![no_main]

use caseledger_core::layout::{frame_log_record, parse_checkpoints_log};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tolerant = caseledger_verify::checkpoints_log::parse(data);
    match parse_checkpoints_log(data) {
        Ok(notes) => {
            let again: Vec<u8> = notes.iter().flat_map(|n| frame_log_record(n)).collect();
            assert_eq!(again, data, "a strict parse that does not frame back");
            let as_bytes: Vec<Vec<u8>> = notes.into_iter().map(String::into_bytes).collect();
            assert_eq!(
                tolerant, as_bytes,
                "the readers disagree on a well-formed log"
            );
        }
        Err(_) => {
            // Every item but possibly the last is a complete record, framed as it stands
            // in the input (a note that is not UTF-8 included: the verifier reports it as
            // a malformed checkpoint and reads on); a last item that is not is the
            // malformed rest, verbatim; a torn tail is dropped.
            let mut pos = 0;
            for (i, n) in tolerant.iter().enumerate() {
                let mut framed = format!("{}\n", n.len()).into_bytes();
                framed.extend_from_slice(n);
                if data[pos..].starts_with(&framed) {
                    pos += framed.len();
                } else {
                    assert_eq!(i + 1, tolerant.len(), "a malformed record mid-list");
                    assert_eq!(&data[pos..], n.as_slice(), "the malformed rest lost bytes");
                    pos = data.len();
                }
            }
            assert!(pos <= data.len());
        }
    }
});
