//! `sim acquirer --script FILE`: the acquirer host run by its operator through
//! a certification script's cases, in order, one at a time — what a bank team
//! does by hand at its terminals while `sim certify acquirer` plays the switch.
//! The host reads only what a host's operator is told (`send`, `amount`,
//! `then`); the answers it gets are the tool's business.
//!
//! Like any host, it reverses a request left unanswered for `--timeout-ms`
//! (0420, repeated as 0421 until acknowledged) and reverses on the operator's
//! word (`then: reverse`, a 0400). `--defect` makes it a host with a known
//! defect, to see certification fail the case that catches it.

use std::time::Duration;

use codecs::{Message, Mti};
use routing_rules::RoutingTable;
use rust_decimal::Decimal;

use crate::cards::{Card, CardBase, CardStatus};
use crate::certify::link::Conversation;
use crate::certify::script::{AcquirerCase, AcquirerScript, HostSends, Then};
use crate::clock::now_fields;
use crate::messages::{network_request, request, reversal_for, RequestParams, TxnKind};
use crate::wire::LinkFormat;

use super::AcquirerOptions;

/// `--script` and `--defect` of `sim acquirer`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ScriptOptions {
    /// Run the cases of a certification script (a JSON file, or `default`) in
    /// order, as the host's operator, instead of a load.
    #[arg(long, value_name = "FILE")]
    pub script: Option<String>,
    /// With --script: behave like a host with this known defect (repeatable).
    #[arg(long, value_enum, value_name = "DEFECT", requires = "script")]
    pub defect: Vec<AcquirerDefect>,
}

/// Known defects of an acquirer host.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AcquirerDefect {
    /// Reversals leave out field 90 (the original's data elements).
    #[value(name = "no-field-90")]
    NoField90,
    /// Each transaction reuses the previous transaction's STAN.
    #[value(name = "reuse-stan")]
    ReuseStan,
}

/// Most transmissions of one reversal (the first and its repeats).
const REVERSAL_ATTEMPTS: u32 = 5;

/// The operator's host during a script.
struct Host<'a> {
    link: Conversation,
    cards: Vec<Card>,
    bank: &'a str,
    timeout: Duration,
    defects: &'a [AcquirerDefect],
    stan: u32,
    last_transaction_stan: Option<u32>,
    rrn: u64,
    /// What happened, a line per case, for the operator.
    lines: Vec<String>,
}

