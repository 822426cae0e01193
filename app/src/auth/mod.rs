//! Sign-in, sign-out and "who am I".
use crate::domain::Role;
use crate::error::AppError;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod password;
#[cfg(feature = "ssr")]
pub mod signin;
mod views;
pub use views::LoginPage;

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
    use crate::server_ctx::*;
    respond(
        async {
            let Some(actor) = current_actor().await? else { return Ok(None) };
            let st = state()?;
            let home = match actor.company_id {
                Some(id) => sqlx::query!("SELECT slug, name FROM companies WHERE id = $1", id)
                    .fetch_optional(&st.pool)
                    .await?
                    .map(|c| (c.slug, c.name)),
                None => None,
            };
            Ok(Some(Me {
                user_id: actor.user_id,
                email: actor.email,
                name: actor.name,
                role: actor.role,
                home_slug: home.as_ref().map(|h| h.0.clone()),
                home_name: home.map(|h| h.1),
            }))
        }
        .await,
    )
}

#[server(endpoint = "login")]
pub async fn login(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    crate::server_ctx::respond(signin::sign_in(email, password, next).await)
}

#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    crate::server_ctx::respond(signin::sign_out().await)
}

/// Only same-site paths are followed after sign-in, never another origin.
pub fn safe_next(next: Option<&str>) -> Option<String> {
    let n = next?.trim();
    (n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") && !n.starts_with("/api/"))
        .then(|| n.to_string())
}
