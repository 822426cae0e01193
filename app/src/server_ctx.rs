//! The plain types every request carries (the process's state, the request's metadata, the
//! signed-in actor as loaded) and the accessors that find them in a server function's
//! context. A leaf: it decides nothing (that is `access`) and imports no service.
use crate::domain::Role;
use crate::error::AppError;
use http::request::Parts;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use tower_sessions::Session;
use uuid::Uuid;

/// What the server process shares with every request.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Cookies get `Secure` when Atrium is served over https.
    pub secure_cookies: bool,
    pub production: bool,
    /// Hashes API keys issued from the console (derived from ATRIUM_SECRET_KEY).
    pub pepper: crate::api_keys::secret::Pepper,
    /// The pepper under ATRIUM_SECRET_KEY_PREVIOUS during a rotation (recovery codes hashed
    /// before it still work).
    pub pepper_previous: Option<crate::api_keys::secret::Pepper>,
    /// Seals and opens integration credentials (derived from ATRIUM_SECRET_KEY).
    pub credentials: crate::integrations::crypto::Keyring,
    /// Where integration endpoints may point (checked when saved and before every send).
    pub egress: crate::integrations::egress::Egress,
    /// Audit exports: their own pool and caps.
    pub exports: std::sync::Arc<crate::audit::export_gate::ExportGate>,
    /// The operator's audit retention floor and platform period.
    pub audit_policy: crate::audit::policy::Policy,
    /// Maintenance mode as this process last heard it (for the banner).
    pub maintenance: std::sync::Arc<crate::maintenance::Switch>,
    /// Whether mail is sent (ATRIUM_SMTP_URL), and the address links start with.
    pub mail: crate::mail::Outgoing,
}

/// Set by the server's middleware on every request.
#[derive(Clone, Debug)]
pub struct RequestMeta {
    pub request_id: String,
    pub ip: Option<std::net::IpAddr>,
    pub user_agent: Option<String>,
}

/// What the cookie session holds: the row in `sessions` that this browser signed in as.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionAuth {
    pub user_id: Uuid,
    pub session_id: Uuid,
}
pub const SESSION_AUTH_KEY: &str = "auth";

/// The signed-in user, loaded once per request (see `access::RequestScope`) with everything the
/// frame and the authorization checks need, so a page asks the database for them once.
#[derive(Clone, Debug)]
pub struct Actor {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub company_id: Option<Uuid>,
    pub allowed_tenants: Vec<Uuid>,
    pub session_id: Uuid,
    /// Only while the window is open.
    pub acting: Option<Acting>,
    /// The companies where the membership is active, by name: the switcher's list and the
    /// member's way into `/t/{slug}`. A pending invitation grants nothing, so it is not here.
    pub memberships: Vec<Membership>,
    /// Every role's permissions, as `role_permissions` said when the request began.
    pub grants: Grants,
    /// When the session ends (a kept actor is never used past it).
    pub session_expires_at: time::OffsetDateTime,
}

/// An active membership of a company that is not deleted.
#[derive(Clone, Debug, Deserialize)]
pub struct Membership {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub role: Role,
    pub enabled: bool,
}

/// Which permissions each role holds (`role_permissions`, the one source of grants).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(from = "std::collections::HashMap<Role, Vec<String>>")]
pub struct Grants(std::sync::Arc<std::collections::HashMap<Role, Vec<String>>>);

impl From<std::collections::HashMap<Role, Vec<String>>> for Grants {
    fn from(map: std::collections::HashMap<Role, Vec<String>>) -> Self {
        Grants(std::sync::Arc::new(map))
    }
}

impl Grants {
    pub fn has(&self, role: Role, permission: Permission) -> bool {
        self.0.get(&role).is_some_and(|names| names.iter().any(|n| n == permission.name()))
    }

    /// The role's permission names, sorted.
    pub fn of(&self, role: Role) -> Vec<String> {
        self.0.get(&role).cloned().unwrap_or_default()
    }
}

pub use crate::domain::Permission;

/// A super-admin's current "act as company" window, from their session row.
#[derive(Clone, Debug)]
pub struct Acting {
    pub company_id: Uuid,
    pub until: time::OffsetDateTime,
    pub reason: String,
}

pub fn state() -> Result<AppState, AppError> {
    use_context::<AppState>().ok_or_else(|| internal("AppState missing from context"))
}

