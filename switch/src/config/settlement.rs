//! `[settlement]`: the interchange fees settled with the transactions (the
//! entries themselves are checked by [`crate::store::interchange`]).

use serde::Deserialize;

use super::error::{ConfigError, Problems};
use crate::store::interchange::{Interchange, RawInterchange};

/// `[settlement]` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawSettlement {
    #[serde(default)]
    interchange: Vec<RawInterchange>,
}

impl RawSettlement {
    /// Validate `[[settlement.interchange]]`.
    pub(crate) fn validate(&self, file: &str) -> Result<Interchange, Vec<ConfigError>> {
        let mut p = Problems::new(file, "settlement");
        let interchange = Interchange::from_raw(&self.interchange, &mut |m| p.push(m));
        p.finish(interchange)
    }
}
