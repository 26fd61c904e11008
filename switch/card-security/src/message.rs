//! The MAC of an ISO 8583 message: which field carries it and which bytes it
//! covers. Field 64 when the message has only a primary bitmap, field 128 when it
//! has a secondary one; either way it is the last field, and the MAC covers the
//! encoded message from the MTI (after any fixed header) up to the MAC field's
//! value, bitmaps included (so the MAC field's bit is authenticated too).
//!
//! Messages the switch forwards are re-encoded and changed (STAN, fields 33 and
//! 100), so a MAC that came with them means nothing on the next link: [`seal`]
//! drops fields 64 and 128 and, for a MAC link, computes a new one.

use std::borrow::Cow;

use bytes::{Bytes, BytesMut};
use codecs::spec::{ContentClass, DataEncoding, Length};
use codecs::{Message, Spec};

use crate::mac::MAC_LEN;
use crate::module::SecurityError;

/// The field that carries the MAC of `msg`: 128 if any field above 64 is present,
/// else 64.
pub fn mac_field(msg: &Message) -> u8 {
    if msg.field_numbers().any(|n| n > 64) {
        128
    } else {
        64
    }
}

/// How a spec writes a MAC field: raw bytes or hex text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MacWire {
    Raw,
    Hex,
}

impl MacWire {
    fn len(self) -> usize {
        match self {
            MacWire::Raw => MAC_LEN,
            MacWire::Hex => 2 * MAC_LEN,
        }
    }
}

/// How `spec` writes field `n`, if it can carry an 8-byte MAC.
fn mac_wire(spec: &Spec, n: u8) -> Option<MacWire> {
    let f = spec.field(n)?;
    match (f.class, f.length, f.encoding) {
        (ContentClass::B, Length::Fixed(8), DataEncoding::Binary) => Some(MacWire::Raw),
        (ContentClass::B, Length::Fixed(16), DataEncoding::Ascii) => Some(MacWire::Hex),
        _ => None,
    }
}

/// Whether `spec` can carry MACs: fields 64 and 128 fixed-length binary of 8 bytes.
pub fn check_spec(spec: &Spec) -> Result<(), SpecCannotCarryMac> {
    for n in [64u8, 128] {
        if mac_wire(spec, n).is_none() {
            return Err(SpecCannotCarryMac {
                spec: spec.name.to_string(),
                field: n,
            });
        }
    }
    Ok(())
}

/// A spec whose field 64 or 128 cannot hold an 8-byte MAC.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("spec {spec}: field {field} must be fixed-length binary of 8 bytes to carry a MAC")]
pub struct SpecCannotCarryMac {
    /// The spec's name.
    pub spec: String,
    /// The field (64 or 128).
    pub field: u8,
}

/// Why a message could not be sealed.
#[derive(Debug, thiserror::Error)]
pub enum SealError {
    /// The message does not encode under the spec.
    #[error(transparent)]
    Encode(#[from] codecs::EncodeError),
    /// Fields beyond 128 would follow field 128, which must be last.
    #[error("a MAC cannot be placed: the message has fields beyond 128")]
    Tertiary,
    /// The spec cannot carry the MAC field.
    #[error("spec {0} cannot carry field {1} as an 8-byte MAC")]
    Spec(String, u8),
    /// A frame given to [`seal_trailing`] is too short to end with a MAC.
    #[error("the frame is too short to end with a MAC field")]
    Short,
    /// The security module refused.
    #[error(transparent)]
    Module(#[from] SecurityError),
}

/// `msg` without fields 64 and 128 (borrowed when it has neither).
pub fn without_mac(msg: &Message) -> Cow<'_, Message> {
    if msg.has(64) || msg.has(128) {
        let mut m = msg.clone();
        strip_mac(&mut m);
        Cow::Owned(m)
    } else {
        Cow::Borrowed(msg)
    }
}

/// Drop fields 64 and 128 from `msg` itself (a MAC belongs to the link it came
/// on; a message the caller owns needs no copy to lose it).
pub fn strip_mac(msg: &mut Message) {
    msg.remove(64);
    msg.remove(128);
}

/// Encode `msg` under `spec` with a fresh MAC from `mac` (given the bytes to
/// authenticate) in field 64 or 128; any MAC it carried is dropped first.
pub fn seal(
    spec: &Spec,
    msg: &Message,
    mac: impl FnOnce(&[u8]) -> Result<[u8; MAC_LEN], SecurityError>,
) -> Result<Bytes, SealError> {
    let unsealed = prepare_seal(spec, msg)?;
    let value = mac(unsealed.data())?;
    Ok(unsealed.seal(value))
}

/// A message encoded for a MAC link with its MAC field zeroed, waiting for the
/// MAC of [`Unsealed::data`]: [`seal`] in two steps, so that a link's writer can
/// compute the MACs of several queued messages together.
pub struct Unsealed {
    out: BytesMut,
    start: usize,
    end: usize,
    wire: MacWire,
}

impl Unsealed {
    /// The bytes the MAC authenticates.
    pub fn data(&self) -> &[u8] {
        self.out.get(self.start..self.end).unwrap_or_default()
    }

