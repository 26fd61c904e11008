//! A secret the configuration resolved (the journal's PAN-hash key): its bytes
//! are wiped when the last copy is dropped (it is [`KeyMaterial`]) and never
//! appear in `Debug` output, not even as a check value: it is not a TDES key.

use crate::security::KeyMaterial;

/// A secret key: wiped on drop, its bytes never shown.
#[derive(Clone)]
pub struct SecretKey(KeyMaterial);

impl SecretKey {
    /// A key holding `bytes` (taken, so no unwiped copy is left behind).
    pub fn new(bytes: Vec<u8>) -> SecretKey {
        SecretKey(KeyMaterial::new(bytes))
    }

    /// The key's bytes, for the code that uses them; never log them.
    pub fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

impl From<KeyMaterial> for SecretKey {
    fn from(key: KeyMaterial) -> SecretKey {
        SecretKey(key)
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({} bytes)", self.0.len())
    }
}
