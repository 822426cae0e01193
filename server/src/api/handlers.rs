//! The `/api/v1` handlers: each reads its input, calls the same service operation as the
//! console, and answers JSON or a problem document. The route table (`routes`) says which
//! scope each needs; by the time a handler runs, the key has been checked.
use super::keys::Refusal;
use super::problem::Problem;
use super::schema::*;
use super::{meta, with_limit_headers, ApiState, Caller};
use app::api_keys::Scope;
use app::audit::record::{Op, Who};
use app::audit::Action;
use app::error::AppError;
use app::integrations::outbox::NewDelivery;
use app::integrations::Platform;
use app::server_ctx::RequestMeta;
use app::weights::catalogue::WeightSet;
use app::weights::Category;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A failure that is not the application's (building a response): logged, and a 500.
fn internal(meta: &RequestMeta, e: impl std::fmt::Display) -> Problem {
    tracing::error!(request_id = %meta.request_id, "api: {e}");
    Problem::internal(&meta.request_id)
}

fn problem(meta: &RequestMeta, e: AppError) -> Problem {
    Problem::from_app(e, &meta.request_id)
}

fn iso(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The company the key belongs to.
#[utoipa::path(get, path = "/api/v1/company", tag = "company", summary = "The key's company",
    responses((status = 200, body = CompanyOut), (status = 404, description = "The company was deleted", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn company(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
) -> Result<Json<CompanyOut>, Problem> {
    // One round trip: the function scopes itself to the key's company (migration 0017).
    let c = sqlx::query!(
        r#"SELECT id AS "id!", name AS "name!", slug AS "slug!", tenant_enabled AS "tenant_enabled!",
                  created_at AS "created_at!", active_users AS "active_users!"
             FROM atrium_api_company($1)"#,
        key.company_id
    )
    .fetch_optional(&api.pool)
    .await
    .map_err(|e| problem(&meta, e.into()))?
    .ok_or_else(|| problem(&meta, AppError::NotFound))?;
    Ok(Json(CompanyOut {
        id: c.id,
        name: c.name,
        slug: c.slug,
        enabled: c.tenant_enabled,
        created_at: iso(c.created_at),
        active_users: c.active_users,
    }))
}

/// Members by status, API requests per day for the last 30 days (UTC), and integration
/// deliveries by status.
#[utoipa::path(get, path = "/api/v1/metrics", tag = "company", summary = "Usage metrics",
    responses((status = 200, body = MetricsOut)))]
pub(super) async fn metrics(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
) -> Result<Json<MetricsOut>, Problem> {
    let run = async {
        let mut tx = app::db::tenant(&api.pool, key.company_id, None).await?;
        let users: BTreeMap<String, i64> = sqlx::query!(
            r#"SELECT status::text AS "status!", count(*) AS "n!" FROM memberships WHERE company_id = $1 GROUP BY status"#,
            key.company_id
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|r| (r.status, r.n))
        .collect();
        let per_day = app::api_keys::service::requests_per_day(&mut tx, None, Some(key.company_id)).await?;
        let mut deliveries: BTreeMap<String, i64> =
            ["queued", "sending", "success", "failed", "retrying"].iter().map(|s| (s.to_string(), 0)).collect();
        for r in sqlx::query!(
            r#"SELECT status AS "status!", count(*) AS "n!" FROM integration_delivery_log WHERE company_id = $1 GROUP BY status"#,
            key.company_id
        )
        .fetch_all(&mut *tx)
        .await?
        {
            deliveries.insert(r.status, r.n);
        }
        tx.commit().await?;
        Ok::<_, app::error::AppError>(MetricsOut {
            company: CompanyId { id: key.company_id, slug: key.company_slug.clone() },
            users,
            api_requests_per_day: per_day.into_iter().map(|d| DayCount { day: d.day, requests: d.requests }).collect(),
            deliveries_by_status: deliveries,
        })
    };
    run.await.map(Json).map_err(|e| problem(&meta, e))
}

fn weight_category(raw: &str) -> Result<Category, Problem> {
    Category::parse(raw)
        .ok()
        .filter(|c| c.as_str() == raw)
        .ok_or_else(|| Problem::not_found(format!("\u{201c}{raw}\u{201d} is not a weight category: use sroi or vis.")))
}

pub(super) async fn weights_body(
    conn: &mut sqlx::PgConnection,
    company: uuid::Uuid,
    category: Category,
) -> Result<WeightsOut, AppError> {
    let current = app::weights::service::current(conn, company, category).await?;
    let effective = WeightSet::from_json(category, &current.weights)
        .map(|s| s.effective_json())
        .unwrap_or_else(|_| current.weights.clone());
    Ok(WeightsOut {
        category: match category {
            Category::Sroi => WeightCategory::Sroi,
            Category::Vis => WeightCategory::Vis,
        },
        overrides: current.weights,
        effective,
        updated_at: current.updated.map(|s| s.iso),
    })
}

/// The company's SROI or VIS weight overrides, and the values in effect.
#[utoipa::path(get, path = "/api/v1/weights/{category}", tag = "weights", summary = "Weight overrides of a category",
    params(("category" = WeightCategory, Path)),
    responses((status = 200, body = WeightsOut), (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn get_weights(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
    Path(category): Path<String>,
) -> Result<Json<WeightsOut>, Problem> {
    let category = weight_category(&category)?;
    let run = async {
        let mut tx = app::db::tenant(&api.pool, key.company_id, None).await?;
        let body = weights_body(&mut tx, key.company_id, category).await?;
        tx.commit().await?;
        Ok::<_, AppError>(body)
    };
    run.await.map(Json).map_err(|e| problem(&meta, e))
}

/// Replaces the overrides, through the same validation, history and audit as the console.
#[utoipa::path(put, path = "/api/v1/weights/{category}", tag = "weights", summary = "Replace weight overrides",
    params(("category" = WeightCategory, Path)), request_body = WeightsPut,
    responses((status = 200, body = WeightsOut),
        (status = 400, description = "Not JSON of this shape, or text with control characters", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such category", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A weight out of its bounds, the rules between weights, or no reason; `errors` per field", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn put_weights(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
    Path(category): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<WeightsOut>, Problem> {
    let category = weight_category(&category)?;
    let shape = |e: String| {
        Problem::bad_request(format!("The body must be JSON {{\"weights\": {{...}}, \"reason\": \"...\"}}: {e}"))
    };
    let Json(body) = body.map_err(|e| shape(e.body_text()))?;
    if let Some(at) = crate::input::json(&body) {
        return Err(Problem::control_characters(&at));
    }
    let body: WeightsPut = serde_json::from_value(body).map_err(|e| shape(e.to_string()))?;
    let (set, reason) =
        app::weights::service::parse_change(WeightSet::from_json(category, &body.weights), &body.reason)
            .map_err(Problem::invalid)?;
    let who = Who { email: Some(format!("api-key:{}", key.id)), ..Default::default() };
    let run = async {
        let mut tx = app::db::tenant(&api.pool, key.company_id, None).await?;
        app::weights::service::save(
            &mut tx,
            &Op { company: key.company_id, who: who.clone(), meta: meta.clone() },
            &set,
            &reason,
            Action::WeightsUpdate,
            json!({ "via": "api" }),
        )
        .await?;
        let body = weights_body(&mut tx, key.company_id, category).await?;
        tx.commit().await?;
        Ok::<_, AppError>(body)
    };
    run.await.map(Json).map_err(|e| problem(&meta, e))
}

/// Queues a payload for delivery to the company's integration, signed (Standard Webhooks) and
/// retried with backoff.
#[utoipa::path(post, path = "/api/v1/integrations/{platform}/deliveries", tag = "integrations", summary = "Queue a delivery",
    params(("platform" = PlatformParam, Path)), request_body = DeliveryIn,
    responses((status = 202, description = "Queued", body = Queued),
        (status = 200, description = "The same payload went to this integration in the last 24 hours: that delivery", body = Queued),
        (status = 400, description = "Not JSON of this shape, or text with control characters", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 404, description = "No such platform", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 409, description = "The integration is missing or disabled", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 422, description = "A bad event type, or data that is not an object under 64 KiB", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn deliveries(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
    Path(platform): Path<String>,
    body: Result<Json<Value>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, Problem> {
    let Some(platform) = Platform::parse(&platform) else {
        return Err(Problem::not_found(format!(
            "\u{201c}{platform}\u{201d} is not an integration platform: use benevity, goodera or workday."
        )));
    };
    let Json(body) = body.map_err(|e| {
        Problem::bad_request(format!(
            "The body must be JSON {{\"type\": \"...\", \"data\": {{...}}}}: {}",
            e.body_text()
        ))
    })?;
    if let Some(at) = crate::input::json(&body) {
        return Err(Problem::control_characters(&at));
    }
    let _: DeliveryIn = serde_json::from_value(body.clone()).map_err(|e| {
        Problem::bad_request(format!("The body must be JSON {{\"type\": \"...\", \"data\": {{...}}}}: {e}"))
    })?;
    let delivery = NewDelivery::from_json(&body).map_err(Problem::invalid)?;
    let who = Who { email: Some(format!("api-key:{}", key.id)), ..Default::default() };
    let run = async {
        let mut tx = app::db::tenant(&api.pool, key.company_id, None).await?;
        let queued = app::integrations::outbox::enqueue(
            &mut tx,
            &Op { company: key.company_id, who: who.clone(), meta: meta.clone() },
            platform,
            &delivery,
            Action::DeliveryQueue,
        )
        .await?;
        tx.commit().await?;
        Ok::<_, AppError>(queued)
    };
    match run.await {
        Ok(q) => {
            let status = if q.duplicate { axum::http::StatusCode::OK } else { axum::http::StatusCode::ACCEPTED };
            Ok((status, Json(Queued::from(q))).into_response())
        }
        Err(AppError::Conflict(msg)) => {
            Err(Problem::new(409, "integration-unavailable", "Integration unavailable", msg))
        }
        Err(e) => Err(problem(&meta, e)),
    }
}

/// The audit API's query: the console's filters (`actor`, `action`, `resource`,
/// `resource_id`, `severity`, `from`, `to`) plus exact times (`since`, `until`).
fn audit_filter(pairs: &[(String, String)], company: uuid::Uuid) -> Result<app::audit::query::Filter, Problem> {
    use app::audit::query::{Filter, Reach};
    let params = app::audit::FilterParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut f = Filter::parse(&params, Reach::Company(company)).map_err(|e| match e {
        AppError::Validation(fields) => {
            Problem::bad_request(fields.iter().map(|(k, v)| format!("`{k}`: {v}")).collect::<Vec<_>>().join(" "))
        }
        other => Problem::bad_request(other.to_string()),
    })?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    if let Some(t) = parse_time("since", get("since"))? {
        f.since = Some(f.since.map_or(t, |s| s.max(t)));
    }
    if let Some(t) = parse_time("until", get("until"))? {
        f.until = Some(f.until.map_or(t, |u| u.min(t)));
    }
    Ok(f)
}

fn parse_time(name: &str, raw: Option<&str>) -> Result<Option<OffsetDateTime>, Problem> {
    raw.filter(|s| !s.is_empty())
        .map(|s| {
            OffsetDateTime::parse(s, &Rfc3339).map_err(|_| {
                Problem::bad_request(format!("`{name}` must be an RFC 3339 time, such as 2026-01-31T00:00:00Z."))
            })
        })
        .transpose()
}

/// The longest value a query parameter may have (`maxLength` in the document).
const QUERY_VALUE_MAX: usize = 200;

type Pairs = Result<Query<Vec<(String, String)>>, axum::extract::rejection::QueryRejection>;

fn read_pairs(query: Pairs) -> Result<Vec<(String, String)>, Problem> {
    let pairs = query
        .map(|Query(p)| p)
        .map_err(|e| Problem::bad_request(format!("The query string could not be read: {e}")))?;
    if let Some(field) = crate::input::pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        return Err(Problem::control_characters(&field));
    }
    if let Some((name, _)) = pairs.iter().find(|(_, v)| v.chars().count() > QUERY_VALUE_MAX) {
        return Err(Problem::bad_request(format!("`{name}` is longer than {QUERY_VALUE_MAX} characters.")));
    }
    // An empty value is neither the filter nor its absence: say so rather than guess.
    if let Some((name, _)) = pairs.iter().find(|(_, v)| v.trim().is_empty()) {
        return Err(Problem::bad_request(format!("`{name}` is empty: leave it out, or give it a value.")));
    }
    Ok(pairs)
}

/// Newest first, with cursor pagination: pass `next_cursor` from one page as `cursor` for the
/// next. The filters are the console's.
#[utoipa::path(get, path = "/api/v1/audit-log", tag = "audit", summary = "The company's audit log",
    params(AuditFilters, Page),
    responses((status = 200, body = AuditPage),
        (status = 400, description = "A filter, limit or cursor that cannot be read", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn audit_log(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
    query: Pairs,
) -> Result<Json<AuditPage>, Problem> {
    use app::audit::query::{page, Cursor, Reach, MAX_LIMIT};
    let pairs = read_pairs(query)?;
    let filter = audit_filter(&pairs, key.company_id)?;
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.trim()).filter(|v| !v.is_empty());
    let limit: i64 =
        match get("limit") {
            None => 50,
            Some(l) => l.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                Problem::bad_request(format!("`limit` must be a whole number from 1 to {MAX_LIMIT}."))
            })?,
        };
    let cursor = match get("cursor") {
        None => None,
        Some(c) => {
            Some(Cursor::parse(c).ok_or_else(|| Problem::bad_request("`cursor` is not one this API gave out."))?)
        }
    };
    let run = async {
        let mut tx = app::db::tenant(&api.pool, key.company_id, None).await?;
        let p = page(&mut tx, Reach::Company(key.company_id), &filter, cursor, limit).await?;
        tx.commit().await?;
        let items: Vec<AuditItem> = p
            .rows
            .into_iter()
            .map(|d| {
                let e = d.entry;
                AuditItem {
                    id: e.id,
                    timestamp: e.timestamp.iso,
                    actor: AuditActor { email: e.actor_email, role: d.role },
                    action: e.action,
                    resource: e.resource,
                    resource_id: e.resource_id,
                    severity: json!(e.severity),
                    details: e.details,
                    ip: e.ip,
                    user_agent: d.user_agent,
                    session_id: d.session_id,
                    request_id: d.request_id,
                    chain_seq: d.chain_seq,
                    hash: d.hash,
                }
            })
            .collect();
        Ok::<_, AppError>(AuditPage { items, next_cursor: p.next })
    };
    run.await.map(Json).map_err(|e| problem(&meta, e))
}

/// Every row under the filters, newest first, streamed as JSON Lines (default) or CSV, with no
/// row cap. The export is itself recorded as audit.export.
#[utoipa::path(get, path = "/api/v1/audit-log/export", tag = "audit", summary = "Export the company's audit log",
    params(AuditFilters, Export),
    responses((status = 200, description = "The rows, one per line", content(
            (String = "application/x-ndjson"), (String = "text/csv"))),
        (status = 400, description = "A filter or format that cannot be read", body = ProblemDoc, content_type = "application/problem+json")))]
pub(super) async fn audit_export(
    State(api): State<ApiState>,
    Extension(Caller(key)): Extension<Caller>,
    Extension(meta): Extension<RequestMeta>,
    query: Pairs,
) -> Result<Response, Problem> {
    use app::audit::export::{begin, Format};
    use app::audit::query::Reach;
    let pairs = read_pairs(query)?;
    let filter = audit_filter(&pairs, key.company_id)?;
    let format_raw = pairs.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()).unwrap_or("jsonl");
    let format = Format::parse(format_raw).ok_or_else(|| Problem::bad_request("`format` must be csv or jsonl."))?;
    let who = Who { email: Some(format!("api-key:{}", key.id)), ..Default::default() };
    let stream = begin(&api.exports, &api.pool, Reach::Company(key.company_id), filter, format, &who, &meta, None)
        .await
        .map_err(|e| match e {
            AppError::TooManyRequests(detail) => Problem::new(429, "too-many-exports", "Too many exports", detail)
                .with(json!({ "retry_after": app::audit::export::EXPORT_RETRY_SECONDS })),
            e => problem(&meta, e),
        })?;
    Ok(Response::builder()
        .header(header::CONTENT_TYPE, format.content_type())
        .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"audit.{}\"", format.extension()))
        .body(axum::body::Body::from_stream(stream))
        .map_err(|e| internal(&meta, e))?)
}

/// Unauthenticated checks per client address per minute by default
/// (`ATRIUM_KEY_VERIFY_PER_MINUTE`): enough for an integration's health checks, too few to be a
/// key-guessing oracle or a load lever.
pub const VERIFY_PER_MINUTE: u32 = 60;

/// The limiter's slot for one client's block of addresses (an IPv6 /64), kept apart from key
/// ids by the prefix.
fn verify_slot(ip: Option<std::net::IpAddr>) -> uuid::Uuid {
    use sha2::Digest;
    let block = ip.map(|i| app::auth::client_block::client_block(i).to_string()).unwrap_or_default();
    let digest = sha2::Sha256::digest(format!("verify-ip:{block}"));
    uuid::Uuid::from_slice(&digest[..16]).expect("16 bytes")
}

/// For other services: posts a key and learns whether it is valid now, its company, scopes,
/// expiry and remaining rate limit. Counts as a request of that key. Pass `company` (a slug)
/// or `scope` to have them checked too. Needs no key of its own: the key is the credential.
#[utoipa::path(post, path = "/api/v1/keys/verify", tag = "keys", summary = "Verify an API key", request_body = VerifyIn,
    responses((status = 200, description = "Whether the key works, and if not, why (`code`)", body = VerifyOut),
        (status = 400, description = "Not JSON of this shape, an unknown scope, or text with control characters", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 429, description = "Too many checks from this address; see Retry-After", body = ProblemDoc, content_type = "application/problem+json"),
        (status = 503, description = "The key could not be checked just now", body = ProblemDoc, content_type = "application/problem+json")),
    security(()))]
