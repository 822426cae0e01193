//! Integrations: one config per platform per company (endpoint, sealed credentials, validated
//! settings), and the outbox of deliveries sent to it with retries.
use crate::error::AppError;
use crate::ui::time::Stamp;
use leptos::prelude::*;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[cfg(feature = "ssr")]
pub mod crypto;
#[cfg(feature = "ssr")]
pub mod egress;
#[cfg(feature = "ssr")]
pub mod outbox;
#[cfg(feature = "ssr")]
pub mod platform;
#[cfg(feature = "ssr")]
pub mod service;
mod views;
pub use views::{DeliveriesPage, DeliveryPage, IntegrationPage, IntegrationsPage};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Platform {
    Benevity,
    Goodera,
    Workday,
}

impl Platform {
    pub const ALL: [Platform; 3] = [Platform::Benevity, Platform::Goodera, Platform::Workday];

    pub fn as_str(self) -> &'static str {
        match self {
            Platform::Benevity => "benevity",
            Platform::Goodera => "goodera",
            Platform::Workday => "workday",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Platform::Benevity => "Benevity",
            Platform::Goodera => "Goodera",
            Platform::Workday => "Workday",
        }
    }

    pub fn parse(s: &str) -> Option<Platform> {
        Platform::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryStatus {
    Queued,
    Sending,
    Success,
    Failed,
    Retrying,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 5] = [
        DeliveryStatus::Queued,
        DeliveryStatus::Sending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Success,
        DeliveryStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "queued",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Success => "success",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::Retrying => "retrying",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            DeliveryStatus::Queued => "Queued",
            DeliveryStatus::Sending => "Sending",
            DeliveryStatus::Success => "Delivered",
            DeliveryStatus::Failed => "Failed",
            DeliveryStatus::Retrying => "Retrying",
        }
    }

    pub fn tone(self) -> &'static str {
        match self {
            DeliveryStatus::Queued | DeliveryStatus::Sending => "neutral",
            DeliveryStatus::Success => "success",
            DeliveryStatus::Failed => "danger",
            DeliveryStatus::Retrying => "warning",
        }
    }

    pub fn parse(s: &str) -> Option<DeliveryStatus> {
        DeliveryStatus::ALL.into_iter().find(|d| d.as_str() == s)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationSummary {
    pub platform: Platform,
    pub configured: bool,
    pub enabled: bool,
    pub endpoint: Option<String>,
    pub last_synced: Option<Stamp>,
    /// success, failed or pending (retrying).
    pub last_status: Option<String>,
    pub last_error: Option<String>,
    pub failed_deliveries: i64,
}

/// Which credentials are set; never their values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CredentialState {
    pub api_token: bool,
    pub signing_secret: bool,
    pub changed: Option<Stamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IntegrationDetail {
    pub summary: IntegrationSummary,
    /// The settings as pretty JSON, for the editor.
    pub config: String,
    /// (key, required, help) of each known setting.
    pub settings: Vec<(String, bool, String)>,
    pub credentials: CredentialState,
    pub recent: Vec<DeliveryRow>,
    pub can_write: bool,
    pub can_replay: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub id: i64,
    pub platform: Platform,
    pub status: DeliveryStatus,
    pub event_type: String,
    pub webhook_id: Uuid,
    pub created: Stamp,
    pub delivered: Option<Stamp>,
    pub next_attempt: Option<Stamp>,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub error: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttemptRow {
    pub attempt: i32,
    pub at: Stamp,
    pub duration_ms: i32,
    pub response_status: Option<i32>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    /// success, retry or failed.
    pub outcome: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryDetail {
    pub row: DeliveryRow,
    pub payload: String,
    pub attempts: Vec<AttemptRow>,
    pub can_replay: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub platform: Option<Platform>,
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
}

impl DeliveryFilter {
    /// From the list's query string; empty means "any".
    pub fn parse(status: &str, platform: &str, from: &str, to: &str) -> Result<DeliveryFilter, AppError> {
        let mut errors = crate::error::FieldErrors::new();
        let date = |name: &str, raw: &str, errors: &mut crate::error::FieldErrors| {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            let fmt = time::macros::format_description!("[year]-[month]-[day]");
            time::Date::parse(raw, &fmt)
                .map_err(|_| {
                    errors.insert(name.into(), format!("\u{201c}{raw}\u{201d} is not a date like 2026-01-31."))
                })
                .ok()
        };
        let status = match status.trim() {
            "" | "all" => None,
            s => DeliveryStatus::parse(s).or_else(|| {
                errors.insert("status".into(), format!("\u{201c}{s}\u{201d} is not a delivery status."));
                None
            }),
        };
        let platform = match platform.trim() {
            "" | "all" => None,
            s => Platform::parse(s).or_else(|| {
                errors.insert("platform".into(), format!("\u{201c}{s}\u{201d} is not a platform."));
                None
            }),
        };
        let from = date("from", from, &mut errors);
        let to = date("to", to, &mut errors);
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                errors.insert("to".into(), "The end date is before the start date.".into());
            }
        }
        if errors.is_empty() {
            Ok(DeliveryFilter { status, platform, from, to })
        } else {
            Err(AppError::Validation(errors))
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryList {
    pub rows: Vec<DeliveryRow>,
    /// Failed deliveries matching the filter (what "Replay all failed" would send).
    pub failed: i64,
    /// Every status with its count, for the platform and dates chosen.
    pub by_status: Vec<(DeliveryStatus, i64)>,
    /// Pass as `before` for the next (older) page.
    pub next: Option<i64>,
    pub can_replay: bool,
}

#[cfg(feature = "ssr")]
fn platform_or_404(raw: &str) -> Result<Platform, AppError> {
    Platform::parse(raw.trim()).ok_or(AppError::NotFound)
}

#[server(endpoint = "integrations/list")]
pub async fn list_integrations(slug: String) -> Result<Vec<IntegrationSummary>, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::IntegrationsRead).await?;
    let mut tx = t.tx().await?;
    let list = service::list(&mut tx, t.company.id).await?;
    tx.commit().await?;
    Ok(list)
}

#[server(endpoint = "integrations/get")]
pub async fn get_integration(slug: String, platform: String) -> Result<IntegrationDetail, AppError> {
    use crate::server_ctx::*;
    let platform = platform_or_404(&platform)?;
    let t = crate::access::require_in(&slug, Permission::IntegrationsRead).await?;
    let mut tx = t.tx().await?;
    let mut d = service::detail(&mut tx, &state()?.credentials, t.company.id, platform).await?;
    let filter = DeliveryFilter { platform: Some(platform), ..Default::default() };
    d.recent = outbox::list(&mut tx, t.company.id, &filter, None).await?.0.into_iter().take(10).collect();
    tx.commit().await?;
    d.can_write = t.may(Permission::IntegrationsWrite);
    d.can_replay = t.may(Permission::IntegrationsReplay);
    Ok(d)
}

#[allow(clippy::too_many_arguments)]
#[server(endpoint = "integrations/save")]
pub async fn save_integration(
    slug: String,
    platform: String,
    enabled: Option<String>,
    endpoint: String,
    config: String,
    api_token: Option<String>,
    clear_api_token: Option<String>,
    signing_secret: Option<String>,
) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let platform = platform_or_404(&platform)?;
    let t = crate::access::require_in(&slug, Permission::IntegrationsWrite).await?;
    let st = state()?;
    let on = |v: &Option<String>| v.as_deref().is_some_and(|v| !v.is_empty() && v != "0" && v != "false");
    let input = service::ConfigInput::parse(
        platform,
        on(&enabled),
        &endpoint,
        &config,
        api_token.as_deref().unwrap_or(""),
        on(&clear_api_token),
        signing_secret.as_deref().unwrap_or(""),
        !st.production,
    )?;
    st.egress.check_endpoint(&input.endpoint).await.map_err(|why| AppError::field("endpoint", why))?;
    let mut tx = t.tx().await?;
    service::save(&mut tx, &t.op(), &st.credentials, platform, input).await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/integrations/{}?saved=1", platform.as_str()));
    }
    Ok(())
}

