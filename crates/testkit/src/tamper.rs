//! The attacker's tools: edit a closed ledger's sled trees and `checkpoints.log` directly,
//! in the store's on-disk layout (docs/FORMAT.md), and rewrite archive files. Tree and file
//! names are written out here rather than taken from the store, so a test notices if the
//! store's layout moves.

use caseledger_core::archive::{ArchiveItem, ArchiveReader, ArchiveWriter};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::event::{Entry, Placement};
use caseledger_core::hash::entry_hash;
use caseledger_core::note::Note;
use caseledger_core::{EntryHash, Seq};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One stored item: an entry and its stored payload value.
#[derive(Clone)]
pub struct Item {
    /// The entry.
    pub entry: Entry,
    /// The `payloads` tree value (salt and content), if any.
    pub payload: Option<Vec<u8>>,
}

/// Renumbers and re-chains every entry (prev = hash of the previous bytes) and re-derives
/// every record placement (ordinal, previous seq in the record) and registry pointer
/// (`prev_registry`), as an attacker hiding an edit would: nothing in these fields is
/// signed by an author.
pub fn rechain(items: &mut [Item]) {
    let mut prev = EntryHash::ZERO;
    let mut places: std::collections::HashMap<caseledger_core::RecordId, (u64, Seq)> =
        std::collections::HashMap::new();
    let mut last_change: Option<Seq> = None;
    for (i, it) in items.iter_mut().enumerate() {
        let seq = Seq(i as u64);
        it.entry.seq = seq;
        it.entry.prev = prev;
        it.entry.prev_registry = last_change;
        if it.entry.event.event.kind.kind().changes_registry() {
            last_change = Some(seq);
        }
        it.entry.placement = it.entry.event.event.record.as_ref().map(|r| {
            let p = match places.get(r) {
                None => Placement {
                    ordinal: 1,
                    prev_in_record: None,
                },
                Some((n, last)) => Placement {
                    ordinal: n + 1,
                    prev_in_record: Some(*last),
                },
            };
            places.insert(r.clone(), (p.ordinal, seq));
            p
        });
        prev = entry_hash(&it.entry.to_bytes().unwrap());
    }
}

/// The ledger's sled database opened directly. Derefs to `sled::Db`; when dropped, makes
/// the files sled wrote (a snapshot, with the process umask) 0600 again, as the ledger's
/// own user would have them, so that the store's mode check does not mask what a test is
/// about.
pub struct TamperDb {
    db: Option<sled::Db>,
    dir: PathBuf,
}

impl std::ops::Deref for TamperDb {
    type Target = sled::Db;
    fn deref(&self) -> &sled::Db {
        self.db.as_ref().expect("open until dropped")
    }
}

impl Drop for TamperDb {
    fn drop(&mut self) {
        drop(self.db.take());
        let _ = caseledger_store::modes::tighten(&self.dir);
    }
}

/// Opens the ledger's sled database directly, as an attacker editing the trees would.
/// A ledger or verifier this process just dropped may hold sled's lock for a moment (its
/// flusher thread), so wait for it, bounded.
pub fn db(dir: &Path) -> TamperDb {
    let mut tries = 0;
    loop {
        match sled::open(dir.join("sled")) {
            Ok(db) => {
                return TamperDb {
                    db: Some(db),
                    dir: dir.to_path_buf(),
                }
            }
            Err(sled::Error::Io(e)) if tries < 200 && e.to_string().contains("acquire lock") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(25));
            }
            Err(e) => panic!("open sled in {}: {e}", dir.display()),
        }
    }
}

/// Writes the entries and payloads trees from scratch.
pub fn store(dir: &Path, items: &[Item]) {
    let db = db(dir);
    let entries = db.open_tree("entries").unwrap();
    let payloads = db.open_tree("payloads").unwrap();
    entries.clear().unwrap();
    payloads.clear().unwrap();
    for it in items {
        let k = it.entry.seq.0.to_be_bytes();
        entries.insert(k, it.entry.to_bytes().unwrap()).unwrap();
        if let Some(p) = &it.payload {
            payloads.insert(k, p.clone()).unwrap();
        }
    }
    db.flush().unwrap();
}

/// Reads the entries and payloads trees back.
pub fn load(dir: &Path) -> Vec<Item> {
    let db = db(dir);
    let entries = db.open_tree("entries").unwrap();
    let payloads = db.open_tree("payloads").unwrap();
    entries
        .iter()
        .map(|kv| {
            let (k, v) = kv.unwrap();
            Item {
                entry: Entry::from_bytes(&v).unwrap(),
                payload: payloads.get(&k).unwrap().map(|p| p.to_vec()),
            }
        })
        .collect()
}

