//! The second step of signing in: after the right password, an account with two-factor
//! sign-in (or one required to have it) is not signed in yet. The browser's session holds
//! only "password checked for this account, until then"; `/login/two-factor` asks for a code
//! (or sets the app up, when it is required and missing), and only then is a session made.
//! Wrong codes count against the same throttle as wrong passwords.
use super::establish::{self, Verified};
use super::throttle::{self, Attempt};
use super::SecondStepView as SecondStep;
use crate::audit::record::{record, Event, Who};
use crate::audit::{Action, Severity};
use crate::domain::Role;
use crate::error::AppError;
use crate::server_ctx::*;
use crate::two_factor::{enrolling, service, totp};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tower_sessions::Session;
use uuid::Uuid;

const KEY: &str = "pending_sign_in";
/// How long the code may take after the password.
pub const PENDING_MINUTES: i64 = 5;
const EXPIRED: &str = "Your sign-in has expired. Sign in again with your password.";

#[derive(Clone, Serialize, Deserialize)]
struct Pending {
    user_id: Uuid,
    email: String,
    role: Role,
    company_id: Option<Uuid>,
    next: Option<String>,
    expires: i64,
    /// Required but not set up: the code confirms a new app.
    enroll: bool,
    /// Wrong codes so far: after `MAX_WRONG_CODES` the password must be given again.
    #[serde(default)]
    wrong: u32,
}

/// Wrong codes one password step allows.
pub const MAX_WRONG_CODES: u32 = 5;

/// After the right password: remembers the account for the second step (a new session id, so
/// nothing from before the password carries over).
pub async fn begin(session: &Session, who: &Verified, next: Option<String>, enroll: bool) -> Result<(), AppError> {
    session.cycle_id().await.map_err(internal)?;
    let expires = (time::OffsetDateTime::now_utc() + time::Duration::minutes(PENDING_MINUTES)).unix_timestamp();
    let pending = Pending {
        wrong: 0,
        user_id: who.user_id,
        email: who.email.clone(),
        role: who.role,
        company_id: who.company_id,
        next,
        expires,
        enroll,
    };
    session.insert(KEY, pending).await.map_err(internal)
}

async fn pending(session: &Session) -> Result<Pending, AppError> {
    session
        .get::<Pending>(KEY)
        .await
        .ok()
        .flatten()
        .filter(|p| p.expires > time::OffsetDateTime::now_utc().unix_timestamp())
        .ok_or_else(|| AppError::Unauthenticated(EXPIRED.into()))
}

pub async fn state_of() -> Result<SecondStep, AppError> {
    let st = state()?;
    let session = session()?;
    let p = pending(&session).await?;
    if !p.enroll {
        return Ok(SecondStep { email: p.email, enroll: None, required_by: Vec::new() });
    }
    let secret = match enrolling::secret(&session, &st.credentials, p.user_id).await? {
        Some(s) => s,
        None => enrolling::begin(&session, &st.credentials, p.user_id).await?,
    };
    let mut tx = crate::db::account(&st.pool, p.user_id).await?;
    let required_by = service::at_sign_in(&mut tx, p.user_id, p.role, st.production).await?.required_by;
    tx.commit().await?;
    Ok(SecondStep { enroll: Some(totp::enrollment(&secret, &p.email)), email: p.email, required_by })
}

pub async fn submit(code: String) -> Result<(), AppError> {
    let st = state()?;
    let meta = request_meta();
    let session = session()?;
    let p = pending(&session).await?;
    let reserved = match throttle::reserve_attempt(&st.pool, &p.email, meta.ip).await? {
        Attempt::Reserved(id) => id,
        Attempt::Throttled { minutes, .. } => {
            retry_after(minutes * 60);
            return Err(AppError::TooManyRequests(format!(
                "Too many wrong codes. Sign-in is paused for {minutes} minute{}; try again later.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
    };
    let mut tx = crate::db::account(&st.pool, p.user_id).await?;
    let outcome = if p.enroll {
        match enrolling::secret(&session, &st.credentials, p.user_id).await? {
            Some(secret) => match service::enable(&mut tx, &st, p.user_id, &secret, &code).await {
                Ok(codes) => Ok(("totp_enrolled", Some(codes))),
                Err(AppError::Validation(_)) => Err(()),
                Err(e) => return Err(e),
            },
            None => return Err(AppError::Unauthenticated(EXPIRED.into())),
        }
    } else {
        match service::verify_and_spend(&mut tx, &st, p.user_id, &code, true).await? {
            Some(factor) => Ok((factor.as_str(), None)),
            None => Err(()),
        }
    };
    let who = Who { user_id: Some(p.user_id), email: Some(p.email.clone()), ..Default::default() };
    let Ok((factor, codes)) = outcome else {
        tx.rollback().await?;
        // The failure stays counted; its audit row goes where the password's would.
        let mut tx = establish::audit_tx(&st.pool, Some((p.user_id, p.company_id))).await?;
        record(
            &mut tx,
            &who,
            &meta,
            Event::new(Action::AuthLoginFailed, "auth")
                .company(p.company_id)
                .severity(Severity::Warning)
                .details(json!({ "reason": "wrong_second_factor" })),
        )
        .await?;
        tx.commit().await?;
        metrics::counter!("atrium_sign_in_failures_total", "reason" => "bad_credentials").increment(1);
        let wrong = p.wrong + 1;
        if wrong >= MAX_WRONG_CODES {
            session.remove::<Pending>(KEY).await.map_err(internal)?;
            return Err(AppError::Unauthenticated("Too many wrong codes. Sign in again with your password.".into()));
        }
        session.insert(KEY, Pending { wrong, ..p }).await.map_err(internal)?;
        return Err(AppError::field("code", service::WRONG_CODE));
    };
    if codes.is_some() {
        record(
            &mut tx,
            &who,
            &meta,
            Event::new(Action::AccountTwoFactorEnable, "user")
                .on(p.user_id)
                .severity(Severity::Warning)
                .details(json!({ "method": "totp", "at": "sign-in" })),
        )
        .await?;
        let to = crate::mail::Recipient { company: None, user: Some(p.user_id) };
        service::notify_owner(&mut tx, &st, to, &p.email, "Two-factor sign-in was turned on while signing in").await?;
    }
    throttle::release_attempt(&mut tx, reserved).await?;
    tx.commit().await?;
    enrolling::end(&session).await?;
    session.remove::<Pending>(KEY).await.map_err(internal)?;
    let verified = Verified { user_id: p.user_id, email: p.email, role: p.role, company_id: p.company_id };
    match codes {
        // Just set up: the recovery codes are shown once, on the account's two-factor page.
        Some(codes) => {
            establish::finish(
                &st,
                &meta,
                &session,
                &verified,
                None,
                Some((factor, Some("/account/two-factor?codes=1"))),
            )
            .await?;
            crate::two_factor::flash_codes(verified.user_id, &codes).await
        }
        None => establish::finish(&st, &meta, &session, &verified, p.next.as_deref(), Some((factor, None))).await,
    }
}
