//! PIN translations the core asks for ([`Action::TranslatePin`]), carried out
//! and answered ([`crate::core::Core::on_pin_translated`]).
//!
//! The software module is pure computation (microseconds): it is asked within
//! the event that needs it, and the answer's actions are carried out in place of
//! the request (no task, no added latency). Any other module (an HSM adapter)
//! may block on its own network: it is asked from a blocking task and its answer
//! comes back as a new event; meanwhile the worker serves other messages, and
//! the core's deadline bounds the wait. At most [`HSM_CALLS`] such calls are in
//! progress at once: a module that hangs holds that many threads, not one per
//! request, and a request that waited for a call past the core's deadline (it
//! has been declined 91 meanwhile) is not sent to the module at all.
//!
//! [`Action::TranslatePin`]: crate::core::Action::TranslatePin

use crate::core::pin::PinRequest;
use crate::core::Actions;
use crate::security::SecurityError;

use super::runtime::Shared;

/// Security-module calls in progress at once (blocking threads), beyond which
/// requests wait their turn.
pub(crate) const HSM_CALLS: usize = 64;

impl Shared {
    /// Have `request` translated: its answer's actions when the module answers
    /// at once, else none now (they follow from a task).
    pub(crate) fn translate_pin(&self, request: Box<PinRequest>) -> Actions {
        if self.security_inline {
            let result = self.security.translate_pin(
                request.from(),
                request.to(),
                request.block(),
                request.pan(),
            );
            return self
                .core
                .on_pin_translated(self.now(), request.token, result);
        }
        let Some(shared) = self.me.upgrade() else {
            return Vec::new();
        };
        tokio::spawn(async move {
            let module = shared.security.clone();
            let token = request.token;
            let wait = shared.config.hsm_timeout;
            let slot = tokio::time::timeout(wait, shared.hsm_calls.clone().acquire_owned()).await;
            let Ok(Ok(slot)) = slot else {
                // Past the deadline the core has answered 91 already.
                tracing::warn!(token, "security module busy past the deadline; not asked");
                return;
            };
            let result = tokio::task::spawn_blocking(move || {
                let _slot = slot;
                module.translate_pin(request.from(), request.to(), request.block(), request.pan())
            })
            .await
            .unwrap_or_else(|_| {
                Err(SecurityError::Unavailable(
                    "the security module's call failed".into(),
                ))
            });
            let actions = shared.core.on_pin_translated(shared.now(), token, result);
            shared.execute(actions).await;
        });
        Vec::new()
    }
}
