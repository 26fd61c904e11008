//! Who may read the admin address. It binds to loopback by default, where the
//! machine's own users may read it; bound anywhere else it requires a bearer
//! token (`Authorization: Bearer TOKEN`) from the environment variable the
//! configuration names (`[switch] admin_token_env`, default
//! [`DEFAULT_TOKEN_ENV`]), and a switch asked to bind elsewhere without one
//! does not start. When the variable is set, the token is required on
//! loopback too, `/metrics` included (Prometheus sends it with
//! `authorization: { credentials: ... }`).

use std::net::SocketAddr;

use axum::http::HeaderMap;

/// The variable the token is read from unless the configuration names another.
pub const DEFAULT_TOKEN_ENV: &str = "SWITCH_ADMIN_TOKEN";

/// Fewer characters than this is not a token (a guessable one is worse than
/// none: it looks like protection).
pub const MIN_TOKEN_LEN: usize = 16;

/// The token the admin address requires, if any. Never shown: its `Debug`
/// says only whether there is one.
#[derive(Clone, Default)]
pub struct AdminToken(Option<String>);

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(_) => f.write_str("AdminToken(set)"),
            None => f.write_str("AdminToken(none)"),
        }
    }
}

/// Why the admin address cannot be served as configured.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// Bound beyond loopback without a token.
    #[error("admin address {address} is not loopback: set a bearer token (at least {MIN_TOKEN_LEN} characters) in ${var}, or bind the admin address to 127.0.0.1")]
    TokenRequired {
        /// The configured address.
        address: SocketAddr,
        /// The variable that should hold the token.
        var: String,
    },
    /// The variable holds something too short to be a token.
    #[error("${var} holds {len} characters: an admin token needs at least {MIN_TOKEN_LEN}")]
    TokenTooShort {
        /// The variable.
        var: String,
        /// How long its value is.
        len: usize,
    },
}

impl AdminToken {
    /// No token: only for a loopback address.
    pub fn none() -> AdminToken {
        AdminToken(None)
    }

    /// The token in `var` (unset or empty: none), checked against `address`.
    pub fn from_env(var: &str, address: SocketAddr) -> Result<AdminToken, AccessError> {
        let value = std::env::var(var).ok().filter(|v| !v.is_empty());
        AdminToken::checked(value, var, address)
    }

    /// `value` as the token for `address` (the variable named for errors).
    pub fn checked(
        value: Option<String>,
        var: &str,
        address: SocketAddr,
    ) -> Result<AdminToken, AccessError> {
        match value {
            Some(v) if v.len() < MIN_TOKEN_LEN => Err(AccessError::TokenTooShort {
                var: var.to_string(),
                len: v.len(),
            }),
            Some(v) => Ok(AdminToken(Some(v))),
            None if address.ip().is_loopback() => Ok(AdminToken(None)),
            None => Err(AccessError::TokenRequired {
                address,
                var: var.to_string(),
            }),
        }
    }

    /// Whether a request with `headers` may read.
    pub fn allows(&self, headers: &HeaderMap) -> bool {
        let Some(token) = &self.0 else {
            return true;
        };
        let presented = headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(bearer_credentials);
        presented.is_some_and(|p| same(p.trim().as_bytes(), token.as_bytes()))
    }
}

/// The credentials of an `Authorization: Bearer ...` value (the scheme's name
/// is case-insensitive, RFC 9110 section 11.1).
fn bearer_credentials(value: &str) -> Option<&str> {
    let (scheme, credentials) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(credentials)
}

/// Equal, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef-token";

    fn with_auth(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(axum::http::header::AUTHORIZATION, value.parse().unwrap());
        h
    }

    #[test]
    fn loopback_needs_no_token_elsewhere_one_is_required() {
        let lo: SocketAddr = "127.0.0.1:9100".parse().unwrap();
        let any: SocketAddr = "0.0.0.0:9100".parse().unwrap();
        let v6: SocketAddr = "[::1]:9100".parse().unwrap();
        assert!(AdminToken::checked(None, "T", lo)
            .unwrap()
            .allows(&HeaderMap::new()));
        assert!(AdminToken::checked(None, "T", v6).is_ok());
        let refused = AdminToken::checked(None, "T", any).unwrap_err();
        assert_eq!(
            refused,
            AccessError::TokenRequired {
                address: any,
                var: "T".into()
            }
        );
        assert!(refused.to_string().contains("$T"));
        assert!(matches!(
            AdminToken::checked(Some("short".into()), "T", any),
            Err(AccessError::TokenTooShort { len: 5, .. })
        ));
    }

    #[test]
    fn only_the_exact_bearer_token_is_allowed() {
        let any: SocketAddr = "0.0.0.0:9100".parse().unwrap();
        let t = AdminToken::checked(Some(TOKEN.into()), "T", any).unwrap();
        assert!(t.allows(&with_auth(&format!("Bearer {TOKEN}"))));
        assert!(!t.allows(&HeaderMap::new()));
        assert!(!t.allows(&with_auth(TOKEN)));
        assert!(!t.allows(&with_auth(&format!("Bearer {TOKEN}x"))));
        assert!(!t.allows(&with_auth("Bearer 0123456789abcdef-tokeN")));
        assert!(!t.allows(&with_auth(&format!("Basic {TOKEN}"))));
        // The scheme's name is case-insensitive; the token is not.
        assert!(t.allows(&with_auth(&format!("bearer {TOKEN}"))));
        assert!(t.allows(&with_auth(&format!("BEARER {TOKEN}"))));
        assert!(!t.allows(&with_auth(&format!("bearer {}", TOKEN.to_uppercase()))));
        // Never in Debug output.
        assert_eq!(format!("{t:?}"), "AdminToken(set)");
    }
}
