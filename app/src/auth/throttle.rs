//! The sign-in throttle: failures counted per account and client block, checked and counted in
//! one step under advisory locks. Wrong passwords and wrong second-factor codes share it.
use crate::error::AppError;

/// Failures per account from one client address, in `WINDOW_MINUTES`: a guesser locks out
/// only themselves.
pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
/// Failures from one client address across accounts, in `WINDOW_MINUTES`.
pub const MAX_FAILURES_PER_IP: i64 = 20;
pub const WINDOW_MINUTES: i64 = 15;
/// The slower back-off per account whatever the address, in `ACCOUNT_WINDOW_MINUTES`: many
/// addresses guessing one password together still get only so many checks.
pub const MAX_FAILURES_PER_ACCOUNT_ANY_IP: i64 = 50;
pub const ACCOUNT_WINDOW_MINUTES: i64 = 60;

pub(crate) enum Attempt {
    /// Counted as a failure until the password proves right (then the row is removed).
    Reserved(i64),
    /// Refused before any password check: retry after `minutes`; `in_window` throttled
    /// attempts for this account and address so far.
    Throttled { minutes: i64, in_window: i64 },
}

/// Checks the throttle and counts the attempt in one step. The address counted is the
/// client's block (an IPv6 /64), so rotating through one's own addresses gains nothing. Attempts for one account (and
/// from one address) take their turn under advisory locks, so sixty parallel guesses cannot
/// all pass the check before the first failure is counted.
pub(crate) async fn reserve_attempt(
    pool: &sqlx::PgPool,
    email: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Attempt, AppError> {
    let ip = ip.map(super::client_block::client_block);
    let mut tx = crate::db::anonymous(pool).await?;
    // Account first, then address: every attempt takes them in this order, so none deadlock.
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('login:' || lower($1), 0)),
                pg_advisory_xact_lock(hashtextextended('login-ip:' || coalesce(text($2::inet), '-'), 0))",
        email,
        ip,
    )
    .execute(&mut *tx)
    .await?;
    // The failure that reached each limit inside its window, if any.
    let row = sqlx::query!(
        r#"SELECT
             (SELECT failed_at FROM login_failures
               WHERE lower(email) = lower($1) AND ip_address IS NOT DISTINCT FROM $2 AND NOT throttled
                 AND failed_at > now() - make_interval(mins => $3::int)
               ORDER BY failed_at DESC OFFSET $4::int - 1 LIMIT 1) AS by_pair,
             (SELECT failed_at FROM login_failures
               WHERE $2::inet IS NOT NULL AND ip_address = $2 AND NOT throttled
                 AND failed_at > now() - make_interval(mins => $3::int)
               ORDER BY failed_at DESC OFFSET $5::int - 1 LIMIT 1) AS by_ip,
             (SELECT failed_at FROM login_failures
               WHERE lower(email) = lower($1) AND NOT throttled
                 AND failed_at > now() - make_interval(mins => $6::int)
               ORDER BY failed_at DESC OFFSET $7::int - 1 LIMIT 1) AS by_account"#,
        email,
        ip,
        WINDOW_MINUTES as i32,
        MAX_FAILURES_PER_ACCOUNT as i32,
        MAX_FAILURES_PER_IP as i32,
        ACCOUNT_WINDOW_MINUTES as i32,
        MAX_FAILURES_PER_ACCOUNT_ANY_IP as i32,
    )
    .fetch_one(&mut *tx)
    .await?;
    // Blocked until the failure that reached a limit leaves its window.
    let window = time::Duration::minutes(WINDOW_MINUTES);
    let until = [row.by_pair.map(|t| t + window), row.by_ip.map(|t| t + window)]
        .into_iter()
        .chain([row.by_account.map(|t| t + time::Duration::minutes(ACCOUNT_WINDOW_MINUTES))])
        .flatten()
        .max();
    let attempt = match until {
        Some(until) => {
            let left = until - time::OffsetDateTime::now_utc();
            let minutes = (left.whole_seconds() + 59).div_euclid(60).max(1);
            let in_window = sqlx::query_scalar!(
                r#"WITH counted AS (INSERT INTO login_failures (email, ip_address, throttled) VALUES ($1, $2, true))
                   SELECT count(*) + 1 AS "n!" FROM login_failures
                    WHERE lower(email) = lower($1) AND ip_address IS NOT DISTINCT FROM $2 AND throttled
                      AND failed_at > now() - make_interval(mins => $3::int)"#,
                email,
                ip,
                WINDOW_MINUTES as i32,
            )
            .fetch_one(&mut *tx)
            .await?;
            Attempt::Throttled { minutes, in_window }
        }
        None => Attempt::Reserved(
            sqlx::query_scalar!(
                "INSERT INTO login_failures (email, ip_address) VALUES ($1, $2) RETURNING id",
                email,
                ip
            )
            .fetch_one(&mut *tx)
            .await?,
        ),
    };
    tx.commit().await?;
    Ok(attempt)
}

pub(crate) async fn release_attempt(conn: &mut sqlx::PgConnection, id: i64) -> Result<(), AppError> {
    sqlx::query!("DELETE FROM login_failures WHERE id = $1", id).execute(conn).await?;
    Ok(())
}
