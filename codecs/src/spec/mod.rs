//! Message specs as data: how each field 1-192, the MTI, the bitmaps and the header
//! are laid out on the wire for one host dialect.
//!
//! A [`Spec`] is plain data. The built-in dialects are listed in [`builtin`]
//! (the 1987 ones in [`iso87`], the 1993 one in [`iso93`]); a host's own dialect
//! can be loaded from a TOML or JSON file ([`file`]). Every spec, whatever its
//! origin, passes [`Spec::validate`] before use, so the decoder and encoder can trust
//! it (for example that a maximum length fits its length prefix).

pub mod builtin;
pub mod file;
pub mod iso87;
pub mod iso93;

use std::borrow::Cow;
use std::sync::Arc;

use crate::composite::{Composite, Composites};
use crate::error::SpecError;
use crate::message::{FieldSet, ALWAYS_SENSITIVE};

/// The highest field number (tertiary bitmap).
pub const MAX_FIELD: u8 = 192;

/// What characters a field may hold (ISO 8583 content classes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ContentClass {
    /// Digits 0-9.
    N,
    /// Letters (and space, for padding).
    A,
    /// Letters, digits (and space, for padding).
    An,
    /// Any printable ASCII character (0x20-0x7E).
    Ans,
    /// Digits and special (non-alphanumeric printable) characters.
    Ns,
    /// An amount: `C` (credit) or `D` (debit) followed by digits.
    #[serde(rename = "x+n")]
    XN,
    /// Binary data.
    B,
    /// Track 2/3 data: digits, `:;<=>?` and `D` as the separator.
    Z,
}

impl ContentClass {
    /// The class name as written in specs.
    pub fn name(self) -> &'static str {
        match self {
            ContentClass::N => "n",
            ContentClass::A => "a",
            ContentClass::An => "an",
            ContentClass::Ans => "ans",
            ContentClass::Ns => "ns",
            ContentClass::XN => "x+n",
            ContentClass::B => "b",
            ContentClass::Z => "z",
        }
    }
}

/// How the characters of a value are represented on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DataEncoding {
    /// One ASCII byte per character. For `b` fields: uppercase hex text, two
    /// characters per byte.
    Ascii,
    /// One EBCDIC (code page 500) byte per character.
    Ebcdic,
    /// Packed BCD, two digits per byte; an odd count gets a pad nibble in front.
    BcdLeftPad,
    /// Packed BCD, two digits per byte; an odd count gets a pad nibble behind.
    BcdRightPad,
    /// Raw bytes (only for `b` fields).
    Binary,
}

impl DataEncoding {
    /// True for the packed BCD encodings, whose lengths count digits.
    pub fn is_bcd(self) -> bool {
        matches!(self, DataEncoding::BcdLeftPad | DataEncoding::BcdRightPad)
    }
}

/// What a field's value is made of, beyond its characters: a plain value, or
/// a structure the codec can take apart on request (never while decoding the
/// message: a switch relays such fields untouched, so their inner parsing is
/// left to whoever asks for it, see [`crate::Message::tlv`] and
/// [`crate::Message::composite`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Structure {
    /// An opaque value.
    #[default]
    Plain,
    /// BER-TLV elements (EMV chip data, field 55): shown and written tag by
    /// tag, masked by tag ([`crate::icc`]).
    BerTlv,
    /// Subfields a spec file declares ([`crate::composite`]): positional,
    /// TLV with short tags, or a bitmapped sub-message.
    Composite(Arc<Composite>),
}

impl Structure {
    /// The name as written in spec files.
    pub fn name(&self) -> &'static str {
        match self {
            Structure::Plain => "plain",
            Structure::BerTlv => "ber-tlv",
            Structure::Composite(c) => c.kind(),
        }
    }

    /// The composite layout, if any.
    pub fn composite(&self) -> Option<&Arc<Composite>> {
        match self {
            Structure::Composite(c) => Some(c),
            _ => None,
        }
    }
}

