//! /account: name, password (with the current one), and sessions.
use crate::helpers::*;
use app::domain::Role;
use uuid::Uuid;

#[tokio::test]
async fn people_manage_their_own_name_password_and_sessions() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (uid, c) = app.member(a, "ann@acme.test", Role::Viewer).await;
    let other = client();
    app.login(&other, "ann@acme.test", PASSWORD).await;

    let r = app.post(&c, "/api/account/profile", &[("name", "Ann Example")]).await;
    assert_eq!(r.status(), 200);
    let name: String =
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(uid).fetch_one(&app.pool).await.unwrap();
    assert_eq!(name, "Ann Example");
    assert_eq!(app.audit_count("account.update").await, 1);

    let html = app.get(&c, "/account").await.text().await.unwrap();
    assert!(html.contains("This session") && html.contains("Sign out all other sessions"), "both sessions listed");

    let before = app.fingerprint().await;
    let r = app
        .post(
            &c,
            "/api/account/password",
            &[("current", "wrong"), ("password", "a brand new password"), ("confirm", "a brand new password")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(json(r).await["Validation"]["current"].as_str().unwrap().contains("not your current password"));
    let r = app
        .post(&c, "/api/account/password", &[("current", PASSWORD), ("password", "short"), ("confirm", "short")])
        .await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.fingerprint().await, before);

    let r = app
        .post(
            &c,
            "/api/account/password",
            &[("current", PASSWORD), ("password", "a brand new password"), ("confirm", "a brand new password")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(app.post(&other, "/api/account/load", &[]).await.status(), 401, "the other session ended");
    assert_eq!(app.post(&c, "/api/account/load", &[]).await.status(), 200, "this one goes on");
    assert_eq!(app.login(&client(), "ann@acme.test", "a brand new password").await.status(), 200);

    // Sign out one session, then all others.
    let third = client();
    app.login(&third, "ann@acme.test", "a brand new password").await;
    let sessions = json(app.post(&c, "/api/account/load", &[]).await).await;
    let victim = sessions["sessions"].as_array().unwrap().iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(app.post(&c, "/api/account/sessions/revoke", &[("id", &victim)]).await.status(), 200);
    // Someone else's session is not found from here, and is not touched.
    let (_, stranger) = app.member(a, "sam@acme.test", Role::Viewer).await;
    let theirs: Uuid = sqlx::query_scalar(
        "SELECT s.id FROM sessions s JOIN users u ON u.id = s.user_id WHERE u.email = 'sam@acme.test'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(app.post(&c, "/api/account/sessions/revoke", &[("id", &theirs.to_string())]).await.status(), 404);
    assert_eq!(app.post(&stranger, "/api/account/load", &[]).await.status(), 200);
    let r = app.post(&c, "/api/account/sessions/revoke", &[("all_others", "on")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.post(&third, "/api/account/load", &[]).await.status(), 401);
    assert_eq!(app.audit_count("session.revoke").await, 2);
    assert_eq!(app.audit_count("account.password_change").await, 1);
}
