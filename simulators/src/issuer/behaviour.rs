//! What the issuer answers: one request in, one response out, and the effect on
//! the accounts, the transaction log and the totals. No sockets and no clock: the
//! date comes in as [`Today`], so every rule is testable on its own.
//!
//! - 0100/0200: approve with an authorization code (field 38), or decline 14
//!   unknown card, 62 blocked, 54 expired, 55 wrong PIN (81 a PIN block that does
//!   not decipher under the issuer's key; with a PIN key only, and only when
//!   field 52 is present), 12 unknown processing code, 57 currency
//!   the card does not hold, 13 zero amount, 94 keys already used, 61 over the daily
//!   cash limit, 51 insufficient funds, 30 mandatory field missing. A 0200 debits the
//!   balance, a 0100 only checks it. Balance inquiries (31xxxx) answer field 54.
//! - 0100 with amount zero and field 25 = 51: an account verification (an app
//!   enrolling the card): 85 for a usable card, else 14, 62 or 54; nothing booked,
//!   counted apart. Approved payments whose field 48 names a token and an app are
//!   also counted as token payments, by app.
//! - 0400/0420/0421: reverse the original (found by field 90, or by the reversal's
//!   own 11/7/32) exactly once; always acknowledged with 00.
//! - 0120/0220 (and repeats): acknowledged. An advice carrying the stand-in
//!   indicator (by default field 60 = "STANDIN") is the switch's own decision and
//!   is keyed by its own 11/7/32 (see [`stand_in`]). Any other advice of an
//!   approval (field 39 = 00) is posted once (a 0220 debits) under the original
//!   its field 90 names, else its own keys, and counted as approved.
//! - 0800: sign-on, sign-off, cutover and echo answered 00.
//! - A frame that does not decode gets RC 30 if its MTI and STAN can be read; on a
//!   MAC link a request whose MAC is missing or wrong gets RC 63, and any other
//!   message with a bad MAC is dropped.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use codecs::mti::{Function, MessageClass};
use codecs::{DecodeError, Message, Mti, ResponseCode, Spec};
use rust_decimal::Decimal;

use crate::cards::CardStatus;
use crate::messages::{response_to, OriginalKey, TxnKind};
use crate::security::HostSecurity;

use super::accounts::{Accounts, Entry, Posting, Refusal, TxnKey, TxnLog};
use super::report::Totals;
use super::wallet;

pub mod stand_in;

pub use self::stand_in::StandInIndicator;

/// The calendar facts decisions depend on, passed in by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Today {
    /// Days since 1970-01-01 (UTC): the daily cash limit's period.
    pub day: u32,
    /// YYMM, compared with card expiry dates.
    pub year_month: [u8; 4],
}

impl Today {
    /// The day containing `secs` seconds after the Unix epoch.
    pub fn at_unix(secs: u64) -> Today {
        Today {
            day: u32::try_from(secs / 86_400).unwrap_or(u32::MAX),
            year_month: codecs::datetime::fields_at_unix(secs).year_month,
        }
    }
}

/// What became of one frame.
#[derive(Debug)]
pub enum FrameOutcome {
    /// Send this answer.
    Reply(Message),
    /// A message that wants no answer (a response or acknowledgement).
    NoReply(Mti),
    /// The frame did not decode. `reply` is the RC 30 answer when the MTI (of a
    /// request) and the STAN could be read; otherwise the frame is dropped.
    Malformed {
        /// Where and why decoding failed (names the field, never its contents).
        error: DecodeError,
        /// The format-error answer, if one can be addressed.
        reply: Option<Message>,
    },
    /// The message's MAC is missing or wrong. `reply` is the RC 63 answer to a
    /// request; anything else is dropped.
    Unauthenticated {
        /// Why (names the field, never its contents).
        reason: String,
        /// The security-violation answer, for a request.
        reply: Option<Message>,
    },
}

/// An approval's details, for the response and the totals.
struct Approval {
    amount: Decimal,
    /// Field 54, for balance inquiries.
    balance: Option<String>,
}

/// The issuer bank host: its accounts, its transaction log and its totals.
#[derive(Debug)]
pub struct Issuer {
    accounts: Accounts,
    log: TxnLog,
    totals: Totals,
    auth_codes: AtomicU32,
    /// The zone PIN key PIN blocks are checked under (None: PINs not checked).
    pins: Option<std::sync::Arc<HostSecurity>>,
    /// How the switch marks its stand-in advices.
    stand_in: StandInIndicator,
    /// Defects given on purpose (`--defect`), for certification runs.
    defects: super::defects::Defects,
}

impl Issuer {
    /// An issuer holding `accounts`, remembering at most about `log_capacity`
    /// originals for reversals.
    pub fn new(accounts: Accounts, log_capacity: usize) -> Issuer {
        Issuer {
            accounts,
            log: TxnLog::with_capacity(log_capacity),
            totals: Totals::default(),
            auth_codes: AtomicU32::new(0),
            pins: None,
            stand_in: StandInIndicator::default(),
            defects: super::defects::Defects::default(),
        }
    }

    /// The same issuer with `defects` in its answers.
    pub fn with_defects(mut self, defects: super::defects::Defects) -> Issuer {
        self.defects = defects;
        self
    }

