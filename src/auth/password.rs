//! Passwords: Argon2id hashes (PHC strings), computed off the async runtime, and the one rule they follow.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use secrecy::{ExposeSecret, SecretString};

pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

/// Why a password is not acceptable.
pub fn check_policy(password: &str) -> Result<(), String> {
    let chars = password.chars().count();
    if chars < MIN_LENGTH {
        return Err(format!("the password must have at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("the password must have at most {MAX_LENGTH} bytes"));
    }
    Ok(())
}

/// Hashes with Argon2id (the crate's defaults: 19 MiB, 2 passes), on a blocking thread.
pub async fn hash(password: SecretString) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose_secret().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Whether `password` matches `stored`, on a blocking thread. With no stored hash (unknown user), a dummy
/// hash is verified anyway, so the answer takes as long either way.
pub async fn verify(password: SecretString, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored password hash: {e}"))?;
        let ok = Argon2::default().verify_password(password.expose_secret().as_bytes(), &parsed).is_ok();
        Ok(ok && known)
    })
    .await?
}

/// A one-time password for the bootstrap admin: 20 characters from an alphabet without look-alikes.
pub fn generate_one_time() -> SecretString {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rngs::OsRng;
    let text: String = (0..20).map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char).collect();
    SecretString::from(text)
}

/// Argon2id of a random password nobody knows, with the same parameters as real hashes.
static DUMMY_HASH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let salt = SaltString::generate(&mut OsRng);
    let secret = generate_one_time();
    Argon2::default().hash_password(secret.expose_secret().as_bytes(), &salt).expect("argon2 with defaults").to_string()
});

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_are_argon2id() {
        let h = hash(SecretString::from("correct horse battery".to_owned())).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify(SecretString::from("correct horse battery".to_owned()), Some(h.clone())).await.unwrap());
        assert!(!verify(SecretString::from("wrong horse battery".to_owned()), Some(h)).await.unwrap());
        assert!(!verify(SecretString::from("anything at all".to_owned()), None).await.unwrap());
    }

    #[test]
    fn the_policy_names_the_rule() {
        assert!(check_policy("short").unwrap_err().contains("12"));
        assert!(check_policy("twelve chars").is_ok());
        assert_eq!(generate_one_time().expose_secret().len(), 20);
    }
}
