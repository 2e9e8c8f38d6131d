//! File input and output with errors that name the file and never echo its content.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Inputs larger than this are refused (a payload, a checkpoint, a key, a report).
pub(crate) const MAX_SMALL_INPUT: u64 = 64 << 20;

/// Reads a whole regular file; refuses a missing path, a directory, an empty file, or
/// one above `max` bytes. `what` says what the file is ("payload file", "checkpoint").
pub(crate) fn read_file(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    let p = path.display();
    let meta = regular_file(path, what)?;
    if meta.len() > max {
        bail!("{what} {p}: larger than {max} bytes");
    }
    let mut buf = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    fs::File::open(path)
        .and_then(|f| f.take(max.saturating_add(1)).read_to_end(&mut buf))
        .map_err(io_why)
        .with_context(|| format!("{what} {p}"))?;
    if buf.is_empty() {
        bail!("{what} {p}: file is empty");
    }
    if u64::try_from(buf.len()).unwrap_or(u64::MAX) > max {
        bail!("{what} {p}: larger than {max} bytes");
    }
    Ok(buf)
}

/// Reads a file that must be UTF-8 text.
pub(crate) fn read_text(path: &Path, what: &str) -> Result<String> {
    let bytes = read_file(path, what, MAX_SMALL_INPUT)?;
    String::from_utf8(bytes)
        .map_err(|_| anyhow::anyhow!("{what} {}: not UTF-8 text", path.display()))
}

/// Reads `path`, or stdin when it is `-`.
pub(crate) fn read_input(path: &Path, what: &str, max: u64) -> Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        use std::io::IsTerminal;
        if std::io::stdin().is_terminal() {
            bail!("{what}: stdin is a terminal; give a file or pipe the input in");
        }
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .take(max + 1)
            .read_to_end(&mut buf)
            .with_context(|| format!("{what} (stdin)"))?;
        if u64::try_from(buf.len()).unwrap_or(u64::MAX) > max {
            bail!("{what} (stdin): larger than {max} bytes");
        }
        if buf.is_empty() {
            bail!("{what} (stdin): input is empty");
        }
        return Ok(buf);
    }
    read_file(path, what, max)
}

/// A short reason for an I/O error, without the OS's "(os error N)" noise.
pub(crate) fn io_why(e: std::io::Error) -> anyhow::Error {
    use std::io::ErrorKind as K;
    let why = match e.kind() {
        K::NotFound => "no such file or directory".to_owned(),
        K::PermissionDenied => "permission denied".to_owned(),
        K::AlreadyExists => "already exists".to_owned(),
        _ => {
            let s = e.to_string();
            s.split(" (os error").next().unwrap_or(&s).to_owned()
        }
    };
    anyhow::anyhow!(why)
}

/// Writes a new file (refusing to replace an existing one), durably: written to a
/// temporary file beside it, fsynced, then linked into place.
pub(crate) fn write_new(path: &Path, bytes: &[u8], what: &str) -> Result<()> {
    let p = path.display();
    if fs::symlink_metadata(path).is_ok() {
        bail!("{what} {p}: already exists; refusing to overwrite it");
    }
    write_replace(path, bytes).with_context(|| format!("{what} {p}"))?;
    Ok(())
}

/// Writes a file atomically, replacing any existing one (temp file, fsync, rename, dir
/// fsync), mode 0600.
pub(crate) fn write_replace(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = parent_dir(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        // 0600 whatever the umask: bundles, reports and state files may carry clinical
        // content or what points to it; the owner shares them deliberately.
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        fs::File::open(dir)?.sync_all()
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(io_why(e));
    }
    Ok(())
}

/// The directory a file lives in (`.` for a bare name).
pub(crate) fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// Checks that `dir` is an existing ledger directory (has `sled/`), naming it if not.
pub(crate) fn check_ledger_dir(dir: &Path) -> Result<()> {
    let d = dir.display();
    match fs::metadata(dir) {
        Err(e) => return Err(io_why(e)).with_context(|| format!("ledger {d}")),
        Ok(m) if !m.is_dir() => bail!("ledger {d}: not a directory"),
        Ok(_) => {}
    }
    if !dir.join("sled").is_dir() {
        bail!("ledger {d}: not a caseledger ledger (no sled/ directory; create one with `caseledger init`)");
    }
    Ok(())
}

/// The metadata of `path`, refusing a missing path, a directory or a non-regular file.
fn regular_file(path: &Path, what: &str) -> Result<fs::Metadata> {
    let p = path.display();
    let meta = fs::metadata(path)
        .map_err(io_why)
        .with_context(|| format!("{what} {p}"))?;
    if meta.is_dir() {
        bail!("{what} {p}: is a directory, expected a file");
    }
    if !meta.is_file() {
        bail!("{what} {p}: not a regular file");
    }
    Ok(meta)
}

/// Checks that `path` is a readable, non-empty regular file without reading it all.
pub(crate) fn check_file(path: &Path, what: &str) -> Result<()> {
    let p = path.display();
    let meta = regular_file(path, what)?;
    if meta.len() == 0 {
        bail!("{what} {p}: file is empty");
    }
    fs::File::open(path)
        .map_err(io_why)
        .with_context(|| format!("{what} {p}"))?;
    Ok(())
}
