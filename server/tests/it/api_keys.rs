//! API keys end to end: issuing from the console and the command line, the REST API with
//! every refusal it promises, usage counting, and revocation across processes.
use crate::helpers::*;
use app::domain::Role;
use reqwest::Method;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn admin_of(app: &TestApp, name: &str, email: &str) -> (uuid::Uuid, reqwest::Client) {
    let company = app.company(name).await;
    let (_, c) = app.member(company, email, Role::Admin).await;
    (company, c)
}

async fn create(app: &TestApp, c: &reqwest::Client, slug: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut full = vec![("slug", slug)];
    full.extend_from_slice(form);
    app.post(c, "/api/api-keys/create", &full).await
}

fn problem_type(body: &Value) -> &str {
    body["type"].as_str().unwrap_or_default()
}

#[tokio::test]
async fn a_key_is_shown_once_stored_as_a_keyed_hash_and_opens_the_api() {
    let app = spawn_app().await;
    let (company, c) = admin_of(&app, "Acme", "admin@acme.test").await;
    let r = create(
        &app,
        &c,
        "acme",
        &[
            ("name", "Payroll sync"),
            ("scopes[]", "read:company"),
            ("scopes[]", "read:metrics"),
            ("expiry", "90"),
            ("rate_limit", ""),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    let issued = json(r).await;
    let secret = issued["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("atr_live_") && secret.len() == 58, "{secret}");

    // Only the keyed hash, the display prefix and the last four characters are kept.
    let (hash, prefix, last4, scopes): (Vec<u8>, String, String, Vec<String>) =
        sqlx::query_as("SELECT key_hash, key_prefix, key_last4, scopes FROM api_keys WHERE company_id = $1")
            .bind(company)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(hash.len(), 32);
    assert_eq!(prefix, &secret[..13]);
    assert_eq!(last4, &secret[54..]);
    assert_eq!(scopes, ["read:company", "read:metrics"]);
    let dump: String = sqlx::query_scalar(
        "SELECT concat_ws('|', (SELECT string_agg(t::text, '|') FROM api_keys t), (SELECT string_agg(a::text, '|') FROM audit_log a))",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(!dump.contains(&secret[13..50]), "the secret must not be stored anywhere");
    assert_eq!(app.audit_count("api_key.create").await, 1);

    let r = app.api(Method::GET, "/api/v1/company", Some(&secret)).await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!(body["slug"], "acme");
    assert_eq!(body["name"], "Acme");
    let r = app.api(Method::GET, "/api/v1/metrics", Some(&secret)).await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!(body["users"]["ACTIVE"], 1);
    assert_eq!(body["api_requests_per_day"].as_array().unwrap().len(), 30);
    assert_eq!(body["deliveries_by_status"]["failed"], 0);

    // The list shows it (never the secret).
    let r = app.post(&c, "/api/api-keys/list", &[("slug", "acme"), ("status", "")]).await;
    let list = r.text().await.unwrap();
    assert!(list.contains("Payroll sync") && !list.contains(&secret[13..]), "{list}");
}

#[tokio::test]
async fn bad_key_requests_get_clear_messages_and_change_nothing() {
    let app = spawn_app().await;
    let (_, c) = admin_of(&app, "Acme", "admin@acme.test").await;
    let before = app.fingerprint().await;
    let r = create(&app, &c, "acme", &[("name", "  "), ("expiry", "never"), ("rate_limit", "0")]).await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    let fields = &body["Validation"];
    assert!(fields["name"].as_str().unwrap().contains("name"), "{body}");
    assert_eq!(fields["scopes"], "Choose at least one scope.");
    assert!(fields["expiry"].as_str().unwrap().contains("confirmed"), "{body}");
    assert!(fields["rate_limit"].as_str().unwrap().contains("1 to"), "{body}");
    let r = create(
        &app,
        &c,
        "acme",
        &[("name", "x"), ("scopes[]", "admin:everything"), ("expiry", "date"), ("expires_on", "2001-01-01")],
    )
    .await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert!(body["Validation"]["scopes"].as_str().unwrap().contains("not a scope"), "{body}");
    assert!(body["Validation"]["expiry"].as_str().unwrap().contains("future"), "{body}");
    assert_eq!(app.fingerprint().await, before);

    // "Never" with its confirmation is allowed, and flagged as risky.
    let r = create(
        &app,
        &c,
        "acme",
        &[("name", "Forever"), ("scopes[]", "read:company"), ("expiry", "never"), ("confirm_never", "1")],
    )
    .await;
    assert_eq!(r.status(), 200);
    let r = app.post(&c, "/api/api-keys/list", &[("slug", "acme"), ("status", ""), ("risky", "1")]).await;
    let body = json(r).await;
    let risks = body["rows"][0]["risks"].as_array().unwrap();
    assert!(risks.iter().any(|r| r == "never expires") && risks.iter().any(|r| r == "no rate limit"), "{body}");
    let r = app.post(&c, "/api/api-keys/list", &[("slug", "acme"), ("status", "bogus")]).await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_get_one_answer() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, secret) = app.api_key(company, &["read:company"], None).await;
    // One changed character: the checksum fails.
    let mut changed = secret.clone().into_bytes();
    changed[30] = if changed[30] == b'a' { b'b' } else { b'a' };
    let changed = String::from_utf8(changed).unwrap();
    let unknown = app::api_keys::secret::ApiKeySecret::generate().expose().to_string();
    let mut bodies = Vec::new();
    for key in [None, Some("not-a-key"), Some(changed.as_str()), Some(unknown.as_str())] {
        let r = app.api(Method::GET, "/api/v1/company", key).await;
        assert_eq!(r.status(), 401, "{key:?}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert!(r.headers().contains_key("www-authenticate"));
        bodies.push(json(r).await);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    assert_eq!(problem_type(&bodies[0]), "/api/v1/problems/invalid-key");
    assert_eq!(bodies[0]["status"], 401);
    assert!(bodies[0]["detail"].as_str().unwrap().contains("missing, malformed or unknown"));
}

#[tokio::test]
async fn the_checksum_refuses_a_changed_key_before_any_query() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, secret) = app.api_key(company, &["read:company"], None).await;
    // A verifier whose database is gone: anything that reached it would be "unavailable".
    let closed =
        atrium_server::connect_app(&sqlx::ConnectOptions::to_url_lossy(&app.db.options).to_string()).await.unwrap();
    closed.close().await;
    let verifier = atrium_server::api::keys::Verifier::new(closed.clone(), closed, peppers(), true);
    use atrium_server::api::keys::Refusal;
    for i in 9..secret.len() {
        let mut changed = secret.clone().into_bytes();
        changed[i] = if changed[i] == b'7' { b'8' } else { b'7' };
        let changed = String::from_utf8(changed).unwrap();
        assert_eq!(verifier.verify(&changed).await.unwrap_err(), Refusal::Invalid, "position {i}");
    }
    assert_eq!(
        verifier.verify(&secret).await.unwrap_err(),
        Refusal::Unavailable,
        "the intact key reaches the database"
    );
}

#[tokio::test]
async fn scope_expiry_revocation_roll_company_and_rate_limit_each_get_their_answer() {
    let app = spawn_app().await;
    let (a, c) = admin_of(&app, "Acme", "admin@acme.test").await;
    let b = app.company("Borealis").await;

    // Wrong scope: 403 naming the scope.
    let (_, metrics_only) = app.api_key(a, &["read:metrics"], None).await;
    let r = app.api(Method::GET, "/api/v1/company", Some(&metrics_only)).await;
    assert_eq!(r.status(), 403);
    let body = json(r).await;
    assert_eq!(problem_type(&body), "/api/v1/problems/missing-scope");
    assert_eq!(body["required_scope"], "read:company");
    assert_eq!(
        body["detail"],
        "This API key lacks the scope \u{201c}read:company\u{201d}, which this endpoint requires."
    );

    // Expired (after being cached: the change reaches the cache through NOTIFY).
    let (expiring_id, expiring) = app.api_key(a, &["read:company"], None).await;
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&expiring)).await.status(), 200);
    sqlx::query("UPDATE api_keys SET created_at = now() - interval '2 days', expires_at = now() - interval '1 day' WHERE id = $1")
        .bind(expiring_id)
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("expired key refused", Duration::from_secs(1), || async {
        app.api(Method::GET, "/api/v1/company", Some(&expiring)).await.status() == 401
    })
    .await;
    let body = json(app.api(Method::GET, "/api/v1/company", Some(&expiring)).await).await;
    assert_eq!(problem_type(&body), "/api/v1/problems/key-expired");
    assert!(body["detail"].as_str().unwrap().starts_with("This API key expired at "), "{body}");

    // Revoked from the console: refused at once, revoked_by recorded, audited.
    let (revoked_id, revoked) = app.api_key(a, &["read:company"], None).await;
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&revoked)).await.status(), 200);
    let id = revoked_id.to_string();
    let r = app.post(&c, "/api/api-keys/revoke", &[("slug", "acme"), ("id", &id)]).await;
    assert_eq!(r.status(), 422, "revoking needs the confirmation");
    let r = app.post(&c, "/api/api-keys/revoke", &[("slug", "acme"), ("id", &id), ("confirm", "1")]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    eventually("revoked key refused", Duration::from_secs(1), || async {
        app.api(Method::GET, "/api/v1/company", Some(&revoked)).await.status() == 401
    })
    .await;
    let body = json(app.api(Method::GET, "/api/v1/company", Some(&revoked)).await).await;
    assert_eq!(problem_type(&body), "/api/v1/problems/key-revoked");
    assert_eq!(body["detail"], "This API key was revoked. Ask an admin of the company for a new key.");
    let revoked_by: Option<uuid::Uuid> = sqlx::query_scalar("SELECT revoked_by FROM api_keys WHERE id = $1")
        .bind(revoked_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(revoked_by.is_some());
    assert_eq!(app.audit_count("api_key.revoke").await, 1);
    let r = app.post(&c, "/api/api-keys/revoke", &[("slug", "acme"), ("id", &id), ("confirm", "1")]).await;
    assert_eq!(r.status(), 409);

    // Rolled with a grace period: both work; after the grace the old one is expired.
    let (old_id, old) = app.api_key(a, &["read:company"], Some(100)).await;
    let r = app.post(&c, "/api/api-keys/roll", &[("slug", "acme"), ("id", &old_id.to_string()), ("grace", "1h")]).await;
    assert_eq!(r.status(), 200);
    let successor = json(r).await;
    let new = successor["secret"].as_str().unwrap().to_string();
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&new)).await.status(), 200);
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&old)).await.status(), 200);
    let (scopes, limit, from): (Vec<String>, Option<i32>, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT scopes, rate_limit_per_minute, rolled_from FROM api_keys WHERE id = $1::uuid")
            .bind(successor["id"].as_str().unwrap())
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((scopes, limit, from), (vec!["read:company".to_string()], Some(100), Some(old_id)));
    let until: time::OffsetDateTime = sqlx::query_scalar("SELECT expires_at FROM api_keys WHERE id = $1")
        .bind(old_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let grace = until - time::OffsetDateTime::now_utc();
    assert!(grace > time::Duration::minutes(59) && grace <= time::Duration::hours(1), "{grace}");
    // The grace period passes.
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second', created_at = now() - interval '1 hour' WHERE id = $1")
        .bind(old_id)
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("rolled key refused after its grace", Duration::from_secs(1), || async {
        app.api(Method::GET, "/api/v1/company", Some(&old)).await.status() == 401
    })
    .await;
    assert_eq!(
        problem_type(&json(app.api(Method::GET, "/api/v1/company", Some(&old)).await).await),
        "/api/v1/problems/key-expired"
    );
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&new)).await.status(), 200);
    assert_eq!(app.audit_count("api_key.roll").await, 1);
    // Rolled with no grace: the old key stops at once.
    let successor_id = successor["id"].as_str().unwrap().to_string();
    let r =
        app.post(&c, "/api/api-keys/roll", &[("slug", "acme"), ("id", &successor_id), ("grace", "immediate")]).await;
    assert_eq!(r.status(), 200);
    eventually("immediately rolled key refused", Duration::from_secs(1), || async {
        app.api(Method::GET, "/api/v1/company", Some(&new)).await.status() == 401
    })
    .await;

    // Another company's key sees its own company only, and /keys/verify says whose it is.
    let (_, other) = app.api_key(b, &["read:company", "read:audit"], None).await;
    let body = json(app.api(Method::GET, "/api/v1/company", Some(&other)).await).await;
    assert_eq!(body["slug"], "borealis");
    let body = json(app.api(Method::GET, "/api/v1/audit-log", Some(&other)).await).await;
    assert!(body["items"].as_array().unwrap().iter().all(|i| !i.to_string().contains("acme")), "{body}");
    let r = client()
        .post(app.url("/api/v1/keys/verify"))
        .json(&serde_json::json!({ "key": other, "company": "acme" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!(body["valid"], false);
    assert_eq!(body["code"], "wrong_company");
    assert_eq!(body["detail"], "This key does not belong to the company \u{201c}acme\u{201d}.");

    // Rate limit: 3 a minute, the fourth is refused with Retry-After.
    let (_, limited) = app.api_key(a, &["read:company"], Some(3)).await;
    for i in 0..3 {
        let r = app.api(Method::GET, "/api/v1/company", Some(&limited)).await;
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(r.headers()["ratelimit-remaining"], (2 - i).to_string().as_str());
    }
    let r = app.api(Method::GET, "/api/v1/company", Some(&limited)).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "20");
    let body = json(r).await;
    assert_eq!(problem_type(&body), "/api/v1/problems/rate-limited");
    assert_eq!(body["detail"], "This API key may make 3 requests per minute. Retry after 20 seconds.");
}

#[tokio::test]
async fn verify_reports_company_scopes_expiry_and_remaining_limit() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (id, key) = app.api_key(company, &["read:company", "read:metrics"], Some(10)).await;
    let post = |body: Value| {
        let url = app.url("/api/v1/keys/verify");
        async move { client().post(url).json(&body).send().await.unwrap() }
    };
    let body = json(post(serde_json::json!({ "key": key, "company": "acme", "scope": "read:metrics" })).await).await;
    assert_eq!(body["valid"], true, "{body}");
    assert_eq!(body["key_id"], id.to_string());
    assert_eq!(body["company"]["slug"], "acme");
    assert_eq!(body["scopes"], serde_json::json!(["read:company", "read:metrics"]));
    assert!(body["expires_at"].as_str().unwrap().len() >= 20);
    assert_eq!(body["rate_limit"]["limit"], 10);
    assert_eq!(body["rate_limit"]["remaining"], 9);
    let body = json(post(serde_json::json!({ "key": key, "scope": "write:weights" })).await).await;
    assert_eq!((body["valid"].clone(), body["code"].clone()), (Value::Bool(false), Value::from("missing_scope")));
    let body = json(post(serde_json::json!({ "key": "atr_live_nope" })).await).await;
    assert_eq!((body["valid"].clone(), body["code"].clone()), (Value::Bool(false), Value::from("invalid")));
    let r = client()
        .post(app.url("/api/v1/keys/verify"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert_eq!(problem_type(&json(r).await), "/api/v1/problems/bad-request");
}

#[tokio::test]
async fn usage_is_counted_in_batches_and_survives_a_clean_shutdown() {
    let app = spawn_app().await;
    let (company, c) = admin_of(&app, "Acme", "admin@acme.test").await;
    let (id, key) = app.api_key(company, &["read:company", "read:metrics"], None).await;
    for _ in 0..5 {
        assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&key)).await.status(), 200);
    }
    for _ in 0..2 {
        assert_eq!(app.api(Method::GET, "/api/v1/metrics", Some(&key)).await.status(), 200);
    }
    let count = |endpoint: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, i64>(
                "SELECT coalesce(sum(request_count), 0)::bigint FROM api_key_usage WHERE api_key_id = $1 AND endpoint LIKE $2",
            )
            .bind(id)
            .bind(endpoint)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    eventually("usage flushed", Duration::from_millis(2500), || async { count("%").await == 7 }).await;
    assert_eq!(count("GET /api/v1/company").await, 5);
    assert_eq!(count("GET /api/v1/metrics").await, 2);
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM api_key_usage WHERE api_key_id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(rows <= 4, "aggregated, not one row per request: {rows}");
    let last_used: Option<time::OffsetDateTime> = sqlx::query_scalar("SELECT last_used_at FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(last_used.is_some());

    // The key's page shows the day's count and the caller.
    let r = app.post(&c, "/api/api-keys/get", &[("slug", "acme"), ("id", &id.to_string())]).await;
    let detail = json(r).await;
    assert_eq!(detail["key"]["requests_24h"], 7);
    assert_eq!(detail["daily"].as_array().unwrap().last().unwrap()["requests"], 7);
    assert_eq!(detail["callers"][0]["user_agent"], "atrium-tests/1");
    let page = app.get(&c, &format!("/t/acme/api-keys/{id}")).await.text().await.unwrap();
    assert!(page.contains("<svg") && page.contains("atrium-tests/1"), "chart and callers on the page");

    // Requests counted just before a clean shutdown are written by it.
    for _ in 0..3 {
        assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&key)).await.status(), 200);
    }
    app.api.lock().await.take().unwrap().shutdown().await;
    assert_eq!(count("%").await, 10);
}

