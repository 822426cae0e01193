//! The outbox worker against a real local receiver: success, retries, timeouts, Retry-After,
//! redirects, dead letters, deduplication, a killed worker, racing workers and replays.
use crate::helpers::*;
use crate::receiver::{verify, Receiver, Reply};
use app::integrations::Platform;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const WITHIN: Duration = Duration::from_secs(10);

async fn attempts(app: &TestApp, id: i64) -> Vec<(i32, Option<i32>, Option<String>, String, Option<String>)> {
    sqlx::query_as(
        "SELECT attempt, response_status, error, outcome, response_excerpt FROM integration_delivery_attempts
          WHERE delivery_id = $1 ORDER BY attempt",
    )
    .bind(id)
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

async fn setup() -> (TestApp, uuid::Uuid, Receiver, String) {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let rx = Receiver::start().await;
    let secret = app.integration(company, Platform::Benevity, &rx.url).await;
    (app, company, rx, secret)
}

#[tokio::test]
async fn a_delivery_arrives_signed_and_the_attempt_and_sync_status_are_recorded() {
    let (app, company, rx, secret) = setup().await;
    rx.script(vec![Reply::Body(200, r#"{"received":true,"access_token":"leak-me"}"#.into())]);
    let q = app.enqueue(company, Platform::Benevity, json!({"hours": 12, "employee": "e-1"})).await;
    let w = app.worker(fast_worker());
    app.wait_for(q.id, "success", WITHIN).await;
    w.shutdown().await;

    let hits = rx.hits();
    assert_eq!(hits.len(), 1);
    let hit = &hits[0];
    assert!(verify(&secret, hit), "the receiver verifies the signature: {:?}", hit.headers);
    assert!(!verify(&app::integrations::platform::generate_signing_secret(), hit), "another secret does not");
    assert_eq!(hit.header("webhook-id"), q.webhook_id.to_string());
    assert_eq!(hit.header("authorization"), "Bearer tok_test_12345678");
    assert_eq!(hit.header("content-type"), "application/json");
    let body: Value = serde_json::from_str(&hit.body).unwrap();
    assert_eq!(body["type"], "test.event");
    assert_eq!(body["data"], json!({"hours": 12, "employee": "e-1"}));
    assert!(body["timestamp"].as_str().unwrap().ends_with('Z'));

    let a = attempts(&app, q.id).await;
    assert_eq!(a.len(), 1);
    assert_eq!((a[0].0, a[0].1, a[0].3.as_str()), (1, Some(200), "success"));
    let excerpt = a[0].4.clone().unwrap();
    assert!(excerpt.contains("received") && !excerpt.contains("leak-me"), "redacted: {excerpt}");
    let (synced, status): (Option<time::OffsetDateTime>, Option<String>) =
        sqlx::query_as("SELECT last_synced_at, last_sync_status FROM integration_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(synced.is_some());
    assert_eq!(status.as_deref(), Some("success"));
}

#[tokio::test]
async fn a_500_then_success_retries_under_the_same_webhook_id() {
    let (app, company, rx, _) = setup().await;
    rx.script(vec![Reply::Body(500, "upstream broke".into())]);
    let q = app.enqueue(company, Platform::Benevity, json!({"n": 1})).await;
    let w = app.worker(fast_worker());
    app.wait_for(q.id, "success", WITHIN).await;
    w.shutdown().await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    assert_eq!(hits[0].body, hits[1].body, "the same bytes on every attempt");
    let a = attempts(&app, q.id).await;
    assert_eq!(
        a.iter().map(|a| (a.1, a.3.as_str())).collect::<Vec<_>>(),
        [(Some(500), "retry"), (Some(200), "success")]
    );
    assert_eq!(a[0].2.as_deref(), Some("HTTP 500"));
    assert_eq!(a[0].4.as_deref(), Some("upstream broke"));
}

#[tokio::test]
async fn a_timeout_is_a_failed_attempt_and_is_retried() {
    let (app, company, rx, _) = setup().await;
    rx.script(vec![Reply::Hang(Duration::from_secs(3))]);
    let q = app.enqueue(company, Platform::Benevity, json!({"n": 2})).await;
    let w = app.worker(fast_worker());
    app.wait_for(q.id, "success", WITHIN).await;
    w.shutdown().await;
    let a = attempts(&app, q.id).await;
    assert_eq!(a.len(), 2);
    assert_eq!((a[0].1, a[0].3.as_str()), (None, "retry"));
    assert!(a[0].2.as_deref().unwrap().contains("no answer within 0.5 s"), "{:?}", a[0]);
    assert_eq!(rx.processed(), vec![q.webhook_id.to_string()], "processed once");
}

#[tokio::test]
async fn a_429_with_retry_after_is_honoured() {
    let (app, company, rx, _) = setup().await;
    rx.script(vec![Reply::With(429, vec![("retry-after", "2".into())])]);
    let q = app.enqueue(company, Platform::Benevity, json!({"n": 3})).await;
    let w = app.worker(fast_worker());
    app.wait_for(q.id, "success", WITHIN).await;
    w.shutdown().await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 2);
    let gap = hits[1].at - hits[0].at;
    assert!(gap >= Duration::from_millis(1900), "waited {gap:?}, not the 2 s the receiver asked for");
    assert_eq!(attempts(&app, q.id).await[0].1, Some(429));
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_the_last_failure_is_a_dead_letter() {
    let (app, company, rx, _) = setup().await;
    let elsewhere = format!("{}/elsewhere", rx.url);
    rx.script(vec![
        Reply::With(301, vec![("location", elsewhere.clone())]),
        Reply::With(302, vec![("location", elsewhere.clone())]),
        Reply::With(307, vec![("location", elsewhere)]),
    ]);
    let q = app.enqueue(company, Platform::Benevity, json!({"n": 4})).await;
    let w = app.worker(fast_worker());
    app.wait_for(q.id, "failed", WITHIN).await;
    w.shutdown().await;
    assert_eq!(rx.hits().len(), 3, "three attempts (the test worker's maximum), no redirect followed");
    let a = attempts(&app, q.id).await;
    assert_eq!(a.iter().map(|a| a.3.as_str()).collect::<Vec<_>>(), ["retry", "retry", "failed"]);
    assert!(a[0].2.as_deref().unwrap().contains("redirects are not followed"), "{:?}", a[0]);
    let (status, error): (Option<String>, Option<String>) =
        sqlx::query_as("SELECT last_sync_status, error_message FROM integration_configs")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(status.as_deref(), Some("failed"));
    assert!(error.unwrap().contains("HTTP 307"));
}

#[tokio::test]
async fn the_same_payload_to_the_same_integration_within_a_day_is_delivered_once() {
    let (app, company, rx, _) = setup().await;
    let (_, key) = app.api_key(company, &["write:deliveries"], None).await;
    let post = |body: Value| {
        let (url, key) = (app.url("/api/v1/integrations/benevity/deliveries"), key.clone());
        async move { client().post(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };
    let r1 = post(json!({"type": "volunteer.hours", "data": {"employee": "e-1", "hours": 3}})).await;
    assert_eq!(r1.status(), 202);
    let first = json(r1).await;
    assert_eq!(first["duplicate"], false);
    // The same data with its keys in another order is the same payload.
    let r2 = post(json!({"data": {"hours": 3, "employee": "e-1"}, "type": "volunteer.hours"})).await;
    assert_eq!(r2.status(), 200);
    let second = json(r2).await;
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["webhook_id"], first["webhook_id"]);
    let r3 = post(json!({"type": "volunteer.hours", "data": {"employee": "e-1", "hours": 4}})).await;
    assert_eq!(r3.status(), 202);
    // Older than a day, the same payload goes out again.
    sqlx::query("UPDATE integration_delivery_log SET created_at = now() - interval '25 hours' WHERE id = $1")
        .bind(first["id"].as_i64().unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let r4 = post(json!({"type": "volunteer.hours", "data": {"employee": "e-1", "hours": 3}})).await;
    assert_eq!(r4.status(), 202);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM integration_delivery_log").await, 3);
    let w = app.worker(fast_worker());
    for id in
        sqlx::query_scalar::<_, i64>("SELECT id FROM integration_delivery_log").fetch_all(&app.pool).await.unwrap()
    {
        app.wait_for(id, "success", WITHIN).await;
    }
    w.shutdown().await;
    assert_eq!(rx.hits().len(), 3);
    assert_eq!(app.audit_count("delivery.queue").await, 3);
}

#[tokio::test]
async fn bad_delivery_requests_get_clear_problems_and_queue_nothing() {
    let app = spawn_app().await;
    let company = app.company("Acme").await;
    let (_, key) = app.api_key(company, &["write:deliveries"], None).await;
    let post = |path: &'static str, body: Value| {
        let (url, key) = (app.url(path), key.clone());
        async move { client().post(url).bearer_auth(key).json(&body).send().await.unwrap() }
    };
    let r = post("/api/v1/integrations/benevity/deliveries", json!({"type": "x.y", "data": {}})).await;
    assert_eq!(r.status(), 409);
    let p = json(r).await;
    assert_eq!(p["type"], "/api/v1/problems/integration-unavailable");
    assert!(p["detail"].as_str().unwrap().contains("not configured"), "{p}");
    let rx = Receiver::start().await;
    app.integration(company, Platform::Benevity, &rx.url).await;
    let r = post("/api/v1/integrations/benevity/deliveries", json!({"type": "Bad Type!", "data": [1]})).await;
    assert_eq!(r.status(), 422);
    let p = json(r).await;
    assert!(p["errors"]["type"].is_string() && p["errors"]["data"].is_string(), "{p}");
    let r = post("/api/v1/integrations/mars/deliveries", json!({"type": "x", "data": {}})).await;
    assert_eq!(r.status(), 404);
    sqlx::query("UPDATE integration_configs SET enabled = false").execute(&app.pool).await.unwrap();
    let r = post("/api/v1/integrations/benevity/deliveries", json!({"type": "x", "data": {}})).await;
    assert_eq!(r.status(), 409);
    assert!(json(r).await["detail"].as_str().unwrap().contains("disabled"));
    assert_eq!(app.scalar_i64("SELECT count(*) FROM integration_delivery_log").await, 0);
    let r = app.api(Method::POST, "/api/v1/integrations/benevity/deliveries", Some(&key)).await;
    assert_eq!(r.status(), 400, "no body");
}

#[tokio::test]
async fn a_worker_killed_mid_send_loses_nothing_and_the_delivery_arrives_once_under_the_same_id() {
    let (app, company, rx, secret) = setup().await;
    // The first request is never answered: the worker dies while waiting for it.
    rx.script(vec![Reply::Hang(Duration::from_secs(30))]);
    let q = app.enqueue(company, Platform::Benevity, json!({"n": 5})).await;
    let slow = atrium_server::delivery_worker::WorkerConfig { timeout: Duration::from_secs(20), ..fast_worker() };
    let a = app.worker(slow);
    let start = std::time::Instant::now();
    while rx.hits().is_empty() {
        assert!(start.elapsed() < WITHIN, "the first worker never sent");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    a.kill();
    assert_eq!(app.delivery_status(q.id).await, "sending", "claimed, no answer yet");
    let b = app.worker(fast_worker());
    app.wait_for(q.id, "success", WITHIN).await;
    b.shutdown().await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].header("webhook-id"), hits[1].header("webhook-id"));
    assert!(verify(&secret, &hits[1]));
    assert_eq!(rx.processed(), vec![q.webhook_id.to_string()], "processed exactly once");
    let a = attempts(&app, q.id).await;
    assert_eq!(a.len(), 2);
    assert!(a[0].2.as_deref().unwrap().contains("lease expired"), "{:?}", a[0]);
    assert_eq!((a[1].1, a[1].3.as_str()), (Some(200), "success"));
}

#[tokio::test]
async fn two_workers_racing_never_send_one_delivery_twice() {
    let (app, company, rx, _) = setup().await;
    let mut ids = Vec::new();
    for i in 0..120 {
        ids.push(app.enqueue(company, Platform::Benevity, json!({"i": i})).await.id);
    }
    let cfg = atrium_server::delivery_worker::WorkerConfig { concurrency: 8, ..fast_worker() };
    let (w1, w2) = (app.worker(cfg.clone()), app.worker(cfg));
    for id in &ids {
        app.wait_for(*id, "success", WITHIN).await;
    }
    w1.shutdown().await;
    w2.shutdown().await;
    let hits = rx.hits();
    assert_eq!(hits.len(), 120, "one request per delivery");
    let unique: std::collections::BTreeSet<String> = hits.iter().map(|h| h.header("webhook-id")).collect();
    assert_eq!(unique.len(), 120);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM integration_delivery_attempts").await, 120);
}

#[tokio::test]
async fn failed_deliveries_are_replayed_one_at_a_time_or_all_at_once_with_a_confirmed_count() {
    let (app, company, rx, _) = setup().await;
    let (_, c) = app.member(company, "admin@acme.test", app::domain::Role::Admin).await;
    rx.script((0..9).map(|_| Reply::Status(503)).collect());
    let q: Vec<_> = futures_ids(&app, company, 3).await;
    let w = app.worker(fast_worker());
    for d in &q {
        app.wait_for(d.id, "failed", WITHIN).await;
    }
    let one = q[0].id.to_string();
    let r = app.post(&c, "/api/deliveries/replay", &[("slug", "acme"), ("id", &one)]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    app.wait_for(q[0].id, "success", WITHIN).await;
    let r = app.post(&c, "/api/deliveries/replay", &[("slug", "acme"), ("id", &one)]).await;
    assert_eq!(r.status(), 200, "a delivered one can be sent again too");
    app.wait_for(q[0].id, "success", WITHIN).await;

    let list = json(
        app.post(
            &c,
            "/api/deliveries/list",
            &[("slug", "acme"), ("status", "failed"), ("platform", ""), ("from", ""), ("to", "")],
        )
        .await,
    )
    .await;
    assert_eq!(list["failed"], 2);
    let r = app
        .post(
            &c,
            "/api/deliveries/replay-failed",
            &[("slug", "acme"), ("platform", ""), ("from", ""), ("to", ""), ("expected", "5"), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status(), 409, "the confirmed count is stale");
    assert!(r.text().await.unwrap().contains("there are 2 now"));
    let r = app
        .post(
            &c,
            "/api/deliveries/replay-failed",
            &[("slug", "acme"), ("platform", ""), ("from", ""), ("to", ""), ("expected", "2")],
        )
        .await;
    assert_eq!(r.status(), 422, "needs the confirmation box");
    let r = app
        .post(
            &c,
            "/api/deliveries/replay-failed",
            &[("slug", "acme"), ("platform", ""), ("from", ""), ("to", ""), ("expected", "2"), ("confirm", "1")],
        )
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(json(r).await, 2);
    for d in &q[1..] {
        app.wait_for(d.id, "success", WITHIN).await;
    }
    w.shutdown().await;
    let ids: Vec<String> = rx.hits().iter().map(|h| h.header("webhook-id")).collect();
    assert!(ids.iter().all(|id| q.iter().any(|d| d.webhook_id.to_string() == *id)), "replays keep their webhook ids");
    assert_eq!(app.audit_count("delivery.replay").await, 2);
    assert_eq!(app.audit_count("delivery.replay_all").await, 1);

    // The pages: the list filters, and a delivery shows its attempts.
    let page = app.get(&c, "/t/acme/deliveries?status=success&platform=benevity").await.text().await.unwrap();
    assert!(page.contains(&format!("#{}", q[0].id)) && page.contains("Delivered"), "{page}");
    assert!(page.contains("Delivered 3") && page.contains("Failed 0"), "the status bar counts: {page}");
    let page = app.get(&c, "/t/acme/deliveries?status=failed").await.text().await.unwrap();
    assert!(page.contains("No deliveries match"), "{page}");
    let page = app.get(&c, &format!("/t/acme/deliveries/{}", q[1].id)).await.text().await.unwrap();
    assert!(page.contains("503") && page.contains(&q[1].webhook_id.to_string()), "{page}");
    let r = app.get(&c, "/t/acme/deliveries?from=yesterday").await;
    assert_eq!(r.status(), 422);
}

async fn futures_ids(app: &TestApp, company: uuid::Uuid, n: usize) -> Vec<app::integrations::outbox::Enqueued> {
    let mut out = Vec::new();
    for i in 0..n {
        out.push(app.enqueue(company, Platform::Benevity, json!({"replay": i})).await);
    }
    out
}

#[tokio::test]
async fn a_disabled_integration_holds_its_deliveries_until_enabled() {
    let (app, company, rx, _) = setup().await;
    let q = app.enqueue(company, Platform::Benevity, json!({"n": 6})).await;
    sqlx::query("UPDATE integration_configs SET enabled = false").execute(&app.pool).await.unwrap();
    let w = app.worker(fast_worker());
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(app.delivery_status(q.id).await, "queued");
    assert!(rx.hits().is_empty());
    sqlx::query("UPDATE integration_configs SET enabled = true").execute(&app.pool).await.unwrap();
    app.wait_for(q.id, "success", WITHIN).await;
    w.shutdown().await;
}