/// Edits the stored items as an attacker would, then re-chains and writes them back.
pub fn rewrite(dir: &Path, edit: impl FnOnce(&mut Vec<Item>)) {
    let mut items = load(dir);
    edit(&mut items);
    rechain(&mut items);
    store(dir, &items);
}

/// Edits one raw tree value (no re-chaining); `None` from `edit` removes it.
pub fn edit_raw(
    dir: &Path,
    tree: &str,
    key: &[u8],
    edit: impl FnOnce(Option<Vec<u8>>) -> Option<Vec<u8>>,
) {
    let db = db(dir);
    let t = db.open_tree(tree).unwrap();
    let old = t.get(key).unwrap().map(|v| v.to_vec());
    match edit(old) {
        Some(v) => t.insert(key, v).unwrap(),
        None => t.remove(key).unwrap(),
    };
    db.flush().unwrap();
}

/// Stores a checkpoint note in the `checkpoints` tree and `checkpoints.log`, as the store does.
pub fn add_checkpoint(dir: &Path, note: &str) {
    let size = Checkpoint::parse_body(Note::parse(note.as_bytes()).unwrap().text())
        .unwrap()
        .size;
    edit_raw(dir, "checkpoints", &size.to_be_bytes(), |_| {
        Some(note.as_bytes().to_vec())
    });
    append_log(dir, note);
}

/// Appends one framed note (`<len>\n<note>`) to `checkpoints.log`.
pub fn append_log(dir: &Path, note: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path(dir))
        .unwrap();
    write!(f, "{}\n{note}", note.len()).unwrap();
}

/// The ledger's `checkpoints.log`.
pub fn log_path(dir: &Path) -> PathBuf {
    dir.join("checkpoints.log")
}

/// Removes every stored checkpoint (tree and log).
pub fn clear_checkpoints(dir: &Path) {
    let db = db(dir);
    db.open_tree("checkpoints").unwrap().clear().unwrap();
    db.flush().unwrap();
    let _ = std::fs::remove_file(log_path(dir));
}

/// The ledger's key store file.
pub fn keystore_path(dir: &Path) -> PathBuf {
    dir.join("keystore")
}

/// The byte offset of key store slot `i` (docs/FORMAT.md §6: a 32-byte header, 160-byte
/// slots).
pub fn key_slot_offset(i: usize) -> usize {
    32 + 160 * i
}

/// Indexes of the key store slots that name `record` and are live (state byte 1).
pub fn live_key_slots(dir: &Path, record: &str) -> Vec<usize> {
    let bytes = std::fs::read(keystore_path(dir)).unwrap();
    bytes[32..]
        .chunks(160)
        .enumerate()
        .filter(|(_, s)| {
            let len = usize::from(s[1]);
            s[0] == 1 && &s[2..2 + len] == record.as_bytes()
        })
        .map(|(i, _)| i)
        .collect()
}

/// Erases, in the real key store file, every live slot of `record` (state byte 2, the
/// wrapped key zeroed), as a destruction does (or as an attacker with file access would).
pub fn erase_key_slots(dir: &Path, record: &str) {
    let path = keystore_path(dir);
    let mut bytes = std::fs::read(&path).unwrap();
    for i in live_key_slots(dir, record) {
        let at = key_slot_offset(i);
        bytes[at] = 2;
        bytes[at + 66..at + 66 + 72].fill(0);
    }
    std::fs::write(&path, bytes).unwrap();
}

/// Reads an archive file: its origin and every frame.
pub fn read_archive(path: &Path) -> (String, Vec<ArchiveItem>) {
    let r = ArchiveReader::new(std::fs::File::open(path).unwrap()).unwrap();
    let origin = r.origin().to_owned();
    (origin, r.collect::<Result<Vec<_>, _>>().unwrap())
}

/// Writes `items` as an archive file with a fresh end frame, as an insider would (its
/// counts and digest are unkeyed).
pub fn write_archive(path: &Path, origin: &str, items: &[ArchiveItem]) {
    let mut w = ArchiveWriter::new(Vec::new(), origin).unwrap();
    for it in items {
        match it {
            ArchiveItem::Entry(b) => w.entry(b).unwrap(),
            ArchiveItem::Payload { seq, stored } => w.payload(*seq, stored).unwrap(),
            ArchiveItem::Checkpoint(n) => w.checkpoint(n).unwrap(),
            ArchiveItem::ContentKey { slot, bytes } => w.content_key(*slot, bytes).unwrap(),
        }
    }
    std::fs::write(path, w.finish().unwrap()).unwrap();
}
