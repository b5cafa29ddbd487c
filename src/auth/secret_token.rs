//! Random bearer secrets (session cookies, API tokens): 32 random bytes, shown once, stored as SHA-256.
//! A fast hash is right here: unlike passwords, these secrets carry 256 bits of entropy.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A new secret with a readable prefix, e.g. `sb_3q2+…`.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

pub fn hash(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_are_long_unique_and_hashed() {
        let a = super::generate("sb_");
        assert!(a.starts_with("sb_") && a.len() == 3 + 43);
        assert_ne!(a, super::generate("sb_"));
        assert_eq!(super::hash(&a).len(), 32);
    }
}
