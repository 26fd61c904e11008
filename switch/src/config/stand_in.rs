//! `[stand_in]`: how the switch marks the decisions it takes for an issuer that
//! cannot answer. The issuers' own parameters (which products, which limits, the
//! negative files) are in the routing rules (`routing_rules::stand_in`) and
//! reload with them; this section holds what belongs to the switch itself.
//!
//! ```toml
//! [stand_in]
//! enabled = true              # false: an issuer that cannot answer is declined 91
//! auth_code_low = "900000"    # field 38 of stand-in approvals: a range the switch owns,
//! auth_code_high = "999999"   # issued in sequence, wrapping
//! indicator_field = 60        # set on the acquirer's answer and on the advice ...
//! indicator_value = "STANDIN" # ... to this value
//! ```

use serde::Deserialize;

use super::error::{ConfigError, Problems};

/// `[stand_in]` as written.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawStandIn {
    enabled: Option<bool>,
    auth_code_low: Option<String>,
    auth_code_high: Option<String>,
    indicator_field: Option<u8>,
    indicator_value: Option<String>,
}

/// The fields a configuration may name for the stand-in indicator: the private
/// and national-use fields a switch may fill (field 48 carries token data).
const INDICATOR_FIELDS: [std::ops::RangeInclusive<u8>; 2] = [60..=63, 112..=127];

/// `[stand_in]` validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StandInConfig {
    /// Whether the switch stands in at all.
    pub enabled: bool,
    /// Lowest authorization code (6 digits).
    pub auth_code_low: u32,
    /// Highest authorization code (6 digits).
    pub auth_code_high: u32,
    /// The field that marks a stand-in decision.
    pub indicator_field: u8,
    /// Its value.
    pub indicator_value: String,
}

impl Default for StandInConfig {
    fn default() -> Self {
        StandInConfig {
            enabled: true,
            auth_code_low: 900_000,
            auth_code_high: 999_999,
            indicator_field: 60,
            indicator_value: "STANDIN".into(),
        }
    }
}

impl RawStandIn {
    /// Validate `[stand_in]`; every problem names the key.
    pub(crate) fn validate(&self, file: &str) -> Result<StandInConfig, Vec<ConfigError>> {
        let mut p = Problems::new(file, "stand_in");
        let d = StandInConfig::default();
        let code = |text: &Option<String>, key: &str, default: u32, p: &mut Problems<'_>| match text
        {
            None => default,
            Some(t) if t.len() == 6 && t.bytes().all(|b| b.is_ascii_digit()) => {
                t.parse().unwrap_or(default)
            }
            Some(t) => {
                p.push(format!("{key}: {t:?} is not 6 digits"));
                default
            }
        };
        let low = code(
            &self.auth_code_low,
            "auth_code_low",
            d.auth_code_low,
            &mut p,
        );
        let high = code(
            &self.auth_code_high,
            "auth_code_high",
            d.auth_code_high,
            &mut p,
        );
        if low > high {
            p.push(format!(
                "auth_code_low {low:06} is above auth_code_high {high:06}"
            ));
        }
        let field = self.indicator_field.unwrap_or(d.indicator_field);
        if !INDICATOR_FIELDS.iter().any(|r| r.contains(&field)) {
            p.push(format!(
                "indicator_field {field}: must be a private or national field (60-63, 112-127)"
            ));
        }
        let value = self
            .indicator_value
            .clone()
            .unwrap_or(d.indicator_value.clone());
        if value.is_empty() || value.len() > 32 || !value.bytes().all(|b| b.is_ascii_graphic()) {
            p.push(format!(
                "indicator_value {value:?}: 1 to 32 printable characters without spaces"
            ));
        }
        p.finish(StandInConfig {
            enabled: self.enabled.unwrap_or(true),
            auth_code_low: low,
            auth_code_high: high,
            indicator_field: field,
            indicator_value: value,
        })
    }
}

impl StandInConfig {
    /// Problems with `links` for this stand-in: every link's dialect must
    /// carry the indicator, set on the acquirer's answer and on the issuer's
    /// advice. A dialect that cannot (a spec file without the field, or one
    /// too short or of the wrong kind for the value) would drop the answer of
    /// a decision already journaled, or leave its advice undeliverable in the
    /// queue. None when stand-in is off.
    pub(crate) fn check_links(
        &self,
        links: &[super::link::LinkConfig],
        file: &str,
    ) -> Vec<ConfigError> {
        if !self.enabled {
            return Vec::new();
        }
        links
            .iter()
            .filter_map(|link| {
                // The indicator alone (and the dialect's fixed header, which
                // is not what is checked here).
                let mut marked = codecs::Message::new(codecs::Mti::FINANCIAL_RESPONSE);
                marked.set_header(&vec![b'0'; link.spec.header_len]);
                marked.set(self.indicator_field, &self.indicator_value);
                let error = link.spec.encode_to_bytes(&marked).err()?;
                let p = Problems::new(file, format!("link {}", link.name));
                Some(p.error(format!(
                    "its spec {} cannot carry the stand-in indicator (stand_in.indicator_field {} = {:?}): {error}; \
                     define the field in the spec, name another field, or set stand_in.enabled = false",
                    link.spec.name,
                    self.indicator_field,
                    self.indicator_value,
                )))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<StandInConfig, Vec<ConfigError>> {
        let raw: RawStandIn = toml::from_str(text).expect("toml");
        raw.validate("switch.toml")
    }

    #[test]
    fn defaults_apply_to_an_empty_section() {
        assert_eq!(parse("").expect("valid"), StandInConfig::default());
    }

    #[test]
    fn every_problem_names_its_key() {
        let errors = parse(
            "auth_code_low = \"12345\"\nauth_code_high = \"000001\"\nindicator_field = 48\nindicator_value = \"two words\"\n",
        )
        .expect_err("invalid");
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let all = text.join("\n");
        for key in ["auth_code_low", "indicator_field 48", "indicator_value"] {
            assert!(all.contains(key), "{key} not named in {all}");
        }
        assert!(text.iter().all(|t| t.contains("stand_in")), "{all}");
    }

    #[test]
    fn a_range_upside_down_is_refused() {
        let errors = parse("auth_code_low = \"999999\"\nauth_code_high = \"900000\"\n")
            .expect_err("invalid");
        assert!(errors[0].to_string().contains("above"), "{errors:?}");
    }
}
