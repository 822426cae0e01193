//! The one way into a company's data: `enter` resolves the URL's slug against the session's
//! user, and `Tenant::tx` opens a transaction that row-level security scopes to it.
use super::{CompanyRef, ACT_AS_MINUTES};
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::db::{self, Tx};
use crate::domain::{Permission, Role};
use crate::error::AppError;
use crate::server_ctx::*;
use serde_json::json;

/// The company a request works in, and the actor's role there.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub actor: Actor,
    pub company: CompanyRef,
    pub enabled: bool,
    pub role: Role,
}

impl Tenant {
    pub async fn tx(&self) -> Result<Tx, AppError> {
        db::tenant(&state()?.pool, self.company.id, Some(self.actor.user_id)).await
    }

    /// The audit identity: the actor with their role here; a super-admin acting as the
    /// company carries the reason they gave, so each row names both.
    pub fn who(&self) -> Who {
        let mut who = Who::from(&self.actor);
        who.role = Some(self.role);
        who.acting_reason = self.actor.acting.as_ref().map(|a| a.reason.clone());
        who
    }

    pub fn may(&self, permission: Permission) -> bool {
        self.actor.grants.has(self.role, permission)
    }

    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden)
        }
    }
}

pub(crate) struct Route {
    pub company: CompanyRef,
    pub enabled: bool,
}

pub(crate) async fn route(slug: &str) -> Result<Option<Route>, AppError> {
    let st = state()?;
    let row = sqlx::query!(
        r#"SELECT id AS "id!", name AS "name!", slug AS "slug!", tenant_enabled AS "enabled!"
             FROM atrium_company_route($1)"#,
        slug
    )
    .fetch_optional(&st.pool)
    .await?;
    Ok(row.map(|r| Route { company: CompanyRef { id: r.id, name: r.name, slug: r.slug }, enabled: r.enabled }))
}

/// Resolves `/t/{slug}` for the signed-in actor. A company the actor may not enter is
/// reported as missing, exactly like one that does not exist. A member's companies came with
/// the actor; only the super-admin's way in asks the database for the company.
pub async fn enter(slug: &str) -> Result<Tenant, AppError> {
    let actor = require_actor().await?;
    if actor.role == Role::SuperAdmin {
        let Some(route) = route(slug).await? else { return Err(AppError::NotFound) };
        if !actor.acting.as_ref().is_some_and(|a| a.company_id == route.company.id) {
            return Err(AppError::ActAsRequired);
        }
        return Ok(Tenant { actor, company: route.company, enabled: route.enabled, role: Role::SuperAdmin });
    }
    let Some(m) = actor.memberships.iter().find(|m| m.slug == slug).cloned() else {
        return Err(AppError::NotFound);
    };
    let company = CompanyRef { id: m.id, name: m.name, slug: m.slug };
    if !m.enabled {
        return Err(AppError::TenantDisabled(company.name));
    }
    Ok(Tenant { actor, company, enabled: m.enabled, role: m.role })
}

/// `enter`, then the permission check: the first line of every company server function.
pub async fn require_in(slug: &str, permission: Permission) -> Result<Tenant, AppError> {
    let t = enter(slug).await?;
    t.require(permission)?;
    Ok(t)
}

