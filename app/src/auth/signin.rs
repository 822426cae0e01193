//! The sign-in and sign-out flows, with throttling and audit.
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::auth::{password, safe_next};
use crate::domain::{Email, Role, UserStatus};
use crate::error::AppError;
use crate::mail::{self, letters};
use crate::server_ctx::*;
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use uuid::Uuid;

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
const BAD_CREDENTIALS: &str = "Email or password is incorrect.";
pub const SESSION_HOURS: i64 = 12;

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

/// A transaction whose audit rows belong to the account's home company (platform events for
/// the super-admin and unknown accounts).
pub(crate) async fn audit_tx(
    pool: &sqlx::PgPool,
    user: Option<(Uuid, Option<Uuid>)>,
) -> Result<crate::db::Tx, AppError> {
    match user {
        Some((id, Some(company))) => crate::db::tenant(pool, company, Some(id)).await,
        Some((id, None)) => crate::db::account(pool, id).await,
        None => crate::db::anonymous(pool).await,
    }
}

pub async fn sign_in(email: String, password_raw: String, next: Option<String>) -> Result<(), AppError> {
    let st = state()?;
    let meta = request_meta();
    let session = session()?;

    let mut fields = crate::error::Fields::default();
    let email = fields.check("email", Email::parse(&email));
    if password_raw.is_empty() {
        fields.check::<()>("password", Err("Enter your password.".into()));
    }
    fields.finish()?;
    let email = email.expect("checked");

    // Before anyone is signed in no tenant is known, so the account is found through the one
    // narrow definer function made for it.
    let user: Option<(Uuid, Option<String>, Role, Option<Uuid>, UserStatus)> = sqlx::query!(
        r#"SELECT id AS "id!", password_hash, role AS "role!: Role", company_id, status AS "status!: UserStatus"
             FROM atrium_login_lookup($1)"#,
        email.as_str(),
    )
    .fetch_optional(&st.pool)
    .await?
    .map(|u| (u.id, u.password_hash, u.role, u.company_id, u.status));

    let reserved = match reserve_attempt(&st.pool, email.as_str(), meta.ip).await? {
        Attempt::Reserved(id) => id,
        Attempt::Throttled { minutes, in_window } => {
            // One audit row per window and order of magnitude (the 1st, 10th, 100th… refusal),
            // each with the count so far: a flood cannot flood the log.
            if is_power_of_ten(in_window) {
                let user = user.as_ref().map(|u| (u.0, u.3));
                let mut tx = audit_tx(&st.pool, user).await?;
                record(
                    &mut tx,
                    &Who { user_id: user.map(|u| u.0), email: Some(email.as_str().into()), ..Default::default() },
                    &meta,
                    Event::new(Action::AuthLoginThrottled, "auth")
                        .company(user.and_then(|u| u.1))
                        .severity(Severity::Warning)
                        .details(json!({ "retry_after_minutes": minutes, "throttled_in_window": in_window,
                                         "window_minutes": WINDOW_MINUTES })),
                )
                .await?;
                tx.commit().await?;
            }
            metrics::counter!("atrium_sign_in_failures_total", "reason" => "throttled").increment(1);
            retry_after(minutes * 60);
            return Err(AppError::TooManyRequests(format!(
                "Too many failed sign-in attempts. Sign-in is paused for {minutes} minute{}; try again later.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
    };

    let stored = user.as_ref().and_then(|u| u.1.clone());
    let password_ok = match password::verify(password_raw, stored).await {
        Ok(ok) => ok,
        Err(busy) => {
            // Not a failure of the caller's: take the count back.
            let mut tx = crate::db::anonymous(&st.pool).await?;
            release_attempt(&mut tx, reserved).await?;
            tx.commit().await?;
            return Err(busy);
        }
    };
    let active = user.as_ref().is_some_and(|u| u.4 == UserStatus::Active);

    let mut tx = audit_tx(&st.pool, user.as_ref().map(|u| (u.0, u.3))).await?;
    let Some((user_id, _, role, company_id, _)) = user.clone().filter(|_| password_ok && active) else {
        let reason = if user.is_none() {
            "unknown_account"
        } else if !password_ok {
            "wrong_password"
        } else {
            "account_not_active"
        };
        record(
            &mut tx,
            &Who { user_id: user.as_ref().map(|u| u.0), email: Some(email.as_str().into()), ..Default::default() },
            &meta,
            Event::new(Action::AuthLoginFailed, "auth")
                .company(user.as_ref().and_then(|u| u.3))
                .severity(Severity::Warning)
                .details(json!({ "reason": reason })),
        )
        .await?;
        tx.commit().await?;
        // One label for every refused password: the reason (unknown account, wrong password…)
        // would let whoever can read the metrics tell which accounts exist.
        metrics::counter!("atrium_sign_in_failures_total", "reason" => "bad_credentials").increment(1);
        return Err(AppError::Unauthenticated(BAD_CREDENTIALS.into()));
    };
    release_attempt(&mut tx, reserved).await?;
    tx.commit().await?;
    let verified = Verified { user_id, email: email.as_str().to_string(), role, company_id };

    // A second factor, when the account has one or is required to.
    let mut acct = crate::db::account(&st.pool, user_id).await?;
    let factor = crate::two_factor::service::at_sign_in(&mut acct, user_id, role, st.production).await?;
    acct.commit().await?;
    if factor.enabled || !factor.required_by.is_empty() {
        super::second_step::begin(&session, &verified, next, !factor.enabled).await?;
        leptos_axum::redirect("/login/two-factor");
        return Ok(());
    }
    finish(&st, &meta, &session, &verified, next.as_deref(), None).await
}

/// An account whose password (and second factor, if any) was right.
pub struct Verified {
    pub user_id: Uuid,
    pub email: String,
    pub role: Role,
    pub company_id: Option<Uuid>,
}

/// Signs `who` in: a new session (row and cookie id), the audit row, the new-browser mail,
/// and the redirect home (or to `next`, or `to` when given).
pub async fn finish(
    st: &AppState,
    meta: &RequestMeta,
    session: &tower_sessions::Session,
    who: &Verified,
    next: Option<&str>,
    second_factor: Option<(&'static str, Option<&str>)>,
) -> Result<(), AppError> {
    let Verified { user_id, ref email, role, company_id } = *who;
    let mut tx = audit_tx(&st.pool, Some((user_id, company_id))).await?;
    let unfamiliar = st.mail.enabled && unfamiliar_browser(&mut tx, user_id, meta.user_agent.as_deref()).await?;

    // A new session id at every sign-in: a fixated pre-login id is worthless.
    session.cycle_id().await.map_err(internal)?;
    let session_row = sqlx::query_scalar!(
        "INSERT INTO sessions (user_id, expires_at, ip_address, user_agent, tenant_id)
         VALUES ($1, now() + make_interval(hours => $2::int), $3, $4, $5) RETURNING id",
        user_id,
        SESSION_HOURS as i32,
        meta.ip.map(IpNetwork::from),
        meta.user_agent.as_deref(),
        company_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query!("UPDATE users SET last_login_at = now() WHERE id = $1", user_id).execute(&mut *tx).await?;
    let mut event = Event::new(Action::AuthLogin, "auth").company(company_id).on(session_row);
    if let Some((factor, _)) = second_factor {
        event = event.details(json!({ "second_factor": factor }));
    }
    record(
        &mut tx,
        &Who {
            user_id: Some(user_id),
            email: Some(email.clone()),
            role: Some(role),
            session_id: Some(session_row),
            acting_reason: None,
        },
        meta,
        event,
    )
    .await?;
    if unfamiliar {
        let letter = letters::new_sign_in(
            email,
            &time::OffsetDateTime::now_utc()
                .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
                .unwrap_or_default(),
            &meta.ip.map(|ip| ip.to_string()).unwrap_or_else(|| "an unknown address".into()),
            &meta.user_agent.as_deref().map(crate::ui::describe_agent).unwrap_or_else(|| "an unknown browser".into()),
            &st.mail.link("/account#sessions"),
        );
        let to = mail::Recipient { company: company_id, user: Some(user_id) };
        mail::queue(&mut tx, &st.credentials, to, &letter, None).await?;
    }
    tx.commit().await?;
    session.insert(SESSION_AUTH_KEY, SessionAuth { user_id, session_id: session_row }).await.map_err(internal)?;

    if let Some((_, Some(to))) = second_factor {
        leptos_axum::redirect(to);
        return Ok(());
    }
    let home = if role == Role::SuperAdmin {
        "/admin".to_string()
    } else if crate::tenancy::session::has_pending_invitations(&st.pool, user_id).await? {
        // A company's invitation waits for this account's answer; show it first.
        "/account#invitations".to_string()
    } else {
        let slug = crate::tenancy::session::home_slug(&st.pool, user_id, company_id).await?;
        slug.map(|s| format!("/t/{s}/")).unwrap_or_else(|| "/account".into())
    };
    leptos_axum::redirect(&safe_next(next).unwrap_or(home));
    Ok(())
}

pub async fn sign_out() -> Result<(), AppError> {
    let st = state()?;
    let meta = request_meta();
    let session = session()?;
    if let Some(actor) = crate::access::load_actor(&st.pool, &session).await? {
        let mut tx = audit_tx(&st.pool, Some((actor.user_id, actor.company_id))).await?;
        sqlx::query!("UPDATE sessions SET revoked_at = now() WHERE id = $1", actor.session_id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            &Who::from(&actor),
            &meta,
            Event::new(Action::AuthLogout, "auth").company(actor.company_id).on(actor.session_id),
        )
        .await?;
        tx.commit().await?;
    }
    session.flush().await.map_err(internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Has the account signed in before, but never from this browser? (The owner may turn the
/// mail off; a first sign-in ever is not news.)
async fn unfamiliar_browser(conn: &mut sqlx::PgConnection, user: Uuid, agent: Option<&str>) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT u.notify_new_sign_in
                  AND EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id)
                  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.user_agent IS NOT DISTINCT FROM $2)
                  AS "unfamiliar!"
             FROM users u WHERE u.id = $1"#,
        user,
        agent,
    )
    .fetch_one(conn)
    .await?)
}

fn is_power_of_ten(mut n: i64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}
