//! Field 52 on the way to the issuer: a PIN block enciphered under the
//! acquirer's zone PIN key is translated by the security module to the issuer
//! link's key and format. The core never sees a clear PIN or a key, and never
//! calls the module: it asks for the translation with
//! [`Action::TranslatePin`] and goes on when the driver hands the answer to
//! [`Core::on_pin_translated`], so an HSM on the network can answer
//! asynchronously while the worker serves other messages (the software module
//! answers within the same event). Logs name the field and the links, never the
//! block.
//!
//! - Neither link has a PIN key: the block is not the switch's business and
//!   passes unchanged (keys agreed end to end, or no PINs on this network).
//! - One has and the other has not: declined 96 (a configuration gap; a block
//!   under one zone's key is useless to the other).
//! - Both have: translated; a block of the wrong length is declined 30, a block
//!   that does not decipher under the acquirer's key 81 (PIN cryptographic
//!   error), a module without the keys 96, an unavailable module 91.
//! - The answer has a deadline (`CoreSettings::hsm_timeout`, 2 s by default):
//!   past it the acquirer is answered 91 (the issuer is as unreachable as if its
//!   link were down; nothing was forwarded, so no reversal is owed), the decline
//!   is journaled, and an answer that comes later is ignored (counted).
//!
//! The issuer link is picked before the request is parked, the switch's STAN
//! after the answer: the link decides the target zone (its name, PIN key and
//! block format), so the translation is only good for that link; the STAN is
//! only needed on the wire, and taken late it is never burnt by a decline nor
//! held in the in-flight space while the module works. Should the picked link
//! go down or fill up meanwhile, the request is declined 91 (another link of
//! the bank may hold another key: it would need another translation).

use std::sync::Arc;

use codecs::{Message, ResponseCode};

use super::action::{Action, Actions, LinkId};
use super::counters::PinOutcome;
use super::links::Link;
use super::pin_pending::PendingPin;
use super::request::Route;
use super::{Core, Millis};
use crate::config::LinkConfig;
use crate::security::pin::PinBlockError;
use crate::security::{PinFormat, PinZone, SecurityError};

/// RC 81: the PIN block could not be deciphered (ISO 8583 "PIN cryptographic
/// error" as networks use it; not in the 1987 table).
pub fn pin_crypto_error() -> ResponseCode {
    ResponseCode::new("81").unwrap_or(ResponseCode::FORMAT_ERROR)
}

/// What the security module is asked to do for [`Action::TranslatePin`]:
/// re-encipher `block` from the acquirer link's zone to the issuer link's.
/// Its Debug output shows the zones and formats, never the block or the PAN.
pub struct PinRequest {
    /// Names the answer ([`Core::on_pin_translated`]).
    pub token: u64,
    acquirer: Arc<LinkConfig>,
    issuer: Arc<LinkConfig>,
    from: PinFormat,
    to: PinFormat,
    block: zeroize::Zeroizing<Vec<u8>>,
    pan: zeroize::Zeroizing<Vec<u8>>,
}

impl PinRequest {
    /// The source zone (the acquirer link) and its block format.
    pub fn from(&self) -> PinZone<'_> {
        PinZone {
            zone: &self.acquirer.name,
            format: self.from,
        }
    }

    /// The target zone (the issuer link) and its block format.
    pub fn to(&self) -> PinZone<'_> {
        PinZone {
            zone: &self.issuer.name,
            format: self.to,
        }
    }

    /// The PIN block as the acquirer sent it.
    pub fn block(&self) -> &[u8] {
        &self.block
    }

    /// The card's PAN (ASCII digits; empty if the request has none).
    pub fn pan(&self) -> &[u8] {
        &self.pan
    }
}

impl std::fmt::Debug for PinRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinRequest")
            .field("token", &self.token)
            .field("from", &self.from())
            .field("to", &self.to())
            .field("block", &format_args!("<{} bytes>", self.block.len()))
            .field("pan", &"<redacted>")
            .finish()
    }
}

/// What to do with field 52 before forwarding.
pub(crate) enum PinPlan {
    /// Absent, or not the switch's business: forward as it is.
    Unchanged,
    /// Decline the request.
    Decline(ResponseCode),
    /// Ask the module: from the acquirer's format to the issuer's.
    Translate(PinFormat, PinFormat),
}

/// The response code and outcome a failed translation means.
fn failure(e: &SecurityError) -> (ResponseCode, PinOutcome) {
    use crate::error::{Classify, Disposition};
    // The response code is the taxonomy's (one mapping, `crate::error`); the
    // outcome only names the counter.
    let rc = match e.disposition() {
        Disposition::Answer(rc) => rc,
        _ => ResponseCode::SYSTEM_MALFUNCTION,
    };
    let outcome = match e {
        SecurityError::PinBlock(PinBlockError::Length { .. } | PinBlockError::Pan) => {
            PinOutcome::Format
        }
        SecurityError::PinBlock(_) => PinOutcome::Undecipherable,
        SecurityError::Unavailable(_) => PinOutcome::Unavailable,
        SecurityError::NoKey { .. } | SecurityError::BadKey { .. } => PinOutcome::NoKey,
    };
    (rc, outcome)
}

