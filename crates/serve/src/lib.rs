//! caseledger-serve: caseledger over HTTP for record systems (`caseledger serve`).
//!
//! * [`config`]: the server's TOML file: the ledgers it hosts (by name), its clients
//!   (bearer tokens stored as SHA-256 hashes, with scopes), limits.
//! * [`pool`]: ledgers opened on demand, closed when idle, at most `max_open_ledgers` at a
//!   time (one process owns a ledger directory: see `caseledger_store::Ledger`).
//! * [`auth`]: who a request is, what it may do.
//! * [`http`]: the routes (`/v1/ledgers/{name}/…`), JSON errors, limits, logging.
//! * [`tls`]: HTTPS (rustls) when the config gives a certificate and key.
//! * [`openapi`]: the OpenAPI document (`/openapi.json`, docs/openapi.json).
//! * [`tiles`]: the C2SP tlog-tiles read routes (`/v1/ledgers/{name}/tlog/…`).
//! * [`citation`]: the outside time a destruction cites, shared with `caseledger destroy`.
//! * [`ingest`] and [`presign`]: the JSON event line, shared with `caseledger import` and
//!   `caseledger append` (the server accepts exactly the events `import` does).
//!
//! The ledger logic is the store's: the server parses, authorises, and calls
//! `caseledger_store::Ledger`. A 2xx append is durable and sealed (the store's
//! `Durability::Immediate`).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod auth;
pub mod citation;
pub mod config;
mod error;
pub mod http;
pub mod ingest;
mod line_error;
pub mod openapi;
pub mod pool;
pub mod presign;
mod state;
pub mod tiles;
pub mod tls;
mod write;

pub use config::{Config, ConfigError, LedgerName};
pub use error::ApiError;
pub use http::{run, ServeError};
