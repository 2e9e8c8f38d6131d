//! Issue 14, outside time on the relying party's terms: the project's own witness
//! (`caseledger witness serve` on loopback, some under `faketime`) and a test TSA cosign and
//! timestamp real seals; `verify --witness K --quorum N --tsa-chain FILE --skew
//! --max-staleness` judges each entry's `recorded_at` against them. The insider's
//! clock-forward attack (appends under `faketime +5y`) is caught at the next cosigned seal.

use caseledger_testkit::cli::{caseledger_bin, ok, stderr, stdout, Fixture};
use caseledger_testkit::tsa::{TestTsa, TsaOptions};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

/// `caseledger ARGS` in the fixture's directory, under `faketime SPEC` when given.
fn run_at(f: &Fixture, fake: Option<&str>, args: &[&str]) -> Output {
    let mut c = match fake {
        Some(spec) => {
            let mut c = Command::new("faketime");
            c.args(["-f", spec]).arg(caseledger_bin());
            c
        }
        None => Command::new(caseledger_bin()),
    };
    c.args(args)
        .current_dir(f.dir())
        .env("XDG_CONFIG_HOME", f.dir().join(".config"))
        .env("NO_COLOR", "1")
        .env_remove("CASELEDGER_LEDGER")
        .env_remove("CASELEDGER_KEYS")
        .env_remove("CASELEDGER_PASSPHRASE_FILE")
        .env_remove("SSH_AUTH_SOCK")
        .output()
        .expect("caseledger runs (faketime installed: apt-get install faketime)")
}

/// A `caseledger witness serve` child on 127.0.0.1, its clock shifted by `fake`.
struct Witness {
    child: Child,
    key: String,
}

impl Witness {
    fn start(f: &Fixture, name: &str, fake: Option<&str>) -> Witness {
        let key = format!("{name}.pem");
        ok(&f.run(&["keys", "generate", "--out", &key]));
        if !f.path("logs.txt").exists() {
            let vkey = ok(&f.run(&["keys", "export", "--ledger", "L"]));
            f.write("logs.txt", vkey.as_bytes());
        }
        let mut c = match fake {
            Some(spec) => {
                let mut c = Command::new("faketime");
                c.args(["-f", spec]).arg(caseledger_bin());
                c
            }
            None => Command::new(caseledger_bin()),
        };
        let state = format!("{name}-state");
        let mut child = c
            .args(["witness", "serve", "--addr", "127.0.0.1:0", "--key", &key])
            .args(["--logs", "logs.txt", "--state", &state, "--name", name])
            .current_dir(f.dir())
            .env("XDG_CONFIG_HOME", f.dir().join(".config"))
            .env_remove("CASELEDGER_KEYS")
            .env_remove("CASELEDGER_PASSPHRASE_FILE")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            // Its own process group: `faketime` runs the witness as a child of its own, and
            // killing only the wrapper would leave the witness running after the test.
            .process_group(0)
            .spawn()
            .expect("witness serve starts");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let url = lines.next().expect("a URL line").expect("utf-8");
        let key = lines.next().expect("a key line").expect("utf-8");
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        ok(&f.run(&["witness", "add", "--ledger", "L", name, &url, &key]));
        Witness { child, key }
    }
}

impl Drop for Witness {
    fn drop(&mut self) {
        // The whole group (the faketime wrapper and the witness under it).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sync(f: &Fixture) {
    let o = f.run(&["witness", "sync", "--ledger", "L", "--timeout", "5"]);
    ok(&o);
}

/// A progress note on C-OPEN, appended with the clock shifted by `fake`; its seq.
fn note_at(f: &Fixture, fake: Option<&str>) -> u64 {
    let seq = f.size();
    ok(&run_at(
        f,
        fake,
        &[
            "append",
            "--ledger",
            "L",
            "--author",
            "lic-1",
            "--record",
            "C-OPEN",
            "--kind",
            "progress_note",
            "--occurred-on",
            "2025-05-03",
            // The tests decide when a witness sees a seal (`sync`), not the write.
            "--no-sync",
        ],
    ));
    seq
}

fn verify_json(f: &Fixture, fake: Option<&str>, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec!["--json", "verify", "--ledger", "L"];
    args.extend_from_slice(extra);
    let o = run_at(f, fake, &args);
    let v = serde_json::from_str(&stdout(&o))
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (o.status.code().expect("an exit code"), v)
}

fn findings(v: &serde_json::Value) -> Vec<(String, Option<u64>)> {
    v["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            (
                f["kind"].as_str().expect("kind").to_owned(),
                f["seq"].as_u64(),
            )
        })
        .collect()
}