/// How a variable length prefix is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrefixEncoding {
    /// ASCII decimal digits, one byte per digit (LL = 2 bytes).
    Ascii,
    /// EBCDIC decimal digits, one byte per digit.
    Ebcdic,
    /// Packed BCD: LL in 1 byte, LLL and LLLL in 2 bytes.
    Bcd,
    /// Unsigned big-endian integer: L and LL in 1 byte, LLL and LLLL in 2 bytes.
    Binary,
}

/// Fixed or variable length. Lengths count digits for BCD data and wire bytes
/// otherwise (so a `b` field in ASCII hex counts hex characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Length {
    /// Exactly this many units.
    Fixed(u16),
    /// A prefix of `digits` decimal digits (1 = L, 2 = LL, 3 = LLL, 4 = LLLL) then up
    /// to `max` units.
    Variable {
        /// The L count of the prefix: 1-4.
        digits: u8,
        /// The maximum length.
        max: u16,
    },
}

impl Length {
    /// The longest value this length allows.
    pub fn max(self) -> u16 {
        match self {
            Length::Fixed(n) => n,
            Length::Variable { max, .. } => max,
        }
    }
}

/// The layout of one data element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSpec {
    /// Allowed characters.
    pub class: ContentClass,
    /// Fixed or variable length.
    pub length: Length,
    /// How a variable length prefix is written (ignored for fixed fields).
    pub prefix: PrefixEncoding,
    /// How the value is written.
    pub encoding: DataEncoding,
    /// The BCD pad nibble (0-15) used for odd digit counts.
    pub pad_nibble: u8,
    /// Card data or secrets: shown only as their length in Debug/Display/logs
    /// (a BER-TLV field: only its sensitive tags, see [`crate::icc`]).
    pub sensitive: bool,
    /// What the value is made of (plain, BER-TLV elements, or subfields).
    pub structure: Structure,
    /// Human-readable name.
    pub description: Cow<'static, str>,
}

impl FieldSpec {
    /// Width in bytes of the length prefix (0 for fixed fields).
    pub fn prefix_width(&self) -> usize {
        match self.length {
            Length::Fixed(_) => 0,
            Length::Variable { digits, .. } => match self.prefix {
                PrefixEncoding::Ascii | PrefixEncoding::Ebcdic => digits as usize,
                PrefixEncoding::Bcd | PrefixEncoding::Binary => {
                    if digits <= 2 {
                        1
                    } else {
                        2
                    }
                }
            },
        }
    }

    /// The largest length the prefix can express.
    fn prefix_capacity(&self) -> u32 {
        match self.length {
            Length::Fixed(_) => u32::MAX,
            Length::Variable { digits, .. } => match self.prefix {
                PrefixEncoding::Ascii | PrefixEncoding::Ebcdic | PrefixEncoding::Bcd => {
                    10u32.pow(digits as u32) - 1
                }
                PrefixEncoding::Binary => {
                    if digits <= 2 {
                        0xFF
                    } else {
                        0xFFFF
                    }
                }
            },
        }
    }

    /// Bytes on the wire for a value of `units` length units.
    pub fn wire_len(&self, units: usize) -> usize {
        if self.encoding.is_bcd() {
            units.div_ceil(2)
        } else {
            units
        }
    }

