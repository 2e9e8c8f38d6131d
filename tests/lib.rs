//! End-to-end tests for the `caseledger` binary live in `e2e/`; this library is empty.
