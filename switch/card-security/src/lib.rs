//! Card security for bank links, shared by the switch and the bank simulators
//! (no sockets, no storage, no switch):
//!
//! - [`module`]: the [`SecurityModule`] interface (MAC and PIN operations by
//!   zone; keys never leave it) — an HSM in production;
//! - [`software`]: the in-memory implementation for tests, the demo and the
//!   simulators (a bank host is this module with one zone, its own keys);
//! - [`mac`]: ISO/IEC 9797-1 MAC algorithm 3 (retail MAC), padding method 1 or 2;
//! - [`des_engine`]: the DES rounds the retail MAC runs on;
//! - [`message`]: which field carries an ISO 8583 message's MAC and which bytes
//!   it covers; sealing outgoing frames and checking incoming ones;
//! - [`pin`]: ISO 9564-1 PIN block formats 0 (TDES) and 4 (AES);
//! - [`keys`]: key bytes that are wiped on drop and never shown (KCV only);
//! - [`key_error`]: why a key could not be parsed, made, wrapped or unwrapped;
//! - [`kek`]: keys wrapped under the local key-encryption key (AES key wrap);
//! - [`wallet`]: dynamic codes of wallet QR payments (per-token keys, the
//!   AES-CMAC cryptogram, the QR payload and field 55's code data).

pub mod des_engine;
pub mod kek;
pub mod key_error;
pub mod keys;
pub mod mac;
pub mod message;
pub mod module;
pub mod pin;
pub mod software;
pub mod wallet;

pub use key_error::KeyError;
pub use keys::KeyMaterial;
pub use mac::MacPadding;
pub use module::{NoKeys, PinZone, SecurityError, SecurityModule};
pub use pin::PinFormat;
pub use software::{SoftwareSecurityModule, ZoneKeySource, ZoneKeys};
