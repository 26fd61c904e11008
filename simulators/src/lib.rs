//! Bank host simulators for the interbank switch.
//!
//! This crate will own the issuer simulator (a deterministic card base, balances,
//! approvals and declines, reversals, latency and fault injection), the acquirer
//! simulator and load generator (open and closed loop, latency percentiles, timeouts
//! with reversals), and the one-command demo network, all behind the `sim` binary.
//!
//! Nothing is implemented yet; see the simulators issue.
