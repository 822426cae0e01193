//! Users: invitations and their links, edits, suspension, the escalation rules, the list.
use crate::helpers::*;
use app::domain::Role;
use uuid::Uuid;

fn token_of(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_string()
}

async fn invite(app: &TestApp, c: &reqwest::Client, email: &str, role: &str) -> reqwest::Response {
    app.post(c, "/api/users/invite", &[("slug", "acme"), ("email", email), ("name", "New Person"), ("role", role)])
        .await
}

#[tokio::test]
async fn an_invited_user_sets_a_password_through_the_link_and_signs_in() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let r = invite(&app, &admin, "New@Acme.test", "MANAGER").await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    let path = body["Invited"]["path"].as_str().unwrap().to_string();
    assert!(path.starts_with("/invite/"));
    let status: String = sqlx::query_scalar(
        "SELECT m.status::text FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = 'new@acme.test'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(status, "INVITED");
    // Only the hash is stored.
    let token = token_of(&path);
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM user_tokens WHERE token_hash = sha256($1::bytea)")
        .bind(token.as_bytes())
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 1);
    assert_eq!(
        app.scalar_i64(&format!("SELECT count(*) FROM user_tokens WHERE encode(token_hash, 'hex') = '{token}'")).await,
        0
    );

    let visitor = client();
    let html = app.get(&visitor, &path).await.text().await.unwrap();
    assert!(html.contains("Join Acme") && html.contains("new@acme.test"), "{html}");
    let r = app
        .post(
            &visitor,
            "/api/invite/accept",
            &[("token", &token), ("password", "a fine new password"), ("confirm", "different")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(json(r).await["Validation"]["confirm"].is_string());
    let r = app
        .post(
            &visitor,
            "/api/invite/accept",
            &[("token", &token), ("password", "a fine new password"), ("confirm", "a fine new password")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The link works once.
    let r = app
        .post(
            &visitor,
            "/api/invite/accept",
            &[("token", &token), ("password", "another password!"), ("confirm", "another password!")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(json(r).await["Conflict"].as_str().unwrap().contains("already been used"));
    let r = app.get(&visitor, &path).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("already been used"));

    let r = app.login(&visitor, "new@acme.test", "a fine new password").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.post(&visitor, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.audit_count("user.invite").await, 1);
    assert_eq!(app.audit_count("user.invite_accept").await, 1);
}

#[tokio::test]
async fn bad_invitations_get_clear_messages_and_change_nothing() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let before = app.fingerprint().await;
    for (email, role, field, says) in [
        ("not-an-email", "VIEWER", "email", "email"),
        ("boss@ACME.test", "VIEWER", "email", "already a member"),
        ("x@acme.test", "OWNER", "role", "not a role"),
        ("x@acme.test", "SUPER_ADMIN", "role", "not a role"),
        ("", "", "email", ""),
    ] {
        let r = invite(&app, &admin, email, role).await;
        assert_eq!(r.status(), 422, "{email} {role}");
        let body = json(r).await;
        let msg = body["Validation"][field].as_str().unwrap_or_else(|| panic!("{body}"));
        assert!(msg.to_lowercase().contains(says), "{msg}");
    }
    assert_eq!(app.fingerprint().await, before, "nothing was written");
}

#[tokio::test]
async fn expired_and_unknown_links_are_refused() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let body = json(invite(&app, &admin, "late@acme.test", "VIEWER").await).await;
    let token = token_of(body["Invited"]["path"].as_str().unwrap());
    sqlx::query(
        "UPDATE user_tokens SET expires_at = now() - interval '1 minute', created_at = now() - interval '73 hours'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let before = app.fingerprint().await;
    let v = client();
    let r = app
        .post(
            &v,
            "/api/invite/accept",
            &[("token", &token), ("password", "a fine new password"), ("confirm", "a fine new password")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(json(r).await["Conflict"].as_str().unwrap().contains("expired"));
    let r = app.get(&v, &format!("/invite/{token}")).await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("expired"));
    for bogus in ["nonsense", &"0".repeat(64)] {
        let r = app
            .post(
                &v,
                "/api/invite/accept",
                &[("token", bogus), ("password", "a fine new password"), ("confirm", "a fine new password")],
            )
            .await;
        assert_eq!(r.status(), 409);
        assert!(json(r).await["Conflict"].as_str().unwrap().contains("not valid"));
    }
    assert_eq!(app.fingerprint().await, before);
    // An admin sends a fresh link; it works.
    let id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'late@acme.test'").fetch_one(&app.pool).await.unwrap();
    let r = app.post(&admin, "/api/users/reset-link", &[("slug", "acme"), ("id", &id.to_string())]).await;
    assert_eq!(r.status(), 200);
    let token = token_of(json(r).await["path"].as_str().unwrap());
    let r = app
        .post(
            &v,
            "/api/invite/accept",
            &[("token", &token), ("password", "a fine new password"), ("confirm", "a fine new password")],
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn escalation_rules_hold_on_the_server() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (boss, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (_, manager) = app.member(a, "mia@acme.test", Role::Manager).await;
    let other_admin = app.user("other@acme.test", Role::Admin, Some(a)).await;
    let viewer = app.user("vic@acme.test", Role::Viewer, Some(a)).await;
    let before = app.fingerprint().await;

    // A manager has no users.write.
    assert_eq!(invite(&app, &manager, "x@acme.test", "VIEWER").await.status(), 403);
    let r = app
        .post(
            &manager,
            "/api/users/update",
            &[("slug", "acme"), ("id", &viewer.to_string()), ("name", "X"), ("role", "ADMIN")],
        )
        .await;
    assert_eq!(r.status(), 403);
    // An admin cannot edit or suspend an equal, nor themselves here.
    let r = app
        .post(
            &admin,
            "/api/users/update",
            &[("slug", "acme"), ("id", &other_admin.to_string()), ("name", "X"), ("role", "VIEWER")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post(
            &admin,
            "/api/users/status",
            &[("slug", "acme"), ("id", &other_admin.to_string()), ("status", "SUSPENDED")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = app
        .post(
            &admin,
            "/api/users/update",
            &[("slug", "acme"), ("id", &boss.to_string()), ("name", "Me"), ("role", "ADMIN")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.fingerprint().await, before);

    // Up to their own role is fine.
    let r = app
        .post(
            &admin,
            "/api/users/update",
            &[("slug", "acme"), ("id", &viewer.to_string()), ("name", "Vic"), ("role", "ADMIN")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let role: String = sqlx::query_scalar("SELECT role::text FROM memberships WHERE user_id = $1")
        .bind(viewer)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(role, "ADMIN");
    assert_eq!(app.audit_count("user.update").await, 1);
}

#[tokio::test]
async fn the_last_admin_cannot_be_demoted_or_suspended() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let only = app.user("boss@acme.test", Role::Admin, Some(a)).await;
    let root = app.superadmin().await;
    app.act_as(&root, "acme").await;
    let before = app.fingerprint().await;
    let r = app
        .post(
            &root,
            "/api/users/update",
            &[("slug", "acme"), ("id", &only.to_string()), ("name", ""), ("role", "MANAGER")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(json(r).await["Conflict"].as_str().unwrap().contains("last active admin"));
    let r = app
        .post(&root, "/api/users/status", &[("slug", "acme"), ("id", &only.to_string()), ("status", "SUSPENDED")])
        .await;
    assert_eq!(r.status(), 409);
    assert_eq!(app.fingerprint().await, before);
    // With a second admin, the first can be demoted.
    app.user("second@acme.test", Role::Admin, Some(a)).await;
    let r = app
        .post(
            &root,
            "/api/users/update",
            &[("slug", "acme"), ("id", &only.to_string()), ("name", ""), ("role", "MANAGER")],
        )
        .await;
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn suspending_a_user_ends_their_sessions_at_once() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (vic, viewer) = app.member(a, "vic@acme.test", Role::Viewer).await;
    assert_eq!(app.get(&viewer, "/t/acme/users").await.status(), 200);
    let r = app
        .post(&admin, "/api/users/status", &[("slug", "acme"), ("id", &vic.to_string()), ("status", "SUSPENDED")])
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let r = app.post(&viewer, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 401, "the session ended");
    // Signing in again does not get them back into the company.
    let c = client();
    app.login(&c, "vic@acme.test", PASSWORD).await;
    assert_eq!(app.get(&c, "/t/acme/users").await.status(), 404);
    assert_eq!(app.audit_count("user.suspend").await, 1);
    // Reactivated, they are back.
    let r = app
        .post(&admin, "/api/users/status", &[("slug", "acme"), ("id", &vic.to_string()), ("status", "ACTIVE")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&c, "/t/acme/users").await.status(), 200);
    let r =
        app.post(&admin, "/api/users/status", &[("slug", "acme"), ("id", &vic.to_string()), ("status", "GONE")]).await;
    assert_eq!(r.status(), 422);
    // Someone who left is marked inactive: signed out too, and shown as such.
    let r = app
        .post(&admin, "/api/users/status", &[("slug", "acme"), ("id", &vic.to_string()), ("status", "INACTIVE")])
        .await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.get(&c, "/t/acme/users").await.status(), 303);
    let html = app.get(&admin, &format!("/t/acme/users/{vic}")).await.text().await.unwrap();
    assert!(html.contains("Inactive: they no longer work in this company") && html.contains("Reactivate user"));
}

#[tokio::test]
async fn the_list_searches_filters_and_pages_by_keyset() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    sqlx::query(
        "INSERT INTO users (email, name, role, company_id, status)
         SELECT 'user' || lpad(i::text, 2, '0') || '@acme.test', 'Person ' || i,
                CASE WHEN i % 3 = 0 THEN 'MANAGER' ELSE 'VIEWER' END::user_role_enum, $1, 'ACTIVE'
           FROM generate_series(1, 40) i",
    )
    .bind(a)
    .execute(&app.pool)
    .await
    .unwrap();
    let list = |q: &'static str, role: &'static str, after: Option<String>| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let mut form =
                vec![("slug", "acme".to_string()), ("q", q.into()), ("role", role.into()), ("status", "".into())];
            if let Some(a) = after {
                form.push(("after", a));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            json(app.post(&admin, "/api/users/list", &form).await).await
        }
    };
    let p1 = list("", "", None).await;
    assert_eq!(p1["total"], 41);
    assert_eq!(p1["rows"].as_array().unwrap().len(), 25);
    let p2 = list("", "", p1["next"].as_str().map(String::from)).await;
    assert_eq!(p2["rows"].as_array().unwrap().len(), 16);
    assert!(p2["next"].is_null());
    let first: Vec<&str> = p1["rows"].as_array().unwrap().iter().map(|r| r["email"].as_str().unwrap()).collect();
    assert!(p2["rows"].as_array().unwrap().iter().all(|r| !first.contains(&r["email"].as_str().unwrap())));
    assert_eq!(list("", "manager", None).await["total"], 13);
    assert_eq!(list("person 1", "", None).await["total"], 11);
    let bad =
        app.post(&admin, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", "OWNER"), ("status", "")]).await;
    assert_eq!(bad.status(), 422);
    // The page renders the same on the server.
    let html = app.get(&admin, "/t/acme/users?role=MANAGER").await.text().await.unwrap();
    assert!(html.contains("13 users") && html.contains("user03@acme.test") && !html.contains("user01@acme.test"));
}

#[tokio::test]
async fn inviting_someone_from_another_company_waits_for_them_to_accept() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Borealis").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (bea, bea_client) = app.member(b, "bea@borealis.test", Role::Admin).await;
    let r = invite(&app, &admin, "bea@borealis.test", "VIEWER").await;
    assert_eq!(r.status(), 200);
    let path = json(r).await["Invited"]["path"].as_str().unwrap().to_string();
    // The link page tells the owner to sign in; it offers no password form.
    let html = app.get(&client(), &path).await.text().await.unwrap();
    assert!(html.contains("Acme invites bea@borealis.test as Viewer") && !html.contains("new-password"), "{html}");
    assert_eq!(app.get(&bea_client, "/t/acme/users").await.status(), 404);
    let r =
        app.post(&bea_client, "/api/account/invitation", &[("company_id", &a.to_string()), ("answer", "maybe")]).await;
    assert_eq!(r.status(), 422);
    let r = app
        .post(
            &bea_client,
            "/api/account/invitation",
            &[("company_id", &a.to_string()), ("answer", "accept"), ("token", &token_of(&path))],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let tenants: Vec<Uuid> = sqlx::query_scalar("SELECT unnest(allowed_tenants) FROM users WHERE id = $1")
        .bind(bea)
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert_eq!(tenants.len(), 2);
    // Her role differs per company.
    let r = app
        .post(
            &bea_client,
            "/api/users/invite",
            &[("slug", "acme"), ("email", "z@z.test"), ("name", ""), ("role", "VIEWER")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(app.get(&bea_client, "/t/acme/users").await.status(), 200);
    // Answered once; the invitation is gone.
    let r = app
        .post(&bea_client, "/api/account/invitation", &[("company_id", &a.to_string()), ("answer", "decline")])
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn roles_page_explains_why() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let vic = app.user("vic@acme.test", Role::Viewer, Some(a)).await;
    let html = app.get(&admin, "/t/acme/roles").await.text().await.unwrap();
    assert!(html.contains("api_keys.revoke") && html.contains("Permissions by role"));
    let html = app.get(&admin, &format!("/t/acme/roles?user={vic}&permission=users.write")).await.text().await.unwrap();
    assert!(
        html.contains("No. vic@acme.test is Viewer in Acme, and users.write is granted only to Admin and Super-admin"),
        "{html}"
    );
    let r = app
        .post(
            &admin,
            "/api/roles/explain",
            &[("slug", "acme"), ("user", &vic.to_string()), ("permission", "users.read")],
        )
        .await;
    let x = json(r).await;
    assert_eq!(x["allowed"], true);
    assert!(x["because"].as_str().unwrap().contains("Viewer role is granted users.read"));
    let r = app
        .post(
            &admin,
            "/api/roles/explain",
            &[("slug", "acme"), ("user", &vic.to_string()), ("permission", "users.fly")],
        )
        .await;
    assert_eq!(r.status(), 422);
}

#[tokio::test]
async fn without_javascript_the_link_is_shown_once_after_the_redirect() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let r = admin
        .post(app.url("/api/users/invite"))
        .header("Origin", format!("http://{}", app.addr))
        .header("Accept", "text/html")
        .form(&[("slug", "acme"), ("email", "plain@acme.test"), ("name", ""), ("role", "VIEWER")])
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(r.headers()["location"], "/t/acme/users/invite?sent=1");
    let html = app.get(&admin, "/t/acme/users/invite?sent=1").await.text().await.unwrap();
    assert!(html.contains("data-one-time-link") && html.contains("/invite/"), "the link is on the page");
    let again = app.get(&admin, "/t/acme/users/invite?sent=1").await.text().await.unwrap();
    assert!(!again.contains("data-one-time-link"), "and only once");
}

#[tokio::test]
async fn another_companys_user_cannot_be_reached_through_your_own_slug() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Borealis").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let theirs = app.user("theirs@borealis.test", Role::Viewer, Some(b)).await.to_string();
    let before = app.fingerprint().await;
    for (path, form) in [
        ("/api/users/get", vec![("slug", "acme"), ("id", theirs.as_str())]),
        ("/api/users/update", vec![("slug", "acme"), ("id", theirs.as_str()), ("name", "Mine"), ("role", "VIEWER")]),
        ("/api/users/status", vec![("slug", "acme"), ("id", theirs.as_str()), ("status", "SUSPENDED")]),
        ("/api/users/reset-link", vec![("slug", "acme"), ("id", theirs.as_str())]),
        ("/api/roles/explain", vec![("slug", "acme"), ("user", theirs.as_str()), ("permission", "users.read")]),
    ] {
        let r = app.post(&admin, path, &form).await;
        assert_eq!(r.status(), 404, "{path}");
        assert!(!r.text().await.unwrap().contains("theirs@"), "{path} leaks");
    }
    let r = app.get(&admin, &format!("/t/acme/users/{theirs}")).await;
    assert_eq!(r.status(), 404);
    assert_eq!(app.fingerprint().await, before);
}
