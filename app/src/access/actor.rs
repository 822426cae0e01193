//! The caller: the signed-in actor, loaded once per request, and the platform-level checks.
use super::cache::ActorCache;
use crate::domain::{Permission, Role};
use crate::error::AppError;
use crate::server_ctx::{internal, session, state, Acting, Actor, Grants, Membership, SessionAuth, SESSION_AUTH_KEY};
use http::request::Parts;
use leptos::prelude::use_context;
use sqlx::PgPool;
use std::sync::Arc;
use tower_sessions::Session;

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
#[derive(Clone)]
pub struct RequestScope(Arc<ScopeInner>);

struct ScopeInner {
    auth: Option<SessionAuth>,
    actor: tokio::sync::OnceCell<Option<Actor>>,
    kept: Option<Arc<ActorCache>>,
}

impl std::fmt::Debug for RequestScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestScope").field("auth", &self.0.auth).finish_non_exhaustive()
    }
}

impl RequestScope {
    /// `kept`: the process's actor cache, if it keeps actors between requests.
    pub fn new(auth: Option<SessionAuth>, kept: Option<Arc<ActorCache>>) -> Self {
        RequestScope(Arc::new(ScopeInner { auth, actor: tokio::sync::OnceCell::new(), kept }))
    }

    /// Did the request come with a sign-in (not yet checked against the database)?
    pub fn signed_in(&self) -> bool {
        self.0.auth.is_some()
    }

    pub async fn actor(&self, pool: &PgPool) -> Result<Option<Actor>, AppError> {
        let loaded = self
            .0
            .actor
            .get_or_try_init(|| async {
                let Some(auth) = &self.0.auth else { return Ok(None) };
                let Some(kept) = &self.0.kept else { return load_actor_for(pool, auth.clone()).await };
                if let Some(actor) = kept.get(auth) {
                    return Ok(Some(actor));
                }
                let epoch = kept.epoch();
                let actor = load_actor_for(pool, auth.clone()).await?;
                if let Some(a) = &actor {
                    kept.keep(a, epoch);
                }
                Ok(actor)
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
                  grants AS "grants!: sqlx::types::Json<Grants>", session_expires_at AS "session_expires_at!"
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
        session_expires_at: r.session_expires_at,
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
/// hold `permission`, else 403. Company pages use `require_in` instead.
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
