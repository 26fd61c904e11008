//! A token's life after its issue: the app suspends, resumes and deletes its
//! tokens (its user lost the phone, found it, left the app); the issuer suspends
//! and resumes the tokens of its cards (a card reported lost, a fraud review).
//! An app cannot lift an issuer's suspension, and a deleted token stays deleted.
//! Every change is kept ([`StoreOp::TokenStatus`]) and takes effect on the next
//! payment. Tokens come back from the store at start ([`Core::restore_tokens`]).

use super::enrol::view_of;
use super::record::{SecretPan, SuspendedBy, TokenRecord, TokenStatus};
use super::vault::token_key;
use super::view::{Caller, LifecycleOp, TokenError, TokenView};
use crate::core::{Action, Actions, Core, StoreOp};

impl Core {
    /// Tokens from the store, at start (before any traffic).
    pub fn restore_tokens(&self, records: impl IntoIterator<Item = TokenRecord>) {
        for record in records {
            self.tokens.insert(record);
        }
    }

    /// Tokens held (every status).
    pub fn token_count(&self) -> usize {
        self.tokens.len()
    }

    /// Token `token` as `caller` may see it.
    pub fn token_view(&self, caller: &Caller, token: &str) -> Result<TokenView, TokenError> {
        let key = token_key(token.as_bytes()).ok_or(TokenError::Unknown)?;
        let entry = self.tokens.get(key).ok_or(TokenError::Unknown)?;
        if !may_see(caller, &entry.record) {
            return Err(TokenError::Unknown);
        }
        Ok(view_of(&entry.record))
    }

    /// Apply `op` to token `token` for `caller`; the change to keep is in the
    /// actions (the driver answers once it is durable).
    pub fn change_token(
        &self,
        caller: &Caller,
        token: &str,
        op: LifecycleOp,
    ) -> (Result<TokenView, TokenError>, Actions) {
        let Some(key) = token_key(token.as_bytes()) else {
            return (Err(TokenError::Unknown), Vec::new());
        };
        let Some(mut entry) = self.tokens.get_mut(key) else {
            return (Err(TokenError::Unknown), Vec::new());
        };
        if !may_see(caller, &entry.record) {
            return (Err(TokenError::Unknown), Vec::new());
        }
        let by = match caller {
            Caller::App(_) => SuspendedBy::App,
            Caller::Bank(_) => SuspendedBy::Issuer,
        };
        let mut actions = Vec::new();
        let result = next_status(entry.record.status, op, by).map(|status| {
            if status != entry.record.status {
                entry.record.status = status;
                tracing::info!(
                    token_last4 = last4(&entry.record.token),
                    status = status.name(),
                    by = by.name(),
                    "token status changed"
                );
                actions.push(Action::Store(StoreOp::TokenStatus {
                    token: entry.record.token.clone(),
                    status,
                }));
                actions.push(Action::SafBarrier);
            }
            view_of(&entry.record)
        });
        (result, actions)
    }

    /// The issuer `bank` applies `op` (suspend or resume) to every token of its
    /// card `pan`.
    pub fn change_card_tokens(
        &self,
        bank: &str,
        pan: &SecretPan,
        op: LifecycleOp,
    ) -> (Result<Vec<TokenView>, TokenError>, Actions) {
        if op == LifecycleOp::Delete {
            return (
                Err(TokenError::NotAllowed(
                    "an issuer suspends or resumes a card's tokens; the app deletes them",
                )),
                Vec::new(),
            );
        }
        let caller = Caller::Bank(bank.to_string());
        let mut views = Vec::new();
        let mut actions = Vec::new();
        for key in self.tokens.tokens_of(pan) {
            let token = match self.tokens.get(key) {
                Some(e) if may_see(&caller, &e.record) => e.record.token.clone(),
                _ => continue,
            };
            let (result, changed) = self.change_token(&caller, &token, op);
            actions.extend(changed);
            match result {
                Ok(view) => views.push(view),
                // A deleted token stays as it is; the others still change.
                Err(TokenError::Conflict(_)) => {
                    if let Ok(view) = self.token_view(&caller, &token) {
                        views.push(view);
                    }
                }
                Err(e) => return (Err(e), actions),
            }
        }
        if views.is_empty() {
            return (Err(TokenError::Unknown), actions);
        }
        (Ok(views), actions)
    }
}

