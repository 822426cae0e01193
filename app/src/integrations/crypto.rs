//! Integration credentials at rest: AES-256-GCM under a key derived from ATRIUM_SECRET_KEY.
//!
//! Each ciphertext is stored with the id of the key that sealed it (`credentials_key_version`),
//! so the root secret can be rotated: start Atrium with the new ATRIUM_SECRET_KEY and the old
//! one in ATRIUM_SECRET_KEY_PREVIOUS, run `atrium rotate-secret`, then drop the old one. The
//! company and platform are bound in as associated data, so a ciphertext copied onto another
//! row does not open.
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::fmt;
use uuid::Uuid;

const NONCE_LEN: usize = 12;

#[derive(Clone)]
struct SealingKey {
    version: i32,
    cipher: Aes256Gcm,
}

impl SealingKey {
    fn derive(root: &str) -> SealingKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(root.as_bytes()).expect("any key length");
        mac.update(b"atrium integration credentials v1");
        let key = mac.finalize().into_bytes();
        // A short public id of the key: which root sealed a row, without revealing it.
        let id = Sha256::digest([b"atrium key id:".as_slice(), key.as_slice()].concat());
        let version = i32::from_be_bytes([id[0], id[1], id[2], id[3]]) & 0x7fff_ffff;
        SealingKey { version, cipher: Aes256Gcm::new(&key) }
    }
}

/// The current sealing key and any previous ones still accepted for opening.
#[derive(Clone)]
pub struct Keyring {
    current: SealingKey,
    previous: Vec<SealingKey>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keyring(current v{}, {} previous)", self.current.version, self.previous.len())
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the credentials were sealed with key version {0}, which this process does not have; set ATRIUM_SECRET_KEY_PREVIOUS")]
    UnknownKey(i32),
    #[error("the credentials could not be opened (wrong key or tampered ciphertext)")]
    Corrupt,
}

/// What a sealed value is bound to: its row and, since 0014, the origin of the endpoint it is
/// sent to, so credentials moved to another host (by a form or in the database) do not open.
fn aad(company: Uuid, platform: &str, origin: &str) -> Vec<u8> {
    if origin.is_empty() {
        format!("{company}:{platform}").into_bytes()
    } else {
        format!("{company}:{platform}:{origin}").into_bytes()
    }
}

impl Keyring {
    pub fn new(root: &str, previous: &[String]) -> Keyring {
        Keyring {
            current: SealingKey::derive(root),
            previous: previous.iter().filter(|p| !p.is_empty()).map(|p| SealingKey::derive(p)).collect(),
        }
    }

    pub fn current_version(&self) -> i32 {
        self.current.version
    }

    /// nonce ‖ ciphertext+tag, and the key version to store beside it.
    pub fn seal(&self, company: Uuid, platform: &str, origin: &str, plaintext: &[u8]) -> (Vec<u8>, i32) {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .current
            .cipher
            .encrypt(Nonce::from_slice(&nonce), Payload { msg: plaintext, aad: &aad(company, platform, origin) })
            .expect("AES-GCM encryption does not fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        (out, self.current.version)
    }

    /// Opens a value sealed for `origin`. Values sealed before origins were bound (no origin in
    /// their binding) still open, until the next save or `rotate-secret` re-seals them.
    pub fn open(
        &self,
        company: Uuid,
        platform: &str,
        origin: &str,
        sealed: &[u8],
        version: i32,
    ) -> Result<Vec<u8>, CryptoError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.version == version)
            .ok_or(CryptoError::UnknownKey(version))?;
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Corrupt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let open = |aad: &[u8]| key.cipher.decrypt(Nonce::from_slice(nonce), Payload { msg: body, aad });
        open(&aad(company, platform, origin))
            .or_else(|_| open(&aad(company, platform, "")))
            .map_err(|_| CryptoError::Corrupt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_and_opens_and_binds_the_row() {
        let ring = Keyring::new("root one, long enough to be a real secret", &[]);
        let c = Uuid::new_v4();
        let (sealed, v) = ring.seal(c, "benevity", "https://a.test:443", b"{\"api_token\":\"s3cret\"}");
        assert!(!sealed.windows(6).any(|w| w == b"s3cret"));
        assert_eq!(ring.open(c, "benevity", "https://a.test:443", &sealed, v).unwrap(), b"{\"api_token\":\"s3cret\"}");
        assert_eq!(ring.open(c, "workday", "https://a.test:443", &sealed, v), Err(CryptoError::Corrupt));
        assert_eq!(ring.open(Uuid::new_v4(), "benevity", "https://a.test:443", &sealed, v), Err(CryptoError::Corrupt));
        // Moved to another host, the credentials do not open.
        assert_eq!(ring.open(c, "benevity", "https://evil.test:443", &sealed, v), Err(CryptoError::Corrupt));
        let mut flipped = sealed.clone();
        flipped[20] ^= 1;
        assert_eq!(ring.open(c, "benevity", "https://a.test:443", &flipped, v), Err(CryptoError::Corrupt));
    }

    #[test]
    fn a_rotated_ring_opens_old_rows_and_seals_with_the_new_key() {
        let old = Keyring::new("the old root secret, long enough", &[]);
        let c = Uuid::new_v4();
        let (sealed, v_old) = old.seal(c, "goodera", "https://a.test:443", b"x");
        let new = Keyring::new("the new root secret, long enough", &["the old root secret, long enough".into()]);
        assert_ne!(new.current_version(), v_old);
        assert_eq!(new.open(c, "goodera", "https://a.test:443", &sealed, v_old).unwrap(), b"x");
        let without = Keyring::new("the new root secret, long enough", &[]);
        assert_eq!(
            without.open(c, "goodera", "https://a.test:443", &sealed, v_old),
            Err(CryptoError::UnknownKey(v_old))
        );
    }
}
