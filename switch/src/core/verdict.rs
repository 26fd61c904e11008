//! What the driver found out about a message before decoding it into the core:
//! whether its MAC verifies under the link's key (on a MAC link), and whether
//! the institution it claims is bound to the peer's certificate (on a TLS
//! acquirer link). The driver checks (it holds the security module and the
//! certificate); the core decides what a failure means, as it does for a frame
//! that does not decode:
//!
//! - a request: answered 63 (security violation), journaled as declined like
//!   any decline (a network management request is only answered);
//! - anything else (an issuer's answer): dropped, so the request it answers
//!   times out and is reversed;
//! - either way counted by event ([`super::CoreStats::security_events`]). The
//!   driver logs the event (it paces its logs per link).

use codecs::mti::MessageClass;
use codecs::{Message, ResponseCode};

use super::counters::SecurityEvent;
use super::{reply, Actions, Core, LinkId, Millis};
use crate::security::message::MacFailure;

/// The driver's verdict on a message's authenticity.
#[derive(Debug)]
pub enum Verdict {
    /// Authentic, or nothing to check on this link.
    Ok,
    /// On a MAC link: the MAC is missing, misplaced, wrong, or could not be
    /// checked (the module failed).
    BadMac(MacFailure),
    /// On a TLS acquirer link: field `field` (32 or 33) names an institution not
    /// bound to the peer's certificate.
    UnboundInstitution {
        /// The field that claimed it.
        field: u8,
    },
}

impl Verdict {
    fn event(&self) -> Option<SecurityEvent> {
        Some(match self {
            Verdict::Ok => return None,
            Verdict::BadMac(MacFailure::Missing(_)) => SecurityEvent::MacMissing,
            Verdict::BadMac(MacFailure::Misplaced(_)) => SecurityEvent::MacMisplaced,
            Verdict::BadMac(MacFailure::Mismatch(_)) => SecurityEvent::MacMismatch,
            Verdict::BadMac(MacFailure::Module(_)) => SecurityEvent::MacUnchecked,
            Verdict::UnboundInstitution { .. } => SecurityEvent::IdentityMismatch,
        })
    }
}

impl Core {
    /// A message arrived on a link, with the driver's `verdict` on it: an
    /// authentic one is handled as [`Core::on_message`]; any other is refused.
    pub fn on_message_with(
        &self,
        now: Millis,
        id: LinkId,
        msg: Message,
        verdict: Verdict,
    ) -> Actions {
        let Some(event) = verdict.event() else {
            return self.on_message(now, id, msg);
        };
        if self.links.get(id).is_none() {
            return Vec::new();
        }
        self.counters.security(event);
        if !msg.mti().is_request() {
            return Vec::new();
        }
        if msg.mti().class() == MessageClass::NetworkManagement {
            reply(id, &msg, ResponseCode::SECURITY_VIOLATION)
        } else {
            self.decline(now, id, &msg, ResponseCode::SECURITY_VIOLATION, None)
        }
    }
}
