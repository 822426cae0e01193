//! NUL and other control characters, sent everywhere text comes in: each is refused with a
//! clear 4xx that names where it was, and nothing is written. Before this, a NUL in a JSON
//! string reached PostgreSQL, which rejected it, and the caller got a 500.
use crate::cli::{atrium, text};
use crate::helpers::*;
use app::domain::Role;
use reqwest::Method;
use serde_json::json;

async fn setup() -> (TestApp, uuid::Uuid, String, reqwest::Client, String) {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let slug = app.slug(company).await;
    let (_, admin) = app.member(company, "admin@acme.test", Role::Admin).await;
    let (_, key) =
        app.api_key(company, &["read:weights", "write:weights", "read:audit", "write:deliveries"], None).await;
    (app, company, slug, admin, key)
}

#[tokio::test]
async fn the_rest_api_refuses_control_characters_in_bodies_and_queries() {
    let (app, company, _, _, key) = setup().await;
    let rx = crate::receiver::Receiver::start().await;
    app.integration(company, app::integrations::Platform::Benevity, &rx.url).await;
    let before = app.fingerprint().await;
    let put =
        |body: serde_json::Value| client().put(app.url("/api/v1/weights/sroi")).bearer_auth(&key).json(&body).send();
    // The fuzzer's find: a NUL in the reason.
    let r = put(json!({ "weights": { "volunteer_hour_value": 40 }, "reason": "a\u{0}b" })).await.unwrap();
    assert_eq!(r.status(), 400);
    let p = json(r).await;
    assert_eq!(p["type"], "/api/v1/problems/bad-request");
    assert_eq!(p["at"], "/reason");
    assert!(p["detail"].as_str().unwrap().contains("control characters"), "{p}");
    // In a key of the weights, and an escape sequence in a delivery's data.
    let r = put(json!({ "weights": { "volunteer\u{0}": 40 }, "reason": "ok" })).await.unwrap();
    assert_eq!(r.status(), 400);
    let r = client()
        .post(app.url("/api/v1/integrations/benevity/deliveries"))
        .bearer_auth(&key)
        .json(&json!({ "type": "hours.logged", "data": { "note": ["fine", "\u{1b}[2J"] } }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["at"], "/data/note/1");
    // A query string.
    let r = app.api(Method::GET, "/api/v1/audit-log?actor=%00", Some(&key)).await;
    assert_eq!(r.status(), 400);
    assert_eq!(json(r).await["at"], "actor");
    let r = app.api(Method::GET, "/api/v1/audit-log/export?format=csv&action=x%01", Some(&key)).await;
    assert_eq!(r.status(), 400);
    // The unauthenticated key check.
    let r =
        client().post(app.url("/api/v1/keys/verify")).json(&json!({ "key": "atr_live_\u{0}" })).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.fingerprint().await, before, "nothing was written");
    // Line breaks and tabs in free text are text, not control.
    let r = put(json!({ "weights": { "volunteer_hour_value": 40 }, "reason": "two\nlines\tand a tab" })).await.unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn server_functions_refuse_control_characters_and_name_the_field() {
    let (app, _, slug, admin, _) = setup().await;
    let root = app.superadmin().await;
    let before = app.fingerprint().await;
    let r = app
        .post(&admin, "/api/audit/retention", &[("slug", &slug), ("days", "400"), ("legal_hold_reason", "x\u{0}")])
        .await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert_eq!(body["Validation"]["legal_hold_reason"], app::domain::CONTROL_CHARACTERS, "{body}");
    // A JSON-encoded call is checked the same way.
    let r = admin
        .post(app.url("/api/account/profile"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Content-Type", "application/json")
        .body(r#"{"name": "Eve\u0000"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // A form body labelled JSON is still read as a form (as Leptos reads it), and checked so.
    let r = admin
        .post(app.url("/api/audit/retention"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Content-Type", "application/json")
        .body(format!("slug={slug}&days=400&legal_hold_reason=x%00"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    // The super-admin's forms too.
    let r = app.create_company(&root, "Bad\u{7}Name", "").await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.fingerprint().await, before, "nothing was written");
}

#[tokio::test]
async fn addresses_with_control_characters_are_refused_before_a_page_renders() {
    let (app, _, slug, admin, _) = setup().await;
    for path in [
        format!("/t/{slug}/audit?actor=%00&action=x%00"),
        format!("/t/{slug}/users?q=%00"),
        format!("/t/{slug}/api-keys?q=%00"),
        format!("/t/{slug}/deliveries?status=%00"),
        format!("/t/{slug}/audit/export?format=csv&actor=%00"),
        format!("/t/a%00b/"),
    ] {
        let r = app.get(&admin, &path).await;
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.unwrap().contains("control characters"));
    }
    // HEAD renders the page too.
    let r = admin.head(app.url(&format!("/t/{slug}/users?q=%00"))).send().await.unwrap();
    assert_eq!(r.status(), 400);
    let root = app.superadmin().await;
    for path in ["/admin/companies?q=%00", "/admin/audit?company=%00"] {
        assert_eq!(app.get(&root, path).await.status(), 400, "{path}");
    }
}

#[tokio::test]
async fn the_command_line_refuses_control_characters_in_arguments() {
    let db = TestDb::new().await;
    let out = atrium(&db, &["seed", "--demo"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let out = atrium(
        &db,
        &["api-key", "create", "--company", "acme-corporation", "--name", "bad\u{1}", "--scopes", "read:company"],
        &[],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("control character"), "{}", text(&out));
    let out = atrium(&db, &["maintenance", "on", "--message", "tab\tis fine here? no: one line"], &[]);
    assert!(!out.status.success(), "a one-line message refuses a tab too: {}", text(&out));
}
