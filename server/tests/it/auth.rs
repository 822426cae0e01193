use crate::helpers::*;
use app::domain::Role;

#[tokio::test]
async fn sign_in_sets_a_hardened_cookie_and_audits() {
    let app = spawn_app().await;
    let c = app.company("Acme").await;
    app.user("ann@acme.test", Role::Admin, Some(c)).await;
    let client = client();
    let r = app.login(&client, "ANN@acme.test ", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"], "/t/acme/");
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("atrium_session="), "{cookie}");
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    assert!(!cookie.contains("Secure"), "plain http: no Secure flag");
    assert_eq!(app.audit_count("auth.login").await, 1);
    let (email, role, company): (String, String, Option<uuid::Uuid>) =
        sqlx::query_as("SELECT user_email, user_role::text, company_id FROM audit_log WHERE action = 'auth.login'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((email.as_str(), role.as_str(), company), ("ann@acme.test", "ADMIN", Some(c)));
    // The session works.
    assert_eq!(app.get(&client, "/t/acme/").await.status(), 200);
}

#[tokio::test]
async fn cookies_are_secure_behind_https() {
    let app = spawn_app_with(true).await;
    app.user("root@x.test", Role::SuperAdmin, None).await;
    // Behind https the browser's Origin says https; plain http from the same host is another origin.
    let login = |scheme: &str| {
        client()
            .post(app.url("/api/login"))
            .header("Origin", format!("{scheme}://{}", app.addr))
            .form(&[("email", "root@x.test"), ("password", PASSWORD), ("next", "")])
            .send()
    };
    assert_eq!(login("http").await.unwrap().status(), 403);
    let r = login("https").await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("Secure"));
}

