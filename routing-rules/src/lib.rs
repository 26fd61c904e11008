//! Routing rules of the interbank switch: which bank issued a card and whether a
//! transaction may go there.
//!
//! - [`model`]: regions, banks, card products;
//! - [`apps`] and [`tokens`]: payment apps, channels and the token ranges the switch
//!   owns;
//! - [`bins`]: the BIN range table (6-11 digit prefixes, longest match wins);
//! - [`rules`]: ordered rules and their bitset index;
//! - [`file`] and [`compile`]: TOML files (one, or a directory) validated into a
//!   [`RoutingTable`], with every problem naming the file and entry;
//! - [`decide`]: `decide` for the hot path (allocation-free) and `explain`, whose
//!   checks record a trace (`trace`);
//! - [`stand_in`]: the `[[stand_in]]` parameters and `decide_stand_in`, what the
//!   switch decides for an issuer that cannot answer; [`negative`]: issuers' negative
//!   files (hot cards by digest or range);
//! - [`enrolment`]: whether an app may enrol a card (`decide_enrolment`);
//! - [`fast`]: compact tables and integer amounts for `decide`;
//! - [`shared`]: atomic replacement of the table while the switch runs.
//!
//! Pure: no sockets, no clock, no logging; the only I/O is reading the files.

pub mod apps;
pub mod bins;
pub mod compile;
pub mod decide;
pub mod enrolment;
pub mod fast;
pub mod file;
pub mod model;
pub mod negative;
pub mod problem;
pub mod rules;
pub mod shared;
pub mod stand_in;
pub mod table;
pub mod tokens;
mod trace;

pub use apps::{App, Channel};
pub use decide::{Decision, Explanation, Step, Transaction, Verdict};
pub use negative::{pan_digest, HotReason, NegativeFile};
pub use problem::{LoadError, Problem};
pub use shared::SharedRoutingTable;
pub use stand_in::{
    decide_stand_in, explain_stand_in, StandInCheck, StandInDecision, StandInExplanation,
    StandInParams, StandInRequest, Usage,
};
pub use table::RoutingTable;
