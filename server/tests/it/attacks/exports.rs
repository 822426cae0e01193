//! Exports cannot starve the console: they run on a pool of their own, two per company and a
//! few per process, and slow downloads leave pages and readiness alone.
use crate::helpers::*;
use app::domain::Role;
use reqwest::Method;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Enough rows that a download nobody reads stays open (the socket buffers fill first).
async fn seed(app: &TestApp, company: Uuid, rows: i32) {
    sqlx::query(
        r#"INSERT INTO audit_log (company_id, "timestamp", user_email, action, resource, resource_id, severity, details)
           SELECT $1, now() - make_interval(secs => g), 'user@co.test', 'user.update', 'user', 'u-' || g, 'info',
                  jsonb_build_object('padding', repeat('x', 5000), 'n', g)
             FROM generate_series(1, $2) g"#,
    )
    .bind(company)
    .bind(rows)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn slow_exports_are_capped_and_leave_pages_and_readiness_alone() {
    let app = spawn_app().await;
    let companies = [app.company("Acme").await, app.company("Globex").await, app.company("Initech").await];
    let mut keys = Vec::new();
    for c in companies {
        seed(&app, c, 3_000).await;
        keys.push(app.api_key(c, &["read:audit"], None).await.1);
    }
    let (_, admin) = app.member(companies[0], "boss@acme.test", Role::Admin).await;
    let app = &app;
    let export =
        |key: String| async move { app.api(Method::GET, "/api/v1/audit-log/export?format=csv", Some(&key)).await };
    // Two slow downloads for Acme: both start; the third is refused at once.
    let mut open = vec![export(keys[0].clone()).await, export(keys[0].clone()).await];
    assert!(open.iter().all(|r| r.status() == 200));
    let refused = export(keys[0].clone()).await;
    assert_eq!(refused.status(), 429);
    assert_eq!(refused.headers()["retry-after"], "30");
    // Other companies may export, up to the process's cap; past it, 429 for everyone.
    open.push(export(keys[1].clone()).await);
    open.push(export(keys[2].clone()).await);
    assert!(open.iter().all(|r| r.status() == 200));
    assert_eq!(export(keys[1].clone()).await.status(), 429);
    // The console export is behind the same gate.
    let r = app.get(&admin, "/t/acme/audit/export?format=csv").await;
    assert_eq!(r.status(), 429);
    // Meanwhile the request pool is free: readiness, pages and the API answer at once.
    let started = Instant::now();
    for _ in 0..25 {
        assert_eq!(client().get(app.url("/readyz")).send().await.unwrap().status(), 200);
        assert_eq!(app.get(&admin, "/t/acme/users").await.status(), 200);
        assert_eq!(app.api(Method::GET, "/api/v1/health", None).await.status(), 200);
    }
    assert!(started.elapsed() < Duration::from_secs(10), "pages waited behind exports: {:?}", started.elapsed());
    // A finished (or abandoned) download gives its place back.
    let first = open.remove(0);
    let body = first.bytes().await.unwrap();
    assert!(body.iter().filter(|b| **b == b'\n').count() > 3_000, "the whole log arrived");
    drop(open);
    let start = Instant::now();
    loop {
        let r = export(keys[0].clone()).await;
        if r.status() == 200 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "the places were not given back");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
