//! A connection's writer: `bank_links::writer` takes what is queued for the
//! link, a batch at a time, writes it and flushes only when the queue is
//! momentarily empty; here is the switch's hook that seals the messages that
//! still need a MAC (all of a batch's together, so the security module can
//! compute them side by side).

use std::sync::Arc;

use bytes::Bytes;
use codecs::framing::FrameCodec;
use tokio::sync::mpsc;
use tokio_util::codec::FramedWrite;

use super::stream::WriteHalf;
use crate::security::mac::MAC_LEN;
use crate::security::message::Unsealed;
use crate::security::{MacPadding, SecurityModule};

/// What a link's writer sends.
pub(crate) enum Outgoing {
    /// A finished frame body.
    Ready(Bytes),
    /// A message for a MAC link whose MAC the writer computes.
    Unsealed(Unsealed),
}

/// How a MAC link's writer seals: the module and the link's zone and padding.
pub(crate) struct Sealer {
    pub(crate) security: Arc<dyn SecurityModule>,
    pub(crate) zone: Arc<str>,
    pub(crate) padding: MacPadding,
}

/// The MACs of `batch`'s unsealed messages, in order (none to compute: an empty
/// list, no allocation). None when they cannot be had: the module failed, or the
/// link has no sealer (the messages needing them are then not sent; logged by
/// link and error, never by content, as an unencodable message is).
fn macs_for(sealer: Option<&Sealer>, batch: &[Outgoing]) -> Option<Vec<[u8; MAC_LEN]>> {
    let data: Vec<&[u8]> = batch
        .iter()
        .filter_map(|o| match o {
            Outgoing::Unsealed(u) => Some(u.data()),
            Outgoing::Ready(_) => None,
        })
        .collect();
    if data.is_empty() {
        return Some(Vec::new());
    }
    let Some(sealer) = sealer else {
        tracing::error!(
            messages = data.len(),
            "messages to seal on a link without a MAC key; not sent"
        );
        return None;
    };
    match sealer
        .security
        .generate_macs(&sealer.zone, sealer.padding, &data)
    {
        Ok(macs) => Some(macs),
        Err(e) => {
            tracing::error!(link = %sealer.zone, error = %e, messages = data.len(), "cannot seal for this link; not sent");
            metrics::counter!("switch_encode_errors_total").increment(data.len() as u64);
            None
        }
    }
}

/// How the switch's writer turns [`Outgoing`] into frame bodies: MACs for a
/// batch's unsealed messages computed together by the security module.
struct SwitchSealing(Option<Sealer>);

impl bank_links::writer::Sealing<Outgoing> for SwitchSealing {
    type Prepared = Option<std::vec::IntoIter<[u8; MAC_LEN]>>;

    fn gathers(&self) -> bool {
        self.0.is_some()
    }

    fn prepare(&self, batch: &[Outgoing]) -> Self::Prepared {
        macs_for(self.0.as_ref(), batch).map(Vec::into_iter)
    }

    fn body(&self, item: Outgoing, macs: &mut Self::Prepared) -> Option<Bytes> {
        match item {
            Outgoing::Ready(body) => Some(body),
            Outgoing::Unsealed(u) => macs
                .as_mut()
                .and_then(Iterator::next)
                .map(|mac| u.seal(mac)),
        }
    }
}

/// Write what is queued on `rx` until the queue closes or the peer stops
/// taking it; `sealer` on a MAC link.
pub(crate) async fn write_loop(
    sink: FramedWrite<WriteHalf, FrameCodec>,
    rx: mpsc::Receiver<Outgoing>,
    sealer: Option<Sealer>,
) {
    bank_links::writer::write_loop(sink, rx, SwitchSealing(sealer)).await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::security::message::{prepare_seal, verify};
    use crate::security::{KeyMaterial, SoftwareSecurityModule, ZoneKeys};
    use codecs::{Message, Mti, Spec};

    fn request(stan: u32, extra: usize) -> Message {
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set(2, "9408010000001238");
        m.set(4, "000000001500");
        m.set_stan(stan);
        m.set(32, "940810");
        m.set(48, &"X".repeat(extra + 1)); // LLLVAR: lengths differ
        m
    }

    fn sealer() -> Sealer {
        let mut module = SoftwareSecurityModule::default();
        module.insert(
            "issuer",
            ZoneKeys {
                mac: Some(KeyMaterial::from_hex("0123456789ABCDEFFEDCBA9876543210").unwrap()),
                pin: None,
            },
        );
        Sealer {
            security: Arc::new(module),
            zone: Arc::from("issuer"),
            padding: MacPadding::Method2,
        }
    }

    /// A batch mixing finished bodies and messages of different lengths to seal:
    /// each sealed one carries its own MAC (checked as a receiver checks it), in
    /// the batch's order.
    #[test]
    fn a_batch_is_sealed_message_by_message_in_order() {
        let spec = Spec::builtin("iso87ascii").unwrap();
        let sealer = sealer();
        let mut batch = vec![Outgoing::Ready(Bytes::from_static(b"ready"))];
        for (stan, extra) in [(1, 0), (2, 17), (3, 5), (4, 30), (5, 1), (6, 9)] {
            let unsealed = prepare_seal(&spec, &request(stan, extra)).unwrap();
            batch.push(Outgoing::Unsealed(unsealed));
        }
        let macs = macs_for(Some(&sealer), &batch).unwrap();
        assert_eq!(macs.len(), 6);
        let mut macs = macs.into_iter();
        let mut stans = Vec::new();
        for outgoing in batch {
            let body = match outgoing {
                Outgoing::Ready(body) => {
                    assert_eq!(&body[..], b"ready");
                    continue;
                }
                Outgoing::Unsealed(u) => u.seal(macs.next().unwrap()),
            };
            let msg = spec.decode(body.clone()).unwrap();
            verify(&spec, &body, &msg, |data, mac| {
                sealer
                    .security
                    .verify_mac("issuer", MacPadding::Method2, data, mac)
            })
            .unwrap();
            stans.push(msg.stan().unwrap());
        }
        assert_eq!(stans, [1, 2, 3, 4, 5, 6]);
    }

    /// Nothing to seal costs no call; a link without a key sends none of them.
    #[test]
    fn without_a_key_messages_to_seal_are_not_sent() {
        let spec = Spec::builtin("iso87ascii").unwrap();
        let ready = vec![Outgoing::Ready(Bytes::from_static(b"ready"))];
        assert_eq!(macs_for(None, &ready), Some(Vec::new()));
        let unsealed = vec![Outgoing::Unsealed(
            prepare_seal(&spec, &request(1, 0)).unwrap(),
        )];
        assert_eq!(macs_for(None, &unsealed), None);
        let wrong_zone = Sealer {
            zone: Arc::from("nobody"),
            ..sealer()
        };
        assert_eq!(macs_for(Some(&wrong_zone), &unsealed), None);
    }
}