    /// The same issuer recognising stand-in advices by `indicator`.
    pub fn with_stand_in_indicator(mut self, indicator: StandInIndicator) -> Issuer {
        self.stand_in = indicator;
        self
    }

    /// The same issuer checking PIN blocks (field 52) with `security`'s PIN key.
    pub fn with_pin_checks(mut self, security: std::sync::Arc<HostSecurity>) -> Issuer {
        self.pins = security.pins().then_some(security);
        self
    }

    /// The accounts.
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The running totals.
    pub fn totals(&self) -> &Totals {
        &self.totals
    }

    /// The transaction log.
    pub fn log(&self) -> &TxnLog {
        &self.log
    }

    /// Decode a frame body under `spec` and answer it.
    pub fn on_frame(&self, spec: &Spec, body: Bytes, today: Today) -> FrameOutcome {
        self.on_frame_checked(spec, body, today, |_, _| Ok(()))
    }

    /// [`Issuer::on_frame`], with `check` (the frame and its decoding) deciding
    /// first whether the message is authentic.
    pub fn on_frame_checked(
        &self,
        spec: &Spec,
        body: Bytes,
        today: Today,
        check: impl FnOnce(&[u8], &Message) -> Result<(), String>,
    ) -> FrameOutcome {
        match spec.decode(body.clone()) {
            Ok(msg) => {
                if let Err(reason) = check(&body, &msg) {
                    let request = msg.mti().is_request();
                    if request && is_transaction(msg.mti()) {
                        self.totals.declined(ResponseCode::SECURITY_VIOLATION);
                    }
                    let reply =
                        request.then(|| response_to(&msg, ResponseCode::SECURITY_VIOLATION));
                    return FrameOutcome::Unauthenticated { reason, reply };
                }
                match self.on_message(&msg, today) {
                    Some(reply) => FrameOutcome::Reply(reply),
                    None => FrameOutcome::NoReply(msg.mti()),
                }
            }
            Err(error) => FrameOutcome::Malformed {
                error,
                reply: self.format_error(spec, &body),
            },
        }
    }

    /// The RC 30 answer to an undecodable frame, if it names a request and a STAN.
    fn format_error(&self, spec: &Spec, frame: &[u8]) -> Option<Message> {
        let (mti, stan) = spec.peek_mti_and_stan(frame)?;
        let (response, stan) = (mti.response()?, stan?);
        let mut m = Message::new(response);
        m.set_stan(stan);
        m.set_response_code(ResponseCode::FORMAT_ERROR.as_str());
        if is_transaction(mti) && mti.function() == Function::Request {
            self.totals.declined(ResponseCode::FORMAT_ERROR);
        }
        Some(m)
    }

    /// Answer a decoded message; None for messages that want no answer.
    pub fn on_message(&self, req: &Message, today: Today) -> Option<Message> {
        let mti = req.mti();
        if !mti.is_request() {
            return None;
        }
        let answer = match (mti.class(), mti.function()) {
            (MessageClass::Authorization | MessageClass::Financial, Function::Request) => {
                self.authorize(req, today)
            }
            (MessageClass::Authorization | MessageClass::Financial, Function::Advice) => {
                self.advice(req, today)
            }
            (MessageClass::Reversal, Function::Request | Function::Advice) => {
                self.reverse(req, today)
            }
            (MessageClass::NetworkManagement, Function::Request) => network(req),
            _ => response_to(req, ResponseCode::INVALID_TRANSACTION),
        };
        self.defects.apply(req, answer)
    }

    fn next_auth_code(&self) -> String {
        let n = self.auth_codes.fetch_add(1, Ordering::Relaxed);
        format!("{:06}", n % 999_999 + 1)
    }

    /// 0100 / 0200 (and their repeats).
    fn authorize(&self, req: &Message, today: Today) -> Message {
        if wallet::is_account_verification(req) {
            return self.verify_account(req, today);
        }
        let financial = req.mti().class() == MessageClass::Financial;
        match self.decide(req, today, financial) {
            Ok(approval) => {
                let mut resp = response_to(req, ResponseCode::APPROVED);
                resp.set(38, &self.next_auth_code());
                if let Some(balance) = &approval.balance {
                    resp.set(54, balance);
                }
                let acquirer = req.text(32).unwrap_or_default();
                self.totals.approved(&acquirer, approval.amount);
                if let Some(app) = wallet::token_requestor(req) {
                    self.totals.token_approved(&app, approval.amount);
                }
                resp
            }
            Err(rc) => {
                self.totals.declined(rc);
                response_to(req, rc)
            }
        }
    }

    /// An account verification (0100, amount zero, field 25 = 51): 85 for a card
    /// that could pay, else the decline a payment would get for the card itself.
    /// Nothing is booked or logged; the outcome is counted apart.
    fn verify_account(&self, req: &Message, today: Today) -> Message {
        let rc = match req.get(2) {
            Some(pan) => match self.usable_card(&pan.bytes(), req, today) {
                Ok(_) => wallet::no_reason_to_decline(),
                Err(rc) => rc,
            },
            None => ResponseCode::FORMAT_ERROR,
        };
        self.totals.verified(rc);
        response_to(req, rc)
    }

