//! `caseledger completions|man|sample`.

use super::{Cli, CompletionsArgs, SampleArgs};
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

/// Prints the man page (roff).
pub(crate) fn man(_out: &Out) -> Result<Outcome> {
    let mut buf = Vec::new();
    clap_mangen::Man::new(Cli::command())
        .render(&mut buf)
        .context("rendering the man page")?;
    write_stdout(&buf)?;
    Ok(Outcome::Ok)
}

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