#[tokio::test]
async fn a_key_revoked_through_one_process_is_refused_by_another_within_a_second() {
    let app = spawn_app().await;
    let (company, c) = admin_of(&app, "Acme", "admin@acme.test").await;
    let (id, key) = app.api_key(company, &["read:company"], None).await;
    let (peer, _peer_api) = app.peer().await;
    let on_peer = |key: String| async move {
        client().get(format!("http://{peer}/api/v1/company")).bearer_auth(key).send().await.unwrap().status()
    };
    // Warm both caches.
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&key)).await.status(), 200);
    assert_eq!(on_peer(key.clone()).await, 200);
    let started = Instant::now();
    let r = app.post(&c, "/api/api-keys/revoke", &[("slug", "acme"), ("id", &id.to_string()), ("confirm", "1")]).await;
    assert_eq!(r.status(), 200);
    eventually("the peer refuses the revoked key", Duration::from_secs(1), || {
        let key = key.clone();
        async move { on_peer(key).await == 401 }
    })
    .await;
    println!("peer refused the revoked key after {:?}", started.elapsed());

    // The same for a company being disabled.
    let (_, key2) = app.api_key(company, &["read:company"], None).await;
    assert_eq!(on_peer(key2.clone()).await, 200);
    sqlx::query("UPDATE companies SET tenant_enabled = false WHERE id = $1")
        .bind(company)
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("the peer refuses a disabled company's key", Duration::from_secs(1), || {
        let key = key2.clone();
        async move { on_peer(key).await == 403 }
    })
    .await;
}

