//! Putting a whole configuration on MAC and PIN translation with fresh random
//! keys, for one run of the demo network or a benchmark (`sim demo --security`):
//! every link gets its own MAC key and zone PIN key (format 0), held only in
//! memory and dropped (wiped) with the run. The hosts at the other end get the
//! same keys from the returned map.

use std::collections::BTreeMap;

use super::keys::KeyMaterial;
use super::mac::{MacPadding, MAC_KEY_LEN};
use super::pin::PinFormat;
use super::settings::LinkSecurity;
use super::software::ZoneKeys;
use crate::config::Config;

/// Give every link of `config` random MAC and PIN keys (padding method 2, PIN
/// format 0). Returns each link's keys by link name, for the bank hosts.
pub fn use_random_keys(config: &mut Config) -> Result<BTreeMap<String, ZoneKeys>, String> {
    let mut issued = BTreeMap::new();
    for link in &mut config.links {
        super::message::check_spec(&link.spec).map_err(|e| format!("link {}: {e}", link.name))?;
        let keys = ZoneKeys {
            mac: Some(KeyMaterial::random(MAC_KEY_LEN)?),
            pin: Some(KeyMaterial::random(16)?),
        };
        link.security = LinkSecurity {
            mac: Some(MacPadding::Method2),
            pin: Some(PinFormat::Iso0),
        };
        config.security.keys.insert(link.name.clone(), keys.clone());
        issued.insert(link.name.clone(), keys);
    }
    Ok(issued)
}
