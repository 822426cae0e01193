//! Weight overrides: the editor's validation, the trigger-made history (insert, update,
//! delete, with who and why), restore as a new change, and the same through the REST API.
use crate::helpers::*;
use app::domain::Role;
use reqwest::Method;
use serde_json::{json, Value};

async fn save(
    app: &TestApp,
    c: &reqwest::Client,
    category: &str,
    values: &[(&str, &str)],
    reason: &str,
) -> reqwest::Response {
    let keys: Vec<String> = values.iter().map(|(k, _)| format!("values[{k}]")).collect();
    let mut form: Vec<(&str, &str)> = vec![("slug", "acme"), ("category", category), ("reason", reason)];
    for ((_, v), k) in values.iter().zip(&keys) {
        form.push((k.as_str(), v));
    }
    app.post(c, "/api/weights/save", &form).await
}

async fn history(
    app: &TestApp,
    company: uuid::Uuid,
) -> Vec<(String, Option<Value>, Option<Value>, Option<String>, Option<String>)> {
    sqlx::query_as(
        "SELECT operation, old_weights, new_weights, changed_by_email, change_reason FROM weight_override_history
          WHERE company_id = $1 ORDER BY id",
    )
    .bind(company)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn edits_are_validated_and_the_history_records_insert_update_and_delete_with_who_and_why() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "admin@acme.test", Role::Admin).await;

    let r = save(&app, &c, "sroi", &[("volunteer_hour_value", "40"), ("deadweight", "")], "2025 rate").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = save(&app, &c, "sroi", &[("volunteer_hour_value", "42.5"), ("deadweight", "0.1")], "Board decision").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Saving the same weights again is not a change.
    let r = save(&app, &c, "sroi", &[("volunteer_hour_value", "42.5"), ("deadweight", "0.1")], "Again").await;
    assert_eq!(r.status(), 422);
    assert!(json(r).await["Validation"]["form"].as_str().unwrap().contains("Nothing changed"));
    // Every field blank: back to the defaults, which deletes the override row.
    let r = save(&app, &c, "sroi", &[("volunteer_hour_value", ""), ("deadweight", "")], "Back to defaults").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let h = history(&app, company).await;
    let ops: Vec<&str> = h.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(ops, ["INSERT", "UPDATE", "DELETE"]);
    assert_eq!(h[0].2, Some(json!({"volunteer_hour_value": 40})));
    assert_eq!(h[1].1, Some(json!({"volunteer_hour_value": 40})));
    assert_eq!(h[1].2, Some(json!({"volunteer_hour_value": 42.5, "deadweight": 0.1})));
    assert_eq!(h[2].2, None);
    for (row, reason) in h.iter().zip(["2025 rate", "Board decision", "Back to defaults"]) {
        assert_eq!(row.3.as_deref(), Some("admin@acme.test"));
        assert_eq!(row.4.as_deref(), Some(reason));
    }
    assert_eq!(app.scalar_i64("SELECT count(*) FROM weight_overrides").await, 0);
    let audited: Vec<Value> =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'weights.update' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(audited.len(), 3);
    assert_eq!(audited[1]["before"], json!({"volunteer_hour_value": 40}));
    assert_eq!(audited[1]["after"], json!({"volunteer_hour_value": 42.5, "deadweight": 0.1}));
    assert_eq!(audited[1]["reason"], "Board decision");

    // The history page shows each change as old → new values, with its reason.
    let page = app.get(&c, "/t/acme/weights/sroi/history").await.text().await.unwrap();
    assert!(page.contains("Board decision") && page.contains("Reset to defaults"), "{page}");
    assert!(page.contains("<del>40</del>") && page.contains("<ins>42.5</ins>"), "{page}");
    let editor = app.get(&c, "/t/acme/weights/sroi").await.text().await.unwrap();
    assert!(editor.contains("Value of a volunteer hour") && editor.contains("33.49"), "{editor}");
}

#[tokio::test]
async fn bad_weights_get_a_message_per_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "admin@acme.test", Role::Admin).await;
    let before = app.fingerprint().await;
    let cases: Vec<(&str, Vec<(&str, &str)>, &str, &str, &str)> = vec![
        ("sroi", vec![("bogus_weight", "1")], "Because", "bogus_weight", "not a known SROI weight"),
        ("sroi", vec![("volunteer_hour_value", "9000")], "Because", "volunteer_hour_value", "between 0 and 500"),
        ("sroi", vec![("volunteer_hour_value", "abc")], "Because", "volunteer_hour_value", "Enter a number"),
        ("sroi", vec![("volunteer_hour_value", "40")], "  ", "reason", "Say why"),
        ("vis", vec![("hours_weight", "0.6")], "Because", "form", "must sum to 1; they sum to 1.2"),
        ("vis", vec![("min_hours_for_credit", "2.5")], "Because", "min_hours_for_credit", "whole number"),
        (
            "sroi",
            vec![("skilled_volunteer_hour_value", "20")],
            "Because",
            "skilled_volunteer_hour_value",
            "less than a general hour",
        ),
    ];
    for (category, values, reason, field, message) in cases {
        let r = save(&app, &c, category, &values, reason).await;
        assert_eq!(r.status(), 422, "{values:?}");
        let body = json(r).await;
        let got = body["Validation"][field].as_str().unwrap_or_default();
        assert!(got.contains(message), "{values:?}: {body}");
    }
    let r = save(&app, &c, "other", &[("x", "1")], "Because").await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.fingerprint().await, before, "a refused edit changed something");

    // Without JavaScript, a failed post comes back to the form with the message under the field.
    let r = client_html(
        &app,
        &c,
        &[("slug", "acme"), ("category", "sroi"), ("values[volunteer_hour_value]", "9000"), ("reason", "x")],
    )
    .await;
    assert!(r.contains("between 0 and 500"), "{r}");
}

