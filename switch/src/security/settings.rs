//! The security part of the configuration: which links authenticate messages
//! (MAC) and translate PIN blocks, and where their keys come from. Keys are
//! never written in the configuration in the clear: each is either wrapped under
//! the local key-encryption key (KEK, from an environment variable; see
//! [`super::kek`] and `switch wrap-key`) or read from an environment variable.
//!
//! ```toml
//! [switch.security]
//! kek_env = "SWITCH_KEK"          # the variable holding the KEK (hex AES key); the default
//!
//! [[link]]
//! mac_key = { wrapped = "9E3F…" }       # 16 bytes (K and K') wrapped under the KEK
//! mac_padding = 2                       # ISO 9797-1 padding method 1 or 2 (default 2)
//! pin_key = { env = "ZPK_940810" }      # the zone PIN key, hex, from the environment
//! pin_format = "iso0"                   # iso0 (TDES key, the default) or iso4 (AES key)
//! ```
//!
//! A link with `mac_key` requires a valid MAC on every message it receives and
//! gets one on every message the switch sends it. A link with `pin_key` has its
//! PIN blocks (field 52) translated to or from the other link's key.

use std::collections::BTreeMap;

use codecs::spec::{ContentClass, DataEncoding, Length};
use codecs::Spec;
use serde::Deserialize;

use super::kek::{kek_from_env, unwrap, DEFAULT_KEK_ENV};
use super::keys::KeyMaterial;
use super::mac::{MacPadding, MAC_KEY_LEN};
use super::message::SpecCannotCarryMac;
use super::pin::PinFormat;
use super::software::ZoneKeys;
use card_security::KeyError;

/// `[switch.security]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSecurity {
    kek_env: Option<String>,
}

/// Where a key comes from, as written. A bare string is a plain key, refused
/// with a message saying what to do instead. (No `Debug`: nothing here is shown.)
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum RawKey {
    /// `{ wrapped = "HEX" }` or `{ env = "VAR" }`.
    Source(RawKeySource),
    /// `"HEX"`: refused.
    Plain(PlainKey),
}

/// A key written in the clear: read only to be refused, and wiped at once.
pub(crate) struct PlainKey;

impl<'de> Deserialize<'de> for PlainKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PlainKey, D::Error> {
        drop(zeroize::Zeroizing::new(String::deserialize(d)?));
        Ok(PlainKey)
    }
}

/// `{ wrapped = ... }` / `{ env = ... }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKeySource {
    wrapped: Option<String>,
    env: Option<String>,
}

/// The security fields of one `[[link]]` as written.
#[derive(Default)]
pub(crate) struct RawLinkSecurity<'a> {
    pub(crate) mac_key: Option<&'a RawKey>,
    pub(crate) mac_padding: Option<MacPadding>,
    pub(crate) pin_key: Option<&'a RawKey>,
    pub(crate) pin_format: Option<PinFormat>,
}

/// What a link does for security (no key material: the keys are in the
/// security module, found by link name).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkSecurity {
    /// Messages on this link carry a MAC with this padding.
    pub mac: Option<MacPadding>,
    /// PIN blocks on this link are in this format under the link's PIN key.
    pub pin: Option<PinFormat>,
}

/// The keys of every link, loaded and checked.
#[derive(Clone, Debug, Default)]
pub struct SecurityConfig {
    /// The variable the KEK is read from.
    pub kek_env: String,
    /// Keys by link name (the security module's zones).
    pub keys: BTreeMap<String, ZoneKeys>,
}

impl SecurityConfig {
    /// The variable the KEK is read from (the default when none is set, as in
    /// a configuration built in code).
    pub fn kek_var(&self) -> &str {
        if self.kek_env.is_empty() {
            DEFAULT_KEK_ENV
        } else {
            &self.kek_env
        }
    }
}

/// What `SoftwareSecurityModule::from_config` reads: the configured zones.
impl card_security::ZoneKeySource for SecurityConfig {
    fn for_each_zone(&self, f: &mut dyn FnMut(&str, &ZoneKeys)) {
        for (zone, keys) in &self.keys {
            f(zone, keys);
        }
    }
}