    /// The card of `pan`, if it exists, is active and not expired (and field 14,
    /// when sent, is its expiry).
    fn usable_card(
        &self,
        pan: &[u8],
        req: &Message,
        today: Today,
    ) -> Result<(u32, &super::accounts::Account), ResponseCode> {
        use ResponseCode as Rc;
        let index = self.accounts.find(pan).ok_or(Rc::INVALID_CARD_NUMBER)?;
        let account = self.accounts.get(index).ok_or(Rc::INVALID_CARD_NUMBER)?;
        let card = account.card();
        match card.status {
            CardStatus::Blocked => return Err(Rc::RESTRICTED_CARD),
            CardStatus::Expired => return Err(Rc::EXPIRED_CARD),
            CardStatus::Active => {}
        }
        if card.expiry < today.year_month || req.get(14).is_some_and(|f| *f.bytes() != card.expiry)
        {
            return Err(Rc::EXPIRED_CARD);
        }
        Ok((index, account))
    }

    fn decide(
        &self,
        req: &Message,
        today: Today,
        financial: bool,
    ) -> Result<Approval, ResponseCode> {
        use ResponseCode as Rc;
        let pc = req.get(3).ok_or(Rc::FORMAT_ERROR)?.bytes();
        let key = TxnKey::of_request(req).ok_or(Rc::FORMAT_ERROR)?;
        let pan = req.get(2).ok_or(Rc::FORMAT_ERROR)?.bytes();
        let (index, account) = self.usable_card(&pan, req, today)?;
        let card = account.card();
        self.check_pin(req, &pan, &card.pin())?;
        let kind = TxnKind::from_processing_code(&pc).ok_or(Rc::INVALID_TRANSACTION)?;
        let currency = match req.get(49) {
            Some(f) => f
                .to_u64()
                .and_then(|c| u16::try_from(c).ok())
                .ok_or(Rc::FORMAT_ERROR)?,
            None if kind == TxnKind::Balance => card.home_currency(),
            None => return Err(Rc::FORMAT_ERROR),
        };
        if !card.balances.iter().any(|&(c, _)| c == currency) {
            return Err(Rc::NOT_PERMITTED_CARDHOLDER);
        }
        let amount = match kind {
            TxnKind::Balance => Decimal::ZERO,
            TxnKind::Purchase | TxnKind::Cash => {
                let amount = req.amount().ok().flatten().ok_or(Rc::FORMAT_ERROR)?;
                if amount.is_zero() {
                    return Err(Rc::INVALID_AMOUNT);
                }
                amount
            }
        };

        // Log shard first, then the account (see accounts.rs).
        let mut shard = self.log.shard(&key);
        if shard.contains(&key) {
            return Err(Rc::DUPLICATE);
        }
        let mut state = account.lock();
        let cash = kind == TxnKind::Cash;
        let balance = match kind {
            TxnKind::Balance => {
                let pocket = state
                    .pocket(currency, today.day)
                    .ok_or(Rc::NOT_PERMITTED_CARDHOLDER)?;
                let account_type = pc.get(2..4).unwrap_or(b"00");
                Some(balance_field(account_type, currency, pocket.balance))
            }
            TxnKind::Purchase | TxnKind::Cash => {
                let limit = cash.then_some(card.daily_cash_limit);
                state
                    .debit(currency, amount, limit, today.day, financial)
                    .map_err(|r| match r {
                        Refusal::Funds => Rc::INSUFFICIENT_FUNDS,
                        Refusal::CashLimit => Rc::EXCEEDS_AMOUNT_LIMIT,
                        Refusal::Currency => Rc::NOT_PERMITTED_CARDHOLDER,
                    })?;
                None
            }
        };
        drop(state);
        let debited = financial && kind != TxnKind::Balance;
        let posting = Posting {
            account: index,
            currency,
            amount,
            debited,
            cash: debited && cash,
            day: today.day,
            stand_in: false,
        };
        shard.insert(
            key,
            Entry::Approved {
                posting,
                reversed: false,
            },
        );
        Ok(Approval { amount, balance })
    }

    /// 0400 / 0420 / 0421: undo the original once; always acknowledged.
    fn reverse(&self, req: &Message, today: Today) -> Message {
        let key = match req.get(90) {
            Some(f90) => OriginalKey::from_field90(&f90.bytes())
                .as_ref()
                .and_then(TxnKey::of_original),
            None => TxnKey::of_request(req),
        };
        let Some(key) = key else {
            return response_to(req, ResponseCode::FORMAT_ERROR);
        };
        let mut applied = None;
        {
            let mut shard = self.log.shard(&key);
            match shard.get_mut(&key) {
                Some(Entry::Approved { posting, reversed }) if !*reversed => {
                    if let Some(account) = self.accounts.get(posting.account) {
                        account.lock().undo(posting, today.day);
                    }
                    *reversed = true;
                    applied = Some((posting.amount, posting.stand_in));
                }
                Some(Entry::Approved { .. }) => self.totals.reversal_repeat(),
                Some(_) => {} // a repeat: already done
                None => shard.insert(key, Entry::ReversalWithoutOriginal),
            }
        }
        if let Some((amount, stand_in)) = applied {
            let acquirer = req.text(32).unwrap_or_default();
            self.totals.reversed(&acquirer, amount);
            if stand_in {
                self.totals.stand_in().reversed(amount);
            }
        }
        response_to(req, ResponseCode::APPROVED)
    }

