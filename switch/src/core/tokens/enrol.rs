//! Enrolment: an app asks for a token for its user's card. The routing rules say
//! whether this app may hold this card at all ([`RoutingTable::decide_enrolment`]:
//! an app accepts only the cards of the banks that joined it, and the like); then
//! the card is checked with its issuer, an account verification (0100, amount
//! zero, field 25 = 51); on the issuer's 00 or 85 the token is issued: a fresh
//! Luhn-valid number in the switch's token range, bound to the card, the app and
//! the QR channel, with the key the driver drew for it. The token is kept
//! ([`StoreOp::TokenPut`]) before the app hears of it.
//!
//! The core draws no random numbers: the driver hands each enrolment its seed
//! (the number's digits and the key), as it hands every event its `now`.

use codecs::{Message, Mti, ResponseCode};
use dashmap::DashMap;
use routing_rules::{Channel, Verdict};

use super::record::{SecretPan, TokenRecord, TokenSecret, TokenStatus};
use super::vault::token_key;
use super::view::{EnrolOutcome, TokenView};
use super::AtcWindow;
use crate::core::inflight::{InFlightEntry, Purpose};
use crate::core::journal::FinalState;
use crate::core::request::Route;
use crate::core::short_text::ShortText;
use crate::core::{Action, Actions, Core, Millis, StoreOp};

/// Token numbers are this long.
pub const TOKEN_LEN: usize = 16;

/// How long a token is valid from its issue, in months.
pub const TOKEN_VALIDITY_MONTHS: u32 = 36;

/// The acquirer link of an enrolment's in-flight entry: none (no acquirer waits
/// on a link; the driver waits for [`Action::EnrolmentDone`]).
pub(crate) const NO_ACQUIRER: crate::core::LinkId = u32::MAX;

/// An app's enrolment request, as the driver hands it to the core.
#[derive(Debug)]
pub struct EnrolRequest {
    /// The driver's id: [`Action::EnrolmentDone`] names it.
    pub id: u64,
    /// The app (`[[app]]` id) asking.
    pub app: String,
    /// The card.
    pub pan: SecretPan,
    /// The card's expiry, YYMM.
    pub expiry: [u8; 4],
    /// The randomness the token needs.
    pub seed: TokenSeed,
    /// The driver's wall clock (Unix milliseconds), for the record.
    pub unix_ms: i64,
}

/// Random material for a new token, drawn by the driver.
#[derive(Debug)]
pub struct TokenSeed {
    /// Digits for the token number (reduced into the range's free digits).
    pub number: u64,
    /// The per-token key.
    pub key: TokenSecret,
}

/// An enrolment waiting for its issuer's account verification.
pub(crate) struct WaitingEnrolment {
    request: EnrolRequest,
    /// The card's issuer (the product's bank, which may differ from the bank
    /// that authorizes on its behalf).
    card_issuer: String,
    requestor_id: String,
    token_prefix: String,
}

/// The enrolments waiting, by request id.
#[derive(Default)]
pub(crate) struct Enrolments(DashMap<u64, WaitingEnrolment>);

impl Core {
    /// Start enrolment `request`; its end comes as [`Action::EnrolmentDone`]
    /// (from this call when the rules refuse it or no issuer link can take it,
    /// else from the issuer's answer or its timeout).
    pub fn enrol(&self, now: Millis, request: EnrolRequest) -> Actions {
        let done = |id: u64, outcome: EnrolOutcome| {
            vec![Action::EnrolmentDone {
                request: id,
                outcome: Box::new(outcome),
            }]
        };
        let table = self.routing.current();
        let Some(app) = table.app(&request.app) else {
            tracing::error!(app = %request.app, "enrolment for an app the routing rules do not know");
            return done(request.id, unavailable(ResponseCode::SYSTEM_MALFUNCTION));
        };
        let requestor_id = app.requestor_id.clone();
        // New tokens are numbered under the first range's lowest prefix.
        let first_range = table.token_ranges().first();
        let Some(token_prefix) =
            first_range.map(|r| format!("{:0w$}", r.low, w = usize::from(r.len)))
        else {
            tracing::error!("enrolment, but the routing rules define no token range");
            return done(request.id, unavailable(ResponseCode::SYSTEM_MALFUNCTION));
        };
        let pan = request.pan.expose().as_bytes();
        let decision = table.decide_enrolment(pan, &request.app);
        if decision.verdict == Verdict::Decline {
            let rc = decision
                .response_code
                .unwrap_or(ResponseCode::SYSTEM_MALFUNCTION);
            let rule = decision.rule.map(|r| r.id.clone());
            tracing::info!(app = %request.app, rc = %rc, rule = ?rule, "enrolment not permitted by the rules");
            return done(
                request.id,
                EnrolOutcome::NotPermitted {
                    response_code: rc,
                    rule,
                },
            );
        }
        let (Some(route_to), Some(card_issuer)) = (
            decision.issuer.map(|b| b.id.clone()),
            decision
                .product
                .map(|p| table.banks()[usize::from(p.issuer)].id.clone()),
        ) else {
            return done(request.id, unavailable(ResponseCode::SYSTEM_MALFUNCTION));
        };
        let msg = self.account_verification(now, &request, &requestor_id);
        let id = request.id;
        self.enrolments.0.insert(
            id,
            WaitingEnrolment {
                request,
                card_issuer,
                requestor_id,
                token_prefix,
            },
        );
        let route = Route::enrolment(ShortText::from(route_to.as_str()), id);
        let actions = self.forward_from(now, NO_ACQUIRER, msg, route);
        if actions.is_empty() {
            // Not forwarded and not answered: cannot happen, but never leave the
            // app waiting.
            self.enrolments.0.remove(&id);
            return done(id, unavailable(ResponseCode::SYSTEM_MALFUNCTION));
        }
        actions
    }

