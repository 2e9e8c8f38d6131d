//! Events signed outside the ledger (issue 13): a record system signs the bytes `caseledger
//! event-bytes` prints with its own Ed25519 key (`openssl pkeyutl -sign -rawin`) or with
//! `ssh-keygen -Y sign`, and the actor, enrolled with its public key only, appends through
//! `import` and `append` with no private key of theirs on the machine; a tampered line, a
//! line signed for another ledger, one signed more than 24 h ago, or one whose salt is not
//! the one signed is refused and nothing is written. Authors also sign through a real
//! ssh-agent (`append --ssh-key`, `import --ssh-key`), checked with `ssh-keygen -Y verify`.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use caseledger_core::event::{AuthorSignature, EVENT_SSHSIG_NAMESPACE};
use caseledger_core::{sshsig, Seq, Timestamp};
use caseledger_testkit::cli::{bin_in, fails, ok, stderr, stdout, Fixture};
use caseledger_testkit::ORIGIN;
use serde_json::{json, Value};
use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The worked example of docs/FORMAT.md §3 ("Pre-signed events: the bytes to sign"); the
/// same hex is asserted by the core unit test `the_worked_example_of_the_bytes_to_sign`.
const WORKED_EXAMPLE_LINE: &str = r#"{"record":"C-1","kind":"progress_note","occurred_on":"2026-12-01","author":"lic-1","payload":"note","signed_at":"2026-12-02T09:30:00Z","nonce":"22222222222222222222222222222222","salt":"1111111111111111111111111111111111111111111111111111111111111111"}"#;
const WORKED_EXAMPLE_HEX: &str = "636173656c6564676572206576656e74207632001b000000000000006578616d706c652e6f72672f70726163746963652d6c6564676572010300000000000000432d3105000000000000006c69632d3109000000ea070c0100767149a361060001c582d6cf0b7a8c69f3d092d3ca48a4bd984c4055adf703b960fddc2a36ae2fe522222222222222222222222222222222";

fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn run_in(f: &Fixture, args: &[&str], env: &[(&str, &Path)], stdin: Option<&[u8]>) -> Output {
    let mut c = bin_in(f.dir());
    for (k, v) in env {
        c.env(k, v);
    }
    c.args(args);
    if let Some(s) = stdin {
        c.write_stdin(s.to_vec());
    }
    c.output().unwrap()
}

/// Runs a tool in the fixture's directory; asserts success; returns stdout.
fn tool(f: &Fixture, prog: &str, args: &[&str]) -> Vec<u8> {
    let o = Command::new(prog)
        .args(args)
        .current_dir(f.dir())
        .output()
        .unwrap();
    assert!(o.status.success(), "{prog} {args:?}: {}", stderr(&o));
    o.stdout
}

/// An Ed25519 key made by openssl (the record system's), enrolled as `id` from its public
/// half only.
fn enrol_openssl_key(f: &Fixture, id: &str) {
    tool(
        f,
        "openssl",
        &["genpkey", "-algorithm", "ed25519", "-out", "author.pem"],
    );
    tool(
        f,
        "openssl",
        &[
            "pkey",
            "-in",
            "author.pem",
            "-pubout",
            "-out",
            "author.pub.pem",
        ],
    );
    ok(&f.run(&[
        "actor",
        "add",
        "--ledger",
        "L",
        "--id",
        id,
        "--role",
        "licensee",
        "--public-key",
        "author.pub.pem",
    ]));
    // The ledger's side has the public key only.
    assert!(!f.keys().join("actors").join(format!("{id}.pem")).exists());
}

