//! The core-level operations of `hot-ops`: one whole purchase through
//! [`switch::core::Core`] (the acquirer's 0200 in, the forward to the issuer out,
//! the issuer's 0210 in, the answer to the acquirer out), paid with a card
//! (`core_card`) or with a token by QR (`core_qr`: the token's checks, the code's
//! cryptogram, the swap token -> card toward the issuer and back); or the card
//! purchase with its issuer's link never signed on (`core_stand_in`: stand-in
//! on, as without a journal; the 0200 in, the stand-in decision, its advice
//! queued for the issuer, the answer out; one call into the core). Each
//! stand-in purchase is of a card of its own, so that every one is approved
//! within the national rules' daily limits (5 per card).
//!
//! Only the switch's side is counted under callgrind: the two calls into the
//! core run in [`counted_request`] and [`counted_answer`], which
//! `scripts/callgrind-ops.sh` names with `--toggle-collect`. The requests (and the
//! app's QR codes in them) are made before the loop, and the issuer's answers
//! between the two calls, outside the count; what the actions hold is dropped
//! outside it too, the same for both ops. The difference `core_qr - core_card`
//! is then the CPU the app channel adds to a payment in the core.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use card_security::wallet::{CodeInput, CodeKey, QrPayload, TokenKey, QR_ENTRY_MODE};
use codecs::framing::LengthHeader;
use codecs::luhn::luhn_check_digit;
use codecs::{Message, Mti, ResponseCode, Spec};
use routing_rules::SharedRoutingTable;
use switch::config::{Direction, LinkConfig, Role, StandInConfig};
use switch::core::tokens::{EnrolOutcome, EnrolRequest, SecretPan, TokenSecret, TokenSeed};
use switch::core::{Action, Actions, Core, CoreSettings, LinkId, Millis};

use benches::loopback::{load_rules, ACQUIRER_BANK, ISSUER_BANK};
use benches::SetupError;

const ACQ: LinkId = 1;
const ISS: LinkId = 2;
/// The app the tokens are issued to (it accepts the cards of [`ISSUER_BANK`]).
const APP: &str = "koryo-pay";
/// Tokens enrolled before the loop; payments go round them, so that the token
/// lookup is into a map of some size and each token's counter grows slowly.
const TOKENS: usize = 256;
/// The number of the first card `core_stand_in` pays with (one card each).
const STAND_IN_FIRST_CARD: u64 = 100_000;
/// The core's clock at `Millis(0)` (Unix ms; 2026-11-25), and the enrolments'.
const EPOCH_UNIX_MS: u64 = 1_795_602_600_000;

/// How a purchase is paid.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Payment {
    Card,
    Qr,
    /// A card, its issuer down.
    StandIn,
}

/// A card of [`ISSUER_BANK`] (Morning Star debit), Luhn-valid, number `n`.
fn card_pan(n: u64) -> String {
    let mut p = format!("{ISSUER_BANK}{:09}", n % 1_000_000_000).into_bytes();
    let check = luhn_check_digit(&p).unwrap_or(b'0');
    p.push(check);
    String::from_utf8_lossy(&p).into_owned()
}

fn link(role: Role, bank: &str) -> Result<Arc<LinkConfig>, SetupError> {
    Ok(Arc::new(LinkConfig {
        name: format!("{bank}-{role:?}"),
        role,
        bank: bank.into(),
        acquirers: vec![bank.into()],
        direction: Direction::Listen,
        address: "127.0.0.1:0".parse()?,
        spec: Spec::builtin("iso87ascii")?,
        framing: LengthHeader::Binary2,
        timeout: Duration::from_secs(10),
        cash_timeout: Duration::from_secs(25),
        echo_interval: Duration::from_secs(30),
        max_missed_echoes: 3,
        max_in_flight: 100,
        max_connections: 8,
        security: Default::default(),
    }))
}

/// The one message `actions` send on `link`.
fn sent_to(actions: &[Action], link: LinkId) -> Option<&Message> {
    actions.iter().find_map(|a| match a {
        Action::Send { link: l, msg } if *l == link => Some(msg),
        _ => None,
    })
}

/// The issuer's approval of `forwarded` (made outside the count).
fn approval(forwarded: &Message) -> Message {
    let mut m = simulators::messages::response_to(forwarded, ResponseCode::APPROVED);
    m.set(38, "A1B2C3");
    m
}

