//! API keys: issuing, listing, revoking and rolling the keys machine clients use against
//! `/api/v1`. The REST side (verification, cache, limits, usage) lives in the server crate.
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod expiry;
#[cfg(feature = "ssr")]
pub mod secret;
#[cfg(feature = "ssr")]
pub mod service;
mod views;
pub use views::{ApiKeyDetailPage, ApiKeyListPage, ApiKeyNewPage};

/// A key "expires soon" inside this many days.
pub const EXPIRING_SOON_DAYS: i64 = 14;
/// A key unused for this many days is "risky".
pub const UNUSED_DAYS: i64 = 90;

macro_rules! scopes {
    ($($variant:ident => $name:literal, $label:literal;)*) => {
        /// What a key may do on the REST API. The string form is stored in `api_keys.scopes`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Scope { $($variant,)* }

        impl Scope {
            pub const ALL: &'static [Scope] = &[$(Scope::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Scope::$variant => $name,)* }
            }

            pub fn label(self) -> &'static str {
                match self { $(Scope::$variant => $label,)* }
            }

            pub fn parse(s: &str) -> Option<Scope> {
                match s.trim() { $($name => Some(Scope::$variant),)* _ => None }
            }
        }
    };
}

scopes! {
    ReadCompany => "read:company", "Read the company's profile";
    ReadMetrics => "read:metrics", "Read usage metrics: users, API requests, deliveries";
    ReadWeights => "read:weights", "Read SROI and VIS weight overrides";
    WriteWeights => "write:weights", "Change weight overrides";
    ReadAudit => "read:audit", "Read and page through the audit log";
    WriteDeliveries => "write:deliveries", "Queue deliveries to integrations";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum KeyStatus {
    Active,
    ExpiringSoon,
    Expired,
    Revoked,
}

impl KeyStatus {
    pub fn label(self) -> &'static str {
        match self {
            KeyStatus::Active => "Active",
            KeyStatus::ExpiringSoon => "Expiring soon",
            KeyStatus::Expired => "Expired",
            KeyStatus::Revoked => "Revoked",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyStatus::Active => "active",
            KeyStatus::ExpiringSoon => "expiring",
            KeyStatus::Expired => "expired",
            KeyStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<KeyStatus> {
        [KeyStatus::Active, KeyStatus::ExpiringSoon, KeyStatus::Expired, KeyStatus::Revoked]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyRow {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub last4: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created: Stamp,
    pub expires: Option<Stamp>,
    pub last_used: Option<Stamp>,
    pub requests_24h: i64,
    pub rate_limit: Option<i32>,
    pub status: KeyStatus,
    /// Why the key is on the "risky" list, if it is: never expires, unused, no limit.
    pub risks: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyList {
    pub rows: Vec<KeyRow>,
    /// Keys in the company, whatever the filter.
    pub total: i64,
    pub can_write: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DayCount {
    /// YYYY-MM-DD, UTC.
    pub day: String,
    pub requests: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Caller {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub endpoint: String,
    pub requests: i64,
    pub last_seen: Stamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyLink {
    pub id: Uuid,
    pub name: String,
    pub prefix: String,
    pub last4: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KeyDetail {
    pub key: KeyRow,
    pub revoked: Option<Stamp>,
    pub revoked_by: Option<String>,
    pub rolled_from: Option<KeyLink>,
    pub rolled_to: Vec<KeyLink>,
    /// The last 30 days, oldest first, every day present.
    pub daily: Vec<DayCount>,
    pub callers: Vec<Caller>,
    pub can_write: bool,
    pub can_revoke: bool,
}

/// A new key, with its secret: shown once and never again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IssuedKey {
    pub id: Uuid,
    pub name: String,
    pub secret: String,
    pub expires: Option<Stamp>,
}

#[server(endpoint = "api-keys/list")]
pub async fn list_keys(slug: String, status: String, risky: Option<String>) -> Result<KeyList, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::ApiKeysRead).await?;
    let status = match status.trim() {
        "" | "all" => None,
        s => Some(
            KeyStatus::parse(s)
                .ok_or_else(|| AppError::field("status", format!("\u{201c}{s}\u{201d} is not a key status.")))?,
        ),
    };
    let risky = risky.is_some_and(|r| !r.is_empty() && r != "0");
    let mut tx = t.tx().await?;
    let (rows, total) = service::list(&mut tx, t.company.id, status, risky).await?;
    tx.commit().await?;
    let can_write = t.may(Permission::ApiKeysWrite);
    Ok(KeyList { rows, total, can_write })
}

#[server(endpoint = "api-keys/get")]
pub async fn get_key(slug: String, id: Uuid) -> Result<KeyDetail, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::ApiKeysRead).await?;
    let mut tx = t.tx().await?;
    let mut detail = service::detail(&mut tx, t.company.id, id).await?.ok_or(AppError::NotFound)?;
    tx.commit().await?;
    detail.can_write = t.may(Permission::ApiKeysWrite);
    detail.can_revoke = t.may(Permission::ApiKeysRevoke);
    Ok(detail)
}

#[server(endpoint = "api-keys/create")]
pub async fn create_key(
    slug: String,
    name: String,
    scopes: Option<Vec<String>>,
    expiry: String,
    expires_on: Option<String>,
    confirm_never: Option<String>,
    rate_limit: Option<String>,
) -> Result<IssuedKey, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::ApiKeysWrite).await?;
    let new = service::NewKey::parse(
        &name,
        scopes.as_deref().unwrap_or_default(),
        &expiry,
        expires_on.as_deref().unwrap_or(""),
        confirm_never.is_some_and(|c| !c.is_empty()),
        rate_limit.as_deref().unwrap_or(""),
    )?;
    let mut tx = t.tx().await?;
    let issued = service::create(&mut tx, &t.op(), &state()?.pepper, &new, None).await?;
    tx.commit().await?;
    hand_over(&slug, issued).await
}

#[server(endpoint = "api-keys/revoke")]
pub async fn revoke_key(slug: String, id: Uuid, confirm: Option<String>) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::ApiKeysRevoke).await?;
    if confirm.is_none_or(|c| c.is_empty()) {
        return Err(AppError::field("confirm", "Tick the box to confirm: the key stops working at once."));
    }
    let mut tx = t.tx().await?;
    service::revoke(&mut tx, &t.op(), id).await?;
    tx.commit().await?;
    leptos_axum::redirect(&format!("/t/{slug}/api-keys/{id}?revoked=1"));
    Ok(())
}

