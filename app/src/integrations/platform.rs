//! What each platform's config holds, the endpoint rule, and the credentials' shape: input
//! parsed into these types at the edge, and trusted after that.
use super::Platform;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

#[derive(Clone, Copy, Debug)]
pub enum FieldKind {
    /// Letters, digits, `-` and `_`, 1 to 64 characters.
    Ident,
    /// One of the listed values.
    OneOf(&'static [&'static str]),
    /// Three capital letters (ISO 4217).
    Currency,
    Bool,
    Int {
        min: i64,
        max: i64,
    },
}

#[derive(Clone, Copy, Debug)]
pub struct ConfigField {
    pub key: &'static str,
    pub kind: FieldKind,
    pub required: bool,
    pub help: &'static str,
}

const BENEVITY: &[ConfigField] = &[
    ConfigField {
        key: "program_id",
        kind: FieldKind::Ident,
        required: true,
        help: "Your Benevity giving programme id.",
    },
    ConfigField {
        key: "currency",
        kind: FieldKind::Currency,
        required: false,
        help: "ISO 4217 code of reported amounts (USD if unset).",
    },
    ConfigField {
        key: "include_matching",
        kind: FieldKind::Bool,
        required: false,
        help: "Send company matches with donations (true if unset).",
    },
];

const GOODERA: &[ConfigField] = &[
    ConfigField {
        key: "organization_id",
        kind: FieldKind::Ident,
        required: true,
        help: "Your Goodera organisation id.",
    },
    ConfigField {
        key: "region",
        kind: FieldKind::OneOf(&["us", "eu", "apac"]),
        required: false,
        help: "Data region: us, eu or apac (us if unset).",
    },
    ConfigField {
        key: "send_volunteer_hours",
        kind: FieldKind::Bool,
        required: false,
        help: "Send volunteer hours as well as events (true if unset).",
    },
];

const WORKDAY: &[ConfigField] = &[
    ConfigField { key: "tenant", kind: FieldKind::Ident, required: true, help: "Your Workday tenant name." },
    ConfigField {
        key: "worker_id_field",
        kind: FieldKind::OneOf(&["employee_id", "email"]),
        required: false,
        help: "How workers are matched: employee_id or email.",
    },
    ConfigField {
        key: "sync_interval_hours",
        kind: FieldKind::Int { min: 1, max: 168 },
        required: false,
        help: "Hours between scheduled syncs, 1 to 168 (24 if unset).",
    },
];

pub fn fields(platform: Platform) -> &'static [ConfigField] {
    match platform {
        Platform::Benevity => BENEVITY,
        Platform::Goodera => GOODERA,
        Platform::Workday => WORKDAY,
    }
}

