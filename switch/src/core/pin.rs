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
                metrics::counter!("switch_pin_translations_total", "outcome" => "no key")
                    .increment(1);
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
                metrics::counter!("switch_pin_translations_total", "outcome" => "translated")
                    .increment(1);
                return Ok(Some(translated));
            }
            Err(SecurityError::PinBlock(PinBlockError::Length { .. } | PinBlockError::Pan)) => {
                (ResponseCode::FORMAT_ERROR, "format")
            }
            Err(SecurityError::PinBlock(_)) => (pin_crypto_error(), "undecipherable"),
            Err(SecurityError::Unavailable(_)) => (ResponseCode::ISSUER_INOPERATIVE, "unavailable"),
            Err(SecurityError::NoKey { .. } | SecurityError::BadKey { .. }) => {
                (ResponseCode::SYSTEM_MALFUNCTION, "no key")
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
        metrics::counter!("switch_pin_translations_total", "outcome" => outcome).increment(1);
        Err(rc)
    }
}