/// A problem with a link's (or the journal's) key settings. Messages name the
/// field and, for keys from the environment, the variable: never key material.
#[derive(Debug, thiserror::Error)]
pub enum KeySettingError {
    /// A key written in the clear.
    #[error(
        "{0}: keys are not written in the clear; give {{ wrapped = \"...\" }} \
         (switch wrap-key) or {{ env = \"VARIABLE\" }}"
    )]
    Plain(&'static str),
    /// Neither or both of `wrapped` and `env`.
    #[error("{0}: give exactly one of wrapped (under the KEK) or env (a variable name)")]
    Source(&'static str),
    /// `{ env = VAR }` with VAR unset.
    #[error("{what}: environment variable {var} is not set")]
    Unset {
        /// The field.
        what: &'static str,
        /// The variable.
        var: String,
    },
    /// The variable's value is not a hex key.
    #[error("{what}: {var}: {reason}")]
    NotHex {
        /// The field.
        what: &'static str,
        /// The variable.
        var: String,
        /// Why (never the value).
        reason: KeyError,
    },
    /// The KEK could not be had, or the key did not unwrap under it.
    #[error("{what}: {reason}")]
    Unwrap {
        /// The field.
        what: &'static str,
        /// Why.
        reason: KeyError,
    },
    /// `mac_padding` without `mac_key`.
    #[error("mac_padding needs mac_key")]
    PaddingWithoutKey,
    /// `pin_format` without `pin_key`.
    #[error("pin_format needs pin_key")]
    FormatWithoutKey,
    /// The link's spec cannot carry a MAC.
    #[error(transparent)]
    MacSpec(SpecCannotCarryMac),
    /// A MAC key of the wrong length.
    #[error("mac_key: a retail MAC key is {MAC_KEY_LEN} bytes (K and K'), not {0}")]
    MacKeyLength(usize),
    /// A PIN key that does not fit its format.
    #[error("pin_key: a format {} PIN key cannot be {len} bytes ({})", .format.name(), pin_key_lengths(*.format))]
    PinKeyLength {
        /// The link's PIN block format.
        format: PinFormat,
        /// The key's length.
        len: usize,
    },
    /// The spec's field 52 cannot hold the format's block.
    #[error("pin_format {}: spec {spec} cannot carry a {}-byte PIN block in field 52", .format.name(), .format.block_len())]
    PinField {
        /// The link's PIN block format.
        format: PinFormat,
        /// The spec's name.
        spec: String,
    },
}

/// The key lengths a PIN block format takes, for messages.
fn pin_key_lengths(format: PinFormat) -> &'static str {
    match format {
        PinFormat::Iso0 => "TDES: 16 or 24",
        PinFormat::Iso4 => "AES: 16, 24 or 32",
    }
}

impl RawKey {
    /// Whether the key is written the way keys may be (first stage: nothing
    /// is read).
    pub(crate) fn check_source(&self, what: &'static str) -> Result<(), KeySettingError> {
        self.source(what).map(|_| ())
    }

