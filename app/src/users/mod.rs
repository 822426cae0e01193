//! A company's people: the list, invitations, edits, suspension and one-time links.
use crate::domain::{Role, UserStatus};
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod service;
mod views;
pub use views::{AcceptInvitePage, UserDetailPage, UserInvitePage, UserListPage};

pub const PAGE_SIZE: i64 = 25;
/// Invite and reset links stop working after this many hours.
pub const LINK_HOURS: i64 = 72;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub status: UserStatus,
    pub last_login: Option<Stamp>,
    pub joined: Stamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserPage {
    pub rows: Vec<UserRow>,
    pub next: Option<String>,
    pub total: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserDetail {
    pub user: UserRow,
    /// May the viewer edit, suspend or reset this user? (The server checks again.)
    pub manageable: bool,
    /// The roles the viewer may give.
    pub grantable: Vec<Role>,
    /// Another company also holds this account: its name and password are its owner's.
    pub account_shared: bool,
    /// The account signs in with a second factor.
    pub two_factor: bool,
}

/// A one-time link: mailed to the person when Atrium sends mail, else shown once to the admin
/// who made it, to pass on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OneTimeLink {
    pub email: String,
    /// Path only; the page puts the browser's origin in front. Empty when mailed: the admin
    /// never sees a link that would let them act as the person.
    pub path: String,
    pub expires: Stamp,
    pub mailed: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum InviteOutcome {
    /// The membership waits as INVITED, with a link for the person. The answer is the same
    /// whether or not the email already has an account, so an invitation reveals nothing: a
    /// new account sets its password through the link, an existing one signs in and accepts.
    Invited(OneTimeLink),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub email: String,
    pub company_name: String,
    pub role: Role,
    /// A password reset (else the first password of a new account).
    pub reset: bool,
    /// An invitation for an account that already exists: it is accepted after signing in.
    pub join: bool,
    pub company_id: Uuid,
    /// Someone is signed in in this browser, and (`for_viewer`) it is the invited account.
    pub signed_in: bool,
    pub for_viewer: bool,
}

#[server(endpoint = "users/list")]
pub async fn list_users(
    slug: String,
    q: String,
    role: String,
    status: String,
    after: Option<String>,
) -> Result<UserPage, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersRead).await?;
    let filter = service::Filter::parse(&q, &role, &status, after.as_deref())?;
    let mut tx = t.tx().await?;
    let page = service::list(&mut tx, t.company.id, &filter).await?;
    tx.commit().await?;
    Ok(page)
}

#[server(endpoint = "users/get")]
pub async fn get_user(slug: String, id: Uuid) -> Result<UserDetail, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersRead).await?;
    let mut tx = t.tx().await?;
    let user = service::get(&mut tx, t.company.id, id).await?.ok_or(AppError::NotFound)?;
    // A pending member's account is not shown to the company yet, shared or not.
    let account_shared = user.status != UserStatus::Invited && service::account_shared(&mut tx, &t, id).await?;
    // Like the rest of the account, not shown to a company whose invitation is still pending.
    let two_factor = user.status != UserStatus::Invited && service::has_two_factor(&mut tx, id).await?;
    tx.commit().await?;
    let can_write = t.may(Permission::UsersWrite);
    let manageable = can_write && crate::access::rules::may_manage(t.role, user.role, t.actor.user_id == id);
    let grantable = if manageable { crate::access::rules::grantable(t.role) } else { Vec::new() };
    Ok(UserDetail { user, manageable, grantable, account_shared, two_factor })
}

/// Turns off a member's second factor (a lost phone), so they set it up again at their next
/// sign-in where it is required. Only for an account this company alone holds.
#[server(endpoint = "users/two-factor/reset")]
pub async fn reset_two_factor(slug: String, id: Uuid) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersWrite).await?;
    let mut tx = t.tx().await?;
    service::reset_two_factor(&mut tx, &t.op(), id).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/t/{slug}/users/{id}?saved=1"));
    Ok(())
}

#[server(endpoint = "users/invite")]
pub async fn invite_user(slug: String, email: String, name: String, role: String) -> Result<InviteOutcome, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersWrite).await?;
    let mut tx = t.tx().await?;
    let outcome = service::invite(&mut tx, &t.op(), &email, &name, &role).await?;
    tx.commit().await?;
    if plain_form_post() {
        set_flash(&outcome).await?;
        leptos_axum::redirect(&format!("/t/{slug}/users/invite?sent=1"));
    }
    Ok(outcome)
}

#[server(endpoint = "users/update")]
pub async fn update_user(slug: String, id: Uuid, name: String, role: String) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersWrite).await?;
    let mut tx = t.tx().await?;
    service::update(&mut tx, &t.op(), id, &name, &role).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/t/{slug}/users/{id}?saved=1"));
    Ok(())
}

/// Suspend (ends the user's sessions at once), reactivate, or mark inactive.
#[server(endpoint = "users/status")]
pub async fn set_user_status(slug: String, id: Uuid, status: String) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersSuspend).await?;
    let mut tx = t.tx().await?;
    service::set_status(&mut tx, &t.op(), id, &status).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/t/{slug}/users/{id}?saved=1"));
    Ok(())
}

/// A new one-time link to set a password; earlier unused links stop working.
#[server(endpoint = "users/reset-link")]
pub async fn reset_link(slug: String, id: Uuid) -> Result<OneTimeLink, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersWrite).await?;
    let mut tx = t.tx().await?;
    let link = service::reset_link(&mut tx, &t.op(), id).await?;
    tx.commit().await?;
    if plain_form_post() {
        set_flash(&link).await?;
        leptos_axum::redirect(&format!("/t/{slug}/users/{id}?link=1"));
    }
    Ok(link)
}

/// The invitation made by the last plain form post, shown once (see `set_flash`).
#[server(endpoint = "users/flash-invite")]
pub async fn flash_invite() -> Result<Option<InviteOutcome>, AppError> {
    crate::server_ctx::take_flash().await
}

#[server(endpoint = "users/flash-link")]
pub async fn flash_link() -> Result<Option<OneTimeLink>, AppError> {
    crate::server_ctx::take_flash().await
}

#[server(endpoint = "invite/inspect")]
pub async fn inspect_token(token: String) -> Result<TokenInfo, AppError> {
    service::inspect_token(&token).await
}

#[server(endpoint = "invite/accept")]
pub async fn accept_token(token: String, password: String, confirm: String) -> Result<(), AppError> {
    service::accept_token(&token, &password, &confirm).await?;
    leptos_axum::redirect("/login?welcome=1");
    Ok(())
}