/// A token issued to [`APP`] for a card: its number, expiry and prepared key.
struct Token {
    number: String,
    expiry: [u8; 4],
    key: CodeKey,
}

/// The core with the acquirer (940857) and the issuer (940810) signed on, and,
/// for QR, [`TOKENS`] tokens enrolled (the issuer's account verifications
/// answered 85).
fn core_with_tokens(payment: Payment) -> Result<(Core, Vec<Token>, String), SetupError> {
    let settings = CoreSettings {
        epoch_unix_ms: EPOCH_UNIX_MS,
        journal: false,
        // On as the driver turns it on without a journal (nothing to seal the
        // advices' cards for); only reached with the issuer down.
        stand_in: StandInConfig::default(),
        ..CoreSettings::default()
    };
    let core = Core::new(settings, Arc::new(SharedRoutingTable::new(load_rules()?)));
    core.on_link_up(Millis(0), ACQ, link(Role::Acquirer, ACQUIRER_BANK)?);
    if payment == Payment::StandIn {
        return Ok((core, Vec::new(), String::new()));
    }
    let up = core.on_link_up(Millis(0), ISS, link(Role::Issuer, ISSUER_BANK)?);
    let signon = sent_to(&up, ISS).ok_or("no sign-on to the issuer")?;
    core.on_message(Millis(0), ISS, approval(signon));
    if !core.link_usable(ISS) {
        return Err("the issuer link did not sign on".into());
    }
    let mut tokens = Vec::new();
    let mut requestor = String::new();
    if payment == Payment::Qr {
        for i in 0..TOKENS as u64 {
            let request = EnrolRequest {
                id: i + 1,
                app: APP.into(),
                pan: SecretPan::new(&card_pan(i + 1)).ok_or("not a card number")?,
                expiry: *b"2912",
                seed: TokenSeed {
                    number: i.wrapping_mul(0x9E37_79B9_7F4A_7C15),
                    key: TokenSecret::from_bytes([i as u8; 16]),
                },
                unix_ms: EPOCH_UNIX_MS as i64,
            };
            let asked = core.enrol(Millis(1), request);
            let verification = sent_to(&asked, ISS).ok_or("no account verification")?;
            let answer = simulators::messages::response_to(
                verification,
                ResponseCode::new("85").ok_or("85")?,
            );
            let done = core.on_message(Millis(1), ISS, answer);
            let outcome = done.iter().find_map(|a| match a {
                Action::EnrolmentDone { outcome, .. } => Some(&**outcome),
                _ => None,
            });
            let Some(EnrolOutcome::Enrolled { view, key }) = outcome else {
                return Err("an enrolment was refused".into());
            };
            requestor.clone_from(&view.requestor_id);
            tokens.push(Token {
                number: view.token.clone(),
                expiry: view
                    .token_expiry
                    .as_bytes()
                    .try_into()
                    .map_err(|_| "token expiry")?,
                key: CodeKey::new(&TokenKey::from_bytes(*key.expose())),
            });
        }
    }
    Ok((core, tokens, requestor))
}

/// Purchase `i` of 1,500.00 KPW from the acquirer, paid as `payment`.
fn purchase(i: u64, payment: Payment, tokens: &[Token], requestor: &str) -> Option<Message> {
    let stan = (i % 999_999 + 1) as u32;
    let mut m = Message::new(Mti::FINANCIAL_REQUEST);
    m.set(3, "000000");
    m.set(4, "000000150000");
    m.set(7, "1125103000");
    m.set_stan(stan);
    m.set(32, ACQUIRER_BANK);
    m.set(37, &format!("{i:012}"));
    m.set(41, "TERM0001");
    m.set(49, "408");
    match payment {
        Payment::StandIn => {
            // Past the first card numbers: Morning Star's negative file holds
            // three of them (41, 43, 62 in stand-in).
            m.set(2, &card_pan(STAND_IN_FIRST_CARD + i));
            m.set(14, "2912");
            m.set(22, "051");
        }
        Payment::Card => {
            m.set(2, &card_pan(i % TOKENS as u64 + 1));
            m.set(14, "2912");
            m.set(22, "051");
        }
        Payment::Qr => {
            // Round the tokens; each token's counter goes up by one per round.
            let t = tokens.get(i as usize % tokens.len())?;
            let atc = u16::try_from(i / tokens.len() as u64 + 1).ok()?;
            let input = CodeInput {
                token: t.number.as_bytes(),
                expiry: t.expiry,
                atc,
                unpredictable: 0x1234_5678 ^ i as u32,
                requestor_id: requestor.as_bytes(),
            };
            let code = QrPayload::sign(&t.key, &input);
            m.set(2, &t.number);
            m.set(14, std::str::from_utf8(&t.expiry).ok()?);
            m.set(22, QR_ENTRY_MODE);
            m.set_binary(55, &code.field55());
        }
    }
    Some(m)
}

