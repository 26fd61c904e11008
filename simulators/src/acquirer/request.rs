//! Turning a draw into a request on the wire, cheaply: the same fields as
//! [`crate::messages::request`], written from fixed-size digit buffers and strings
//! prepared per connection (terminals, merchants, acquirer id), with no decimal
//! arithmetic or formatting on the hot path. Also the sequences that make each
//! request unique (STAN, RRN) and a per-second cache of the date and time fields.
//!
//! Not here: choosing what to send (`traffic.rs`) or when (`pacing.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use codecs::{Message, Mti, Spec};

use crate::cards::PAN_LEN;
use crate::clock::DateTimeFields;
use crate::messages::TxnKind;
use crate::wire::LinkFormat;
use card_security::mac::MAC_LEN;

use super::traffic::{Defect, Draw, TrafficPlan, TERMINALS_PER_CONNECTION};

/// Highest STAN; the sequence wraps to 1 after it.
pub const MAX_STAN: u32 = 999_999;

/// A connection's STAN sequence: 1 to 999,999, then 1 again. Connections start
/// evenly spread over the range, so that two connections of the same acquirer do
/// not use the same STAN in the same second (the issuer's duplicate key is STAN,
/// field 7 and field 32).
#[derive(Clone, Debug)]
pub struct StanSequence {
    next: u32,
}

impl StanSequence {
    /// The sequence of connection `index` of `connections`.
    pub fn for_connection(index: usize, connections: usize) -> StanSequence {
        let stride = u64::from(MAX_STAN) / connections.max(1) as u64;
        let first = (index as u64 % connections.max(1) as u64) * stride + 1;
        StanSequence {
            next: u32::try_from(first).unwrap_or(1).clamp(1, MAX_STAN),
        }
    }

    /// The next STAN.
    pub fn next_stan(&mut self) -> u32 {
        let stan = self.next;
        self.next = if stan >= MAX_STAN { 1 } else { stan + 1 };
        stan
    }
}

/// Fields 7, 12 and 13 for the current second, recomputed only when it changes.
#[derive(Debug)]
pub struct ClockCache {
    secs: u64,
    fields: DateTimeFields,
}

impl Default for ClockCache {
    fn default() -> Self {
        ClockCache {
            secs: 0,
            fields: codecs::datetime::fields_at_unix(0),
        }
    }
}

impl ClockCache {
    /// The fields for now.
    pub fn now(&mut self) -> DateTimeFields {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        if secs != self.secs {
            self.secs = secs;
            self.fields = codecs::datetime::fields_at_unix(secs);
        }
        self.fields
    }
}

/// The keys that make a request unique, kept with it so that the exact request can
/// be rebuilt for its reversal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestKeys {
    /// Field 11.
    pub stan: u32,
    /// The connection's RRN sequence number (field 37 is derived from it).
    pub rrn: u64,
    /// Fields 7, 12, 13.
    pub when: DateTimeFields,
}

/// What a connection puts in every request it builds.
#[derive(Debug)]
pub struct RequestBuilder {
    mti: Mti,
    connection: u32,
    /// POS terminals (field 41) then ATMs, [`TERMINALS_PER_CONNECTION`] of each.
    terminals: Vec<[u8; 8]>,
    /// Merchant / branch ids (field 42), one per terminal.
    merchants: Vec<[u8; 15]>,
    /// A request with every field present (constant ones final, the rest
    /// placeholders), for POS and for cash: a clone has all its slots in place, so
    /// filling it in never inserts or regrows them.
    templates: [Message; 2],
    /// The variable values of the request being built, back to back.
    scratch: Vec<u8>,
    /// Pre-encoded POS and cash requests, when the spec allows patching them.
    wire: Option<[WireTemplate; 2]>,
    /// The same with a zeroed MAC in field 64, for links that MAC (and send no
    /// PIN block): patched, then sealed in place.
    sealed_wire: Option<[WireTemplate; 2]>,
}

/// An encoded request whose variable fields sit at fixed offsets as plain ASCII
/// (as in iso87ascii): a new request is a copy with those bytes overwritten, with
/// no `Message` and no encoder. Found by encoding and comparing, so it is used
/// only where it gives exactly the bytes the encoder would.
#[derive(Clone, Debug)]
struct WireTemplate {
    frame: Vec<u8>,
    /// (offset, length) of each [`VARIABLE`] field's value in `frame`.
    spans: [(usize, usize); 12],
}

