//! QR payments with tokens. A request whose field 2 lies in a token range is
//! checked before it is routed: the token known and active, presented in its own
//! domain (by QR, from its own app), the code's expiry, its counter not replayed,
//! its cryptogram valid. The card stands in for the token from then on: the
//! routing decision sees the card (and the channel and app), the issuer gets the
//! card's PAN and expiry with field 48 saying a token of which app was used, and
//! the acquirer's answer gets its token back ([`TokenUse::restore`]). Reversals and
//! advices of token payments find the card with no code to check: a reversal is
//! honoured whatever became of the token since.
//!
//! Codes of the checks (the README's app channel section lists them): unknown or
//! deleted token 14, suspended 62, not presented by QR or by another app 58, a PIN
//! block with a token 58, code data missing or malformed 30, code expired 54,
//! counter replayed or cryptogram wrong 63 (both security events). A QR entry (field 22 `03x`) without a token is
//! declined 58: the app channel pays with tokens only.

use card_security::wallet::CodeData;
use codecs::{Message, ResponseCode};
use routing_rules::{Channel, RoutingTable};

use super::record::{SecretPan, TokenStatus};
use super::vault::token_key;
use crate::core::counters::SecurityEvent;
use crate::core::short_text::ShortText;
use crate::core::{Action, Actions, Core, Millis, StoreOp};

/// Field 22's first two digits for a PAN read from a bar code or QR code.
const QR_ENTRY: &[u8] = b"03";

/// A token payment's card, and what the acquirer's answer must get back.
#[derive(Debug)]
pub struct TokenUse {
    /// The token as the acquirer sent it (field 2 of its answer).
    pub token: ShortText,
    /// The card it stands for (field 2 toward the issuer).
    pub pan: SecretPan,
    /// The card's expiry (field 14 toward the issuer).
    pub card_expiry: [u8; 4],
    /// The app the token belongs to.
    pub app: ShortText,
    /// That app's token requestor id.
    pub requestor_id: ShortText,
    /// Field 14 as the acquirer sent it.
    pub acquirer_f14: Option<ShortText>,
    /// Field 48 as the acquirer sent it.
    pub acquirer_f48: Option<Box<str>>,
}

impl TokenUse {
    /// The request toward the issuer: the card in place of the token, field 55
    /// (the code, meaningless to the issuer) removed, field 48 naming the token
    /// and the app.
    pub fn apply(&self, out: &mut Message) {
        out.set(2, self.pan.expose());
        out.set(14, std::str::from_utf8(&self.card_expiry).unwrap_or("0000"));
        out.remove(55);
        out.set(48, &self.field48());
    }

    /// Field 48 toward the issuer: `TK` + length + token, `AP` + length +
    /// requestor id (tags of two letters, lengths of three digits).
    pub fn field48(&self) -> String {
        let (token, requestor) = (self.token.as_str(), self.requestor_id.as_str());
        let mut f = String::with_capacity(10 + token.len() + requestor.len());
        for (tag, value) in [("TK", token), ("AP", requestor)] {
            f.push_str(tag);
            // Lengths of three digits (values here are at most 19 characters).
            let n = value.len().min(999);
            f.push(char::from(b'0' + (n / 100) as u8));
            f.push(char::from(b'0' + (n / 10 % 10) as u8));
            f.push(char::from(b'0' + (n % 10) as u8));
            f.push_str(value);
        }
        f
    }

    /// The acquirer's answer: its token in field 2, its own 14 and 48 (absent if
    /// it sent none), no field 55. No card number reaches the acquirer.
    pub fn restore(&self, answer: &mut Message) {
        answer.set(2, &self.token);
        match &self.acquirer_f14 {
            Some(f14) if answer.has(14) => answer.set(14, f14),
            Some(_) => {}
            None => {
                answer.remove(14);
            }
        }
        match &self.acquirer_f48 {
            Some(f48) => answer.set(48, f48),
            None => {
                answer.remove(48);
            }
        }
        // Whatever else could carry the card's number or track: never to the
        // acquirer of a token payment.
        for n in [34u8, 35, 36, 45, 52, 55, 102, 103] {
            answer.remove(n);
        }
    }
}

/// What a request's field 2 turned out to be.
pub(crate) enum Presented {
    /// A card, on this channel.
    Card(Channel),
    /// A token that passed its checks: pay with its card.
    Token(Box<TokenUse>),
    /// Refused with this code.
    Refused(Refusal),
}

/// Why a token (or a QR entry) was refused.
pub(crate) struct Refusal {
    /// The acquirer's answer.
    pub(crate) rc: ResponseCode,
    /// For the log (no card data, no token digits).
    pub(crate) reason: &'static str,
    /// The security event it counts as, if any.
    pub(crate) event: Option<SecurityEvent>,
}

fn refuse(rc: ResponseCode, reason: &'static str) -> Presented {
    Presented::Refused(Refusal {
        rc,
        reason,
        event: None,
    })
}

fn refuse_for_security(rc: ResponseCode, reason: &'static str, event: SecurityEvent) -> Presented {
    Presented::Refused(Refusal {
        rc,
        reason,
        event: Some(event),
    })
}

/// The channel of a card transaction: an ATM for a cash withdrawal (merchant
/// category 6011 when field 18 is present, else processing code 01), a terminal
/// otherwise.
pub(crate) fn card_channel(msg: &Message) -> Channel {
    let cash = match msg.get(18) {
        Some(mcc) => *mcc.bytes() == *b"6011",
        None => msg.get(3).is_some_and(|pc| pc.bytes().starts_with(b"01")),
    };
    if cash {
        Channel::Atm
    } else {
        Channel::Terminal
    }
}

