//! A real ssh-agent for one test: its socket in the fixture's directory, one Ed25519 key
//! added, stopped when the test ends (also when it panics).

use caseledger_testkit::cli::Fixture;
use std::path::Path;
use std::process::{Command, Stdio};

/// Whether ssh-agent, ssh-add and ssh-keygen are installed (openssh-client).
pub(crate) fn available() -> bool {
    ["ssh-agent", "ssh-add", "ssh-keygen"].iter().all(|tool| {
        Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

/// Starts ssh-agent on `agent.sock` in the fixture, makes an Ed25519 key `name` (and
/// `name.pub`) there with `comment`, adds it to the agent, runs `body` with the socket,
/// and stops the agent whatever `body` does.
pub(crate) fn with_key(f: &Fixture, name: &str, comment: &str, body: impl FnOnce(&Path)) {
    let sock = f.path("agent.sock");
    let mut agent = Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh-agent");
    for _ in 0..500 {
        if sock.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let key = f.path(name);
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(&key)
            .status()
            .expect("ssh-keygen");
        assert!(made.success(), "ssh-keygen failed");
        let added = Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &sock)
            .stdin(Stdio::null())
            .output()
            .expect("ssh-add");
        assert!(
            added.status.success(),
            "{}",
            String::from_utf8_lossy(&added.stderr)
        );
        body(&sock);
    }));
    let _ = agent.kill();
    let _ = agent.wait();
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
