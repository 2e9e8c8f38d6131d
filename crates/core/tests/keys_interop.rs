//! Interoperability with the standard tools an investigator has: OpenSSL
//! (PKCS#8 private keys, SPKI public keys, raw Ed25519 signatures) and
//! OpenSSH's `ssh-keygen` (public key lines, SSHSIG signatures).
//!
//! These tests need `openssl` and `ssh-keygen` on PATH (CI installs
//! openssl and openssh-client); they fail, never skip, when a tool is absent.

use base64::Engine;
use caseledger_core::keys::SigningKey;
use caseledger_core::sshsig::{self, REPORT_NAMESPACE};
use caseledger_core::PublicKey;
use sha2::Digest;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(tool: &str, args: &[&str], dir: &Path, stdin: Option<&Path>) -> Output {
    let mut cmd = Command::new(tool);
    cmd.args(args).current_dir(dir);
    cmd.stdin(match stdin {
        Some(p) => Stdio::from(std::fs::File::open(dir.join(p)).unwrap()),
        None => Stdio::null(),
    });
    match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "`{tool}` is not installed or not on PATH; these interop tests need it \
             (apt-get install openssl openssh-client)"
        ),
        Err(e) => panic!("could not run {tool}: {e}"),
    }
}

fn ok(tool: &str, args: &[&str], dir: &Path, stdin: Option<&Path>) -> Output {
    let o = run(tool, args, dir, stdin);
    assert!(
        o.status.success(),
        "{tool} {args:?} failed ({}):\nstdout: {}\nstderr: {}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn fails(tool: &str, args: &[&str], dir: &Path, stdin: Option<&Path>) {
    let o = run(tool, args, dir, stdin);
    assert!(
        !o.status.success(),
        "{tool} {args:?} unexpectedly succeeded: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) {
    std::fs::write(dir.join(name), bytes).unwrap();
}

#[test]
fn openssl_reads_our_pkcs8_v1_private_key() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let pem = key.to_pkcs8_pem();
    write(dir.path(), "key.pem", pem.as_bytes());
    ok(
        "openssl",
        &["pkey", "-in", "key.pem", "-noout"],
        dir.path(),
        None,
    );
    // OpenSSL derives the same public key we do.
    let out = ok(
        "openssl",
        &["pkey", "-in", "key.pem", "-pubout"],
        dir.path(),
        None,
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        key.public_key().to_spki_pem()
    );
}

#[test]
fn we_read_openssl_generated_private_key() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "key.pem"],
        dir.path(),
        None,
    );
    let out = ok(
        "openssl",
        &["pkey", "-in", "key.pem", "-pubout"],
        dir.path(),
        None,
    );
    let key =
        SigningKey::from_pkcs8_pem(&std::fs::read_to_string(dir.path().join("key.pem")).unwrap())
            .unwrap();
    let their_pub = PublicKey::parse_any(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(key.public_key(), their_pub);
}

#[test]
fn openssl_verifies_our_raw_signature_and_rejects_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let msg = b"{\"report\":\"retention\",\"as_of\":\"2024-01-01\"}\n".to_vec();
    write(dir.path(), "pub.pem", key.public_key().to_spki_pem());
    write(dir.path(), "msg", &msg);
    write(dir.path(), "sig", key.sign(&msg).0);
    let verify = [
        "pkeyutl", "-verify", "-pubin", "-inkey", "pub.pem", "-rawin", "-in", "msg", "-sigfile",
        "sig",
    ];
    ok("openssl", &verify, dir.path(), None);
    let mut flipped = msg.clone();
    flipped[3] ^= 0x01;
    write(dir.path(), "msg", &flipped);
    fails("openssl", &verify, dir.path(), None);
}

#[test]
fn ssh_keygen_verifies_our_sshsig_and_rejects_a_changed_message() {
    let dir = tempfile::tempdir().unwrap();
    let key = SigningKey::generate();
    let msg = b"retention report body\n";
    let id = "reports@practice.example";
    write(
        dir.path(),
        "allowed_signers",
        sshsig::allowed_signers_line(id, &key.public_key(), REPORT_NAMESPACE).unwrap(),
    );
    write(dir.path(), "msg", msg);
    write(
        dir.path(),
        "msg.sig",
        sshsig::sign(&key, REPORT_NAMESPACE, msg).unwrap(),
    );
    let args = [
        "-Y",
        "verify",
        "-f",
        "allowed_signers",
        "-I",
        id,
        "-n",
        REPORT_NAMESPACE,
        "-s",
        "msg.sig",
    ];
    let o = ok("ssh-keygen", &args, dir.path(), Some(Path::new("msg")));
    assert!(String::from_utf8_lossy(&o.stdout).contains("Good \"caseledger-report\" signature"));
    // Another namespace is refused.
    let other_ns = [
        "-Y",
        "verify",
        "-f",
        "allowed_signers",
        "-I",
        id,
        "-n",
        "file",
        "-s",
        "msg.sig",
    ];
    fails("ssh-keygen", &other_ns, dir.path(), Some(Path::new("msg")));
    // A changed message is refused.
    write(dir.path(), "msg", b"retention report bodY\n");
    fails("ssh-keygen", &args, dir.path(), Some(Path::new("msg")));
}

#[test]
fn our_verify_accepts_ssh_keygen_signatures() {
    let dir = tempfile::tempdir().unwrap();
    ok(
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", "tester", "-f", "id"],
        dir.path(),
        None,
    );
    let msg = b"signed by ssh-keygen\n";
    write(dir.path(), "msg", msg);
    ok(
        "ssh-keygen",
        &["-Y", "sign", "-f", "id", "-n", REPORT_NAMESPACE, "msg"],
        dir.path(),
        None,
    );
    let armored = std::fs::read_to_string(dir.path().join("msg.sig")).unwrap();
    let pub_line = std::fs::read_to_string(dir.path().join("id.pub")).unwrap();
    let expected = PublicKey::from_openssh(&pub_line).unwrap();
    assert_eq!(
        sshsig::verify(&armored, REPORT_NAMESPACE, msg).unwrap(),
        expected
    );
    assert_eq!(PublicKey::parse_any(&pub_line).unwrap(), expected);
    assert!(sshsig::verify(&armored, REPORT_NAMESPACE, b"signed by ssh-keygen?\n").is_err());
    assert!(sshsig::verify(&armored, "file", msg).is_err());
}

#[test]
fn ssh_keygen_reads_our_openssh_public_line() {
    let dir = tempfile::tempdir().unwrap();
    let pk = SigningKey::generate().public_key();
    write(
        dir.path(),
        "key.pub",
        format!("{}\n", pk.to_openssh("reports@practice")),
    );
    let o = ok("ssh-keygen", &["-l", "-f", "key.pub"], dir.path(), None);
    let fp = base64::engine::general_purpose::STANDARD_NO_PAD
        .encode(sha2::Sha256::digest(pk.to_ssh_blob()));
    let out = String::from_utf8(o.stdout).unwrap();
    assert!(out.contains(&format!("SHA256:{fp}")), "{out}");
    assert!(
        out.contains("reports@practice") && out.contains("(ED25519)"),
        "{out}"
    );
}
