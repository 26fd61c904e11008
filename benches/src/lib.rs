//! Benchmarks and comparison runners: criterion benches under `benches/`, and
//! binaries that measure the project and a reference side by side in one run.
//!
//! This library holds what they share: the reference message (a 0200 purchase),
//! defined once as data ([`REFERENCE_MTI`], [`TEXT_FIELDS`], [`PIN_BLOCK`]) and
//! turned into a [`codecs::Message`] ([`reference_message`]) or set on an
//! [`i8583::Packer`] ([`set_i8583_fields`]), and the i8583 spec that reads exactly the
//! bytes our `iso87ascii` dialect writes ([`i8583_reference_spec`]); the measuring
//! tools of the runners ([`measure`]: counting allocator, timing, medians, flags);
//! the synthetic routing network of `routing-compare` ([`routing`]); and what
//! `sim-compare` and `switch-compare` run on loopback beside the simulators and the
//! switch ([`loopback`]: echo server, frame relay, silent issuer, bare load client).
//!
//! # Wire compatibility with i8583
//!
//! `iso87ascii` and i8583's `v1987::SPEC` agree on every field of the reference
//! message (same lengths, ASCII `LL` prefixes, one 16-character hex primary bitmap)
//! except field 52: i8583 declares it `BIN FIXED(8)`, raw bytes, while `iso87ascii`
//! writes `b` fields as hex text (16 characters). [`i8583_reference_spec`] therefore
//! redefines field 52 as `FIXED(16)`, and i8583 is given the PIN block as its 16 hex
//! characters. Both write the bitmap in uppercase hex (i8583 formats it with
//! `{:016X}`), so no case adjustment is needed: the unit tests check that i8583's
//! packed bytes equal our encoded bytes and that i8583 unpacks them to the same values.

pub mod loopback;
pub mod measure;
pub mod routing;

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use codecs::{Message, Mti, Spec};
use i8583::data::{Size, Spec as FieldSpec, Type};
use i8583::Packer;

/// An i8583 message spec: index = field number (0 is the MTI, 1 the bitmap).
pub type I8583Spec = [Option<FieldSpec>; 129];

/// Any error of the fixture setup (ours, or i8583's string errors).
pub type SetupError = Box<dyn std::error::Error + Send + Sync>;

/// The MTI of the reference message: a financial request (purchase).
pub const REFERENCE_MTI: &str = "0200";

/// The card number: 16 digits, Luhn-valid, under the 9408 prefix.
pub const PAN: &str = "9408001234567896";

/// The field carrying the PIN block (`b 8`).
pub const PIN_BLOCK_FIELD: u8 = 52;

/// The encrypted PIN block (field 52), 8 bytes.
pub const PIN_BLOCK: [u8; 8] = [0x3A, 0x9F, 0x1C, 0x4E, 0x8B, 0x27, 0xD0, 0x65];

/// The text fields of the reference message in field order, with their values
/// (every field except the PIN block, [`PIN_BLOCK_FIELD`]).
pub const TEXT_FIELDS: [(u8, &str); 19] = [
    (2, PAN),
    (3, "000000"),                              // purchase, default accounts
    (4, "000000012500"),                        // 125.00 in minor units
    (7, "0612143015"),                          // transmission date and time, MMDDhhmmss
    (11, "004217"),                             // STAN
    (12, "173015"),                             // local time
    (13, "0612"),                               // local date
    (14, "2912"),                               // expiry, YYMM
    (18, "5411"),                               // merchant type: grocery stores, supermarkets
    (22, "051"),                                // POS entry mode: chip, PIN
    (23, "001"),                                // card sequence number
    (25, "00"),                                 // POS condition: normal
    (32, "940800"),                             // acquiring institution
    (35, "9408001234567896=29121010000000123"), // track 2
    (37, "516314004217"),                       // RRN
    (41, "TRM00417"),
    (42, "940800000012345"),
    (43, "KORYO GENERAL STORE   PYONGYANG       KP"), // name 22, city 13, region 3, country 2
    (49, "408"),                                      // currency: KPW
];

