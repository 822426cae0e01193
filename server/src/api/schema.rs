//! The REST API's request and response types. The handlers take and return these, and the
//! OpenAPI document (`openapi`) is derived from them with utoipa, so the document describes
//! exactly what the handlers read and write.
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct CompanyOut {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub enabled: bool,
    #[schema(format = DateTime)]
    pub created_at: String,
    pub active_users: i64,
}

#[derive(Serialize, ToSchema)]
pub struct CompanyId {
    pub id: Uuid,
    pub slug: String,
}

#[derive(Serialize, ToSchema)]
pub struct DayCount {
    #[schema(format = Date)]
    pub day: String,
    pub requests: i64,
}

#[derive(Serialize, ToSchema)]
pub struct MetricsOut {
    pub company: CompanyId,
    /// Members by status.
    pub users: BTreeMap<String, i64>,
    /// The last 30 days, UTC.
    pub api_requests_per_day: Vec<DayCount>,
    pub deliveries_by_status: BTreeMap<String, i64>,
}

#[derive(Serialize, Deserialize, ToSchema, Clone, Copy)]
#[serde(rename_all = "lowercase")]
pub enum WeightCategory {
    Sroi,
    Vis,
}

#[derive(Serialize, ToSchema)]
pub struct WeightsOut {
    pub category: WeightCategory,
    /// What the company has set.
    #[schema(value_type = BTreeMap<String, f64>)]
    pub overrides: Value,
    /// What applies: the overrides, and the defaults for the rest.
    #[schema(value_type = BTreeMap<String, f64>)]
    pub effective: Value,
    #[schema(format = DateTime)]
    pub updated_at: Option<String>,
}

/// The new overrides of a category and why: validated like the console's editor (each weight's
/// bounds, and the rules between them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WeightsPut {
    #[schema(value_type = BTreeMap<String, f64>)]
    pub weights: Value,
    /// Kept in the history.
    #[schema(
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
        max_length = 500
    )]
    pub reason: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditActor {
    pub email: Option<String>,
    pub role: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct AuditItem {
    pub id: i64,
    #[schema(format = DateTime)]
    pub timestamp: String,
    pub actor: AuditActor,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    #[schema(value_type = String)]
    pub severity: Value,
    #[schema(value_type = Object)]
    pub details: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub chain_seq: i64,
    pub hash: String,
}

#[derive(Serialize, ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditItem>,
    /// Pass it as `cursor` for the next page; null on the last.
    pub next_cursor: Option<String>,
}

/// The console's audit filters (`action` may be a group, such as `api_key.*`).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AuditFilters {
    /// An action from the catalogue, such as api_key.create, or a group such as api_key.*
    #[param(pattern = "^[a-z_]+(\\.[a-z_*]+)?$", max_length = 200)]
    action: Option<String>,
    /// Part of the actor's email.
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", max_length = 200)]
    actor: Option<String>,
    /// Resource type, such as api_key.
    #[param(max_length = 200)]
    resource: Option<String>,
    #[param(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", max_length = 200)]
    resource_id: Option<String>,
    severity: Option<SeverityParam>,
    /// From this day (inclusive, UTC).
    #[param(value_type = Option<String>, format = Date)]
    from: Option<String>,
    /// To this day (inclusive, UTC).
    #[param(value_type = Option<String>, format = Date)]
    to: Option<String>,
    /// From this time (inclusive, RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    since: Option<String>,
    /// Before this time (exclusive, RFC 3339).
    #[param(value_type = Option<String>, format = DateTime)]
    until: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SeverityParam {
    Info,
    Warning,
    Error,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Page {
    /// Rows per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<i64>,
    /// From the previous page's next_cursor.
    #[param(pattern = "^[0-9]{1,19}_[0-9]{1,19}$")]
    cursor: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct Export {
    /// jsonl (default) or csv.
    format: Option<ExportFormat>,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformParam {
    Benevity,
    Goodera,
    Workday,
}

/// A payload for the company's integration, signed (Standard Webhooks) and retried with backoff.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeliveryIn {
    /// The event type, such as volunteer.hours.
    #[serde(rename = "type")]
    #[schema(pattern = "^[a-z0-9._-]{1,100}$")]
    pub event_type: String,
    /// Any JSON object under 64 KiB; its text holds no control characters but tab and line breaks.
    #[schema(value_type = Object)]
    pub data: Value,
}

#[derive(Serialize, ToSchema)]
pub struct Queued {
    pub id: i64,
    pub webhook_id: Uuid,
    pub status: String,
    /// The same payload went to this integration in the last 24 hours: that delivery is returned.
    pub duplicate: bool,
}

impl From<app::integrations::outbox::Enqueued> for Queued {
    fn from(q: app::integrations::outbox::Enqueued) -> Queued {
        Queued { id: q.id, webhook_id: q.webhook_id, status: q.status, duplicate: q.duplicate }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyIn {
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", max_length = 200)]
    pub key: String,
    /// Also check that the key belongs to this company (a slug).
    #[schema(pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$", max_length = 100)]
    pub company: Option<String>,
    /// Also check that the key has this scope.
    #[schema(value_type = Option<ScopeParam>)]
    pub scope: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub enum ScopeParam {
    #[serde(rename = "read:company")]
    ReadCompany,
    #[serde(rename = "read:metrics")]
    ReadMetrics,
    #[serde(rename = "read:weights")]
    ReadWeights,
    #[serde(rename = "write:weights")]
    WriteWeights,
    #[serde(rename = "read:audit")]
    ReadAudit,
    #[serde(rename = "write:deliveries")]
    WriteDeliveries,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerifyCode {
    Valid,
    Invalid,
    Expired,
    Revoked,
    CompanyDisabled,
    Unavailable,
    WrongCompany,
    MissingScope,
    RateLimited,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyCompany {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct RateLimitOut {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the limit is whole again.
    pub reset: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyOut {
    pub valid: bool,
    pub code: VerifyCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company: Option<VerifyCompany>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(format = DateTime)]
    pub expires_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitOut>,
}

/// RFC 9457 problem details: every error the API answers.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
pub struct ProblemDoc {
    /// `/api/v1/problems/<kind>`.
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    /// 422: a message per field.
    pub errors: Option<BTreeMap<String, String>>,
    /// 400 for control characters: the JSON pointer or query field.
    pub at: Option<String>,
    /// 403 missing-scope.
    pub required_scope: Option<String>,
    /// 429 and 503: seconds to wait (also in Retry-After).
    pub retry_after: Option<i64>,
    pub limit: Option<u32>,
    /// 500: quote it to the operator.
    pub request_id: Option<String>,
}
