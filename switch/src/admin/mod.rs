//! The admin address: the operator console (`/`, a page that polls
//! `/api/status` every second), the status API itself (`docs/status-api.md`)
//! and the Prometheus metrics (`/metrics`, rendered from the exporter's
//! handle). Read-only: nothing here changes the switch.
//!
//! - [`access`]: loopback by default, a bearer token beyond it;
//! - [`history`]: the windows (codes over 5 minutes, TPS and latency over one);
//! - [`recorder`]: the metrics recorder `/metrics` renders;
//! - [`status`]: the status document;
//! - [`server`]: the listener, the routes and the page's files.

pub mod access;
pub mod history;
pub mod recorder;
pub mod server;
pub mod status;

pub use access::{AccessError, AdminToken, DEFAULT_TOKEN_ENV};
pub use recorder::install_recorder;
pub use server::AdminOptions;