/// Every field number of the reference message, ascending.
pub fn reference_field_numbers() -> Vec<u8> {
    let mut fields: Vec<u8> = TEXT_FIELDS.iter().map(|&(n, _)| n).collect();
    fields.push(PIN_BLOCK_FIELD);
    fields.sort_unstable();
    fields
}

/// The reference 0200 purchase, built through the `codecs` API.
pub fn reference_message() -> Message {
    // `Mti::new` returns an Option and `codecs` offers no const constructor; the
    // MTI is a literal, and `tests::reference_message_is_complete` runs this code.
    #[allow(clippy::expect_used)]
    let mti = Mti::new(REFERENCE_MTI.as_bytes()).expect("REFERENCE_MTI is four digits");
    let mut msg = Message::new(mti);
    for (n, value) in TEXT_FIELDS {
        msg.set(n, value);
    }
    msg.set_binary(PIN_BLOCK_FIELD, &PIN_BLOCK);
    msg
}

/// The PIN block as i8583 gets it under [`i8583_reference_spec`]: 16 uppercase hex
/// characters, as `iso87ascii` writes it.
pub fn pin_block_hex() -> String {
    PIN_BLOCK.iter().map(|b| format!("{b:02X}")).collect()
}

/// `i8583::v1987::SPEC` with field 52 as `FIXED(16)` (hex text, as `iso87ascii`
/// writes it) instead of `BIN FIXED(8)`, so i8583 reads and writes the same bytes
/// as our `iso87ascii` dialect.
pub fn i8583_reference_spec() -> I8583Spec {
    // A const array: each use is a fresh copy.
    let mut spec = i8583::v1987::SPEC;
    spec[usize::from(PIN_BLOCK_FIELD)] = Some(FieldSpec {
        data_type: Type::BIN,
        data_size: Size::FIXED(16),
    });
    spec
}

/// Set the reference message's MTI and fields on an i8583 packer (made with
/// [`i8583_reference_spec`]).
pub fn set_i8583_fields(packer: &mut Packer<'_>) -> Result<(), String> {
    packer.set_field(0, REFERENCE_MTI.as_bytes().into())?;
    for (n, value) in TEXT_FIELDS {
        packer.set_field(usize::from(n), value.as_bytes().into())?;
    }
    packer.set_field(
        usize::from(PIN_BLOCK_FIELD),
        pin_block_hex().into_bytes().into(),
    )?;
    Ok(())
}

/// Elements in [`icc_data`].
pub const ICC_ELEMENTS: u8 = 40;

/// Field 55 for the reference message with chip data: [`ICC_ELEMENTS`] BER-TLV
/// elements of two-byte tags (`9F01`-`9F28`) and three-byte values, 240 bytes
/// (field 55 holds at most 255).
pub fn icc_data() -> Vec<u8> {
    let mut out = Vec::with_capacity(240);
    for i in 0..ICC_ELEMENTS {
        out.extend_from_slice(&[0x9F, 0x01 + i, 0x03, i, 0x5A ^ i, 0xFF - i]);
    }
    out
}

/// The reference purchase with [`icc_data`] in field 55.
pub fn reference_message_with_icc() -> Message {
    let mut msg = reference_message();
    msg.set_binary(55, &icc_data());
    msg
}

/// A built-in spec with the reference message and its encoding under that spec.
pub struct Fixture {
    /// The spec (`iso87ascii`, `iso87binary` or `iso87bcd`).
    pub spec: Arc<Spec>,
    /// The reference message as built through the API ([`reference_message`]).
    pub message: Message,
    /// The message encoded under `spec`.
    pub wire: Bytes,
}

impl Fixture {
    /// Build the fixture for a built-in spec; checks that the encoding decodes.
    pub fn new(spec_name: &str) -> Result<Fixture, SetupError> {
        let spec = Spec::builtin(spec_name)?;
        let message = reference_message();
        let mut out = BytesMut::with_capacity(1024);
        spec.encode(&message, &mut out)?;
        let wire = out.freeze();
        spec.decode(wire.clone())?;
        Ok(Fixture {
            spec,
            message,
            wire,
        })
    }
}