/// The switch's side of a request (counted under callgrind).
#[inline(never)]
fn counted_request(core: &Core, now: Millis, msg: Message) -> Actions {
    core.on_message(now, ACQ, msg)
}

/// The switch's side of the issuer's answer (counted under callgrind).
#[inline(never)]
fn counted_answer(core: &Core, now: Millis, msg: Message) -> Actions {
    core.on_message(now, ISS, msg)
}

/// `n` purchases paid as `payment`, each answered 00 by the issuer; the sum of
/// the answers' response codes' first digits (0 when all approved) plus the
/// answers counted, so nothing is optimised away. Fails if one is not approved.
pub fn run(payment: Payment, n: u64) -> Result<u64, SetupError> {
    let (core, tokens, requestor) = core_with_tokens(payment)?;
    let max = 65_535 * TOKENS as u64;
    if payment == Payment::Qr && n > max {
        return Err(format!("at most {max} QR payments (the tokens' counters)").into());
    }
    let requests = (0..n)
        .map(|i| purchase(i, payment, &tokens, &requestor))
        .collect::<Option<Vec<_>>>()
        .ok_or("cannot build a purchase")?;
    let mut sum = 0u64;
    for (i, request) in requests.into_iter().enumerate() {
        let now = Millis(10 + i as u64);
        if payment == Payment::StandIn {
            let answered = counted_request(&core, now, black_box(request));
            sum += approved(&answered, i)?;
            continue;
        }
        let forwarded = counted_request(&core, now, black_box(request));
        let to_issuer = sent_to(&forwarded, ISS).ok_or("not forwarded to the issuer")?;
        let answer = approval(to_issuer);
        drop(forwarded);
        let answered = counted_answer(&core, now, answer);
        sum += approved(&answered, i)?;
    }
    Ok(sum)
}

/// 1 when `actions` answer the acquirer 00, else an error naming purchase `i`.
fn approved(actions: &[Action], i: usize) -> Result<u64, SetupError> {
    let to_acquirer = sent_to(actions, ACQ).ok_or("no answer to the acquirer")?;
    match to_acquirer.response_code() {
        Some(rc) if rc == "00" => Ok(1),
        other => Err(format!("purchase {i} answered {other:?}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both ops pay for real: every purchase reaches the issuer (with the card
    /// for a token) and is answered 00, over more than one round of the tokens.
    #[test]
    fn card_and_token_purchases_are_approved() {
        let n = TOKENS as u64 * 2 + 3;
        assert_eq!(run(Payment::Card, n).unwrap(), n);
        assert_eq!(run(Payment::Qr, n).unwrap(), n);
    }

    /// With the issuer down every purchase is approved in stand-in (its own
    /// card each, within the daily limits), and the advice is queued.
    #[test]
    fn stand_in_purchases_are_approved_from_stand_in() {
        let (core, _, _) = core_with_tokens(Payment::StandIn).unwrap();
        let request = purchase(7, Payment::StandIn, &[], "").unwrap();
        let actions = core.on_message(Millis(10), ACQ, request);
        let answer = sent_to(&actions, ACQ).expect("answered");
        assert_eq!(answer.response_code().as_deref(), Some("00"));
        assert_eq!(answer.text(60).as_deref(), Some("STANDIN"));
        assert!(sent_to(&actions, ISS).is_none());
        assert_eq!(core.stats().saf_depth, 1);
        let n = TOKENS as u64 * 2 + 3;
        assert_eq!(run(Payment::StandIn, n).unwrap(), n);
    }
}
