//! The OpenAPI 3.1 document, derived by utoipa from the handlers' own request and response
//! types and the responses each declares (`#[utoipa::path]` in `handlers`). What every
//! key-guarded route can also answer (401, 403, 429, 503: the guard's refusals) and the scope
//! it needs come from the route table (`routes::endpoints`), which builds the router, so the
//! document and the router cannot drift apart (a test holds the two to the same routes).
use super::handlers::*;
use super::routes::endpoints;
use super::schema::{ExportFormat, PlatformParam, ProblemDoc, ScopeParam, SeverityParam, WeightCategory};
use serde_json::{json, Value};
use utoipa::OpenApi;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Atrium API",
        version = "1",
        description = "Machine access to one company's data. Authenticate with `Authorization: Bearer atr_live_…`. \
            Errors are RFC 9457 problem documents. Keys carry scopes and an optional per-minute rate limit \
            (RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset headers). Text anywhere in a request \
            holds no control characters but tab, line feed and carriage return (400 otherwise)."
    ),
    paths(
        health,
        openapi_json,
        verify,
        company,
        metrics,
        get_weights,
        put_weights,
        audit_log,
        audit_export,
        deliveries
    ),
    components(schemas(ProblemDoc, WeightCategory, PlatformParam, SeverityParam, ExportFormat, ScopeParam))
)]
struct ApiDoc;

/// The document, with each guarded route's scope and the guard's answers added.
pub fn openapi() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serializes");
    let problem = |description: &str| {
        json!({ "description": description,
                "content": { "application/problem+json": { "schema": { "$ref": "#/components/schemas/ProblemDoc" } } } })
    };
    for e in endpoints() {
        let Some(op) = doc["paths"][e.path()].get_mut(e.method().to_lowercase()) else { continue };
        if let Some(scope) = e.scope {
            op["security"] = json!([{ "bearer": [] }]);
            op["x-required-scope"] = json!(scope.as_str());
            let responses = op["responses"].as_object_mut().expect("responses");
            responses.insert("401".into(), problem("Missing, malformed, unknown, expired or revoked key"));
            responses.insert(
                "403".into(),
                problem(&format!("The key lacks {}, or its company is disabled", scope.as_str())),
            );
            let mut limited = problem("The key's rate limit was hit; see Retry-After");
            limited["headers"] = json!({ "Retry-After": { "schema": { "type": "integer" } } });
            responses.insert("429".into(), limited);
            let mut unavailable =
                problem("The key could not be checked, the database cannot be reached, or maintenance mode is on");
            unavailable["headers"] = json!({ "Retry-After": { "schema": { "type": "integer" } } });
            responses.insert("503".into(), unavailable);
        } else {
            op["security"] = json!([]);
        }
    }
    doc["components"]["securitySchemes"] =
        json!({ "bearer": { "type": "http", "scheme": "bearer", "description": "An Atrium API key" } });
    doc
}