#[test]
fn the_clock_forward_attack_is_caught_at_the_next_cosigned_seal() {
    let f = Fixture::small();
    let w = Witness::start(&f, "w1.example", None);
    sync(&f);
    // Honest: no finding, and the output names the time policy its words rest on.
    let o = f.run(&[
        "verify",
        "--ledger",
        "L",
        "--witness",
        &w.key,
        "--quorum",
        "1",
    ]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o)
            .contains("time policy: outside time from witness w1.example (quorum 1); skew 5m"),
        "{}",
        stdout(&o)
    );
    let (_, v) = verify_json(&f, None, &["--witness", &w.key, "--quorum", "1"]);
    assert_eq!(v["outside_time"]["uncovered"], 0);
    assert_eq!(v["outside_time"]["covered"].as_u64(), Some(f.size()));
    // The retention report names the policy its clock rests on (JSON, HTML, the line).
    let o = f.report(&["--witness", &w.key, "--quorum", "1"]);
    assert!(
        stderr(&o).contains("time policy: outside time from witness w1.example"),
        "{}",
        stderr(&o)
    );
    ok(&o);
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(f.path("rep").join("report.json")).unwrap()).unwrap();
    assert_eq!(
        report["integrity"]["time_policy"],
        "outside time from witness w1.example (quorum 1); skew 5m"
    );
    let html = std::fs::read_to_string(f.path("rep").join("report.html")).unwrap();
    assert!(html.contains("<dd id=\"time-policy\">outside time from witness w1.example"));

    // The insider: two appends with the clock five years ahead, then the next sync on the
    // real clock.
    let first = note_at(&f, Some("+5y"));
    note_at(&f, Some("+5y"));
    sync(&f);
    let key = w.key.clone();
    let (code, v) = verify_json(&f, None, &["--witness", &key, "--quorum", "1"]);
    assert_eq!(code, 1);
    assert!(
        findings(&v).contains(&("clock_ahead_of_witness".into(), Some(first))),
        "{v}"
    );
    // Six years later, when the verifier's own clock no longer sees the future, the
    // cosignature still does: the only finding.
    let (code, v) = verify_json(&f, Some("+6y"), &["--witness", &key, "--quorum", "1"]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![("clock_ahead_of_witness".into(), Some(first))]
    );
    let msg = v["findings"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
        + v["findings"][0]["evidence"]["message"]
            .as_str()
            .unwrap_or_default();
    assert!(
        msg.contains("2 entries") && msg.contains("witness w1.example"),
        "{v}"
    );
    // The report refuses to rest on that clock.
    std::fs::remove_dir_all(f.path("rep")).unwrap();
    let o = f.report(&["--witness", &key]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("clock_ahead_of_witness"),
        "{}",
        stderr(&o)
    );
    // Without the relying party's witness, nothing outside is judged.
    let (code, v) = verify_json(&f, Some("+6y"), &[]);
    assert_eq!((code, findings(&v)), (0, vec![]));
    assert!(v["outside_time"].is_null());
    drop(w);
}

#[test]
fn a_witness_a_little_slow_is_within_the_skew_and_two_witnesses_tolerate_one_bad_clock() {
    let f = Fixture::small();
    let slow = Witness::start(&f, "slow.example", Some("-2m"));
    sync(&f);
    let (code, v) = verify_json(&f, None, &["--witness", &slow.key]);
    assert_eq!((code, findings(&v)), (0, vec![]), "{v}");
    assert!(
        v["outside_time"]["max_lag_secs"].as_i64().unwrap() < 0,
        "{v}"
    );
    let (code, v) = verify_json(&f, None, &["--witness", &slow.key, "--skew", "1m"]);
    assert_eq!(code, 1);
    assert!(
        findings(&v).contains(&("clock_ahead_of_witness".into(), Some(0))),
        "{v}"
    );

    // A second witness whose clock runs a day slow, and an honest one.
    let bad = Witness::start(&f, "bad.example", Some("-1d"));
    let good = Witness::start(&f, "good.example", None);
    sync(&f);
    let both = ["--witness", &good.key, "--witness", &bad.key];
    let (code, v) = verify_json(&f, None, &[&both[..], &["--quorum", "2"]].concat());
    assert_eq!((code, findings(&v)), (0, vec![]), "{v}");
    assert_eq!(
        v["outside_time"]["policy"],
        "outside time from witnesses good.example, bad.example (quorum 2); skew 5m"
    );
    let (code, v) = verify_json(&f, None, &[&both[..], &["--quorum", "1"]].concat());
    assert_eq!(code, 1, "{v}");
    assert!(
        findings(&v).contains(&("clock_ahead_of_witness".into(), Some(0))),
        "{v}"
    );
    drop((slow, bad, good));
}