/// A request body each documented route accepts.
fn sample_body(method: &str, path: &str, key: &str) -> Value {
    match (method, path) {
        ("put", "/api/v1/weights/{category}") => {
            serde_json::json!({ "weights": { "volunteer_hour_value": 40 }, "reason": "OpenAPI check" })
        }
        ("post", "/api/v1/integrations/{platform}/deliveries") => {
            serde_json::json!({ "type": "openapi.check", "data": { "n": 1 } })
        }
        _ => serde_json::json!({ "key": key }),
    }
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let app = spawn_app().await;
    let doc = json(app.api(Method::GET, "/api/v1/openapi.json", None).await).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let expected = [
        ("get", "/api/v1/company", Some("read:company")),
        ("get", "/api/v1/metrics", Some("read:metrics")),
        ("get", "/api/v1/weights/{category}", Some("read:weights")),
        ("put", "/api/v1/weights/{category}", Some("write:weights")),
        ("get", "/api/v1/audit-log", Some("read:audit")),
        ("get", "/api/v1/audit-log/export", Some("read:audit")),
        ("post", "/api/v1/integrations/{platform}/deliveries", Some("write:deliveries")),
        ("post", "/api/v1/keys/verify", None),
        ("get", "/api/v1/openapi.json", None),
        ("get", "/api/v1/health", None),
    ];
    let paths = doc["paths"].as_object().unwrap();
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, expected.len(), "{paths:?}");
    let company = app.company("Acme").await;
    let (_, all) =
        app.api_key(company, &app::api_keys::Scope::ALL.iter().map(|s| s.as_str()).collect::<Vec<_>>(), None).await;
    app.integration(company, app::integrations::Platform::Benevity, "http://127.0.0.1:9/hook").await;
    for (method, path, scope) in expected {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is documented");
        assert_eq!(op["x-required-scope"].as_str(), scope, "{method} {path}");
        if scope.is_some() {
            for code in ["401", "403", "429"] {
                assert!(op["responses"][code].is_object(), "{method} {path} documents {code}");
            }
        }
        // Every documented route exists: without a key it is refused (not 404/405), and with
        // one it answers (501 only for the routes another feature will fill).
        let concrete = path.replace("{category}", "sroi").replace("{platform}", "benevity");
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = client()
            .request(m.clone(), app.url(&concrete))
            .bearer_auth(&all)
            .json(&sample_body(method, path, &all))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        if op["responses"]["501"].is_object() {
            assert_eq!(status, 501, "{method} {path}");
            assert_eq!(problem_type(&json(r).await), "/api/v1/problems/not-implemented");
        } else {
            assert!((200..300).contains(&status), "{method} {path}: {status}");
        }
        assert!(op["responses"][status.to_string()].is_object(), "{method} {path} documents the {status} it gave");
        if scope.is_some() {
            assert_eq!(client().request(m, app.url(&concrete)).send().await.unwrap().status(), 401, "{method} {path}");
        }
    }
    let r = app.api(Method::GET, "/api/v1/nothing-here", Some(&all)).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = app.api(Method::GET, "/api/v1/weights/other", Some(&all)).await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_audit_log_api_filters_and_pages_with_a_stable_cursor() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, key) = app.api_key(company, &["read:audit"], None).await;
    for _ in 0..4 {
        app.api_key(company, &["read:company"], None).await;
    }
    // Six rows: company.create and five api_key.create.
    let page1 = json(app.api(Method::GET, "/api/v1/audit-log?limit=4", Some(&key)).await).await;
    assert_eq!(page1["items"].as_array().unwrap().len(), 4);
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    app.api_key(company, &["read:company"], None).await; // a new row arrives meanwhile
    let page2 =
        json(app.api(Method::GET, &format!("/api/v1/audit-log?limit=4&cursor={cursor}"), Some(&key)).await).await;
    let items = page2["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page2}");
    assert_eq!(items.last().unwrap()["action"], "company.create");
    assert!(page2["next_cursor"].is_null());
    let only = json(app.api(Method::GET, "/api/v1/audit-log?action=company.create", Some(&key)).await).await;
    assert_eq!(only["items"].as_array().unwrap().len(), 1);
    for bad in ["action=made.up", "severity=loud", "since=yesterday", "limit=0", "cursor=zzz"] {
        let r = app.api(Method::GET, &format!("/api/v1/audit-log?{bad}"), Some(&key)).await;
        assert_eq!(r.status(), 400, "{bad}");
        assert_eq!(problem_type(&json(r).await), "/api/v1/problems/bad-request");
    }
}