    /// 0120 / 0220 (and repeats): acknowledge; post a stand-in approval once.
    fn advice(&self, req: &Message, today: Today) -> Message {
        if self.stand_in.marks(req) {
            return self.stand_in_advice(req, today);
        }
        if let Some(amount) = self.post_advice(req, today) {
            let acquirer = req.text(32).unwrap_or_default();
            self.totals.approved(&acquirer, amount);
            if let Some(app) = wallet::token_requestor(req) {
                self.totals.token_approved(&app, amount);
            }
        }
        response_to(req, ResponseCode::APPROVED)
    }

    /// The amount posted for an advice of an approval, None when it changes nothing
    /// (not approved, unknown card, already known, a balance inquiry, ...).
    fn post_advice(&self, req: &Message, today: Today) -> Option<Decimal> {
        if req.response_code()? != ResponseCode::APPROVED.as_str() {
            return None;
        }
        // The advice stands for the original it names, else for itself.
        let key = match req.get(90) {
            Some(f90) => TxnKey::of_original(&OriginalKey::from_field90(&f90.bytes())?)?,
            None => TxnKey::of_request(req)?,
        };
        let mut shard = self.log.shard(&key);
        if shard.contains(&key) {
            return None; // a repeat, or the original was seen here
        }
        let posting = self.forced_posting(req, today, false)?;
        Some(shard.insert_approved(key, posting))
    }

    /// Post an advice's approval without checking the balance or the cash limit
    /// (a 0220 debits, a 0120 is only recorded); None when the card, its currency
    /// or the amount is not there, or it is a balance inquiry (nothing changed).
    /// Called with the log shard held (log shard first, then the account).
    fn forced_posting(&self, req: &Message, today: Today, stand_in: bool) -> Option<Posting> {
        let kind = TxnKind::from_processing_code(&req.get(3)?.bytes())?;
        if kind == TxnKind::Balance {
            return None;
        }
        let index = self.accounts.find(&req.get(2)?.bytes())?;
        let account = self.accounts.get(index)?;
        let currency = req.currency().ok()?.numeric;
        let amount = req.amount().ok()??;
        let debited = req.mti().class() == MessageClass::Financial;
        let cash = debited && kind == TxnKind::Cash;
        let mut state = account.lock();
        if debited {
            state.force_debit(currency, amount, cash, today.day).ok()?;
        } else {
            state.pocket(currency, today.day)?;
        }
        Some(Posting {
            account: index,
            currency,
            amount,
            debited,
            cash,
            day: today.day,
            stand_in,
        })
    }
}

impl Issuer {
    /// With a PIN key: a request carrying field 52 must hold the card's PIN.
    fn check_pin(&self, req: &Message, pan: &[u8], pin: &[u8]) -> Result<(), ResponseCode> {
        let (Some(security), Some(field)) = (&self.pins, req.get(52)) else {
            return Ok(());
        };
        match security.pin_matches(&field.bytes(), pan, pin) {
            None | Some(Ok(true)) => Ok(()),
            Some(Ok(false)) => Err(incorrect_pin()),
            Some(Err(_)) => Err(ResponseCode::new("81").unwrap_or(ResponseCode::FORMAT_ERROR)),
        }
    }
}

/// RC 55: incorrect PIN.
pub fn incorrect_pin() -> ResponseCode {
    ResponseCode::new("55").unwrap_or(ResponseCode::FORMAT_ERROR)
}

fn is_transaction(mti: Mti) -> bool {
    matches!(
        mti.class(),
        MessageClass::Authorization | MessageClass::Financial
    )
}

/// 0800: sign-on (001), sign-off (002), cutover (201) and echo (301).
fn network(req: &Message) -> Message {
    let rc = match req.text(70).as_deref() {
        Some("001" | "002" | "201" | "301") => ResponseCode::APPROVED,
        Some(_) => ResponseCode::INVALID_TRANSACTION,
        None => ResponseCode::FORMAT_ERROR,
    };
    response_to(req, rc)
}

