//! 0302 file updates from an issuer: the issuer adds, changes or deletes a card
//! in its negative file at the switch (field 91: 1 add, 2 change, 3 delete; field
//! 101: the file's name, the `name` of its `[[negative_file]]`, `NEGATIVE` by
//! default; field 48, optional: the reason as the code to decline with, 41 lost,
//! 43 stolen, 62 restricted, 41 when absent). Kept as the PAN's digest, durable
//! before the 0312 says 00; a malformed update is answered 30 naming the field,
//! a card outside the issuer's BIN ranges 14.

use std::sync::Arc;

use codecs::{Message, ResponseCode};
use routing_rules::HotReason;

use super::super::links::Link;
use super::super::{answer, Action, Actions, Core, StoreOp};

/// The file name an issuer without a `[[negative_file]]` entry updates.
pub const DEFAULT_FILE_NAME: &str = "NEGATIVE";

/// What an update asks.
enum Update {
    /// Add or change: the card is hot for this reason.
    Put(HotReason),
    /// Take the card off the file.
    Delete,
}

impl Core {
    /// A 0302 from issuer link `link`.
    pub(crate) fn on_file_update(&self, link: &Arc<Link>, msg: Message) -> Actions {
        let issuer = link.config.bank.as_str();
        let refuse = |rc: ResponseCode, field: u8, why: &'static str| {
            tracing::info!(link = %link.config.name, field, why, rc = %rc, "file update refused");
            reply_0312(link, &msg, rc)
        };
        let Some(pan) = msg.pan().filter(|p| (12..=19).contains(&p.digits().len())) else {
            return refuse(
                ResponseCode::FORMAT_ERROR,
                2,
                "no card number, or not 12-19 digits",
            );
        };
        let update = match msg.text(91).as_deref() {
            Some("1" | "2") => match msg.text(48).as_deref() {
                None => Update::Put(HotReason::Lost),
                Some(code) => match HotReason::from_code(code) {
                    Some(reason) => Update::Put(reason),
                    None => {
                        return refuse(
                            ResponseCode::FORMAT_ERROR,
                            48,
                            "reason must be 41, 43 or 62",
                        )
                    }
                },
            },
            Some("3") => Update::Delete,
            _ => {
                return refuse(
                    ResponseCode::FORMAT_ERROR,
                    91,
                    "file update code must be 1 add, 2 change or 3 delete",
                )
            }
        };
        let table = self.routing.current();
        let bank_idx = table.bank_index(issuer.as_bytes());
        let file_name = bank_idx
            .and_then(|i| table.negative_file(i))
            .map_or(DEFAULT_FILE_NAME, |f| f.name());
        if msg.text(101).as_deref() != Some(file_name) {
            return refuse(
                ResponseCode::FORMAT_ERROR,
                101,
                "not this issuer's negative file",
            );
        }
        let of_issuer = table
            .bins()
            .lookup(pan.digits())
            .and_then(|r| table.products().get(r.product as usize))
            .is_some_and(|p| Some(p.issuer) == bank_idx);
        if !of_issuer {
            return refuse(
                ResponseCode::INVALID_CARD_NUMBER,
                2,
                "the card is not in this issuer's BIN ranges",
            );
        }
        let digest = routing_rules::pan_digest(pan.digits());
        let reason = match update {
            Update::Put(reason) => Some(reason),
            Update::Delete => None,
        };
        self.negative.set(issuer, digest, reason);
        tracing::info!(%issuer, pan = %pan.masked(), reason = reason.map_or("deleted", |r| r.name()), "negative file updated");
        let mut actions = vec![
            Action::Store(StoreOp::NegativeFile {
                issuer: issuer.to_string(),
                digest,
                reason,
            }),
            // Durable before the issuer hears it took.
            Action::SafBarrier,
        ];
        actions.extend(reply_0312(link, &msg, ResponseCode::APPROVED));
        actions
    }
}

/// The 0312 to an update: its keys echoed, with fields 91 and 101.
fn reply_0312(link: &Link, req: &Message, rc: ResponseCode) -> Actions {
    let Some(mut resp) = answer(req, rc) else {
        return Vec::new();
    };
    for n in [91u8, 101] {
        if let Some(v) = req.text(n) {
            resp.set(n, &v);
        }
    }
    vec![Action::Send {
        link: link.id,
        msg: resp,
    }]
}