fn qr_entry(msg: &Message) -> bool {
    msg.get(22).is_some_and(|f| f.bytes().starts_with(QR_ENTRY))
}

impl Core {
    /// Check what `msg` (an acquirer's request of MTI class `class`) presents in
    /// field 2. For a token payment (class 1 or 2) a counter it uses is kept
    /// ([`StoreOp::TokenAtc`], pushed to `actions`).
    pub(crate) fn presented(
        &self,
        table: &RoutingTable,
        msg: &Message,
        class: u8,
        now: Millis,
        actions: &mut Actions,
    ) -> Presented {
        let Some(pan) = msg.pan() else {
            return Presented::Card(card_channel(msg));
        };
        let digits = pan.digits();
        let payment = matches!(class, 1 | 2);
        if !table.is_token(digits) {
            if payment && qr_entry(msg) {
                return refuse(
                    ResponseCode::NOT_PERMITTED_TERMINAL,
                    "QR entry without a token",
                );
            }
            return Presented::Card(card_channel(msg));
        }
        let unknown = ResponseCode::INVALID_CARD_NUMBER;
        let Some(key) = token_key(digits) else {
            return refuse(unknown, "unknown token");
        };
        let Some(mut entry) = self.tokens.get_mut(key) else {
            return refuse(unknown, "unknown token");
        };
        if payment {
            let record = &entry.record;
            match record.status {
                TokenStatus::Active => {}
                TokenStatus::Deleted => return refuse(unknown, "deleted token"),
                TokenStatus::Suspended(_) => {
                    return refuse(ResponseCode::RESTRICTED_CARD, "suspended token");
                }
            }
            if !qr_entry(msg) {
                return refuse_for_security(
                    ResponseCode::NOT_PERMITTED_TERMINAL,
                    "token not presented by QR",
                    SecurityEvent::TokenDomain,
                );
            }
            // The app verifies its user; a PIN block would be bound to the
            // token's digits, which the issuer cannot check against the card.
            if msg.has(52) {
                return refuse(
                    ResponseCode::NOT_PERMITTED_TERMINAL,
                    "PIN block on a token payment",
                );
            }
            let Some(data) = msg
                .get(55)
                .and_then(|f| CodeData::from_field55(&f.bytes()).ok())
            else {
                return refuse(ResponseCode::FORMAT_ERROR, "field 55: no dynamic code data");
            };
            if data.requestor_id[..] != *record.requestor_id.as_bytes() {
                return refuse_for_security(
                    ResponseCode::NOT_PERMITTED_TERMINAL,
                    "token presented by another app",
                    SecurityEvent::TokenDomain,
                );
            }
            if data.expiry != record.token_expiry || self.year_month(now) > data.expiry {
                return refuse(ResponseCode::EXPIRED_CARD, "dynamic code expired");
            }
            if !entry
                .code
                .verify(&data.code_input(digits), &data.cryptogram)
            {
                return refuse_for_security(
                    ResponseCode::SECURITY_VIOLATION,
                    "cryptogram does not verify",
                    SecurityEvent::TokenCryptogram,
                );
            }
            if !entry.record.atc.accept(data.atc) {
                return refuse_for_security(
                    ResponseCode::SECURITY_VIOLATION,
                    "counter replayed",
                    SecurityEvent::TokenReplay,
                );
            }
            // Kept where a store keeps anything (with a journal); without one
            // the window lives in memory only, as the vault does.
            if self.settings.journal {
                actions.push(Action::Store(StoreOp::TokenAtc {
                    token: entry.record.token.clone(),
                    atc: entry.record.atc,
                }));
            }
        }
        let record = &entry.record;
        Presented::Token(Box::new(TokenUse {
            token: ShortText::from(record.token.as_str()),
            pan: record.pan.clone(),
            card_expiry: record.card_expiry,
            app: ShortText::from(record.app.as_str()),
            requestor_id: ShortText::from(record.requestor_id.as_str()),
            acquirer_f14: msg.text(14).map(|s| ShortText::from(&*s)),
            acquirer_f48: msg.text(48).map(|s| s.into()),
        }))
    }

    /// YYMM at `now` (UTC); read on every token payment.
    pub(crate) fn year_month(&self, now: Millis) -> [u8; 4] {
        codecs::datetime::year_month_at_unix((self.settings.epoch_unix_ms + now.0) / 1000)
    }
}

impl Core {
    /// The card behind token `digits`, whatever its status (reversals and
    /// advices of its payments still reach the card's issuer).
    pub(crate) fn card_of_token(&self, digits: &[u8]) -> Option<SecretPan> {
        let entry = self.tokens.get(token_key(digits)?)?;
        Some(entry.record.pan.clone())
    }

    /// The channel and app of a message that is no payment (an advice, a
    /// reversal advice): an app's when field 2 is one of its tokens.
    pub(crate) fn channel_of(&self, msg: &Message) -> (Channel, Option<ShortText>) {
        let table = self.routing.current();
        // A card's advice looks up no vault (and takes none of its locks).
        let app = msg
            .pan()
            .filter(|p| table.is_token(p.digits()))
            .and_then(|p| token_key(p.digits()))
            .and_then(|k| self.tokens.get(k))
            .map(|e| ShortText::from(e.record.app.as_str()));
        match app {
            Some(app) => (Channel::WalletQr, Some(app)),
            None => (card_channel(msg), None),
        }
    }
}
