//! Why the switch does not start: each is fatal, and its message names the link,
//! file or address to fix (tests and operators match on these texts).

use std::io;
use std::net::SocketAddr;

use crate::store::StoreError;

/// Why [`crate::net::RunningSwitch`] did not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The admin address cannot be bound.
    #[error("admin address {address}: {source}")]
    Admin {
        /// The configured address.
        address: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A link that authenticates messages or translates PIN blocks has no key
    /// in the security module.
    #[error("link {link}: the {module} security module has no {purpose} key for it")]
    MissingKey {
        /// The link.
        link: String,
        /// The module's name.
        module: String,
        /// `MAC` or `PIN`.
        purpose: &'static str,
    },
    /// The journal is configured but its PAN key is not: it could not hash PANs.
    #[error(
        "journal pan_key not loaded: its source is unavailable here (switch check-config says why)"
    )]
    JournalKeyMissing,
    /// The journal could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listening link's address cannot be bound.
    #[error("link {link}: cannot listen on {address}: {source}")]
    Listen {
        /// The link.
        link: String,
        /// The configured address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A TLS link whose TLS cannot be set up.
    #[error("link {link}: {source}")]
    Tls {
        /// The link.
        link: String,
        /// Why.
        #[source]
        source: TlsSetupError,
    },
    /// The token vault cannot be opened (its key-encryption key is missing or
    /// wrong).
    #[error(transparent)]
    Vault(#[from] crate::store::vault::VaultError),
    /// A token API's address cannot be bound.
    #[error("token API {api}: cannot listen on {address}: {source}")]
    TokenApiListen {
        /// The token API.
        api: String,
        /// The configured address.
        address: SocketAddr,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// A token API's participant is not in the routing rules (or they define
    /// no token range).
    #[error("{0}")]
    TokenApiRules(String),
    /// A token API on TLS without the switch's TLS configuration loaded.
    #[error("token API {0}: tls = true needs [switch.tls] with its certificates loaded")]
    TokenApiTls(String),
    /// The latency histogram's bounds were refused (a programming error).
    #[error("latency histogram: {0}")]
    Histogram(#[from] hdrhistogram::CreationError),
}

/// Why a link's TLS cannot be used (found at start: the link would otherwise
/// never come up).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    /// The configuration's certificates were not read (a configuration loaded
    /// without its TLS files).
    #[error("TLS certificates not loaded")]
    NotLoaded,
    /// The link's bank has no identity to verify the server's certificate by.
    #[error("no certificate identity for the link's bank {bank}")]
    NoIdentity {
        /// The bank.
        bank: String,
    },
    /// The identity is not a DNS name a server certificate can carry.
    #[error("identity {identity:?} is not a DNS name the server can present")]
    NotDnsName {
        /// The identity.
        identity: String,
    },
}