    /// The encoded message with `mac` in its MAC field.
    pub fn seal(mut self, mac: [u8; MAC_LEN]) -> Bytes {
        if let Some(tail) = self.out.get_mut(self.end..) {
            write_mac(tail, self.wire, mac);
        }
        self.out.freeze()
    }
}

/// `mac` into the MAC field's value `tail` (exactly `wire.len()` bytes).
fn write_mac(tail: &mut [u8], wire: MacWire, mac: [u8; MAC_LEN]) {
    match wire {
        MacWire::Raw => tail.copy_from_slice(&mac),
        MacWire::Hex => tail.copy_from_slice(crate::keys::to_hex(&mac).as_bytes()),
    }
}

/// Seal in place a frame body that already ends with field 64, zeroed, as its
/// last field (what [`prepare_seal`] makes of a message with primary-bitmap
/// fields only): `mac` is given the bytes it authenticates and its MAC is
/// written over the zeros. For a host that patches pre-encoded messages (the
/// acquirer simulator's templates) instead of encoding each one.
pub fn seal_trailing(
    spec: &Spec,
    body: &mut [u8],
    mac: impl FnOnce(&[u8]) -> Result<[u8; MAC_LEN], SecurityError>,
) -> Result<(), SealError> {
    let wire = mac_wire(spec, 64).ok_or_else(|| SealError::Spec(spec.name.clone(), 64))?;
    let end = body
        .len()
        .checked_sub(wire.len())
        .filter(|&end| end >= spec.header_len)
        .ok_or(SealError::Short)?;
    let value = mac(&body[spec.header_len..end])?;
    write_mac(&mut body[end..], wire, value);
    Ok(())
}

/// Encode `msg` under `spec` for a MAC link: any MAC it carried dropped, field
/// 64 or 128 present and zeroed (see [`Unsealed`]).
pub fn prepare_seal(spec: &Spec, msg: &Message) -> Result<Unsealed, SealError> {
    prepare_seal_owned(spec, msg.clone())
}

/// [`prepare_seal`] of a message the caller gives up (the MAC field is set in
/// it, not in a copy: the switch seals every message it sends on a MAC link).
pub fn prepare_seal_owned(spec: &Spec, mut m: Message) -> Result<Unsealed, SealError> {
    strip_mac(&mut m);
    if m.field_numbers().any(|n| n > 128) {
        return Err(SealError::Tertiary);
    }
    let field = mac_field(&m);
    let wire = mac_wire(spec, field).ok_or_else(|| SealError::Spec(spec.name.clone(), field))?;
    m.set_binary(field, &[0u8; MAC_LEN]);
    let mut out = BytesMut::with_capacity(256);
    spec.encode(&m, &mut out)?;
    let end = out.len().saturating_sub(wire.len());
    let start = spec.header_len.min(end);
    Ok(Unsealed {
        out,
        start,
        end,
        wire,
    })
}

/// Why a received message's MAC was refused.
#[derive(Debug, thiserror::Error)]
pub enum MacFailure {
    /// The MAC field is absent.
    #[error("field {0} (MAC) is missing")]
    Missing(u8),
    /// The MAC field is not the last field, or is not an 8-byte value.
    #[error("field {0} (MAC) is not an 8-byte value at the end of the message")]
    Misplaced(u8),
    /// The MAC does not authenticate the message.
    #[error("field {0} (MAC) does not match the message")]
    Mismatch(u8),
    /// The security module could not check it.
    #[error(transparent)]
    Module(#[from] SecurityError),
}

impl MacFailure {
    /// A short label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            MacFailure::Missing(_) => "mac missing",
            MacFailure::Misplaced(_) => "mac misplaced",
            MacFailure::Mismatch(_) => "mac mismatch",
            MacFailure::Module(_) => "mac unchecked",
        }
    }
}

