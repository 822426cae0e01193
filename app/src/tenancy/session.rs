//! Where a session works: the company it switched to, the super-admin's act-as window, and
//! where a member lands. Who may enter a company is `access::enter`; these record the move.
use super::ACT_AS_MINUTES;
use crate::access::{route, Tenant};
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::db;
use crate::domain::Role;
use crate::error::AppError;
use crate::server_ctx::{request_meta, state, Actor};
use serde_json::json;

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
            Event::new(Action::TenantSwitch, "session")
                .company(t.company.id)
                .on(t.actor.session_id)
                .details(json!({ "from": previous, "to": t.company.id })),
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
        Event::new(Action::TenantActAs, "company")
            .company(route.company.id)
            .on(route.company.id)
            .severity(Severity::Warning)
            .details(
                json!({ "reason": reason, "until": crate::ui::time::rfc3339(until).iso, "minutes": ACT_AS_MINUTES }),
            ),
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
        Event::new(Action::TenantActAsEnd, "company")
            .company(acting.company_id)
            .on(acting.company_id)
            .details(json!({ "reason": acting.reason })),
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