#[server(endpoint = "integrations/disable")]
pub async fn disable_integration(slug: String, platform: String) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let platform = platform_or_404(&platform)?;
    let t = crate::access::require_in(&slug, Permission::IntegrationsWrite).await?;
    let mut tx = t.tx().await?;
    service::disable(&mut tx, &t.op(), platform).await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/integrations/{}?disabled=1", platform.as_str()));
    }
    Ok(())
}

/// Queues a small test event to the integration; the page then shows how it went.
#[server(endpoint = "integrations/send-test")]
pub async fn send_test_delivery(slug: String, platform: String) -> Result<i64, AppError> {
    use crate::server_ctx::*;
    let platform = platform_or_404(&platform)?;
    let t = crate::access::require_in(&slug, Permission::IntegrationsWrite).await?;
    let op = t.op();
    let delivery = outbox::NewDelivery {
        event_type: "atrium.test".into(),
        data: serde_json::json!({
            "message": format!("Test delivery to {} from Atrium", platform.label()),
            "company": slug,
            "requested_by": op.who.email,
            "nonce": Uuid::new_v4(),
        }),
    };
    let mut tx = t.tx().await?;
    let queued =
        outbox::enqueue(&mut tx, &op, platform, &delivery, crate::audit::Action::IntegrationTestDelivery).await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/deliveries/{}?sent=1", queued.id));
    }
    Ok(queued.id)
}

