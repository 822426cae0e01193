//! The second factor's secrets: TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps, one step of
//! clock skew either way, as every authenticator app expects) and one-time recovery codes.
use super::Enrollment;
use crate::api_keys::secret::Pepper;
use crate::integrations::crypto::{CryptoError, Keyring};
use totp_rs::{Algorithm, TOTP};
use uuid::Uuid;

pub const ISSUER: &str = "Atrium";
const STEP: u64 = 30;
/// Recovery codes issued at a time.
pub const RECOVERY_CODES: usize = 10;

/// A new secret: 160 random bits (RFC 4226's recommendation).
pub fn new_secret() -> Vec<u8> {
    rand::random::<[u8; 20]>().to_vec()
}

fn totp(secret: &[u8], account: &str) -> TOTP {
    // The account name is only the label an app shows; otpauth refuses a ':' in it, which an
    // email address may hold.
    let label = account.replace(':', "");
    TOTP::new_unchecked(Algorithm::SHA1, 6, 1, STEP, secret.to_vec(), Some(ISSUER.into()), label)
}

/// What an authenticator app needs: the otpauth:// address as a QR code (SVG, drawn here on
/// the server), and the secret to type in by hand.
pub fn enrollment(secret: &[u8], account: &str) -> Enrollment {
    let t = totp(secret, account);
    let uri = t.get_url();
    let qr_svg = qrcode::QrCode::new(uri.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color>()
                .min_dimensions(200, 200)
                .quiet_zone(true)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .build()
        })
        .unwrap_or_default();
    let base32 = t.get_secret_base32();
    let grouped =
        base32.as_bytes().chunks(4).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(" ");
    Enrollment { secret: grouped, uri, qr_svg }
}

/// The time step a code belongs to, if it is right for now (± one step) and newer than
/// `after` (the last step accepted): a code is never accepted twice.
pub fn check(secret: &[u8], account: &str, code: &str, now: u64, after: Option<i64>) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let t = totp(secret, account);
    let current = (now / STEP) as i64;
    (current - 1..=current + 1).filter(|step| after.is_none_or(|a| *step > a)).find(|step| {
        let expected = t.generate(*step as u64 * STEP);
        // Constant time over the six digits.
        expected.bytes().zip(code.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    })
}

/// Could this be a code at all (six digits, or a recovery code)? What cannot be is refused as
/// bad input before the throttle counts a guess.
pub fn plausible(code: &str) -> bool {
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let recovery: String = code.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()))
        || (recovery.len() == 10 && recovery.to_ascii_lowercase().bytes().all(|b| CODE_ALPHABET.contains(&b)))
}

pub fn now() -> u64 {
    time::OffsetDateTime::now_utc().unix_timestamp() as u64
}

fn binding(user: Uuid) -> String {
    format!("totp:{user}")
}

pub fn seal(keyring: &Keyring, user: Uuid, secret: &[u8]) -> (Vec<u8>, i32) {
    keyring.seal(Uuid::nil(), "totp", &binding(user), secret)
}

pub fn open(keyring: &Keyring, user: Uuid, sealed: &[u8], version: i32) -> Result<Vec<u8>, CryptoError> {
    keyring.open(Uuid::nil(), "totp", &binding(user), sealed, version)
}

const CODE_ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";

/// Ten codes of ten characters (about 49 bits each), shown once as `xxxxx-xxxxx`, and the
/// keyed hashes that alone are stored.
pub fn recovery_codes(pepper: &Pepper) -> (Vec<String>, Vec<Vec<u8>>) {
    use rand::Rng;
    let mut rng = rand::rngs::OsRng;
    let codes: Vec<String> = (0..RECOVERY_CODES)
        .map(|_| {
            let raw: String = (0..10).map(|_| CODE_ALPHABET[rng.gen_range(0..CODE_ALPHABET.len())] as char).collect();
            format!("{}-{}", &raw[..5], &raw[5..])
        })
        .collect();
    let hashes = codes.iter().map(|c| hash_code(pepper, c).to_vec()).collect();
    (codes, hashes)
}

/// The hash a typed recovery code is looked up by (case, spaces and the dash do not matter);
/// None when it cannot be a code.
pub fn recovery_hash(pepper: &Pepper, typed: &str) -> Option<Vec<u8>> {
    let norm: String = typed.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
    (norm.len() == 10 && norm.bytes().all(|b| CODE_ALPHABET.contains(&b)))
        .then(|| hash_code(pepper, &format!("{}-{}", &norm[..5], &norm[5..])).to_vec())
}

fn hash_code(pepper: &Pepper, code: &str) -> [u8; 32] {
    pepper.hash_labelled("atrium/recovery-code/v1", code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_rfc_6238_and_are_accepted_once() {
        // RFC 6238, appendix B: the SHA-1 seed "12345678901234567890" at T = 59 s gives 94287082
        // (8 digits); its last six digits are the 6-digit code.
        let seed = b"12345678901234567890";
        assert_eq!(check(seed, "a@b.test", "287082", 59, None), Some(1));
        assert_eq!(check(seed, "a@b.test", "287 082", 59, None), Some(1));
        // The same code again, once step 1 was accepted: refused.
        assert_eq!(check(seed, "a@b.test", "287082", 59, Some(1)), None);
        // One step of skew either way, not two.
        assert_eq!(check(seed, "a@b.test", "287082", 59 + 30, None), Some(1));
        assert_eq!(check(seed, "a@b.test", "287082", 59 + 60, None), None);
        assert_eq!(check(seed, "a@b.test", "28708", 59, None), None);
        assert_eq!(check(seed, "a@b.test", "abcdef", 59, None), None);
    }

    #[test]
    fn recovery_codes_hash_the_same_however_they_are_typed() {
        let pepper = Pepper::derive("a root secret of some length, for the test");
        let (codes, hashes) = recovery_codes(&pepper);
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        let typed = codes[3].to_uppercase().replace('-', " ");
        assert_eq!(recovery_hash(&pepper, &typed).as_ref(), Some(&hashes[3]));
        assert_eq!(recovery_hash(&pepper, "short"), None);
        assert_eq!(recovery_hash(&pepper, "aaaaa-aaaa1"), None);
    }

    #[test]
    fn an_address_with_a_colon_still_enrols() {
        let e = enrollment(&new_secret(), "\"a:b\"@acme.test");
        assert!(e.uri.starts_with("otpauth://totp/Atrium:"), "{}", e.uri);
        assert_eq!(check(b"12345678901234567890", "\"a:b\"@acme.test", "287082", 59, None), Some(1));
    }

    #[test]
    fn the_qr_code_is_svg_and_carries_the_otpauth_address() {
        let e = enrollment(&new_secret(), "ann@acme.test");
        assert!(e.uri.starts_with("otpauth://totp/Atrium:ann%40acme.test?secret="), "{}", e.uri);
        assert!(e.uri.contains("issuer=Atrium"));
        assert!(e.qr_svg.contains("<svg") && e.qr_svg.contains("</svg>"));
        assert_eq!(e.secret.replace(' ', "").len(), 32);
    }
}
