//! The C2SP tlog-witness protocol (<https://c2sp.org/tlog-witness>) over HTTP: a witness
//! server and the client a ledger uses to collect cosignatures on its seals.
//!
//! * [`protocol`]: the bytes of `add-checkpoint` requests and answers (no HTTP).
//! * [`server`]: the witness's decisions (log keys, old size, proof, cosignature), over the
//!   checks of [`caseledger_core::witness`]; [`state`]: its crash-safe memory.
//! * [`http`]: the server over HTTP/1.1 (axum); `GET /latest-checkpoint/<origin>` is this
//!   project's extension for rollback detection.
//! * [`client`]: `add-checkpoint` with `409` resends, bounded retries and timeouts.
//! * [`config`]: the witnesses a ledger is configured with (a file beside its keys).
//! * [`monitor`]: a monitor of a tiled ledger (C2SP tlog-tiles): rollback, fork and
//!   consistency checks recomputed from tiles (`caseledger monitor`).
//!
//! Over loopback, in one process:
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use caseledger_witness::{client, http, server, state};
//! use std::sync::Arc;
//! # let (key, logs) = (caseledger_core::keys::SigningKey::generate(), server::LogKeys::default());
//! let w = server::Witness::new("w.example", key, logs, state::StateDir::open("state")?)?;
//! let running = http::Running::start(std::net::TcpListener::bind("127.0.0.1:0")?, Arc::new(w))?;
//! let _transport = client::Http::new(std::time::Duration::from_secs(5));
//! println!("{}", running.url());
//! # Ok(()) }
//! ```

pub mod client;
pub mod config;
pub mod http;
pub mod monitor;
pub mod protocol;
pub mod server;
pub mod state;
