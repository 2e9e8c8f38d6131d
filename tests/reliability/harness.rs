//! The campaigns' harness: the short/full and deliberately-broken switches, seeds, and the
//! child processes (this test binary re-run as `child::child_main`). The fixtures (keys,
//! ledgers, canary events) are in `caseledger_testkit::campaign`.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Whether this is the long run (`CASELEDGER_TORTURE=full`).
pub fn full() -> bool {
    std::env::var("CASELEDGER_TORTURE").is_ok_and(|v| v == "full")
}

/// Whether the deliberately broken variant `what` was asked for (`CASELEDGER_BREAK=what`):
/// each campaign has one, run by hand to show the campaign can fail (docs/RELIABILITY.md).
pub fn broken(what: &str) -> bool {
    std::env::var("CASELEDGER_BREAK").is_ok_and(|v| v == what)
}

/// Short or full count.
pub fn count(short: u64, long: u64) -> u64 {
    if full() {
        long
    } else {
        short
    }
}

/// A campaign seed: `CASELEDGER_SEED` if set (to replay a failure), else fixed per campaign.
pub fn seed(campaign: u64) -> u64 {
    std::env::var("CASELEDGER_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0000 + campaign)
}

/// A command that runs this test binary as child `mode` (see [`crate::child`]).
pub fn child_command(mode: &str, dir: &Path) -> Command {
    let exe = std::env::current_exe().expect("current exe");
    let mut c = Command::new(exe);
    c.args([
        "--exact",
        "child::child_main",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
        "-q",
    ])
    .env("CASELEDGER_CHILD", mode)
    .env("CASELEDGER_CHILD_DIR", dir)
    .env_remove("RUST_BACKTRACE")
    .stdin(Stdio::null());
    c
}

/// The end of a child run.
#[derive(Debug)]
pub struct ChildRun {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Whether the parent had to kill it (timeout).
    pub timed_out: bool,
    /// Everything printed.
    pub stdout: String,
    /// Everything printed on stderr.
    pub stderr: String,
}

/// Runs a child to completion with a timeout (kills it after `limit`).
pub fn run_child(mut cmd: Command, limit: Duration) -> ChildRun {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let out = drain(&mut child, true);
    let err = drain(&mut child, false);
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > limit {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    ChildRun {
        code: status.code(),
        timed_out,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn drain(child: &mut Child, stdout: bool) -> std::thread::JoinHandle<String> {
    let mut r: Box<dyn Read + Send> = if stdout {
        Box::new(child.stdout.take().expect("piped"))
    } else {
        Box::new(child.stderr.take().expect("piped"))
    };
    std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = r.read_to_end(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    })
}

/// Lines of a child's stdout that start with `tag ` (the rest of each line).
pub fn tagged<'a>(stdout: &'a str, tag: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    stdout
        .lines()
        .filter_map(move |l| l.strip_prefix(tag).and_then(|r| r.strip_prefix(' ')))
}
