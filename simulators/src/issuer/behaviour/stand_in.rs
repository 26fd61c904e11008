//! Stand-in advices at the issuer: the 0120/0220 (repeats 0121/0221) through which
//! the switch tells the issuer what it decided while the issuer could not answer.
//!
//! Such an advice is the switch's own transaction, not a copy of a request the
//! issuer may have seen: it is keyed by its own fields 11/7/32. Its field 90, when
//! present, names the request the switch forwarded before timing out and reversed
//! with a 0420 of its own; keying by it would find that (reversed) original and
//! drop the advice, leaving the issuer short of what the acquirer was told.
//!
//! - An approval (39 = 00) is posted once whatever the balance and the daily cash
//!   limit (a forced post: the switch approved it within the limits the issuer
//!   set); a 0120 is only recorded, as an authorization would be.
//! - A decline posts nothing and is counted by its response code.
//! - A 0420 whose field 90 names the advice undoes the approval once (the ordinary
//!   reversal path, which finds it under the advice's keys).
//!
//! Everything is acknowledged 00: the advice is the switch's decision, already
//! given to the acquirer, and an answer other than 00 would only make it repeat.
//! The one exception is an advice without its own 11/7/32 (30): it could not be
//! told from its repeats, so posting it would risk posting it twice.

use codecs::mti::MessageClass;
use codecs::{Message, ResponseCode};
use rust_decimal::Decimal;

use crate::messages::{response_to, TxnKind};

use super::super::accounts::{Entry, Posting, TxnKey};
use super::super::wallet;
use super::{Issuer, Today};

/// The field and value by which the switch marks its stand-in decisions (the
/// switch's `[stand_in] indicator_field` and `indicator_value`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInIndicator {
    /// The field number.
    pub field: u8,
    /// Its value in a stand-in advice.
    pub value: String,
}

impl Default for StandInIndicator {
    fn default() -> StandInIndicator {
        StandInIndicator {
            field: 60,
            value: "STANDIN".into(),
        }
    }
}

impl StandInIndicator {
    /// Whether `msg` carries the indicator.
    pub fn marks(&self, msg: &Message) -> bool {
        msg.get(self.field)
            .is_some_and(|f| *f.bytes() == *self.value.as_bytes())
    }
}

/// What one stand-in advice did to the books.
enum Booked {
    /// An approval posted for this amount.
    Approved(Decimal),
    /// A decline, counted by its code.
    Declined(ResponseCode),
    /// An approval that could not be posted (no such card or currency here, a
    /// balance inquiry) or that its reversal reached first.
    NotPosted,
    /// Seen before (a 0121/0221, or a copy whose acknowledgement was lost).
    Repeat,
}

impl Issuer {
    /// 0120/0220 (and repeats) carrying the stand-in indicator.
    pub(super) fn stand_in_advice(&self, req: &Message, today: Today) -> Message {
        let Some(key) = TxnKey::of_request(req) else {
            // Without its own keys the advice cannot be told from its repeats.
            return response_to(req, ResponseCode::FORMAT_ERROR);
        };
        let counts = self.totals().stand_in();
        match self.book_stand_in(req, key, today) {
            Booked::Approved(amount) => {
                counts.approved(amount);
                let acquirer = req.text(32).unwrap_or_default();
                self.totals().approved(&acquirer, amount);
                if let Some(app) = wallet::token_requestor(req) {
                    self.totals().token_approved(&app, amount);
                }
            }
            Booked::Declined(rc) => counts.declined(rc),
            Booked::NotPosted => counts.not_posted(),
            Booked::Repeat => counts.repeat(),
        }
        response_to(req, ResponseCode::APPROVED)
    }

    fn book_stand_in(&self, req: &Message, key: TxnKey, today: Today) -> Booked {
        let mut shard = self.log.shard(&key);
        match shard.get_mut(&key) {
            None => {}
            // The acquirer's reversal, delivered before the advice it names: the
            // issuer ends with neither. Remember the advice so repeats stay repeats.
            Some(entry @ Entry::ReversalWithoutOriginal) => {
                *entry = Entry::StandInAdvised;
                return Booked::NotPosted;
            }
            Some(_) => return Booked::Repeat,
        }
        let rc = req
            .response_code()
            .and_then(|rc| ResponseCode::new(&rc))
            .unwrap_or(ResponseCode::FORMAT_ERROR);
        if rc != ResponseCode::APPROVED {
            shard.insert(key, Entry::StandInAdvised);
            return Booked::Declined(rc);
        }
        match self.forced_posting(req, today) {
            Some(posting) => {
                let amount = posting.amount;
                shard.insert(
                    key,
                    Entry::Approved {
                        posting,
                        reversed: false,
                    },
                );
                Booked::Approved(amount)
            }
            None => {
                shard.insert(key, Entry::StandInAdvised);
                Booked::NotPosted
            }
        }
    }