/// Check the MAC of a received frame: `body` as it arrived, `msg` its decoding
/// under `spec`; `verify` is given the authenticated bytes and the MAC.
pub fn verify(
    spec: &Spec,
    body: &[u8],
    msg: &Message,
    verify: impl FnOnce(&[u8], &[u8]) -> Result<bool, SecurityError>,
) -> Result<(), MacFailure> {
    let field = mac_field(msg);
    let value = msg.get(field).ok_or(MacFailure::Missing(field))?;
    let wire = mac_wire(spec, field).ok_or(MacFailure::Misplaced(field))?;
    let last = msg.field_numbers().last() == Some(field);
    let mac = value.bytes();
    if !last || mac.len() != MAC_LEN || body.len() < spec.header_len + wire.len() {
        return Err(MacFailure::Misplaced(field));
    }
    let end = body.len() - wire.len();
    let data = body
        .get(spec.header_len..end)
        .ok_or(MacFailure::Misplaced(field))?;
    if verify(data, &mac)? {
        Ok(())
    } else {
        Err(MacFailure::Mismatch(field))
    }
}

/// The bytes a MAC carried at the very end of `body` covers (from the end of the
/// spec's fixed header to the MAC field, as it would be in field 64), found
/// without decoding: for computing the MACs of several received frames together
/// before each is decoded and checked ([`verify_precomputed`]). None if `body`
/// is too short to hold a MAC.
pub fn trailing_mac_region<'a>(spec: &Spec, body: &'a [u8]) -> Option<&'a [u8]> {
    let wire = mac_wire(spec, 64)?;
    let end = body.len().checked_sub(wire.len())?;
    body.get(spec.header_len..end)
}

/// The MACs of several received frames' trailing regions
/// ([`trailing_mac_region`]), computed together by `macs` (given the regions,
/// in order; None if it cannot): one per frame, None for a frame too short to
/// carry one, for a single frame (it is checked as it is decoded), and for all
/// of them when `macs` fails (each check then computes its own).
pub fn precompute_macs<B: AsRef<[u8]>>(
    spec: &Spec,
    bodies: &[B],
    macs: impl FnOnce(&[&[u8]]) -> Option<Vec<[u8; MAC_LEN]>>,
) -> Vec<Option<[u8; MAC_LEN]>> {
    let mut expected = vec![None; bodies.len()];
    if bodies.len() < 2 {
        return expected;
    }
    let (at, regions): (Vec<usize>, Vec<&[u8]>) = bodies
        .iter()
        .enumerate()
        .filter_map(|(i, b)| Some((i, trailing_mac_region(spec, b.as_ref())?)))
        .unzip();
    if let Some(values) = macs(&regions) {
        for (i, mac) in at.into_iter().zip(values) {
            expected[i] = Some(mac);
        }
    }
    expected
}

