//! "Forgot your password?": a one-time link by mail. The answer is the same whether or not
//! the address has an account, and requests are throttled per address (silently: the mail
//! simply stops) and per client (a clear 429, which tells nothing about any account).
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::auth::password;
use crate::domain::{Email, UserStatus};
use crate::error::AppError;
use crate::mail::{self, letters};
use crate::server_ctx::*;
use serde_json::json;
use uuid::Uuid;

/// A recovery link works this long.
pub const LINK_MINUTES: i64 = 60;
/// Mails per address per hour; requests past it are answered the same and send nothing.
pub const MAX_PER_EMAIL: i64 = 3;
/// Requests per client block per hour, whatever the addresses.
pub const MAX_PER_CLIENT: i64 = 10;

pub const NOT_SET_UP: &str =
    "Password recovery by email is not set up on this Atrium. Ask your company's administrator for a password link.";

/// What happened to one request, for the audit row (never for the answer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Mailed,
    UnknownAccount,
    NotActive,
    AddressLimit,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Outcome::Mailed => "mailed",
            Outcome::UnknownAccount => "unknown_account",
            Outcome::NotActive => "account_not_active",
            Outcome::AddressLimit => "address_limit",
        }
    }
}

pub async fn request(email_raw: String) -> Result<(), AppError> {
    let st = state()?;
    let meta = request_meta();
    let email = Email::parse(&email_raw).map_err(|m| AppError::field("email", m))?;
    if !st.mail.enabled {
        return Err(AppError::Conflict(NOT_SET_UP.into()));
    }
    let client = meta.ip.map(super::client_block::client_block);

    let mut tx = crate::db::anonymous(&st.pool).await?;
    // One request per address and per client at a time, so parallel requests cannot all pass
    // the count before the first is recorded (the order matches sign-in's: no deadlock).
    sqlx::query!(
        "SELECT pg_advisory_xact_lock(hashtextextended('recover:' || lower($1), 0)),
                pg_advisory_xact_lock(hashtextextended('recover-ip:' || coalesce(text($2::inet), '-'), 0))",
        email.as_str(),
        client,
    )
    .execute(&mut *tx)
    .await?;
    let counts = sqlx::query!(
        r#"SELECT
             (SELECT count(*) FROM recovery_requests
               WHERE $2::inet IS NOT NULL AND ip_address = $2 AND requested_at > now() - interval '1 hour') AS "by_client!",
             (SELECT count(*) FROM recovery_requests
               WHERE lower(email) = lower($1) AND requested_at > now() - interval '1 hour') AS "by_email!""#,
        email.as_str(),
        client,
    )
    .fetch_one(&mut *tx)
    .await?;
    if counts.by_client >= MAX_PER_CLIENT {
        tx.commit().await?;
        retry_after(3600);
        return Err(AppError::TooManyRequests(
            "Too many password recovery requests from your network. Try again in an hour.".into(),
        ));
    }
    sqlx::query!("INSERT INTO recovery_requests (email, ip_address) VALUES ($1, $2)", email.as_str(), client)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;

    let account = sqlx::query!(
        r#"SELECT id AS "id!", company_id, status AS "status!: UserStatus" FROM atrium_login_lookup($1)"#,
        email.as_str()
    )
    .fetch_optional(&st.pool)
    .await?;
    let outcome = match &account {
        None => Outcome::UnknownAccount,
        Some(a) if a.status != UserStatus::Active => Outcome::NotActive,
        Some(_) if counts.by_email >= MAX_PER_EMAIL => Outcome::AddressLimit,
        Some(_) => Outcome::Mailed,
    };

    // The account's own transaction: the link belongs to the account, not to a company.
    let mut tx = match &account {
        Some(a) => crate::db::account(&st.pool, a.id).await?,
        None => crate::db::anonymous(&st.pool).await?,
    };
    if let (Outcome::Mailed, Some(a)) = (outcome, &account) {
        mail_link(&mut tx, &st, a.id, &email).await?;
    }
    record(
        &mut tx,
        &Who { user_id: account.as_ref().map(|a| a.id), email: Some(email.as_str().into()), ..Default::default() },
        &meta,
        Event::new(Action::AccountRecoveryRequest, "auth")
            .severity(if outcome == Outcome::Mailed { Severity::Info } else { Severity::Warning })
            .details(json!({ "outcome": outcome.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}

async fn mail_link(tx: &mut crate::db::Tx, st: &AppState, user: Uuid, email: &Email) -> Result<(), AppError> {
    // A new link retires the account's earlier unused ones.
    sqlx::query!(
        "UPDATE user_tokens SET used_at = now() WHERE company_id IS NULL AND user_id = $1 AND purpose = 'recover' AND used_at IS NULL",
        user
    )
    .execute(&mut **tx)
    .await?;
    let (token, hash) = password::one_time_token();
    sqlx::query!(
        "INSERT INTO user_tokens (company_id, user_id, purpose, token_hash, expires_at)
         VALUES (NULL, $1, 'recover', $2, now() + make_interval(mins => $3::int))",
        user,
        &hash,
        LINK_MINUTES as i32,
    )
    .execute(&mut **tx)
    .await?;
    let letter = letters::recover(email.as_str(), &st.mail.link(&format!("/invite/{token}")), LINK_MINUTES);
    mail::queue(&mut **tx, &st.credentials, mail::Recipient { company: None, user: Some(user) }, &letter, None).await?;
    Ok(())
}