    /// `(wrapped, env)`, exactly one of them.
    fn source(&self, what: &'static str) -> Result<KeySource<'_>, KeySettingError> {
        match self {
            RawKey::Plain(_) => Err(KeySettingError::Plain(what)),
            RawKey::Source(s) => match (&s.wrapped, &s.env) {
                (Some(wrapped), None) => Ok(KeySource::Wrapped(wrapped)),
                (None, Some(var)) => Ok(KeySource::Env(var)),
                _ => Err(KeySettingError::Source(what)),
            },
        }
    }
}

/// Where a well-written key comes from.
enum KeySource<'a> {
    Wrapped(&'a str),
    Env(&'a str),
}

/// Reads the KEK at most once, only if some key is wrapped.
pub(crate) struct KeyLoader {
    kek_env: String,
    kek: Option<Result<KeyMaterial, KeyError>>,
    /// False when the configuration is read without its secrets (`gen-certs`).
    load: bool,
}

impl KeyLoader {
    /// A loader for `[switch.security]`; `load` false: keys are not read.
    pub(crate) fn new(raw: Option<&RawSecurity>, load: bool) -> KeyLoader {
        KeyLoader {
            kek_env: raw
                .and_then(|r| r.kek_env.clone())
                .unwrap_or_else(|| DEFAULT_KEK_ENV.into()),
            kek: None,
            load,
        }
    }

    /// The configuration part kept after validation.
    pub(crate) fn config(&self) -> SecurityConfig {
        SecurityConfig {
            kek_env: self.kek_env.clone(),
            keys: BTreeMap::new(),
        }
    }

    /// The key `raw` names; `what` names it in errors ("mac_key"). None when
    /// keys are not read.
    pub(crate) fn key(
        &mut self,
        raw: &RawKey,
        what: &'static str,
    ) -> Result<Option<KeyMaterial>, KeySettingError> {
        let source = raw.source(what)?;
        if !self.load {
            return Ok(None);
        }
        let unwrap_error = |reason| KeySettingError::Unwrap { what, reason };
        match source {
            KeySource::Wrapped(wrapped) => {
                let env = self.kek_env.clone();
                let kek = self.kek.get_or_insert_with(|| kek_from_env(&env));
                let kek = kek.as_ref().map_err(|e| unwrap_error(e.clone()))?;
                unwrap(kek, wrapped).map(Some).map_err(unwrap_error)
            }
            KeySource::Env(var) => {
                let text = zeroize::Zeroizing::new(std::env::var(var).map_err(|_| {
                    KeySettingError::Unset {
                        what,
                        var: var.to_string(),
                    }
                })?);
                KeyMaterial::from_hex(&text)
                    .map(Some)
                    .map_err(|e| KeySettingError::NotHex {
                        what,
                        var: var.to_string(),
                        reason: e,
                    })
            }
        }
    }
}

/// First stage: check one link's security fields as written (nothing is read).
pub(crate) fn link_security_settings(
    raw: &RawLinkSecurity<'_>,
) -> Result<LinkSecurity, KeySettingError> {
    if raw.mac_padding.is_some() && raw.mac_key.is_none() {
        return Err(KeySettingError::PaddingWithoutKey);
    }
    if raw.pin_format.is_some() && raw.pin_key.is_none() {
        return Err(KeySettingError::FormatWithoutKey);
    }
    let mut security = LinkSecurity::default();
    if let Some(key) = raw.mac_key {
        key.check_source("mac_key")?;
        security.mac = Some(raw.mac_padding.unwrap_or_default());
    }
    if let Some(key) = raw.pin_key {
        key.check_source("pin_key")?;
        security.pin = Some(raw.pin_format.unwrap_or_default());
    }
    Ok(security)
}

/// Second stage: check the settings against the link's spec and read its keys
/// (None when the configuration is read without secrets or has none).
pub(crate) fn link_keys(
    raw: &RawLinkSecurity<'_>,
    settings: LinkSecurity,
    spec: &Spec,
    loader: &mut KeyLoader,
) -> Result<Option<ZoneKeys>, KeySettingError> {
    let mut keys = ZoneKeys::default();
    if let (Some(raw_key), Some(_)) = (raw.mac_key, settings.mac) {
        super::message::check_spec(spec).map_err(KeySettingError::MacSpec)?;
        let key = loader.key(raw_key, "mac_key")?;
        if let Some(k) = key.as_ref().filter(|k| k.len() != MAC_KEY_LEN) {
            return Err(KeySettingError::MacKeyLength(k.len()));
        }
        keys.mac = key;
    }
    if let (Some(raw_key), Some(format)) = (raw.pin_key, settings.pin) {
        check_pin_field(spec, format)?;
        let key = loader.key(raw_key, "pin_key")?;
        if let Some(k) = key.as_ref().filter(|k| !format.key_fits(k.len())) {
            return Err(KeySettingError::PinKeyLength {
                format,
                len: k.len(),
            });
        }
        keys.pin = key;
    }
    let loaded = keys.mac.is_some() || keys.pin.is_some();
    Ok(loaded.then_some(keys))
}

/// Whether `spec`'s field 52 holds a block of `format`.
fn check_pin_field(spec: &Spec, format: PinFormat) -> Result<(), KeySettingError> {
    let bytes = format.block_len();
    let fits = spec.field(52).is_some_and(|f| {
        let units = match f.encoding {
            DataEncoding::Ascii => bytes * 2,
            _ => bytes,
        };
        f.class == ContentClass::B
            && match f.length {
                Length::Fixed(n) => usize::from(n) == units,
                Length::Variable { max, .. } => usize::from(max) >= units,
            }
    });
    if fits {
        Ok(())
    } else {
        Err(KeySettingError::PinField {
            format,
            spec: spec.name.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Both stages, as the configuration runs them.
    fn link_security(
        raw: &RawLinkSecurity<'_>,
        spec: &Spec,
        loader: &mut KeyLoader,
    ) -> Result<(LinkSecurity, Option<ZoneKeys>), String> {
        let settings = link_security_settings(raw).map_err(|e| e.to_string())?;
        let keys = link_keys(raw, settings, spec, loader).map_err(|e| e.to_string())?;
        Ok((settings, keys))
    }

    fn raw_key(text: &str) -> RawKey {
        #[derive(Deserialize)]
        struct K {
            k: RawKey,
        }
        toml::from_str::<K>(&format!("k = {text}")).unwrap().k
    }

    #[test]
    fn keys_from_the_environment_and_wrapped() {
        let spec = Spec::builtin("iso87ascii").unwrap();
        std::env::set_var("SEC_SETTINGS_MAC", "0123456789ABCDEFFEDCBA9876543210");
        std::env::set_var("SEC_SETTINGS_KEK", "000102030405060708090A0B0C0D0E0F");
        let kek = KeyMaterial::from_hex("000102030405060708090A0B0C0D0E0F").unwrap();
        let zpk = KeyMaterial::from_hex("00112233445566778899AABBCCDDEEFF").unwrap();
        let wrapped = super::super::kek::wrap(&kek, &zpk).unwrap();
        let raw_security: RawSecurity = toml::from_str("kek_env = \"SEC_SETTINGS_KEK\"").unwrap();
        let mut loader = KeyLoader::new(Some(&raw_security), true);
        let (mac, pin) = (
            raw_key("{ env = \"SEC_SETTINGS_MAC\" }"),
            raw_key(&format!("{{ wrapped = \"{wrapped}\" }}")),
        );
        let raw = RawLinkSecurity {
            mac_key: Some(&mac),
            mac_padding: Some(MacPadding::Method1),
            pin_key: Some(&pin),
            pin_format: None,
        };
        let (security, keys) = link_security(&raw, &spec, &mut loader).unwrap();
        assert_eq!(security.mac, Some(MacPadding::Method1));
        assert_eq!(security.pin, Some(PinFormat::Iso0));
        let keys = keys.unwrap();
        assert_eq!(keys.pin.unwrap(), zpk);
        assert_eq!(keys.mac.unwrap().len(), 16);
        // Read without secrets: settings, no keys.
        let mut no_load = KeyLoader::new(None, false);
        let (s, k) = link_security(&raw, &spec, &mut no_load).unwrap();
        assert!(s.mac.is_some() && k.is_none());
    }

    #[test]
    fn problems_are_named_without_key_material() {
        let spec = Spec::builtin("iso87ascii").unwrap();
        let mut loader = KeyLoader::new(None, true);
        let plain = raw_key("\"0123456789ABCDEFFEDCBA9876543210\"");
        let raw = RawLinkSecurity {
            mac_key: Some(&plain),
            ..Default::default()
        };
        let e = link_security(&raw, &spec, &mut loader).unwrap_err();
        assert!(
            e.contains("not written in the clear") && !e.contains("0123"),
            "{e}"
        );
        let unset = raw_key("{ env = \"SEC_SETTINGS_UNSET\" }");
        let raw = RawLinkSecurity {
            pin_key: Some(&unset),
            ..Default::default()
        };
        assert!(link_security(&raw, &spec, &mut loader)
            .unwrap_err()
            .contains("SEC_SETTINGS_UNSET is not set"));
        let wrapped = raw_key("{ wrapped = \"1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5\" }");
        let raw = RawLinkSecurity {
            pin_key: Some(&wrapped),
            ..Default::default()
        };
        let mut loader = KeyLoader::new(None, true);
        let e = link_security(&raw, &spec, &mut loader).unwrap_err();
        assert!(e.contains("SWITCH_KEK") || e.contains("unwrap"), "{e}");
        let raw = RawLinkSecurity {
            mac_padding: Some(MacPadding::Method2),
            ..Default::default()
        };
        assert!(link_security(&raw, &spec, &mut loader)
            .unwrap_err()
            .contains("needs mac_key"));
        std::env::set_var("SEC_SETTINGS_SHORT", "0011223344556677");
        let short = raw_key("{ env = \"SEC_SETTINGS_SHORT\" }");
        let raw = RawLinkSecurity {
            pin_key: Some(&short),
            pin_format: Some(PinFormat::Iso0),
            ..Default::default()
        };
        let e = link_security(&raw, &spec, &mut loader).unwrap_err();
        assert!(
            e.contains("cannot be 8 bytes") && !e.contains("0011"),
            "{e}"
        );
        // Format 4 blocks are 16 bytes: the built-in field 52 holds 8.
        let raw = RawLinkSecurity {
            pin_key: Some(&short),
            pin_format: Some(PinFormat::Iso4),
            ..Default::default()
        };
        assert!(link_security(&raw, &spec, &mut loader)
            .unwrap_err()
            .contains("cannot carry a 16-byte PIN block"));
        assert!(toml::from_str::<RawSecurity>("kek = \"x\"").is_err());
    }
}
