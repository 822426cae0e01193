//! Two-factor sign-in (TOTP, RFC 6238) with one-time recovery codes: enrolling and managing it
//! on `/account/two-factor`. The sign-in step that asks for the code is `auth::second_step`.
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod enrolling;
#[cfg(feature = "ssr")]
pub mod service;
#[cfg(feature = "ssr")]
pub mod totp;
mod views;
pub use views::{Enroll, RecoveryCodeList, TwoFactorPage};

/// What an authenticator app needs to add the account.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    /// Base32, in groups of four, to type in by hand.
    pub secret: String,
    /// `otpauth://totp/Atrium:…`
    pub uri: String,
    /// The same address as a QR code, drawn on the server.
    pub qr_svg: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TwoFactorStatus {
    pub enabled_at: Option<Stamp>,
    pub recovery_codes_left: i32,
    /// Who requires it of this account; it cannot be turned off while anyone does.
    pub required_by: Vec<String>,
    /// Set up but not confirmed yet: scan this, then type a code.
    pub enrolling: Option<Enrollment>,
}

/// Recovery codes, shown once.
pub type RecoveryCodes = Vec<String>;

#[cfg(feature = "ssr")]
async fn account_tx() -> Result<(crate::server_ctx::Actor, crate::server_ctx::AppState, crate::db::Tx), AppError> {
    let actor = crate::access::require_actor().await?;
    let st = crate::server_ctx::state()?;
    let tx = crate::db::account(&st.pool, actor.user_id).await?;
    Ok((actor, st, tx))
}

/// Changes to how the account signs in are audited as warnings.
#[cfg(feature = "ssr")]
async fn audit(
    tx: &mut crate::db::Tx,
    actor: &crate::server_ctx::Actor,
    action: crate::audit::Action,
    details: serde_json::Value,
) -> Result<(), AppError> {
    crate::audit::record::own_account(tx, actor, action, crate::audit::Severity::Warning, details).await
}

/// Checks a code on the account page under the sign-in throttle (a borrowed session must not
/// guess its way to new recovery codes or to turning the second factor off). A wrong code is
/// counted and audited; the right one is spent.
#[cfg(feature = "ssr")]
async fn spend_code(
    tx: &mut crate::db::Tx,
    st: &crate::server_ctx::AppState,
    actor: &crate::server_ctx::Actor,
    code: &str,
    allow_recovery: bool,
) -> Result<(), AppError> {
    use crate::auth::throttle::{release_attempt, reserve_attempt, Attempt};
    use crate::server_ctx::*;
    if !totp::plausible(code) {
        return Err(AppError::field(
            "code",
            "Type the 6 digits your app shows (or a recovery code, like abcde-fghjk).",
        ));
    }
    let reserved = match reserve_attempt(&st.pool, &actor.email, request_meta().ip).await? {
        Attempt::Reserved(id) => id,
        Attempt::Throttled { minutes, .. } => {
            retry_after(minutes * 60);
            return Err(AppError::TooManyRequests(format!(
                "Too many wrong codes. Try again in {minutes} minute{}.",
                if minutes == 1 { "" } else { "s" }
            )));
        }
    };
    if service::verify_and_spend(tx, st, actor.user_id, code, allow_recovery).await?.is_some() {
        return release_attempt(tx, reserved).await;
    }
    // The caller's transaction is dropped with the error: the refusal is recorded on its own.
    let mut own = crate::db::account(&st.pool, actor.user_id).await?;
    audit(
        &mut own,
        actor,
        crate::audit::Action::AccountTwoFactorRefused,
        serde_json::json!({ "recovery_allowed": allow_recovery }),
    )
    .await?;
    own.commit().await?;
    Err(AppError::field(
        "code",
        if allow_recovery {
            service::WRONG_CODE
        } else {
            "That code is not right. Type the 6-digit code your app shows now."
        },
    ))
}

#[server(endpoint = "account/two-factor")]
pub async fn load_two_factor() -> Result<TwoFactorStatus, AppError> {
    let (actor, st, mut tx) = account_tx().await?;
    let (enabled_at, left) = service::status_row(&mut tx, actor.user_id).await?;
    let required_by = service::at_sign_in(&mut tx, actor.user_id, actor.role, st.production).await?.required_by;
    tx.commit().await?;
    let session = crate::server_ctx::session()?;
    let enrolling = match enabled_at {
        Some(_) => None,
        None => enrolling::secret(&session, &st.credentials, actor.user_id)
            .await?
            .map(|secret| totp::enrollment(&secret, &actor.email)),
    };
    Ok(TwoFactorStatus {
        enabled_at: enabled_at.map(crate::ui::time::rfc3339),
        recovery_codes_left: left,
        required_by,
        enrolling,
    })
}

