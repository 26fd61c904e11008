//! Keys at rest in the configuration: wrapped under a local key-encryption key
//! (KEK) with AES key wrap (NIST SP 800-38F / RFC 3394, which also checks
//! integrity: a wrong KEK or a damaged value is refused, not silently unwrapped
//! to garbage). The KEK itself never sits in a file: it comes from an
//! environment variable (hex, 16, 24 or 32 bytes). `switch wrap-key` makes the
//! wrapped values.

use aes::cipher::KeyInit;

use crate::key_error::KeyError;
use crate::keys::{to_hex, KeyMaterial};

/// The default name of the variable holding the KEK.
pub const DEFAULT_KEK_ENV: &str = "SWITCH_KEK";

/// The KEK from environment variable `var`. Errors name the variable, never its value.
pub fn kek_from_env(var: &str) -> Result<KeyMaterial, KeyError> {
    let text = zeroize::Zeroizing::new(
        std::env::var(var).map_err(|_| KeyError::KekUnset(var.to_string()))?,
    );
    let invalid = |problem| KeyError::KekInvalid {
        var: var.to_string(),
        problem: Box::new(problem),
    };
    let kek = KeyMaterial::from_hex(&text).map_err(invalid)?;
    if !matches!(kek.len(), 16 | 24 | 32) {
        return Err(invalid(KeyError::KekLength(kek.len())));
    }
    Ok(kek)
}

/// `key` wrapped under `kek`, as uppercase hex (8 bytes longer than the key).
pub fn wrap(kek: &KeyMaterial, key: &KeyMaterial) -> Result<String, KeyError> {
    if key.len() < 16 || key.len() % 8 != 0 {
        return Err(KeyError::WrapLength(key.len()));
    }
    let mut out = zeroize::Zeroizing::new(vec![0u8; key.len() + 8]);
    let wrapped = match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek.expose())
            .map_err(|_| bad_kek(kek))?
            .wrap_key(key.expose(), &mut out)
            .map(to_hex),
        24 => aes_kw::KwAes192::new_from_slice(kek.expose())
            .map_err(|_| bad_kek(kek))?
            .wrap_key(key.expose(), &mut out)
            .map(to_hex),
        32 => aes_kw::KwAes256::new_from_slice(kek.expose())
            .map_err(|_| bad_kek(kek))?
            .wrap_key(key.expose(), &mut out)
            .map(to_hex),
        _ => return Err(bad_kek(kek)),
    };
    wrapped.map_err(|e| KeyError::Wrap(e.to_string()))
}

/// The key in `wrapped_hex`, unwrapped under `kek`. Fails (without saying more)
/// when the KEK is not the one it was wrapped under or the value was altered.
pub fn unwrap(kek: &KeyMaterial, wrapped_hex: &str) -> Result<KeyMaterial, KeyError> {
    let wrapped = KeyMaterial::from_hex(wrapped_hex).map_err(|_| KeyError::WrappedNotHex)?;
    if wrapped.len() < 24 || wrapped.len() % 8 != 0 {
        return Err(KeyError::WrappedLength(wrapped.len()));
    }
    let mut out = zeroize::Zeroizing::new(vec![0u8; wrapped.len() - 8]);
    let refused = |_| KeyError::Unwrap;
    match kek.len() {
        16 => aes_kw::KwAes128::new_from_slice(kek.expose())
            .map_err(|_| bad_kek(kek))?
            .unwrap_key(wrapped.expose(), &mut out)
            .map_err(refused)?,
        24 => aes_kw::KwAes192::new_from_slice(kek.expose())
            .map_err(|_| bad_kek(kek))?
            .unwrap_key(wrapped.expose(), &mut out)
            .map_err(refused)?,
        32 => aes_kw::KwAes256::new_from_slice(kek.expose())
            .map_err(|_| bad_kek(kek))?
            .unwrap_key(wrapped.expose(), &mut out)
            .map_err(refused)?,
        _ => return Err(bad_kek(kek)),
    };
    Ok(KeyMaterial::new(std::mem::take(&mut *out)))
}

fn bad_kek(kek: &KeyMaterial) -> KeyError {
    KeyError::KekLength(kek.len())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn rfc3394_vector_and_refusals() {
        // RFC 3394 §4.1: 128-bit key data wrapped with a 128-bit KEK.
        let kek = KeyMaterial::from_hex("000102030405060708090A0B0C0D0E0F").unwrap();
        let key = KeyMaterial::from_hex("00112233445566778899AABBCCDDEEFF").unwrap();
        let wrapped = wrap(&kek, &key).unwrap();
        assert_eq!(wrapped, "1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5");
        assert_eq!(unwrap(&kek, &wrapped).unwrap(), key);
        // RFC 3394 §4.6: 256-bit key data with a 256-bit KEK.
        let kek256 = KeyMaterial::from_hex(
            "000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
        )
        .unwrap();
        let key256 = KeyMaterial::from_hex(
            "00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
        )
        .unwrap();
        assert_eq!(
            wrap(&kek256, &key256).unwrap(),
            "28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21"
        );
        // Another KEK, an altered value, a short value: refused without the key.
        let other = KeyMaterial::from_hex("000102030405060708090A0B0C0D0E0E").unwrap();
        let e = unwrap(&other, &wrapped).unwrap_err();
        assert_eq!(e, KeyError::Unwrap);
        assert!(e.to_string().contains("does not unwrap"), "{e}");
        let mut altered = wrapped.clone().into_bytes();
        altered[5] = if altered[5] == b'0' { b'1' } else { b'0' };
        assert!(unwrap(&kek, std::str::from_utf8(&altered).unwrap()).is_err());
        assert!(unwrap(&kek, "1FA68B0A8112B447").is_err());
        assert!(wrap(&kek, &KeyMaterial::from_hex("0011223344556677").unwrap()).is_err());
    }

    #[test]
    fn kek_from_the_environment() {
        let var = "SWITCH_TEST_KEK_FROM_ENV";
        assert!(kek_from_env(var)
            .unwrap_err()
            .to_string()
            .contains("not set"));
        std::env::set_var(var, "00112233");
        let e = kek_from_env(var).unwrap_err().to_string();
        assert!(e.contains("4") && !e.contains("00112233"), "{e}");
        std::env::set_var(var, "000102030405060708090A0B0C0D0E0F");
        assert_eq!(kek_from_env(var).unwrap().len(), 16);
        std::env::remove_var(var);
    }
}
