//! The interbank card switch server.
//!
//! This crate will own `core/` (a deterministic, sans-IO state machine: routing,
//! in-flight matching, timeouts, duplicates, reversals, link states, with `now`
//! passed in), `net/` (tokio and rustls drivers that move frames and run the core's
//! actions), the journal, store-and-forward, settlement, metrics and configuration,
//! and the `switch` binary.
//!
//! Nothing is implemented yet; see the switch issue.
