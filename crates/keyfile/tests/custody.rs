//! Key custody against the real tools: ssh-agent with an `ssh-add`ed Ed25519 key (checked
//! by `ssh-keygen -Y verify`), and passphrase-encrypted PKCS#8 keys made by `openssl`.
//! A test whose tool is missing says so and passes (CI installs openssh-client and openssl).

use caseledger_core::keys::SigningKey;
use caseledger_keyfile::agent::{Agent, AgentError, AgentSigner};
use caseledger_keyfile::{KeyFileError, Passphrase, PassphraseSource, Signer};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A private ssh-agent on a socket in a temporary directory; killed on drop.
struct TestAgent {
    child: Child,
    sock: PathBuf,
}

impl TestAgent {
    fn start(dir: &Path) -> TestAgent {
        let sock = dir.join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&sock)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent starts");
        // Wait for the socket to appear (the agent creates it before serving).
        for _ in 0..500 {
            if sock.exists() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert!(sock.exists(), "ssh-agent made no socket");
        TestAgent { child, sock }
    }
}

impl Drop for TestAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().expect("tool runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn ssh_agent_signs_an_sshsig_that_ssh_keygen_verifies() {
    if !have("ssh-agent") || !have("ssh-keygen") || !have("ssh-add") {
        println!("skipped: ssh-agent, ssh-add or ssh-keygen not installed (apt-get install openssh-client)");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let agent = TestAgent::start(t.path());
    let id = t.path().join("id_ed25519");
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "author@test", "-f"])
        .arg(&id));
    let pub_line = fs::read_to_string(id.with_extension("pub")).unwrap();
    let pk = caseledger_core::PublicKey::from_openssh(pub_line.trim()).unwrap();

    // Not yet added: the agent does not hold it.
    let a = Agent::at(&agent.sock);
    assert!(a.ed25519_keys().unwrap().is_empty());
    assert!(matches!(
        AgentSigner::new(Agent::at(&agent.sock), pk),
        Err(AgentError::KeyNotFound(_))
    ));
    run(Command::new("ssh-add")
        .arg(&id)
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(Stdio::null()));
    let keys = a.ed25519_keys().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].0, pk);
    assert_eq!(keys[0].1, "author@test");

    let signer = AgentSigner::new(Agent::at(&agent.sock), pk).unwrap();
    assert_eq!(signer.public_key(), pk);
    // A plain signature verifies under the key.
    let raw = signer.sign(b"entry bytes").unwrap();
    pk.verify(b"entry bytes", &raw).unwrap();

    let msg = b"an event, signed through the agent\n";
    let armored = signer.sign_sshsig("caseledger-event", msg).unwrap();
    assert_eq!(
        caseledger_core::sshsig::verify(&armored, "caseledger-event", msg).unwrap(),
        pk
    );
    let sig_path = t.path().join("msg.sig");
    fs::write(&sig_path, &armored).unwrap();
    let allowed = t.path().join("allowed_signers");
    fs::write(
        &allowed,
        caseledger_core::sshsig::allowed_signers_line("author@test", &pk, "caseledger-event")
            .unwrap(),
    )
    .unwrap();
    let verify = |ns: &str, data: &[u8]| {
        let mut c = Command::new("ssh-keygen")
            .args(["-Y", "verify", "-f"])
            .arg(&allowed)
            .args(["-I", "author@test", "-n", ns, "-s"])
            .arg(&sig_path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        c.stdin.take().unwrap().write_all(data).unwrap();
        c.wait_with_output().unwrap()
    };
    let good = verify("caseledger-event", msg);
    assert!(
        good.status.success(),
        "ssh-keygen -Y verify: {}",
        String::from_utf8_lossy(&good.stderr)
    );
    assert!(!verify("caseledger-event", b"another message")
        .status
        .success());
    assert!(!verify("caseledger-report", msg).status.success());

    // A key removed from the agent can no longer sign.
    run(Command::new("ssh-add")
        .arg("-D")
        .env("SSH_AUTH_SOCK", &agent.sock)
        .stdin(Stdio::null()));
    let err = signer.sign(b"x").unwrap_err().to_string();
    assert!(err.contains("refused"), "{err}");
    // A socket nobody listens on: a clear error naming it.
    let err = Agent::at(t.path().join("none.sock"))
        .ed25519_keys()
        .unwrap_err();
    assert!(err.to_string().contains("none.sock"), "{err}");
}

