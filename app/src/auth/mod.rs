//! Sign-in, sign-out and "who am I".
use crate::domain::Role;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod client_block;
#[cfg(feature = "ssr")]
pub mod establish;
#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod recovery;
#[cfg(feature = "ssr")]
pub mod second_step;
#[cfg(feature = "ssr")]
pub mod sessions;
#[cfg(feature = "ssr")]
pub mod signin;
#[cfg(feature = "ssr")]
pub mod throttle;
mod views;
pub use views::{ForgotPasswordPage, LoginPage, SecondStepPage};

/// What the second step of signing in shows (see `second_step`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecondStepView {
    pub email: String,
    /// The app must be set up first (a company or the platform requires a second factor).
    pub enroll: Option<crate::two_factor::Enrollment>,
    pub required_by: Vec<String>,
}

/// The signed-in user as the browser may see them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Me {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The company the user belongs to (None for the super-admin).
    pub home_slug: Option<String>,
    pub home_name: Option<String>,
    /// Every company the user belongs to, for the switcher.
    pub companies: Vec<crate::domain::CompanyRef>,
    /// Maintenance mode, for the banner.
    pub maintenance: crate::maintenance::Status,
}

impl Me {
    pub fn home_path(&self) -> String {
        match (&self.role, &self.home_slug) {
            (Role::SuperAdmin, _) => "/admin/companies".into(),
            (_, Some(slug)) => format!("/t/{slug}/"),
            _ => "/account".into(),
        }
    }
}

#[server(endpoint = "me")]
pub async fn current_user() -> Result<Option<Me>, AppError> {
    let Some(actor) = crate::access::current_actor().await? else { return Ok(None) };
    // Companies where the membership is active: a pending invitation grants nothing.
    let companies: Vec<crate::domain::CompanyRef> = actor
        .memberships
        .iter()
        .map(|m| crate::domain::CompanyRef { id: m.id, name: m.name.clone(), slug: m.slug.clone() })
        .collect();
    let home = companies.iter().find(|c| Some(c.id) == actor.company_id).or(companies.first());
    Ok(Some(Me {
        user_id: actor.user_id,
        email: actor.email,
        name: actor.name,
        role: actor.role,
        home_slug: home.map(|h| h.slug.clone()),
        home_name: home.map(|h| h.name.clone()),
        companies,
        maintenance: {
            // Who threw the switch is the operators' business, not every member's.
            let mut m = crate::server_ctx::state()?.maintenance.now();
            if actor.role != Role::SuperAdmin {
                m.changed_by = None;
            }
            m
        },
    }))
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    signin::sign_in(email, password, next).await
}

#[server(endpoint = "login/two-factor/state")]
pub async fn second_step_state() -> Result<SecondStepView, AppError> {
    second_step::state_of().await
}

/// The code from the app (or a recovery code) after the password.
#[server(endpoint = "login/two-factor")]
pub async fn second_step(code: String) -> Result<(), AppError> {
    second_step::submit(code).await
}

/// "Forgot your password?": the same answer whether or not the address has an account.
#[server(endpoint = "password/forgot")]
pub async fn forgot_password(email: String) -> Result<(), AppError> {
    recovery::request(email).await?;
    if crate::server_ctx::plain_form_post() {
        leptos_axum::redirect("/forgot?sent=1");
    }
    Ok(())
}

/// Whether this Atrium mails recovery links (ATRIUM_SMTP_URL is set).
#[server(endpoint = "password/recovery")]
pub async fn recovery_available() -> Result<bool, AppError> {
    Ok(crate::server_ctx::state()?.mail.enabled)
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    signin::sign_out().await
}

/// Only our own paths are followed after sign-in, never another origin. A path that a browser
/// could read as another host (`//evil`, `/\evil`, a tab or newline inside, which browsers
/// strip) is refused whole, not repaired.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?;
    let ours = n.starts_with('/')
        && !n.starts_with("//")
        && !n.starts_with("/api/")
        && !n.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\');
    ours.then(|| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_our_origin() {
        for ok in ["/t/acme/users", "/account#invitations", "/t/acme/users?q=a%20b", "/%2F%2Fevil.test"] {
            assert_eq!(safe_next(Some(ok)).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "https://evil.test/",
            "//evil.test",
            "/\\evil.test",
            "/\\/evil.test",
            "\\\\evil.test",
            "/\t/evil.test",
            "/\n/evil.test",
            " //evil.test",
            "/ /evil.test",
            "/api/logout",
            "javascript:alert(1)",
            "",
            "t/acme",
        ] {
            assert_eq!(safe_next(Some(bad)), None, "{bad:?}");
        }
    }
}
