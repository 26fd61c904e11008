//! `sim certify issuer`: the tool plays the switch toward an issuer host under
//! test. It sends each case of the script with a card of the bank's catalogue
//! chosen for the outcome (an active card with room for the amount, a blocked,
//! an expired or an unknown one) and checks the answer: its MTI, the fields it
//! must echo, a valid response code (the one the script expects), an
//! authorization code on approvals, field 54 on balance inquiries, a MAC on a
//! MAC link, and that it came within the time limit. Every reversal must get
//! its 0410/0430.

use std::time::Duration;

use codecs::{Message, Mti};
use rust_decimal::Decimal;

use crate::cards::{Card, CardStatus, PAN_LEN};
use crate::clock::now_fields;
use crate::messages::{network_request, request, reversal_for, RequestParams, TxnKind};

use super::checks::{echo_problems, ECHOED_FIELDS};
use super::link::Conversation;
use super::report::{CaseResult, Report};
use super::script::{AmountPick, AmountWord, CardPick, IssuerCase, IssuerScript, SwitchSends};

/// What stays the same over a run.
pub struct IssuerRun<'a> {
    /// The bank's catalogue.
    pub cards: &'a [Card],
    /// Field 32 of the requests.
    pub acquirer: &'a str,
    /// Longest wait for an answer.
    pub limit: Duration,
}

/// Counters of the run.
struct Sequences {
    stan: u32,
    /// Active cards already used (each approval case its own card).
    used: Vec<usize>,
}

impl Sequences {
    fn next_stan(&mut self) -> u32 {
        self.stan = self.stan % 999_999 + 1;
        self.stan
    }
}

/// The minor units of one major unit of `currency`.
fn minor_per_major(currency: u16) -> Decimal {
    let units = codecs::currency::by_numeric(currency).map_or(2, |c| c.minor_units);
    Decimal::from(10u64.pow(units))
}

/// The home-currency balance of a card.
fn balance(card: &Card) -> Decimal {
    card.balances.first().map_or(Decimal::ZERO, |b| b.1)
}

/// The amount (major units) a case asks of `card`.
fn amount_for(pick: AmountPick, card: &Card) -> Decimal {
    match pick {
        AmountPick::Minor(m) => Decimal::from(m) / minor_per_major(card.home_currency()),
        AmountPick::Word(AmountWord::OverBalance) => balance(card).trunc() + Decimal::ONE,
        AmountPick::Word(AmountWord::OverCashLimit) => card.daily_cash_limit + Decimal::ONE,
    }
}

/// A card for `case`, or why there is none.
fn pick_card(case: &IssuerCase, cards: &[Card], seq: &mut Sequences) -> Result<Card, String> {
    let status = match case.card {
        CardPick::Active | CardPick::Unknown => CardStatus::Active,
        CardPick::Blocked => CardStatus::Blocked,
        CardPick::Expired => CardStatus::Expired,
    };
    let fits = |c: &Card| match (case.card, case.amount) {
        (CardPick::Active, AmountPick::Word(AmountWord::OverBalance)) => true,
        (CardPick::Active, pick) => balance(c) >= amount_for(pick, c) + Decimal::ONE,
        _ => true,
    };
    // An active card past its expiry month declines 54: not one to approve with.
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let this_month = codecs::datetime::year_month_at_unix(secs);
    let current = |c: &Card| status != CardStatus::Active || c.expiry >= this_month;
    let found = cards
        .iter()
        .enumerate()
        .find(|(i, c)| c.status == status && current(c) && fits(c) && !seq.used.contains(i));
    let Some((index, card)) = found else {
        return Err(format!("the catalogue has no {:?} card for it", case.card).to_lowercase());
    };
    if case.card == CardPick::Active {
        seq.used.push(index);
    }
    if case.card != CardPick::Unknown {
        return Ok(card.clone());
    }
    // A PAN of the same BIN range, not in the catalogue, with a good check digit.
    let mut unknown = card.clone();
    for n in 0..1000u32 {
        let mut body = card.pan;
        let tail = format!("{:04}", (n * 7919 + 17) % 10_000);
        body[PAN_LEN - 5..PAN_LEN - 1].copy_from_slice(tail.as_bytes());
        let Some(check) = codecs::luhn::luhn_check_digit(&body[..PAN_LEN - 1]) else {
            continue;
        };
        body[PAN_LEN - 1] = check;
        if cards.iter().all(|c| c.pan != body) {
            unknown.pan = body;
            return Ok(unknown);
        }
    }
    Err("no PAN outside the catalogue found".into())
}

/// What one case sends and what is checked of the answer.
struct Step {
    msg: Message,
    /// The code expected of the answer.
    expect: String,
}

