//! Mutual TLS material for links (rustls, ring provider).
//!
//! - [`error`]: what is wrong with a file or the configuration built from them;
//! - [`files`]: PEM certificates, keys and CRLs, with errors naming the file;
//! - [`endpoint`]: the rustls server and client configurations (peer
//!   certificates required and verified against the CAs and CRLs);
//! - [`layout`]: where `switch gen-certs` puts them (the CA's key apart, a bundle
//!   per party).

pub mod endpoint;
pub mod error;
pub mod files;

pub use error::TlsFileError;
pub mod layout;
