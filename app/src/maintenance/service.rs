//! Throwing the switch, audited in the same transaction (the caller commits).
use super::{parse_message, read, Status};
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::error::AppError;
use crate::server_ctx::RequestMeta;
use sqlx::PgConnection;

/// Throws the switch, audited in the same transaction (the caller commits).
pub async fn set(
    conn: &mut PgConnection,
    who: &Who,
    meta: &RequestMeta,
    active: bool,
    message: &str,
) -> Result<Status, AppError> {
    let message = parse_message(message).map_err(|m| AppError::field("message", m))?;
    let before = read(&mut *conn).await?;
    let by = who.email.clone().unwrap_or_else(|| "system@atrium".into());
    sqlx::query!(
        "UPDATE maintenance_mode SET active = $1, message = $2, changed_at = now(), changed_by = $3",
        active,
        message,
        by
    )
    .execute(&mut *conn)
    .await?;
    let action = if active { Action::MaintenanceOn } else { Action::MaintenanceOff };
    record(
        conn,
        who,
        meta,
        Event::new(action, "maintenance").severity(Severity::Warning).details(serde_json::json!({
            "before": { "active": before.active, "message": before.message },
            "after": { "active": active, "message": message },
        })),
    )
    .await?;
    Ok(Status {
        active,
        message,
        since: Some(crate::ui::time::rfc3339(time::OffsetDateTime::now_utc())),
        changed_by: Some(by),
    })
}
