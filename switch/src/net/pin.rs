//! PIN translations the core asks for ([`Action::TranslatePin`]), carried out
//! and answered ([`crate::core::Core::on_pin_translated`]).
//!
//! The software module is pure computation (microseconds): it is asked within
//! the event that needs it, and the answer's actions are carried out in place of
//! the request (no task, no added latency). Any other module (an HSM adapter)
//! may block on its own network: it is asked from a blocking task and its answer
//! comes back as a new event; meanwhile the worker serves other messages, and
//! the core's deadline bounds the wait.
//!
//! [`Action::TranslatePin`]: crate::core::Action::TranslatePin

use crate::core::pin::PinRequest;
use crate::core::Actions;
use crate::security::SecurityError;

use super::runtime::Shared;

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
            let result = tokio::task::spawn_blocking(move || {
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