async fn client_html(app: &TestApp, c: &reqwest::Client, form: &[(&str, &str)]) -> String {
    let r = c
        .post(app.url("/api/weights/save"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Referer", app.url("/t/acme/weights/sroi"))
        .header("Accept", "text/html")
        .form(form)
        .send()
        .await
        .unwrap();
    let to = r.headers()["location"].to_str().unwrap().to_string();
    c.get(&to).send().await.unwrap().text().await.unwrap()
}

#[tokio::test]
async fn restoring_a_version_is_a_new_change_and_history_is_never_rewritten() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "admin@acme.test", Role::Admin).await;
    save(&app, &c, "vis", &[("hours_weight", "0.5"), ("consistency_weight", "0")], "Hours matter most").await;
    save(&app, &c, "vis", &[("recency_half_life_days", "90")], "Shorter memory").await;
    let first: i64 = app.scalar_i64("SELECT min(id) FROM weight_override_history").await;
    let before: Vec<(i64, Option<Value>)> =
        sqlx::query_as("SELECT id, new_weights FROM weight_override_history ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();

    let r = app
        .post(
            &c,
            "/api/weights/restore",
            &[("slug", "acme"), ("category", "vis"), ("version", &first.to_string()), ("reason", "")],
        )
        .await;
    assert_eq!(r.status(), 422, "a restore needs its own reason");
    let r = app
        .post(
            &c,
            "/api/weights/restore",
            &[("slug", "acme"), ("category", "vis"), ("version", &first.to_string()), ("reason", "Undo")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let now: Value = sqlx::query_scalar("SELECT weights FROM weight_overrides WHERE category = 'vis'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(now, json!({"hours_weight": 0.5, "consistency_weight": 0}));
    let after: Vec<(i64, Option<Value>)> =
        sqlx::query_as("SELECT id, new_weights FROM weight_override_history ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(&after[..2], &before[..], "earlier rows untouched");
    assert_eq!(after.len(), 3);
    assert_eq!(app.audit_count("weights.restore").await, 1);
    let reason: String =
        sqlx::query_scalar("SELECT change_reason FROM weight_override_history ORDER BY id DESC LIMIT 1")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(reason, "Undo");
    // Another company's version id is not found from here.
    let other = app.company("Other").await;
    sqlx::query("INSERT INTO weight_overrides (company_id, category, weights) VALUES ($1, 'vis', '{\"min_hours_for_credit\": 3}')")
        .bind(other)
        .execute(&app.pool)
        .await
        .unwrap();
    let foreign = app.scalar_i64("SELECT max(id) FROM weight_override_history").await;
    let r = app
        .post(
            &c,
            "/api/weights/restore",
            &[("slug", "acme"), ("category", "vis"), ("version", &foreign.to_string()), ("reason", "Sneaky")],
        )
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_rest_api_reads_and_writes_weights_through_the_same_rules() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (key_id, key) = app.api_key(company, &["read:weights", "write:weights"], None).await;
    let (_, read_only) = app.api_key(company, &["read:weights"], None).await;
    let put = |body: Value, key: String| {
        let url = app.url("/api/v1/weights/sroi");
        async move { client().put(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };

    let body = json(app.api(Method::GET, "/api/v1/weights/sroi", Some(&key)).await).await;
    assert_eq!(body["overrides"], json!({}));
    assert_eq!(body["effective"]["volunteer_hour_value"], 33.49);

    let r = put(json!({"weights": {"volunteer_hour_value": 9000, "nope": 1}, "reason": ""}), key.clone()).await;
    assert_eq!(r.status(), 422);
    let p = json(r).await;
    assert_eq!(p["type"], "/api/v1/problems/invalid");
    assert!(p["errors"]["volunteer_hour_value"].as_str().unwrap().contains("between 0 and 500"), "{p}");
    assert!(p["errors"]["nope"].as_str().unwrap().contains("not a known SROI weight"), "{p}");
    assert!(p["errors"]["reason"].is_string(), "{p}");
    let r = client().put(app.url("/api/v1/weights/sroi")).bearer_auth(&key).body("not json").send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM weight_override_history").await, 0);

    let r =
        put(json!({"weights": {"volunteer_hour_value": 35}, "reason": "Synced from HRIS"}), read_only.clone()).await;
    assert_eq!(r.status(), 403);

    let r = put(json!({"weights": {"volunteer_hour_value": 35}, "reason": "Synced from HRIS"}), key.clone()).await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!(body["overrides"], json!({"volunteer_hour_value": 35}));
    assert_eq!(body["effective"]["volunteer_hour_value"], 35);
    let (by, reason): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT changed_by_email, change_reason FROM weight_override_history")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(by, Some(format!("api-key:{key_id}")));
    assert_eq!(reason.as_deref(), Some("Synced from HRIS"));
    let via: Value = sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'weights.update'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(via["via"], "api");
    assert_eq!(via["after"], json!({"volunteer_hour_value": 35}));
}

#[tokio::test]
async fn viewers_read_weights_but_cannot_change_them() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "viewer@acme.test", Role::Viewer).await;
    let page = app.get(&c, "/t/acme/weights/vis").await;
    assert_eq!(page.status(), 200);
    let page = page.text().await.unwrap();
    assert!(page.contains("Weight of hours") && !page.contains("Save weights"), "{page}");
    let r = save(&app, &c, "vis", &[("recency_half_life_days", "90")], "Because").await;
    assert_eq!(r.status(), 403);
}
