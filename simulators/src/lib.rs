//! Bank host simulators for the interbank switch, behind the `sim` binary.
//!
//! - [`cards`]: the deterministic card base shared by every simulator;
//! - [`messages`] and [`clock`]: building requests, responses and reversals;
//! - [`wire`]: framed TCP links;
//! - [`tls`]: mutual TLS on those links (`--tls-dir`, `--tls-cert`, ...);
//! - [`security`]: MACs and PIN blocks on those links (`--mac-key-env`, ...);
//! - [`issuer`]: the issuer bank host (accounts, approvals, reversals, faults);
//! - [`acquirer`]: the acquirer bank host and load generator;
//! - [`wallet`]: a payment-app operator's host (token enrolment, QR codes);
//! - [`catalogue`]: the card catalogue of a bank (`sim cards`, `sim issuer --cards`);
//! - [`certify`]: certification runs for a bank host joining the network;
//! - `demo`: the whole network on loopback in one command (with the `server`
//!   feature: it runs the switch).
//!
//! The MACs, PIN blocks and keys are the `card-security` crate's, the streams,
//! TLS endpoints, writers, backoff and stall watch the `bank-links` crate's: the
//! same code as the switch's, without the switch.

pub mod acquirer;
pub mod cards;
pub mod catalogue;
pub mod certify;
pub mod clock;
#[cfg(feature = "server")]
pub mod demo;
pub mod issuer;
pub mod messages;
pub mod process_main;
pub mod security;
pub mod tls;
pub mod wallet;
pub mod wire;