impl Host<'_> {
    fn next_stan(&mut self) -> u32 {
        self.stan = self.stan % 999_999 + 1;
        self.stan
    }

    fn transaction_stan(&mut self) -> u32 {
        let reuse = self.defects.contains(&AcquirerDefect::ReuseStan);
        match self.last_transaction_stan {
            Some(stan) if reuse => stan,
            _ => {
                let stan = self.next_stan();
                self.last_transaction_stan = Some(stan);
                stan
            }
        }
    }

    /// A card for `minor` units of its home currency, and that amount in major
    /// units: an active card with the balance for it (a different one for each
    /// case index, as an operator takes the next test card).
    fn card_for(&self, index: usize, minor: u64) -> Option<(&Card, Decimal)> {
        let usable: Vec<(&Card, Decimal)> = self
            .cards
            .iter()
            .filter(|c| c.status == CardStatus::Active)
            .filter_map(|c| {
                let currency = codecs::currency::by_numeric(c.home_currency())?;
                let amount = Decimal::from(minor) / Decimal::from(10u64.pow(currency.minor_units));
                c.balances
                    .first()
                    .is_some_and(|b| b.1 > amount)
                    .then_some((c, amount))
            })
            .collect();
        usable.get(index % usable.len().max(1)).copied()
    }

    async fn run_case(&mut self, index: usize, case: &AcquirerCase) -> Result<(), String> {
        let (mti, kind) = match case.send {
            HostSends::SignOn | HostSends::Echo => {
                let code = if case.send == HostSends::SignOn {
                    "001"
                } else {
                    "301"
                };
                let msg = network_request(code, self.next_stan(), &now_fields());
                let answer = self.link.exchange(&msg, self.timeout).await?;
                self.say(case, &msg, answer.as_ref().map(|a| &a.msg));
                return Ok(());
            }
            HostSends::Purchase => (Mti::FINANCIAL_REQUEST, TxnKind::Purchase),
            HostSends::Cash => (Mti::FINANCIAL_REQUEST, TxnKind::Cash),
            HostSends::Balance => (Mti::FINANCIAL_REQUEST, TxnKind::Balance),
            HostSends::Authorization => (Mti::AUTH_REQUEST, TxnKind::Purchase),
            HostSends::Advice => (Mti::FINANCIAL_ADVICE, TxnKind::Purchase),
        };
        let minor = match kind {
            TxnKind::Balance => 0,
            _ => case.amount.unwrap_or(1_000),
        };
        let (card, amount) = self
            .card_for(index, minor)
            .map(|(c, a)| (c.clone(), a))
            .ok_or("no active card with the balance for the case")?;
        let stan = self.transaction_stan();
        self.rrn += 1;
        let mut msg = request(&RequestParams {
            mti,
            card: &card,
            kind,
            amount,
            currency: card.home_currency(),
            stan,
            rrn: &format!("{:012}", self.rrn),
            acquirer: self.bank,
            terminal: "TERM0001",
            merchant: "MERCHANT0000001",
            when: now_fields(),
        });
        if mti == Mti::FINANCIAL_ADVICE {
            // Approved by the host itself (offline, or standing in).
            msg.set(39, "00");
            msg.set(38, "000001");
        }
        let answer = self.link.exchange(&msg, self.timeout).await?;
        self.say(case, &msg, answer.as_ref().map(|a| &a.msg));
        match (answer, case.then) {
            (None, _) => self.reverse(case, &msg, Mti::REVERSAL_ADVICE, "68").await,
            (Some(_), Some(Then::Reverse)) => {
                self.reverse(case, &msg, Mti::REVERSAL_REQUEST, "17").await
            }
            (Some(_), None) => Ok(()),
        }
    }

    /// Reverse `original` with a `mti` (0400 or 0420), repeated until answered.
    async fn reverse(
        &mut self,
        case: &AcquirerCase,
        original: &Message,
        mti: Mti,
        reason: &str,
    ) -> Result<(), String> {
        let mut msg = reversal_for(original, self.next_stan(), &now_fields())
            .ok_or("cannot build the reversal")?;
        msg.set_mti(mti);
        msg.set(39, reason);
        if self.defects.contains(&AcquirerDefect::NoField90) {
            msg.remove(90);
        }
        let repeat = Mti::new(&[
            mti.as_bytes()[0],
            mti.as_bytes()[1],
            mti.as_bytes()[2],
            b'1',
        ])
        .unwrap_or(mti);
        for attempt in 0..REVERSAL_ATTEMPTS {
            if attempt > 0 {
                msg.set_mti(repeat);
            }
            if let Some(answer) = self.link.exchange(&msg, self.timeout).await? {
                self.say(case, &msg, Some(&answer.msg));
                return Ok(());
            }
            self.say(case, &msg, None);
        }
        Ok(())
    }

    fn say(&mut self, case: &AcquirerCase, sent: &Message, answer: Option<&Message>) {
        let outcome = match answer {
            Some(a) => format!("{} RC {}", a.mti(), a.response_code().unwrap_or_default()),
            None => "no answer".into(),
        };
        self.lines.push(format!(
            "{}: {} STAN {:06}: {outcome}",
            case.name,
            sent.mti(),
            sent.stan().unwrap_or_default()
        ));
    }
}

/// Run `script`'s cases on one link to `args.connect`; a line per message.
pub async fn run_script(
    args: &AcquirerOptions,
    security: Option<std::sync::Arc<crate::security::HostSecurity>>,
    options: &ScriptOptions,
) -> Result<Vec<String>, String> {
    let name = options.script.as_deref().unwrap_or("default");
    let script: AcquirerScript = crate::certify::script::load(name)?;
    script.check()?;
    let (table, _) = RoutingTable::load(&args.rules)
        .map_err(|e| format!("cannot load rules {}: {e}", args.rules.display()))?;
    let issuers: Vec<_> = args
        .issuers
        .iter()
        .filter_map(|id| table.bank_index(id.trim().as_bytes()))
        .collect();
    let cards = CardBase::generate(&table, args.seed, args.cards_per_range)
        .cards()
        .iter()
        .filter(|c| issuers.is_empty() || issuers.contains(&c.issuer))
        .cloned()
        .collect();
    let mut format = LinkFormat::from_names(&args.spec, &args.framing)?;
    format.security = security;
    let stream = crate::certify::link::dial(&args.connect).await?;
    let mut host = Host {
        link: Conversation::new(format, stream),
        cards,
        bank: &args.bank,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        defects: &options.defect,
        stan: 0,
        last_transaction_stan: None,
        rrn: 0,
        lines: Vec::new(),
    };
    for (index, case) in script.cases.iter().enumerate() {
        host.run_case(index, case).await?;
    }
    Ok(host.lines)
}
