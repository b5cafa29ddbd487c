//! Encryption of stored secrets (Twilio Auth Tokens, API key secrets) with the installation's master key.
//!
//! XChaCha20-Poly1305 with a random 24-byte nonce per value; stored as `version || nonce || ciphertext`. The
//! master key comes from `secrets.master_key` or, when that is empty, from `DATA_DIR/master.key`, which is
//! generated (mode 0600) on the first run.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use std::path::Path;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
pub const KEY_FILE: &str = "master.key";

/// Encrypts and decrypts secrets at rest. Cloning shares nothing mutable.
#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox([redacted])")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secrets.master_key (SWITCHBOARD__SECRETS__MASTER_KEY) must be 32 bytes encoded in base64, e.g. the output of `openssl rand -base64 32`")]
    BadKey,
    #[error("cannot read or create the master key file {path}: {source}")]
    KeyFile { path: String, source: std::io::Error },
    #[error("a stored secret cannot be decrypted: the master key is not the one it was encrypted with")]
    Undecryptable,
}

impl SecretBox {
    pub fn from_base64(key: &str) -> Result<Self, SecretError> {
        let bytes = BASE64.decode(key.trim()).map_err(|_| SecretError::BadKey)?;
        if bytes.len() != 32 {
            return Err(SecretError::BadKey);
        }
        Ok(Self { cipher: XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| SecretError::BadKey)? })
    }

    /// The configured key, or the one in `data_dir/master.key`, generated there when absent.
    pub fn load_or_create(configured: Option<&SecretString>, data_dir: &Path) -> Result<Self, SecretError> {
        if let Some(key) = configured {
            return Self::from_base64(key.expose_secret());
        }
        let path = data_dir.join(KEY_FILE);
        let io = |source| SecretError::KeyFile { path: path.display().to_string(), source };
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::from_base64(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(data_dir).map_err(io)?;
                let mut key = [0u8; 32];
                rand::rngs::OsRng.fill_bytes(&mut key);
                let encoded = BASE64.encode(key);
                write_private(&path, encoded.as_bytes()).map_err(io)?;
                tracing::info!(path = %path.display(), "generated a new master key; back it up with the data directory");
                Self::from_base64(&encoded)
            }
            Err(e) => Err(io(e)),
        }
    }

    pub fn encrypt(&self, plaintext: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("XChaCha20-Poly1305 encryption does not fail for in-memory buffers");
        let mut out = Vec::with_capacity(1 + NONCE_LEN + ciphertext.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        out
    }

    pub fn decrypt(&self, stored: &[u8]) -> Result<SecretString, SecretError> {
        if stored.len() < 1 + NONCE_LEN || stored[0] != VERSION {
            return Err(SecretError::Undecryptable);
        }
        let (nonce, ciphertext) = stored[1..].split_at(NONCE_LEN);
        let plain =
            self.cipher.decrypt(XNonce::from_slice(nonce), ciphertext).map_err(|_| SecretError::Undecryptable)?;
        String::from_utf8(plain).map(SecretString::from).map_err(|_| SecretError::Undecryptable)
    }
}

fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_a_different_key() {
        let a = SecretBox::from_base64(&BASE64.encode([7u8; 32])).unwrap();
        let b = SecretBox::from_base64(&BASE64.encode([8u8; 32])).unwrap();
        let sealed = a.encrypt("auth-token-123");
        assert!(!sealed.windows(14).any(|w| w == b"auth-token-123"));
        assert_eq!(a.decrypt(&sealed).unwrap().expose_secret(), "auth-token-123");
        assert!(matches!(b.decrypt(&sealed), Err(SecretError::Undecryptable)));
        assert_ne!(a.encrypt("x"), a.encrypt("x"), "a fresh nonce every time");
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        assert!(SecretBox::from_base64("short").is_err());
        assert!(SecretBox::from_base64(&BASE64.encode([1u8; 16])).is_err());
    }

    #[test]
    fn a_missing_key_file_is_generated_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = SecretBox::load_or_create(None, dir.path()).unwrap();
        let mode = std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = SecretBox::load_or_create(None, dir.path()).unwrap();
        assert_eq!(second.decrypt(&first.encrypt("t")).unwrap().expose_secret(), "t");
    }
}
