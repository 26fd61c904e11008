//! Routing rules of the interbank switch: which bank issued a card and whether a
//! transaction may go there.
//!
//! This crate will own the bank registry (institution ids, regions, roles), the BIN
//! range table (longest-prefix match to issuer and card product), the ordered region
//! rules, their validation when loaded from TOML, `decide` on the switch's hot path and
//! `explain` for operators. It is pure: no sockets, no clock, no logging.
//!
//! Nothing is implemented yet; see the routing-rules issue.
