//! Entry decoding: never panics; whatever decodes re-encodes to exactly the input bytes.
#![no_main]

use caseledger_core::encoding::decode_canonical;
use caseledger_core::event::Entry;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Entry::from_bytes(data) {
        assert_eq!(e.to_bytes().expect("a decoded entry re-encodes"), data);
        // The hash is over the stored bytes; it must be computable for anything that decodes.
        let _ = Entry::hash_bytes(data);
    }
    let _ = decode_canonical::<caseledger_core::record::Registry>(data);
    let _ = decode_canonical::<caseledger_core::record::RecordState>(data);
    let _ = decode_canonical::<caseledger_core::merkle::CompactRange>(data);
});
