//! Where output goes: data (and `--json`) on stdout, people's text and progress on stderr.

use crate::Outcome;
use caseledger_verify::{Anchor, Finding};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;

/// How a verdict line is coloured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Tone {
    /// No findings, and something the relying party holds anchors it: green.
    Good,
    /// No findings, but nothing the relying party holds anchors it (self-attested): yellow,
    /// never green.
    Unanchored,
    /// Findings, or a required anchor is missing: red.
    Bad,
}

/// The output policy of one run.
pub(crate) struct Out {
    /// `--json`: machine output on stdout.
    pub json: bool,
    color: bool,
}

impl Out {
    /// The policy for this run: colour only on a terminal and when `NO_COLOR` is unset.
    pub fn new(json: bool) -> Out {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Out {
            json,
            color: !no_color && std::io::stderr().is_terminal(),
        }
    }

    /// A line for people, on stderr. Always printed (also with `--json`, where stdout is data).
    pub fn say(&self, msg: impl AsRef<str>) {
        let _ = writeln!(std::io::stderr().lock(), "{}", msg.as_ref());
    }

    /// A verdict line for people on stderr, green or red on a colour terminal.
    pub fn verdict(&self, good: bool, msg: impl AsRef<str>) {
        self.verdict_in(if good { Tone::Good } else { Tone::Bad }, msg);
    }

    /// A verdict line for people on stderr in `tone`'s colour on a colour terminal.
    pub fn verdict_in(&self, tone: Tone, msg: impl AsRef<str>) {
        let msg = msg.as_ref();
        if self.color {
            let code = match tone {
                Tone::Good => "32",
                Tone::Unanchored => "33",
                Tone::Bad => "31;1",
            };
            self.say(format!("\x1b[{code}m{msg}\x1b[0m"));
        } else {
            self.say(msg);
        }
    }

    /// Data on stdout (a note, a key, a proof). A closed pipe is an I/O error, not a panic.
    pub fn data(&self, text: &str) -> anyhow::Result<()> {
        let mut o = std::io::stdout().lock();
        o.write_all(text.as_bytes())
            .and_then(|()| {
                if text.ends_with('\n') {
                    Ok(())
                } else {
                    o.write_all(b"\n")
                }
            })
            .and_then(|()| o.flush())
            .map_err(stdout_error)
    }

    /// Raw bytes on stdout, exactly (the bytes an author signs).
    pub fn raw(&self, bytes: &[u8]) -> anyhow::Result<()> {
        let mut o = std::io::stdout().lock();
        o.write_all(bytes)
            .and_then(|()| o.flush())
            .map_err(stdout_error)
    }

    /// A JSON value on stdout, pretty-printed, one document.
    pub fn json_data(&self, v: &serde_json::Value) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(v)?;
        self.data(&text)
    }

    /// Prints a failed command's error: exactly one line.
    pub fn error(&self, e: &anyhow::Error) {
        let _ = writeln!(
            std::io::stderr().lock(),
            "caseledger: error: {}",
            one_line(&format!("{e:#}"))
        );
    }

    /// A progress bar on stderr, drawn only on a terminal and never with `--json`.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.json || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        pb.set_style(style);
        pb.set_message(what.to_owned());
        pb
    }
}

/// Collapses a message to one line (errors from libraries sometimes carry newlines).
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints a clap error as one line (help and version go to stdout, exit 0); usage errors exit 2.
pub(crate) fn clap_error(e: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `caseledger` or `caseledger actor` alone: a usage error, in one line.
            let words: Vec<String> = std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect();
            let cmd = std::iter::once("caseledger".to_owned())
                .chain(words)
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                std::io::stderr().lock(),
                "caseledger: error: usage: `{cmd}` needs a subcommand (see `{cmd} --help`)"
            );
            ExitCode::from(2)
        }
        _ => {
            let rendered = e.render().to_string();
            let mut lines = Vec::new();
            for l in rendered.lines() {
                let l = l.trim();
                if l.starts_with("Usage:") || l.starts_with("For more information") {
                    break;
                }
                if !l.is_empty() {
                    lines.push(l.strip_prefix("error: ").unwrap_or(l));
                }
            }
            let mut msg = lines.join(" ");
            if let Some(tip) = rendered
                .lines()
                .find(|l| l.trim_start().starts_with("tip:"))
            {
                msg = msg.replace(tip.trim(), "");
                msg = one_line(msg.trim());
            }
            let _ = writeln!(
                std::io::stderr().lock(),
                "caseledger: error: usage: {} (see --help)",
                one_line(&msg)
            );
            ExitCode::from(2)
        }
    }
}

/// The reader of stdout went away (`caseledger sample | head`): not an error worth a message.
#[derive(Debug)]
pub(crate) struct BrokenPipe;

impl std::fmt::Display for BrokenPipe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("writing to stdout: broken pipe")
    }
}

impl std::error::Error for BrokenPipe {}

/// Maps a stdout write error: a broken pipe becomes [`BrokenPipe`].
pub(crate) fn stdout_error(e: std::io::Error) -> anyhow::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        anyhow::Error::new(BrokenPipe)
    } else {
        anyhow::anyhow!("writing to stdout: {e}")
    }
}

/// A finding as JSON (no payload content is ever in a finding).
pub(crate) fn finding_json(f: &Finding) -> serde_json::Value {
    serde_json::to_value(f)
        .unwrap_or_else(|_| serde_json::json!({ "kind": f.kind.name(), "seq": f.seq }))
}

/// What anchors a verdict, as JSON: `kind` ([`Anchor::name`]), its `words`, whether
/// something the relying party holds anchors it, up to which size, and the line people see.
pub(crate) fn anchor_json(a: &Anchor) -> serde_json::Value {
    json!({
        "kind": a.name(),
        "words": a.words(),
        "anchored": a.is_anchored(),
        "covers": a.covers(),
        "line": a.line(),
    })
}

/// The verdict line of a verification (ledger, archive, bundle), naming its anchor, and how
/// the run ends. `counts` describes what was verified (`11 entries`). Only an anchored
/// verdict with no finding is "intact" (green); a clean run nothing anchors says "no
/// findings" and why it is not more (never green), and exits 1 under `--require-anchor`.
pub(crate) fn print_verdict(
    what: &str,
    counts: &str,
    findings: usize,
    anchor: &Anchor,
    require_anchor: bool,
    out: &Out,
) -> Outcome {
    let named = if anchor.is_anchored() {
        format!("anchor: {}", anchor.line())
    } else {
        anchor.line()
    };
    if findings > 0 {
        out.verdict_in(Tone::Bad, format!("{what}: {findings} finding(s); {named}"));
        Outcome::Findings
    } else if anchor.is_anchored() {
        out.verdict_in(
            Tone::Good,
            format!("{what}: intact ({counts}, no findings); {named}"),
        );
        Outcome::Ok
    } else if require_anchor {
        out.verdict_in(
            Tone::Bad,
            format!("{what}: no findings ({counts}); {named} (--require-anchor)"),
        );
        Outcome::Findings
    } else {
        out.verdict_in(
            Tone::Unanchored,
            format!("{what}: no findings ({counts}); {named}"),
        );
        Outcome::Ok
    }
}
