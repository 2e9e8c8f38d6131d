//! Both ends of a child measurement: P5 runs each verification in a fresh process of this
//! binary (`--child-verify*`), which prints one `CHILD ` line of time and peak RSS that the
//! parent parses; and the diagnostics `--child-scan` and `--copy-raw`.

use crate::util::{fail, log, Res};
use caseledger_verify::{verify, ArchiveSource, Policy, SledSource};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// `--child-verify DIR`: verify one ledger in this fresh process and report time and peak
/// RSS. `--child-scan DIR BYTES`: a raw sled scan (F4) with that cache capacity instead, to
/// tell sled's page cache from the verifier's own memory.
pub struct Child {
    pub dir: PathBuf,
    pub scan_cache: Option<u64>,
    /// `--child-verify-archive FILE`: verify an exported archive (`ArchiveSource`) instead.
    pub archive: bool,
}

fn proc_status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

pub fn run_child(c: &Child) -> Res<()> {
    let before = proc_status_kb("VmHWM:");
    if let Some(cache) = c.scan_cache {
        let db = sled::Config::new()
            .path(c.dir.join("sled"))
            .cache_capacity(cache.max(1 << 20))
            .open()?;
        let t = Instant::now();
        let mut n = 0u64;
        // `--child-scan DIR 1`: open only (what sled's recovery costs).
        let trees: &[&str] = if cache <= 1 {
            &[]
        } else {
            &["entries", "payloads"]
        };
        for name in trees {
            for kv in db.open_tree(name)?.iter() {
                let (k, v) = kv?;
                n += (k.len() + v.len()) as u64;
            }
        }
        println!(
            "CHILD scan_bytes={n} secs={:.6} hwm_kb={} rss_kb={} start_hwm_kb={before}",
            t.elapsed().as_secs_f64(),
            proc_status_kb("VmHWM:"),
            proc_status_kb("VmRSS:")
        );
        return Ok(());
    }
    let t = Instant::now();
    let policy = Policy::default();
    let v = if c.archive {
        verify(&ArchiveSource::open(&c.dir)?, &policy, &|_| {})?
    } else {
        verify(&SledSource::open(&c.dir)?, &policy, &|_| {})?
    };
    let secs = t.elapsed().as_secs_f64();
    let hwm = proc_status_kb("VmHWM:");
    println!(
        "CHILD events={} findings={} secs={secs:.6} hwm_kb={hwm} start_hwm_kb={before}",
        v.size(),
        v.findings().len()
    );
    Ok(())
}

/// What a child verification reported.
pub struct ChildFigures {
    pub events: u64,
    pub secs: f64,
    pub hwm_kb: u64,
}

/// Verifies the ledger in `dir` (or the archive file, with `archive`) in a fresh child
/// process of this binary and parses its `CHILD ` line.
pub fn p5_child(dir: &Path, archive: bool) -> Res<ChildFigures> {
    // /proc/self/exe still executes this very binary if cargo relinked the file meanwhile.
    let proc_exe = PathBuf::from("/proc/self/exe");
    let exe = if proc_exe.exists() {
        proc_exe
    } else {
        std::env::current_exe()?
    };
    let flag = if archive {
        "--child-verify-archive"
    } else {
        "--child-verify"
    };
    let out = Command::new(exe).arg(flag).arg(dir).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(fail(format!(
            "P5 child failed: {}{}",
            text,
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .ok_or_else(|| fail("P5 child printed nothing"))?;
    let field = |name: &str| -> Option<&str> {
        line.split_whitespace()
            .find_map(|kv| kv.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
    };
    let events = field("events")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("child events"))?;
    let secs = field("secs")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("child secs"))?;
    let hwm_kb = field("hwm_kb")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| fail("child hwm"))?;
    let findings: u64 = field("findings").and_then(|v| v.parse().ok()).unwrap_or(0);
    if findings > 0 {
        log(format!(
            "P5: WARNING: {findings} findings verifying {}",
            dir.display()
        ));
    }
    Ok(ChildFigures {
        events,
        secs,
        hwm_kb,
    })
}

/// `--copy-raw SRC DST` (diagnostics): copy a ledger's `entries` and `payloads` trees into a
/// fresh two-tree sled database (the F3/F4 layout at the ledger's scale).
pub fn copy_raw(src: &Path, dst: &Path) -> Res<()> {
    let from = sled::Config::new().path(src.join("sled")).open()?;
    let to = sled::Config::new()
        .path(dst.join("sled"))
        .create_new(true)
        .open()?;
    for name in ["entries", "payloads"] {
        let (a, b) = (from.open_tree(name)?, to.open_tree(name)?);
        for kv in a.iter() {
            let (k, v) = kv?;
            b.insert(k, v)?;
        }
    }
    to.flush()?;
    Ok(())
}