/// Field 54 (additional amounts) with the available balance: account type (2),
/// amount type "02" (available), currency (3), C or D, 12 digits of minor units.
pub fn balance_field(account_type: &[u8], currency: u16, balance: Decimal) -> String {
    let minor_units = codecs::currency::by_numeric(currency).map_or(2, |c| c.minor_units);
    let minor = (balance.abs() * Decimal::from(10u64.pow(minor_units))).trunc();
    let minor = u64::try_from(minor)
        .unwrap_or(u64::MAX)
        .min(999_999_999_999);
    let sign = if balance.is_sign_negative() && !balance.is_zero() {
        'D'
    } else {
        'C'
    };
    let account_type = match account_type {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => [*a, *b],
        _ => *b"00",
    };
    format!(
        "{}{}02{currency:03}{sign}{minor:012}",
        char::from(account_type[0]),
        char::from(account_type[1])
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::Card;
    use std::str::FromStr;

    pub(super) const ACTIVE: &[u8; 16] = b"9408010000001238";
    const BLOCKED: &[u8; 16] = b"9408010000001246";
    const EXPIRED: &[u8; 16] = b"9408010000001253";
    pub(super) const POOR: &[u8; 16] = b"9408010000001261";
    pub(super) const UNKNOWN: &str = "9408010000001279";

    pub(super) fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn card(pan: &[u8; 16], status: CardStatus, balance: &str) -> Card {
        Card {
            pan: *pan,
            expiry: if status == CardStatus::Expired {
                *b"2201"
            } else {
                *b"2912"
            },
            status,
            issuer: 0,
            product: 0,
            balances: vec![(408, d(balance)), (840, d("10.00"))],
            daily_cash_limit: d("3000.00"),
        }
    }

    pub(super) fn issuer() -> Issuer {
        Issuer::new(
            Accounts::open([
                card(ACTIVE, CardStatus::Active, "10000.00"),
                card(BLOCKED, CardStatus::Blocked, "10000.00"),
                card(EXPIRED, CardStatus::Expired, "10000.00"),
                card(POOR, CardStatus::Active, "5.00"),
            ]),
            1000,
        )
    }

    pub(super) const TODAY: Today = Today {
        day: 20_000,
        year_month: *b"2611",
    };

    pub(super) fn request(mti: &str, pan: &[u8], pc: &str, minor: u64, stan: u32) -> Message {
        let mut m = Message::new(Mti::new(mti.as_bytes()).unwrap());
        m.set(2, std::str::from_utf8(pan).unwrap());
        m.set(3, pc);
        m.set(4, &format!("{minor:012}"));
        m.set(7, "1125103000");
        m.set_stan(stan);
        m.set(32, "940857");
        m.set(37, "000000000042");
        m.set(41, "ATM00001");
        m.set(49, "408");
        m
    }

    pub(super) fn rc(m: &Message) -> String {
        m.response_code().unwrap().into_owned()
    }

    pub(super) fn balance(i: &Issuer, pan: &[u8]) -> Decimal {
        let idx = i.accounts().find(pan).unwrap();
        let mut s = i.accounts().get(idx).unwrap().lock();
        s.pocket(408, TODAY.day).unwrap().balance
    }

    fn report(i: &Issuer) -> String {
        i.totals().snapshot().to_json().to_string()
    }

    #[test]
    fn purchase_approves_with_auth_code_and_debits() {
        let i = issuer();
        let resp = i
            .on_message(&request("0200", ACTIVE, "000000", 125_050, 1), TODAY)
            .unwrap();
        assert_eq!(resp.mti().as_str(), "0210");
        assert_eq!(rc(&resp), "00");
        let auth = resp.text(38).unwrap();
        assert_eq!(auth.len(), 6);
        assert_eq!(resp.text(11).unwrap(), "000001");
        assert_eq!(balance(&i, ACTIVE), d("8749.50"));
        // An authorization checks but does not debit.
        let resp = i
            .on_message(&request("0100", ACTIVE, "000000", 100_000, 2), TODAY)
            .unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0110", "00"));
        assert_ne!(resp.text(38).unwrap(), auth);
        assert_eq!(balance(&i, ACTIVE), d("8749.50"));
        assert_eq!(
            report(&i),
            concat!(
                r#"{"approved":{"940857":{"count":2,"amount":"2250.50"}},"reversed":{"count":0,"amount":"0.00"},"declined":{},"#,
                r#""token_payments":{"approved":0,"amount":"0.00","by_app":{}},"account_verifications":{},"#,
                r#""stand_in":{"advices":0,"repeats":0,"approved":{"count":0,"amount":"0.00"},"#,
                r#""declined":{},"not_posted":0,"reversed":{"count":0,"amount":"0.00"}}}"#
            )
        );
    }

    fn verification(pan: &[u8], stan: u32) -> Message {
        let mut m = request("0100", pan, "000000", 0, stan);
        m.set(25, "51");
        m.set(22, "031");
        m.set(48, "TK0169408990000000017AP01194000000001");
        m.remove(49);
        m
    }

    /// An app's enrolment: 85 for a usable card, the card's decline otherwise;
    /// no balance moves, nothing is logged (the same keys could pay later), and
    /// the answers are counted apart from transactions.
    #[test]
    fn account_verification_books_nothing() {
        let i = issuer();
        let cases = [
            (ACTIVE.as_slice(), "85"),
            (BLOCKED, "62"),
            (EXPIRED, "54"),
            (UNKNOWN.as_bytes(), "14"),
        ];
        for (n, (pan, want)) in cases.iter().enumerate() {
            let resp = i
                .on_message(&verification(pan, n as u32 + 1), TODAY)
                .unwrap();
            assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0110", *want));
            assert!(!resp.has(38));
        }
        let mut wrong_expiry = verification(ACTIVE, 9);
        wrong_expiry.set(14, "2701");
        assert_eq!(rc(&i.on_message(&wrong_expiry, TODAY).unwrap()), "54");
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        let s = i.totals().snapshot();
        assert!(s.approved.is_empty());
        assert_eq!(s.declined_total(), 0);
        assert_eq!(s.token_payments.count, 0);
        assert_eq!(
            s.account_verifications,
            [("14", 1), ("54", 2), ("62", 1), ("85", 1)]
                .map(|(rc, n)| (rc.to_string(), n))
                .into()
        );
        // The same keys as a verification are free for a payment.
        let resp = i
            .on_message(&request("0200", ACTIVE, "000000", 100, 1), TODAY)
            .unwrap();
        assert_eq!(rc(&resp), "00");
        // Without field 25 = 51 a zero amount is still refused (13).
        let mut zero = verification(ACTIVE, 10);
        zero.remove(25);
        zero.set(49, "408");
        assert_eq!(rc(&i.on_message(&zero, TODAY).unwrap()), "13");
    }

    /// Payments the switch marks as made with a token (field 48) are counted in
    /// the approvals and again apart, by app; a stand-in advice of one too.
    #[test]
    fn token_payments_are_reported_by_app() {
        let i = issuer();
        let mut by_app = request("0200", ACTIVE, "000000", 150_000, 1);
        by_app.set(48, "TK0169408990000000017AP01194000000002");
        assert_eq!(rc(&i.on_message(&by_app, TODAY).unwrap()), "00");
        let mut other_app = request("0100", ACTIVE, "000000", 2_500, 2);
        other_app.set(48, "TK0169408990000000025AP01194000000001");
        assert_eq!(rc(&i.on_message(&other_app, TODAY).unwrap()), "00");
        let mut declined = request("0200", POOR, "000000", 100_000, 3);
        declined.set(48, "TK0169408990000000033AP01194000000001");
        assert_eq!(rc(&i.on_message(&declined, TODAY).unwrap()), "51");
        assert_eq!(
            rc(&i
                .on_message(&request("0200", ACTIVE, "000000", 100, 4), TODAY)
                .unwrap()),
            "00"
        );
        let mut advice = request("0220", ACTIVE, "000000", 1_000, 5);
        advice.set(39, "00");
        advice.set(48, "TK0169408990000000017AP01194000000002");
        assert_eq!(rc(&i.on_message(&advice, TODAY).unwrap()), "00");
        let s = i.totals().snapshot();
        assert_eq!(s.approved_total().count, 4);
        assert_eq!(s.token_payments.count, 3);
        assert_eq!(s.token_payments.amount, d("1535.00"));
        let json = s.to_json();
        assert_eq!(
            json["token_payments"].to_string(),
            r#"{"approved":3,"amount":"1535.00","by_app":{"94000000001":1,"94000000002":2}}"#
        );
        assert!(!json.to_string().contains("9408990000000017"));
    }

    #[test]
    fn declines_name_the_reason() {
        let i = issuer();
        let cases: [(Message, &str); 10] = [
            (request("0200", UNKNOWN.as_bytes(), "000000", 100, 1), "14"),
            (request("0200", BLOCKED, "000000", 100, 2), "62"),
            (request("0200", EXPIRED, "000000", 100, 3), "54"),
            (request("0200", POOR, "000000", 501, 4), "51"),
            (request("0200", ACTIVE, "010000", 300_001, 5), "61"),
            (request("0200", ACTIVE, "400000", 100, 6), "12"),
            (request("0200", ACTIVE, "000000", 0, 7), "13"),
            (
                {
                    let mut m = request("0200", ACTIVE, "000000", 100, 8);
                    m.set(49, "978");
                    m
                },
                "57",
            ),
            (
                {
                    let mut m = request("0200", ACTIVE, "000000", 100, 9);
                    m.set(14, "2701");
                    m
                },
                "54",
            ),
            (
                {
                    let mut m = request("0200", ACTIVE, "000000", 100, 10);
                    m.remove(32);
                    m
                },
                "30",
            ),
        ];
        for (req, want) in &cases {
            let resp = i.on_message(req, TODAY).unwrap();
            assert_eq!(rc(&resp), *want, "{req}");
            assert!(!resp.has(38));
        }
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        assert_eq!(balance(&i, POOR), d("5.00"));
        let s = i.totals().snapshot();
        assert!(s.approved.is_empty());
        assert_eq!(s.declined["54"], 2);
        assert_eq!(s.declined_total(), 10);
        // A card past its expiry month is expired whatever its status says.
        let later = Today {
            day: TODAY.day,
            year_month: *b"3001",
        };
        let resp = i
            .on_message(&request("0100", ACTIVE, "000000", 100, 11), later)
            .unwrap();
        assert_eq!(rc(&resp), "54");
    }

    #[test]
    fn cash_limit_is_daily_and_counts_only_financials() {
        let i = issuer();
        let cash = |minor, stan, today| {
            rc(&i
                .on_message(&request("0200", ACTIVE, "010000", minor, stan), today)
                .unwrap())
        };
        assert_eq!(cash(200_000, 1, TODAY), "00");
        assert_eq!(cash(100_001, 2, TODAY), "61");
        assert_eq!(cash(100_000, 3, TODAY), "00");
        let tomorrow = Today {
            day: TODAY.day + 1,
            ..TODAY
        };
        assert_eq!(cash(300_000, 4, tomorrow), "00");
        assert_eq!(balance(&i, ACTIVE), d("4000.00"));
        // A 0100 for cash is checked against the limit but does not use it up.
        let auth = i
            .on_message(&request("0100", ACTIVE, "010000", 10_000, 5), tomorrow)
            .unwrap();
        assert_eq!(rc(&auth), "61");
    }

    #[test]
    fn balance_inquiry_answers_field_54() {
        let i = issuer();
        let resp = i
            .on_message(&request("0200", ACTIVE, "311000", 0, 1), TODAY)
            .unwrap();
        assert_eq!(rc(&resp), "00");
        let f54 = resp.text(54).unwrap();
        assert_eq!(f54, "1002408C000001000000");
        assert_eq!(f54.len(), 20);
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        // Without field 49: the home currency. The USD pocket on request.
        let mut req = request("0100", ACTIVE, "310000", 0, 2);
        req.remove(49);
        req.remove(4);
        let resp = i.on_message(&req, TODAY).unwrap();
        assert_eq!(resp.text(54).unwrap(), "0002408C000001000000");
        let mut req = request("0100", ACTIVE, "310000", 0, 3);
        req.set(49, "840");
        let resp = i.on_message(&req, TODAY).unwrap();
        assert_eq!(resp.text(54).unwrap(), "0002840C000000001000");
        // The field encodes under the built-in spec.
        let spec = Spec::builtin("iso87ascii").unwrap();
        spec.encode_to_bytes(&resp).unwrap();
        assert_eq!(
            balance_field(b"20", 392, d("-1500")),
            "2002392D000000001500"
        );
    }

    #[test]
    fn reversal_applies_exactly_once() {
        let i = issuer();
        let original = request("0200", ACTIVE, "010000", 100_000, 7);
        assert_eq!(rc(&i.on_message(&original, TODAY).unwrap()), "00");
        assert_eq!(balance(&i, ACTIVE), d("9000.00"));
        let rev = crate::messages::reversal_for(&original, 8, &crate::clock::now_fields()).unwrap();
        let resp = i.on_message(&rev, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0430", "00"));
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        // A repeat (0421) is acknowledged and changes nothing.
        let mut repeat = rev.clone();
        repeat.set_mti(Mti::REVERSAL_ADVICE_REPEAT);
        let resp = i.on_message(&repeat, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0430", "00"));
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        // The daily cash room came back too: the full limit can be withdrawn.
        let again = request("0200", ACTIVE, "010000", 300_000, 9);
        assert_eq!(rc(&i.on_message(&again, TODAY).unwrap()), "00");
        let s = i.totals().snapshot();
        assert_eq!(s.approved["940857"].count, 2);
        assert_eq!(s.reversed.count, 1);
        assert_eq!(s.reversed.amount, d("1000.00"));
        // Booked against the acquirer that sent it; the repeat counted, not applied.
        assert_eq!(s.reversed_by_acquirer["940857"].count, 1);
        assert_eq!(s.reversal_repeats, 1);
    }

    #[test]
    fn reversal_without_field_90_uses_the_originals_keys() {
        let i = issuer();
        let original = request("0200", ACTIVE, "000000", 50_000, 11);
        assert_eq!(rc(&i.on_message(&original, TODAY).unwrap()), "00");
        let mut rev = original.clone();
        rev.set_mti(Mti::REVERSAL_REQUEST);
        let resp = i.on_message(&rev, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0410", "00"));
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        assert_eq!(i.totals().snapshot().reversed.count, 1);
    }

    #[test]
    fn reversal_of_unknown_or_declined_is_acknowledged_without_effect() {
        let i = issuer();
        let declined = request("0200", POOR, "000000", 100_000, 21);
        assert_eq!(rc(&i.on_message(&declined, TODAY).unwrap()), "51");
        let when = crate::clock::now_fields();
        for orig in [&declined, &request("0200", ACTIVE, "000000", 100, 22)] {
            let rev = crate::messages::reversal_for(orig, 99, &when).unwrap();
            let resp = i.on_message(&rev, TODAY).unwrap();
            assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0430", "00"));
        }
        assert_eq!(balance(&i, POOR), d("5.00"));
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        assert_eq!(i.totals().snapshot().reversed.count, 0);
        // The original arriving after its reversal is refused, not approved.
        let late = request("0200", ACTIVE, "000000", 100, 22);
        assert_eq!(rc(&i.on_message(&late, TODAY).unwrap()), "94");
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
    }

    #[test]
    fn duplicate_keys_are_refused() {
        let i = issuer();
        let req = request("0200", ACTIVE, "000000", 100, 31);
        assert_eq!(rc(&i.on_message(&req, TODAY).unwrap()), "00");
        assert_eq!(rc(&i.on_message(&req, TODAY).unwrap()), "94");
        assert_eq!(balance(&i, ACTIVE), d("9999.00"));
    }

    #[test]
    fn advices_are_acknowledged_and_stand_in_approvals_posted_once() {
        let i = issuer();
        let mut advice = request("0220", ACTIVE, "000000", 20_000, 41);
        advice.set(39, "00");
        let resp = i.on_message(&advice, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0230", "00"));
        assert_eq!(balance(&i, ACTIVE), d("9800.00"));
        let mut repeat = advice.clone();
        repeat.set_mti(Mti::new(b"0221").unwrap());
        let resp = i.on_message(&repeat, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0230", "00"));
        assert_eq!(balance(&i, ACTIVE), d("9800.00"));
        // A stand-in approval is posted even past the balance.
        let mut big = request("0220", POOR, "000000", 1_000, 42);
        big.set(39, "00");
        i.on_message(&big, TODAY).unwrap();
        assert_eq!(balance(&i, POOR), d("-5.00"));
        // A declined advice, an 0120 and an unknown card change no balance.
        let mut declined = request("0220", ACTIVE, "000000", 20_000, 43);
        declined.set(39, "51");
        let mut auth_advice = request("0120", ACTIVE, "000000", 20_000, 44);
        auth_advice.set(39, "00");
        let mut unknown = request("0220", UNKNOWN.as_bytes(), "000000", 20_000, 45);
        unknown.set(39, "00");
        for m in [&declined, &auth_advice, &unknown] {
            let resp = i.on_message(m, TODAY).unwrap();
            assert_eq!(rc(&resp), "00");
        }
        assert_eq!(
            i.on_message(&auth_advice, TODAY).unwrap().mti().as_str(),
            "0130"
        );
        assert_eq!(balance(&i, ACTIVE), d("9800.00"));
        // Posted advices count as approvals and can be reversed.
        let s = i.totals().snapshot();
        assert_eq!(s.approved["940857"].count, 3);
        assert!(s.declined.is_empty());
        let mut rev = advice.clone();
        rev.set_mti(Mti::REVERSAL_ADVICE);
        i.on_message(&rev, TODAY).unwrap();
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
    }

    #[test]
    fn network_management_is_answered() {
        let i = issuer();
        for (code, want) in [("001", "00"), ("002", "00"), ("301", "00"), ("999", "12")] {
            let req = crate::messages::network_request(code, 5, &crate::clock::now_fields());
            let resp = i.on_message(&req, TODAY).unwrap();
            assert_eq!(resp.mti(), Mti::NETWORK_RESPONSE);
            assert_eq!(rc(&resp), want);
            assert_eq!(resp.text(70).unwrap(), code);
            assert_eq!(resp.text(11).unwrap(), "000005");
        }
        // Responses are not answered; unknown request classes get 12.
        let mut resp = Message::new(Mti::NETWORK_RESPONSE);
        resp.set_stan(1);
        assert!(i.on_message(&resp, TODAY).is_none());
        let file = Message::new(Mti::new(b"0300").unwrap());
        assert_eq!(rc(&i.on_message(&file, TODAY).unwrap()), "12");
    }

    #[test]
    fn malformed_frames_get_30_or_are_dropped() {
        let i = issuer();
        let spec = Spec::builtin("iso87ascii").unwrap();
        let good = spec
            .encode_to_bytes(&request("0200", ACTIVE, "000000", 100, 51))
            .unwrap();
        // Cut inside a later field: MTI and STAN still readable.
        let cut = good.slice(..good.len() - 5);
        match i.on_frame(&spec, cut, TODAY) {
            FrameOutcome::Malformed {
                error,
                reply: Some(reply),
            } => {
                assert_eq!(reply.mti().as_str(), "0210");
                assert_eq!(reply.text(11).unwrap(), "000051");
                assert_eq!(rc(&reply), "30");
                assert!(error.to_string().contains("field"), "{error}");
                spec.encode_to_bytes(&reply).unwrap();
            }
            other => panic!("{other:?}"),
        }
        // Garbage: dropped.
        match i.on_frame(&spec, Bytes::from_static(b"\x00\x01garbage"), TODAY) {
            FrameOutcome::Malformed { reply: None, .. } => {}
            other => panic!("{other:?}"),
        }
        // A decodable response: no reply.
        let resp = spec
            .encode_to_bytes(&response_to(
                &request("0200", ACTIVE, "000000", 100, 52),
                ResponseCode::APPROVED,
            ))
            .unwrap();
        assert!(matches!(
            i.on_frame(&spec, resp, TODAY),
            FrameOutcome::NoReply(_)
        ));
        assert_eq!(i.totals().snapshot().declined["30"], 1);
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
    }

    #[test]
    fn logs_never_show_more_than_the_masked_pan() {
        let i = issuer();
        let resp = i
            .on_message(&request("0200", ACTIVE, "000000", 100, 61), TODAY)
            .unwrap();
        let shown = format!("{resp} {resp:?} {i:?}");
        assert!(!shown.contains("9408010000001238"), "{shown}");
        assert!(
            !shown.contains(&9_408_010_000_001_238u64.to_string()[2..]),
            "{shown}"
        );
    }

    #[test]
    fn today_from_unix_time() {
        // 2026-11-25 10:30:00 UTC
        let t = Today::at_unix(1_795_602_600);
        assert_eq!(t.year_month, *b"2611");
        assert_eq!(t.day, 1_795_602_600 / 86_400);
    }
}
