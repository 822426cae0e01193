//! Webhooks cannot reach the inside. No packet leaves loopback: private addresses are refused
//! on literals and through the tests' fixed resolver table, before any connection.
use crate::helpers::*;
use crate::receiver::Receiver;
use app::domain::Role;
use app::integrations::Platform;
use serde_json::json;
use std::time::Duration;

async fn attempt_of(app: &TestApp, id: i64) -> (Option<i32>, Option<String>, Option<String>) {
    sqlx::query_as(
        "SELECT response_status, error, response_excerpt FROM integration_delivery_attempts
          WHERE delivery_id = $1 ORDER BY attempt DESC LIMIT 1",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn an_admin_cannot_save_an_endpoint_inside_the_network() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, admin) = app.member(acme, "boss@acme.test", Role::Admin).await;
    let before = app.fingerprint().await;
    for endpoint in [
        "https://10.0.0.5/hook",
        "https://169.254.169.254/latest/meta-data/",
        "https://100.64.1.1/hook",
        "https://[fd00::1]/hook",
        "https://[::ffff:192.168.1.1]/hook",
        "https://rebind.test/hook",
        "https://metadata.test/",
        // Spellings a URL parser reads as an address, not a name.
        "https://169.254.169.254./latest/meta-data/",
        "https://167772161/hook",
        "https://0xa9.254.169.254/hook",
        "https://10.1/hook",
    ] {
        let r = save(&app, &admin, endpoint, "tok_attacker_123456", "").await;
        assert_eq!(r.status(), 422, "{endpoint}");
        let body = json(r).await;
        let why = body["Validation"]["endpoint"].as_str().unwrap_or_else(|| panic!("{endpoint}: {body}")).to_string();
        assert!(why.contains("cannot go inside the network"), "{endpoint}: {why}");
    }
    assert_eq!(app.fingerprint().await, before);
}

/// In production nothing on loopback is reachable either, by address or by name; the worker
/// refuses before it connects, so the receiver listening there hears nothing.
#[tokio::test]
async fn in_production_the_sender_refuses_loopback_before_connecting() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let rx = Receiver::start().await;
    let port = rx.url.rsplit(':').next().unwrap().trim_end_matches("/hook").to_string();
    let production = atrium_server::delivery_worker::WorkerConfig {
        egress: app::integrations::egress::Egress { allow_loopback: false, ..test_egress() },
        ..fast_worker()
    };
    for endpoint in [
        rx.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        format!("http://127.0.0.1.:{port}/hook"),
        format!("http://2130706433:{port}/hook"),
    ] {
        // Stored directly, as if an older version had accepted it.
        app.integration(acme, Platform::Benevity, &rx.url).await;
        sqlx::query("UPDATE integration_configs SET api_endpoint = $1")
            .bind(&endpoint)
            .execute(&app.pool)
            .await
            .unwrap();
        let q = app.enqueue(acme, Platform::Benevity, json!({"n": 1})).await;
        let worker = app.worker(production.clone());
        app.wait_for(q.id, "failed", Duration::from_secs(10)).await;
        worker.shutdown().await;
        let (status, error, excerpt) = attempt_of(&app, q.id).await;
        assert_eq!(status, None, "{endpoint}");
        assert!(error.as_deref().unwrap_or("").contains("loopback"), "{endpoint}: {error:?}");
        assert_eq!(excerpt, None);
    }
    assert!(rx.hits().is_empty(), "no request reached the receiver");
}

/// A name that looked public when it was saved and answers a private address when it is sent
/// (DNS rebinding) is refused at send time, by the resolver the connection uses.
#[tokio::test]
async fn a_rebinding_name_is_refused_when_sent() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    app.integration(acme, Platform::Benevity, "https://rebind.test/hook").await;
    let q = app.enqueue(acme, Platform::Benevity, json!({"n": 1})).await;
    let worker = app.worker(fast_worker());
    app.wait_for(q.id, "failed", Duration::from_secs(10)).await;
    worker.shutdown().await;
    let (status, error, excerpt) = attempt_of(&app, q.id).await;
    assert_eq!((status, excerpt), (None, None));
    let error = error.unwrap();
    assert!(error.contains("rebind.test resolves to 10.0.0.5 is a private address"), "{error}");
}

async fn save(app: &TestApp, c: &reqwest::Client, endpoint: &str, token: &str, secret: &str) -> reqwest::Response {
    app.post(
        c,
        "/api/integrations/save",
        &[
            ("slug", "acme"),
            ("platform", "benevity"),
            ("enabled", "on"),
            ("endpoint", endpoint),
            ("config", r#"{"program_id": "p1"}"#),
            ("api_token", token),
            ("signing_secret", secret),
        ],
    )
    .await
}

/// Stored credentials go only to the host they were entered for: pointing the integration at
/// another host needs them again, and a host changed behind the app's back opens nothing.
#[tokio::test]
async fn stored_credentials_do_not_follow_the_endpoint_to_another_host() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, admin) = app.member(acme, "boss@acme.test", Role::Admin).await;
    let secret = app::integrations::platform::generate_signing_secret();
    let r = save(&app, &admin, "https://hooks.test/atrium", "tok_live_customer_secret", &secret).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Same host, another path: the credentials stay.
    let r = save(&app, &admin, "https://hooks.test/v2", "", "").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Another host without the credentials again: refused, nothing changed.
    let before = app.fingerprint().await;
    let r = save(&app, &admin, "https://hooks.test.evil.test/steal", "", "").await;
    assert_eq!(r.status(), 422);
    assert!(json(r).await["Validation"]["signing_secret"].as_str().unwrap().contains("host changed"));
    assert_eq!(app.fingerprint().await, before);

    // A host changed in the database (bypassing the form): the worker cannot open the
    // credentials for it, so the token is never sent there.
    let thief = Receiver::start().await;
    let honest = Receiver::start().await;
    app.integration(acme, Platform::Benevity, &honest.url).await;
    let thief_url = thief.url.replace("127.0.0.1", "localhost");
    sqlx::query("UPDATE integration_configs SET api_endpoint = $1").bind(&thief_url).execute(&app.pool).await.unwrap();
    let q = app.enqueue(acme, Platform::Benevity, json!({"n": 1})).await;
    let worker = app.worker(fast_worker());
    app.wait_for(q.id, "failed", Duration::from_secs(10)).await;
    worker.shutdown().await;
    let (_, error, _) = attempt_of(&app, q.id).await;
    assert!(error.unwrap().contains("credentials cannot be opened"));
    assert!(thief.hits().is_empty() && honest.hits().is_empty());
}
