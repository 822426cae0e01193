//! Sign-in under attack: parallel guessing, lockout as a weapon, forged client addresses and
//! open redirects after sign-in.
use crate::helpers::*;
use app::domain::Role;

async fn login_from(app: &TestApp, c: &reqwest::Client, ip: &str, email: &str, password: &str) -> reqwest::Response {
    c.post(app.url("/api/login"))
        .header("Origin", format!("http://{}", app.addr))
        // The test server trusts loopback as its proxy, so this names the client.
        .header("X-Forwarded-For", ip)
        .form(&[("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sixty_parallel_guesses_get_at_most_five_password_checks() {
    let app = spawn_app().await;
    app.user("carl@x.test", Role::SuperAdmin, None).await;
    let guesses = (0..60).map(|i| {
        let (app, c) = (&app, client());
        async move { login_from(app, &c, "198.51.100.7", "carl@x.test", &format!("guess number {i}")).await }
    });
    let answers = futures::future::join_all(guesses).await;
    let checked = answers.iter().filter(|r| r.status() == 401).count();
    let throttled: Vec<_> = answers.iter().filter(|r| r.status() == 429).collect();
    // On a loaded machine one of the few admitted guesses may instead find every core busy
    // (503): it is not checked either, and its count is taken back.
    let busy = answers.iter().filter(|r| r.status() == 503 && r.headers().contains_key("retry-after")).count();
    assert!(checked <= 5, "{checked} guesses reached the password check");
    assert!(throttled.len() >= 55 - busy, "{} throttled", throttled.len());
    assert_eq!(checked + throttled.len() + busy, 60, "every other guess is throttled");
    assert!(throttled.iter().all(|r| r.headers()["retry-after"].to_str().unwrap().parse::<u32>().unwrap() > 60));
    assert_eq!(app.scalar_i64("SELECT count(*) FROM login_failures WHERE NOT throttled").await, checked as i64);
    // The refusals are summarised, not logged one by one: the 1st and the 10th in the window.
    assert_eq!(app.audit_count("auth.login_throttled").await, 2);
    let last: i64 = sqlx::query_scalar(
        "SELECT max((details->>'throttled_in_window')::int8) FROM audit_log WHERE action = 'auth.login_throttled'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(last, 10);
}

#[tokio::test]
async fn a_guesser_locks_out_only_themselves_until_many_addresses_join_in() {
    let app = spawn_app().await;
    app.user("carl@x.test", Role::SuperAdmin, None).await;
    let attacker = client();
    for _ in 0..5 {
        assert_eq!(login_from(&app, &attacker, "198.51.100.7", "carl@x.test", "wrong wrong wrong").await.status(), 401);
    }
    assert_eq!(login_from(&app, &attacker, "198.51.100.7", "carl@x.test", PASSWORD).await.status(), 429);
    // The owner, elsewhere, is not locked out by someone else's guessing.
    let owner = client();
    assert_eq!(login_from(&app, &owner, "203.0.113.5", "carl@x.test", PASSWORD).await.status(), 200);
    // Guessing spread over many addresses meets the slower per-account back-off.
    for i in 0..45 {
        let ip = format!("198.51.100.{}", 10 + i / 4);
        assert_eq!(login_from(&app, &attacker, &ip, "carl@x.test", "wrong wrong wrong").await.status(), 401, "{ip}");
    }
    let r = login_from(&app, &client(), "203.0.113.5", "carl@x.test", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(json(r).await["TooManyRequests"].as_str().unwrap().contains("minutes"));
}

/// An IPv6 client holds a whole /64. Taking a fresh address from it for every guess would
/// dodge a throttle that counted single addresses; the block is what counts.
#[tokio::test]
async fn rotating_ipv6_addresses_within_one_block_does_not_reset_the_throttle() {
    let app = spawn_app().await;
    app.user("carl@x.test", Role::SuperAdmin, None).await;
    let attacker = client();
    for i in 1..=5 {
        let ip = format!("2001:db8:aa:bb::{i:x}");
        assert_eq!(login_from(&app, &attacker, &ip, "carl@x.test", "wrong wrong wrong").await.status(), 401, "{ip}");
    }
    let r = login_from(&app, &attacker, "2001:db8:aa:bb:ffff:1:2:3", "carl@x.test", PASSWORD).await;
    assert_eq!(r.status(), 429, "a sixth address in the same /64 is the same client");
    // Across accounts too: the block's own limit holds whatever address within it is used.
    for i in 0..15 {
        let ip = format!("2001:db8:aa:bb:{:x}::1", i + 1);
        let victim = format!("nobody{i}@x.test");
        assert_eq!(login_from(&app, &attacker, &ip, &victim, "wrong wrong wrong").await.status(), 401, "{ip}");
    }
    let r = login_from(&app, &attacker, "2001:db8:aa:bb:eeee::1", "dora@x.test", "wrong wrong wrong").await;
    assert_eq!(r.status(), 429, "twenty failures from one block stop it");
    // The owner in another block is not locked out.
    assert_eq!(login_from(&app, &client(), "2001:db8:aa:cc::1", "carl@x.test", PASSWORD).await.status(), 200);
    let blocks: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT text(ip_address) FROM login_failures").fetch_all(&app.pool).await.unwrap();
    assert_eq!(blocks, vec!["2001:db8:aa:bb::/64".to_string()]);
}

#[tokio::test]
async fn a_forged_forwarded_header_from_an_untrusted_peer_is_ignored() {
    let app = spawn_app().await;
    // A second server on the same database that trusts no proxy.
    let (addr, _api) = app.peer().await;
    app.user("carl@x.test", Role::SuperAdmin, None).await;
    let c = client();
    for i in 0..6 {
        // A fresh forged address each time would dodge a throttle that believed the header.
        let r = c
            .post(format!("http://{addr}/api/login"))
            .header("Origin", format!("http://{addr}"))
            .header("X-Forwarded-For", format!("192.0.2.{i}"))
            .form(&[("email", "carl@x.test"), ("password", "wrong wrong wrong"), ("next", "")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), if i < 5 { 401 } else { 429 }, "attempt {i}");
    }
    let recorded: Vec<String> =
        sqlx::query_scalar("SELECT DISTINCT host(ip_address) FROM login_failures").fetch_all(&app.pool).await.unwrap();
    assert_eq!(recorded, vec!["127.0.0.1".to_string()]);
}
