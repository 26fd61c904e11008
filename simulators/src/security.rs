//! Message authentication and PIN blocks for the simulators' links, the bank
//! side of the switch's: the same `card-security` software module, holding one
//! zone (the bank's own keys). A host with a MAC key seals every
//! message it sends (ISO 9797-1 MAC algorithm 3 in field 64/128) and checks the
//! MAC of every message it receives; an acquirer with a zone PIN key puts the
//! cardholder's PIN in field 52 (ISO 9564 format 0 or 4), and an issuer with one
//! checks it. Keys come from environment variables (hex) on the command line,
//! or from the demo's generated keys; they are never printed.

use std::sync::Arc;

use bytes::Bytes;
use card_security::mac::{MAC_KEY_LEN, MAC_LEN};
use card_security::message::{
    precompute_macs, prepare_seal, seal, seal_trailing, verify_precomputed, without_mac,
    MacFailure, SealError, Unsealed,
};
use card_security::pin::ClearPin;
use card_security::{
    KeyMaterial, MacPadding, PinFormat, SecurityError, SecurityModule, SoftwareSecurityModule,
    ZoneKeys,
};
use codecs::{Message, Spec};

/// `--mac-key-env`, `--mac-padding`, `--pin-key-env`, `--pin-format`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct SecurityOptions {
    /// Authenticate every message (MAC in field 64/128) with the key in this
    /// environment variable (hex, 16 bytes: K and K').
    #[arg(long, value_name = "VAR")]
    pub mac_key_env: Option<String>,
    /// ISO 9797-1 padding method of the MAC: 1 or 2.
    #[arg(long, value_name = "N", default_value_t = 2)]
    pub mac_padding: u8,
    /// PIN blocks (field 52) under the zone PIN key in this environment variable
    /// (hex: TDES for iso0, AES for iso4): acquirers send them, issuers check them.
    #[arg(long, value_name = "VAR")]
    pub pin_key_env: Option<String>,
    /// The PIN block format: iso0 or iso4.
    #[arg(long, value_name = "FORMAT", default_value = "iso0", value_parser = parse_format)]
    pub pin_format: PinFormat,
}

fn parse_format(text: &str) -> Result<PinFormat, String> {
    match text {
        "iso0" => Ok(PinFormat::Iso0),
        "iso4" => Ok(PinFormat::Iso4),
        other => Err(format!("{other:?} (expected iso0 or iso4)")),
    }
}

