//! `caseledger completions|man|sample`.

use super::{Cli, CompletionsArgs, ManArgs, SampleArgs};
use crate::output::Out;
use crate::Outcome;
use anyhow::{Context, Result};
use clap::CommandFactory;
use std::io::Write;

/// Prints a completion script for a shell.
pub(crate) fn completions(a: CompletionsArgs, _out: &Out) -> Result<Outcome> {
    let mut cmd = Cli::command();
    let mut buf = Vec::new();
    clap_complete::generate(a.shell, &mut cmd, "caseledger", &mut buf);
    write_stdout(&buf)?;
    Ok(Outcome::Ok)
}

/// Prints the main man page (roff), or writes every page to `--dir`.
pub(crate) fn man(a: ManArgs, out: &Out) -> Result<Outcome> {
    let main = main_page().context("rendering the man page")?;
    let Some(dir) = a.dir else {
        write_stdout(&main)?;
        return Ok(Outcome::Ok);
    };
    let d = dir.display();
    std::fs::create_dir_all(&dir)
        .map_err(crate::io::io_why)
        .with_context(|| format!("--dir {d}"))?;
    // One page per subcommand, named as the main page's COMMANDS section cites them
    // (caseledger-actor-add.1); then the main page with its extra sections.
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = 0;
    let mut stack: Vec<clap::Command> = cmd.get_subcommands().cloned().collect();
    while let Some(sub) = stack.pop() {
        if sub.is_hide_set() {
            continue;
        }
        stack.extend(sub.get_subcommands().cloned());
        clap_mangen::Man::new(sub)
            .generate_to(&dir)
            .map_err(crate::io::io_why)
            .with_context(|| format!("--dir {d}"))?;
        pages += 1;
    }
    std::fs::write(dir.join("caseledger.1"), &main)
        .map_err(crate::io::io_why)
        .with_context(|| format!("--dir {d}"))?;
    out.say(format!(
        "wrote caseledger.1 and {pages} subcommand pages to {d}"
    ));
    Ok(Outcome::Ok)
}

/// The main page: clap's sections, then EXAMPLES, FILES, ENVIRONMENT and EXIT STATUS.
fn main_page() -> std::io::Result<Vec<u8>> {
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let man = clap_mangen::Man::new(cmd);
    let mut buf = Vec::new();
    man.render_title(&mut buf)?;
    man.render_name_section(&mut buf)?;
    man.render_synopsis_section(&mut buf)?;
    man.render_description_section(&mut buf)?;
    man.render_options_section(&mut buf)?;
    man.render_subcommands_section(&mut buf)?;
    for (title, paragraphs) in EXTRA_SECTIONS {
        buf.extend_from_slice(format!(".SH \"{title}\"\n").as_bytes());
        for p in *paragraphs {
            buf.extend_from_slice(b".PP\n");
            buf.extend_from_slice(roff_text(p).as_bytes());
        }
    }
    man.render_version_section(&mut buf)?;
    Ok(buf)
}

/// Plain text as roff: backslashes escaped, no line taken for a request, examples kept
/// as lines (`$ ` lines are set without filling).
fn roff_text(p: &str) -> String {
    let mut s = String::new();
    let example = p.starts_with("$ ");
    if example {
        s.push_str(".nf\n");
    }
    for line in p.lines() {
        let line = line.replace('\\', "\\e").replace('-', "\\-");
        if line.starts_with('.') || line.starts_with('\'') {
            s.push_str("\\&");
        }
        s.push_str(&line);
        s.push('\n');
    }
    if example {
        s.push_str(".fi\n");
    }
    s
}

/// The main page's own sections (docs/GUIDE.md has the long form).
const EXTRA_SECTIONS: &[(&str, &[&str])] = &[
    (
        "EXAMPLES",
        &[
            "A ledger, the guide's example events, a seal, and a verification anchored by keys and checkpoints held outside the ledger:",
            "$ caseledger init L --origin clinic.example/records --private-practice --time-zone America/Chicago\n$ caseledger import --ledger L ledger-data/example/events.jsonl\n$ caseledger checkpoint --ledger L > cp.txt\n$ caseledger keys export --ledger L > ledger.vkey\n$ caseledger verify --ledger L --key ledger.vkey --trusted cp.txt",
            "One record's evidence bundle and a signed retention report for an investigator:",
            "$ caseledger export --ledger L --record X-0001 --out X-0001.bundle\n$ caseledger verify --bundle X-0001.bundle --key ledger.vkey\n$ caseledger report retention --ledger L --as-of today --signing-key report.pem --generate-key --out report/\n$ caseledger report verify report/ --key report.pub",
            "Wait up to a minute for a ledger another process holds:",
            "$ caseledger --wait 1m append --ledger L --author lic-01 --record C-0042 --kind progress_note --occurred-on 2026-11-02 --payload-file note.txt",
        ],
    ),
    (
        "FILES",
        &[
            "DIR/ \u{2014} the ledger directory (0700, files 0600): sled/ (entries, payloads), checkpoints.log (every seal), keystore (wrapped record keys), timestamps.log, lock. No private key is ever in it.",
            "~/.config/caseledger/ORIGIN/ (or $XDG_CONFIG_HOME/caseledger/ORIGIN/, or --keys DIR) \u{2014} the key directory: ledger.pem (the ledger key, seals every commit), actors/ID.pem (each author's key), kek (the content key), recovery-kit.age, witnesses.txt; a .pub beside each key (ssh-ed25519). verify --key accepts ledger.pub as it is.",
        ],
    ),
    (
        "ENVIRONMENT",
        &[
            "CASELEDGER_LEDGER \u{2014} the default for --ledger.",
            "CASELEDGER_KEYS \u{2014} the default for --keys (the key directory).",
            "CASELEDGER_PASSPHRASE_FILE \u{2014} a file holding the passphrase of encrypted keys (else it is asked on the terminal).",
            "CASELEDGER_TSA \u{2014} the default for timestamp --tsa.",
            "SSH_AUTH_SOCK \u{2014} ssh-agent, for --ssh-key signing.",
            "NO_COLOR, TERM=dumb \u{2014} no colour; colour is only ever used on a terminal.",
        ],
    ),
    (
        "EXIT STATUS",
        &[
            "0 \u{2014} success; for verify, intact.",
            "1 \u{2014} findings: verification found tampering or violations (the output names them).",
            "2 \u{2014} usage, input or I/O error: nothing concluded, nothing written. With --json the error is also a JSON document on stdout.",
            "3 \u{2014} the ledger is in use by another process: nothing written; try again, or give --wait DURATION.",
        ],
    ),
];

/// Writes a sample practice (JSONL) to stdout or a new file.
pub(crate) fn sample(a: SampleArgs, out: &Out) -> Result<Outcome> {
    let mut buf = Vec::new();
    crate::sample::generate(a.clients, a.seed, &mut buf)
        .context("generating the sample practice")?;
    match &a.out {
        Some(path) => {
            crate::io::write_new(path, &buf, "sample file")?;
            out.say(format!(
                "wrote {} ({} clients, seed {})",
                path.display(),
                a.clients,
                a.seed
            ));
        }
        None => write_stdout(&buf)?,
    }
    Ok(Outcome::Ok)
}

fn write_stdout(buf: &[u8]) -> Result<()> {
    let mut o = std::io::stdout().lock();
    o.write_all(buf)
        .and_then(|()| o.flush())
        .map_err(crate::output::stdout_error)
}