#[test]
fn max_staleness_compares_the_newest_outside_time_with_the_head_not_with_today() {
    let f = Fixture::small();
    let w = Witness::start(&f, "w1.example", None);
    sync(&f);
    let key = w.key.clone();
    // Idle: three years later, the head is as old as the anchor: not stale.
    let (code, v) = verify_json(
        &f,
        Some("+3y"),
        &["--witness", &key, "--max-staleness", "7d"],
    );
    assert_eq!((code, findings(&v)), (0, vec![]), "{v}");
    // Ten days on, the practice writes again and no witness sees it.
    let head = note_at(&f, Some("+10d"));
    let (code, v) = verify_json(
        &f,
        Some("+10d"),
        &["--witness", &key, "--max-staleness", "7d"],
    );
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![("anchor_stale".into(), Some(head))],
        "{v}"
    );
    let (code, v) = verify_json(
        &f,
        Some("+10d"),
        &["--witness", &key, "--max-staleness", "11d"],
    );
    assert_eq!((code, findings(&v)), (0, vec![]), "{v}");
    // Bad input: one line, exit 2.
    for (args, why) in [
        (
            vec!["--witness", key.as_str(), "--max-staleness", "7 days"],
            "not a duration",
        ),
        (vec!["--max-staleness", "7d"], "--witness or --tsa-chain"),
    ] {
        let o = f.run(&[&["verify", "--ledger", "L"][..], &args].concat());
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(why), "{}", stderr(&o));
    }
    drop(w);
}

#[test]
fn a_tsa_token_over_a_seal_bounds_the_entries_it_covers() {
    let f = Fixture::small();
    let tsa = Arc::new(TestTsa::new(&TsaOptions::default()));
    let ca = tsa.path("ca.pem");
    let ca = ca.to_str().expect("utf-8 path");
    let (url, server) = tsa.serve(2);
    ok(&f.run(&["timestamp", "--ledger", "L", "--tsa", &url]));
    let (code, v) = verify_json(&f, None, &["--tsa-chain", ca]);
    assert_eq!((code, findings(&v)), (0, vec![]), "{v}");
    assert_eq!(v["outside_time"]["tokens_counted"], 1);
    assert_eq!(v["outside_time"]["covered"].as_u64(), Some(f.size()));
    assert!(v["outside_time"]["policy"]
        .as_str()
        .unwrap()
        .starts_with("outside time from TSA chain ca.pem (quorum 1)"));
    // Forward-clock appends, then a token over the new seal on the real clock.
    let first = note_at(&f, Some("+5y"));
    ok(&f.run(&["timestamp", "--ledger", "L", "--tsa", &url]));
    server.join().expect("the TSA thread");
    let (code, v) = verify_json(&f, Some("+6y"), &["--tsa-chain", ca]);
    assert_eq!(code, 1);
    assert_eq!(
        findings(&v),
        vec![("clock_ahead_of_witness".into(), Some(first))],
        "{v}"
    );
    // Roots the relying party does not hold: the tokens count for nothing (and say why).
    let stranger = TestTsa::new(&TsaOptions::default());
    let other = stranger.path("ca.pem");
    let (code, v) = verify_json(&f, Some("+6y"), &["--tsa-chain", other.to_str().unwrap()]);
    assert_eq!((code, findings(&v)), (0, vec![]), "{v}");
    assert_eq!(v["outside_time"]["tokens_counted"], 0);
    assert_eq!(
        v["outside_time"]["tokens_ignored"].as_array().map(Vec::len),
        Some(2)
    );
}
