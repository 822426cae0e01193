//! API keys: the cache never outlives the notifications that keep it honest.
use crate::helpers::*;
use reqwest::Method;
use std::time::{Duration, Instant};

/// Cut the process's LISTEN connection, revoke a cached key while nobody hears it: the key is
/// refused within a second all the same, because a cache that may have missed a change is
/// not used until the connection is back and the cache flushed.
#[tokio::test]
async fn a_key_revoked_while_the_listener_is_cut_is_refused_within_a_second() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (id, key) = app.api_key(acme, &["read:company"], None).await;
    for _ in 0..2 {
        assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&key)).await.status(), 200);
    }
    let cut: i64 = sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND query ILIKE '%LISTEN%atrium_api_keys%'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(cut, 1, "one listener to cut");
    sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1").bind(id).execute(&app.pool).await.unwrap();
    let start = Instant::now();
    loop {
        let status = app.api(Method::GET, "/api/v1/company", Some(&key)).await.status();
        if status == 401 {
            break;
        }
        assert_eq!(status, 200);
        assert!(start.elapsed() < Duration::from_secs(1), "a revoked key still worked after a second");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The listener comes back by itself, and with it the cache.
    let api = app.api.lock().await;
    let verifier = api.as_ref().unwrap().state.verifier.clone();
    drop(api);
    let start = Instant::now();
    while !verifier.listening() {
        assert!(start.elapsed() < Duration::from_secs(10), "the listener did not come back");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