#[tokio::test]
async fn the_session_id_rotates_at_sign_in() {
    let app = spawn_app().await;
    app.user("root@x.test", Role::SuperAdmin, None).await;
    let client = client();
    let first = app.login(&client, "root@x.test", PASSWORD).await.headers()["set-cookie"].to_str().unwrap().to_string();
    let second =
        app.login(&client, "root@x.test", PASSWORD).await.headers()["set-cookie"].to_str().unwrap().to_string();
    let id = |c: &str| c.split(';').next().unwrap().to_string();
    assert_ne!(id(&first), id(&second));
    // The old id no longer opens anything.
    let old = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = old.get(app.url("/admin/companies")).header("Cookie", id(&first)).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

#[tokio::test]
async fn wrong_email_and_wrong_password_look_the_same() {
    let app = spawn_app().await;
    app.user("bob@x.test", Role::SuperAdmin, None).await;
    let client = client();
    let t0 = std::time::Instant::now();
    let wrong_pw = app.login(&client, "bob@x.test", "not the password").await;
    let t_pw = t0.elapsed();
    let t1 = std::time::Instant::now();
    let no_user = app.login(&client, "nobody@x.test", "not the password").await;
    let t_user = t1.elapsed();
    assert_eq!(wrong_pw.status(), 401);
    assert_eq!(no_user.status(), 401);
    let (a, b) = (json(wrong_pw).await, json(no_user).await);
    assert_eq!(a, b);
    assert_eq!(a["Unauthenticated"], "Email or password is incorrect.");
    // Both paths pay for one argon2 verification (tens of milliseconds here).
    assert!(t_pw.as_millis() >= 5 && t_user.as_millis() >= 5, "{t_pw:?} {t_user:?}");
    assert_eq!(app.audit_count("auth.login_failed").await, 2);
    let reasons: Vec<String> =
        sqlx::query_scalar("SELECT details->>'reason' FROM audit_log WHERE action = 'auth.login_failed' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(reasons, vec!["wrong_password", "unknown_account"]);
}

#[tokio::test]
async fn bad_sign_in_input_is_a_422_with_field_messages() {
    let app = spawn_app().await;
    let r = app.login(&client(), "not-an-email", "").await;
    assert_eq!(r.status(), 422);
    let body = json(r).await;
    assert!(body["Validation"]["email"].as_str().unwrap().contains("valid email"));
    assert_eq!(body["Validation"]["password"], "Enter your password.");
    let r = app.post(&client(), "/api/login", &[("password", "x")]).await;
    assert_eq!(r.status(), 422, "a missing field is bad input, not a server error");
}

#[tokio::test]
async fn five_failures_throttle_the_account() {
    let app = spawn_app().await;
    app.user("carl@x.test", Role::SuperAdmin, None).await;
    let client = client();
    for _ in 0..5 {
        assert_eq!(app.login(&client, "carl@x.test", "wrong wrong wrong").await.status(), 401);
    }
    // Even the right password is refused now, and the message says why.
    let r = app.login(&client, "carl@x.test", PASSWORD).await;
    assert_eq!(r.status(), 429);
    let body = json(r).await;
    let msg = body["TooManyRequests"].as_str().unwrap();
    assert!(msg.contains("15 minutes"), "{msg}");
    assert_eq!(app.audit_count("auth.login_throttled").await, 1);
    // Another account from the same IP is unaffected below the IP limit.
    app.user("dora@x.test", Role::SuperAdmin, None).await;
    assert_eq!(app.login(&client, "dora@x.test", PASSWORD).await.status(), 200);
    // Once the failures age out of the window, sign-in works again.
    sqlx::query("UPDATE login_failures SET failed_at = failed_at - interval '16 minutes'")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.login(&client, "carl@x.test", PASSWORD).await.status(), 200);
}

#[tokio::test]
async fn twenty_failures_from_one_ip_throttle_the_ip() {
    let app = spawn_app().await;
    app.user("eve@x.test", Role::SuperAdmin, None).await;
    let client = client();
    for i in 0..20 {
        let r = app.login(&client, &format!("guess{i}@x.test"), "nope nope nope").await;
        assert_eq!(r.status(), 401);
    }
    assert_eq!(app.login(&client, "eve@x.test", PASSWORD).await.status(), 429);
}

#[tokio::test]
async fn sign_out_ends_the_session_and_is_audited() {
    let app = spawn_app().await;
    let client = app.superadmin().await;
    assert_eq!(app.get(&client, "/admin/companies").await.status(), 200);
    let r = app.post(&client, "/api/logout", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"], "/login");
    assert_eq!(app.audit_count("auth.logout").await, 1);
    let r = app.get(&client, "/admin/companies").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/admin/companies");
    let revoked: bool =
        sqlx::query_scalar("SELECT bool_and(revoked_at IS NOT NULL) FROM sessions").fetch_one(&app.pool).await.unwrap();
    assert!(revoked);
}

#[tokio::test]
async fn cross_origin_writes_are_refused() {
    let app = spawn_app().await;
    let client = app.superadmin().await;
    let r = client
        .post(app.url("/api/companies/create"))
        .header("Origin", "http://evil.example")
        .form(&[("name", "Evil"), ("slug", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM companies").fetch_one(&app.pool).await.unwrap();
    assert_eq!(n, 0);
    // Nothing that changes state answers GET.
    assert_ne!(app.get(&client, "/api/logout").await.status(), 200);
}

#[tokio::test]
async fn a_plain_form_post_redirects_and_errors_come_back_in_the_url() {
    let app = spawn_app().await;
    let client = client();
    let r = client
        .post(app.url("/api/login"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Accept", "text/html")
        .header("Referer", app.url("/login"))
        .form(&[("email", "who@x.test"), ("password", "nope nope"), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.contains("/login?") && loc.contains("__err="), "{loc}");
    let page = app.get(&client, &loc.replace(&format!("http://{}", app.addr), "")).await.text().await.unwrap();
    assert!(page.contains("Email or password is incorrect."), "the error shows without JavaScript");
}
