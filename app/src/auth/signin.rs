//! The sign-in and sign-out flows, with throttling and audit.
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::auth::{password, safe_next};
use crate::domain::{Email, Role, UserStatus};
use crate::error::AppError;
use crate::server_ctx::*;
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use uuid::Uuid;

pub const MAX_FAILURES_PER_ACCOUNT: i64 = 5;
pub const MAX_FAILURES_PER_IP: i64 = 20;
pub const WINDOW_MINUTES: i64 = 15;
const BAD_CREDENTIALS: &str = "Email or password is incorrect.";
pub const SESSION_HOURS: i64 = 12;

/// Minutes until sign-in is allowed again for this account or IP, if it is throttled now.
async fn throttled_for(
    pool: &sqlx::PgPool,
    email: &str,
    ip: Option<std::net::IpAddr>,
) -> Result<Option<i64>, AppError> {
    // The failure that reached each limit inside the window, if any.
    let row = sqlx::query!(
        r#"SELECT
             (SELECT failed_at FROM login_failures
               WHERE lower(email) = lower($1) AND failed_at > now() - make_interval(mins => $3::int)
               ORDER BY failed_at DESC OFFSET $4::int - 1 LIMIT 1) AS by_account,
             (SELECT failed_at FROM login_failures
               WHERE $2::inet IS NOT NULL AND ip_address = $2 AND failed_at > now() - make_interval(mins => $3::int)
               ORDER BY failed_at DESC OFFSET $5::int - 1 LIMIT 1) AS by_ip"#,
        email,
        ip.map(IpNetwork::from),
        WINDOW_MINUTES as i32,
        MAX_FAILURES_PER_ACCOUNT as i32,
        MAX_FAILURES_PER_IP as i32,
    )
    .fetch_one(pool)
    .await?;
    let (by_account, by_ip) = (row.by_account, row.by_ip);
    // Blocked until the failure that reached the limit leaves the window.
    let until = [by_account, by_ip].into_iter().flatten().max();
    Ok(until.map(|t| {
        let left = (t + time::Duration::minutes(WINDOW_MINUTES)) - time::OffsetDateTime::now_utc();
        (left.whole_seconds() + 59).div_euclid(60).max(1)
    }))
}

/// A transaction whose audit rows belong to the account's home company (platform events for
/// the super-admin and unknown accounts).
async fn audit_tx(pool: &sqlx::PgPool, user: Option<(Uuid, Option<Uuid>)>) -> Result<crate::db::Tx, AppError> {
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

    if let Some(minutes) = throttled_for(&st.pool, email.as_str(), meta.ip).await? {
        let user = user.as_ref().map(|u| (u.0, u.3));
        let mut tx = audit_tx(&st.pool, user).await?;
        record(
            &mut tx,
            &Who { user_id: user.map(|u| u.0), email: Some(email.as_str().into()), ..Default::default() },
            &meta,
            Event {
                company_id: user.and_then(|u| u.1),
                action: Action::AuthLoginThrottled,
                resource: "auth",
                resource_id: None,
                severity: Severity::Warning,
                details: json!({ "retry_after_minutes": minutes }),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::TooManyRequests(format!(
            "Too many failed sign-in attempts. Sign-in is paused for {minutes} minute{}; try again later.",
            if minutes == 1 { "" } else { "s" }
        )));
    }

    let stored = user.as_ref().and_then(|u| u.1.clone());
    let password_ok = password::verify(password_raw, stored).await?;
    let active = user.as_ref().is_some_and(|u| u.4 == UserStatus::Active);

    let mut tx = audit_tx(&st.pool, user.as_ref().map(|u| (u.0, u.3))).await?;
    let Some((user_id, _, role, company_id, _)) = user.clone().filter(|_| password_ok && active) else {
        sqlx::query!(
            "INSERT INTO login_failures (email, ip_address) VALUES ($1, $2)",
            email.as_str(),
            meta.ip.map(IpNetwork::from)
        )
        .execute(&mut *tx)
        .await?;
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
            Event {
                company_id: user.as_ref().and_then(|u| u.3),
                action: Action::AuthLoginFailed,
                resource: "auth",
                resource_id: None,
                severity: Severity::Warning,
                details: json!({ "reason": reason }),
            },
        )
        .await?;
        tx.commit().await?;
        return Err(AppError::Unauthenticated(BAD_CREDENTIALS.into()));
    };

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
    record(
        &mut tx,
        &Who {
            user_id: Some(user_id),
            email: Some(email.as_str().into()),
            role: Some(role),
            session_id: Some(session_row),
            acting_reason: None,
        },
        &meta,
        Event {
            company_id,
            action: Action::AuthLogin,
            resource: "auth",
            resource_id: Some(session_row.to_string()),
            severity: Severity::Info,
            details: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    session.insert(SESSION_AUTH_KEY, SessionAuth { user_id, session_id: session_row }).await.map_err(internal)?;

    let home = if role == Role::SuperAdmin {
        "/admin".to_string()
    } else if crate::tenancy::guard::has_pending_invitations(&st.pool, user_id).await? {
        // A company's invitation waits for this account's answer; show it first.
        "/account#invitations".to_string()
    } else {
        let slug = crate::tenancy::guard::home_slug(&st.pool, user_id, company_id).await?;
        slug.map(|s| format!("/t/{s}/")).unwrap_or_else(|| "/account".into())
    };
    leptos_axum::redirect(&safe_next(next.as_deref()).unwrap_or(home));
    Ok(())
}

pub async fn sign_out() -> Result<(), AppError> {
    let st = state()?;
    let meta = request_meta();
    let session = session()?;
    if let Some(actor) = load_actor(&st.pool, &session).await? {
        let mut tx = audit_tx(&st.pool, Some((actor.user_id, actor.company_id))).await?;
        sqlx::query!("UPDATE sessions SET revoked_at = now() WHERE id = $1", actor.session_id)
            .execute(&mut *tx)
            .await?;
        record(
            &mut tx,
            &Who::from(&actor),
            &meta,
            Event {
                company_id: actor.company_id,
                action: Action::AuthLogout,
                resource: "auth",
                resource_id: Some(actor.session_id.to_string()),
                severity: Severity::Info,
                details: json!({}),
            },
        )
        .await?;
        tx.commit().await?;
    }
    session.flush().await.map_err(internal)?;
    leptos_axum::redirect("/login");
    Ok(())
}
