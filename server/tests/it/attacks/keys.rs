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
    assert_eq!(cut_listeners(&app, "atrium_api_keys").await, 1, "one listener to cut");
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

/// The unauthenticated key check is rate limited per client address, so it is neither a
/// guessing oracle nor a way to load the server. An IPv6 client is one /64: a fresh address
/// from its own block for every guess gains nothing. Other clients are not affected.
#[tokio::test]
async fn the_unauthenticated_key_check_is_limited_per_address() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, key) = app.api_key(acme, &["read:company"], None).await;
    let check = |ip: String, key: String| {
        client()
            .post(app.url("/api/v1/keys/verify"))
            .header("X-Forwarded-For", ip)
            .json(&serde_json::json!({ "key": key }))
            .send()
    };
    let limit = atrium_server::api::handlers::VERIFY_PER_MINUTE as usize;
    for i in 0..limit {
        let guess = format!("atr_live_{i:0>49}");
        assert_eq!(check(format!("2001:db8:5:6::{:x}", i + 1), guess).await.unwrap().status(), 200);
    }
    let r = check("2001:db8:5:6:ffff:ffff:ffff:1".into(), key.clone()).await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u32>().unwrap() >= 1);
    for other in ["2001:db8:5:7::1", "203.0.113.9"] {
        let r = check(other.into(), key.clone()).await.unwrap();
        assert_eq!(r.status(), 200, "{other}");
        assert_eq!(json(r).await["valid"], true);
    }
    // IPv4 counts by address: a neighbour is another client.
    for i in 0..limit {
        assert_eq!(check("198.51.100.20".into(), format!("atr_live_{i:0>49}")).await.unwrap().status(), 200);
    }
    assert_eq!(check("198.51.100.20".into(), key.clone()).await.unwrap().status(), 429);
    assert_eq!(check("198.51.100.21".into(), key).await.unwrap().status(), 200);
}

/// A key holder who varies the User-Agent on every request cannot grow the usage table: past
/// the daily cap of distinct callers, requests are counted as "other", and none is lost.
#[tokio::test]
async fn varying_callers_cannot_bloat_the_usage_table() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (id, key) = app.api_key(acme, &["read:company"], None).await;
    let cap = atrium_server::api::usage::CALLERS_PER_KEY_PER_DAY;
    let total = cap + 30;
    for i in 0..total {
        let r = client()
            .get(app.url("/api/v1/company"))
            .bearer_auth(&key)
            .header("User-Agent", format!("bloat/{i}"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    let start = Instant::now();
    loop {
        let counted: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(request_count), 0)::int8 FROM api_key_usage WHERE api_key_id = $1")
                .bind(id)
                .fetch_one(&app.pool)
                .await
                .unwrap();
        if counted == total as i64 {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "{counted} of {total} requests counted");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let callers: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT (ip_address, user_agent)) FROM api_key_usage WHERE api_key_id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(callers, cap as i64 + 1, "the cap's callers and \"other\"");
    let other: i64 = sqlx::query_scalar(
        "SELECT sum(request_count)::int8 FROM api_key_usage WHERE api_key_id = $1 AND user_agent = 'other'",
    )
    .bind(id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(other, 30);
}
