//! Network management (0800/0810): sign-on (001), sign-off (002) and echo (301).
//! The switch answers any bank's 0800; it signs on to issuer links when they
//! connect and echoes idle ones. Only signed-on issuer links carry requests.
//! Cutover (201) is the settlement agent's alone.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use codecs::{Message, Mti, ResponseCode};

use super::inflight::InFlightKey;
use super::links::Link;
use super::{answer, Action, Actions, Core, Millis};
use crate::config::Role;

impl Core {
    pub(crate) fn on_network(&self, now: Millis, link: &Arc<Link>, msg: Message) -> Actions {
        let code: u32 = msg.get(70).and_then(|f| f.to_u64()).unwrap_or(0) as u32;
        if msg.mti().is_request() {
            if code == 301 {
                link.last_echo.store(now.0 + 1, Ordering::Relaxed);
            }
            if link.config.role == Role::Issuer {
                match code {
                    1 => link.signed_on.store(true, Ordering::Relaxed),
                    2 => {
                        link.signed_on.store(false, Ordering::Relaxed);
                        self.note_keep_alive(link);
                    }
                    _ => {}
                }
            }
            tracing::debug!(link = %link.config.name, code, "network management request answered");
            let mut actions = Vec::with_capacity(2);
            let rc = if code == 201 {
                self.cutover_request(link, &msg, &mut actions)
            } else {
                ResponseCode::APPROVED
            };
            actions.extend(answer(&msg, rc).map(|resp| Action::Send {
                link: link.id,
                msg: resp,
            }));
            return actions;
        }
        // A response to our sign-on / echo.
        let stan = msg.stan().unwrap_or(0);
        let approved = msg.response_code().is_some_and(|rc| rc == "00");
        if stan != 0
            && approved
            && !link.signed_on.load(Ordering::Relaxed)
            && link
                .superseded_sign_on
                .compare_exchange(stan, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            // A sign-on given up on and sent again was answered after all: the
            // issuer is signed on (the answer to the repeat, if any, finds
            // nothing outstanding and is dropped).
            link.pending_network.store(0, Ordering::Release);
            link.signed_on.store(true, Ordering::Relaxed);
            tracing::info!(link = %link.config.name, bank = %link.config.bank, "signed on (a late answer to an earlier sign-on)");
            return Vec::new();
        }
        if stan == 0
            || link
                .pending_network
                .compare_exchange(stan, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_err()
        {
            tracing::info!(link = %link.config.name, stan, "unmatched network management response dropped");
            return Vec::new();
        }
        match link.pending_network_code.load(Ordering::Relaxed) {
            1 if approved => {
                link.signed_on.store(true, Ordering::Relaxed);
                tracing::info!(link = %link.config.name, bank = %link.config.bank, "signed on");
            }
            1 => {
                tracing::warn!(link = %link.config.name, rc = ?msg.response_code(), "sign-on refused");
                self.note_keep_alive(link);
            }
            301 => link.last_echo.store(now.0 + 1, Ordering::Relaxed),
            _ => {}
        }
        Vec::new()
    }

    /// An 0800 with field 70 = 201 on `link`: only the settlement agent (the
    /// central bank) closes the business day, and a repeat of the request it
    /// already honoured (same field 7 and 11; an 0801 after a lost answer) does not
    /// close another. Returns the answer's response code.
    fn cutover_request(&self, link: &Link, msg: &Message, actions: &mut Actions) -> ResponseCode {
        let bank = &link.config.bank;
        let agent = self
            .routing
            .current()
            .bank(bank)
            .is_some_and(|b| b.settlement_agent);
        if !agent {
            tracing::warn!(link = %link.config.name, %bank, "cutover (0800, field 70 = 201) refused: only the settlement agent closes the business day");
            self.counters
                .bank(bank)
                .cutover_refused
                .fetch_add(1, Ordering::Relaxed);
            return ResponseCode::INVALID_TRANSACTION;
        }
        let key = (
            bank.clone(),
            msg.text(7).unwrap_or_default().into_owned(),
            msg.text(11).unwrap_or_default().into_owned(),
        );
        let mut last = self.last_cutover.lock().unwrap_or_else(|p| p.into_inner());
        if last.as_ref() == Some(&key) {
            tracing::info!(link = %link.config.name, "repeated cutover request: already done");
        } else {
            tracing::info!(link = %link.config.name, "cutover requested (0800, field 70 = 201)");
            *last = Some(key);
            actions.push(Action::Cutover);
        }
        ResponseCode::APPROVED
    }

    /// A network management request from the switch on `link`.
    pub(crate) fn network_request(&self, link: &Link, code: &str, now: Millis) -> Action {
        let stan = link.next_stan(|s| {
            self.inflight.contains(&InFlightKey {
                link: link.id,
                class: 8,
                stan: s,
            })
        });
        let mut m = Message::new(Mti::NETWORK_REQUEST);
        m.set(7, &self.transmission_at(now));
        m.set_stan(stan);
        m.set(33, &self.settings.institution_id);
        m.set(70, code);
        link.pending_network_code
            .store(code.parse().unwrap_or(0), Ordering::Relaxed);
        link.pending_network_at.store(now.0, Ordering::Relaxed);
        link.pending_network.store(stan, Ordering::Release);
        // Its answer is awaited until then (a link with a short timeout may
        // want the timer before the time it is set for).
        self.note_deadline(now.after(super::tick::network_wait(link)));
        Action::Send {
            link: link.id,
            msg: m,
        }
    }
}