pub fn request_meta() -> RequestMeta {
    use_context::<Parts>().and_then(|p| p.extensions.get::<RequestMeta>().cloned()).unwrap_or(RequestMeta {
        request_id: "-".into(),
        ip: None,
        user_agent: None,
    })
}

pub fn session() -> Result<Session, AppError> {
    use_context::<Parts>()
        .and_then(|p| p.extensions.get::<Session>().cloned())
        .ok_or_else(|| internal("session layer missing"))
}

/// Logs the cause with the request id and hands the client only the id.
pub fn internal(cause: impl std::fmt::Display) -> AppError {
    let meta = request_meta();
    tracing::error!(request_id = %meta.request_id, "internal error: {cause}");
    AppError::Internal(meta.request_id)
}

/// What a client is told to wait when the database cannot be reached.
pub const DATABASE_RETRY_SECONDS: i64 = 5;

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
        // Maintenance mode refused the change (migration 0019): the client may try again.
        if let sqlx::Error::Database(d) = &e {
            if d.code().as_deref() == Some(crate::maintenance::REFUSED_SQLSTATE) {
                retry_after(crate::maintenance::RETRY_SECONDS);
                return AppError::Unavailable(d.message().to_string());
            }
        }
        // PostgreSQL is down or restarting, or every connection is busy for seconds: not a bug
        // to hide behind a request id, but a moment to wait.
        // SQLSTATE class 08 (connection exception) and 57P (the server shutting down or starting:
        // a backend ended by `pg_ctl stop -m fast` answers 57P01) are the same moment seen from
        // inside a statement.
        let shutting_down = matches!(&e, sqlx::Error::Database(d)
            if d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")));
        if shutting_down
            || matches!(
                e,
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) | sqlx::Error::Tls(_)
            )
        {
            tracing::warn!(request_id = %request_meta().request_id, "database unreachable: {e}");
            retry_after(DATABASE_RETRY_SECONDS);
            return AppError::Unavailable(
                "The database cannot be reached just now. Try again in a few seconds.".into(),
            );
        }
        internal(e)
    }
}

/// Tells the client when to try again (429 and 503 answers).
pub fn retry_after(seconds: i64) {
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.insert_header(http::header::RETRY_AFTER, http::HeaderValue::from(seconds.max(1)));
    }
}

/// Is this a browser's plain form post (no wasm yet), which expects a page back?
pub fn plain_form_post() -> bool {
    use_context::<Parts>()
        .and_then(|p| {
            p.headers.get(http::header::ACCEPT).and_then(|v| v.to_str().ok()).map(|v| v.contains("text/html"))
        })
        .unwrap_or(false)
}

const FLASH_KEY: &str = "flash";

/// A flashed value lives this long: long enough to follow a redirect.
const FLASH_MINUTES: i64 = 5;

/// What the session store holds for a flash: the value sealed (AES-GCM under the root key,
/// bound to its expiry), never the one-time link or key itself.
#[derive(Serialize, Deserialize)]
struct SealedFlash {
    sealed: String,
    version: i32,
    expires: i64,
}

fn flash_binding(expires: i64) -> String {
    format!("session-flash:{expires}")
}

/// Keeps a value for the next page this browser loads (and only that one). A plain form
/// post cannot receive a server function's answer, so a one-time link travels this way.
pub async fn set_flash<T: Serialize>(value: &T) -> Result<(), AppError> {
    let plain = serde_json::to_vec(value).map_err(internal)?;
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::minutes(FLASH_MINUTES)).unix_timestamp();
    let (sealed, version) = state()?.credentials.seal(Uuid::nil(), "flash", &flash_binding(expires), &plain);
    let flash = SealedFlash { sealed: hex::encode(sealed), version, expires };
    session()?.insert(FLASH_KEY, flash).await.map_err(internal)
}

pub async fn take_flash<T: serde::de::DeserializeOwned>() -> Result<Option<T>, AppError> {
    let Some(flash) = session()?.remove::<SealedFlash>(FLASH_KEY).await.ok().flatten() else { return Ok(None) };
    if flash.expires < time::OffsetDateTime::now_utc().unix_timestamp() {
        return Ok(None);
    }
    let sealed = hex::decode(&flash.sealed).map_err(internal)?;
    let plain = state()?
        .credentials
        .open(Uuid::nil(), "flash", &flash_binding(flash.expires), &sealed, flash.version)
        .map_err(internal)?;
    Ok(serde_json::from_slice(&plain).ok())
}
