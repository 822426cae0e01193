//! The super-admin's read-only way across companies.
use crate::audit::record::{record, Event, Who};
use crate::audit::Action;
use crate::db::{self, Tx};
use crate::domain::Role;
use crate::error::AppError;
use crate::server_ctx::{Actor, RequestMeta};
use sqlx::PgPool;

/// Each use is audited with what was read, and the transaction then runs as
/// `atrium_platform`, whose policies allow SELECT only.
///
/// The read is put on record in a transaction of its own, committed before the read begins:
/// recording takes the platform chain's head lock until commit, and a read that held it (an
/// export of a million rows, say) would stall every other platform event behind it.
pub async fn platform_read(pool: &PgPool, actor: &Actor, meta: &RequestMeta, view: &str) -> Result<Tx, AppError> {
    if actor.role != Role::SuperAdmin {
        return Err(AppError::Forbidden);
    }
    let mut log = db::account(pool, actor.user_id).await?;
    record(
        &mut log,
        &Who::from(actor),
        meta,
        Event::new(Action::PlatformRead, "platform").on(view).details(serde_json::json!({ "view": view })),
    )
    .await?;
    log.commit().await?;
    db::platform(pool, actor.user_id).await
}