    /// Post an approved advice without checking balance or cash limit; None when
    /// the card, its currency or the amount is not there (nothing changed).
    /// Called with the log shard held (log shard first, then the account).
    fn forced_posting(&self, req: &Message, today: Today) -> Option<Posting> {
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
            stand_in: true,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{balance, d, issuer, rc, request, ACTIVE, POOR, TODAY, UNKNOWN};
    use super::*;
    use codecs::Mti;

    /// A stand-in advice as the switch sends it: its own STAN and time, the
    /// acquirer's field 32, the decision in 39, the indicator in 60.
    fn advice(mti: &str, pan: &[u8], pc: &str, minor: u64, stan: u32, code: &str) -> Message {
        let mut m = request(mti, pan, pc, minor, stan);
        m.set(7, "1125103100");
        m.set(39, code);
        m.set(60, "STANDIN");
        m
    }

    fn stand_in_json(i: &Issuer) -> String {
        i.totals().snapshot().to_json()["stand_in"].to_string()
    }

    #[test]
    fn approvals_are_forced_posts_made_once() {
        let i = issuer();
        // POOR holds 5.00: a stand-in approval of 200.00 still posts.
        let a = advice("0220", POOR, "000000", 20_000, 900_001, "00");
        let resp = i.on_message(&a, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0230", "00"));
        assert_eq!(balance(&i, POOR), d("-195.00"));
        // Its repeat and a second copy change nothing.
        let mut repeat = a.clone();
        repeat.set_mti(Mti::new(b"0221").unwrap());
        for m in [&repeat, &a] {
            assert_eq!(rc(&i.on_message(m, TODAY).unwrap()), "00");
        }
        assert_eq!(balance(&i, POOR), d("-195.00"));
        // Cash beyond the daily cash limit (3000.00) posts too.
        let cash = advice("0220", ACTIVE, "010000", 350_000, 900_002, "00");
        assert_eq!(rc(&i.on_message(&cash, TODAY).unwrap()), "00");
        assert_eq!(balance(&i, ACTIVE), d("6500.00"));
        // An 0120 is recorded, not debited.
        let auth = advice("0120", ACTIVE, "000000", 10_000, 900_003, "00");
        let resp = i.on_message(&auth, TODAY).unwrap();
        assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0130", "00"));
        assert_eq!(balance(&i, ACTIVE), d("6500.00"));
        assert_eq!(
            stand_in_json(&i),
            concat!(
                r#"{"advices":3,"repeats":2,"approved":{"count":3,"amount":"3800.00"},"#,
                r#""declined":{},"not_posted":0,"reversed":{"count":0,"amount":"0.00"}}"#
            )
        );
        // The approvals are the acquirer's too (the online figures include them).
        assert_eq!(i.totals().snapshot().approved["940857"].count, 3);
    }

    #[test]
    fn declines_are_only_counted_once() {
        let i = issuer();
        for (stan, code) in [(1, "61"), (2, "65"), (3, "41"), (4, "61")] {
            let m = advice("0220", ACTIVE, "000000", 10_000, stan, code);
            assert_eq!(rc(&i.on_message(&m, TODAY).unwrap()), "00");
        }
        let mut repeat = advice("0221", ACTIVE, "000000", 10_000, 1, "61");
        repeat.set_mti(Mti::new(b"0221").unwrap());
        i.on_message(&repeat, TODAY).unwrap();
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        let s = i.totals().snapshot();
        assert!(s.approved.is_empty());
        assert!(s.declined.is_empty(), "not the issuer's own declines");
        assert_eq!(
            stand_in_json(&i),
            concat!(
                r#"{"advices":4,"repeats":1,"approved":{"count":0,"amount":"0.00"},"#,
                r#""declined":{"41":1,"61":2,"65":1},"not_posted":0,"#,
                r#""reversed":{"count":0,"amount":"0.00"}}"#
            )
        );
    }

    #[test]
    fn a_reversal_naming_the_advice_undoes_it_once() {
        let i = issuer();
        let a = advice("0220", POOR, "010000", 50_000, 900_010, "00");
        i.on_message(&a, TODAY).unwrap();
        assert_eq!(balance(&i, POOR), d("-495.00"));
        let rev = crate::messages::reversal_for(&a, 900_011, &crate::clock::now_fields()).unwrap();
        for _ in 0..2 {
            let resp = i.on_message(&rev, TODAY).unwrap();
            assert_eq!((resp.mti().as_str(), rc(&resp).as_str()), ("0430", "00"));
        }
        assert_eq!(balance(&i, POOR), d("5.00"));
        let s = i.totals().snapshot();
        assert_eq!(s.reversed.count, 1);
        assert_eq!(s.stand_in.reversed.count, 1);
        assert_eq!(s.stand_in.reversed.amount, d("500.00"));
        // An online approval's reversal is not a stand-in one.
        let online = request("0200", ACTIVE, "000000", 100, 5);
        i.on_message(&online, TODAY).unwrap();
        let rev = crate::messages::reversal_for(&online, 6, &crate::clock::now_fields()).unwrap();
        i.on_message(&rev, TODAY).unwrap();
        let s = i.totals().snapshot();
        assert_eq!((s.reversed.count, s.stand_in.reversed.count), (2, 1));
    }

    #[test]
    fn a_reversal_before_its_advice_leaves_neither() {
        let i = issuer();
        let a = advice("0220", ACTIVE, "000000", 10_000, 900_020, "00");
        let rev = crate::messages::reversal_for(&a, 900_021, &crate::clock::now_fields()).unwrap();
        i.on_message(&rev, TODAY).unwrap();
        for mti in [b"0220", b"0221"] {
            let mut m = a.clone();
            m.set_mti(Mti::new(mti).unwrap());
            assert_eq!(rc(&i.on_message(&m, TODAY).unwrap()), "00");
        }
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        let s = i.totals().snapshot();
        assert_eq!((s.stand_in.advices, s.stand_in.repeats), (1, 1));
        assert_eq!(s.stand_in.not_posted, 1);
        assert_eq!(s.stand_in.approved.count, 0);
    }

    /// After a timeout the advice's field 90 names the request the switch
    /// forwarded, and the switch's 0420 of that request comes first: the original
    /// is reversed, and the advice, keyed by its own fields, is still posted.
    #[test]
    fn the_forwarded_requests_reversal_does_not_swallow_the_advice() {
        let i = issuer();
        let f90 = |m: &Message| {
            let rev = crate::messages::reversal_for(m, 1, &crate::clock::now_fields()).unwrap();
            rev.text(90).unwrap().into_owned()
        };
        // The forwarded request reached the issuer (answered too late).
        let forwarded = request("0200", ACTIVE, "000000", 30_000, 31);
        assert_eq!(rc(&i.on_message(&forwarded, TODAY).unwrap()), "00");
        let rev =
            crate::messages::reversal_for(&forwarded, 32, &crate::clock::now_fields()).unwrap();
        i.on_message(&rev, TODAY).unwrap();
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        let mut a = advice("0220", ACTIVE, "000000", 30_000, 900_031, "00");
        a.set(90, &f90(&forwarded));
        i.on_message(&a, TODAY).unwrap();
        assert_eq!(balance(&i, ACTIVE), d("9700.00"));
        // The forwarded request never reached the issuer: the same.
        let lost = request("0200", POOR, "000000", 30_000, 41);
        let rev = crate::messages::reversal_for(&lost, 42, &crate::clock::now_fields()).unwrap();
        i.on_message(&rev, TODAY).unwrap();
        let mut a = advice("0220", POOR, "000000", 30_000, 900_041, "00");
        a.set(90, &f90(&lost));
        i.on_message(&a, TODAY).unwrap();
        assert_eq!(balance(&i, POOR), d("-295.00"));
        let s = i.totals().snapshot();
        assert_eq!(s.stand_in.approved.count, 2);
        assert_eq!(s.reversed.count, 1);
    }

    #[test]
    fn advices_that_cannot_be_posted_are_counted_apart() {
        let i = issuer();
        let unknown = advice("0220", UNKNOWN.as_bytes(), "000000", 100, 51, "00");
        let mut currency = advice("0220", ACTIVE, "000000", 100, 52, "00");
        currency.set(49, "978");
        for m in [&unknown, &currency] {
            assert_eq!(rc(&i.on_message(m, TODAY).unwrap()), "00");
        }
        let mut keyless = advice("0220", ACTIVE, "000000", 100, 53, "00");
        keyless.remove(7);
        assert_eq!(rc(&i.on_message(&keyless, TODAY).unwrap()), "30");
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        assert_eq!(i.totals().snapshot().stand_in.not_posted, 2);
    }

    /// Without the indicator (or with another value) an advice is handled as
    /// before: keyed by the original its field 90 names.
    #[test]
    fn an_advice_without_the_indicator_keeps_the_old_keys() {
        let i = issuer();
        let forwarded = request("0200", ACTIVE, "000000", 30_000, 61);
        i.on_message(&forwarded, TODAY).unwrap();
        let rev =
            crate::messages::reversal_for(&forwarded, 62, &crate::clock::now_fields()).unwrap();
        i.on_message(&rev, TODAY).unwrap();
        let mut a = advice("0220", ACTIVE, "000000", 30_000, 900_061, "00");
        a.set(60, "OTHER");
        a.set(90, &rev.text(90).unwrap());
        i.on_message(&a, TODAY).unwrap();
        assert_eq!(balance(&i, ACTIVE), d("10000.00"));
        assert_eq!(i.totals().snapshot().stand_in.advices, 0);
        // Another indicator field, configured.
        let i = issuer().with_stand_in_indicator(StandInIndicator {
            field: 48,
            value: "SI".into(),
        });
        let mut a = advice("0220", POOR, "000000", 1_000, 900_062, "00");
        a.remove(60);
        a.set(48, "SI");
        i.on_message(&a, TODAY).unwrap();
        assert_eq!(i.totals().snapshot().stand_in.approved.count, 1);
    }
}