impl Core {
    /// What field 52 of `msg` needs on its way from `acquirer` to `issuer`.
    pub(crate) fn pin_plan(&self, acquirer: &Link, issuer: &Link, msg: &Message) -> PinPlan {
        if !msg.has(52) {
            return PinPlan::Unchanged;
        }
        match (acquirer.config.security.pin, issuer.config.security.pin) {
            (None, None) => PinPlan::Unchanged,
            (Some(from), Some(to)) => PinPlan::Translate(from, to),
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
                PinPlan::Decline(ResponseCode::SYSTEM_MALFUNCTION)
            }
        }
    }

    /// Park `msg` (its route decided, `issuer_link` picked) and ask for its PIN
    /// block's translation.
    pub(crate) fn park_for_pin(
        &self,
        now: Millis,
        acquirer: &Link,
        issuer_link: Arc<Link>,
        msg: Message,
        route: Route,
        (from, to): (PinFormat, PinFormat),
    ) -> Actions {
        let block = msg
            .get(52)
            .map(|f| f.bytes().into_owned())
            .unwrap_or_default();
        let pan = msg.pan().map(|p| p.digits().to_vec()).unwrap_or_default();
        let issuer = issuer_link.config.clone();
        let deadline = now.after(self.settings.hsm_timeout);
        let token = self.pins.park(PendingPin {
            deadline,
            started: now,
            acquirer: acquirer.id,
            issuer_link,
            msg,
            route,
        });
        self.note_deadline(deadline);
        vec![Action::TranslatePin(Box::new(PinRequest {
            token,
            acquirer: acquirer.config.clone(),
            issuer,
            from,
            to,
            block: zeroize::Zeroizing::new(block),
            pan: zeroize::Zeroizing::new(pan),
        }))]
    }

    /// The security module answered the translation `token`: the request is
    /// forwarded with the new block, or declined with the failure's code. An
    /// answer after the deadline finds nothing and is ignored (counted).
    pub fn on_pin_translated(
        &self,
        now: Millis,
        token: u64,
        result: Result<Vec<u8>, SecurityError>,
    ) -> Actions {
        let Some(p) = self.pins.take(token) else {
            self.counters.pin_late();
            tracing::info!(
                target: "switch::security",
                token,
                "PIN translation answered after its deadline; ignored"
            );
            return Vec::new();
        };
        let block = match result {
            Ok(block) => block,
            Err(e) => {
                let (rc, outcome) = failure(&e);
                let acquirer = self.links.get(p.acquirer);
                tracing::warn!(
                    target: "switch::security",
                    acquirer = acquirer.as_ref().map_or("(gone)", |l| l.config.name.as_str()),
                    issuer = %p.issuer_link.config.name,
                    mti = %p.msg.mti(),
                    stan = ?p.msg.stan(),
                    field = 52,
                    error = %e,
                    rc = %rc,
                    "PIN block not translated"
                );
                self.counters.pin(outcome);
                return self.decline(now, p.acquirer, &p.msg, rc, Some(p.route.issuer));
            }
        };
        self.counters.pin(PinOutcome::Translated);
        let link = &p.issuer_link;
        // An acquirer gone meanwhile could not hear the answer: not forwarded
        // (the issuer would approve, and the switch reverse it at once).
        if self.links.get(p.acquirer).is_none()
            || !link.usable()
            || link.in_flight.load(std::sync::atomic::Ordering::Relaxed)
                >= link.config.max_in_flight
        {
            tracing::info!(issuer_link = %link.config.name, "acquirer gone, or issuer link lost or full, while the PIN block was translated; RC 91");
            return self.decline(
                now,
                p.acquirer,
                &p.msg,
                ResponseCode::ISSUER_INOPERATIVE,
                Some(p.route.issuer),
            );
        }
        self.dispatch(
            now,
            p.acquirer,
            &p.issuer_link,
            p.msg,
            p.route,
            Some(block),
            p.started,
        )
    }

    /// Requests whose translation is past its deadline: 91 to the acquirer,
    /// journaled.
    pub(crate) fn expire_pins(&self, now: Millis, actions: &mut Actions) {
        for (token, p) in self.pins.expired(now) {
            self.decline_unanswered_pin(now, token, p, actions);
        }
    }

    /// Shutdown: every parked request is declined 91 now.
    pub(crate) fn expire_all_pins(&self, now: Millis, actions: &mut Actions) {
        for token in self.pins.tokens() {
            if let Some(p) = self.pins.take(token) {
                self.decline_unanswered_pin(now, token, p, actions);
            }
        }
    }

    fn decline_unanswered_pin(
        &self,
        now: Millis,
        token: u64,
        p: PendingPin,
        actions: &mut Actions,
    ) {
        tracing::warn!(
            target: "switch::security",
            token,
            issuer_link = %p.issuer_link.config.name,
            mti = %p.msg.mti(),
            stan = ?p.msg.stan(),
            "security module did not answer the PIN translation in time; RC 91"
        );
        self.counters.pin(PinOutcome::TimedOut);
        let acquirer: LinkId = p.acquirer;
        actions.extend(self.decline(
            now,
            acquirer,
            &p.msg,
            ResponseCode::ISSUER_INOPERATIVE,
            Some(p.route.issuer),
        ));
    }
}