/// Length of each [`VARIABLE`] field's value, and whether it may hold letters.
const VARIABLE_SHAPE: [(usize, bool); 12] = [
    (PAN_LEN, false),
    (6, false),
    (12, false),
    (10, false),
    (6, false),
    (6, false),
    (4, false),
    (4, false),
    (12, false),
    (8, true),
    (15, true),
    (3, false),
];

impl WireTemplate {
    /// The template of `template` under `spec`, if every variable field is carried
    /// verbatim at a fixed place.
    fn find(spec: &Spec, template: &Message) -> Option<WireTemplate> {
        let filled = |fill: [u8; 2], field: Option<usize>| -> Option<Bytes> {
            let mut m = template.clone();
            for (i, (&n, &(len, letters))) in VARIABLE.iter().zip(&VARIABLE_SHAPE).enumerate() {
                let c = if Some(i) == field { fill[1] } else { fill[0] };
                let c = if letters { c - b'1' + b'A' } else { c };
                m.set(n, std::str::from_utf8(&vec![c; len]).ok()?);
            }
            spec.encode_to_bytes(&m).ok()
        };
        let base = filled([b'1', b'1'], None)?;
        let mut spans = [(0usize, 0usize); 12];
        for (i, &(len, letters)) in VARIABLE_SHAPE.iter().enumerate() {
            let other = filled([b'1', b'2'], Some(i))?;
            if other.len() != base.len() {
                return None;
            }
            let first = base.iter().zip(other.iter()).position(|(a, b)| a != b)?;
            let last = base.iter().zip(other.iter()).rposition(|(a, b)| a != b)?;
            let (one, two) = if letters { (b'A', b'B') } else { (b'1', b'2') };
            let verbatim = last + 1 - first == len
                && base[first..=last].iter().all(|&b| b == one)
                && other[first..=last].iter().all(|&b| b == two);
            if !verbatim {
                return None;
            }
            spans[i] = (first, len);
        }
        Some(WireTemplate {
            frame: base.to_vec(),
            spans,
        })
    }

    /// The frame with `values` (each of its field's length) written in.
    fn fill(&self, values: &[&[u8]; 12]) -> Option<BytesMut> {
        let mut out = BytesMut::with_capacity(self.frame.len());
        out.extend_from_slice(&self.frame);
        for (&(at, len), value) in self.spans.iter().zip(values) {
            if value.len() != len {
                return None;
            }
            out.get_mut(at..at + len)?.copy_from_slice(value);
        }
        Some(out)
    }

    /// Both kinds' templates (POS, cash), if both can be patched.
    fn pair(spec: &Spec, templates: &[Message; 2]) -> Option<[WireTemplate; 2]> {
        Some([
            WireTemplate::find(spec, &templates[0])?,
            WireTemplate::find(spec, &templates[1])?,
        ])
    }
}

