//! Benchmarks for caseledger; see RESULTS.md.