#[cfg(test)]
pub(crate) mod tests {
    #![allow(clippy::unwrap_used)]
    use std::path::Path;
    use std::sync::Arc;
    use std::time::Duration;

    use codecs::framing::LengthHeader;
    use codecs::{Message, Mti, ResponseCode, Spec};
    use routing_rules::{RoutingTable, SharedRoutingTable};

    use crate::config::{Direction, LinkConfig, Role};
    use crate::core::{answer, Action, Actions, Core, CoreSettings, Millis};
    use crate::security::pin::{decipher, encipher, ClearPin};
    use crate::security::{
        KeyMaterial, LinkSecurity, PinFormat, SecurityModule, SoftwareSecurityModule, ZoneKeys,
    };

    pub(crate) const ACQ_ZPK: [u8; 16] = [0x13; 16];
    pub(crate) const ISS_ZPK: [u8; 16] = [0x5B; 16];
    pub(crate) const PAN: &[u8] = b"9408010000001238";

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

    /// The software module with both links' PIN keys.
    pub(crate) fn module() -> SoftwareSecurityModule {
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
        module
    }

    /// A core with acquirer link 1 and signed-on issuer link 2; PIN keys on the
    /// links that `acq_pin` / `iss_pin` say.
    pub(crate) fn core(acq_pin: bool, iss_pin: bool) -> Core {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        let table = RoutingTable::load(Path::new(path)).unwrap().0;
        let core = Core::new(
            CoreSettings::default(),
            Arc::new(SharedRoutingTable::new(table)),
        );
        core.on_link_up(Millis(0), 1, link("acq", Role::Acquirer, "940810", acq_pin));
        let up = core.on_link_up(Millis(0), 2, link("iss", Role::Issuer, "940800", iss_pin));
        let Some(Action::Send { msg, .. }) = up.into_iter().next() else {
            panic!("no sign-on");
        };
        core.on_message(Millis(0), 2, answer(&msg, ResponseCode::APPROVED).unwrap());
        assert!(core.link_usable(2));
        core
    }

    /// `actions` carried out as the driver does with the software module: a
    /// PIN translation is answered at once and its answer's actions replace it.
    fn drive(core: &Core, actions: Actions) -> Actions {
        let module = module();
        let mut out = Vec::new();
        for action in actions {
            match action {
                Action::TranslatePin(req) => {
                    let result = module.translate_pin(req.from(), req.to(), req.block(), req.pan());
                    out.extend(drive(
                        core,
                        core.on_pin_translated(Millis(1), req.token, result),
                    ));
                }
                other => out.push(other),
            }
        }
        out
    }

    /// A request from the acquirer, its PIN translation answered at once.
    fn submit(core: &Core, msg: Message) -> Actions {
        let actions = core.on_message(Millis(1), 1, msg);
        drive(core, actions)
    }

    pub(crate) fn request(block: &[u8]) -> Message {
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
        let actions = submit(&core(true, true), request(&block));
        let fwd = sent(&actions, 2);
        let out = fwd.get(52).unwrap().bytes().into_owned();
        assert_ne!(out, block);
        assert!(decipher(PinFormat::Iso0, &ISS_ZPK, &out, PAN)
            .unwrap()
            .matches(&pin));

        // Neither has: not the switch's business, passed as it came.
        let actions = submit(&core(false, false), request(&block));
        assert_eq!(
            sent(&actions, 2).get(52).unwrap().bytes().as_ref(),
            &block[..]
        );

        // Only one has: 96, nothing forwarded.
        for (acq, iss) in [(true, false), (false, true)] {
            let actions = submit(&core(acq, iss), request(&block));
            let r = sent(&actions, 1);
            assert_eq!(r.response_code().as_deref(), Some("96"), "{acq} {iss}");
            assert!(!actions
                .iter()
                .any(|a| matches!(a, Action::Send { link: 2, .. })));
        }

        // A block that does not decipher under the acquirer's key: 81.
        let foreign = encipher(PinFormat::Iso0, &ISS_ZPK, &pin, PAN).unwrap();
        let actions = submit(&core(true, true), request(&foreign));
        let r = sent(&actions, 1);
        assert_eq!(r.response_code().as_deref(), Some("81"));
        assert!(!r.has(52));
    }
}
