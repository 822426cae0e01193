//! "Your API key expires in 14 days": once per key, to each of its company's active admins,
//! through the mail outbox. Run by housekeeping as the schema owner (every company).
use crate::error::AppError;
use crate::integrations::crypto::Keyring;
use crate::mail::{self, letters, Outgoing};
use sqlx::PgConnection;

/// How far ahead a key's expiry is announced.
pub const NOTICE_DAYS: i64 = 14;

/// Queues the notices now due; the number of mails queued.
pub async fn notify_expiring(
    conn: &mut PgConnection,
    keyring: &Keyring,
    outgoing: &Outgoing,
) -> Result<usize, AppError> {
    // Claimed with SKIP LOCKED, and marked in the same transaction, so two processes running
    // housekeeping at once announce each key once.
    let keys = sqlx::query!(
        r#"SELECT k.id, k.company_id, k.name, k.key_prefix, k.expires_at AS "expires_at!", c.name AS company, c.slug
             FROM api_keys k JOIN companies c ON c.id = k.company_id
            WHERE k.revoked_at IS NULL AND k.expiry_notice_at IS NULL AND c.deleted_at IS NULL
              -- A key rolled over to a new one runs out on purpose (its grace period).
              AND k.rolled_at IS NULL
              AND k.expires_at > now() AND k.expires_at <= now() + make_interval(days => $1::int)
            ORDER BY k.expires_at
              FOR UPDATE OF k SKIP LOCKED"#,
        NOTICE_DAYS as i32,
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut queued = 0;
    for key in keys {
        let admins = sqlx::query!(
            r#"SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id
                WHERE m.company_id = $1 AND m.role = 'ADMIN' AND m.status = 'ACTIVE' AND u.status = 'ACTIVE'
                ORDER BY u.email"#,
            key.company_id
        )
        .fetch_all(&mut *conn)
        .await?;
        let days = ((key.expires_at - time::OffsetDateTime::now_utc()).whole_hours() + 23) / 24;
        let expires = key
            .expires_at
            .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
            .unwrap_or_default();
        // Nobody to tell yet: the key waits for an admin (one may be added before it expires).
        if admins.is_empty() {
            continue;
        }
        let link = outgoing.link(&format!("/t/{}/api-keys/{}", key.slug, key.id));
        for admin in admins {
            let letter =
                letters::key_expiring(&admin.email, &key.company, &key.name, &key.key_prefix, &expires, &link, days);
            let to = mail::Recipient { company: Some(key.company_id), user: Some(admin.id) };
            let dedupe = format!("key_expiring:{}:{}", key.id, admin.id);
            if mail::queue(&mut *conn, keyring, to, &letter, Some(&dedupe)).await? {
                queued += 1;
            }
        }
        sqlx::query!("UPDATE api_keys SET expiry_notice_at = now() WHERE id = $1", key.id).execute(&mut *conn).await?;
    }
    Ok(queued)
}
