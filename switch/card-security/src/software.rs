//! The software security module: keys held in this process's memory (wiped on
//! drop) and the cryptography done in Rust (RustCrypto DES/TDES/AES). It is for
//! tests, the simulators and the demo network. A production switch keeps its
//! zone keys in a hardware security module and plugs an adapter for it in
//! through the same [`SecurityModule`] interface (the switch's
//! `RunningSwitch::start_with_security`). A bank simulator is this module with
//! one zone, its own keys; it also makes PIN blocks as a PIN pad would and
//! checks them as an issuer's HSM would ([`SoftwareSecurityModule::encipher_pin`],
//! [`SoftwareSecurityModule::pin_matches`]).

use std::collections::HashMap;
use std::sync::Arc;

use crate::keys::KeyMaterial;
use crate::mac::{retail_mac, verify_retail_mac, MacPadding, RetailMacKey, MAC_LEN};
use crate::module::{no_key, PinZone, SecurityError, SecurityModule};
use crate::pin;

/// One zone's keys.
#[derive(Clone, Debug, Default)]
pub struct ZoneKeys {
    /// The MAC key (K‖K', 16 bytes).
    pub mac: Option<KeyMaterial>,
    /// The zone PIN key (TDES for format 0, AES for format 4).
    pub pin: Option<KeyMaterial>,
}

/// Whatever holds keys by zone: a configuration the module is built from
/// ([`SoftwareSecurityModule::from_config`]), so that this crate need not know
/// how the switch's configuration is read.
pub trait ZoneKeySource {
    /// Call `f` with each zone's name and keys.
    fn for_each_zone(&self, f: &mut dyn FnMut(&str, &ZoneKeys));
}

/// Keys per zone (link name), in memory. `Debug` shows zones and key check
/// values only.
#[derive(Clone, Debug, Default)]
pub struct SoftwareSecurityModule {
    zones: HashMap<String, ZoneKeys>,
    /// Each valid MAC key's DES schedules, prepared once.
    mac_schedules: HashMap<String, Arc<RetailMacKey>>,
}

impl SoftwareSecurityModule {
    /// A module holding `zones`.
    pub fn new(zones: HashMap<String, ZoneKeys>) -> SoftwareSecurityModule {
        let mut module = SoftwareSecurityModule::default();
        for (zone, keys) in zones {
            module.insert(&zone, keys);
        }
        module
    }

    /// The keys of a validated configuration (the switch's `SecurityConfig`).
    pub fn from_config(config: &impl ZoneKeySource) -> SoftwareSecurityModule {
        let mut module = SoftwareSecurityModule::default();
        config.for_each_zone(&mut |zone, keys| module.insert(zone, keys.clone()));
        module
    }

    /// Add or replace a zone's keys.
    pub fn insert(&mut self, zone: &str, keys: ZoneKeys) {
        match keys.mac.as_ref().map(|k| RetailMacKey::new(k.expose())) {
            Some(Ok(schedule)) => {
                self.mac_schedules
                    .insert(zone.to_string(), Arc::new(schedule));
            }
            // No key, or one of the wrong length (reported when it is used).
            _ => {
                self.mac_schedules.remove(zone);
            }
        }
        self.zones.insert(zone.to_string(), keys);
    }

    /// The PIN block of `clear` for card `pan` (ASCII digits) under `zone`'s PIN
    /// key, as a PIN pad holding that key makes it (an acquirer's side).
    pub fn encipher_pin(
        &self,
        zone: &str,
        format: pin::PinFormat,
        clear: &pin::ClearPin,
        pan: &[u8],
    ) -> Result<Vec<u8>, SecurityError> {
        pin::encipher(format, self.pin_key(zone)?.expose(), clear, pan)
            .map_err(|e| pin_error(zone, e))
    }

    /// Whether `block` (under `zone`'s PIN key) holds `expected` for card `pan`,
    /// as an issuer's HSM checks a PIN; the clear PIN never leaves the module.
    pub fn pin_matches(
        &self,
        zone: &str,
        format: pin::PinFormat,
        block: &[u8],
        pan: &[u8],
        expected: &pin::ClearPin,
    ) -> Result<bool, SecurityError> {
        let clear = pin::decipher(format, self.pin_key(zone)?.expose(), block, pan)
            .map_err(|e| pin_error(zone, e))?;
        Ok(clear.matches(expected))
    }

    fn mac_key(&self, zone: &str) -> Result<&KeyMaterial, SecurityError> {
        self.zones
            .get(zone)
            .and_then(|z| z.mac.as_ref())
            .ok_or_else(|| no_key(zone, "MAC"))
    }

    fn pin_key(&self, zone: &str) -> Result<&KeyMaterial, SecurityError> {
        self.zones
            .get(zone)
            .and_then(|z| z.pin.as_ref())
            .ok_or_else(|| no_key(zone, "PIN"))
    }
}

impl SecurityModule for SoftwareSecurityModule {
    fn name(&self) -> &str {
        "software"
    }

    fn has_mac_key(&self, zone: &str) -> bool {
        self.mac_key(zone).is_ok()
    }

    fn has_pin_key(&self, zone: &str) -> bool {
        self.pin_key(zone).is_ok()
    }

    fn generate_mac(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[u8],
    ) -> Result<[u8; MAC_LEN], SecurityError> {
        if let Some(schedule) = self.mac_schedules.get(zone) {
            return Ok(schedule.mac(padding, data));
        }
        retail_mac(self.mac_key(zone)?.expose(), padding, data).map_err(|e| bad_key(zone, e))
    }