/// Why a host's keys could not be had. Names variables and lengths, never keys.
#[derive(Debug, thiserror::Error)]
pub enum HostSecurityError {
    /// A key's environment variable is not set.
    #[error("environment variable {0} is not set")]
    Unset(String),
    /// A key's variable does not hold a hex key.
    #[error("{var}: {source}")]
    Key {
        /// The variable.
        var: String,
        /// Why.
        #[source]
        source: card_security::KeyError,
    },
    /// `--mac-padding` is not 1 or 2.
    #[error(transparent)]
    Padding(#[from] card_security::mac::UnknownPadding),
    /// A MAC key of the wrong length.
    #[error("the MAC key is {MAC_KEY_LEN} bytes, not {0}")]
    MacKeyLength(usize),
    /// A PIN key that does not fit its format.
    #[error("a format {} PIN key cannot be {len} bytes", .format.name())]
    PinKeyLength {
        /// The format.
        format: PinFormat,
        /// The key's length.
        len: usize,
    },
}

/// A key from environment variable `var`; errors name the variable, never the value.
fn key_from_env(var: &str) -> Result<KeyMaterial, HostSecurityError> {
    let text = zeroize::Zeroizing::new(
        std::env::var(var).map_err(|_| HostSecurityError::Unset(var.to_string()))?,
    );
    KeyMaterial::from_hex(&text).map_err(|source| HostSecurityError::Key {
        var: var.to_string(),
        source,
    })
}

impl SecurityOptions {
    /// Load the keys named; None when neither MAC nor PIN blocks are asked for.
    pub fn load(&self) -> Result<Option<Arc<HostSecurity>>, HostSecurityError> {
        let padding = MacPadding::try_from(self.mac_padding)?;
        let mac = match &self.mac_key_env {
            Some(var) => Some((key_from_env(var)?, padding)),
            None => None,
        };
        let pin = match &self.pin_key_env {
            Some(var) => Some((key_from_env(var)?, self.pin_format)),
            None => None,
        };
        if mac.is_none() && pin.is_none() {
            return Ok(None);
        }
        HostSecurity::new(mac, pin).map(|s| Some(Arc::new(s)))
    }
}

/// The zone a host's keys are held under in its security module: a bank host
/// has one link's keys, its own.
pub const BANK_ZONE: &str = "bank";

/// A host's keys for one link: the `card-security` software module with one
/// zone ([`BANK_ZONE`]), the same code the switch runs for its links, and the
/// padding and PIN block format of the link. `Debug` shows no key material
/// (key check values only).
#[derive(Debug)]
pub struct HostSecurity {
    /// The bank's keys.
    module: SoftwareSecurityModule,
    /// The MAC padding when the link carries MACs.
    mac: Option<MacPadding>,
    /// The PIN block format when field 52 is used.
    pin: Option<PinFormat>,
}

/// A MAC'd send that failed.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// The message does not encode.
    #[error(transparent)]
    Encode(#[from] codecs::EncodeError),
    /// The MAC cannot be placed or computed.
    #[error(transparent)]
    Seal(#[from] SealError),
}

impl HostSecurity {
    /// Keys checked for size.
    pub fn new(
        mac: Option<(KeyMaterial, MacPadding)>,
        pin: Option<(KeyMaterial, PinFormat)>,
    ) -> Result<HostSecurity, HostSecurityError> {
        if let Some((k, _)) = &mac {
            if k.len() != MAC_KEY_LEN {
                return Err(HostSecurityError::MacKeyLength(k.len()));
            }
        }
        if let Some((k, format)) = &pin {
            if !format.key_fits(k.len()) {
                return Err(HostSecurityError::PinKeyLength {
                    format: *format,
                    len: k.len(),
                });
            }
        }
        let padding = mac.as_ref().map(|(_, p)| *p);
        let format = pin.as_ref().map(|(_, f)| *f);
        let mut module = SoftwareSecurityModule::default();
        module.insert(
            BANK_ZONE,
            ZoneKeys {
                mac: mac.map(|(k, _)| k),
                pin: pin.map(|(k, _)| k),
            },
        );
        Ok(HostSecurity {
            module,
            mac: padding,
            pin: format,
        })
    }

    /// The bank side of a switch link's keys (as `sim demo --security` makes them:
    /// padding method 2, PIN format 0).
    pub fn from_zone(keys: &ZoneKeys) -> Result<HostSecurity, HostSecurityError> {
        HostSecurity::new(
            keys.mac.clone().map(|k| (k, MacPadding::Method2)),
            keys.pin.clone().map(|k| (k, PinFormat::Iso0)),
        )
    }

    /// Whether messages carry MACs.
    pub fn macs(&self) -> bool {
        self.mac.is_some()
    }

    /// Whether PIN blocks are sent or checked.
    pub fn pins(&self) -> bool {
        self.pin.is_some()
    }

    /// The MAC of `data` under the bank's key.
    fn mac_of(&self, padding: MacPadding, data: &[u8]) -> Result<[u8; MAC_LEN], SecurityError> {
        self.module.generate_mac(BANK_ZONE, padding, data)
    }

    /// Encode `msg` under `spec`, sealed with a MAC when this link has a key.
    pub fn encode(&self, spec: &Spec, msg: &Message) -> Result<Bytes, SendError> {
        match self.mac {
            Some(padding) => Ok(seal(spec, msg, |data| self.mac_of(padding, data))?),
            None => Ok(spec.encode_to_bytes(&without_mac(msg))?),
        }
    }

    /// Seal in place a frame body encoded under `spec` that ends with a zeroed
    /// field 64 (see [`seal_trailing`]); nothing to do on a link without a MAC key.
    pub fn seal_encoded(&self, spec: &Spec, body: &mut [u8]) -> Result<(), SendError> {
        match self.mac {
            Some(padding) => Ok(seal_trailing(spec, body, |data| {
                self.mac_of(padding, data)
            })?),
            None => Ok(()),
        }
    }

    /// Encode `msgs` under `spec`, in order, sealed with MACs computed together
    /// when this link has a key (see [`SecurityModule::generate_macs`]).
    pub fn encode_all(&self, spec: &Spec, msgs: &[Message]) -> Vec<Result<Bytes, SendError>> {
        let Some(padding) = self.mac else {
            return msgs.iter().map(|m| self.encode(spec, m)).collect();
        };
        let unsealed: Vec<Result<Unsealed, SealError>> =
            msgs.iter().map(|m| prepare_seal(spec, m)).collect();
        let data: Vec<&[u8]> = unsealed
            .iter()
            .filter_map(|u| u.as_ref().ok().map(Unsealed::data))
            .collect();
        let mut macs = match self.module.generate_macs(BANK_ZONE, padding, &data) {
            Ok(macs) => macs.into_iter(),
            // The key was checked in `new`: only a module fault gets here.
            Err(e) => {
                return msgs
                    .iter()
                    .map(|_| Err(SealError::from(e.clone()).into()))
                    .collect()
            }
        };
        unsealed
            .into_iter()
            .map(|u| {
                let u = u?;
                let mac = macs.next().unwrap_or_default();
                Ok(u.seal(mac))
            })
            .collect()
    }

    /// Check the MAC of a received frame (Ok when this link has no MAC key).
    pub fn check(&self, spec: &Spec, body: &[u8], msg: &Message) -> Result<(), MacFailure> {
        self.check_with(spec, body, msg, None)
    }

    /// The MACs of several received frames computed together, for
    /// [`HostSecurity::check_with`] (see [`precompute_macs`]).
    pub fn expected_macs(&self, spec: &Spec, bodies: &[Bytes]) -> Vec<Option<[u8; MAC_LEN]>> {
        match self.mac {
            Some(padding) => precompute_macs(spec, bodies, |regions| {
                self.module.generate_macs(BANK_ZONE, padding, regions).ok()
            }),
            None => vec![None; bodies.len()],
        }
    }

    /// [`HostSecurity::check`] with the frame's MAC computed beforehand, if it was
    /// ([`HostSecurity::expected_macs`]).
    pub fn check_with(
        &self,
        spec: &Spec,
        body: &[u8],
        msg: &Message,
        expected: Option<[u8; MAC_LEN]>,
    ) -> Result<(), MacFailure> {
        let Some(padding) = self.mac else {
            return Ok(());
        };
        verify_precomputed(spec, body, msg, expected, |data, mac| {
            self.module.verify_mac(BANK_ZONE, padding, data, mac)
        })
    }

    /// The PIN block of `pin` (ASCII digits) for card `pan`, as a PIN pad under
    /// the acquirer's zone key would make it; None without a PIN key.
    pub fn pin_block(
        &self,
        pin_digits: &[u8],
        pan: &[u8],
    ) -> Option<Result<Vec<u8>, SecurityError>> {
        let format = self.pin?;
        Some(
            ClearPin::from_ascii(pin_digits)
                .map_err(SecurityError::PinBlock)
                .and_then(|p| self.module.encipher_pin(BANK_ZONE, format, &p, pan)),
        )
    }

    /// Whether `block` holds `expected` (ASCII digits) for card `pan`, as the
    /// issuer's HSM would check it; None without a PIN key.
    pub fn pin_matches(
        &self,
        block: &[u8],
        pan: &[u8],
        expected: &[u8],
    ) -> Option<Result<bool, SecurityError>> {
        let format = self.pin?;
        Some(
            ClearPin::from_ascii(expected)
                .map_err(SecurityError::PinBlock)
                .and_then(|p| self.module.pin_matches(BANK_ZONE, format, block, pan, &p)),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::Mti;

    #[test]
    fn a_host_and_the_switch_agree() -> Result<(), Box<dyn std::error::Error>> {
        let mac = KeyMaterial::from_hex("0123456789ABCDEFFEDCBA9876543210")?;
        let zpk = KeyMaterial::from_hex("11111111111111112222222222222222")?;
        let host = HostSecurity::new(
            Some((mac, MacPadding::Method2)),
            Some((zpk, PinFormat::Iso0)),
        )?;
        let spec = Spec::builtin("iso87ascii")?;
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set(2, "9408010000001238");
        m.set(11, "000001");
        let block = host
            .pin_block(b"1234", b"9408010000001238")
            .ok_or("no PIN key")?
            .map_err(|e| e.to_string())?;
        m.set_binary(52, &block);
        let body = host.encode(&spec, &m).map_err(|e| e.to_string())?;
        let decoded = spec.decode(body.clone()).map_err(|e| e.to_string())?;
        host.check(&spec, &body, &decoded)
            .map_err(|e| e.to_string())?;
        let f52 = decoded.get(52).ok_or("no field 52")?.bytes();
        assert_eq!(
            host.pin_matches(&f52, b"9408010000001238", b"1234"),
            Some(Ok(true))
        );
        assert_eq!(
            host.pin_matches(&f52, b"9408010000001238", b"1235"),
            Some(Ok(false))
        );
        let shown = format!("{host:?}");
        assert!(
            !shown.contains("0123456789") && !shown.contains("1111"),
            "{shown}"
        );
        Ok(())
    }
}
