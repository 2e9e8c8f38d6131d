//! `caseledger publish --tiles DIR`: the newest seal's C2SP tiles, entry bundles and
//! checkpoint as static files (docs/FORMAT.md §11), for any web server or object store
//! to serve (`rclone`/`aws s3 sync` the directory).
//!
//! Every file is written atomically (a temp file beside it, then rename), tiles and
//! bundles first and the checkpoint last, so a client never fetches a checkpoint whose
//! tiles are not there yet. A rerun writes what changed: the tiles the previous
//! checkpoint's tree did not have, and any missing file. Nothing is written outside DIR:
//! paths are the canonical tile paths, and a symlink under DIR is refused.

use super::ledger_ops::open;
use super::PublishArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, bail, Context, Result};
use caseledger_core::checkpoint::Checkpoint;
use caseledger_core::note::Note;
use caseledger_core::tile::{new_tiles, tiles_of, TileId};
use caseledger_store::Durability;
use serde_json::json;
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Files and directories under DIR: public (a web server serves them), never executable.
const FILE_MODE: u32 = 0o644;
const DIR_MODE: u32 = 0o755;

/// DIR and the directories already checked under it.
struct Target {
    root: PathBuf,
    checked: BTreeSet<PathBuf>,
}

impl Target {
    /// The directory of `rel` under DIR, created, each component a real directory.
    fn dir_for(&mut self, rel: &str) -> Result<PathBuf> {
        let mut at = self.root.clone();
        let parts: Vec<&str> = rel.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            // Canonical tile paths only: digits, 'x', "tile", "entries", "N.p".
            if part.is_empty() || *part == "." || *part == ".." {
                bail!("refusing to write {rel}: not a tile path");
            }
            at.push(part);
            if self.checked.contains(&at) {
                continue;
            }
            match fs::symlink_metadata(&at) {
                Ok(m) if m.is_dir() => {}
                Ok(_) => bail!(
                    "--tiles: {} is not a directory (a symlink or file under the publish directory is refused)",
                    at.display()
                ),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    fs::DirBuilder::new()
                        .mode(DIR_MODE)
                        .create(&at)
                        .with_context(|| format!("--tiles: creating {}", at.display()))?;
                }
                Err(e) => return Err(anyhow!("--tiles: {}: {}", at.display(), e.kind())),
            }
            self.checked.insert(at.clone());
        }
        Ok(at)
    }

    /// The file at `rel` under DIR, if it is a regular file (not a symlink).
    fn existing(&mut self, rel: &str) -> Result<Option<Vec<u8>>> {
        let path = self.root.join(rel);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_file() => {
                Ok(Some(fs::read(&path).with_context(|| {
                    format!("--tiles: reading {}", path.display())
                })?))
            }
            Ok(_) => bail!(
                "--tiles: {} is not a regular file; refusing to replace it",
                path.display()
            ),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!("--tiles: {}: {}", path.display(), e.kind())),
        }
    }

    /// Writes `rel` atomically: temp file in its directory, fsync, rename.
    fn write(&mut self, rel: &str, bytes: &[u8]) -> Result<()> {
        let dir = self.dir_for(rel)?;
        let name = rel.rsplit('/').next().unwrap_or(rel);
        let path = dir.join(name);
        let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
        let r = (|| -> std::io::Result<()> {
            let mut f = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)
        })();
        if let Err(e) = r {
            let _ = fs::remove_file(&tmp);
            return Err(anyhow!("--tiles: writing {}: {}", path.display(), e.kind()));
        }
        Ok(())
    }
}

/// The size of the checkpoint already published in DIR, if it is this ledger's.
fn published_size(t: &mut Target, origin: &str) -> Result<Option<u64>> {
    let Some(bytes) = t.existing("checkpoint")? else {
        return Ok(None);
    };
    let parsed = std::str::from_utf8(&bytes)
        .ok()
        .and_then(|s| Note::parse(s.as_bytes()).ok())
        .and_then(|n| Checkpoint::parse_body(n.text()).ok());
    match parsed {
        Some(cp) if cp.origin == origin => Ok(Some(cp.size)),
        Some(_) => bail!(
            "--tiles {}: holds the checkpoint of another ledger; publish each ledger to its own directory",
            t.root.display()
        ),
        // Unreadable: rewrite everything.
        None => Ok(None),
    }
}

pub(crate) fn run(a: PublishArgs, out: &Out) -> Result<Outcome> {
    let dir = &a.ledger.ledger;
    let ledger = open(dir, Durability::Immediate)?;
    let d = dir.display();
    let origin = ledger
        .origin()
        .ok_or_else(|| anyhow!("ledger {d}: has no genesis"))?;
    let (size, note) = ledger
        .newest_seal()
        .map_err(|e| anyhow!("ledger {d}: {e}"))?
        .ok_or_else(|| anyhow!("ledger {d}: holds no seal yet; nothing to publish"))?;
    match fs::symlink_metadata(&a.tiles) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => bail!("--tiles {}: not a directory", a.tiles.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => fs::DirBuilder::new()
            .mode(DIR_MODE)
            .create(&a.tiles)
            .with_context(|| format!("--tiles {}", a.tiles.display()))?,
        Err(e) => bail!("--tiles {}: {}", a.tiles.display(), e.kind()),
    }
    let mut target = Target {
        root: a.tiles.clone(),
        checked: BTreeSet::new(),
    };
    let before = published_size(&mut target, origin.as_str())?;
    // Candidates for a change: the tiles the published tree lacked (all on a first run,
    // or when the directory holds a larger tree: a ledger restored from a backup).
    let fresh: BTreeSet<TileId> = match before {
        Some(old) if old <= size => new_tiles(old, size).collect(),
        _ => tiles_of(size).collect(),
    };
    let (mut written, mut unchanged) = (0u64, 0u64);
    for t in tiles_of(size) {
        let mut files = vec![(t.path(), false)];
        if t.level() == 0 {
            files.push((t.entries_path(), true));
        }
        for (rel, bundle) in files {
            let must_check = fresh.contains(&t);
            let have = if must_check {
                target.existing(&rel)?
            } else if Path::new(&target.root.join(&rel)).is_file() {
                // Outside the changed region: present is enough (its bytes are immutable).
                unchanged += 1;
                continue;
            } else {
                None
            };
            let got = if bundle {
                ledger.entry_bundle(t)
            } else {
                ledger.tile(t)
            };
            let bytes = got
                .map_err(|e| anyhow!("ledger {d}: {e}"))?
                .ok_or_else(|| anyhow!("ledger {d}: tile {t} is not in the sealed tree"))?;
            if have.as_deref() == Some(&bytes[..]) {
                unchanged += 1;
                continue;
            }
            target.write(&rel, &bytes)?;
            written += 1;
        }
    }
    // Last: the checkpoint that needs them.
    let cp_changed = target.existing("checkpoint")?.as_deref() != Some(note.as_bytes());
    if cp_changed {
        target.write("checkpoint", note.as_bytes())?;
        written += 1;
    }
    let dir_sync = fs::File::open(&target.root).and_then(|f| f.sync_all());
    dir_sync.with_context(|| format!("--tiles {}", target.root.display()))?;
    if out.json {
        out.json_data(&json!({
            "size": size,
            "written": written,
            "unchanged": unchanged,
            "checkpoint_changed": cp_changed,
        }))?;
    } else {
        out.say(format!(
            "published the seal of size {size} to {}: {written} files written, {unchanged} unchanged",
            target.root.display()
        ));
    }
    Ok(Outcome::Ok)
}