/// `v` as exactly `N` decimal digits (the low digits if it has more).
pub fn digits<const N: usize>(mut v: u64) -> [u8; N] {
    let mut out = [b'0'; N];
    for d in out.iter_mut().rev() {
        *d = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out
}

/// Fields the builder fills in per request, in order.
const VARIABLE: [u8; 12] = [2, 3, 4, 7, 11, 12, 13, 14, 37, 41, 42, 49];

impl RequestBuilder {
    /// Requests of type `mti` from acquirer `acquirer` (field 32) on connection
    /// `connection`, to be encoded under `spec`.
    pub fn new(mti: Mti, acquirer: &str, connection: usize, spec: &Spec) -> RequestBuilder {
        let connection = (connection % 10_000) as u32;
        let per = u64::from(TERMINALS_PER_CONNECTION);
        let mut terminals = Vec::with_capacity(2 * per as usize);
        let mut merchants = Vec::with_capacity(2 * per as usize);
        for (letter, base) in [(b'P', 0u64), (b'A', per)] {
            for t in 0..per {
                let mut terminal = [letter; 8];
                terminal[1..4].copy_from_slice(&digits::<3>(u64::from(connection)));
                terminal[4..].copy_from_slice(&digits::<4>(t));
                terminals.push(terminal);
                let mut merchant = *b"MER000000000000";
                merchant[3..7].copy_from_slice(&digits::<4>(u64::from(connection)));
                merchant[7..].copy_from_slice(&digits::<8>(base + t));
                merchants.push(merchant);
            }
        }
        let template = |category: &str| {
            let mut m = Message::new(mti);
            for n in VARIABLE {
                m.set(n, "0");
            }
            m.set(18, category);
            m.set(22, "051");
            m.set(25, "00");
            m.set(32, acquirer);
            m
        };
        let templates = [template("5411"), template("6011")];
        let wire = WireTemplate::pair(spec, &templates);
        let sealed_wire = wire.as_ref().and_then(|_| {
            let with_mac = templates.clone().map(|mut m| {
                m.set_binary(64, &[0; MAC_LEN]);
                m
            });
            WireTemplate::pair(spec, &with_mac)
        });
        RequestBuilder {
            mti,
            connection,
            terminals,
            merchants,
            templates,
            scratch: Vec::with_capacity(160),
            wire,
            sealed_wire,
        }
    }

    /// The request MTI.
    pub fn mti(&self) -> Mti {
        self.mti
    }

    /// Field 37 for RRN sequence number `rrn`: the connection (4 digits) and the
    /// sequence (8 digits).
    pub fn rrn_field(&self, rrn: u64) -> [u8; 12] {
        let mut out = [0u8; 12];
        out[..4].copy_from_slice(&digits::<4>(u64::from(self.connection)));
        out[4..].copy_from_slice(&digits::<8>(rrn));
        out
    }

    /// Whether requests are patched into pre-encoded templates.
    pub fn patches_templates(&self) -> bool {
        self.wire.is_some()
    }

    /// The variable field values of a request, in [`VARIABLE`] order, and whether
    /// it is a cash withdrawal.
    fn values(
        &self,
        plan: &TrafficPlan,
        draw: &Draw,
        keys: &RequestKeys,
    ) -> Option<(Values, bool)> {
        let (pan, expiry) = plan.pan_and_expiry(draw)?;
        let currency = match draw.qr {
            Some(_) => super::qr::QR_CURRENCY,
            None => plan.eligible_of(draw)?.currency,
        };
        let cash = draw.kind == TxnKind::Cash;
        let terminal = usize::from(draw.terminal % TERMINALS_PER_CONNECTION)
            + if cash {
                usize::from(TERMINALS_PER_CONNECTION)
            } else {
                0
            };
        let mut pc = [0u8; 6];
        pc.copy_from_slice(draw.kind.processing_code().as_bytes().get(..6)?);
        Some((
            Values {
                pan,
                pc,
                amount: digits(draw.amount_minor),
                transmission: keys.when.transmission,
                stan: digits(u64::from(keys.stan)),
                local_time: keys.when.local_time,
                local_date: keys.when.local_date,
                expiry,
                rrn: self.rrn_field(keys.rrn),
                terminal: *self.terminals.get(terminal)?,
                merchant: *self.merchants.get(terminal)?,
                currency: digits(u64::from(currency)),
            },
            cash,
        ))
    }

    /// The request for `draw` with `keys`: the fields of [`crate::messages::request`].
    /// None only if the draw does not belong to `plan`.
    pub fn build(
        &mut self,
        plan: &TrafficPlan,
        draw: &Draw,
        keys: &RequestKeys,
    ) -> Option<Message> {
        let (values, cash) = self.values(plan, draw, keys)?;
        // One buffer and one UTF-8 check for all the values (they are ASCII).
        let scratch = &mut self.scratch;
        scratch.clear();
        let mut ends = [0usize; 12];
        for (end, value) in ends.iter_mut().zip(values.as_slices()) {
            scratch.extend_from_slice(value);
            *end = scratch.len();
        }
        let scratch = std::str::from_utf8(scratch).ok()?;
        let mut m = self.templates[usize::from(cash)].clone();
        let mut start = 0;
        for (n, end) in VARIABLE.into_iter().zip(ends) {
            m.set(n, scratch.get(start..end)?);
            start = end;
        }
        if draw.qr.is_some() {
            m.set(22, super::qr::ENTRY_MODE);
        }
        Some(m)
    }

    /// The frame body of the request for `draw` with `keys`, as
    /// [`RequestBuilder::build`] then [`RequestBuilder::encode`] would make it, by
    /// patching a template where the spec allows.
    pub fn frame(
        &mut self,
        format: &LinkFormat,
        plan: &TrafficPlan,
        draw: &Draw,
        keys: &RequestKeys,
    ) -> Result<Bytes, FrameError> {
        if let Some(token) = draw.qr {
            // A QR payment: built whole (field 22 and 55 differ from the
            // templates'), the code's data in field 55, no PIN block.
            let mut msg = self.build(plan, draw, keys).ok_or(FrameError::NoCard)?;
            let field55 = plan
                .qr()
                .and_then(|qr| qr.field55(token))
                .ok_or(FrameError::NoCard)?;
            msg.set_binary(55, &field55);
            return self.encode(format, draw, &msg).map_err(FrameError::Encode);
        }
        if let Some(security) = &format.security {
            // A MAC alone: the template with a zeroed MAC, patched, then sealed.
            let mac_only = security.macs() && !security.pins();
            if let Some(wire) = self.sealed_wire.as_ref().filter(|_| mac_only) {
                let (values, cash) = self.values(plan, draw, keys).ok_or(FrameError::NoCard)?;
                if let Some(mut body) = wire[usize::from(cash)].fill(&values.as_slices()) {
                    security
                        .seal_encoded(&format.spec, &mut body)
                        .map_err(FrameError::Encode)?;
                    return Ok(truncate_if_malformed(draw, body.freeze()));
                }
            }
            // A PIN block differs in every request: built and sealed whole.
            let mut msg = self.build(plan, draw, keys).ok_or(FrameError::NoCard)?;
            if let Some(pan) = msg.get(2).map(|f| f.bytes().into_owned()) {
                let pin = crate::cards::pin_of(&pan);
                if let Some(block) = security.pin_block(&pin, &pan) {
                    msg.set_binary(52, &block.map_err(FrameError::Pin)?);
                }
            }
            return self.encode(format, draw, &msg).map_err(FrameError::Encode);
        }
        if let Some(wire) = &self.wire {
            let (values, cash) = self.values(plan, draw, keys).ok_or(FrameError::NoCard)?;
            if let Some(body) = wire[usize::from(cash)].fill(&values.as_slices()) {
                return Ok(truncate_if_malformed(draw, body.freeze()));
            }
        }
        let msg = self.build(plan, draw, keys).ok_or(FrameError::NoCard)?;
        self.encode(format, draw, &msg).map_err(FrameError::Encode)
    }

    /// The frame body for `msg`; a [`Defect::Malformed`] draw loses its last byte.
    pub fn encode(
        &self,
        format: &LinkFormat,
        draw: &Draw,
        msg: &Message,
    ) -> Result<Bytes, crate::security::SendError> {
        Ok(truncate_if_malformed(draw, format.encode(msg)?))
    }
}

/// A [`Defect::Malformed`] request loses its last byte.
fn truncate_if_malformed(draw: &Draw, body: Bytes) -> Bytes {
    match draw.defect {
        Some(Defect::Malformed) if body.len() > 1 => body.slice(..body.len() - 1),
        _ => body,
    }
}

/// Why a request frame could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The draw names no card of the plan (a bug, not a peer's doing).
    #[error("the draw has no card")]
    NoCard,
    /// The spec refuses a field, or the MAC cannot be made.
    #[error(transparent)]
    Encode(crate::security::SendError),
    /// The PIN block cannot be made (a PAN or key the format cannot take).
    #[error(transparent)]
    Pin(card_security::SecurityError),
}

