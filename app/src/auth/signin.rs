//! The sign-in and sign-out flows, with throttling and audit.
use super::establish::{audit_tx, finish, Verified};
use super::throttle::{release_attempt, reserve_attempt, Attempt, WINDOW_MINUTES};
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::auth::password;
use crate::domain::{Email, Role, UserStatus};
use crate::error::AppError;
use crate::server_ctx::*;
use serde_json::json;
use uuid::Uuid;

const BAD_CREDENTIALS: &str = "Email or password is incorrect.";

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

fn is_power_of_ten(mut n: i64) -> bool {
    while n >= 10 && n % 10 == 0 {
        n /= 10;
    }
    n == 1
}
