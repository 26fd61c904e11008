//! The interface to whatever holds the keys: a hardware security module (HSM) in
//! production, [`crate::software::SoftwareSecurityModule`] in tests and the demo.
//! Callers name a *zone* (the link whose keys apply, by link name) and hand over
//! enciphered data; keys and clear PINs never cross this interface.
//!
//! The calls are synchronous and expected to be quick (the software module is
//! pure computation, a few microseconds). An HSM adapter keeps its own
//! connection pool and answers within its own deadline, returning
//! [`SecurityError::Unavailable`] rather than blocking the switch.

use crate::mac::{MacPadding, MAC_LEN};
use crate::pin::{PinBlockError, PinFormat};

/// One side of a PIN translation: the zone whose PIN key applies and the block
/// format used on that link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PinZone<'a> {
    /// The link name.
    pub zone: &'a str,
    /// The PIN block format on that link.
    pub format: PinFormat,
}

/// What can go wrong in the security module. No variant carries key, PIN or
/// card data.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The zone has no key of that kind.
    #[error("zone {zone}: no {purpose} key")]
    NoKey {
        /// The zone (link name).
        zone: String,
        /// `MAC` or `PIN`.
        purpose: &'static str,
    },
    /// The key does not fit the operation (a configuration problem).
    #[error("zone {zone}: {problem}")]
    BadKey {
        /// The zone (link name).
        zone: String,
        /// What is wrong (length, format), never the key.
        problem: String,
    },
    /// The PIN block is malformed or does not decipher under the source key.
    #[error("PIN block: {0}")]
    PinBlock(PinBlockError),
    /// The module could not answer (an HSM adapter's timeout or link failure).
    #[error("security module unavailable: {0}")]
    Unavailable(String),
}

/// [`SecurityModule::generate_macs`] as [`SecurityModule::generate_mac`] for
/// each message: the trait's default, and a module's fallback.
pub fn macs_one_at_a_time<M: SecurityModule + ?Sized>(
    module: &M,
    zone: &str,
    padding: MacPadding,
    data: &[&[u8]],
) -> Result<Vec<[u8; MAC_LEN]>, SecurityError> {
    data.iter()
        .map(|d| module.generate_mac(zone, padding, d))
        .collect()
}

/// Message authentication and PIN translation with keys the caller never sees.
pub trait SecurityModule: Send + Sync {
    /// A short name for logs (`software`, or the HSM's).
    fn name(&self) -> &str;

    /// Whether `zone` has a MAC key.
    fn has_mac_key(&self, zone: &str) -> bool;

    /// Whether `zone` has a PIN key.
    fn has_pin_key(&self, zone: &str) -> bool;

    /// The ISO 9797-1 MAC algorithm 3 value of `data` under `zone`'s MAC key.
    fn generate_mac(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[u8],
    ) -> Result<[u8; MAC_LEN], SecurityError>;

    /// The MACs of several messages under `zone`'s key, in order: what a link's
    /// writer asks for the messages queued on it. The default asks
    /// [`SecurityModule::generate_mac`] for each; a module that can do better
    /// (the software one computes them together; an HSM may take a batch in one
    /// command) overrides it.
    fn generate_macs(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[&[u8]],
    ) -> Result<Vec<[u8; MAC_LEN]>, SecurityError> {
        macs_one_at_a_time(self, zone, padding, data)
    }

    /// Whether `mac` authenticates `data` under `zone`'s MAC key, compared in
    /// constant time.
    fn verify_mac(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, SecurityError>;

    /// Re-encipher a PIN block from `from`'s PIN key and format to `to`'s, for
    /// card `pan` (ASCII digits). The clear PIN exists only inside the module.
    fn translate_pin(
        &self,
        from: PinZone<'_>,
        to: PinZone<'_>,
        block: &[u8],
        pan: &[u8],
    ) -> Result<Vec<u8>, SecurityError>;
}

/// A module without keys: every zone lacks MAC and PIN keys. What the core uses
/// when nothing is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKeys;

impl SecurityModule for NoKeys {
    fn name(&self) -> &str {
        "none"
    }

    fn has_mac_key(&self, _zone: &str) -> bool {
        false
    }

    fn has_pin_key(&self, _zone: &str) -> bool {
        false
    }

    fn generate_mac(
        &self,
        zone: &str,
        _padding: MacPadding,
        _data: &[u8],
    ) -> Result<[u8; MAC_LEN], SecurityError> {
        Err(no_key(zone, "MAC"))
    }

    fn verify_mac(
        &self,
        zone: &str,
        _padding: MacPadding,
        _data: &[u8],
        _mac: &[u8],
    ) -> Result<bool, SecurityError> {
        Err(no_key(zone, "MAC"))
    }

    fn translate_pin(
        &self,
        from: PinZone<'_>,
        _to: PinZone<'_>,
        _block: &[u8],
        _pan: &[u8],
    ) -> Result<Vec<u8>, SecurityError> {
        Err(no_key(from.zone, "PIN"))
    }
}

/// [`SecurityError::NoKey`].
pub(crate) fn no_key(zone: &str, purpose: &'static str) -> SecurityError {
    SecurityError::NoKey {
        zone: zone.to_string(),
        purpose,
    }
}