/// The variable values of one request.
struct Values {
    pan: [u8; PAN_LEN],
    pc: [u8; 6],
    amount: [u8; 12],
    transmission: [u8; 10],
    stan: [u8; 6],
    local_time: [u8; 6],
    local_date: [u8; 4],
    expiry: [u8; 4],
    rrn: [u8; 12],
    terminal: [u8; 8],
    merchant: [u8; 15],
    currency: [u8; 3],
}

impl Values {
    fn as_slices(&self) -> [&[u8]; 12] {
        [
            &self.pan,
            &self.pc,
            &self.amount,
            &self.transmission,
            &self.stan,
            &self.local_time,
            &self.local_date,
            &self.expiry,
            &self.rrn,
            &self.terminal,
            &self.merchant,
            &self.currency,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cards::CardBase;
    use crate::messages::{request, RequestParams};
    use crate::wire::LinkFormat;
    use rust_decimal::Decimal;
    use std::sync::Arc;

    use super::super::traffic::{Mix, PlanOptions};

    fn plan(invalid_rate: f64) -> TrafficPlan {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../routing-rules/rules/national.toml"
        );
        let table = routing_rules::RoutingTable::load(std::path::Path::new(path))
            .unwrap()
            .0;
        let cards = Arc::new(CardBase::generate(&table, 1, 20));
        TrafficPlan::new(
            &table,
            cards,
            &PlanOptions {
                issuers: vec![],
                mix: Mix::parse("purchase=1,cash=1,balance=1").unwrap(),
                invalid_rate,
                currency: None,
                seed: 1,
            },
        )
        .unwrap()
    }

    #[test]
    fn stan_sequences_wrap_and_spread() {
        let mut s = StanSequence::for_connection(0, 1);
        assert_eq!(s.next_stan(), 1);
        let mut s = StanSequence { next: MAX_STAN - 1 };
        assert_eq!(
            [s.next_stan(), s.next_stan(), s.next_stan()],
            [999_998, 999_999, 1]
        );
        let firsts: Vec<u32> = (0..4)
            .map(|i| StanSequence::for_connection(i, 4).next_stan())
            .collect();
        assert_eq!(firsts, [1, 250_000, 499_999, 749_998]);
        let mut s = StanSequence::for_connection(63, 64);
        assert!((1..=MAX_STAN).contains(&s.next_stan()));
    }

    #[test]
    fn built_requests_match_the_shared_builder() {
        let p = plan(0.0);
        let spec = LinkFormat::from_names("iso87ascii", "binary2").unwrap();
        let mut b = RequestBuilder::new(Mti::FINANCIAL_REQUEST, "940857", 5, &spec.spec);
        let mut g = p.generator(5);
        let when = codecs::datetime::fields_at_unix(1_795_602_600);
        for i in 0..300u32 {
            let d = g.next(&p);
            let keys = RequestKeys {
                stan: 1000 + i,
                rrn: u64::from(i),
                when,
            };
            let ours = b.build(&p, &d, &keys).unwrap();
            let e = p.eligible_of(&d).unwrap();
            let card = &p.cards().cards()[e.card];
            let cash = d.kind == TxnKind::Cash;
            let t = usize::from(d.terminal) + if cash { 256 } else { 0 };
            let terminal = String::from_utf8(b.terminals[t].to_vec()).unwrap();
            let merchant = String::from_utf8(b.merchants[t].to_vec()).unwrap();
            let rrn = String::from_utf8(b.rrn_field(keys.rrn).to_vec()).unwrap();
            let theirs = request(&RequestParams {
                mti: Mti::FINANCIAL_REQUEST,
                card,
                kind: d.kind,
                amount: Decimal::new(d.amount_minor as i64, e.minor_units),
                currency: e.currency,
                stan: keys.stan,
                rrn: &rrn,
                acquirer: "940857",
                terminal: &terminal,
                merchant: &merchant,
                when,
            });
            assert_eq!(
                spec.encode(&ours).unwrap(),
                spec.encode(&theirs).unwrap(),
                "draw {d:?}"
            );
            assert_eq!(
                b.encode(&spec, &d, &ours).unwrap(),
                spec.encode(&ours).unwrap()
            );
        }
        assert_eq!(&b.rrn_field(123_456_789_012), b"000556789012");
        assert_eq!(&b.terminals[0], b"P0050000");
        assert_eq!(&b.terminals[256 + 255], b"A0050255");
        assert_eq!(&b.merchants[256 + 255], b"MER000500000511");
    }

    #[test]
    fn patched_templates_give_the_encoder_s_bytes() {
        let p = plan(0.1);
        for (spec_name, patched) in [
            ("iso87ascii", true),
            ("iso87binary", true),
            ("iso87bcd", false),
        ] {
            let spec = LinkFormat::from_names(spec_name, "binary2").unwrap();
            for mti in [Mti::FINANCIAL_REQUEST, Mti::AUTH_REQUEST] {
                let mut b = RequestBuilder::new(mti, "94085", 3, &spec.spec);
                assert_eq!(b.patches_templates(), patched, "{spec_name}");
                let mut g = p.generator(3);
                for i in 0..2_000u32 {
                    let d = g.next(&p);
                    let keys = RequestKeys {
                        stan: (i * 7919) % MAX_STAN + 1,
                        rrn: u64::from(i) * 1_234_567,
                        when: codecs::datetime::fields_at_unix(
                            1_795_602_600 + u64::from(i) * 3_601,
                        ),
                    };
                    let msg = b.build(&p, &d, &keys).unwrap();
                    let slow = b.encode(&spec, &d, &msg).unwrap();
                    assert_eq!(
                        b.frame(&spec, &p, &d, &keys).unwrap(),
                        slow,
                        "{spec_name} {d:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn sealed_templates_give_the_sealing_encoder_s_bytes() {
        use crate::security::HostSecurity;
        use card_security::keys::KeyMaterial;
        use card_security::mac::MacPadding;
        let p = plan(0.1);
        for (spec_name, padding) in [
            ("iso87ascii", MacPadding::Method2),
            ("iso87binary", MacPadding::Method1),
        ] {
            let mut spec = LinkFormat::from_names(spec_name, "binary2").unwrap();
            let key = KeyMaterial::new((1..=16).collect());
            spec.security = Some(Arc::new(
                HostSecurity::new(Some((key, padding)), None).unwrap(),
            ));
            let mut b = RequestBuilder::new(Mti::FINANCIAL_REQUEST, "940857", 3, &spec.spec);
            assert!(
                b.sealed_wire.is_some(),
                "{spec_name}: the fast path is taken"
            );
            let mut g = p.generator(3);
            let mut sealed = 0;
            for i in 0..2_000u32 {
                let d = g.next(&p);
                let keys = RequestKeys {
                    stan: (i * 7919) % MAX_STAN + 1,
                    rrn: u64::from(i) * 1_234_567,
                    when: codecs::datetime::fields_at_unix(1_795_602_600 + u64::from(i) * 3_601),
                };
                let msg = b.build(&p, &d, &keys).unwrap();
                // Built, then encoded and sealed whole (`LinkFormat::encode`).
                let slow = b.encode(&spec, &d, &msg).unwrap();
                let fast = b.frame(&spec, &p, &d, &keys).unwrap();
                assert_eq!(fast, slow, "{spec_name} {d:?}");
                if d.defect.is_none() {
                    let decoded = spec.spec.decode(fast).unwrap();
                    assert!(
                        spec.check(&slow, &decoded).is_ok(),
                        "{spec_name}: the MAC verifies"
                    );
                    sealed += 1;
                }
            }
            assert!(sealed > 1_000, "{spec_name}: {sealed}");
        }
    }

    #[test]
    fn malformed_frames_lose_their_last_byte_and_stay_identifiable() {
        let p = plan(1.0);
        let mut g = p.generator(0);
        let when = codecs::datetime::fields_at_unix(1_795_602_600);
        for spec_name in ["iso87ascii", "iso87binary", "iso87bcd"] {
            let spec = LinkFormat::from_names(spec_name, "binary2").unwrap();
            let mut b = RequestBuilder::new(Mti::FINANCIAL_REQUEST, "940857", 0, &spec.spec);
            let mut seen = 0;
            while seen < 3 {
                let d = g.next(&p);
                let keys = RequestKeys {
                    stan: 77,
                    rrn: 1,
                    when,
                };
                let msg = b.build(&p, &d, &keys).unwrap();
                let body = b.encode(&spec, &d, &msg).unwrap();
                assert_eq!(b.frame(&spec, &p, &d, &keys).unwrap(), body);
                if d.defect == Some(Defect::Malformed) {
                    seen += 1;
                    assert!(spec.spec.decode(body.clone()).is_err(), "{spec_name}");
                    let (mti, stan) = spec.spec.peek_mti_and_stan(&body).unwrap();
                    assert_eq!((mti, stan), (Mti::FINANCIAL_REQUEST, Some(77)));
                } else {
                    assert!(spec.spec.decode(body).is_ok(), "{spec_name} {d:?}");
                }
            }
        }
    }
}
