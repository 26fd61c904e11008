//! Known defects an issuer host can be given on purpose (`sim issuer --defect`),
//! so that `sim certify issuer` can be shown to fail the case that catches each.
//! A defect changes or withholds an answer after the issuer decided it; the
//! decision and the books stay those of a correct host.

use codecs::mti::MessageClass;
use codecs::Message;

/// One defect.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuerDefect {
    /// Answers leave out field 37 (the retrieval reference number).
    #[value(name = "drop-field-37")]
    DropField37,
    /// Reversals (0400/0420/0421) are never answered.
    #[value(name = "ignore-reversals")]
    IgnoreReversals,
}

/// The defects a host has (none for a correct host).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Defects(Vec<IssuerDefect>);

impl Defects {
    /// These defects.
    pub fn new(list: Vec<IssuerDefect>) -> Defects {
        Defects(list)
    }

    /// Whether the host has none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The answer a defective host sends to `request` in place of `answer`
    /// (None: it sends nothing).
    pub fn apply(&self, request: &Message, mut answer: Message) -> Option<Message> {
        for defect in &self.0 {
            match defect {
                IssuerDefect::DropField37 => {
                    answer.remove(37);
                }
                IssuerDefect::IgnoreReversals
                    if request.mti().class() == MessageClass::Reversal =>
                {
                    return None;
                }
                IssuerDefect::IgnoreReversals => {}
            }
        }
        Some(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use codecs::{Mti, ResponseCode};

    #[test]
    fn each_defect_changes_only_its_part() {
        let mut req = Message::new(Mti::FINANCIAL_REQUEST);
        req.set_stan(1);
        req.set(37, "000000000001");
        let answer = crate::messages::response_to(&req, ResponseCode::APPROVED);
        let kept = Defects::default().apply(&req, answer.clone()).unwrap();
        assert!(kept.has(37) && Defects::default().is_empty());
        let dropped = Defects::new(vec![IssuerDefect::DropField37])
            .apply(&req, answer.clone())
            .unwrap();
        assert!(!dropped.has(37) && dropped.has(11));
        let ignoring = Defects::new(vec![IssuerDefect::IgnoreReversals]);
        assert!(ignoring.apply(&req, answer.clone()).is_some());
        let mut rev = req.clone();
        rev.set_mti(Mti::REVERSAL_ADVICE);
        let ack = crate::messages::response_to(&rev, ResponseCode::APPROVED);
        assert!(ignoring.apply(&rev, ack).is_none());
    }
}
