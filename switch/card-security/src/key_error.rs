//! Why key material could not be had: parsing it, drawing it at random,
//! wrapping or unwrapping it under the KEK. No variant carries key bytes or the
//! text they came from: lengths, variable names and reasons only.

/// A key could not be parsed, made, wrapped or unwrapped.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text has an odd number of hex digits, or none.
    #[error("a key must be an even number of hex digits")]
    OddHex,
    /// The text has a character that is not a hex digit.
    #[error("a key must be hex digits only")]
    NotHex,
    /// A key of the wrong length for its use (a token key is 16 bytes).
    #[error("a key of {found} bytes where {expected} are required")]
    Length {
        /// The length the use requires.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// The operating system gave no random bytes.
    #[error("no random bytes: {0}")]
    Random(getrandom::Error),
    /// The KEK's environment variable is not set.
    #[error("environment variable {0} (the KEK) is not set")]
    KekUnset(String),
    /// The KEK's variable holds no usable key.
    #[error("{var}: {problem}")]
    KekInvalid {
        /// The variable.
        var: String,
        /// What is wrong with its value.
        problem: Box<KeyError>,
    },
    /// The KEK is not an AES key.
    #[error("the KEK must be an AES key of 16, 24 or 32 bytes, not {0}")]
    KekLength(usize),
    /// A key AES key wrap cannot take.
    #[error("AES key wrap takes keys of 16 bytes or more in steps of 8, not {0}")]
    WrapLength(usize),
    /// AES key wrap failed.
    #[error("cannot wrap the key: {0}")]
    Wrap(String),
    /// The wrapped value is not hex.
    #[error("the wrapped key is not hex")]
    WrappedNotHex,
    /// The wrapped value has a length no wrapped key has.
    #[error("a wrapped key is 24 bytes or more in steps of 8, not {0}")]
    WrappedLength(usize),
    /// The KEK is not the one the key was wrapped under, or the value was altered.
    #[error("the wrapped key does not unwrap under this KEK (another KEK, or altered)")]
    Unwrap,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use crate::kek::{unwrap, wrap};
    use crate::KeyMaterial;

    const KEY: &str = "0123456789ABCDEFFEDCBA9876543210";
    const KEK: &str = "000102030405060708090A0B0C0D0E0F";

    /// Neither the text nor the parts of a key show in an error, its message or
    /// its debug form: a key with one bad digit, a KEK that is not the one, a
    /// wrapped value cut short.
    #[test]
    fn no_error_shows_the_key() {
        let mut errors = Vec::new();
        errors.push(KeyMaterial::from_hex(&format!("{}G", &KEY[1..])).unwrap_err());
        errors.push(KeyMaterial::from_hex(&KEY[1..]).unwrap_err());
        let wrapped = wrap(
            &KeyMaterial::from_hex(KEK).unwrap(),
            &KeyMaterial::from_hex(KEY).unwrap(),
        )
        .unwrap();
        let other_kek = KeyMaterial::from_hex(&KEK.replace('0', "1")).unwrap();
        errors.push(unwrap(&other_kek, &wrapped).unwrap_err());
        errors.push(unwrap(&other_kek, &wrapped[..32]).unwrap_err());
        for e in errors {
            for shown in [e.to_string(), format!("{e:?}")] {
                for secret in [KEY, KEK, wrapped.as_str()] {
                    // Any 8 hex digits of it would be too many.
                    for part in secret.as_bytes().chunks(8) {
                        let part = std::str::from_utf8(part).unwrap();
                        assert!(!shown.contains(part), "{shown} shows {part}");
                    }
                }
            }
        }
    }
}
