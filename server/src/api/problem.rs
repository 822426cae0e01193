//! RFC 9457 problem documents: every error the REST API returns.
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Where problem types live; relative, so they resolve against whichever host serves Atrium.
pub const TYPE_BASE: &str = "/api/v1/problems/";

#[derive(Debug, Clone)]
pub struct Problem {
    pub status: u16,
    pub kind: &'static str,
    pub title: &'static str,
    pub detail: String,
    pub extra: Option<Value>,
}

impl Problem {
    pub fn new(status: u16, kind: &'static str, title: &'static str, detail: impl Into<String>) -> Problem {
        Problem { status, kind, title, detail: detail.into(), extra: None }
    }

    pub fn with(mut self, extra: Value) -> Problem {
        self.extra = Some(extra);
        self
    }

    /// Missing, malformed and unknown keys get the same answer, so it reveals nothing.
    pub fn invalid_key() -> Problem {
        Problem::new(
            401,
            "invalid-key",
            "Invalid API key",
            "Send a valid API key as \u{201c}Authorization: Bearer <key>\u{201d}. The key is missing, malformed or unknown.",
        )
    }

    pub fn missing_scope(scope: app::api_keys::Scope) -> Problem {
        Problem::new(
            403,
            "missing-scope",
            "Missing scope",
            format!("This API key lacks the scope \u{201c}{}\u{201d}, which this endpoint requires.", scope.as_str()),
        )
        .with(json!({ "required_scope": scope.as_str() }))
    }

    pub fn rate_limited(d: &super::limit::Decision) -> Problem {
        Problem::new(
            429,
            "rate-limited",
            "Rate limit exceeded",
            format!(
                "This API key may make {} requests per minute. Retry after {} second{}.",
                d.limit,
                d.retry_after.max(1),
                if d.retry_after.max(1) == 1 { "" } else { "s" }
            ),
        )
        .with(json!({ "limit": d.limit, "retry_after": d.retry_after.max(1) }))
    }

    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(400, "bad-request", "Bad request", detail)
    }

    /// Text holding a control character (`crate::input`), named by where it is.
    pub fn control_characters(at: &str) -> Problem {
        Problem::bad_request(format!("{at}: {}", app::domain::CONTROL_CHARACTERS)).with(json!({ "at": at }))
    }

    /// Input that parsed but failed validation: one message per field, as the console shows them.
    pub fn invalid(errors: std::collections::BTreeMap<String, String>) -> Problem {
        Problem::new(422, "invalid", "Invalid input", "Some fields are not valid; see `errors`.")
            .with(json!({ "errors": errors }))
    }

    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(404, "not-found", "Not found", detail)
    }

    pub fn not_implemented(detail: impl Into<String>) -> Problem {
        Problem::new(501, "not-implemented", "Not implemented yet", detail)
    }

    pub fn internal(request_id: &str) -> Problem {
        Problem::new(
            500,
            "internal",
            "Internal error",
            format!("Something went wrong on our side. Request id: {request_id}"),
        )
    }

    /// The one mapping from the application's errors to problems: the status follows the error
    /// (as in the console), and an internal cause is logged under the request id, never sent.
    pub fn from_app(e: app::error::AppError, request_id: &str) -> Problem {
        use app::error::AppError as E;
        let status = e.status();
        match e {
            E::Validation(errors) => Problem::invalid(errors),
            E::NotFound => Problem::not_found("Not found."),
            E::Conflict(m) => Problem::new(409, "conflict", "Conflict", m),
            E::TooManyRequests(m) => Problem::new(429, "too-many-requests", "Too many requests", m),
            E::Unavailable(m) => Problem::new(503, "unavailable", "Unavailable", m)
                .with(json!({ "retry_after": app::maintenance::RETRY_SECONDS })),
            E::Forbidden | E::Denied(_) | E::TenantDisabled(_) | E::ActAsRequired => {
                Problem::new(403, "forbidden", "Forbidden", e.to_string())
            }
            E::Unauthenticated(m) => Problem::new(401, "unauthenticated", "Unauthenticated", m),
            E::Internal(_) | E::Transport(_) => {
                tracing::error!(request_id, status, "api: {e}");
                Problem::internal(request_id)
            }
        }
    }

    pub fn body(&self) -> Value {
        let mut body = json!({
            "type": format!("{TYPE_BASE}{}", self.kind),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        });
        if let (Some(Value::Object(extra)), Some(map)) = (&self.extra, body.as_object_mut()) {
            for (k, v) in extra {
                map.insert(k.clone(), v.clone());
            }
        }
        body
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut res = (status, self.body().to_string()).into_response();
        res.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/problem+json"));
        if let Some(secs) = self.extra.as_ref().and_then(|e| e.get("retry_after")).and_then(Value::as_i64) {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        if self.status == 401 {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"atrium\""));
        }
        res
    }
}
