//! Each process keeps a session's signed-in actor between requests (`app::access::cache`).
//! An attacker whose rights were just taken away hopes a process still remembers them: the
//! suspended member on another server, the demoted admin who is quick, the change made while
//! a process's notification connection was down. None of it may work.
use crate::helpers::*;
use app::domain::Role;
use std::time::Duration;

/// A page view through `peer` with `c`'s session cookie.
async fn peer_page(c: &reqwest::Client, peer: std::net::SocketAddr, path: &str) -> reqwest::Response {
    c.get(format!("http://{peer}{path}")).send().await.unwrap()
}

fn signed_out(r: &reqwest::Response) -> bool {
    r.status().is_redirection()
        && r.headers().get("location").and_then(|l| l.to_str().ok()).is_some_and(|l| l.starts_with("/login"))
}

#[tokio::test]
async fn a_member_suspended_through_one_process_is_signed_out_on_another_within_a_second() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, admin) = app.member(acme, "admin@acme.test", Role::Admin).await;
    let (mid, member) = app.member(acme, "member@acme.test", Role::Manager).await;
    let (peer, peer_api) = app.peer().await;
    for _ in 0..2 {
        assert_eq!(peer_page(&member, peer, "/t/acme/users").await.status(), 200);
    }
    assert!(!peer_api.state.actors.is_empty(), "the peer keeps the member's actor");

    let r = app
        .post(&admin, "/api/users/status", &[("slug", "acme"), ("id", &mid.to_string()), ("status", "SUSPENDED")])
        .await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    eventually("the peer signs the suspended member out", Duration::from_secs(1), || async {
        signed_out(&peer_page(&member, peer, "/t/acme/users").await)
    })
    .await;
    // And on the process that made the change, at once.
    assert!(signed_out(&app.get(&member, "/t/acme/users").await));
}

#[tokio::test]
async fn a_demoted_admin_cannot_use_the_old_role_even_on_the_very_next_request() {
    // Through the same process, the demotion is applied before its request answers: there is
    // no window, however quick the demoted admin is.
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    app.member(acme, "keeper@acme.test", Role::Admin).await;
    let (other, quick) = app.member(acme, "quick@acme.test", Role::Admin).await;
    // Admins cannot change each other; the super-admin, acting as the company, can.
    let boss = app.superadmin().await;
    app.act_as(&boss, "acme").await;
    // Notifications reach this process late, as on a loaded machine: only the wait for them
    // before a write answers (`Feed::barrier`) keeps the next request honest.
    app.api.lock().await.as_ref().unwrap().state.feed.delay_deliveries(Duration::from_millis(100));
    for round in 0..5 {
        // Quick's actor is kept as an admin...
        assert_eq!(app.get(&quick, "/t/acme/users/invite").await.status(), 200, "round {round}");
        let r = app
            .post(
                &boss,
                "/api/users/update",
                &[("slug", "acme"), ("id", &other.to_string()), ("name", "Quick"), ("role", "VIEWER")],
            )
            .await;
        assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
        // ... and the very next request is a viewer's.
        let invite = app
            .post(
                &quick,
                "/api/users/invite",
                &[("slug", "acme"), ("email", &format!("x{round}@acme.test")), ("name", "X"), ("role", "VIEWER")],
            )
            .await;
        assert_eq!(invite.status(), 403, "round {round}: a demoted admin invited someone");
        let r = app
            .post(
                &boss,
                "/api/users/update",
                &[("slug", "acme"), ("id", &other.to_string()), ("name", "Quick"), ("role", "ADMIN")],
            )
            .await;
        assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    }
    let invited: i64 = app.scalar_i64("SELECT count(*) FROM users WHERE email LIKE 'x%@acme.test'").await;
    assert_eq!(invited, 0);
}

#[tokio::test]
async fn a_change_made_while_the_notifications_are_cut_is_not_missed() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (mid, member) = app.member(acme, "member@acme.test", Role::Manager).await;
    let (peer, peer_api) = app.peer().await;
    for _ in 0..2 {
        assert_eq!(peer_page(&member, peer, "/t/acme/users").await.status(), 200);
    }
    // Every process's notification connection goes; then the membership ends, straight in the
    // database, as another tool would do it. Nobody hears that change.
    assert_eq!(cut_listeners(&app, "atrium_actors").await, 2, "two processes, two feeds");
    sqlx::query("UPDATE memberships SET status = 'SUSPENDED' WHERE user_id = $1")
        .bind(mid)
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("the peer stops trusting what it kept", Duration::from_secs(1), || async {
        peer_page(&member, peer, "/t/acme/users").await.status() == 404
    })
    .await;
    // The feed comes back by itself, and with it the cache, emptied.
    let feed = peer_api.state.feed.clone();
    eventually("the feed comes back", Duration::from_secs(10), || {
        let feed = feed.clone();
        async move { feed.live() }
    })
    .await;
    assert_eq!(peer_page(&member, peer, "/t/acme/users").await.status(), 404);
}

#[tokio::test]
async fn when_a_process_stops_listening_it_stops_trusting_what_it_kept() {
    // However the listening task ends (here: shut down), the caches it kept honest go off.
    let app = spawn_app().await;
    let (_, peer_api) = app.peer().await;
    let (feed, actors, keys) =
        (peer_api.state.feed.clone(), peer_api.state.actors.clone(), peer_api.state.verifier.clone());
    assert!(feed.live() && actors.serving_now() && keys.listening());
    peer_api.shutdown().await;
    eventually("the caches go off", Duration::from_secs(1), || {
        let (feed, actors, keys) = (feed.clone(), actors.clone(), keys.clone());
        async move { !feed.live() && !actors.serving_now() && !keys.listening() }
    })
    .await;
}
