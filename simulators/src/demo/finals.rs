//! Every request's single final state, as the acquirers saw it: approved, declined
//! (by response code), or timed out and reversed by the acquirer (its 0420
//! acknowledged, or given up). A request still outstanding when its acquirer
//! stopped has no final state; an answer after the request's final state (late,
//! to nothing outstanding, or of the wrong type) is a second one.
//!
//! The acquirer's in-flight table makes this exact, not statistical: a request's
//! entry leaves it once, as an in-time answer (counted by response code) or as a
//! timeout (which starts exactly one reversal, or counts it unreversed), and
//! what the stopping acquirer finds there is counted timed out without a reversal.
//! So with the counters of [`ConnStats`]:
//! `abandoned = timed_out - reversals acknowledged - reversals unacknowledged`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::acquirer::stats::ConnStats;

/// The final states of the requests of one or more acquirers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Finals {
    /// Requests sent.
    pub sent: u64,
    /// Answered 00 in time.
    pub approved: u64,
    /// Answered in time with another code, by code.
    pub declined: BTreeMap<String, u64>,
    /// Timed out at the acquirer; its reversal acknowledged.
    pub reversed: u64,
    /// Timed out at the acquirer; its reversal never acknowledged (owed).
    pub unreversed: u64,
    /// Still outstanding when the acquirer stopped: no final state.
    pub abandoned: u64,
    /// Answers that came after their request had timed out.
    pub late: u64,
    /// Answers to no outstanding request (a repeated answer, or a stray).
    pub unmatched: u64,
    /// Answers of the wrong type for an outstanding request.
    pub wrong_type: u64,
}

impl Finals {
    /// Add one acquirer's counters.
    pub fn add(&mut self, s: &ConnStats) {
        self.sent += s.sent;
        for &(rc, n) in &s.codes {
            if rc == *b"00" {
                self.approved += n;
            } else {
                *self
                    .declined
                    .entry(String::from_utf8_lossy(&rc).into_owned())
                    .or_default() += n;
            }
        }
        self.reversed += s.reversals_acknowledged;
        self.unreversed += s.reversals_unacknowledged;
        self.abandoned += s
            .timed_out
            .saturating_sub(s.reversals_acknowledged + s.reversals_unacknowledged);
        self.late += s.late;
        self.unmatched += s.unmatched;
        self.wrong_type += s.wrong_type;
    }

    /// Requests that reached a final state.
    pub fn finals(&self) -> u64 {
        self.approved + self.declined.values().sum::<u64>() + self.reversed + self.unreversed
    }

    /// Requests without a final state (sent but neither answered nor timed out
    /// with a reversal).
    pub fn missing(&self) -> u64 {
        self.sent.saturating_sub(self.finals())
    }

    /// Answers beyond the first final state of their request.
    pub fn twice(&self) -> u64 {
        self.late + self.unmatched + self.wrong_type
    }

    /// Every request has exactly one final state.
    pub fn exactly_one_each(&self) -> bool {
        self.sent > 0 && self.finals() == self.sent && self.abandoned == 0 && self.twice() == 0
    }

    /// The JSON object.
    pub fn to_json(&self) -> Value {
        json!({
            "sent": self.sent,
            "finals": self.finals(),
            "approved": self.approved,
            "declined": self.declined,
            "timed_out_reversed": self.reversed,
            "timed_out_unreversed": self.unreversed,
            "no_final_state": self.missing(),
            "abandoned": self.abandoned,
            "second_answers": {"late": self.late, "unmatched": self.unmatched, "wrong_type": self.wrong_type},
            "exactly_one_each": self.exactly_one_each(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::acquirer::stats::latency_histogram;

    fn stats() -> ConnStats {
        let mut s = ConnStats::new(&latency_histogram().unwrap(), 1, true);
        s.sent = 10;
        s.answered = 8;
        for rc in [
            *b"00", *b"00", *b"00", *b"00", *b"00", *b"91", *b"91", *b"14",
        ] {
            s.record_code(rc);
        }
        s.timed_out = 2;
        s.reversals_acknowledged = 1;
        s.reversals_unacknowledged = 1;
        s
    }

    #[test]
    fn one_final_each_adds_up_per_state() {
        let mut f = Finals::default();
        f.add(&stats());
        f.add(&stats());
        assert_eq!(
            (f.sent, f.approved, f.reversed, f.unreversed),
            (20, 10, 2, 2)
        );
        assert_eq!(f.declined.get("91"), Some(&4));
        assert_eq!(f.declined.get("14"), Some(&2));
        assert_eq!((f.finals(), f.missing(), f.abandoned), (20, 0, 0));
        assert!(f.exactly_one_each());
        assert_eq!(f.to_json()["no_final_state"], 0);
    }

    #[test]
    fn abandoned_and_second_answers_fail() {
        // Stopped with one request outstanding: timed out without a reversal.
        let mut s = stats();
        s.sent = 11;
        s.timed_out = 3;
        let mut f = Finals::default();
        f.add(&s);
        assert_eq!((f.abandoned, f.missing()), (1, 1));
        assert!(!f.exactly_one_each());
        // An answer after the timeout is a second final state.
        let mut s = stats();
        s.late = 1;
        let mut f = Finals::default();
        f.add(&s);
        assert_eq!((f.missing(), f.twice()), (0, 1));
        assert!(!f.exactly_one_each());
        // Nothing sent proves nothing.
        assert!(!Finals::default().exactly_one_each());
    }
}
