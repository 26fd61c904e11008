//! `sim certify acquirer`: the tool plays the switch toward an acquirer host
//! under test. The host's team runs the script's cases in order on their host;
//! the tool takes each message that arrives as the next case of its kind that
//! has not run yet (so a skipped case fails alone), checks it, and answers it
//! as the script says — or not at all, for a timeout case, and then not the
//! first reversal either, to see the host repeat it.
//!
//! A reversal is tied to its case by field 90, else by the original's RRN,
//! else it is the one the oldest case still waits for. Not here: the checks
//! themselves ([`super::checks`]) and the report ([`super::report`]).

use std::time::Duration;

use codecs::mti::{Function, MessageClass};
use codecs::{Message, Mti, ResponseCode};
use rust_decimal::Decimal;
use tokio::net::TcpListener;
use tokio::time::Instant;

use crate::messages::{response_to, OriginalKey};
use crate::wire::LinkFormat;

use super::checks::{
    field90_problem, format_problems, missing, Uniqueness, ADVICE_FIELDS, NETWORK_FIELDS,
    REQUEST_FIELDS, REVERSAL_FIELDS,
};
use super::link::{Conversation, Received};
use super::report::{CaseResult, Report};
use super::script::{AcquirerCase, AcquirerScript, HostSends};

/// Where a case stands.
#[derive(Debug)]
enum Stage {
    /// Its first message has not come.
    Waiting,
    /// Answered (or not, for a timeout); its reversal must come.
    AwaitReversal,
    /// Its first reversal was left unanswered; a repeat must come.
    AwaitRepeat {
        /// The unanswered reversal's STAN, which the repeat keeps.
        stan: Option<u32>,
    },
    /// Over.
    Done,
}

/// One case during the run.
struct Run<'a> {
    case: &'a AcquirerCase,
    stage: Stage,
    /// The case's first message, for its reversal's checks.
    original: Option<Message>,
    findings: Vec<String>,
}

/// Everything the tool knows about the run so far.
pub struct Session<'a> {
    runs: Vec<Run<'a>>,
    unique: Uniqueness,
    unexpected: Vec<String>,
    auth_codes: u32,
}

/// What kind of case a transaction or network message opens.
fn kind_of(msg: &Message) -> Option<HostSends> {
    let mti = msg.mti();
    let pc = msg.text(3).map(|t| t.into_owned()).unwrap_or_default();
    match (mti.class(), mti.function()) {
        (MessageClass::NetworkManagement, Function::Request) => match msg.text(70).as_deref() {
            Some("001") => Some(HostSends::SignOn),
            Some("301") => Some(HostSends::Echo),
            _ => None,
        },
        (MessageClass::Financial | MessageClass::Authorization, Function::Advice) => {
            Some(HostSends::Advice)
        }
        (class @ (MessageClass::Financial | MessageClass::Authorization), Function::Request) => {
            match pc.get(..2) {
                Some("31") => Some(HostSends::Balance),
                Some("01") => Some(HostSends::Cash),
                Some("00") if class == MessageClass::Authorization => {
                    Some(HostSends::Authorization)
                }
                Some("00") => Some(HostSends::Purchase),
                _ => None,
            }
        }
        _ => None,
    }
}

