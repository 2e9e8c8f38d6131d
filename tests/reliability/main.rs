//! The reliability and security campaigns (issue 7). One integration-test binary; each
//! module is a campaign. `cargo test` runs the short version of each;
//! `CASELEDGER_TORTURE=full` (`make torture`) the long one. docs/RELIABILITY.md records
//! the figures of a full run and how each campaign was shown able to fail.
//!
//! Child processes (the crash victim, the damaged-ledger verifier, the disk-full writer) are
//! this same test binary re-executed on the ignored test [`child::child_main`] with
//! `CASELEDGER_CHILD=<mode>`: no extra binary target, and the child runs exactly the
//! library code under test.

mod child;
mod concurrency;
mod crash;
mod damage;
mod diskfull;
mod harness;
mod hostile;
mod privacy;
mod props;
mod serve_faults;
mod witness_faults;