fn write_0600(path: &Path, bytes: &[u8]) {
    fs::write(path, bytes).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn encrypted_pkcs8_round_trip_and_wrong_passphrase() {
    let t = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let p = t.path().join("k.pem");
    let pw = Passphrase::new("open sesame".into()).unwrap();
    caseledger_keyfile::write_new_encrypted(&p, &key, &pw).unwrap();
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = fs::read_to_string(&p).unwrap();
    assert!(
        text.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----\n"),
        "{text}"
    );
    assert!(caseledger_keyfile::is_encrypted(&p).unwrap());

    let pwfile = t.path().join("pw");
    write_0600(&pwfile, b"open sesame\n");
    let got = caseledger_keyfile::read_with(&p, &PassphraseSource::File(pwfile.clone())).unwrap();
    assert_eq!(got.public_key(), key.public_key());

    write_0600(&pwfile, b"open sesame!\n");
    let err =
        caseledger_keyfile::read_with(&p, &PassphraseSource::File(pwfile.clone())).unwrap_err();
    assert!(matches!(err, KeyFileError::WrongPassphrase { .. }), "{err}");
    let shown = format!("{err} {err:?}");
    assert!(
        shown.contains("wrong passphrase") && !shown.contains("sesame"),
        "{shown}"
    );
    let seed_hex = hex::encode(*key.seed());
    assert!(!shown.contains(&seed_hex));

    let err = caseledger_keyfile::read_with(&p, &PassphraseSource::Unavailable).unwrap_err();
    assert!(
        err.to_string().contains("CASELEDGER_PASSPHRASE_FILE"),
        "{err}"
    );
    // A passphrase file others can read is refused like a key file.
    fs::set_permissions(&pwfile, fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(
        caseledger_keyfile::read_with(&p, &PassphraseSource::File(pwfile)),
        Err(KeyFileError::Unprotected { .. })
    ));

    if have("openssl") {
        // openssl reads ours with the passphrase.
        let out = Command::new("openssl")
            .args(["pkey", "-in"])
            .arg(&p)
            .args(["-passin", "pass:open sesame", "-pubout"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            key.public_key().to_spki_pem()
        );
    }
}

#[test]
fn openssl_encrypted_key_reads_back() {
    if !have("openssl") {
        println!("skipped: openssl not installed");
        return;
    }
    let t = tempfile::tempdir().unwrap();
    let plain = t.path().join("plain.pem");
    let key = SigningKey::generate();
    caseledger_keyfile::write_new(&plain, &key).unwrap();
    let enc = t.path().join("enc.pem");
    run(Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-in"])
        .arg(&plain)
        .arg("-out")
        .arg(&enc)
        .args(["-passout", "pass:hunter2 long"]));
    fs::set_permissions(&enc, fs::Permissions::from_mode(0o600)).unwrap();
    let pwfile = t.path().join("pw");
    write_0600(&pwfile, b"hunter2 long");
    let got = caseledger_keyfile::read_with(&enc, &PassphraseSource::File(pwfile.clone())).unwrap();
    assert_eq!(got.public_key(), key.public_key());
    write_0600(&pwfile, b"hunter3 long");
    assert!(matches!(
        caseledger_keyfile::read_with(&enc, &PassphraseSource::File(pwfile)),
        Err(KeyFileError::WrongPassphrase { .. })
    ));
}