    fn check(&self) -> Result<(), String> {
        use ContentClass as C;
        use DataEncoding as E;
        let ok = match self.encoding {
            E::Ascii => true,
            E::Ebcdic => self.class != C::B,
            E::BcdLeftPad | E::BcdRightPad => matches!(self.class, C::N | C::Z),
            E::Binary => self.class == C::B,
        };
        if !ok {
            return Err(format!(
                "content class {} cannot use encoding {:?}",
                self.class.name(),
                self.encoding
            ));
        }
        if self.pad_nibble > 0x0F {
            return Err(format!("pad nibble {} is not 0-15", self.pad_nibble));
        }
        match self.length {
            Length::Fixed(0) => return Err("fixed length 0".into()),
            Length::Fixed(_) => {}
            Length::Variable { digits, max } => {
                if !(1..=4).contains(&digits) {
                    return Err(format!("length prefix of {digits} digits (allowed: 1-4)"));
                }
                if max == 0 {
                    return Err("maximum length 0".into());
                }
                if u32::from(max) > self.prefix_capacity() {
                    return Err(format!(
                        "maximum length {max} does not fit a {digits}-digit {:?} prefix",
                        self.prefix
                    ));
                }
            }
        }
        if self.structure == Structure::BerTlv && self.class != C::B {
            return Err(format!(
                "structure ber-tlv needs content class b, not {}",
                self.class.name()
            ));
        }
        if let Some(composite) = self.structure.composite() {
            composite.check(self)?;
        }
        let needs_even = self.class == C::B && self.encoding == E::Ascii;
        if needs_even && self.length.max() % 2 != 0 {
            return Err("b field in ASCII hex needs an even length".into());
        }
        Ok(())
    }
}

/// How the MTI is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MtiEncoding {
    /// Four ASCII digits.
    Ascii,
    /// Four EBCDIC digits.
    Ebcdic,
    /// Two bytes of packed BCD.
    Bcd,
}

/// How bitmaps are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BitmapEncoding {
    /// 8 raw bytes per bitmap.
    Binary,
    /// 16 ASCII hex characters per bitmap (uppercase when encoding).
    Hex,
}

/// A complete message dialect.
#[derive(Clone, Debug)]
pub struct Spec {
    /// The spec's name (built-in name or the file's `name`).
    pub name: String,
    /// Bytes of fixed header in front of the MTI (0 for none).
    pub header_len: usize,
    /// MTI layout.
    pub mti: MtiEncoding,
    /// Bitmap layout (primary, secondary and tertiary alike).
    pub bitmap: BitmapEncoding,
    /// Index = field number; 0 is unused, 1 and 65 are the bitmaps (no data spec).
    fields: Vec<Option<FieldSpec>>,
    /// Fields masked down to their length: the spec's sensitive fields and the defaults.
    sensitive: FieldSet,
    /// Fields whose value is BER-TLV ([`Structure::BerTlv`]): shown tag by tag.
    tlv: FieldSet,
    /// The composite fields' layouts, handed to the messages this spec decodes
    /// (None when there are none, so such messages carry nothing more).
    composites: Option<Arc<Composites>>,
    /// A compact copy of each field's layout for the decoder's hot loop (index =
    /// field number): 193 small entries in a row instead of 193 full `FieldSpec`s.
    plans: Vec<FieldPlan>,
    /// Names this spec's field layout (see [`next_layout`]): a message decoded under
    /// a spec with the same id may have its untouched fields copied on encode.
    layout: u32,
}

impl PartialEq for Spec {
    /// Specs are equal when they describe the same dialect: the layout id (an
    /// identity, not part of the description) is left out.
    fn eq(&self, other: &Spec) -> bool {
        self.name == other.name
            && self.header_len == other.header_len
            && self.mti == other.mti
            && self.bitmap == other.bitmap
            && self.fields == other.fields
            && self.sensitive == other.sensitive
            && self.tlv == other.tlv
            && self.composites == other.composites
    }
}

impl Eq for Spec {}

/// A fresh layout id, never 0 (0 marks a message built through the API). Every
/// constructor and every change of a field's definition takes a new one, so two
/// specs share an id only when one is an unchanged clone of the other. (After 2^32
/// changes the ids wrap; specs are built at start, a handful per process.)
fn next_layout() -> u32 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(1);
    loop {
        let id = NEXT.fetch_add(1, Ordering::Relaxed);
        if id != 0 {
            return id;
        }
    }
}