/// [`verify`] with a MAC computed beforehand: `expected` is the MAC of `body`'s
/// trailing region ([`trailing_mac_region`], as [`precompute_macs`] gives it).
/// When that region is exactly what the message's MAC field covers, the carried
/// MAC is compared with it (in constant time); otherwise `verify_mac` is asked,
/// as [`verify`] would.
pub fn verify_precomputed(
    spec: &Spec,
    body: &[u8],
    msg: &Message,
    expected: Option<[u8; MAC_LEN]>,
    verify_mac: impl FnOnce(&[u8], &[u8]) -> Result<bool, SecurityError>,
) -> Result<(), MacFailure> {
    let expected = expected.zip(trailing_mac_region(spec, body));
    verify(spec, body, msg, |data, mac| match expected {
        Some((value, region))
            if std::ptr::eq(region.as_ptr(), data.as_ptr()) && region.len() == data.len() =>
        {
            use subtle::ConstantTimeEq;
            Ok(mac.len() == MAC_LEN && bool::from(value.ct_eq(mac)))
        }
        _ => verify_mac(data, mac),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::mac::{retail_mac, verify_retail_mac, MacPadding};
    use codecs::Mti;

    const KEY: [u8; 16] = [7; 16];

    fn request() -> Message {
        let mut m = Message::new(Mti::FINANCIAL_REQUEST);
        m.set(2, "9408010000001238");
        m.set(3, "000000");
        m.set(4, "000000001500");
        m.set(7, "1125103000");
        m.set(11, "000001");
        m.set(32, "940810");
        m.set(41, "TERM0001");
        m.set(49, "408");
        m
    }

    fn sign(data: &[u8]) -> Result<[u8; 8], SecurityError> {
        Ok(retail_mac(&KEY, MacPadding::Method2, data).unwrap())
    }

    fn check(data: &[u8], mac: &[u8]) -> Result<bool, SecurityError> {
        Ok(verify_retail_mac(&KEY, MacPadding::Method2, data, mac).unwrap())
    }

    #[test]
    fn sealed_messages_verify_in_every_builtin_spec() {
        for name in ["iso87ascii", "iso87binary", "iso87bcd"] {
            let spec = Spec::builtin(name).unwrap();
            check_spec(&spec).unwrap();
            for secondary in [false, true] {
                let mut m = request();
                if secondary {
                    m.set(100, "940820");
                }
                // A stale MAC from another link is replaced.
                m.set_binary(64, &[1; 8]);
                let body = seal(&spec, &m, sign).unwrap();
                let decoded = spec.decode(body.clone()).unwrap();
                let field = if secondary { 128 } else { 64 };
                assert_eq!(mac_field(&decoded), field, "{name}");
                assert_eq!(decoded.field_numbers().last(), Some(field));
                assert!(!(secondary && decoded.has(64)), "{name}: stale 64 dropped");
                verify(&spec, &body, &decoded, check).unwrap();
                // Any change to any byte before the MAC is caught.
                for i in 0..body.len() - 8 {
                    let mut bad = body.to_vec();
                    bad[i] ^= 0x01;
                    if let Ok(d) = spec.decode(Bytes::from(bad.clone())) {
                        assert!(verify(&spec, &bad, &d, check).is_err(), "{name} byte {i}");
                    }
                }
            }
        }
    }

    /// A MAC computed beforehand over the trailing region decides as `verify`
    /// does: a good MAC passes and a wrong one fails without asking the module,
    /// none computed asks it, and a MAC field out of place is refused whatever
    /// was computed.
    #[test]
    fn precomputed_macs_decide_as_verify_does() {
        let spec = Spec::builtin("iso87ascii").unwrap();
        for secondary in [false, true] {
            let mut m = request();
            if secondary {
                m.set(100, "940820");
            }
            let body = seal(&spec, &m, sign).unwrap();
            let decoded = spec.decode(body.clone()).unwrap();
            let good = sign(trailing_mac_region(&spec, &body).unwrap()).unwrap();
            let asked = std::cell::Cell::new(false);
            let ask = |data: &[u8], mac: &[u8]| {
                asked.set(true);
                check(data, mac)
            };
            verify_precomputed(&spec, &body, &decoded, Some(good), ask).unwrap();
            let wrong = verify_precomputed(&spec, &body, &decoded, Some([0; 8]), ask);
            assert!(matches!(wrong, Err(MacFailure::Mismatch(_))));
            assert!(!asked.get(), "the precomputed MAC was used");
            verify_precomputed(&spec, &body, &decoded, None, ask).unwrap();
            assert!(asked.get(), "none computed: the module decides");
        }
        // A MAC in 64 on a message with a secondary bitmap is not where it belongs.
        let mut m = request();
        m.set(100, "940820");
        m.set_binary(64, &[0; 8]);
        let body = spec.encode_to_bytes(&m).unwrap();
        let d = spec.decode(body.clone()).unwrap();
        let computed = sign(trailing_mac_region(&spec, &body).unwrap()).unwrap();
        assert!(matches!(
            verify_precomputed(&spec, &body, &d, Some(computed), check),
            Err(MacFailure::Missing(128))
        ));
        assert_eq!(trailing_mac_region(&spec, b"0200"), None);
    }

    #[test]
    fn missing_misplaced_and_wrong_macs_are_named() {
        let spec = Spec::builtin("iso87ascii").unwrap();
        let plain = spec.encode_to_bytes(&request()).unwrap();
        let d = spec.decode(plain.clone()).unwrap();
        assert!(matches!(
            verify(&spec, &plain, &d, check),
            Err(MacFailure::Missing(64))
        ));
        let body = seal(&spec, &request(), |_| Ok([0; 8])).unwrap();
        let d = spec.decode(body.clone()).unwrap();
        let e = verify(&spec, &body, &d, check).unwrap_err();
        assert!(matches!(e, MacFailure::Mismatch(64)));
        assert_eq!(e.to_string(), "field 64 (MAC) does not match the message");
        let mut m = request();
        m.set(150, "x");
        assert!(matches!(seal(&spec, &m, sign), Err(SealError::Tertiary)));
        // A MAC in 64 on a message with a secondary bitmap is not where it belongs.
        let mut m = request();
        m.set(100, "940820");
        m.set_binary(64, &[0; 8]);
        let body = spec.encode_to_bytes(&m).unwrap();
        let d = spec.decode(body.clone()).unwrap();
        assert!(matches!(
            verify(&spec, &body, &d, check),
            Err(MacFailure::Missing(128))
        ));
    }
}
