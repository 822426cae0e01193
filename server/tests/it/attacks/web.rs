//! The browser's side: writes from other sites and redirects after sign-in.
use crate::helpers::*;
use app::domain::Role;

#[tokio::test]
async fn writes_from_another_origin_or_scheme_or_from_nowhere_are_refused() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, admin) = app.member(acme, "boss@acme.test", Role::Admin).await;
    let ours = format!("http://{}", app.addr);
    let invite = |origin: Option<(&'static str, String)>, fetch_site: Option<&'static str>| {
        let mut r = admin.post(app.url("/api/users/invite")).form(&[
            ("slug", "acme"),
            ("email", "new@acme.test"),
            ("name", ""),
            ("role", "VIEWER"),
        ]);
        if let Some((name, value)) = origin {
            r = r.header(name, value);
        }
        if let Some(site) = fetch_site {
            r = r.header("Sec-Fetch-Site", site);
        }
        r.send()
    };
    let before = app.fingerprint().await;
    for (header, value) in [
        ("Origin", format!("https://{}", app.addr)),
        ("Origin", "null".to_string()),
        ("Origin", format!("http://{}.evil.test", app.addr)),
        ("Referer", format!("http://{}.evil.test/t/acme/", app.addr)),
        ("Referer", format!("https://{}/t/acme/", app.addr)),
    ] {
        let r = invite(Some((header, value.clone())), None).await.unwrap();
        assert_eq!(r.status(), 403, "{header}: {value}");
    }
    // A signed-in browser's write with neither header: only its own Sec-Fetch-Site vouches.
    assert_eq!(invite(None, None).await.unwrap().status(), 403);
    assert_eq!(invite(None, Some("cross-site")).await.unwrap().status(), 403);
    assert_eq!(app.fingerprint().await, before);
    assert_eq!(invite(None, Some("same-origin")).await.unwrap().status(), 200);
    let r = invite(Some(("Referer", format!("{ours}/t/acme/users/invite"))), None).await.unwrap();
    assert_eq!(r.status(), 422, "already invited: the request got through the origin check");
    // Without a session cookie nobody is acted for: a plain client may sign in.
    let r = client()
        .post(app.url("/api/login"))
        .form(&[("email", "boss@acme.test"), ("password", PASSWORD), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn sign_in_never_redirects_to_another_origin() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    app.user("boss@acme.test", Role::Admin, Some(acme)).await;
    for next in [
        "https://evil.test/",
        "//evil.test/",
        "/\\evil.test",
        "/\t/evil.test",
        "\\\\evil.test",
        " //evil.test",
        "/api/logout",
    ] {
        let r = app
            .post(&client(), "/api/login", &[("email", "boss@acme.test"), ("password", PASSWORD), ("next", next)])
            .await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["location"], "/t/acme/", "{next:?}");
    }
    let r = app
        .post(
            &client(),
            "/api/login",
            &[("email", "boss@acme.test"), ("password", PASSWORD), ("next", "/t/acme/users?q=x")],
        )
        .await;
    assert_eq!(r.headers()["location"], "/t/acme/users?q=x");
}

/// A link shown "once" to a browser without JavaScript crosses the redirect in the session
/// store, sealed: the store never holds the token itself, and the flash expires in minutes.
#[tokio::test]
async fn a_flashed_one_time_link_is_sealed_in_the_session_store() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, admin) = app.member(acme, "boss@acme.test", Role::Admin).await;
    let r = admin
        .post(app.url("/api/users/invite"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Accept", "text/html")
        .form(&[("slug", "acme"), ("email", "plain@acme.test"), ("name", ""), ("role", "VIEWER")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection());
    let stored: Vec<Vec<u8>> =
        sqlx::query_scalar("SELECT data FROM tower_sessions.session").fetch_all(&app.pool).await.unwrap();
    let html = app.get(&admin, "/t/acme/users/invite?sent=1").await.text().await.unwrap();
    let token = html
        .split("/invite/")
        .skip(1)
        .filter_map(|rest| rest.get(..64))
        .find(|t| t.bytes().all(|b| b.is_ascii_hexdigit()))
        .expect("the link is on the page")
        .to_string();
    for data in &stored {
        assert!(!data.windows(64).any(|w| w == token.as_bytes()), "the token rests in the session store");
    }
}