fn check(field: &ConfigField, v: &Value) -> Result<(), String> {
    let ok = match field.kind {
        FieldKind::Ident => v.as_str().is_some_and(|s| {
            (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        }),
        FieldKind::OneOf(values) => v.as_str().is_some_and(|s| values.contains(&s)),
        FieldKind::Currency => v.as_str().is_some_and(|s| s.len() == 3 && s.chars().all(|c| c.is_ascii_uppercase())),
        FieldKind::Bool => v.is_boolean(),
        FieldKind::Int { min, max } => v.as_i64().is_some_and(|n| (min..=max).contains(&n)),
    };
    if ok {
        return Ok(());
    }
    Err(match field.kind {
        FieldKind::Ident => format!("\u{201c}{}\u{201d} must be 1 to 64 letters, digits, - or _.", field.key),
        FieldKind::OneOf(values) => format!("\u{201c}{}\u{201d} must be one of {}.", field.key, values.join(", ")),
        FieldKind::Currency => format!("\u{201c}{}\u{201d} must be a currency code such as USD.", field.key),
        FieldKind::Bool => format!("\u{201c}{}\u{201d} must be true or false.", field.key),
        FieldKind::Int { min, max } => {
            format!("\u{201c}{}\u{201d} must be a whole number from {min} to {max}.", field.key)
        }
    })
}

/// The platform's config: a JSON object of known keys with valid values. All problems are
/// reported at once.
pub fn parse_config(platform: Platform, raw: &str) -> Result<Value, String> {
    let raw = raw.trim();
    let value: Value = if raw.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_str(raw).map_err(|e| format!("The config is not valid JSON: {e}."))?
    };
    let Some(obj) = value.as_object() else {
        return Err("The config must be a JSON object, such as {\"region\": \"eu\"}.".into());
    };
    let known = fields(platform);
    let mut problems = Vec::new();
    for key in obj.keys() {
        if !known.iter().any(|f| f.key == key) {
            let names: Vec<_> = known.iter().map(|f| f.key).collect();
            problems.push(format!(
                "\u{201c}{key}\u{201d} is not a {} setting (known: {}).",
                platform.label(),
                names.join(", ")
            ));
        }
    }
    for f in known {
        match obj.get(f.key) {
            Some(v) => {
                if let Err(e) = check(f, v) {
                    problems.push(e);
                }
            }
            None if f.required => problems.push(format!("\u{201c}{}\u{201d} is required.", f.key)),
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(value)
    } else {
        Err(problems.join(" "))
    }
}

/// The delivery endpoint: https, or http to this machine while developing.
pub fn parse_endpoint(raw: &str, allow_loopback_http: bool) -> Result<String, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err("Give the https URL deliveries are sent to.".into());
    }
    let uri: http::Uri = raw.parse().map_err(|_| format!("\u{201c}{raw}\u{201d} is not a URL."))?;
    let host = uri.host().unwrap_or_default().to_ascii_lowercase();
    if host.is_empty() {
        return Err("The URL needs a host, such as https://hooks.example.com/atrium.".into());
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err("Put credentials in the credential fields, not in the URL.".into());
    }
    let loopback = matches!(host.as_str(), "localhost" | "127.0.0.1" | "[::1]" | "::1");
    match uri.scheme_str() {
        Some("https") => Ok(raw.to_string()),
        Some("http") if loopback && allow_loopback_http => Ok(raw.to_string()),
        Some("http") if loopback => Err("Use https. Plain http to this machine is allowed only in development.".into()),
        Some("http") => Err("Use https: deliveries carry your data and must be encrypted.".into()),
        _ => Err("The URL must start with https://.".into()),
    }
}

/// The origin (scheme, host, port) credentials are bound to: `https://hooks.example.com:443`.
/// Empty for no endpoint.
pub fn origin(endpoint: &str) -> String {
    let Ok(uri) = endpoint.trim().parse::<http::Uri>() else { return String::new() };
    let (Some(scheme), Some(host)) = (uri.scheme_str(), uri.host()) else { return String::new() };
    let port = uri.port_u16().unwrap_or(if scheme == "http" { 80 } else { 443 });
    format!("{}://{}:{port}", scheme.to_ascii_lowercase(), host.to_ascii_lowercase())
}

/// What the encrypted blob holds. Never Serialize outside this module's sealing, never logged.
#[derive(Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    /// Sent as `Authorization: Bearer` with each delivery, when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token: Option<String>,
    /// The Standard Webhooks signing secret: `whsec_` and base64 of 24 to 64 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_secret: Option<String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("api_token", &self.api_token.as_ref().map(|_| "[set]"))
            .field("signing_secret", &self.signing_secret.as_ref().map(|_| "[set]"))
            .finish()
    }
}

impl Credentials {
    /// The HMAC key a signing secret stands for.
    pub fn signing_key(&self) -> Option<Vec<u8>> {
        self.signing_secret.as_deref().and_then(|s| decode_secret(s).ok())
    }

    /// Every secret value, for scrubbing them out of stored response excerpts.
    pub fn values(&self) -> Vec<&str> {
        self.api_token.iter().chain(self.signing_secret.iter()).map(String::as_str).filter(|s| s.len() >= 4).collect()
    }
}

