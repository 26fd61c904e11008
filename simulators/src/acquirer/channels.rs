//! Transactions and approvals by channel: cards at terminals (`card`) and app
//! payments by QR (`qr`), the latter also by app and by response code (the
//! region rules at work on the app channel show there), and the answers to QR
//! payments that carried anything but the token in field 2 (a PAN reaching
//! the acquirer: must stay 0).

use serde_json::{json, Map, Value};

/// The channel of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// A card at a terminal.
    Card,
    /// A QR payment with a token of the app (wallet) of this index.
    Qr(usize),
}

/// Requests sent, answered in time, and approved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChannelTally {
    /// Requests sent.
    pub sent: u64,
    /// Answered in time.
    pub answered: u64,
    /// Approved (RC 00).
    pub approved: u64,
}

impl ChannelTally {
    fn merge(&mut self, other: &ChannelTally) {
        self.sent += other.sent;
        self.answered += other.answered;
        self.approved += other.approved;
    }

    fn to_json(self) -> Value {
        json!({"sent": self.sent, "answered": self.answered, "approved": self.approved})
    }

    fn text(self) -> String {
        format!(
            "sent {}  answered {}  approved {}",
            self.sent, self.answered, self.approved
        )
    }
}

/// The counters by channel of one connection (merged: of the run).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelStats {
    /// Cards at terminals.
    pub card: ChannelTally,
    /// QR payments.
    pub qr: ChannelTally,
    /// QR payments by app (wallet index).
    pub qr_by_app: Vec<ChannelTally>,
    /// Answers to QR payments by response code.
    pub qr_codes: Vec<([u8; 2], u64)>,
    /// Answers to QR payments whose field 2 was not the token.
    pub qr_field2_violations: u64,
}

impl ChannelStats {
    fn tallies(&mut self, channel: Channel) -> (&mut ChannelTally, Option<&mut ChannelTally>) {
        match channel {
            Channel::Card => (&mut self.card, None),
            Channel::Qr(app) => {
                if self.qr_by_app.len() <= app {
                    self.qr_by_app.resize(app + 1, ChannelTally::default());
                }
                (&mut self.qr, self.qr_by_app.get_mut(app))
            }
        }
    }

    /// Count a request sent.
    pub fn record_sent(&mut self, channel: Channel) {
        let (all, app) = self.tallies(channel);
        all.sent += 1;
        if let Some(app) = app {
            app.sent += 1;
        }
    }

    /// Count an answer in time with code `rc`; `field2_ok` is false when an
    /// answer to a QR payment carried something other than its token in field 2.
    pub fn record_answer(&mut self, channel: Channel, rc: [u8; 2], field2_ok: bool) {
        let approved = u64::from(rc == *b"00");
        let (all, app) = self.tallies(channel);
        all.answered += 1;
        all.approved += approved;
        if let Some(app) = app {
            app.answered += 1;
            app.approved += approved;
        }
        if let Channel::Qr(_) = channel {
            add_code(&mut self.qr_codes, rc, 1);
            self.qr_field2_violations += u64::from(!field2_ok);
        }
    }

    /// Add another connection's counters.
    pub fn merge(&mut self, other: &ChannelStats) {
        self.card.merge(&other.card);
        self.qr.merge(&other.qr);
        if self.qr_by_app.len() < other.qr_by_app.len() {
            self.qr_by_app
                .resize(other.qr_by_app.len(), ChannelTally::default());
        }
        for (mine, theirs) in self.qr_by_app.iter_mut().zip(&other.qr_by_app) {
            mine.merge(theirs);
        }
        for &(rc, n) in &other.qr_codes {
            add_code(&mut self.qr_codes, rc, n);
        }
        self.qr_field2_violations += other.qr_field2_violations;
    }

    fn qr_codes_sorted(&self) -> Vec<(String, u64)> {
        let mut codes: Vec<(String, u64)> = self
            .qr_codes
            .iter()
            .map(|(rc, n)| (String::from_utf8_lossy(rc).into_owned(), *n))
            .collect();
        codes.sort();
        codes
    }

