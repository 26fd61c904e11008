//! ISO 8583 wire format for the interbank switch.
//!
//! - [`spec`]: message dialects as data (built-in `iso87ascii`, `iso87binary`,
//!   `iso87bcd`, `iso87ebcdic`, `iso93ascii`, or loaded from TOML/JSON);
//! - [`Spec::decode`](spec::Spec::decode) / [`Spec::encode`](spec::Spec::encode):
//!   strict, zero-copy decode with nom and validated encode;
//! - [`Message`]: get/set by field number, typed accessors ([`accessors`]), masked
//!   `Debug`/`Display` ([`mask`]);
//! - [`framing`]: tokio-util length-header codecs (the only stream-facing module);
//! - [`json`]: the JSON form used by the `iso8583` tool;
//! - [`tlv`]: BER-TLV (field 55's EMV tags), read on demand through
//!   [`Message::tlv`]; [`icc`]: which tags are card data and how they are shown;
//! - [`composite`]: fields of subfields declared in spec files (positional, TLV
//!   with short tags, bitmapped), read on demand through [`Message::composite`].
//!
//! No I/O and no async runtime here outside [`framing`].

pub mod accessors;
pub mod composite;
pub mod content;
pub mod currency;
pub mod datetime;
pub mod decode;
pub mod digits;
pub mod encode;
pub mod error;
#[cfg(feature = "framing")]
pub mod framing;
pub mod icc;
pub mod json;
pub mod luhn;
pub mod mask;
pub mod message;
pub mod mti;
pub mod response_code;
pub mod spec;
pub mod tlv;

pub use accessors::{AmountError, Pan, ProcessingCode};
pub use composite::{CompositeError, Key};
pub use error::{DecodeError, EncodeError, Location, Reason, SpecError};
pub use message::{Field, FieldSet, Message};
pub use mti::Mti;
pub use response_code::ResponseCode;
pub use spec::Spec;
pub use tlv::{Tag, TlvError, TlvList};
