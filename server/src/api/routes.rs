//! The `/api/v1` route table: the router is built from it, with each route's scope guard, and
//! the OpenAPI document (`openapi`) takes the scopes from it. The handlers, which document
//! their own types and responses, are in `handlers`.
use super::handlers::*;
use super::problem::Problem;
use super::{authenticate, ApiState, Guard};
use app::api_keys::Scope;
use axum::routing::{get, post, put, MethodRouter};
use axum::Router;

/// One route: `endpoint` is "METHOD /path" (the path in the syntax axum and OpenAPI share),
/// the scope its key needs (None: no key), and its handler. The handler documents itself
/// (`#[utoipa::path]`); `openapi` adds the scope and the guard's answers from here.
pub struct Endpoint {
    pub endpoint: &'static str,
    pub scope: Option<Scope>,
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

pub fn endpoints() -> Vec<Endpoint> {
    let e = |endpoint, scope, handler| Endpoint { endpoint, scope, handler };
    vec![
        e("GET /api/v1/health", None, get(health)),
        e("GET /api/v1/openapi.json", None, get(openapi_json)),
        e("POST /api/v1/keys/verify", None, post(verify)),
        e("GET /api/v1/company", Some(Scope::ReadCompany), get(company)),
        e("GET /api/v1/metrics", Some(Scope::ReadMetrics), get(metrics)),
        e("GET /api/v1/weights/{category}", Some(Scope::ReadWeights), get(get_weights)),
        e("PUT /api/v1/weights/{category}", Some(Scope::WriteWeights), put(put_weights)),
        e("GET /api/v1/audit-log", Some(Scope::ReadAudit), get(audit_log)),
        e("GET /api/v1/audit-log/export", Some(Scope::ReadAudit), get(audit_export)),
        e("POST /api/v1/integrations/{platform}/deliveries", Some(Scope::WriteDeliveries), post(deliveries)),
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
