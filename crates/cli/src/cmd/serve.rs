//! `caseledger serve`: the HTTP server of crates/serve, run in the foreground.

use super::ServeArgs;
use crate::output::Out;
use crate::Outcome;
use anyhow::{anyhow, Result};

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
    caseledger_serve::run(&config).map_err(|e| anyhow!("serve: {e}"))?;
    Ok(Outcome::Ok)
}