/// A line of a pre-signed event, without its signature: signed now (or `signed_at`), with
/// a fresh nonce and salt.
fn line(author: &str, kind: &str, payload: Option<&str>, signed_at: Timestamp) -> Value {
    let mut v = json!({
        "record": "C-OPEN",
        "kind": kind,
        "occurred_on": "2025-05-03",
        "author": author,
        "signed_at": signed_at.to_string(),
        "nonce": hex(&rand16()),
    });
    if let Some(p) = payload {
        v["payload"] = json!(p);
        v["salt"] = json!(hex(&[rand16(), rand16()].concat()));
    }
    v
}

fn rand16() -> Vec<u8> {
    rand::random::<[u8; 16]>().to_vec()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// What `event-bytes` prints for `line` (for this ledger, or for `--origin`), signed with
/// author.pem by `openssl pkeyutl -sign -rawin`: the signature, base64.
fn openssl_sign(f: &Fixture, line: &Value, origin: Option<&str>) -> String {
    let mut args = vec!["event-bytes"];
    match origin {
        Some(o) => args.extend(["--origin", o]),
        None => args.extend(["--ledger", "L"]),
    }
    let o = run_in(f, &args, &[], Some(line.to_string().as_bytes()));
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    fs::write(f.path("msg.bin"), &o.stdout).unwrap();
    let sig = tool(
        f,
        "openssl",
        &[
            "pkeyutl",
            "-sign",
            "-inkey",
            "author.pem",
            "-rawin",
            "-in",
            "msg.bin",
        ],
    );
    assert_eq!(sig.len(), 64);
    B64.encode(sig)
}

fn signed(mut line: Value, sig: &str) -> String {
    line["signature"] = json!(sig);
    line.to_string() + "\n"
}

/// The ledger's state ([`Fixture::snapshot`]) without this test's own scratch files.
fn state(f: &Fixture) -> String {
    let tmp = format!("{}/", f.dir().display());
    f.snapshot()
        .lines()
        .filter(|l| !l.starts_with(&tmp) || l.contains("/L/") || l.contains("/.config/"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn import(f: &Fixture, text: &str) -> Output {
    f.write("signed.jsonl", text.as_bytes());
    f.run(&["import", "--ledger", "L", "signed.jsonl"])
}

#[test]
fn the_bytes_to_sign_are_the_worked_example_of_format_md() {
    let f = Fixture::empty();
    let o = run_in(
        &f,
        &[
            "event-bytes",
            "--origin",
            "example.org/practice-ledger",
            "--hex",
        ],
        &[],
        Some(WORKED_EXAMPLE_LINE.as_bytes()),
    );
    assert_eq!(stdout(&o).trim(), WORKED_EXAMPLE_HEX, "{}", stderr(&o));
    let raw = run_in(
        &f,
        &["event-bytes", "--origin", "example.org/practice-ledger"],
        &[],
        Some(WORKED_EXAMPLE_LINE.as_bytes()),
    );
    assert_eq!(hex(&raw.stdout), WORKED_EXAMPLE_HEX);
    let format = include_str!("../../docs/FORMAT.md");
    assert!(
        format.contains(WORKED_EXAMPLE_LINE),
        "FORMAT.md lost the example line"
    );
    let documented: String = format
        .split("<!-- worked-example-bytes -->")
        .nth(1)
        .expect("FORMAT.md marks the example's bytes")
        .lines()
        .skip_while(|l| !l.starts_with("```"))
        .skip(1)
        .take_while(|l| !l.starts_with("```"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    assert_eq!(
        documented, WORKED_EXAMPLE_HEX,
        "FORMAT.md's field-by-field bytes"
    );
    // Without the values the bytes hold, no bytes: a clear error naming the field.
    let no_nonce =
        WORKED_EXAMPLE_LINE.replace(r#","nonce":"22222222222222222222222222222222""#, "");
    let e = fails(&run_in(
        &f,
        &["event-bytes", "--origin", "example.org/practice-ledger"],
        &[],
        Some(no_nonce.as_bytes()),
    ));
    assert!(e.contains("nonce: required"), "{e}");
}

#[test]
fn an_event_signed_with_openssl_appends_through_import_and_append() {
    if !have("openssl") {
        println!("skipped: openssl not installed");
        return;
    }
    let f = Fixture::small();
    enrol_openssl_key(&f, "lic-hsm");
    let now = Timestamp::now();
    let a = line("lic-hsm", "progress_note", Some("HSM-SIGNED-NOTE"), now);
    let b = line("lic-hsm", "contact", None, now);
    let c = line("lic-hsm", "consult", Some("consult via append"), now);
    let (sa, sb, sc) = (
        openssl_sign(&f, &a, None),
        openssl_sign(&f, &b, None),
        openssl_sign(&f, &c, None),
    );
    // The record system's key leaves the machine: nothing here can sign as lic-hsm.
    fs::remove_file(f.path("author.pem")).unwrap();
    let before = f.size();
    let o = import(&f, &(signed(a, &sa) + &signed(b, &sb)));
    ok(&o);
    assert_eq!(f.size(), before + 2);
    // `append` takes the same values as flags.
    f.write("consult.txt", b"consult via append");
    let o = f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-hsm",
        "--record",
        "C-OPEN",
        "--kind",
        "consult",
        "--occurred-on",
        "2025-05-03",
        "--payload-file",
        "consult.txt",
        "--signed-at",
        c["signed_at"].as_str().unwrap(),
        "--nonce",
        c["nonce"].as_str().unwrap(),
        "--salt",
        c["salt"].as_str().unwrap(),
        "--signature",
        &sc,
    ]);
    ok(&o);
    assert_eq!(f.size(), before + 3);
    let v = f.run(&["verify", "--ledger", "L"]);
    assert_eq!(v.status.code(), Some(0), "{}", stderr(&v));
    // The stored signature is the one made by openssl, byte for byte.
    let ledger =
        caseledger_store::Ledger::open(f.ledger(), caseledger_store::OpenOptions::default())
            .unwrap();
    let e = ledger.entry(Seq(before)).unwrap().unwrap();
    assert_eq!(
        e.event.signature,
        AuthorSignature::Ed25519(caseledger_core::SignatureBytes(
            B64.decode(&sa).unwrap().try_into().unwrap()
        ))
    );
}

#[test]
fn a_pre_signed_line_that_does_not_match_its_signature_is_refused_and_nothing_is_written() {
    if !have("openssl") {
        println!("skipped: openssl not installed");
        return;
    }
    let f = Fixture::small();
    enrol_openssl_key(&f, "lic-hsm");
    let now = Timestamp::now();
    let good = line("lic-hsm", "contact", None, now);
    let good = signed(good.clone(), &openssl_sign(&f, &good, None));
    let snap = state(&f);
    let refused = |text: String, why: &str| {
        let e = fails(&import(&f, &(good.clone() + &text)));
        assert!(e.contains("line 2:") && e.contains(why), "{e}");
        assert!(e.contains("nothing was imported"), "{e}");
        assert!(!e.contains("SECRET"), "clinical content in an error: {e}");
        assert_eq!(state(&f), snap, "a refused import wrote something");
    };
    // A field changed after signing.
    let mut l = line("lic-hsm", "progress_note", Some("SECRET note"), now);
    let sig = openssl_sign(&f, &l, None);
    l["occurred_on"] = json!("2025-05-04");
    refused(signed(l, &sig), "bad signature from lic-hsm");
    // The payload changed after signing.
    let mut l = line("lic-hsm", "progress_note", Some("SECRET note"), now);
    let sig = openssl_sign(&f, &l, None);
    l["payload"] = json!("SECRET note, edited");
    refused(signed(l, &sig), "bad signature from lic-hsm");
    // Another salt than the one signed: the commitment rebuilt from salt and payload is
    // not the signed one.
    let mut l = line("lic-hsm", "progress_note", Some("SECRET note"), now);
    let sig = openssl_sign(&f, &l, None);
    l["salt"] = json!(hex(&[rand16(), rand16()].concat()));
    refused(signed(l, &sig), "bad signature from lic-hsm");
    // Signed for another ledger.
    let l = line("lic-hsm", "progress_note", Some("SECRET note"), now);
    let sig = openssl_sign(&f, &l, Some("example.org/other-ledger"));
    refused(signed(l, &sig), "bad signature from lic-hsm");
    // Signed 25 hours ago: older than the default 24 h lag, correctly signed all the same.
    let old = Timestamp(now.0 - 25 * 3600 * 1_000_000);
    let l = line("lic-hsm", "progress_note", Some("SECRET note"), old);
    let sig = openssl_sign(&f, &l, None);
    refused(signed(l, &sig), "more than the allowed 86400 s later");
    // A signature without the values it signs, or malformed: a parse error, also nothing.
    let mut l = line("lic-hsm", "contact", None, now);
    l.as_object_mut().unwrap().remove("nonce");
    let e = fails(&import(
        &f,
        &(good.clone() + &signed(l, &B64.encode([0u8; 64]))),
    ));
    assert!(e.contains("line 2: nonce: required"), "{e}");
    let l = line("lic-hsm", "contact", None, now);
    let e = fails(&import(&f, &(good.clone() + &signed(l, "AAAA"))));
    assert!(e.contains("line 2: signature: 3 bytes"), "{e}");
    assert_eq!(state(&f), snap);
    // The same refusal through `append`.
    let l = line("lic-hsm", "contact", None, now);
    let sig = openssl_sign(&f, &l, None);
    let e = fails(&f.run(&[
        "append",
        "--ledger",
        "L",
        "--author",
        "lic-hsm",
        "--record",
        "C-OPEN",
        "--kind",
        "contact",
        "--occurred-on",
        "2025-05-09",
        "--signed-at",
        l["signed_at"].as_str().unwrap(),
        "--nonce",
        l["nonce"].as_str().unwrap(),
        "--signature",
        &sig,
    ]));
    assert!(e.contains("bad signature from lic-hsm"), "{e}");
    assert_eq!(state(&f), snap);
    // The good line alone still goes in.
    ok(&import(&f, &good));
}

#[test]
fn an_sshsig_from_ssh_keygen_is_a_pre_signed_signature() {
    if !have("ssh-keygen") {
        println!("skipped: ssh-keygen not installed");
        return;
    }
    let f = Fixture::small();
    tool(
        &f,
        "ssh-keygen",
        &["-q", "-t", "ed25519", "-N", "", "-C", "dev", "-f", "dev"],
    );
    ok(&f.run(&[
        "actor",
        "add",
        "--ledger",
        "L",
        "--id",
        "lic-dev",
        "--role",
        "licensee",
        "--public-key",
        "dev.pub",
    ]));
    let l = line(
        "lic-dev",
        "progress_note",
        Some("device note"),
        Timestamp::now(),
    );
    let o = run_in(
        &f,
        &["event-bytes", "--ledger", "L"],
        &[],
        Some(l.to_string().as_bytes()),
    );
    fs::write(f.path("msg.bin"), &o.stdout).unwrap();
    tool(
        &f,
        "ssh-keygen",
        &[
            "-Y",
            "sign",
            "-n",
            "caseledger-event",
            "-f",
            "dev",
            "msg.bin",
        ],
    );
    let armored = fs::read_to_string(f.path("msg.bin.sig")).unwrap();
    ok(&import(&f, &signed(l, &armored)));
    ok(&f.run(&["verify", "--ledger", "L"]));
}

#[test]
fn authors_sign_through_ssh_agent() {
    if !crate::agent::available() {
        println!("skipped: ssh-agent, ssh-add or ssh-keygen not installed");
        return;
    }
    let f = Fixture::small();
    crate::agent::with_key(&f, "id_ed25519", "lic-ssh", |sock| {
        // The private key lives in the agent only.
        fs::remove_file(f.path("id_ed25519")).unwrap();
        ok(&f.run(&[
            "actor",
            "add",
            "--ledger",
            "L",
            "--id",
            "lic-ssh",
            "--role",
            "licensee",
            "--public-key",
            "id_ed25519.pub",
        ]));
        let env = [("SSH_AUTH_SOCK", sock)];
        let before = f.size();
        let o = run_in(
            &f,
            &[
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-ssh",
                "--record",
                "C-OPEN",
                "--kind",
                "progress_note",
                "--occurred-on",
                "2025-05-03",
                "--payload",
                "-",
                "--ssh-key",
                "id_ed25519.pub",
            ],
            &env,
            Some(b"signed through the agent"),
        );
        ok(&o);
        // Import: lic-ssh's lines through the agent, lic-1's with its key file.
        f.write(
            "agent.jsonl",
            concat!(
                r#"{"record":"C-OPEN","kind":"contact","occurred_on":"2025-05-04","author":"lic-ssh","payload":"agent contact"}"#,
                "\n",
                r#"{"record":"C-OPEN","kind":"contact","occurred_on":"2025-05-05","author":"lic-1"}"#,
                "\n"
            )
            .as_bytes(),
        );
        ok(&run_in(
            &f,
            &[
                "import",
                "--ledger",
                "L",
                "--ssh-key",
                "id_ed25519.pub",
                "agent.jsonl",
            ],
            &env,
            None,
        ));
        assert_eq!(f.size(), before + 3);
        ok(&f.run(&["verify", "--ledger", "L"]));
        // Another author's key is not this one: refused before anything is signed.
        let snap = state(&f);
        let e = fails(&run_in(
            &f,
            &[
                "append",
                "--ledger",
                "L",
                "--author",
                "lic-1",
                "--record",
                "C-OPEN",
                "--kind",
                "contact",
                "--occurred-on",
                "2025-05-06",
                "--ssh-key",
                "id_ed25519.pub",
            ],
            &env,
            None,
        ));
        assert!(e.contains("not lic-1's enrolled key"), "{e}");
        // Without the agent: a clear error.
        let e = fails(&f.run(&[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-ssh",
            "--record",
            "C-OPEN",
            "--kind",
            "contact",
            "--occurred-on",
            "2025-05-06",
            "--ssh-key",
            "id_ed25519.pub",
        ]));
        assert!(e.contains("SSH_AUTH_SOCK"), "{e}");
        assert_eq!(state(&f), snap);
        // The stored author signatures are SSHSIGs: `ssh-keygen -Y verify` checks them.
        let ledger =
            caseledger_store::Ledger::open(f.ledger(), caseledger_store::OpenOptions::default())
                .unwrap();
        let key = ledger.registry().actors[&caseledger_core::ActorId::new("lic-ssh").unwrap()].key;
        fs::write(
            f.path("allowed_signers"),
            sshsig::allowed_signers_line("lic-ssh", &key, EVENT_SSHSIG_NAMESPACE).unwrap(),
        )
        .unwrap();
        for seq in [before, before + 1] {
            let e = ledger.entry(Seq(seq)).unwrap().unwrap();
            let AuthorSignature::SshSig(sig) = e.event.signature else {
                panic!("seq {seq}: not an SSHSIG author signature");
            };
            fs::write(
                f.path("event.msg"),
                e.event.event.signing_message(ORIGIN).unwrap(),
            )
            .unwrap();
            fs::write(
                f.path("event.sig"),
                sshsig::armor(&key, EVENT_SSHSIG_NAMESPACE, &sig),
            )
            .unwrap();
            let v = Command::new("sh")
                .arg("-c")
                .arg("ssh-keygen -Y verify -f allowed_signers -I lic-ssh -n caseledger-event -s event.sig < event.msg")
                .current_dir(f.dir())
                .output()
                .unwrap();
            assert!(v.status.success(), "seq {seq}: {}", stderr(&v));
        }
    });
}

/// Custodians and admins sign as authors do: through ssh-agent (`--ssh-key`) or with a key
/// file given by `--key` (issue 13: every command that signs takes its key from the key
/// directory, `--key FILE` or ssh-agent).
#[test]
fn custodians_and_admins_sign_through_ssh_agent_or_a_key_file() {
    if !crate::agent::available() {
        println!("skipped: ssh-agent, ssh-add or ssh-keygen not installed");
        return;
    }
    let f = Fixture::small();
    crate::agent::with_key(&f, "cust", "cust", |sock| {
        let env = [("SSH_AUTH_SOCK", sock)];
        fs::remove_file(f.path("cust")).unwrap();
        ok(&f.run(&[
            "actor",
            "add",
            "--ledger",
            "L",
            "--id",
            "cust-ssh",
            "--role",
            "custodian",
            "--public-key",
            "cust.pub",
        ]));
        let before = f.size();
        // A hold placed and released, and a lawful destruction, all through the agent.
        for verb in ["place", "release"] {
            ok(&run_in(
                &f,
                &[
                    "hold",
                    verb,
                    "--ledger",
                    "L",
                    "--record",
                    "C-NEW",
                    "--matter",
                    "M-7",
                    "--author",
                    "cust-ssh",
                    "--ssh-key",
                    "cust.pub",
                ],
                &env,
                None,
            ));
        }
        ok(&run_in(
            &f,
            &[
                "destroy",
                "--ledger",
                "L",
                "--record",
                "C-OLD",
                "--author",
                "cust-ssh",
                "--reason",
                "policy R-7",
                "--ssh-key",
                "cust.pub",
            ],
            &env,
            None,
        ));
        assert_eq!(f.size(), before + 3);
        // The agent's key is not cust-1's: the store refuses the signature, nothing written.
        let snap = state(&f);
        let e = fails(&run_in(
            &f,
            &[
                "hold",
                "place",
                "--ledger",
                "L",
                "--record",
                "C-NEW",
                "--matter",
                "M-8",
                "--author",
                "cust-1",
                "--ssh-key",
                "cust.pub",
            ],
            &env,
            None,
        ));
        assert!(e.contains("cust-1"), "{e}");
        assert_eq!(state(&f), snap);
        // An admin key held in a file of its own, outside the key directory (`--key`).
        let o = f.run(&["keys", "generate", "--out", "admin2.pem"]);
        ok(&o);
        f.write("admin2.pub", &o.stdout);
        ok(&f.run(&[
            "actor",
            "add",
            "--ledger",
            "L",
            "--id",
            "admin2",
            "--role",
            "admin",
            "--public-key",
            "admin2.pub",
        ]));
        ok(&f.run(&[
            "actor",
            "revoke",
            "--ledger",
            "L",
            "--id",
            "cust-ssh",
            "--author",
            "admin2",
            "--key",
            "admin2.pem",
        ]));
        // The stored signatures: SSHSIG for the agent's three, Ed25519 for the file's.
        let ledger =
            caseledger_store::Ledger::open(f.ledger(), caseledger_store::OpenOptions::default())
                .unwrap();
        for seq in before..before + 3 {
            let e = ledger.entry(Seq(seq)).unwrap().unwrap();
            assert!(
                matches!(e.event.signature, AuthorSignature::SshSig(_)),
                "seq {seq}: not an SSHSIG"
            );
        }
        let last = ledger.head().size - 1;
        let e = ledger.entry(Seq(last)).unwrap().unwrap();
        assert!(matches!(e.event.signature, AuthorSignature::Ed25519(_)));
        assert_eq!(e.event.event.author.as_str(), "admin2");
        ledger.close().unwrap();
        ok(&f.run(&["verify", "--ledger", "L"]));
    });
}
