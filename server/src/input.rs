//! Text that comes in, refused at the edge when it holds control characters
//! (`app::domain::is_refused_control`): a NUL would reach PostgreSQL, which rejects it with an
//! error the caller would see as a 500; the others garble what people read.
//!
//! Each path checks what it parses: the REST handlers their JSON bodies and query strings
//! (`json`, `pairs`), the command line its arguments (`args`), and the console (`console`) its
//! addresses and its server functions' form or JSON bodies, before Leptos decodes them into
//! each function's arguments.
use app::domain::{is_refused_control, CONTROL_CHARACTERS};
use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

fn refused(s: &str) -> bool {
    s.chars().any(is_refused_control)
}

/// The JSON pointer of the first string (key or value) holding a refused character.
pub fn json(v: &Value) -> Option<String> {
    fn walk(v: &Value, at: &mut Vec<String>) -> bool {
        match v {
            Value::String(s) => refused(s),
            Value::Array(items) => items.iter().enumerate().any(|(i, item)| {
                at.push(i.to_string());
                let found = walk(item, at);
                if !found {
                    at.pop();
                }
                found
            }),
            Value::Object(map) => map.iter().any(|(k, item)| {
                at.push(k.replace('~', "~0").replace('/', "~1"));
                let found = refused(k) || walk(item, at);
                if !found {
                    at.pop();
                }
                found
            }),
            _ => false,
        }
    }
    let mut at = Vec::new();
    walk(v, &mut at).then(|| at.iter().map(|p| format!("/{p}")).collect())
}

/// The name of the first field whose name or value holds a refused character.
pub fn pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Option<String> {
    pairs
        .into_iter()
        .find(|(k, v)| refused(k) || refused(v))
        .map(|(k, _)| k.chars().filter(|c| !c.is_control()).collect())
}

/// The first command-line argument holding a refused character (its position).
pub fn args(args: impl IntoIterator<Item = std::ffi::OsString>) -> Option<usize> {
    args.into_iter().position(|a| a.to_str().is_none_or(refused))
}

/// Server functions' bodies are small forms or JSON; a larger one is refused by Leptos anyway.
const SERVER_FN_BODY_LIMIT: usize = 2 * 1024 * 1024;

/// In front of the console: refuses an address whose path or query holds a refused character
/// (pages read their filters from it, and render by calling server functions directly), and a
/// server function call whose form fields or JSON strings do, with the field's name, before
/// any function runs. The body is passed on unchanged.
pub async fn console(req: Request, next: Next) -> Response {
    let path = percent_encoding::percent_decode_str(req.uri().path()).decode_utf8_lossy().into_owned();
    let query: Vec<(String, String)> = url::form_urlencoded::parse(req.uri().query().unwrap_or_default().as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let in_query = pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    if refused(&path) || in_query.is_some() {
        return (
            StatusCode::BAD_REQUEST,
            "This address holds control characters (such as NUL), which Atrium does not accept.",
        )
            .into_response();
    }
    let is_server_fn = req.method() == Method::POST
        && req.uri().path().starts_with("/api/")
        && !req.uri().path().starts_with("/api/v1/");
    if !is_server_fn {
        return next.run(req).await;
    }
    let content_type =
        req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase();
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, SERVER_FN_BODY_LIMIT).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "The request is too large.").into_response();
    };
    // Checked as it will be decoded, whatever the Content-Type says: Leptos reads a form body
    // as a form even when it is labelled JSON. A body that parses as JSON is checked as JSON,
    // and every body is also checked as a form.
    let as_json = if content_type.starts_with("application/json") {
        serde_json::from_slice::<Value>(&bytes)
            .ok()
            .and_then(|v| json(&v))
            .map(|p| p.trim_start_matches('/').to_string())
    } else {
        None
    };
    let field = as_json.or_else(|| {
        let decoded: Vec<(String, String)> =
            url::form_urlencoded::parse(&bytes).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        pairs(decoded.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    });
    if let Some(field) = field {
        let field = if field.is_empty() { "form".to_string() } else { field };
        let error = app::error::AppError::field(&field, CONTROL_CHARACTERS);
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            [(header::CONTENT_TYPE, "application/json")],
            serde_json::to_string(&error).unwrap_or_default(),
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(Bytes::from(bytes)))).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finds_the_first_refused_string_anywhere() {
        assert_eq!(json(&json!({ "reason": "ok\nfine\ttoo", "n": 1 })), None);
        assert_eq!(json(&json!({ "weights": { "a": 1 }, "reason": "x\u{0}y" })).as_deref(), Some("/reason"));
        assert_eq!(json(&json!({ "data": [1, { "a/b": "\u{1b}[31m" }] })).as_deref(), Some("/data/1/a~1b"));
        assert_eq!(json(&json!({ "k\u{7}": 1 })).as_deref(), Some("/k\u{7}"));
        assert_eq!(json(&json!({ "c1": "\u{85}" })).as_deref(), Some("/c1"));
    }

    #[test]
    fn names_the_field_and_the_argument() {
        assert_eq!(pairs([("name", "Acme"), ("slug", "a\u{0}")]).as_deref(), Some("slug"));
        assert_eq!(pairs([("name", "two\r\nlines")]), None);
        assert_eq!(args(["atrium", "api-key", "--name", "ok"].map(Into::into)), None);
        assert_eq!(args(["atrium", "--name", "bad\u{0}"].map(Into::into)), Some(2));
    }
}