/// i8583's packing of the reference message (under [`i8583_reference_spec`]).
pub fn i8583_packed(spec: &I8583Spec) -> Result<Vec<u8>, SetupError> {
    let mut packer = Packer::new(spec);
    set_i8583_fields(&mut packer)?;
    Ok(packer.pack(Vec::with_capacity(1024))?)
}

#[cfg(test)]
mod tests {
    use codecs::spec::iso87::BUILTIN_NAMES;
    use i8583::Unpacker;

    use super::*;

    #[test]
    fn reference_message_is_complete() {
        assert!(codecs::luhn::luhn_valid(PAN.as_bytes()));
        assert_eq!(reference_field_numbers().len(), 20);
        let msg = reference_message();
        assert_eq!(msg.mti().as_str(), REFERENCE_MTI);
        assert_eq!(
            msg.field_numbers().collect::<Vec<_>>(),
            reference_field_numbers()
        );
        let track2 = msg.text(35).unwrap();
        assert!(track2.starts_with(&format!("{PAN}=2912")));
        assert_eq!(msg.text(14).unwrap(), "2912");
        assert_eq!(msg.get(43).unwrap().len(), 40);
        assert_eq!(msg.get(52).unwrap().bytes().as_ref(), &PIN_BLOCK);
        assert_eq!(pin_block_hex(), "3A9F1C4E8B27D065");
    }

    #[test]
    fn every_builtin_spec_round_trips_the_reference_message() {
        let reference = reference_message();
        for name in BUILTIN_NAMES {
            let f = Fixture::new(name).unwrap();
            let decoded = f.spec.decode(f.wire.clone()).unwrap();
            assert_eq!(decoded.mti(), reference.mti(), "{name}");
            assert_eq!(
                decoded.field_numbers().collect::<Vec<_>>(),
                reference_field_numbers(),
                "{name}"
            );
            for n in reference_field_numbers() {
                let (a, b) = (decoded.get(n).unwrap(), reference.get(n).unwrap());
                assert_eq!(a.bytes(), b.bytes(), "{name} field {n}");
            }
        }
    }

    #[test]
    fn i8583_packs_our_bytes_exactly() {
        let ours = Fixture::new("iso87ascii").unwrap().wire;
        let theirs = i8583_packed(&i8583_reference_spec()).unwrap();
        // Both write the primary bitmap as uppercase hex (i8583: `{:016X}`).
        let bitmap = &ours[4..20];
        assert!(bitmap
            .iter()
            .all(|c| c.is_ascii_digit() || (b'A'..=b'F').contains(c)));
        assert_eq!(
            String::from_utf8_lossy(&theirs),
            String::from_utf8_lossy(&ours)
        );
        assert_eq!(theirs.as_slice(), ours.as_ref());
    }

    #[test]
    fn i8583_unpacks_our_bytes_to_the_same_values() {
        let f = Fixture::new("iso87ascii").unwrap();
        let ours = f.spec.decode(f.wire.clone()).unwrap();
        let spec = i8583_reference_spec();
        let mut unpacker = Unpacker::new(&f.wire);
        let theirs = unpacker.unpack(&spec).unwrap();
        // Primary bitmap only: MTI, bitmap and fields 2-64.
        assert_eq!(theirs.len(), 65);
        assert_eq!(theirs[0], Some(REFERENCE_MTI.as_bytes()));
        assert_eq!(theirs[1], Some(&f.wire[4..20]));
        for (n, value) in theirs.iter().enumerate().skip(2) {
            let n = u8::try_from(n).unwrap();
            let ours = ours.get(n).map(|field| field.wire());
            assert_eq!(*value, ours, "field {n}");
        }
        assert_eq!(theirs[52], Some(pin_block_hex().as_bytes()));
        for (n, value) in TEXT_FIELDS {
            assert_eq!(theirs[usize::from(n)], Some(value.as_bytes()), "field {n}");
        }
    }
}