/// An app sees its own tokens; a bank the tokens of the cards it issued.
fn may_see(caller: &Caller, record: &TokenRecord) -> bool {
    match caller {
        Caller::App(app) => *app == record.app,
        Caller::Bank(bank) => *bank == record.issuer,
    }
}

/// The status after `op` by `by` (App or Issuer), or why it does not apply.
/// Each party holds its own suspension: the issuer's resume does not lift the
/// app's (its user's lost phone), nor the app's the issuer's.
fn next_status(
    now: TokenStatus,
    op: LifecycleOp,
    by: SuspendedBy,
) -> Result<TokenStatus, TokenError> {
    use TokenStatus::{Active, Deleted, Suspended};
    let other = match by {
        SuspendedBy::App => SuspendedBy::Issuer,
        _ => SuspendedBy::App,
    };
    match (now, op) {
        (Deleted, LifecycleOp::Delete) => Ok(Deleted),
        (Deleted, _) => Err(TokenError::Conflict("the token is deleted")),
        (_, LifecycleOp::Delete) if by == SuspendedBy::Issuer => Err(TokenError::NotAllowed(
            "an issuer suspends or resumes tokens; the app deletes them",
        )),
        (_, LifecycleOp::Delete) => Ok(Deleted),
        (Active, LifecycleOp::Suspend) => Ok(Suspended(by)),
        (Suspended(held), LifecycleOp::Suspend) if held.includes(by) => Ok(now),
        (Suspended(_), LifecycleOp::Suspend) => Ok(Suspended(SuspendedBy::Both)),
        (Active, LifecycleOp::Resume) => Ok(Active),
        (Suspended(SuspendedBy::Both), LifecycleOp::Resume) => Ok(Suspended(other)),
        (Suspended(held), LifecycleOp::Resume) if held == by => Ok(Active),
        (Suspended(_), LifecycleOp::Resume) if by == SuspendedBy::App => Err(TokenError::Conflict(
            "suspended by the issuer: only the issuer resumes it",
        )),
        // The issuer resuming a token only its app suspended: it stays so.
        (Suspended(_), LifecycleOp::Resume) => Ok(now),
    }
}

fn last4(token: &str) -> &str {
    &token[token.len().saturating_sub(4)..]
}

#[cfg(test)]
mod tests {
    use super::next_status;
    use crate::core::tokens::{LifecycleOp, SuspendedBy, TokenError, TokenStatus};

    #[test]
    fn an_app_cannot_lift_an_issuers_suspension_and_deleted_stays_deleted() {
        use LifecycleOp::*;
        use SuspendedBy::{App, Both, Issuer};
        use TokenStatus::*;
        assert_eq!(next_status(Active, Suspend, App), Ok(Suspended(App)));
        assert_eq!(next_status(Suspended(App), Resume, App), Ok(Active));
        assert_eq!(
            next_status(Suspended(App), Suspend, Issuer),
            Ok(Suspended(Both))
        );
        // Each lifts only its own suspension (the user's lost phone stays off
        // when the bank lifts its card block).
        assert_eq!(
            next_status(Suspended(Both), Resume, Issuer),
            Ok(Suspended(App))
        );
        assert_eq!(
            next_status(Suspended(Both), Resume, App),
            Ok(Suspended(Issuer))
        );
        assert_eq!(
            next_status(Suspended(App), Resume, Issuer),
            Ok(Suspended(App))
        );
        assert!(matches!(
            next_status(Suspended(Issuer), Resume, App),
            Err(TokenError::Conflict(_))
        ));
        assert_eq!(next_status(Suspended(Issuer), Resume, Issuer), Ok(Active));
        assert!(matches!(
            next_status(Active, Delete, Issuer),
            Err(TokenError::NotAllowed(_))
        ));
        assert_eq!(next_status(Suspended(Issuer), Delete, App), Ok(Deleted));
        assert!(matches!(
            next_status(Deleted, Resume, App),
            Err(TokenError::Conflict(_))
        ));
        assert!(matches!(
            next_status(Deleted, Suspend, Issuer),
            Err(TokenError::Conflict(_))
        ));
    }
}