    fn generate_macs(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[&[u8]],
    ) -> Result<Vec<[u8; MAC_LEN]>, SecurityError> {
        if let Some(schedule) = self.mac_schedules.get(zone) {
            return Ok(schedule.mac_batch(padding, data));
        }
        crate::module::macs_one_at_a_time(self, zone, padding, data)
    }

    fn verify_mac(
        &self,
        zone: &str,
        padding: MacPadding,
        data: &[u8],
        mac: &[u8],
    ) -> Result<bool, SecurityError> {
        if let Some(schedule) = self.mac_schedules.get(zone) {
            return Ok(schedule.verify(padding, data, mac));
        }
        verify_retail_mac(self.mac_key(zone)?.expose(), padding, data, mac)
            .map_err(|e| bad_key(zone, e))
    }

    fn translate_pin(
        &self,
        from: PinZone<'_>,
        to: PinZone<'_>,
        block: &[u8],
        pan: &[u8],
    ) -> Result<Vec<u8>, SecurityError> {
        let from_key = self.pin_key(from.zone)?;
        let to_key = self.pin_key(to.zone)?;
        // The clear PIN lives in a wiped buffer for the length of this call.
        let clear = pin::decipher(from.format, from_key.expose(), block, pan)
            .map_err(|e| pin_error(from.zone, e))?;
        pin::encipher(to.format, to_key.expose(), &clear, pan).map_err(|e| pin_error(to.zone, e))
    }
}

/// A PIN block error: the key's fault is the zone's configuration, the rest the block's.
fn pin_error(zone: &str, e: pin::PinBlockError) -> SecurityError {
    match e {
        pin::PinBlockError::Key { .. } => bad_key(zone, e),
        other => SecurityError::PinBlock(other),
    }
}

fn bad_key(zone: &str, problem: impl std::fmt::Display) -> SecurityError {
    SecurityError::BadKey {
        zone: zone.to_string(),
        problem: problem.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::pin::{ClearPin, PinFormat};

    fn module() -> SoftwareSecurityModule {
        let key = |h: &str| Some(KeyMaterial::from_hex(h).unwrap());
        let mut m = SoftwareSecurityModule::default();
        m.insert(
            "acquirer",
            ZoneKeys {
                mac: key("0123456789ABCDEFFEDCBA9876543210"),
                pin: key("11111111111111112222222222222222"),
            },
        );
        m.insert(
            "issuer",
            ZoneKeys {
                mac: None,
                pin: key("33333333333333334444444444444444"),
            },
        );
        m.insert(
            "issuer-aes",
            ZoneKeys {
                mac: None,
                pin: key("000102030405060708090A0B0C0D0E0F"),
            },
        );
        m
    }

    #[test]
    fn translates_between_zones_and_formats() {
        let m = module();
        let pan = b"9408010000001238";
        let pin = ClearPin::from_ascii(b"4321").unwrap();
        let acq_key = KeyMaterial::from_hex("11111111111111112222222222222222").unwrap();
        let block = pin::encipher(PinFormat::Iso0, acq_key.expose(), &pin, pan).unwrap();
        let from = PinZone {
            zone: "acquirer",
            format: PinFormat::Iso0,
        };
        for (zone, format, hex) in [
            (
                "issuer",
                PinFormat::Iso0,
                "33333333333333334444444444444444",
            ),
            (
                "issuer-aes",
                PinFormat::Iso4,
                "000102030405060708090A0B0C0D0E0F",
            ),
        ] {
            let out = m
                .translate_pin(from, PinZone { zone, format }, &block, pan)
                .unwrap();
            assert_eq!(out.len(), format.block_len());
            assert_ne!(out, block);
            let key = KeyMaterial::from_hex(hex).unwrap();
            assert!(pin::decipher(format, key.expose(), &out, pan)
                .unwrap()
                .matches(&pin));
        }
        // A block enciphered under another key is refused, not re-enciphered.
        let foreign = pin::encipher(PinFormat::Iso0, &[0x55; 16], &pin, pan).unwrap();
        let to = PinZone {
            zone: "issuer",
            format: PinFormat::Iso0,
        };
        assert!(matches!(
            m.translate_pin(from, to, &foreign, pan),
            Err(SecurityError::PinBlock(_))
        ));
        assert_eq!(
            m.translate_pin(
                from,
                PinZone {
                    zone: "nowhere",
                    ..to
                },
                &block,
                pan
            ),
            Err(no_key("nowhere", "PIN"))
        );
        let shown = format!("{m:?}");
        assert!(
            !shown.contains("1111111111") && !shown.contains("0123456789"),
            "{shown}"
        );
    }

    #[test]
    fn macs_by_zone() {
        let m = module();
        let mac = m
            .generate_mac("acquirer", MacPadding::Method1, b"Now is the time for all ")
            .unwrap();
        assert_eq!(mac, [0xA1, 0xC7, 0x2E, 0x74, 0xEA, 0x3F, 0xA9, 0xB6]);
        assert!(m
            .verify_mac(
                "acquirer",
                MacPadding::Method1,
                b"Now is the time for all ",
                &mac
            )
            .unwrap());
        assert!(!m
            .verify_mac(
                "acquirer",
                MacPadding::Method2,
                b"Now is the time for all ",
                &mac
            )
            .unwrap());
        assert!(m.has_mac_key("acquirer") && !m.has_mac_key("issuer"));
        assert!(m.generate_mac("issuer", MacPadding::Method2, b"x").is_err());
    }
}
