//! The `/api/v1` route table. One table describes every route: the router is built from it
//! and the OpenAPI document (`openapi`) is generated from it, so the two cannot drift apart.
//! The handlers are in `handlers`.
use super::handlers::*;
use super::openapi::openapi;
use super::problem::Problem;
use super::{authenticate, ApiState, Guard};
use app::api_keys::Scope;
use axum::routing::{get, post, put, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};

pub const PLATFORMS: [&str; 3] = ["benevity", "goodera", "workday"];
pub const WEIGHT_CATEGORIES: [&str; 2] = ["sroi", "vis"];

/// One route: `endpoint` is "METHOD /path" (the path in the syntax axum and OpenAPI share).
pub struct Endpoint {
    pub endpoint: &'static str,
    pub scope: Option<Scope>,
    pub summary: &'static str,
    pub description: &'static str,
    pub parameters: Vec<Value>,
    pub request: Option<Value>,
    pub response: Value,
    /// Answers 501 until the feature behind it exists.
    pub planned: bool,
    handler: MethodRouter<ApiState>,
}

impl Endpoint {
    pub fn method(&self) -> &'static str {
        self.endpoint.split_once(' ').expect("METHOD /path").0
    }

    pub fn path(&self) -> &'static str {
        self.endpoint.split_once(' ').expect("METHOD /path").1
    }
}

fn path_param(name: &str, description: &str, values: &[&str]) -> Value {
    json!({ "name": name, "in": "path", "required": true, "description": description,
            "schema": { "type": "string", "enum": values } })
}

fn query_param(name: &str, description: &str, schema: Value) -> Value {
    json!({ "name": name, "in": "query", "required": false, "description": description, "schema": schema })
}

pub fn endpoints() -> Vec<Endpoint> {
    let ts = json!({ "type": "string", "format": "date-time" });
    let weights_schema = json!({ "type": "object", "properties": {
        "category": { "type": "string", "enum": WEIGHT_CATEGORIES },
        "overrides": { "type": "object", "additionalProperties": { "type": "number" } },
        "effective": { "type": "object", "additionalProperties": { "type": "number" } },
        "updated_at": { "type": ["string", "null"], "format": "date-time" } } });
    vec![
        Endpoint {
            endpoint: "GET /api/v1/health",
            scope: None,
            summary: "Liveness of the API",
            description: "Does no work: answers at once. Needs no key.",
            parameters: vec![],
            request: None,
            response: json!({ "type": "object", "properties": { "status": { "const": "ok" } } }),
            planned: false,
            handler: get(|| async { Json(json!({ "status": "ok" })) }),
        },
        Endpoint {
            endpoint: "GET /api/v1/openapi.json",
            scope: None,
            summary: "This document",
            description: "The OpenAPI 3.1 description of every route, generated from the route table.",
            parameters: vec![],
            request: None,
            response: json!({ "type": "object" }),
            planned: false,
            handler: get(|| async { Json(openapi()) }),
        },
        Endpoint {
            endpoint: "POST /api/v1/keys/verify",
            scope: None,
            summary: "Verify an API key",
            description: "For other services: posts a key and learns whether it is valid now, its company, scopes, \
                          expiry and remaining rate limit. Counts as a request of that key. Pass `company` (a slug) \
                          or `scope` to have them checked too.",
            parameters: vec![],
            request: Some(json!({ "type": "object", "required": ["key"], "properties": {
                "key": { "type": "string" }, "company": { "type": "string" }, "scope": { "type": "string" } } })),
            response: json!({ "type": "object", "required": ["valid"], "properties": {
                "valid": { "type": "boolean" },
                "code": { "type": "string", "enum": ["valid", "invalid", "expired", "revoked", "company_disabled",
                                                     "wrong_company", "missing_scope", "rate_limited"] },
                "key_id": { "type": "string", "format": "uuid" },
                "company": { "type": "object", "properties": { "id": { "type": "string" }, "slug": { "type": "string" }, "name": { "type": "string" } } },
                "scopes": { "type": "array", "items": { "type": "string" } },
                "expires_at": { "type": ["string", "null"], "format": "date-time" },
                "rate_limit": { "type": ["object", "null"], "properties": {
                    "limit": { "type": "integer" }, "remaining": { "type": "integer" }, "reset": { "type": "integer" } } } } }),
            planned: false,
            handler: post(verify),
        },
        Endpoint {
            endpoint: "GET /api/v1/company",
            scope: Some(Scope::ReadCompany),
            summary: "The key's company",
            description: "The company the key belongs to.",
            parameters: vec![],
            request: None,
            response: json!({ "type": "object", "properties": {
                "id": { "type": "string", "format": "uuid" }, "name": { "type": "string" }, "slug": { "type": "string" },
                "enabled": { "type": "boolean" }, "created_at": ts, "active_users": { "type": "integer" } } }),
            planned: false,
            handler: get(company),
        },
        Endpoint {
            endpoint: "GET /api/v1/metrics",
            scope: Some(Scope::ReadMetrics),
            summary: "Usage metrics",
            description: "Users by status, API requests per day for the last 30 days (UTC), and integration deliveries by status.",
            parameters: vec![],
            request: None,
            response: json!({ "type": "object", "properties": {
                "users": { "type": "object", "additionalProperties": { "type": "integer" } },
                "api_requests_per_day": { "type": "array", "items": { "type": "object", "properties": {
                    "day": { "type": "string", "format": "date" }, "requests": { "type": "integer" } } } },
                "deliveries_by_status": { "type": "object", "additionalProperties": { "type": "integer" } } } }),
            planned: false,
            handler: get(metrics),
        },
        Endpoint {
            endpoint: "GET /api/v1/weights/{category}",
            scope: Some(Scope::ReadWeights),
            summary: "Weight overrides of a category",
            description: "The company's SROI or VIS weight overrides.",
            parameters: vec![path_param("category", "Weight category", &WEIGHT_CATEGORIES)],
            request: None,
            response: weights_schema.clone(),
            planned: false,
            handler: get(get_weights),
        },
        Endpoint {
            endpoint: "PUT /api/v1/weights/{category}",
            scope: Some(Scope::WriteWeights),
            summary: "Replace weight overrides",
            description: "Validated like the console's editor, with the same history and audit.",
            parameters: vec![path_param("category", "Weight category", &WEIGHT_CATEGORIES)],
            request: Some(json!({ "type": "object", "required": ["weights", "reason"], "properties": {
                "weights": { "type": "object" }, "reason": { "type": "string" } } })),
            response: weights_schema.clone(),
            planned: false,
            handler: put(put_weights),
        },
        Endpoint {
            endpoint: "GET /api/v1/audit-log",
            scope: Some(Scope::ReadAudit),
            summary: "The company's audit log",
            description: "Newest first, with cursor pagination: pass `next_cursor` from one page as `cursor` for the next. The filters are the console's.",
            parameters: audit_params(true),
            request: None,
            response: json!({ "type": "object", "properties": {
                "items": { "type": "array", "items": { "type": "object" } },
                "next_cursor": { "type": ["string", "null"] } } }),
            planned: false,
            handler: get(audit_log),
        },
        Endpoint {
            endpoint: "GET /api/v1/audit-log/export",
            scope: Some(Scope::ReadAudit),
            summary: "Export the company's audit log",
            description: "Every row under the filters, newest first, streamed as JSON Lines (default) or CSV, with no row cap. The export is itself recorded as audit.export.",
            parameters: {
                let mut p = audit_params(false);
                p.push(query_param("format", "jsonl (default) or csv", json!({ "type": "string", "enum": ["jsonl", "csv"] })));
                p
            },
            request: None,
            response: json!({ "type": "string", "description": "application/x-ndjson or text/csv" }),
            planned: false,
            handler: get(audit_export),
        },
        Endpoint {
            endpoint: "POST /api/v1/integrations/{platform}/deliveries",
            scope: Some(Scope::WriteDeliveries),
            summary: "Queue a delivery",
            description: "Queues a payload for delivery to the company's integration, signed (Standard Webhooks) and retried with backoff. 202 when queued; 200 with duplicate=true when the same payload went to this integration in the last 24 hours; 409 when the integration is missing or disabled.",
            parameters: vec![path_param("platform", "Integration platform", &PLATFORMS)],
            request: Some(json!({ "type": "object", "required": ["type", "data"], "properties": {
                "type": { "type": "string", "description": "Event type, such as volunteer.hours" },
                "data": { "type": "object" } } })),
            response: json!({ "type": "object", "properties": {
                "id": { "type": "integer" }, "webhook_id": { "type": "string", "format": "uuid" },
                "status": { "type": "string" },
                "duplicate": { "type": "boolean", "description": "The same payload was queued in the last 24 hours; that delivery is returned" } } }),
            planned: false,
            handler: post(deliveries),
        },
    ]
}

