//! Putting a whole configuration on MAC (and PIN translation) with fresh random
//! keys, for one run of the demo network or a benchmark (`sim demo --security`):
//! every link gets its own MAC key and, with `pins`, zone PIN key (format 0),
//! held only in memory and dropped (wiped) with the run. The hosts at the other
//! end get the same keys from the returned map
//! (`simulators::security::HostSecurity::from_zone`).

use std::collections::BTreeMap;

use card_security::message::SpecCannotCarryMac;
use card_security::KeyError;

use super::keys::KeyMaterial;
use super::mac::{MacPadding, MAC_KEY_LEN};
use super::pin::PinFormat;
use super::settings::LinkSecurity;
use super::software::ZoneKeys;
use crate::config::Config;

/// Why a configuration could not be put on random keys.
#[derive(Debug, thiserror::Error)]
pub enum RandomKeysError {
    /// A link's spec cannot carry a MAC.
    #[error("link {link}: {source}")]
    Spec {
        /// The link.
        link: String,
        /// Why.
        #[source]
        source: SpecCannotCarryMac,
    },
    /// No random key could be drawn.
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Give every link of `config` a random MAC key (padding method 2) and, with
/// `pins`, a random zone PIN key (format 0). Returns each link's keys by link
/// name, for the bank hosts.
pub fn use_random_keys(
    config: &mut Config,
    pins: bool,
) -> Result<BTreeMap<String, ZoneKeys>, RandomKeysError> {
    let mut issued = BTreeMap::new();
    for link in &mut config.links {
        super::message::check_spec(&link.spec).map_err(|source| RandomKeysError::Spec {
            link: link.name.clone(),
            source,
        })?;
        let keys = ZoneKeys {
            mac: Some(KeyMaterial::random(MAC_KEY_LEN)?),
            pin: if pins {
                Some(KeyMaterial::random(16)?)
            } else {
                None
            },
        };
        link.security = LinkSecurity {
            mac: Some(MacPadding::Method2),
            pin: pins.then_some(PinFormat::Iso0),
        };
        config.security.keys.insert(link.name.clone(), keys.clone());
        issued.insert(link.name.clone(), keys);
    }
    Ok(issued)
}
