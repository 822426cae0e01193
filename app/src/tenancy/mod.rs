//! Tenancy: which company a request works in, the switcher, and the super-admin's
//! time-boxed "act as company".
use crate::domain::{Permission, Role};
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod session;
mod views;
pub use views::ActAsForm;

/// Minutes an "act as company" window stays open.
pub const ACT_AS_MINUTES: i64 = 30;

pub use crate::domain::CompanyRef;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActingBanner {
    pub until: Stamp,
    pub reason: String,
}

/// What every company page knows about where it is and what its viewer may do. The UI uses
/// `can` only to hide controls; the server checks each request again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TenantShell {
    pub company: CompanyRef,
    pub enabled: bool,
    pub role: Role,
    pub permissions: Vec<String>,
    pub acting: Option<ActingBanner>,
}

impl TenantShell {
    pub fn can(&self, p: Permission) -> bool {
        self.permissions.iter().any(|n| n == p.name())
    }
}

#[server(endpoint = "tenant/shell")]
pub async fn load_tenant_shell(slug: String) -> Result<TenantShell, AppError> {
    let t = crate::access::enter(&slug).await?;
    let permissions = t.actor.grants.of(t.role);
    Ok(TenantShell {
        company: t.company.clone(),
        enabled: t.enabled,
        role: t.role,
        permissions,
        acting: t
            .actor
            .acting
            .as_ref()
            .map(|a| ActingBanner { until: crate::ui::time::rfc3339(a.until), reason: a.reason.clone() }),
    })
}

/// Moves the session to another of the user's companies.
#[server(endpoint = "tenant/switch")]
pub async fn switch_tenant(slug: String) -> Result<(), AppError> {
    let t = crate::access::enter(&slug).await?;
    session::record_switch(&t).await?;
    leptos_axum::redirect(&format!("/t/{}/", t.company.slug));
    Ok(())
}

/// A super-admin opens a company for `ACT_AS_MINUTES`, giving a reason.
#[server(endpoint = "tenant/act-as")]
pub async fn act_as(slug: String, reason: String) -> Result<(), AppError> {
    let actor = crate::access::require_actor().await?;
    session::start_acting(&actor, &slug, &reason).await?;
    leptos_axum::redirect(&format!("/t/{slug}/"));
    Ok(())
}

#[server(endpoint = "tenant/act-as/end")]
pub async fn end_act_as() -> Result<(), AppError> {
    let actor = crate::access::require_actor().await?;
    session::stop_acting(&actor).await?;
    leptos_axum::redirect("/admin");
    Ok(())
}
