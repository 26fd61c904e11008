//! The interbank card switch.
//!
//! - [`admin`]: the admin address: operator console, status API, metrics;
//! - [`cluster`]: several nodes on one PostgreSQL database, leases and take-over;
//! - [`config`]: the TOML configuration, validated with file/entry/problem errors;
//! - [`error`]: one taxonomy of failures and what each becomes (an answer, a
//!   dropped message, a closed link, a refusal, a fatal start);
//! - [`core`]: the deterministic state machine that decides (sans-IO, `now` passed in);
//! - [`net`]: tokio drivers that accept and dial links, frame bytes and run the core's actions;
//! - [`tls`]: mutual TLS settings, certificates, bank identity binding, `gen-certs`;
//! - [`security`]: message authentication (MAC) and PIN translation, keys and the
//!   security module interface;
//! - [`token_api`]: the HTTP JSON API of app operators and issuers for tokens.

pub mod admin;
pub mod cluster;
pub mod config;
pub mod core;
pub mod error;
pub mod net;
pub mod security;
pub mod store;
pub mod tls;
pub mod token_api;
