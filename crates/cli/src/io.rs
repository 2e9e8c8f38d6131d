//! File input and output with errors that name the file and never echo its content.

use anyhow::{bail, Context, Result};
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// An error about a file (and a line of it): its message exactly as people read it, with the
/// file and line kept as fields so `--json` errors carry them without parsing the text.
#[derive(Debug)]
pub(crate) struct Located {
    /// The file, as the command line named it; `None` for stdin.
    pub(crate) file: Option<String>,
    /// The 1-based line of the file, when the error is about one.
    pub(crate) line: Option<u64>,
    message: String,
}

impl std::fmt::Display for Located {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Located {}

impl Located {
    /// The file's name for [`Located::file`]: `None` for stdin (`-`).
    pub(crate) fn name(path: &Path) -> Option<String> {
        (path.as_os_str() != "-").then(|| path.display().to_string())
    }
}

/// An error `message` about `path` (`-` is stdin) and, when given, its `line`.
pub(crate) fn located(path: &Path, line: Option<u64>, message: String) -> anyhow::Error {
    anyhow::Error::new(Located {
        file: Located::name(path),
        line,
        message,
    })
}

/// An error `message` about line `line` of a file named further up (its caller wraps it in
/// a [`located`] error that names the file and keeps this line).
pub(crate) fn at_line(line: usize, message: String) -> anyhow::Error {
    anyhow::Error::new(Located {
        file: None,
        line: Some(u64::try_from(line).unwrap_or(u64::MAX)),
        message,
    })
}

/// The [`Located`] somewhere in `e`'s chain, if any.
pub(crate) fn location(e: &anyhow::Error) -> Option<&Located> {
    e.chain().find_map(|c| c.downcast_ref::<Located>())
}

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
        .map_err(|e| located(path, None, format!("{what} {p}: {}", io_why(e))))?;
    if buf.is_empty() {
        return Err(located(path, None, format!("{what} {p}: file is empty")));
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
        return Err(located(
            path,
            None,
            format!("{what} {p}: already exists; refusing to overwrite it"),
        ));
    }
    write_replace(path, bytes).map_err(|e| located(path, None, format!("{what} {p}: {e:#}")))?;
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
        Err(e) => return Err(located(dir, None, format!("ledger {d}: {}", io_why(e)))),
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
        .map_err(|e| located(path, None, format!("{what} {p}: {}", io_why(e))))?;
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
        return Err(located(path, None, format!("{what} {p}: file is empty")));
    }
    fs::File::open(path).map_err(|e| located(path, None, format!("{what} {p}: {}", io_why(e))))?;
    Ok(())
}