    /// The 0100 that checks the card with its issuer.
    fn account_verification(
        &self,
        now: Millis,
        request: &EnrolRequest,
        requestor_id: &str,
    ) -> Message {
        let mut m = Message::with_capacity(Mti::AUTH_REQUEST, 16, 192);
        let unix = (self.settings.epoch_unix_ms + now.0) / 1000;
        let when = codecs::datetime::fields_at_unix(unix);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        m.set(2, request.pan.expose());
        m.set(3, "000000");
        m.set(4, "000000000000");
        m.set(7, &text(&when.transmission));
        m.set(11, &format!("{:06}", request.id % 1_000_000));
        m.set(12, &text(&when.local_time));
        m.set(13, &text(&when.local_date));
        m.set(14, &text(&request.expiry));
        m.set(22, card_security::wallet::QR_ENTRY_MODE);
        m.set(25, "51");
        m.set(32, &self.settings.institution_id);
        m.set(37, &format!("TK{:010}", request.id % 10_000_000_000));
        m.set(41, "TOKENSVC");
        m.set(48, &format!("AP{:03}{}", requestor_id.len(), requestor_id));
        m.set(49, "408");
        m
    }

    /// The issuer answered enrolment `request`'s account verification with `rc`.
    pub(crate) fn on_enrolment_answer(
        &self,
        now: Millis,
        request: u64,
        entry: &InFlightEntry,
        rc: ResponseCode,
    ) -> Actions {
        let mut actions = Vec::with_capacity(4);
        self.journal_enrolment(now, entry, rc, &mut actions);
        let Some((_, waiting)) = self.enrolments.0.remove(&request) else {
            return actions;
        };
        let outcome = if matches!(rc.as_str(), "00" | "85") {
            self.issue_token(now, waiting, &mut actions)
        } else {
            tracing::info!(app = %waiting.request.app, rc = %rc, "enrolment declined by the issuer");
            EnrolOutcome::Declined { response_code: rc }
        };
        actions.push(Action::EnrolmentDone {
            request,
            outcome: Box::new(outcome),
        });
        actions
    }

    /// Enrolment `request`'s account verification timed out or its link went down.
    pub(crate) fn on_enrolment_lapsed(
        &self,
        now: Millis,
        request: u64,
        entry: &InFlightEntry,
    ) -> Actions {
        let mut actions = Vec::with_capacity(2);
        self.journal_enrolment(now, entry, ResponseCode::ISSUER_INOPERATIVE, &mut actions);
        if self.enrolments.0.remove(&request).is_some() {
            actions.push(Action::EnrolmentDone {
                request,
                outcome: Box::new(unavailable(ResponseCode::ISSUER_INOPERATIVE)),
            });
        }
        actions
    }

    /// An account verification declined before it went out (no issuer link):
    /// the app hears it at once.
    pub(crate) fn enrolment_refused(&self, request: u64, rc: ResponseCode) -> Actions {
        self.enrolments.0.remove(&request);
        vec![Action::EnrolmentDone {
            request,
            outcome: Box::new(unavailable(rc)),
        }]
    }

