//! Dynamic codes of wallet QR payments, shared by the switch (which verifies
//! them), the app simulators (which compute them) and the merchant's reader
//! (which parses the payload into field 55):
//!
//! - [`token_key`]: the per-token AES-128 key ([`TokenKey`]) and its prepared
//!   form for computing and checking cryptograms ([`CodeKey`], [`CodeInput`]);
//! - [`payload`]: the QR payload ([`QrPayload`]): base64 of BER-TLV in the
//!   spirit of EMVCo's consumer-presented mode;
//! - [`field55`]: the code's data as the switch reads it from field 55
//!   ([`CodeData`], parsed without allocating);
//! - [`tlv`], [`bcd`]: the strict BER-TLV reader and writer and the digit packing
//!   both formats use;
//! - [`error`]: why a payload or field 55 was refused ([`QrError`]; never with
//!   the token's digits).
//!
//! Nothing here does I/O or keeps state: replay windows and token lookups are the
//! switch's, counters the app's.

pub mod bcd;
pub mod error;
pub mod field55;
pub mod payload;
pub mod tlv;
pub mod token_key;

pub use error::{QrError, Tag};
pub use field55::CodeData;
pub use payload::QrPayload;
pub use token_key::{CodeInput, CodeKey, TokenKey};

/// Field 22 (POS entry mode) of a QR payment: PAN entered from a bar code or QR
/// code (`03`), PIN capability unknown (`1`).
pub const QR_ENTRY_MODE: &str = "031";
