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

#[cfg(feature = "ssr")]
async fn audit(
    tx: &mut crate::db::Tx,
    actor: &crate::server_ctx::Actor,
    action: crate::audit::Action,
    details: serde_json::Value,
) -> Result<(), AppError> {
    use crate::audit::record::{record, Event, Who};
    record(
        tx,
        &Who::from(actor),
        &crate::server_ctx::request_meta(),
        Event::new(action, "user").on(actor.user_id).severity(crate::audit::Severity::Warning).details(details),
    )
    .await
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
    tx.commit().await?;
    enrolling::end(&session).await?;
    show_codes_once(&codes).await?;
    Ok(codes)
}

/// New recovery codes (a current code from the app is needed: a borrowed session alone cannot
/// mint them).
#[server(endpoint = "account/two-factor/codes")]
pub async fn new_recovery_codes(code: String) -> Result<RecoveryCodes, AppError> {
    let (actor, st, mut tx) = account_tx().await?;
    if service::verify_and_spend(&mut tx, &st, actor.user_id, &code).await? != Some(service::Factor::Totp) {
        return Err(AppError::field("code", "That code is not right. Type the 6-digit code your app shows now."));
    }
    let codes = service::new_recovery_codes(&mut tx, &st, actor.user_id).await?;
    audit(&mut tx, &actor, crate::audit::Action::AccountTwoFactorCodes, serde_json::json!({ "codes": codes.len() }))
        .await?;
    tx.commit().await?;
    show_codes_once(&codes).await?;
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
    if service::verify_and_spend(&mut tx, &st, actor.user_id, &code).await?.is_none() {
        return Err(AppError::field("code", service::WRONG_CODE));
    }
    service::clear(&mut tx, actor.user_id).await?;
    audit(&mut tx, &actor, crate::audit::Action::AccountTwoFactorDisable, serde_json::json!({})).await?;
    tx.commit().await?;
    leptos_axum::redirect("/account/two-factor?off=1");
    Ok(())
}

/// The codes the last plain form post made, shown once (see `set_flash`).
#[server(endpoint = "account/two-factor/flash")]
pub async fn flash_recovery_codes() -> Result<Option<RecoveryCodes>, AppError> {
    crate::server_ctx::take_flash().await
}

/// Without wasm the codes travel to the next page sealed in the session; with it, in the answer.
#[cfg(feature = "ssr")]
async fn show_codes_once(codes: &RecoveryCodes) -> Result<(), AppError> {
    if crate::server_ctx::plain_form_post() {
        crate::server_ctx::set_flash(codes).await?;
        leptos_axum::redirect("/account/two-factor?codes=1");
    }
    Ok(())
}
