//! Archives: never panic, bounded memory (frames over 256 MiB are refused before any
//! allocation); an archive that reads completely is re-written to exactly the input bytes.
#![no_main]

use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(r) = ArchiveReader::new(data) else {
        return;
    };
    let origin = r.origin().to_owned();
    let Ok(items) = r.collect::<Result<Vec<ArchiveItem>, _>>() else {
        return;
    };
    let mut w = ArchiveWriter::new(Vec::new(), &origin).expect("writer");
    for it in items {
        match it {
            ArchiveItem::Entry(b) => w.entry(&b).expect("entry"),
            ArchiveItem::Payload { seq, stored } => w.payload(seq, &stored).expect("payload"),
            ArchiveItem::Checkpoint(c) => w.checkpoint(&c).expect("checkpoint"),
            ArchiveItem::ContentKey { slot, bytes } => {
                w.content_key(slot, &bytes).expect("content key")
            }
        }
    }
    assert_eq!(
        w.finish().expect("finish"),
        data,
        "read/write is not the identity"
    );
});