impl IssuerRun<'_> {
    fn transaction(
        &self,
        card: &Card,
        kind: TxnKind,
        mti: Mti,
        amount: Decimal,
        stan: u32,
    ) -> Message {
        request(&RequestParams {
            mti,
            card,
            kind,
            amount,
            currency: card.home_currency(),
            stan,
            rrn: &format!("{stan:012}"),
            acquirer: self.acquirer,
            terminal: "CERT0001",
            merchant: "CERTIFICATION01",
            when: now_fields(),
        })
    }

    /// The messages of `case`, in order.
    fn steps(&self, case: &IssuerCase, seq: &mut Sequences) -> Result<Vec<Step>, String> {
        use SwitchSends as S;
        let step = |msg, expect: &str| Step {
            msg,
            expect: expect.to_string(),
        };
        let expect = case.expect.as_str();
        let network =
            |code, seq: &mut Sequences| network_request(code, seq.next_stan(), &now_fields());
        match case.send {
            S::SignOn => return Ok(vec![step(network("001", seq), expect)]),
            S::Echo => return Ok(vec![step(network("301", seq), expect)]),
            _ => {}
        }
        let card = pick_card(case, self.cards, seq)?;
        let amount = amount_for(case.amount, &card);
        let financial = Mti::FINANCIAL_REQUEST;
        let single = |kind, mti, seq: &mut Sequences| {
            self.transaction(&card, kind, mti, amount, seq.next_stan())
        };
        let reversal = |original: &Message, mti: Mti, seq: &mut Sequences| {
            let mut m = reversal_for(original, seq.next_stan(), &now_fields())
                .ok_or("cannot build the reversal")?;
            m.set_mti(mti);
            Ok::<Message, String>(m)
        };
        Ok(match case.send {
            S::SignOn | S::Echo => Vec::new(),
            S::Purchase => vec![step(single(TxnKind::Purchase, financial, seq), expect)],
            S::Cash => vec![step(single(TxnKind::Cash, financial, seq), expect)],
            S::Balance => {
                let zero = self.transaction(
                    &card,
                    TxnKind::Balance,
                    financial,
                    Decimal::ZERO,
                    seq.next_stan(),
                );
                vec![step(zero, expect)]
            }
            S::Authorization => {
                vec![step(
                    single(TxnKind::Purchase, Mti::AUTH_REQUEST, seq),
                    expect,
                )]
            }
            S::Advice => {
                let mut m = single(TxnKind::Purchase, Mti::FINANCIAL_ADVICE, seq);
                m.set(39, "00");
                m.set(38, "000001");
                vec![step(m, expect)]
            }
            S::Reversal | S::ReversalAdvice | S::ReversalRepeat => {
                let original = single(TxnKind::Purchase, financial, seq);
                let mti = if case.send == S::Reversal {
                    Mti::REVERSAL_REQUEST
                } else {
                    Mti::REVERSAL_ADVICE
                };
                let rev = reversal(&original, mti, seq)?;
                let mut steps = vec![step(original, "00")];
                if case.send == S::ReversalRepeat {
                    let mut repeat = rev.clone();
                    repeat.set_mti(Mti::REVERSAL_ADVICE_REPEAT);
                    steps.push(step(rev, expect));
                    steps.push(step(repeat, expect));
                } else {
                    steps.push(step(rev, expect));
                }
                steps
            }
            S::Duplicate => {
                let original = single(TxnKind::Purchase, financial, seq);
                vec![step(original.clone(), "00"), step(original, expect)]
            }
        })
    }

    /// Send one step and check its answer.
    async fn check_step(
        &self,
        link: &mut Conversation,
        step: &Step,
    ) -> Result<Vec<String>, String> {
        let mti = step.msg.mti();
        let want = mti.response().unwrap_or(mti);
        let limit_ms = self.limit.as_millis();
        let Some(answer) = link.exchange(&step.msg, self.limit).await? else {
            return Ok(vec![format!("no {want} to the {mti} within {limit_ms} ms")]);
        };
        let mut findings: Vec<String> = answer.mac.into_iter().collect();
        let got = answer.msg;
        let echoed: &[u8] = if mti == Mti::NETWORK_REQUEST {
            &[7, 11, 70]
        } else {
            ECHOED_FIELDS
        };
        findings.extend(echo_problems(&step.msg, &got, echoed));
        let code = got.response_code().map(|c| c.into_owned());
        match code.as_deref().and_then(codecs::ResponseCode::new) {
            None => findings.push(format!("the {want} has no valid response code (field 39)")),
            Some(c) if c.as_str() != step.expect => {
                findings.push(format!(
                    "the {want} has response code {c}, expected {}",
                    step.expect
                ));
            }
            Some(c) => {
                let approved_txn =
                    c.is_approved() && matches!(mti, Mti::FINANCIAL_REQUEST | Mti::AUTH_REQUEST);
                if approved_txn && !got.has(38) {
                    findings.push(format!(
                        "the approving {want} has no authorization code (field 38)"
                    ));
                }
                let balance = step.msg.text(3).is_some_and(|pc| pc.starts_with("31"));
                if approved_txn && balance && !got.has(54) {
                    findings.push("the balance inquiry's approval has no field 54".into());
                }
            }
        }
        // Named by the answer: a case of several messages says which one failed.
        Ok(findings
            .into_iter()
            .map(|f| format!("{want}: {f}"))
            .collect())
    }

    /// Run `script` on `link`.
    pub async fn certify(&self, link: &mut Conversation, script: &IssuerScript) -> Report {
        let start = tokio::time::Instant::now();
        let mut seq = Sequences {
            stan: 0,
            used: Vec::new(),
        };
        let mut cases = Vec::new();
        let mut broken: Option<String> = None;
        for case in &script.cases {
            let mut findings = Vec::new();
            if let Some(e) = &broken {
                findings.push(format!("not run: {e}"));
            } else {
                match self.steps(case, &mut seq) {
                    Err(e) => findings.push(e),
                    Ok(steps) => {
                        for step in &steps {
                            match self.check_step(link, step).await {
                                Ok(f) => findings.extend(f),
                                Err(e) => {
                                    findings.push(e.clone());
                                    broken = Some(e);
                                    break;
                                }
                            }
                        }
                    }
                }
            }
            cases.push(CaseResult {
                name: case.name.clone(),
                findings,
            });
        }
        Report {
            direction: "issuer",
            cases,
            unexpected: Vec::new(),
            elapsed: start.elapsed(),
        }
    }
}
