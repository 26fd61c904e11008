//! The token API's backend in the switch: each request of an app or issuer
//! becomes an event for the core (which owns the vault), and its actions are
//! carried out like any other: an enrolment's account verification goes to the
//! issuer, its answer comes back through [`super::enrolments`], and the token is
//! kept before the app hears of it. The randomness a new token needs (its
//! number's digits, its key) is drawn here, from the operating system: the core
//! draws none.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::time::Duration;

use codecs::ResponseCode;

use super::runtime::{unix_ms, Shared};
use crate::core::tokens::{
    Caller, EnrolOutcome, EnrolRequest, LifecycleOp, SecretPan, TokenError, TokenSecret, TokenSeed,
    TokenView,
};
use crate::core::{Action, Actions};
use crate::token_api::backend::TokenBackend;

/// How long an enrolment waits at most. The core answers sooner (the issuer
/// link's timeout); this only guards against an answer that never comes.
const ENROLMENT_WAIT: Duration = Duration::from_secs(60);

/// The switch as the token API's backend.
pub(crate) struct SwitchTokens {
    shared: Weak<Shared>,
}

impl SwitchTokens {
    /// The backend of the switch whose state is `shared`.
    pub(crate) fn new(shared: &Arc<Shared>) -> Arc<SwitchTokens> {
        Arc::new(SwitchTokens {
            shared: Arc::downgrade(shared),
        })
    }

    /// Keep the token changes among `actions` (a status change: in memory at
    /// once, in the store's next commit, which the API waits for: [`TokenBackend::kept`]).
    fn keep(shared: &Shared, actions: Actions) {
        let Some(store) = &shared.store else {
            return;
        };
        for action in actions {
            if let Action::Store(op) = action {
                store.apply(op, unix_ms());
            }
        }
    }
}

/// Random material for a new token, from the operating system.
fn fresh_seed() -> Option<TokenSeed> {
    let mut bytes = [0u8; 24];
    getrandom::fill(&mut bytes).ok()?;
    let mut number = [0u8; 8];
    number.copy_from_slice(&bytes[..8]);
    let mut key = [0u8; 16];
    key.copy_from_slice(&bytes[8..]);
    let seed = TokenSeed {
        number: u64::from_le_bytes(number),
        key: TokenSecret::from_bytes(key),
    };
    zeroize::Zeroize::zeroize(&mut bytes);
    zeroize::Zeroize::zeroize(&mut key);
    Some(seed)
}

fn unavailable(rc: ResponseCode) -> EnrolOutcome {
    EnrolOutcome::Unavailable { response_code: rc }
}

impl TokenBackend for SwitchTokens {
    fn enrol(
        &self,
        app: &str,
        pan: SecretPan,
        expiry: [u8; 4],
        _user: Option<String>,
    ) -> Pin<Box<dyn Future<Output = EnrolOutcome> + Send + 'static>> {
        let shared = self.shared.clone();
        let app = app.to_string();
        Box::pin(async move {
            let Some(shared) = shared.upgrade() else {
                return unavailable(ResponseCode::ISSUER_INOPERATIVE);
            };
            let Some(seed) = fresh_seed() else {
                tracing::error!("no randomness from the operating system for a new token");
                return unavailable(ResponseCode::SYSTEM_MALFUNCTION);
            };
            let (id, outcome) = shared.enrolments.begin();
            let request = EnrolRequest {
                id,
                app,
                pan,
                expiry,
                seed,
                unix_ms: unix_ms(),
            };
            let actions = shared.core.enrol(shared.now(), request);
            shared.execute(actions).await;
            match tokio::time::timeout(ENROLMENT_WAIT, outcome).await {
                Ok(Ok(outcome)) => outcome,
                _ => {
                    shared.enrolments.abandon(id);
                    unavailable(ResponseCode::ISSUER_INOPERATIVE)
                }
            }
        })
    }

    fn view(&self, caller: &Caller, token: &str) -> Result<TokenView, TokenError> {
        let shared = self.shared.upgrade().ok_or(TokenError::Unknown)?;
        shared.core.token_view(caller, token)
    }

    fn change(
        &self,
        caller: &Caller,
        token: &str,
        op: LifecycleOp,
    ) -> Result<TokenView, TokenError> {
        let shared = self.shared.upgrade().ok_or(TokenError::Unknown)?;
        let (result, actions) = shared.core.change_token(caller, token, op);
        Self::keep(&shared, actions);
        result
    }

    fn change_card(
        &self,
        bank: &str,
        pan: &SecretPan,
        op: LifecycleOp,
    ) -> Result<Vec<TokenView>, TokenError> {
        let shared = self.shared.upgrade().ok_or(TokenError::Unknown)?;
        let (result, actions) = shared.core.change_card_tokens(bank, pan, op);
        Self::keep(&shared, actions);
        result
    }

    fn kept(&self) -> Pin<Box<dyn Future<Output = ()> + Send + 'static>> {
        let store = self.shared.upgrade().and_then(|s| s.store.clone());
        Box::pin(async move {
            if let Some(store) = store {
                // Everything submitted so far, the change just made included.
                store.durable(store.submitted()).await;
            }
        })
    }
}