/// A successor with the same scopes and limit; the old key works on for the grace period.
#[server(endpoint = "api-keys/roll")]
pub async fn roll_key(slug: String, id: Uuid, grace: String) -> Result<IssuedKey, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::ApiKeysWrite).await?;
    let grace = service::Grace::parse(&grace)?;
    let mut tx = t.tx().await?;
    let issued = service::roll(&mut tx, &t.op(), &state()?.pepper, id, grace).await?;
    tx.commit().await?;
    hand_over(&slug, issued).await
}

/// A new key goes back to the hydrated page as the answer; a plain form post cannot receive
/// one, so the key travels once through the session to the key's own page.
#[cfg(feature = "ssr")]
async fn hand_over(slug: &str, issued: IssuedKey) -> Result<IssuedKey, AppError> {
    use crate::server_ctx::*;
    if plain_form_post() {
        set_flash(&issued).await?;
        leptos_axum::redirect(&format!("/t/{slug}/api-keys/{}?issued=1", issued.id));
    }
    Ok(issued)
}

/// The key issued by the last plain form post, once (see `set_flash`).
#[server(endpoint = "api-keys/flash-secret")]
pub async fn flash_secret() -> Result<Option<IssuedKey>, AppError> {
    crate::server_ctx::take_flash().await
}
