//! `caseledger serve`: the HTTP server of crates/serve, run in the foreground.

use super::ServeArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Context, Result};

/// `caseledger serve --config FILE | --new-token`.
pub(crate) fn run(a: ServeArgs, out: &Out) -> Result<Outcome> {
    if a.new_token {
        let (token, hash) = caseledger_serve::auth::new_token();
        out.data(&token)?;
        out.data(&hash)?;
        out.say("line 1: the client's bearer token (give it to the client only); line 2: its token_sha256 for the server's config");
        return Ok(Outcome::Ok);
    }
    let config = a.config.ok_or_else(|| anyhow!("--config FILE: required"))?;
    // Checked here so a missing file is one plain line, without the OS's error number.
    if let Err(e) = std::fs::metadata(&config) {
        return Err(crate::io::io_why(e)).with_context(|| format!("--config {}", config.display()));
    }
    caseledger_serve::run(&config).map_err(|e| anyhow!("serve: {e}"))?;
    Ok(Outcome::Ok)
}