fn decode_secret(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine;
    let body = s.strip_prefix("whsec_").ok_or("A signing secret starts with whsec_.")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(body)
        .map_err(|_| "After whsec_, the signing secret must be base64.".to_string())?;
    if !(24..=64).contains(&bytes.len()) {
        return Err("The signing secret must hold 24 to 64 bytes (32 to 88 base64 characters).".into());
    }
    Ok(bytes)
}

pub fn parse_signing_secret(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    decode_secret(s)?;
    Ok(s.to_string())
}

pub fn parse_api_token(raw: &str) -> Result<String, String> {
    let s = raw.trim();
    if s.len() < 8 || s.len() > 4096 || s.chars().any(|c| c.is_control() || c == ' ') {
        return Err("An API token is 8 to 4096 characters with no spaces.".into());
    }
    Ok(s.to_string())
}

/// A fresh signing secret, for the form's "generate" link and for tests.
pub fn generate_signing_secret() -> String {
    use base64::Engine;
    format!("whsec_{}", base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 32]>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configs_hold_only_known_keys_with_valid_values() {
        assert!(parse_config(Platform::Goodera, r#"{"organization_id": "org-1", "region": "eu"}"#).is_ok());
        let e = parse_config(Platform::Goodera, r#"{"organization_id": "org 1", "region": "mars", "colour": 1}"#)
            .unwrap_err();
        assert!(e.contains("colour") && e.contains("not a Goodera setting"), "{e}");
        assert!(e.contains("one of us, eu, apac"), "{e}");
        assert!(e.contains("organization_id"), "{e}");
        assert!(parse_config(Platform::Workday, "{}").unwrap_err().contains("\u{201c}tenant\u{201d} is required"));
        assert!(parse_config(Platform::Workday, "[1]").unwrap_err().contains("JSON object"));
        assert!(parse_config(Platform::Workday, "{nope").unwrap_err().contains("not valid JSON"));
        let e = parse_config(Platform::Workday, r#"{"tenant": "acme", "sync_interval_hours": 0}"#).unwrap_err();
        assert!(e.contains("1 to 168"), "{e}");
    }

    #[test]
    fn an_origin_is_scheme_host_and_port() {
        assert_eq!(origin("https://Hooks.Example.com/a?b"), "https://hooks.example.com:443");
        assert_eq!(origin("https://hooks.example.com:443/other"), "https://hooks.example.com:443");
        assert_eq!(origin("http://127.0.0.1:9000/hook"), "http://127.0.0.1:9000");
        assert_ne!(origin("https://hooks.example.com/a"), origin("https://hooks.example.com.evil.test/a"));
        assert_eq!(origin(""), "");
    }

    #[test]
    fn endpoints_are_https_or_loopback_http_in_development() {
        assert!(parse_endpoint("https://hooks.example.com/a", false).is_ok());
        assert!(parse_endpoint("http://hooks.example.com/a", true).unwrap_err().contains("Use https"));
        assert!(parse_endpoint("http://127.0.0.1:9000/a", true).is_ok());
        assert!(parse_endpoint("http://localhost:9000/a", false).unwrap_err().contains("only in development"));
        assert!(parse_endpoint("ftp://example.com", true).is_err());
        assert!(parse_endpoint("https://user:pw@example.com", true).unwrap_err().contains("credential"));
        assert!(parse_endpoint("not a url", true).is_err());
    }

    #[test]
    fn signing_secrets_follow_standard_webhooks() {
        let s = generate_signing_secret();
        assert_eq!(parse_signing_secret(&s).unwrap(), s);
        assert!(parse_signing_secret("whsec_c2hvcnQ=").is_err());
        assert!(parse_signing_secret("secret").is_err());
        let c = Credentials { api_token: Some("tok_12345678".into()), signing_secret: Some(s) };
        assert_eq!(c.signing_key().unwrap().len(), 32);
        assert!(!format!("{c:?}").contains("tok_"));
    }
}
