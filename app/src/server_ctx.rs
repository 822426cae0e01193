//! Server-side plumbing shared by every server function: the state, the request's metadata,
//! the signed-in actor, authorization and error mapping.
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
    /// Seals and opens integration credentials (derived from ATRIUM_SECRET_KEY).
    pub credentials: crate::integrations::crypto::Keyring,
    /// Where integration endpoints may point (checked when saved and before every send).
    pub egress: crate::integrations::egress::Egress,
    /// Audit exports: their own pool and caps.
    pub exports: std::sync::Arc<crate::audit::export::ExportGate>,
    /// The operator's audit retention floor and platform period.
    pub audit_policy: crate::audit::retention::Policy,
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

/// The signed-in user, loaded once per request (see `RequestScope`) with everything the
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

impl From<sqlx::Error> for AppError {
    fn from(e: sqlx::Error) -> Self {
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

/// Loads the signed-in actor from the session, or None. Revoked, expired or suspended
/// sessions count as signed out.
pub async fn load_actor(pool: &PgPool, session: &Session) -> Result<Option<Actor>, AppError> {
    let Some(auth) = session.get::<SessionAuth>(SESSION_AUTH_KEY).await.map_err(internal)? else {
        return Ok(None);
    };
    load_actor_for(pool, auth).await
}

/// What one request knows about its caller. The server's middleware reads the session's
/// sign-in once and puts this in the request; the actor is loaded on first use and shared by
/// the middleware and every server function the request runs (a page renders many).
///
/// So authorization is decided once per request: a server function that changes the caller's
/// own session, membership, role or act-as window answers with a redirect (a new request)
/// rather than authorizing again within the same one.
#[derive(Clone, Debug)]
pub struct RequestScope(std::sync::Arc<ScopeInner>);

#[derive(Debug)]
struct ScopeInner {
    auth: Option<SessionAuth>,
    actor: tokio::sync::OnceCell<Option<Actor>>,
}

impl RequestScope {
    pub fn new(auth: Option<SessionAuth>) -> Self {
        RequestScope(std::sync::Arc::new(ScopeInner { auth, actor: tokio::sync::OnceCell::new() }))
    }

    pub async fn actor(&self, pool: &PgPool) -> Result<Option<Actor>, AppError> {
        let loaded = self
            .0
            .actor
            .get_or_try_init(|| async {
                match &self.0.auth {
                    Some(auth) => load_actor_for(pool, auth.clone()).await,
                    None => Ok(None),
                }
            })
            .await?;
        Ok(loaded.clone())
    }
}

pub async fn load_actor_for(pool: &PgPool, auth: SessionAuth) -> Result<Option<Actor>, AppError> {
    // One round trip: the function makes the account transaction's settings itself, local to
    // this statement (migration 0016), so it runs on the pool, outside any transaction.
    let row = sqlx::query!(
        r#"SELECT id AS "id!", email AS "email!", name AS "name!", role AS "role!: Role",
                  company_id, allowed_tenants AS "allowed_tenants!", acting_company_id, acting_until, acting_reason,
                  memberships AS "memberships!: sqlx::types::Json<Vec<Membership>>",
                  grants AS "grants!: sqlx::types::Json<Grants>"
             FROM atrium_request_actor($1, $2)"#,
        auth.session_id,
        auth.user_id,
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|r| Actor {
        user_id: r.id,
        email: r.email,
        name: r.name,
        role: r.role,
        company_id: r.company_id,
        allowed_tenants: r.allowed_tenants,
        session_id: auth.session_id,
        acting: match (r.acting_company_id, r.acting_until) {
            (Some(company_id), Some(until)) if r.role == Role::SuperAdmin => {
                Some(Acting { company_id, until, reason: r.acting_reason.unwrap_or_default() })
            }
            _ => None,
        },
        memberships: r.memberships.0,
        grants: r.grants.0,
    }))
}

/// The request's actor: loaded once per request and shared (see `RequestScope`).
pub async fn current_actor() -> Result<Option<Actor>, AppError> {
    let st = state()?;
    match use_context::<Parts>().and_then(|p| p.extensions.get::<RequestScope>().cloned()) {
        Some(scope) => scope.actor(&st.pool).await,
        // Outside the server's middleware (never in a served request).
        None => load_actor(&st.pool, &session()?).await,
    }
}

/// The signed-in actor, or 401.
pub async fn require_actor() -> Result<Actor, AppError> {
    current_actor()
        .await?
        .ok_or_else(|| AppError::Unauthenticated("Your session has ended. Please sign in again.".into()))
}

/// A platform-level check (companies, the cross-company views): the actor's own role must
/// hold `permission`, else 403. Company pages use `tenancy::require_in` instead.
pub async fn require(permission: Permission) -> Result<Actor, AppError> {
    let actor = require_actor().await?;
    if actor.grants.has(actor.role, permission) {
        Ok(actor)
    } else {
        Err(AppError::Forbidden)
    }
}

/// A cross-company view: the super-admin only (platform roles stand above companies), and
/// their role must still hold `permission`.
pub async fn require_platform(permission: Permission) -> Result<Actor, AppError> {
    let actor = require(permission).await?;
    if actor.role != Role::SuperAdmin {
        return Err(AppError::Forbidden);
    }
    Ok(actor)
}

impl Actor {
    /// May this actor enter the company? Its own companies, or any for the super-admin.
    pub fn can_enter(&self, company_id: Uuid) -> bool {
        self.role == Role::SuperAdmin || self.allowed_tenants.contains(&company_id)
    }
}
