//! The tokio drivers: they accept and dial links, frame bytes with the codec, feed
//! events to the core with `now`, and carry out its actions. They decide nothing.
//!
//! - [`listener`]: accept loops, one per listening link, bounded by semaphores
//!   (connections; on TLS links also handshakes in progress);
//! - [`dialer`]: outbound links, reconnecting with backoff;
//! - [`handshake`]: TLS handshakes under a deadline, certificate identity binding;
//! - [`stream`]: plain or TLS streams and their read/write halves;
//! - [`connection`]: one connection's read loop and writer (and the check of the
//!   institutions a TLS peer claims);
//! - [`runtime`]: the shared driver state, the tick loop, action execution,
//!   graceful drain and reload.

pub mod connection;
pub mod dialer;
pub mod handshake;
pub mod listener;
pub mod read_batch;
pub mod runtime;
pub mod stream;
pub mod writer;

pub use runtime::{RunningSwitch, SwitchOptions};