pub fn router(api: ApiState) -> Router {
    let mut router = Router::new();
    for e in endpoints() {
        let path = e.path();
        let mut handler = e.handler;
        if let Some(scope) = e.scope {
            let guard = Guard { api: api.clone(), scope, endpoint: e.endpoint };
            handler = handler.route_layer(axum::middleware::from_fn_with_state(guard, authenticate));
        }
        router = router.route(path, handler);
    }
    router
        .route("/api/v1", axum::routing::any(unknown))
        .route("/api/v1/{*rest}", axum::routing::any(unknown))
        .method_not_allowed_fallback(|| async {
            Problem::new(
                405,
                "method-not-allowed",
                "Method not allowed",
                "This route does not take that method. See /api/v1/openapi.json.",
            )
        })
        .with_state(api)
}

async fn unknown() -> Problem {
    Problem::not_found("There is no such API route. See /api/v1/openapi.json for the routes.")
}

fn audit_params(paged: bool) -> Vec<Value> {
    let ts = json!({ "type": "string", "format": "date-time" });
    let day = json!({ "type": "string", "format": "date" });
    let mut p = vec![
        query_param(
            "action",
            "An action from the catalogue, such as api_key.create, or a group such as api_key.*",
            json!({ "type": "string" }),
        ),
        query_param("actor", "Part of the actor's email", json!({ "type": "string" })),
        query_param("resource", "Resource type, such as api_key", json!({ "type": "string" })),
        query_param("resource_id", "Resource id", json!({ "type": "string" })),
        query_param(
            "severity",
            "info, warning or error",
            json!({ "type": "string", "enum": ["info", "warning", "error"] }),
        ),
        query_param("from", "From this day (inclusive, UTC)", day.clone()),
        query_param("to", "To this day (inclusive, UTC)", day),
        query_param("since", "From this time (inclusive, RFC 3339)", ts.clone()),
        query_param("until", "Before this time (exclusive, RFC 3339)", ts),
    ];
    if paged {
        p.push(query_param(
            "limit",
            "Rows per page, 1 to 200 (default 50)",
            json!({ "type": "integer", "minimum": 1, "maximum": 200 }),
        ));
        p.push(query_param("cursor", "From the previous page's next_cursor", json!({ "type": "string" })));
    }
    p
}
