//! Message authentication and PIN translation.
//!
//! The cryptography, the [`SecurityModule`] interface and its software module
//! live in the `card-security` crate (shared with the bank simulators) and are
//! re-exported here under their old paths (`crate::security::mac`, ...):
//!
//! - [`module`]: the [`SecurityModule`] interface (MAC and PIN operations by
//!   zone; keys never leave it) — an HSM in production;
//! - [`software`]: the in-memory implementation for tests and the demo;
//! - [`mac`]: ISO/IEC 9797-1 MAC algorithm 3 (retail MAC), padding method 1 or 2;
//! - [`message`]: which field carries an ISO 8583 message's MAC and which bytes
//!   it covers; sealing outgoing frames and checking incoming ones;
//! - [`pin`]: ISO 9564-1 PIN block formats 0 (TDES) and 4 (AES);
//! - [`keys`]: key bytes that are wiped on drop and never shown (KCV only);
//! - [`kek`]: keys wrapped under the local key-encryption key (AES key wrap).
//!
//! The switch's own parts, which read its configuration:
//! - [`settings`]: the per-link configuration and where keys come from;
//! - [`apply`]: random keys on every link for a demo run.
//!
//! Where they are used: the drivers check MACs on arrival
//! ([`crate::net::connection`]) and seal what they send ([`crate::net::runtime`]);
//! the core translates field 52 when it forwards a request
//! ([`crate::core::request`]).

pub mod apply;
pub mod settings;

pub use card_security::{des_engine, kek, keys, mac, message, module, pin, software};
pub use card_security::{
    KeyError, KeyMaterial, MacPadding, NoKeys, PinFormat, PinZone, SecurityError, SecurityModule,
    SoftwareSecurityModule, ZoneKeySource, ZoneKeys,
};
pub use settings::{LinkSecurity, SecurityConfig};