#[server(endpoint = "deliveries/list")]
pub async fn list_deliveries(
    slug: String,
    status: String,
    platform: String,
    from: String,
    to: String,
    before: Option<i64>,
) -> Result<DeliveryList, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::IntegrationsRead).await?;
    let filter = DeliveryFilter::parse(&status, &platform, &from, &to)?;
    let mut tx = t.tx().await?;
    let (rows, next) = outbox::list(&mut tx, t.company.id, &filter, before).await?;
    let failed = outbox::count_failed(&mut tx, t.company.id, &filter).await?;
    let by_status = outbox::by_status(&mut tx, t.company.id, &filter).await?;
    tx.commit().await?;
    let can_replay = t.may(Permission::IntegrationsReplay);
    Ok(DeliveryList { rows, failed, by_status, next, can_replay })
}

#[server(endpoint = "deliveries/get")]
pub async fn get_delivery(slug: String, id: i64) -> Result<DeliveryDetail, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::IntegrationsRead).await?;
    let mut tx = t.tx().await?;
    let mut d = outbox::detail(&mut tx, t.company.id, id).await?;
    tx.commit().await?;
    d.can_replay = t.may(Permission::IntegrationsReplay);
    Ok(d)
}

#[server(endpoint = "deliveries/replay")]
pub async fn replay_delivery(slug: String, id: i64) -> Result<(), AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::IntegrationsReplay).await?;
    let mut tx = t.tx().await?;
    outbox::replay(&mut tx, &t.op(), id).await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/deliveries/{id}?replayed=1"));
    }
    Ok(())
}

/// Replays every failed delivery the filter shows; `expected` is the count the user
/// confirmed, and a different count now is refused.
#[server(endpoint = "deliveries/replay-failed")]
pub async fn replay_failed(
    slug: String,
    platform: String,
    from: String,
    to: String,
    expected: i64,
    confirm: Option<String>,
) -> Result<u64, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::IntegrationsReplay).await?;
    if confirm.is_none_or(|c| c.is_empty()) {
        return Err(AppError::field("confirm", "Tick the box to confirm the replay."));
    }
    let filter = DeliveryFilter::parse("", &platform, &from, &to)?;
    let mut tx = t.tx().await?;
    let n = outbox::replay_failed(&mut tx, &t.op(), &filter, expected).await?;
    tx.commit().await?;
    if plain_form_post() {
        leptos_axum::redirect(&format!("/t/{slug}/deliveries?replayed={n}"));
    }
    Ok(n)
}