#[tokio::test]
async fn without_javascript_the_new_key_reaches_its_page_once() {
    let app = spawn_app().await;
    let (_, c) = admin_of(&app, "Acme", "admin@acme.test").await;
    let r = c
        .post(app.url("/api/api-keys/create"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Accept", "text/html")
        .form(&[
            ("slug", "acme"),
            ("name", "Plain form"),
            ("scopes[]", "read:company"),
            ("expiry", "30"),
            ("rate_limit", "60"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with("/t/acme/api-keys/") && location.ends_with("?issued=1"), "{location}");
    let page = app.get(&c, &location).await.text().await.unwrap();
    let secret =
        page.split("value=\"atr_live_").nth(1).and_then(|rest| rest.split('"').next()).map(|s| format!("atr_live_{s}"));
    let secret = secret.unwrap_or_else(|| panic!("the page shows the new key: {page}"));
    assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&secret)).await.status(), 200);
    let again = app.get(&c, &location).await.text().await.unwrap();
    assert!(!again.contains(&secret), "shown once only");
}

#[tokio::test]
async fn concurrent_first_requests_with_one_key_all_pass() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, key) = app.api_key(company, &["read:company"], None).await;
    let (_, other) = app.api_key(company, &["read:company"], None).await;
    for cache in [true, false] {
        let verifier = std::sync::Arc::new(atrium_server::api::keys::Verifier::new(
            app.app_pool.clone(),
            app.pool.clone(),
            peppers(),
            cache,
        ));
        let tasks: Vec<_> = (0..64)
            .map(|i| {
                let (v, k) = (verifier.clone(), if i % 3 == 0 { other.clone() } else { key.clone() });
                tokio::spawn(async move { v.verify(&k).await.map(|info| info.id) })
            })
            .collect();
        for t in tasks {
            assert!(t.await.unwrap().is_ok(), "cache {cache}: every request of a batch gets its key");
        }
    }
}