/// What the decoder needs of one field, packed small.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct FieldPlan {
    pub(crate) defined: bool,
    pub(crate) variable: bool,
    /// The fixed length, or the maximum of a variable one.
    pub(crate) len: u16,
    /// The L count of a variable prefix.
    pub(crate) digits: u8,
    pub(crate) prefix_width: u8,
    pub(crate) prefix: PrefixEncoding,
    pub(crate) class: ContentClass,
    pub(crate) encoding: DataEncoding,
    pub(crate) pad_nibble: u8,
    /// The decoder's straight path: ASCII data with no prefix or an ASCII one.
    pub(crate) fast: FastPath,
}

/// Which straight path the decoder takes for a field (worked out once per spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FastPath {
    /// None: the general decoder (other encodings or prefixes).
    General,
    /// ASCII text of a class that is one byte range (n: `0`-`9`, ans: 0x20-0x7E),
    /// checked eight bytes at a time.
    Range { lo: u8, hi: u8 },
    /// ASCII text of another class (a, an, ns, x+n, z).
    Text,
    /// A `b` field as ASCII hex text.
    Hex,
    /// A `b` field as raw bytes (nothing to check).
    Raw,
}

impl FastPath {
    fn of(f: &FieldSpec) -> FastPath {
        let ascii_prefix =
            matches!(f.length, Length::Fixed(_)) || f.prefix == PrefixEncoding::Ascii;
        if !ascii_prefix {
            return FastPath::General;
        }
        match f.encoding {
            DataEncoding::Ascii => {}
            DataEncoding::Binary if f.class == ContentClass::B => return FastPath::Raw,
            _ => return FastPath::General,
        }
        match f.class {
            ContentClass::N => FastPath::Range { lo: b'0', hi: b'9' },
            ContentClass::Ans => FastPath::Range { lo: 0x20, hi: 0x7E },
            ContentClass::B => FastPath::Hex,
            _ => FastPath::Text,
        }
    }
}

impl FieldPlan {
    const UNDEFINED: FieldPlan = FieldPlan {
        defined: false,
        variable: false,
        len: 0,
        digits: 0,
        prefix_width: 0,
        prefix: PrefixEncoding::Ascii,
        class: ContentClass::B,
        encoding: DataEncoding::Binary,
        pad_nibble: 0,
        fast: FastPath::General,
    };

    fn of(f: &FieldSpec) -> FieldPlan {
        let (variable, digits) = match f.length {
            Length::Fixed(_) => (false, 0),
            Length::Variable { digits, .. } => (true, digits),
        };
        FieldPlan {
            defined: true,
            variable,
            len: f.length.max(),
            digits,
            prefix_width: f.prefix_width() as u8,
            prefix: f.prefix,
            class: f.class,
            encoding: f.encoding,
            pad_nibble: f.pad_nibble,
            fast: FastPath::of(f),
        }
    }

    /// Bytes on the wire for `units` length units.
    #[inline(always)]
    pub(crate) fn wire_len(&self, units: usize) -> usize {
        if self.encoding.is_bcd() {
            units.div_ceil(2)
        } else {
            units
        }
    }
}

impl Spec {
    /// An empty spec: no data fields defined yet.
    pub fn new(name: impl Into<String>, mti: MtiEncoding, bitmap: BitmapEncoding) -> Spec {
        Spec {
            name: name.into(),
            header_len: 0,
            mti,
            bitmap,
            fields: vec![None; MAX_FIELD as usize + 1],
            sensitive: ALWAYS_SENSITIVE,
            tlv: FieldSet::EMPTY,
            composites: None,
            plans: vec![FieldPlan::UNDEFINED; MAX_FIELD as usize + 1],
            layout: next_layout(),
        }
    }

    /// The spec of data field `n`, if defined (never for 0, 1 and 65).
    #[inline]
    pub fn field(&self, n: u8) -> Option<&FieldSpec> {
        self.fields.get(n as usize).and_then(Option::as_ref)
    }