    /// `{"card":{...},"qr":{...,"by_app":{APP:{...}},"response_codes":{...},
    /// "field2_violations":N}}`; `apps` names the wallet indices.
    pub fn to_json(&self, apps: &[String]) -> Value {
        let by_app: Map<String, Value> = self
            .qr_by_app
            .iter()
            .enumerate()
            .map(|(i, t)| (app_name(apps, i), t.to_json()))
            .collect();
        let codes: Map<String, Value> = self
            .qr_codes_sorted()
            .into_iter()
            .map(|(rc, n)| (rc, Value::from(n)))
            .collect();
        let mut qr = match self.qr.to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        qr.insert("by_app".into(), Value::Object(by_app));
        qr.insert("response_codes".into(), Value::Object(codes));
        qr.insert("field2_violations".into(), self.qr_field2_violations.into());
        json!({"card": self.card.to_json(), "qr": Value::Object(qr)})
    }

    /// The text lines (none for QR when nothing was paid by QR).
    pub fn text(&self, apps: &[String]) -> String {
        let mut out = format!("channel card: {}\n", self.card.text());
        if self.qr.sent == 0 {
            return out;
        }
        out.push_str(&format!("channel qr:   {}\n", self.qr.text()));
        for (i, t) in self.qr_by_app.iter().enumerate() {
            out.push_str(&format!("  app {}: {}\n", app_name(apps, i), t.text()));
        }
        let codes: Vec<String> = self
            .qr_codes_sorted()
            .iter()
            .map(|(rc, n)| format!("{rc}: {n}"))
            .collect();
        out.push_str(&format!("  qr response codes: {}\n", codes.join("  ")));
        out.push_str(&format!(
            "  qr answers with anything but the token in field 2: {}\n",
            self.qr_field2_violations
        ));
        out
    }
}

fn app_name(apps: &[String], i: usize) -> String {
    apps.get(i).cloned().unwrap_or_else(|| format!("app#{i}"))
}

fn add_code(codes: &mut Vec<([u8; 2], u64)>, rc: [u8; 2], n: u64) {
    match codes.iter_mut().find(|(c, _)| *c == rc) {
        Some((_, m)) => *m += n,
        None => codes.push((rc, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_channel_and_app_and_merges() {
        let mut a = ChannelStats::default();
        let mut b = ChannelStats::default();
        a.record_sent(Channel::Card);
        a.record_answer(Channel::Card, *b"00", true);
        a.record_sent(Channel::Qr(1));
        a.record_answer(Channel::Qr(1), *b"57", true);
        b.record_sent(Channel::Qr(0));
        b.record_answer(Channel::Qr(0), *b"00", false);
        b.record_sent(Channel::Qr(1));
        a.merge(&b);
        assert_eq!(
            a.card,
            ChannelTally {
                sent: 1,
                answered: 1,
                approved: 1
            }
        );
        assert_eq!(
            a.qr,
            ChannelTally {
                sent: 3,
                answered: 2,
                approved: 1
            }
        );
        assert_eq!(
            a.qr_by_app[1],
            ChannelTally {
                sent: 2,
                answered: 1,
                approved: 0
            }
        );
        assert_eq!(a.qr_field2_violations, 1);
        let apps = ["koryo-pay".to_string(), "jonsong".to_string()];
        assert_eq!(
            a.to_json(&apps).to_string(),
            concat!(
                r#"{"card":{"sent":1,"answered":1,"approved":1},"qr":{"sent":3,"answered":2,"approved":1,"#,
                r#""by_app":{"koryo-pay":{"sent":1,"answered":1,"approved":1},"jonsong":{"sent":2,"answered":1,"approved":0}},"#,
                r#""response_codes":{"00":1,"57":1},"field2_violations":1}}"#
            )
        );
        let text = a.text(&apps);
        assert!(
            text.contains("app jonsong: sent 2") && text.contains("57: 1"),
            "{text}"
        );
        assert!(!ChannelStats::default().text(&apps).contains("qr"));
    }
}