pub(super) async fn verify(State(api): State<ApiState>, req: Request) -> Response {
    let meta = meta(&req);
    let decision = api.limiter.check(verify_slot(meta.ip), api.verify_per_minute);
    if !decision.allowed {
        return Problem::new(
            429,
            "rate-limited",
            "Rate limit exceeded",
            format!(
                "Key checks from one address are limited to {} a minute. Retry after {} s.",
                api.verify_per_minute,
                decision.retry_after.max(1)
            ),
        )
        .with(json!({ "limit": api.verify_per_minute, "retry_after": decision.retry_after.max(1) }))
        .into_response();
    }
    let is_json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let Ok(bytes) = axum::body::to_bytes(req.into_body(), 16 * 1024).await else {
        return Problem::bad_request("The body is too large.").into_response();
    };
    if !is_json {
        return Problem::bad_request("Post JSON (Content-Type: application/json) such as {\"key\": \"atr_live_…\"}.")
            .into_response();
    }
    if let Some(at) = serde_json::from_slice::<Value>(&bytes).ok().as_ref().and_then(crate::input::json) {
        return Problem::control_characters(&at).into_response();
    }
    let body: VerifyIn = match serde_json::from_slice::<VerifyIn>(&bytes) {
        Ok(b) => b,
        Err(e) => {
            return Problem::bad_request(format!("The body must be JSON with a \"key\" string: {e}.")).into_response()
        }
    };
    if body.key.chars().count() > 200 || body.company.as_ref().is_some_and(|c| c.chars().count() > 100) {
        return Problem::bad_request("`key` has at most 200 characters, `company` at most 100.").into_response();
    }
    // What the caller asks to have checked must make sense before the key is looked at.
    let wanted_scope = match body.scope.as_deref() {
        None => None,
        Some(s) => match Scope::parse(s) {
            Some(scope) => Some(scope),
            None => return Problem::bad_request(format!("\u{201c}{s}\u{201d} is not a scope.")).into_response(),
        },
    };
    let refused = |code: VerifyCode, detail: String| {
        Json(VerifyOut {
            valid: false,
            code,
            detail: Some(detail),
            key_id: None,
            company: None,
            scopes: None,
            expires_at: None,
            rate_limit: None,
        })
        .into_response()
    };
    let info = match api.verifier.lookup(&body.key).await {
        Ok(info) => info,
        Err(Refusal::Unavailable) => return Problem::refused(&Refusal::Unavailable).into_response(),
        Err(_) => return refused(VerifyCode::Invalid, Problem::invalid_key().detail),
    };
    api.usage.record(info.id, info.company_id, "POST /api/v1/keys/verify", meta.ip, meta.user_agent.as_deref());
    if let Err(r) = super::keys::check(&info, OffsetDateTime::now_utc()) {
        let code = match r {
            Refusal::Invalid => VerifyCode::Invalid,
            Refusal::Expired(_) => VerifyCode::Expired,
            Refusal::Revoked => VerifyCode::Revoked,
            Refusal::CompanyDisabled => VerifyCode::CompanyDisabled,
            Refusal::Unavailable => VerifyCode::Unavailable,
        };
        return refused(code, Problem::refused(&r).detail);
    }
    if let Some(slug) = body.company.as_deref().filter(|s| !s.is_empty()) {
        if slug != info.company_slug {
            return refused(
                VerifyCode::WrongCompany,
                format!("This key does not belong to the company \u{201c}{slug}\u{201d}."),
            );
        }
    }
    if let Some(s) = wanted_scope.filter(|s| !info.has(*s)) {
        return refused(VerifyCode::MissingScope, Problem::missing_scope(s).detail);
    }
    let decision = info.rate_limit.map(|limit| api.limiter.check(info.id, limit));
    if let Some(d) = decision.filter(|d| !d.allowed) {
        let body = VerifyOut {
            valid: false,
            code: VerifyCode::RateLimited,
            detail: Some(Problem::rate_limited(&d).detail),
            key_id: None,
            company: None,
            scopes: None,
            expires_at: None,
            rate_limit: Some(RateLimitOut {
                limit: d.limit,
                remaining: 0,
                reset: d.reset,
                retry_after: Some(d.retry_after.max(1)),
            }),
        };
        let mut res = Json(body).into_response();
        res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after.max(1)));
        return res;
    }
    let body = VerifyOut {
        valid: true,
        code: VerifyCode::Valid,
        detail: None,
        key_id: Some(info.id),
        company: Some(VerifyCompany {
            id: info.company_id,
            slug: info.company_slug.clone(),
            name: info.company_name.clone(),
        }),
        scopes: Some(info.scopes.iter().map(|s| s.as_str().to_string()).collect()),
        expires_at: info.expires_at.map(iso),
        rate_limit: decision.map(|d| RateLimitOut {
            limit: d.limit,
            remaining: d.remaining,
            reset: d.reset,
            retry_after: None,
        }),
    };
    with_limit_headers(Json(body).into_response(), decision)
}

/// Does no work: answers at once. Needs no key.
#[utoipa::path(get, path = "/api/v1/health", tag = "meta", summary = "Liveness of the API",
    responses((status = 200, body = Health)), security(()))]
pub(super) async fn health() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// The OpenAPI 3.1 description of every route, generated from the handlers' types and their
/// declared responses.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", summary = "This document",
    responses((status = 200, description = "OpenAPI 3.1", body = Object)), security(()))]
pub(super) async fn openapi_json() -> Json<Value> {
    Json(super::openapi::openapi())
}
