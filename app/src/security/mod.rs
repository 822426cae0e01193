//! `/t/{slug}/security`: what Keycloak, Unkey and WorkOS scatter over many pages, in one:
//! members without two-factor sign-in, admins and their last sign-in, single sign-on, risky API
//! keys, failing integrations, audit retention and the chain's last verification. Each line
//! links to the page that fixes it. The super-admin sees a summary across companies on `/admin`.
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod service;
mod views;
pub use views::{PlatformSecuritySummary, SecurityPage};

/// A key is risky when it never expires, has not been used for this many days, or has no
/// rate limit.
pub const UNUSED_DAYS: i64 = 90;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminLine {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub last_sign_in: Option<Stamp>,
    pub two_factor: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RiskyKey {
    pub id: Uuid,
    pub name: String,
    pub reasons: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FailingIntegration {
    pub platform: String,
    pub label: String,
    pub failed_deliveries: i64,
    pub last_error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainCheck {
    pub at: Stamp,
    pub intact: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SecurityOverview {
    pub company: String,
    pub require_two_factor: bool,
    pub members: i64,
    /// Active members without a second factor, by role label (highest role first).
    pub without_two_factor: Vec<(String, i64)>,
    pub admins: Vec<AdminLine>,
    pub risky_keys: Vec<RiskyKey>,
    pub failing_integrations: Vec<FailingIntegration>,
    pub retention_days: i32,
    pub legal_hold: bool,
    pub last_verification: Option<ChainCheck>,
}

/// One company's line in the super-admin's summary.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanySecurity {
    pub name: String,
    pub slug: String,
    pub require_two_factor: bool,
    pub members: i64,
    pub without_two_factor: i64,
    pub admins_without_two_factor: i64,
    pub risky_keys: i64,
    pub failing_integrations: i64,
    pub last_verification: Option<ChainCheck>,
}

#[server(endpoint = "security/overview")]
pub async fn load_security(slug: String) -> Result<SecurityOverview, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::SecurityManage).await?;
    let mut tx = t.tx().await?;
    let overview = service::overview(&mut tx, t.company.id, &t.company.name).await?;
    tx.commit().await?;
    Ok(overview)
}

/// Requires (or stops requiring) a second factor of every member at their next sign-in.
#[server(endpoint = "security/two-factor")]
pub async fn require_two_factor(slug: String, #[server(default)] required: Option<String>) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::SecurityManage).await?;
    let mut tx = t.tx().await?;
    service::set_required(&mut tx, &t.op(), required.is_some()).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/t/{slug}/security?saved=1"));
    Ok(())
}
