//! The tokio drivers: they accept and dial links, frame bytes with the codec, feed
//! events to the core with `now`, and carry out its actions. They decide nothing.
//!
//! - [`listener`]: accept loops, one per listening link, bounded by a semaphore;
//! - [`dialer`]: outbound links, reconnecting with backoff;
//! - [`connection`]: one connection's read loop and writer;
//! - [`runtime`]: the shared driver state, the tick loop, action execution,
//!   graceful drain and reload.

pub mod connection;
pub mod dialer;
pub mod listener;
pub mod runtime;

pub use runtime::{RunningSwitch, SwitchOptions};
