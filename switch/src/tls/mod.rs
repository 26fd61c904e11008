//! Mutual TLS for bank links (rustls, ring provider).
//!
//! - [`settings`]: `[switch.tls]` and the per-link identities, validated;
//! - [`files`]: PEM certificates, keys and CRLs, with errors naming the file
//!   (from the `bank-links` crate, as are [`layout`] and the endpoint builders);
//! - [`endpoint`]: the rustls server and client configurations (client
//!   certificates required and verified against the CAs and CRLs);
//! - [`identity`]: a verified certificate's names bound to the link's banks, and
//!   the check of fields 32/33 against them;
//! - `generate`: `switch gen-certs` (test CA, switch and bank certificates, CRL),
//!   only with the `gen-certs` feature (rcgen stays out of a server built without it);
//! - [`layout`]: where gen-certs puts them (the CA's key apart, a bundle per party);
//! - [`apply`]: a configuration put on TLS with a generated directory.
//!
//! The handshakes themselves, their deadline and cap, run in [`crate::net`].

pub mod apply;
pub mod endpoint;
#[cfg(feature = "gen-certs")]
pub mod generate;
pub mod identity;
pub mod settings;

pub use bank_links::tls::{files, layout};
pub use endpoint::TlsMaterial;
pub use identity::{Binding, Mismatch};
pub use settings::{LinkTls, TlsConfig};
