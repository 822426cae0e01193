//! Transactions that carry their tenant. Request-serving connections run as `atrium_app`,
//! whose row-level security policies read `app.company_id` and `app.user_id`; these helpers
//! are the only place those settings are made, and always with `is_local`, so they end with
//! the transaction and never leak to the next user of the pooled connection.
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::domain::Role;
use crate::error::AppError;
use crate::server_ctx::{Actor, RequestMeta};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

pub type Tx = Transaction<'static, Postgres>;

async fn begin_with(pool: &PgPool, company: Option<Uuid>, user: Option<Uuid>) -> Result<Tx, AppError> {
    let mut tx = pool.begin().await?;
    let company = company.map(|c| c.to_string()).unwrap_or_default();
    let user = user.map(|u| u.to_string()).unwrap_or_default();
    sqlx::query!(
        r#"SELECT set_config('app.company_id', $1, true) AS "company", set_config('app.user_id', $2, true) AS "user",
                  set_config('atrium.actor_id', $2, true) AS "actor""#,
        company,
        user,
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}

/// One company's data, as `user` (None for the system or a not-yet-signed-in visitor).
pub async fn tenant(pool: &PgPool, company: Uuid, user: Option<Uuid>) -> Result<Tx, AppError> {
    begin_with(pool, Some(company), user).await
}

/// No company: the user's own account, memberships and sessions only.
pub async fn account(pool: &PgPool, user: Uuid) -> Result<Tx, AppError> {
    begin_with(pool, None, Some(user)).await
}

/// No company and no user: sees no tenant rows at all (sign-in throttling, sessions).
pub async fn anonymous(pool: &PgPool) -> Result<Tx, AppError> {
    begin_with(pool, None, None).await
}

/// The super-admin's read-only way across companies. Each use is audited with what was read,
/// and the transaction then runs as `atrium_platform`, whose policies allow SELECT only.
///
/// The read is put on record in a transaction of its own, committed before the read begins:
/// recording takes the platform chain's head lock until commit, and a read that held it (an
/// export of a million rows, say) would stall every other platform event behind it.
pub async fn platform_read(pool: &PgPool, actor: &Actor, meta: &RequestMeta, view: &str) -> Result<Tx, AppError> {
    if actor.role != Role::SuperAdmin {
        return Err(AppError::Forbidden);
    }
    let mut log = begin_with(pool, None, Some(actor.user_id)).await?;
    record(
        &mut log,
        &Who::from(actor),
        meta,
        Event {
            company_id: None,
            action: Action::PlatformRead,
            resource: "platform",
            resource_id: Some(view.to_string()),
            severity: Severity::Info,
            details: serde_json::json!({ "view": view }),
        },
    )
    .await?;
    log.commit().await?;
    platform(pool, actor.user_id).await
}

/// A read-only transaction across companies as `atrium_platform`, for a read already put on
/// record by `platform_read` (an export continues the read its page started). The role is
/// set with the other settings, in the same round trip (`set_config('role', …)` is
/// `SET LOCAL ROLE`).
pub async fn platform(pool: &PgPool, user: Uuid) -> Result<Tx, AppError> {
    let mut tx = pool.begin().await?;
    sqlx::query!(
        r#"SELECT set_config('app.company_id', '', true) AS "company", set_config('app.user_id', $1, true) AS "user",
                  set_config('atrium.actor_id', $1, true) AS "actor", set_config('role', 'atrium_platform', true) AS "role""#,
        user.to_string(),
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok(tx)
}