/// Starts setting up: a new secret waits in this browser's session until a code confirms it.
#[server(endpoint = "account/two-factor/start")]
pub async fn start_two_factor() -> Result<(), AppError> {
    let actor = crate::access::require_actor().await?;
    let st = crate::server_ctx::state()?;
    enrolling::begin(&crate::server_ctx::session()?, &st.credentials, actor.user_id).await?;
    leptos_axum::redirect("/account/two-factor");
    Ok(())
}

/// Confirms the app with a code: two-factor sign-in is on, and the recovery codes are shown once.
#[server(endpoint = "account/two-factor/enable")]
pub async fn enable_two_factor(code: String) -> Result<RecoveryCodes, AppError> {
    let (actor, st, mut tx) = account_tx().await?;
    let session = crate::server_ctx::session()?;
    let secret = enrolling::secret(&session, &st.credentials, actor.user_id)
        .await?
        .ok_or_else(|| AppError::Conflict("Start setting up two-factor sign-in first.".into()))?;
    let codes = service::enable(&mut tx, &st, actor.user_id, &secret, &code).await?;
    audit(&mut tx, &actor, crate::audit::Action::AccountTwoFactorEnable, serde_json::json!({ "method": "totp" }))
        .await?;
    service::notify_owner(&mut tx, &st, own_mail(&actor), &actor.email, "Two-factor sign-in was turned on").await?;
    tx.commit().await?;
    enrolling::end(&session).await?;
    show_codes_once(actor.user_id, &codes).await?;
    Ok(codes)
}

/// New recovery codes (a current code from the app is needed: a borrowed session alone cannot
/// mint them).
#[server(endpoint = "account/two-factor/codes")]
pub async fn new_recovery_codes(code: String) -> Result<RecoveryCodes, AppError> {
    let (actor, st, mut tx) = account_tx().await?;
    spend_code(&mut tx, &st, &actor, &code, false).await?;
    let codes = service::new_recovery_codes(&mut tx, &st, actor.user_id).await?;
    audit(&mut tx, &actor, crate::audit::Action::AccountTwoFactorCodes, serde_json::json!({ "codes": codes.len() }))
        .await?;
    service::notify_owner(
        &mut tx,
        &st,
        own_mail(&actor),
        &actor.email,
        "New recovery codes were made; the earlier ones stopped working",
    )
    .await?;
    tx.commit().await?;
    show_codes_once(actor.user_id, &codes).await?;
    Ok(codes)
}

/// Turns it off, with a current code; refused while a company (or the platform) requires it.
#[server(endpoint = "account/two-factor/disable")]
pub async fn disable_two_factor(code: String) -> Result<(), AppError> {
    let (actor, st, mut tx) = account_tx().await?;
    let required_by = service::at_sign_in(&mut tx, actor.user_id, actor.role, st.production).await?.required_by;
    if !required_by.is_empty() {
        return Err(AppError::Denied(format!(
            "Two-factor sign-in is required by {}, so it stays on. You can set up a new phone by turning it off only where it is not required.",
            required_by.join(", ")
        )));
    }
    spend_code(&mut tx, &st, &actor, &code, true).await?;
    service::clear(&mut tx, actor.user_id).await?;
    audit(&mut tx, &actor, crate::audit::Action::AccountTwoFactorDisable, serde_json::json!({})).await?;
    service::notify_owner(&mut tx, &st, own_mail(&actor), &actor.email, "Two-factor sign-in was turned off").await?;
    tx.commit().await?;
    leptos_axum::redirect("/account/two-factor?off=1");
    Ok(())
}

/// The codes the last plain form post (or the sign-in that set the app up) made, shown once
/// (see `set_flash`), and only to the account they belong to.
#[server(endpoint = "account/two-factor/flash")]
pub async fn flash_recovery_codes() -> Result<Option<RecoveryCodes>, AppError> {
    let flashed: Option<(uuid::Uuid, RecoveryCodes)> = crate::server_ctx::take_flash().await?;
    let viewer = crate::access::current_actor().await?.map(|a| a.user_id);
    Ok(flashed.filter(|(owner, _)| Some(*owner) == viewer).map(|(_, codes)| codes))
}

/// Keeps the codes for the next page this browser loads, bound to their account.
#[cfg(feature = "ssr")]
pub async fn flash_codes(user: uuid::Uuid, codes: &RecoveryCodes) -> Result<(), AppError> {
    crate::server_ctx::set_flash(&(user, codes)).await
}

/// Without wasm the codes travel to the next page sealed in the session; with it, in the answer.
#[cfg(feature = "ssr")]
async fn show_codes_once(user: uuid::Uuid, codes: &RecoveryCodes) -> Result<(), AppError> {
    if crate::server_ctx::plain_form_post() {
        flash_codes(user, codes).await?;
        leptos_axum::redirect("/account/two-factor?codes=1");
    }
    Ok(())
}

/// Mail about the account itself, queued in the account's own transaction.
#[cfg(feature = "ssr")]
fn own_mail(actor: &crate::server_ctx::Actor) -> crate::mail::Recipient {
    crate::mail::Recipient { company: None, user: Some(actor.user_id) }
}
