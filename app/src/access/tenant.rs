//! The one way into a company's data: `enter` resolves the URL's slug against the caller,
//! and `Tenant::tx` opens a transaction that row-level security scopes to it.
use super::actor::require_actor;
use crate::audit::record::{Op, Who};
use crate::db::{self, Tx};
use crate::domain::{CompanyRef, Permission, Role};
use crate::error::AppError;
use crate::server_ctx::{request_meta, state, Actor};

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

    /// This request's operations in the company.
    pub fn op(&self) -> Op {
        Op { company: self.company.id, who: self.who(), meta: request_meta() }
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

/// A company found by its slug, whoever asks (`atrium_company_route`, migration 0010).
pub struct Route {
    pub company: CompanyRef,
    pub enabled: bool,
}

pub async fn route(slug: &str) -> Result<Option<Route>, AppError> {
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
/// the actor; only the super-admin's way in asks the database for the company, and needs an
/// open "act as" window for it.
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
