//! Where output goes: data (and `--json`) on stdout, people's text and progress on stderr.

use crate::io::Located;
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
    /// The policy for this run: colour only on a terminal, when `NO_COLOR` is unset and
    /// `TERM` is not `dumb`.
    pub fn new(json: bool) -> Out {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Out {
            json,
            color: !no_color && !dumb_terminal() && std::io::stderr().is_terminal(),
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

    /// Prints a failed command's error: exactly one line on stderr, and with `--json` the
    /// same error as a JSON document on stdout ([`error_json`]). Returns its kind.
    pub fn error(&self, e: &anyhow::Error) -> ErrorKind {
        let msg = one_line(&format!("{e:#}"));
        let kind = ErrorKind::of(e, &msg);
        print_error(self.json, kind, &msg, crate::io::location(e));
        kind
    }

    /// A progress bar on stderr, drawn only on a terminal and never with `--json`.
    pub fn progress(&self, len: u64, what: &str) -> ProgressBar {
        if self.json || dumb_terminal() || !std::io::stderr().is_terminal() {
            return ProgressBar::hidden();
        }
        let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} (ETA {eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        pb.set_style(style);
        pb.set_message(what.to_owned());
        pb
    }
}

/// What kind of failure ended a run: its exit code and its name in `--json` errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    /// The command line was wrong (exit 2).
    Usage,
    /// Bad input, a refusal, or an I/O error (exit 2).
    Input,
    /// Another process holds the ledger (exit 3): nothing was wrong with the input.
    InUse,
    /// A bug (exit 2).
    Internal,
}

impl ErrorKind {
    /// The kind of a command's error: "in use" wherever in the chain the store, the
    /// verifier or the lock said so (some layers keep only the words), usage when the
    /// message says so.
    pub fn of(e: &anyhow::Error, msg: &str) -> ErrorKind {
        let typed_in_use = e.chain().any(|c| {
            matches!(
                c.downcast_ref::<caseledger_store::StoreError>(),
                Some(caseledger_store::StoreError::InUse { .. })
            ) || matches!(
                c.downcast_ref::<caseledger_sledio::OpenError>(),
                Some(caseledger_sledio::OpenError::InUse)
            )
        });
        if typed_in_use || msg.contains("in use by another process") {
            ErrorKind::InUse
        } else if msg.starts_with("usage:") {
            ErrorKind::Usage
        } else {
            ErrorKind::Input
        }
    }

    /// The name in `--json` errors.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Usage => "usage",
            ErrorKind::Input => "input",
            ErrorKind::InUse => "in_use",
            ErrorKind::Internal => "internal",
        }
    }

    /// The exit code (documented in `--help` and the man page).
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::InUse => 3,
            _ => 2,
        }
    }
}

/// Prints an error: the one line on stderr, and with `json` a JSON document on stdout.
pub(crate) fn print_error(json: bool, kind: ErrorKind, msg: &str, at: Option<&Located>) {
    let _ = writeln!(std::io::stderr().lock(), "caseledger: error: {msg}");
    if json {
        let text = serde_json::to_string_pretty(&error_json(kind, msg, at)).unwrap_or_default();
        let mut o = std::io::stdout().lock();
        let _ = writeln!(o, "{text}");
        let _ = o.flush();
    }
}

/// An error as JSON: `{"error": {kind, message, exit_code, file, line}}`; `file` and `line`
/// are the [`Located`] fields of the error (an input file, an import line), else null.
pub(crate) fn error_json(kind: ErrorKind, msg: &str, at: Option<&Located>) -> serde_json::Value {
    json!({
        "error": {
            "kind": kind.name(),
            "message": msg,
            "exit_code": kind.exit_code(),
            "file": at.and_then(|a| a.file.as_deref()),
            "line": at.and_then(|a| a.line),
        }
    })
}

/// `TERM=dumb` (Emacs shells, some CI logs): no colour and no progress bar, as git does.
fn dumb_terminal() -> bool {
    std::env::var_os("TERM").is_some_and(|t| t == "dumb")
}

/// `n` and the noun in the right number: "1 entry", "2 entries", "0 findings".
pub(crate) fn count(n: impl TryInto<u64>, one: &str, many: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    format!("{n} {}", if n == 1 { one } else { many })
}

/// Collapses a message to one line (errors from libraries sometimes carry newlines).
pub(crate) fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints a clap error as one line (help and version go to stdout, exit 0); usage errors
/// exit 2, as JSON on stdout too when `--json` was given.
pub(crate) fn clap_error(e: &clap::Error) -> ExitCode {
    let json = std::env::args().skip(1).any(|a| a == "--json");
    use clap::error::ErrorKind as K;
    match e.kind() {
        K::DisplayHelp | K::DisplayVersion => {
            let _ = e.print();
            ExitCode::SUCCESS
        }
        K::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `caseledger` or `caseledger actor` alone: a usage error, in one line.
            let words: Vec<String> = std::env::args()
                .skip(1)
                .filter(|a| !a.starts_with('-'))
                .collect();
            let cmd = std::iter::once("caseledger".to_owned())
                .chain(words)
                .collect::<Vec<_>>()
                .join(" ");
            print_error(
                json,
                ErrorKind::Usage,
                &format!("usage: `{cmd}` needs a subcommand (see `{cmd} --help`)"),
                None,
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
            // clap's tips: "a similar subcommand exists: 'verify'" becomes "did you mean
            // `verify`?", other tips stay as they are.
            let mut hints = Vec::new();
            for tip in rendered
                .lines()
                .filter(|l| l.trim_start().starts_with("tip:"))
            {
                msg = one_line(msg.replace(tip.trim(), "").trim());
                let t = tip.trim().trim_start_matches("tip:").trim();
                match t.split_once("exists: ") {
                    Some((_, names)) if t.contains("similar") => {
                        hints.push(format!("did you mean {}?", names.replace('\'', "`")));
                    }
                    _ => hints.push(t.to_owned()),
                }
            }
            // `caseledger verify L`: a ledger directory given without its flag.
            if let Some(clap::error::ContextValue::String(arg)) =
                e.get(clap::error::ContextKind::InvalidArg)
            {
                let wants_ledger = rendered.contains("unexpected argument")
                    && !arg.starts_with('-')
                    && std::path::Path::new(arg).join("sled").is_dir();
                if wants_ledger && hints.is_empty() {
                    hints.push(format!("did you mean `--ledger {arg}`?"));
                }
            }
            let hint = if hints.is_empty() {
                String::new()
            } else {
                format!("; {}", hints.join("; "))
            };
            print_error(
                json,
                ErrorKind::Usage,
                &format!("usage: {}{hint} (see --help)", one_line(&msg)),
                None,
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
        out.verdict_in(
            Tone::Bad,
            format!(
                "{what}: {}; {named}",
                count(findings, "finding", "findings")
            ),
        );
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
