//! Field 52 on the way to the issuer: a PIN block enciphered under the
//! acquirer's zone PIN key is translated by the security module to the issuer
//! link's key and format. The core never sees a clear PIN or a key; it only
//! decides what a failure means for the acquirer. Logs name the field and the
//! links, never the block.
//!
//! - Neither link has a PIN key: the block is not the switch's business and
//!   passes unchanged (keys agreed end to end, or no PINs on this network).
//! - One has and the other has not: declined 96 (a configuration gap; a block
//!   under one zone's key is useless to the other).
//! - Both have: translated; a block of the wrong length is declined 30, a block
//!   that does not decipher under the acquirer's key 81 (PIN cryptographic
//!   error), a module without the keys 96, an unreachable module 91.

use codecs::{Message, ResponseCode};

use super::counters::PinOutcome;
use super::links::Link;
use super::Core;
use crate::security::pin::PinBlockError;
use crate::security::{PinZone, SecurityError};

/// RC 81: the PIN block could not be deciphered (ISO 8583 "PIN cryptographic
/// error" as networks use it; not in the 1987 table).
pub fn pin_crypto_error() -> ResponseCode {
    ResponseCode::new("81").unwrap_or(ResponseCode::FORMAT_ERROR)
}

impl Core {
    /// The PIN block `msg` should carry to `issuer`: `Ok(None)` to leave field 52
    /// as it is (absent, or not translated), `Ok(Some(block))` to replace it,
    /// `Err(rc)` to decline the request.
    pub(crate) fn pin_block_for(
        &self,
        acquirer: &Link,
        issuer: &Link,
        msg: &Message,
    ) -> Result<Option<Vec<u8>>, ResponseCode> {
        let Some(field) = msg.get(52) else {
            return Ok(None);
        };
        let (from, to) = (acquirer.config.security.pin, issuer.config.security.pin);
        let (from, to) = match (from, to) {
            (None, None) => return Ok(None),
            (Some(from), Some(to)) => (from, to),
            (from, _) => {
                let without = if from.is_none() {
                    &acquirer.config.name
                } else {
                    &issuer.config.name
                };
                tracing::warn!(
                    target: "switch::security",
                    acquirer = %acquirer.config.name,
                    issuer = %issuer.config.name,
                    field = 52,
                    link_without_pin_key = %without,
                    "PIN block cannot be translated: one link has no PIN key; RC 96"
                );
                self.counters.pin(PinOutcome::NoKey);
                return Err(ResponseCode::SYSTEM_MALFUNCTION);
            }
        };
        let pan = msg.pan();
        let pan = pan.as_ref().map(|p| p.digits()).unwrap_or(&[]);
        let block = field.bytes();
        let result = self.security.translate_pin(
            PinZone {
                zone: &acquirer.config.name,
                format: from,
            },
            PinZone {
                zone: &issuer.config.name,
                format: to,
            },
            &block,
            pan,
        );
        let (rc, outcome) = match result {
            Ok(translated) => {
                self.counters.pin(PinOutcome::Translated);
                return Ok(Some(translated));
            }
            Err(SecurityError::PinBlock(PinBlockError::Length { .. } | PinBlockError::Pan)) => {
                (ResponseCode::FORMAT_ERROR, PinOutcome::Format)
            }
            Err(SecurityError::PinBlock(_)) => (pin_crypto_error(), PinOutcome::Undecipherable),
            Err(SecurityError::Unavailable(_)) => {
                (ResponseCode::ISSUER_INOPERATIVE, PinOutcome::Unavailable)
            }
            Err(SecurityError::NoKey { .. } | SecurityError::BadKey { .. }) => {
                (ResponseCode::SYSTEM_MALFUNCTION, PinOutcome::NoKey)
            }
        };
        if let Err(e) = &result {
            tracing::warn!(
                target: "switch::security",
                acquirer = %acquirer.config.name,
                issuer = %issuer.config.name,
                mti = %msg.mti(),
                stan = ?msg.stan(),
                field = 52,
                error = %e,
                rc = %rc,
                "PIN block not translated"
            );
        }
        self.counters.pin(outcome);
        Err(rc)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use codecs::framing::LengthHeader;
    use codecs::{Message, Mti, ResponseCode, Spec};
    use routing_rules::{RoutingTable, SharedRoutingTable};

    use crate::config::{Direction, LinkConfig, Role};
    use crate::core::{answer, Action, Core, CoreSettings, Millis};
    use crate::security::pin::{decipher, encipher, ClearPin};
    use crate::security::{KeyMaterial, LinkSecurity, PinFormat, SoftwareSecurityModule, ZoneKeys};

    const ACQ_ZPK: [u8; 16] = [0x13; 16];
    const ISS_ZPK: [u8; 16] = [0x5B; 16];
    const PAN: &[u8] = b"9408010000001238";

    fn link(name: &str, role: Role, bank: &str, pin: bool) -> Arc<LinkConfig> {
        Arc::new(LinkConfig {
            name: name.into(),
            role,
            bank: bank.into(),
            acquirers: vec![bank.into()],
            direction: Direction::Listen,
            address: "127.0.0.1:0".parse().unwrap(),
            spec: Spec::builtin("iso87ascii").unwrap(),
            framing: LengthHeader::Binary2,
            timeout: Duration::from_secs(10),
            cash_timeout: Duration::from_secs(25),
            echo_interval: Duration::from_secs(30),
            max_missed_echoes: 3,
            max_in_flight: 100,
            max_connections: 8,
            security: LinkSecurity {
                mac: None,
                pin: pin.then_some(PinFormat::Iso0),
            },
        })
    }

    /// A core with acquirer link 1 and signed-on issuer link 2; PIN keys on the
    /// links that `acq_pin` / `iss_pin` say.
    fn core(acq_pin: bool, iss_pin: bool) -> Core {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        let table = RoutingTable::load(Path::new(path)).unwrap().0;
        let mut module = SoftwareSecurityModule::default();
        for (zone, key) in [("acq", ACQ_ZPK), ("iss", ISS_ZPK)] {
            module.insert(
                zone,
                ZoneKeys {
                    mac: None,
                    pin: Some(KeyMaterial::new(key.to_vec())),
                },
            );
        }
        let core = Core::new(
            CoreSettings::default(),
            Arc::new(SharedRoutingTable::new(table)),
        )
        .with_security(Arc::new(module));
        core.on_link_up(Millis(0), 1, link("acq", Role::Acquirer, "940810", acq_pin));
        let up = core.on_link_up(Millis(0), 2, link("iss", Role::Issuer, "940800", iss_pin));
        let Some(Action::Send { msg, .. }) = up.into_iter().next() else {
            panic!("no sign-on");
        };
        core.on_message(Millis(0), 2, answer(&msg, ResponseCode::APPROVED).unwrap());
        assert!(core.link_usable(2));
        core
    }

    fn request(block: &[u8]) -> Message {
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set(2, std::str::from_utf8(PAN).unwrap());
        m.set(3, "000000");
        m.set(4, "000000001500");
        m.set(7, "1125103000");
        m.set(11, "000001");
        m.set(32, "940810");
        m.set(37, "000000000001");
        m.set(41, "TERM0001");
        m.set(49, "408");
        m.set_binary(52, block);
        m
    }

    /// The message sent on `link`.
    fn sent(actions: &[Action], link: u32) -> Message {
        actions
            .iter()
            .find_map(|a| match a {
                Action::Send { link: l, msg } if *l == link => Some(msg.clone()),
                _ => None,
            })
            .unwrap()
    }

    #[test]
    fn translated_passed_through_or_declined() {
        let pin = ClearPin::from_ascii(b"2468").unwrap();
        let block = encipher(PinFormat::Iso0, &ACQ_ZPK, &pin, PAN).unwrap();

        // Both links have keys: re-enciphered under the issuer's.
        let actions = core(true, true).on_message(Millis(1), 1, request(&block));
        let fwd = sent(&actions, 2);
        let out = fwd.get(52).unwrap().bytes().into_owned();
        assert_ne!(out, block);
        assert!(decipher(PinFormat::Iso0, &ISS_ZPK, &out, PAN)
            .unwrap()
            .matches(&pin));

        // Neither has: not the switch's business, passed as it came.
        let actions = core(false, false).on_message(Millis(1), 1, request(&block));
        assert_eq!(
            sent(&actions, 2).get(52).unwrap().bytes().as_ref(),
            &block[..]
        );

        // Only one has: 96, nothing forwarded.
        for (acq, iss) in [(true, false), (false, true)] {
            let actions = core(acq, iss).on_message(Millis(1), 1, request(&block));
            let r = sent(&actions, 1);
            assert_eq!(r.response_code().as_deref(), Some("96"), "{acq} {iss}");
            assert!(!actions
                .iter()
                .any(|a| matches!(a, Action::Send { link: 2, .. })));
        }

        // A block that does not decipher under the acquirer's key: 81.
        let foreign = encipher(PinFormat::Iso0, &ISS_ZPK, &pin, PAN).unwrap();
        let actions = core(true, true).on_message(Millis(1), 1, request(&foreign));
        let r = sent(&actions, 1);
        assert_eq!(r.response_code().as_deref(), Some("81"));
        assert!(!r.has(52));
    }
}
