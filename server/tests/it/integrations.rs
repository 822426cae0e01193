//! Integration configs: validation, sealed credentials that never leave the server (not in
//! pages, answers, the audit log or a database dump), disable, send test, and key rotation.
use crate::helpers::*;
use crate::receiver::{Receiver, Reply};
use app::domain::Role;
use app::integrations::Platform;
use sqlx::ConnectOptions;
use std::time::Duration;

const TOKEN: &str = "tok_live_PLAINTEXT_9f8e7d6c";

async fn save(app: &TestApp, c: &reqwest::Client, form: &[(&str, &str)]) -> reqwest::Response {
    let mut full = vec![("slug", "acme"), ("platform", "goodera")];
    full.extend_from_slice(form);
    app.post(c, "/api/integrations/save", &full).await
}

fn pg_dump(app: &TestApp) -> String {
    let url = app.db.options.to_url_lossy().to_string();
    // pg_dump knows libpq's URI parameters only, not sqlx's.
    let url = url.split('?').next().unwrap().to_string();
    let bin = ["/usr/lib/postgresql/15/bin/pg_dump", "pg_dump"]
        .into_iter()
        .find(|b| std::process::Command::new(b).arg("--version").output().is_ok())
        .expect("pg_dump is installed");
    let out = std::process::Command::new(bin).args(["--data-only", "--no-owner", &url]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn bad_configs_get_a_message_per_field_and_nothing_is_saved() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "admin@acme.test", Role::Admin).await;
    let before = app.fingerprint().await;
    let secret = app::integrations::platform::generate_signing_secret();
    let cases: Vec<(Vec<(&str, &str)>, &str, &str)> = vec![
        (
            vec![("endpoint", "http://hooks.example.com/x"), ("config", r#"{"organization_id": "o1"}"#)],
            "endpoint",
            "Use https",
        ),
        (vec![("endpoint", "ftp://example.com"), ("config", r#"{"organization_id": "o1"}"#)], "endpoint", "https://"),
        (vec![("endpoint", ""), ("config", r#"{"organization_id": "o1"}"#)], "endpoint", "Give the https URL"),
        (
            vec![("endpoint", "https://h.example.com"), ("config", r#"{"organization_id": "o1", "colour": "red"}"#)],
            "config",
            "\u{201c}colour\u{201d} is not a Goodera setting",
        ),
        (
            vec![("endpoint", "https://h.example.com"), ("config", r#"{"organization_id": "o1", "region": "mars"}"#)],
            "config",
            "one of us, eu, apac",
        ),
        (
            vec![("endpoint", "https://h.example.com"), ("config", "{}")],
            "config",
            "\u{201c}organization_id\u{201d} is required",
        ),
        (vec![("endpoint", "https://h.example.com"), ("config", "{oops")], "config", "not valid JSON"),
        (
            vec![
                ("endpoint", "https://h.example.com"),
                ("config", r#"{"organization_id": "o1"}"#),
                ("signing_secret", "hunter2"),
            ],
            "signing_secret",
            "whsec_",
        ),
        (
            vec![
                ("endpoint", "https://h.example.com"),
                ("config", r#"{"organization_id": "o1"}"#),
                ("api_token", "short"),
            ],
            "api_token",
            "8 to 4096",
        ),
        (
            vec![("endpoint", "https://h.example.com"), ("config", r#"{"organization_id": "o1"}"#), ("enabled", "on")],
            "signing_secret",
            "before enabling",
        ),
    ];
    for (form, field, message) in cases {
        let r = save(&app, &c, &form).await;
        assert_eq!(r.status(), 422, "{form:?}");
        let body = json(r).await;
        let got = body["Validation"][field].as_str().unwrap_or_default();
        assert!(got.contains(message), "{form:?}: {body}");
    }
    let r = app
        .post(
            &c,
            "/api/integrations/save",
            &[("slug", "acme"), ("platform", "myspace"), ("endpoint", "https://x.example"), ("config", "{}")],
        )
        .await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.fingerprint().await, before, "a refused save changed something");

    // A good one, for contrast; http to this machine is allowed because tests run in development.
    let r = save(
        &app,
        &c,
        &[
            ("endpoint", "http://127.0.0.1:9/hook"),
            ("config", r#"{"organization_id": "o1"}"#),
            ("signing_secret", &secret),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn credentials_are_sealed_and_never_reach_the_browser_the_audit_log_or_a_dump() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "admin@acme.test", Role::Admin).await;
    let secret = app::integrations::platform::generate_signing_secret();
    let r = save(
        &app,
        &c,
        &[
            ("endpoint", "https://hooks.goodera.example/atrium"),
            ("config", r#"{"organization_id": "org-7", "region": "eu"}"#),
            ("api_token", TOKEN),
            ("signing_secret", &secret),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    let (sealed, version): (Vec<u8>, i32) =
        sqlx::query_as("SELECT credentials_encrypted, credentials_key_version FROM integration_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(version, test_keyring().current_version());
    let opened =
        test_keyring().open(company, "goodera", "https://hooks.goodera.example:443", &sealed, version).unwrap();
    assert!(String::from_utf8(opened).unwrap().contains(TOKEN), "the sealed blob opens to the token");

    let detail =
        app.post(&c, "/api/integrations/get", &[("slug", "acme"), ("platform", "goodera")]).await.text().await.unwrap();
    let page = app.get(&c, "/t/acme/integrations/goodera").await.text().await.unwrap();
    let dump = pg_dump(&app);
    for (what, text) in [("server fn answer", &detail), ("page", &page), ("database dump", &dump)] {
        assert!(!text.contains(TOKEN), "{what} holds the plaintext token");
        assert!(!text.contains(&secret), "{what} holds the plaintext signing secret");
        assert!(!text.contains(&secret["whsec_".len()..]), "{what} holds the secret's base64");
    }
    assert!(dump.contains("org-7"), "the dump is real: it holds the config");
    assert!(detail.contains("\"api_token\":true") && detail.contains("\"signing_secret\":true"), "{detail}");
    assert!(page.contains("last changed"), "the page says the credentials are set and when");

    // The audit log says the credentials changed, never what they are.
    let details: serde_json::Value =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'integration.update'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(details["after"]["credentials"], "changed");
    assert!(!details.to_string().contains(TOKEN));

    // Saving again with the credential fields blank keeps them.
    let r = save(
        &app,
        &c,
        &[
            ("endpoint", "https://hooks.goodera.example/v2"),
            ("config", r#"{"organization_id": "org-7"}"#),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let (still, ver2): (Vec<u8>, i32) =
        sqlx::query_as("SELECT credentials_encrypted, credentials_key_version FROM integration_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(still, sealed, "untouched");
    assert_eq!(ver2, version);
    let last: serde_json::Value = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'integration.update' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last["after"]["api_endpoint"], "https://hooks.goodera.example/v2");
    assert!(last["after"].get("credentials").is_none(), "credentials did not change: {last}");
    // Saving exactly what is there writes nothing and audits nothing.
    let audits = app.audit_count("integration.update").await;
    let r = save(
        &app,
        &c,
        &[
            ("endpoint", "https://hooks.goodera.example/v2"),
            ("config", r#"{"organization_id": "org-7"}"#),
            ("enabled", "on"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.audit_count("integration.update").await, audits);
}

#[tokio::test]
async fn send_test_and_disable_from_the_page_are_audited() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, c) = app.member(company, "admin@acme.test", Role::Admin).await;
    let rx = Receiver::start().await;
    app.integration(company, Platform::Workday, &rx.url).await;
    let w = app.worker(fast_worker());
    let r = app.post(&c, "/api/integrations/send-test", &[("slug", "acme"), ("platform", "workday")]).await;
    assert_eq!(r.status(), 200);
    let id = json(r).await.as_i64().unwrap();
    app.wait_for(id, "success", Duration::from_secs(10)).await;
    let body: serde_json::Value = serde_json::from_str(&rx.hits()[0].body).unwrap();
    assert_eq!(body["type"], "atrium.test");
    assert_eq!(body["data"]["requested_by"], "admin@acme.test");
    // A second test is a new payload, not deduplicated.
    let r = app.post(&c, "/api/integrations/send-test", &[("slug", "acme"), ("platform", "workday")]).await;
    assert_ne!(json(r).await.as_i64().unwrap(), id);

    let page = app.get(&c, "/t/acme/integrations").await.text().await.unwrap();
    assert!(page.contains("Workday") && page.contains("Enabled") && page.contains("Not configured"), "{page}");

    let r = app.post(&c, "/api/integrations/disable", &[("slug", "acme"), ("platform", "workday")]).await;
    assert_eq!(r.status(), 200);
    let r = app.post(&c, "/api/integrations/disable", &[("slug", "acme"), ("platform", "workday")]).await;
    assert_eq!(r.status(), 409, "already disabled");
    let r = app.post(&c, "/api/integrations/send-test", &[("slug", "acme"), ("platform", "workday")]).await;
    assert_eq!(r.status(), 409);
    w.shutdown().await;
    assert_eq!(app.audit_count("integration.test_delivery").await, 2);
    assert_eq!(app.audit_count("integration.disable").await, 1);

    // A manager may look but not change.
    let (_, m) = app.member(company, "manager@acme.test", Role::Manager).await;
    let r = app.post(&m, "/api/integrations/send-test", &[("slug", "acme"), ("platform", "workday")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.get(&m, "/t/acme/integrations/workday").await.status(), 200);
}

#[tokio::test]
async fn rotating_the_root_secret_reseals_every_credential_and_deliveries_still_sign() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let rx = Receiver::start().await;
    let secret = app.integration(company, Platform::Benevity, &rx.url).await;
    let (old, v_old): (Vec<u8>, i32) =
        sqlx::query_as("SELECT credentials_encrypted, credentials_key_version FROM integration_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap();

    let new_root = "a brand new root secret of sufficient length";
    let rotated = app::integrations::crypto::Keyring::new(new_root, &[TEST_SECRET.to_string()]);
    let pepper = peppers().current;
    let n = atrium_server::housekeeping::rotate_secret(&app.pool, &rotated, &pepper).await.unwrap().resealed;
    assert_eq!(n, 1);
    let (sealed, v_new): (Vec<u8>, i32) =
        sqlx::query_as("SELECT credentials_encrypted, credentials_key_version FROM integration_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_ne!(v_new, v_old);
    assert_ne!(sealed, old);
    assert_eq!(app.audit_count("secret.rotate").await, 1);
    // Running it again finds nothing left to do.
    assert_eq!(atrium_server::housekeeping::rotate_secret(&app.pool, &rotated, &pepper).await.unwrap().resealed, 0);

    // A worker holding only the new key opens them and signs with the same secret.
    let only_new = app::integrations::crypto::Keyring::new(new_root, &[]);
    let q = app.enqueue(company, Platform::Benevity, serde_json::json!({"after": "rotation"})).await;
    let w = atrium_server::delivery_worker::Worker::new(app.pool.clone(), only_new, fast_worker()).unwrap().spawn();
    app.wait_for(q.id, "success", Duration::from_secs(10)).await;
    w.shutdown().await;
    assert!(crate::receiver::verify(&secret, &rx.hits()[0]));
    rx.script(vec![Reply::Status(200)]);
}