    fn journal_enrolment(
        &self,
        now: Millis,
        entry: &InFlightEntry,
        rc: ResponseCode,
        actions: &mut Actions,
    ) {
        if !self.settings.journal {
            return;
        }
        let state = if matches!(rc.as_str(), "00" | "85") {
            FinalState::Approved
        } else if rc == ResponseCode::ISSUER_INOPERATIVE {
            FinalState::TimedOut
        } else {
            FinalState::Declined
        };
        let record = self.completion_record(&entry.forwarded, entry, rc, state, now);
        actions.push(Action::Journal(Box::new(record)));
    }

    /// Issue the token of an approved enrolment: kept before the app hears of it.
    fn issue_token(
        &self,
        now: Millis,
        waiting: WaitingEnrolment,
        actions: &mut Actions,
    ) -> EnrolOutcome {
        let WaitingEnrolment {
            request,
            card_issuer,
            requestor_id,
            token_prefix,
        } = waiting;
        let Some(token) = self.fresh_token_number(&token_prefix, request.seed.number) else {
            tracing::error!("no free token number in the token range");
            return unavailable(ResponseCode::SYSTEM_MALFUNCTION);
        };
        let record = TokenRecord {
            token,
            pan: request.pan,
            card_expiry: request.expiry,
            app: request.app,
            requestor_id,
            issuer: card_issuer,
            status: TokenStatus::Active,
            token_expiry: months_after(self.year_month(now), TOKEN_VALIDITY_MONTHS),
            key: request.seed.key,
            atc: AtcWindow::default(),
            created_unix_ms: request.unix_ms,
        };
        let view = view_of(&record);
        let key = record.key.clone();
        tracing::info!(app = %record.app, issuer = %record.issuer, token_last4 = &record.token[TOKEN_LEN - 4..], "token issued");
        self.counters
            .tokens_issued
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        actions.push(Action::Store(StoreOp::TokenPut(Box::new(record.clone()))));
        // The app hears of the token only once it is kept.
        actions.push(Action::SafBarrier);
        self.tokens.insert(record);
        EnrolOutcome::Enrolled { view, key }
    }

    /// A token number under `prefix` not yet taken, from the driver's `seed`.
    fn fresh_token_number(&self, prefix: &str, seed: u64) -> Option<String> {
        let free = TOKEN_LEN.checked_sub(prefix.len() + 1)?;
        let span = 10u64.checked_pow(u32::try_from(free).ok()?)?;
        let mut n = seed;
        for _ in 0..64 {
            let body = format!("{prefix}{:0free$}", n % span);
            let check = codecs::luhn::luhn_check_digit(body.as_bytes())?;
            let number = format!("{body}{}", char::from(check));
            if token_key(number.as_bytes()).is_some_and(|k| !self.tokens.contains(k)) {
                return Some(number);
            }
            // Taken: step by a large odd number (every value of the span is reached).
            n = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
        }
        None
    }
}

impl Route {
    /// The route of an enrolment's account verification to `issuer`.
    pub(crate) fn enrolment(issuer: ShortText, request: u64) -> Route {
        Route::new(issuer, None, 1, false, Channel::WalletQr)
            .with_purpose(Purpose::Enrolment { request })
    }
}

fn unavailable(rc: ResponseCode) -> EnrolOutcome {
    EnrolOutcome::Unavailable { response_code: rc }
}

/// `yymm` plus `months`.
fn months_after(yymm: [u8; 4], months: u32) -> [u8; 4] {
    let num = |a: u8, b: u8| u32::from(a.wrapping_sub(b'0')) * 10 + u32::from(b.wrapping_sub(b'0'));
    let (year, month) = (num(yymm[0], yymm[1]), num(yymm[2], yymm[3]).clamp(1, 12));
    let total = year * 12 + (month - 1) + months;
    let (y, m) = ((total / 12) % 100, total % 12 + 1);
    let text = format!("{y:02}{m:02}");
    let mut out = [b'0'; 4];
    out.copy_from_slice(text.as_bytes());
    out
}

/// What the API shows of `record`.
pub(crate) fn view_of(record: &TokenRecord) -> TokenView {
    TokenView {
        token: record.token.clone(),
        status: record.status,
        app: record.app.clone(),
        requestor_id: record.requestor_id.clone(),
        issuer: record.issuer.clone(),
        pan_last4: record.pan.last4().to_string(),
        token_expiry: String::from_utf8_lossy(&record.token_expiry).into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::months_after;

    #[test]
    fn token_expiry_counts_months_across_years() {
        assert_eq!(&months_after(*b"2612", 36), b"2912");
        assert_eq!(&months_after(*b"2601", 11), b"2612");
        assert_eq!(&months_after(*b"2601", 12), b"2701");
        assert_eq!(&months_after(*b"9807", 36), b"0107");
    }
}
