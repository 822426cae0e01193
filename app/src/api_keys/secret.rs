//! The API key itself: `atr_live_` + base62 of 32 random bytes + a 6-character CRC32
//! checksum. A mistyped or made-up key fails the checksum before any database work. The
//! stored form is a keyed SHA-256 (HMAC with a pepper derived from ATRIUM_SECRET_KEY), which
//! is looked up by value through a unique index; a salted slow hash could not be (DESIGN.md,
//! defect 4), and 256 random bits need no stretching.
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const PREFIX: &str = "atr_live_";
const BODY_LEN: usize = 43; // 62^43 > 2^256
const CHECK_LEN: usize = 6; // 62^6 > 2^32
pub const KEY_LEN: usize = PREFIX.len() + BODY_LEN + CHECK_LEN;
const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A well-formed key. Its Debug form never shows the secret.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl std::fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeySecret({}…{})", self.display_prefix(), self.last4())
    }
}

impl ApiKeySecret {
    pub fn generate() -> ApiKeySecret {
        let bytes: [u8; 32] = rand::random();
        let mut key = String::with_capacity(KEY_LEN);
        key.push_str(PREFIX);
        key.push_str(&base62(&bytes, BODY_LEN));
        let check = checksum(&key);
        key.push_str(&check);
        ApiKeySecret(key)
    }

    /// Checks the shape and the checksum; no database work.
    pub fn parse(raw: &str) -> Option<ApiKeySecret> {
        let raw = raw.trim();
        if raw.len() != KEY_LEN || !raw.starts_with(PREFIX) || !raw.bytes().skip(PREFIX.len()).all(is_base62) {
            return None;
        }
        let (head, check) = raw.split_at(KEY_LEN - CHECK_LEN);
        (checksum(head) == check).then(|| ApiKeySecret(raw.to_string()))
    }

    /// The secret itself: shown once, to the person who created it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `atr_live_` and the first four characters: enough to tell keys apart in a list.
    pub fn display_prefix(&self) -> String {
        self.0[..PREFIX.len() + 4].to_string()
    }

    pub fn last4(&self) -> String {
        self.0[KEY_LEN - 4..].to_string()
    }
}

fn is_base62(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn checksum(text: &str) -> String {
    base62(&crc32fast::hash(text.as_bytes()).to_be_bytes(), CHECK_LEN)
}

/// Big-endian bytes as exactly `len` base62 digits (zero-padded on the left).
fn base62(bytes: &[u8], len: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = vec![b'0'; len];
    for slot in digits.iter_mut().rev() {
        let mut rem = 0u32;
        for byte in number.iter_mut() {
            let acc = (rem << 8) | u32::from(*byte);
            *byte = (acc / 62) as u8;
            rem = acc % 62;
        }
        *slot = ALPHABET[rem as usize];
    }
    String::from_utf8(digits).expect("ascii")
}

/// The key for hashing API keys, derived from the root secret. Debug never shows it.
#[derive(Clone)]
pub struct Pepper(std::sync::Arc<[u8; 32]>);

impl std::fmt::Debug for Pepper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pepper(..)")
    }
}

impl Pepper {
    pub fn derive(root_secret: &str) -> Pepper {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(root_secret.as_bytes()).expect("any key length");
        mac.update(b"atrium/api-key-pepper/v1");
        Pepper(std::sync::Arc::new(mac.finalize().into_bytes().into()))
    }

    pub fn hash(&self, key: &ApiKeySecret) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..]).expect("32-byte key");
        mac.update(key.0.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A keyed hash of another high-entropy secret (two-factor recovery codes), kept apart
    /// from API keys by its label.
    pub fn hash_labelled(&self, label: &str, value: &str) -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..]).expect("32-byte key");
        mac.update(label.as_bytes());
        mac.update(&[0]);
        mac.update(value.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// Names the pepper a key is hashed under (`api_keys.pepper_id`) without revealing it.
    pub fn id(&self) -> String {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0[..]).expect("32-byte key");
        mac.update(b"atrium/api-key-pepper-id/v1");
        hex::encode(&mac.finalize().into_bytes()[..8])
    }
}

/// The current pepper and, while the root secret is being rotated, the previous one: a key
/// found only under the previous pepper is accepted and re-hashed under the current one.
#[derive(Clone, Debug)]
pub struct Peppers {
    pub current: Pepper,
    pub previous: Option<Pepper>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_has_the_documented_shape() {
        for _ in 0..200 {
            let key = ApiKeySecret::generate();
            assert_eq!(key.expose().len(), KEY_LEN);
            assert!(key.expose().starts_with("atr_live_"));
            assert_eq!(ApiKeySecret::parse(key.expose()), Some(key.clone()));
            assert_eq!(key.display_prefix().len(), 13);
            assert!(!format!("{key:?}").contains(&key.expose()[13..KEY_LEN - 4]));
        }
    }

    #[test]
    fn any_changed_character_fails_the_checksum() {
        let key = ApiKeySecret::generate();
        let raw = key.expose().as_bytes().to_vec();
        for i in PREFIX.len()..raw.len() {
            for &c in ALPHABET.iter().step_by(7) {
                if c == raw[i] {
                    continue;
                }
                let mut changed = raw.clone();
                changed[i] = c;
                let changed = String::from_utf8(changed).unwrap();
                assert_eq!(ApiKeySecret::parse(&changed), None, "position {i}");
            }
        }
        assert_eq!(ApiKeySecret::parse(&key.expose()[..KEY_LEN - 1]), None);
        assert_eq!(ApiKeySecret::parse(&format!("{}x", key.expose())), None);
        assert_eq!(ApiKeySecret::parse(&key.expose().replace("atr_live_", "atr_test_")), None);
        assert_eq!(ApiKeySecret::parse(""), None);
    }

    #[test]
    fn base62_is_fixed_width_and_exact() {
        assert_eq!(base62(&[0, 0], 3), "000");
        assert_eq!(base62(&[0, 61], 3), "00z");
        assert_eq!(base62(&[0, 62], 3), "010");
        assert_eq!(base62(&[0xff; 32], BODY_LEN).len(), BODY_LEN);
    }

    #[test]
    fn the_hash_depends_on_the_pepper() {
        let key = ApiKeySecret::generate();
        let a = Pepper::derive("one secret that is long enough for the test");
        let b = Pepper::derive("another secret that is long enough for it");
        assert_ne!(a.hash(&key), b.hash(&key));
        assert_eq!(a.hash(&key), a.hash(&key));
    }
}
