//! Establishing a session once an account has proved who it is (password, and second factor
//! where it has one): the session row and cookie id, the audit row, the new-browser mail, and
//! the way home.
use crate::audit::record::{record, Event, Who};
use crate::audit::Action;
use crate::auth::safe_next;
use crate::domain::Role;
use crate::error::AppError;
use crate::mail::{self, letters};
use crate::server_ctx::*;
use serde_json::json;
use sqlx::types::ipnetwork::IpNetwork;
use uuid::Uuid;

pub const SESSION_HOURS: i64 = 12;

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
            &mail::now_text(),
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

/// Has the account signed in before, but never from this browser (of the sessions kept, 30
/// days after they end)? The owner may turn the mail off; a first sign-in ever is not news.
async fn unfamiliar_browser(conn: &mut sqlx::PgConnection, user: Uuid, agent: Option<&str>) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT u.notify_new_sign_in
                  AND u.last_login_at IS NOT NULL
                  AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.user_id = u.id AND s.user_agent IS NOT DISTINCT FROM $2)
                  AS "unfamiliar!"
             FROM users u WHERE u.id = $1"#,
        user,
        agent,
    )
    .fetch_one(conn)
    .await?)
}
