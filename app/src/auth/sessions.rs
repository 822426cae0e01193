//! Ending signed-in sessions: suspension, password changes and "sign out everywhere".
use crate::error::AppError;
use sqlx::PgConnection;
use uuid::Uuid;

/// Ends the user's live sessions, all of them or all but `keep`, and says how many ended.
pub async fn end_for_user(conn: &mut PgConnection, user: Uuid, keep: Option<Uuid>) -> Result<u64, AppError> {
    Ok(sqlx::query!(
        "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND id IS DISTINCT FROM $2 AND revoked_at IS NULL",
        user,
        keep
    )
    .execute(conn)
    .await?
    .rows_affected())
}