pub async fn record_switch(t: &Tenant) -> Result<(), AppError> {
    let mut tx = t.tx().await?;
    let previous = sqlx::query_scalar!(
        r#"UPDATE sessions s SET tenant_id = $2, last_tenant_switch_at = now()
             FROM (SELECT tenant_id FROM sessions WHERE id = $1 FOR UPDATE) old
            WHERE s.id = $1 RETURNING old.tenant_id"#,
        t.actor.session_id,
        t.company.id,
    )
    .fetch_one(&mut *tx)
    .await?;
    if previous != Some(t.company.id) {
        record(
            &mut tx,
            &t.who(),
            &request_meta(),
            Event {
                company_id: Some(t.company.id),
                action: Action::TenantSwitch,
                resource: "session",
                resource_id: Some(t.actor.session_id.to_string()),
                severity: Severity::Info,
                details: json!({ "from": previous, "to": t.company.id }),
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

pub async fn start_acting(actor: &Actor, slug: &str, reason: &str) -> Result<(), AppError> {
    if actor.role != Role::SuperAdmin {
        return Err(AppError::Forbidden);
    }
    let reason = reason.trim();
    if reason.chars().count() < 5 {
        return Err(AppError::field("reason", "Say why you are opening this company (at least 5 characters)."));
    }
    if reason.chars().count() > 500 {
        return Err(AppError::field("reason", "Keep the reason under 500 characters."));
    }
    let Some(route) = route(slug).await? else { return Err(AppError::NotFound) };
    let mut tx = db::tenant(&state()?.pool, route.company.id, Some(actor.user_id)).await?;
    let until = sqlx::query_scalar!(
        r#"UPDATE sessions SET acting_company_id = $2, acting_until = now() + make_interval(mins => $3::int),
                  acting_reason = $4, tenant_id = $2, last_tenant_switch_at = now()
            WHERE id = $1 RETURNING acting_until AS "until!""#,
        actor.session_id,
        route.company.id,
        ACT_AS_MINUTES as i32,
        reason,
    )
    .fetch_one(&mut *tx)
    .await?;
    let mut who = Who::from(actor);
    who.acting_reason = Some(reason.to_string());
    record(
        &mut tx,
        &who,
        &request_meta(),
        Event {
            company_id: Some(route.company.id),
            action: Action::TenantActAs,
            resource: "company",
            resource_id: Some(route.company.id.to_string()),
            severity: Severity::Warning,
            details: json!({ "reason": reason, "until": crate::ui::time::rfc3339(until).iso, "minutes": ACT_AS_MINUTES }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn stop_acting(actor: &Actor) -> Result<(), AppError> {
    let Some(acting) = &actor.acting else { return Ok(()) };
    let mut tx = db::tenant(&state()?.pool, acting.company_id, Some(actor.user_id)).await?;
    sqlx::query!(
        "UPDATE sessions SET acting_company_id = NULL, acting_until = NULL, acting_reason = NULL WHERE id = $1",
        actor.session_id
    )
    .execute(&mut *tx)
    .await?;
    let mut who = Who::from(actor);
    who.acting_reason = Some(acting.reason.clone());
    record(
        &mut tx,
        &who,
        &request_meta(),
        Event {
            company_id: Some(acting.company_id),
            action: Action::TenantActAsEnd,
            resource: "company",
            resource_id: Some(acting.company_id.to_string()),
            severity: Severity::Info,
            details: json!({ "reason": acting.reason }),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Where a member lands after sign-in or at `/`: their home company while they are still an
/// active member there, else another company where they are.
pub async fn home_slug(
    pool: &sqlx::PgPool,
    user_id: uuid::Uuid,
    home: Option<uuid::Uuid>,
) -> Result<Option<String>, AppError> {
    let mut tx = db::account(pool, user_id).await?;
    let slug = sqlx::query_scalar!(
        "SELECT c.slug FROM memberships m JOIN companies c ON c.id = m.company_id
          WHERE m.user_id = $1 AND m.status = 'ACTIVE' AND c.deleted_at IS NULL
          ORDER BY c.id = $2 DESC, lower(c.name) LIMIT 1",
        user_id,
        home,
    )
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(slug)
}

/// Does a company's invitation wait for this account's answer?
pub async fn has_pending_invitations(pool: &sqlx::PgPool, user_id: uuid::Uuid) -> Result<bool, AppError> {
    let mut tx = db::account(pool, user_id).await?;
    let pending = sqlx::query_scalar!(
        r#"SELECT EXISTS (SELECT 1 FROM memberships WHERE user_id = $1 AND status = 'INVITED') AS "pending!""#,
        user_id
    )
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(pending)
}
