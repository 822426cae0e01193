//! The OpenAPI 3.1 document, generated from the route table (`routes::endpoints`), so the
//! document and the router cannot drift apart.
use super::routes::endpoints;
use serde_json::{json, Value};

/// The OpenAPI 3.1 document, from `endpoints()`.
pub fn openapi() -> Value {
    let problem = |desc: &str| json!({ "description": desc, "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } });
    let mut paths = serde_json::Map::new();
    for e in endpoints() {
        let mut responses = serde_json::Map::new();
        responses.insert(
            "200".into(),
            json!({ "description": "OK", "content": { "application/json": { "schema": e.response } } }),
        );
        if e.method() == "POST" || e.method() == "PUT" {
            responses.insert("400".into(), problem("The body could not be read"));
        }
        if let Some(scope) = e.scope {
            responses.insert("401".into(), problem("Missing, malformed, unknown, expired or revoked key"));
            responses.insert(
                "403".into(),
                problem(&format!("The key lacks {}, or its company is disabled", scope.as_str())),
            );
            responses.insert(
                "429".into(),
                json!({ "description": "Rate limit hit; see Retry-After",
                "headers": { "Retry-After": { "schema": { "type": "integer" } } },
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/Problem" } } } }),
            );
        }
        if !e.parameters.is_empty() {
            responses.insert("404".into(), problem("Unknown path parameter value"));
        }
        if e.planned {
            responses.insert("501".into(), problem("Not available in this version yet"));
        }
        let mut op = json!({
            "operationId": e.endpoint.replace(['/', ' ', '{', '}', '.', '-'], "_").to_lowercase(),
            "summary": e.summary,
            "description": e.description,
            "parameters": e.parameters,
            "responses": responses,
            "security": if e.scope.is_some() { json!([{ "bearer": [] }]) } else { json!([]) },
        });
        if let Some(scope) = e.scope {
            op["x-required-scope"] = json!(scope.as_str());
        }
        if let Some(req) = &e.request {
            op["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": req } } });
        }
        paths
            .entry(e.path().to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("object")
            .insert(e.method().to_lowercase(), op);
    }
    json!({
        "openapi": "3.1.0",
        "info": { "title": "Atrium API", "version": "1",
                  "description": "Machine access to one company's data. Authenticate with `Authorization: Bearer atr_live_…`. \
                                  Errors are RFC 9457 problem documents. Keys carry scopes and an optional per-minute rate limit \
                                  (RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers)." },
        "paths": paths,
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer", "description": "An Atrium API key" } },
            "schemas": { "Problem": { "type": "object", "required": ["type", "title", "status", "detail"], "properties": {
                "type": { "type": "string" }, "title": { "type": "string" }, "status": { "type": "integer" },
                "detail": { "type": "string" }, "required_scope": { "type": "string" },
                "retry_after": { "type": "integer" }, "limit": { "type": "integer" } } } },
        },
    })
}