impl<'a> Session<'a> {
    /// A run of `script`, nothing received yet.
    pub fn new(script: &'a AcquirerScript) -> Session<'a> {
        Session {
            runs: script
                .cases
                .iter()
                .map(|case| Run {
                    case,
                    stage: Stage::Waiting,
                    original: None,
                    findings: Vec::new(),
                })
                .collect(),
            unique: Uniqueness::default(),
            unexpected: Vec::new(),
            auth_codes: 0,
        }
    }

    /// Whether every case is over.
    pub fn done(&self) -> bool {
        self.runs.iter().all(|r| matches!(r.stage, Stage::Done))
    }

    /// Note something that belongs to no case.
    pub fn note(&mut self, what: String) {
        self.unexpected.push(what);
    }

    /// Take a message from the host (`mac`: its MAC's finding); the answer to
    /// send, if any.
    pub fn on_message(&mut self, msg: &Message, mac: Option<String>) -> Option<Message> {
        if msg.mti().class() == MessageClass::Reversal && msg.mti().is_request() {
            return self.on_reversal(msg, mac);
        }
        if !msg.mti().is_request() {
            self.note(format!("a {} (the host answers nothing here)", msg.mti()));
            return None;
        }
        let Some(kind) = kind_of(msg) else {
            self.note(format!("a {} no case can take; answered 12", msg.mti()));
            return Some(response_to(msg, ResponseCode::INVALID_TRANSACTION));
        };
        // The case of this kind not yet run with this amount, else the first
        // of its kind: a host that skips a case fails that case alone.
        let amount = msg.get(4).and_then(|f| f.to_u64());
        let waiting = |r: &Run<'_>| r.case.send == kind && matches!(r.stage, Stage::Waiting);
        let Some(index) = self
            .runs
            .iter()
            .position(|r| waiting(r) && r.case.amount.is_some() && r.case.amount == amount)
            .or_else(|| self.runs.iter().position(waiting))
        else {
            // Extra sign-ons and echoes are a host's routine; an advice (a
            // repeat, say) wants its acknowledgement; a request is refused (12).
            let routine = matches!(kind, HostSends::SignOn | HostSends::Echo);
            if !routine {
                self.note(format!(
                    "a {} (STAN {}) after every case of its kind ran",
                    msg.mti(),
                    msg.stan().unwrap_or_default()
                ));
            }
            let code = if routine || kind == HostSends::Advice {
                ResponseCode::APPROVED
            } else {
                ResponseCode::INVALID_TRANSACTION
            };
            return Some(response_to(msg, code));
        };
        let run = &mut self.runs[index];
        let mut findings: Vec<String> = mac.into_iter().collect();
        let mandatory = match kind {
            HostSends::SignOn | HostSends::Echo => NETWORK_FIELDS,
            HostSends::Advice => ADVICE_FIELDS,
            _ => REQUEST_FIELDS,
        };
        findings.extend(missing(msg, mandatory));
        findings.extend(format_problems(msg));
        if let (Some(want), Some(got)) = (run.case.amount, amount) {
            if want != got {
                findings.push(format!("field 4 is {got}, the script says {want}"));
            }
        }
        let transaction = !matches!(kind, HostSends::SignOn | HostSends::Echo);
        findings.extend(self.unique.record(msg, &run.case.name, transaction));
        run.findings.extend(findings);
        run.original = Some(msg.clone());
        if run.case.times_out() {
            run.stage = Stage::AwaitReversal;
            return None;
        }
        run.stage = if run.case.wants_reversal() {
            Stage::AwaitReversal
        } else {
            Stage::Done
        };
        let code = ResponseCode::new(&run.case.answer).unwrap_or(ResponseCode::APPROVED);
        let mut answer = response_to(msg, code);
        if code.is_approved() && transaction && kind != HostSends::Advice {
            self.auth_codes = self.auth_codes % 999_999 + 1;
            answer.set(38, &format!("{:06}", self.auth_codes));
            if kind == HostSends::Balance {
                let currency = msg.currency().map_or(408, |c| c.numeric);
                let balance = crate::issuer::behaviour::balance_field(
                    b"00",
                    currency,
                    Decimal::new(123_456, 2),
                );
                answer.set(54, &balance);
            }
        }
        Some(answer)
    }

    /// The case a reversal belongs to: by field 90, else by RRN, else the
    /// oldest case waiting for one.
    fn case_of_reversal(&self, msg: &Message) -> Option<usize> {
        let named = msg
            .get(90)
            .and_then(|f| OriginalKey::from_field90(&f.bytes()));
        let rrn = msg.text(37);
        let has_original = |r: &Run<'_>| r.original.is_some() && r.case.wants_reversal();
        let key_matches = |r: &Run<'_>| {
            named.is_some() && r.original.as_ref().and_then(OriginalKey::of_request) == named
        };
        let rrn_matches =
            |r: &Run<'_>| rrn.is_some() && r.original.as_ref().and_then(|o| o.text(37)) == rrn;
        let awaiting =
            |r: &Run<'_>| matches!(r.stage, Stage::AwaitReversal | Stage::AwaitRepeat { .. });
        // A case still waiting is preferred: a host that reuses keys would
        // otherwise have its reversal taken for an earlier case's.
        let find = |pred: &dyn Fn(&Run<'_>) -> bool| self.runs.iter().position(pred);
        find(&|r| awaiting(r) && key_matches(r))
            .or_else(|| find(&|r| has_original(r) && key_matches(r)))
            .or_else(|| find(&|r| awaiting(r) && rrn_matches(r)))
            .or_else(|| find(&|r| has_original(r) && rrn_matches(r)))
            .or_else(|| find(&awaiting))
    }

    fn on_reversal(&mut self, msg: &Message, mac: Option<String>) -> Option<Message> {
        let ack = response_to(msg, ResponseCode::APPROVED);
        let Some(index) = self.case_of_reversal(msg) else {
            self.note(format!(
                "a {} (STAN {}) naming no case; acknowledged",
                msg.mti(),
                msg.stan().unwrap_or_default()
            ));
            return Some(ack);
        };
        let repeat = msg.mti().is_repeat();
        let run = &mut self.runs[index];
        let Some(original) = run.original.clone() else {
            return Some(ack);
        };
        let mut findings: Vec<String> = mac.into_iter().collect();
        findings.extend(missing(msg, REVERSAL_FIELDS));
        findings.extend(format_problems(msg));
        findings.extend(field90_problem(msg, &original));
        if msg.has(37) && msg.text(37) != original.text(37) {
            findings.push("field 37 is not the original's RRN".into());
        }
        if msg.text(4) != original.text(4) {
            findings.push("field 4 is not the original's amount".into());
        }
        // Named by the message: a reversal and its repeat are checked alike.
        let mut findings: Vec<String> = findings
            .into_iter()
            .map(|f| format!("{}: {f}", msg.mti()))
            .collect();
        match run.stage {
            Stage::AwaitReversal => {
                findings.extend(self.unique.record(msg, &run.case.name, false));
                run.findings.extend(findings);
                if run.case.times_out() && !repeat {
                    // Left unanswered on purpose: the host must repeat it.
                    run.stage = Stage::AwaitRepeat { stan: msg.stan() };
                    return None;
                }
                run.stage = Stage::Done;
                Some(ack)
            }
            Stage::AwaitRepeat { stan } => {
                if !repeat {
                    findings.push(format!(
                        "a second {} instead of a repeat ({}) of the unanswered one",
                        msg.mti(),
                        repeat_of(msg.mti())
                    ));
                } else if msg.stan() != stan {
                    findings.push("the repeat's STAN is not its reversal's".into());
                }
                run.findings.extend(findings);
                run.stage = Stage::Done;
                Some(ack)
            }
            // A late repeat of a reversal already answered: acknowledged again.
            Stage::Done | Stage::Waiting => Some(ack),
        }
    }

    /// The report: cases still open fail with what they wait for.
    pub fn finish(self, elapsed: Duration) -> Report {
        let cases = self
            .runs
            .into_iter()
            .map(|mut r| {
                let missing = match r.stage {
                    Stage::Waiting => Some("its message never came".to_string()),
                    Stage::AwaitReversal if r.case.times_out() => {
                        Some("no reversal came after the unanswered request".into())
                    }
                    Stage::AwaitReversal => Some("no reversal (0400) came".into()),
                    Stage::AwaitRepeat { .. } => {
                        Some("no repeat (0401/0421) of the unanswered reversal came".into())
                    }
                    Stage::Done => None,
                };
                r.findings.extend(missing);
                CaseResult {
                    name: r.case.name.clone(),
                    findings: r.findings,
                }
            })
            .collect();
        Report {
            direction: "acquirer",
            cases,
            unexpected: self.unexpected,
            elapsed,
        }
    }
}

/// Run `script` against the acquirer host that connects to `listener`, for at
/// most `wait`. A host that drops the link may connect again; the cases carry on.
pub async fn certify(
    listener: TcpListener,
    script: &AcquirerScript,
    format: &LinkFormat,
    wait: Duration,
) -> Report {
    let start = Instant::now();
    let deadline = start + wait;
    let mut session = Session::new(script);
    'accept: while !session.done() {
        let stream = match tokio::time::timeout_at(deadline, listener.accept()).await {
            Err(_) => break,
            Ok(Err(e)) => {
                session.note(format!("accept failed: {e}"));
                continue;
            }
            Ok(Ok((stream, _))) => stream,
        };
        let mut conversation = Conversation::new(format.clone(), stream);
        while !session.done() {
            match conversation.recv(deadline).await {
                Ok(None) => break 'accept,
                Err(e) => {
                    session.note(format!("link lost: {e}"));
                    continue 'accept;
                }
                Ok(Some(Received::Undecodable(e))) => {
                    session.note(format!("an undecodable frame: {e}"));
                }
                Ok(Some(Received::Message { msg, mac })) => {
                    if let Some(answer) = session.on_message(&msg, mac) {
                        if let Err(e) = conversation.send(&answer).await {
                            session.note(format!("link lost: {e}"));
                            continue 'accept;
                        }
                    }
                }
            }
        }
    }
    session.finish(start.elapsed())
}

/// The repeat MTI of a first reversal (0420 → 0421), for findings.
pub fn repeat_of(mti: Mti) -> String {
    let b = mti.as_bytes();
    format!(
        "{}{}{}1",
        char::from(b[0]),
        char::from(b[1]),
        char::from(b[2])
    )
}