    /// Define or replace data field `n` (2-192 except 65).
    pub fn set_field(&mut self, n: u8, spec: FieldSpec) {
        if usize::from(n) < self.fields.len() {
            if spec.sensitive {
                self.sensitive.insert(n);
            }
            self.tlv.set(n, spec.structure == Structure::BerTlv);
            self.set_composite(n, spec.structure.composite().cloned());
            self.plans[n as usize] = FieldPlan::of(&spec);
            self.fields[n as usize] = Some(spec);
            self.layout = next_layout();
        }
    }

    /// Remove the definition of field `n`: a message with its bit set is then refused.
    pub fn remove_field(&mut self, n: u8) {
        if usize::from(n) < self.fields.len() {
            self.fields[n as usize] = None;
            self.tlv.set(n, false);
            self.set_composite(n, None);
            self.plans[n as usize] = FieldPlan::UNDEFINED;
            self.layout = next_layout();
        }
    }

    fn set_composite(&mut self, n: u8, layout: Option<Arc<Composite>>) {
        let mut table = self.composites.as_deref().cloned().unwrap_or_default();
        table.set(n, layout);
        self.composites = (!table.is_empty()).then(|| Arc::new(table));
    }

    /// The composite layout of field `n`, if it has one.
    pub fn composite(&self, n: u8) -> Option<&Composite> {
        self.composites.as_deref()?.get(n)
    }

    /// Every composite field's layout (None when the spec has none).
    pub(crate) fn composites(&self) -> Option<&Arc<Composites>> {
        self.composites.as_ref()
    }

    /// The id of this spec's field layout (see [`next_layout`]).
    #[inline]
    pub(crate) fn layout(&self) -> u32 {
        self.layout
    }

    /// The decoder's compact layout of field `n` (undefined fields included).
    #[inline(always)]
    pub(crate) fn plan(&self, n: u8) -> &FieldPlan {
        self.plans.get(n as usize).unwrap_or(&FieldPlan::UNDEFINED)
    }

    /// Whether field `n` holds card data or secrets and must be masked.
    pub fn is_sensitive(&self, n: u8) -> bool {
        self.sensitive.contains(n)
    }

    /// Every field masked down to its length under this spec.
    pub fn sensitive_fields(&self) -> FieldSet {
        self.sensitive
    }

    /// Every field whose value is BER-TLV under this spec.
    pub fn tlv_fields(&self) -> FieldSet {
        self.tlv
    }

    /// Check every definition; `origin` names the file (or `built-in`) in errors.
    pub fn validate(&self, origin: &str) -> Result<(), SpecError> {
        let invalid = |entry: String, problem: String| SpecError::Invalid {
            path: origin.to_string(),
            entry,
            problem,
        };
        if self.name.is_empty() {
            return Err(invalid("name".into(), "empty spec name".into()));
        }
        for n in [0u8, 1, 65] {
            if self.field(n).is_some() {
                return Err(invalid(
                    format!("field {n}"),
                    "fields 0, 1 and 65 are the MTI and bitmaps, not data fields".into(),
                ));
            }
        }
        for n in 2..=MAX_FIELD {
            if let Some(f) = self.field(n) {
                f.check().map_err(|p| invalid(format!("field {n}"), p))?;
            }
        }
        Ok(())
    }

    /// A built-in spec by name (one of [`builtin::NAMES`]).
    pub fn builtin(name: &str) -> Result<Arc<Spec>, SpecError> {
        builtin::by_name(name)
    }

    /// A built-in spec by name, or a spec file when `name` is a path (contains `/`
    /// or ends in `.toml`/`.json`).
    pub fn by_name_or_path(name: &str) -> Result<Arc<Spec>, SpecError> {
        if name.contains('/') || name.ends_with(".toml") || name.ends_with(".json") {
            file::load(std::path::Path::new(name)).map(Arc::new)
        } else {
            Spec::builtin(name)
        }
    }
}
