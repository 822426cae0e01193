//! Accounts that belong to several companies: no company acts on another's account.
use crate::helpers::*;
use app::domain::Role;
use uuid::Uuid;

fn token_of(path: &str) -> String {
    path.rsplit('/').next().unwrap().to_string()
}

async fn invite(app: &TestApp, c: &reqwest::Client, slug: &str, email: &str) -> reqwest::Response {
    app.post(c, "/api/users/invite", &[("slug", slug), ("email", email), ("name", "Target"), ("role", "VIEWER")]).await
}

async fn accept_link(app: &TestApp, token: &str, password: &str) -> reqwest::Response {
    app.post(&client(), "/api/invite/accept", &[("token", token), ("password", password), ("confirm", password)]).await
}

async fn answer(app: &TestApp, c: &reqwest::Client, form: Vec<(&'static str, String)>) -> reqwest::Response {
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    app.post(c, "/api/account/invitation", &form).await
}

async fn membership_status(app: &TestApp, company: Uuid, user: Uuid) -> Option<String> {
    sqlx::query_scalar("SELECT status::text FROM memberships WHERE company_id = $1 AND user_id = $2")
        .bind(company)
        .bind(user)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

/// Globex's admin (the attacker) against Acme's admin (the victim), as the issue tells it:
/// invite the victim, ask for a reset link, set the password, sign in as the victim.
#[tokio::test]
async fn another_companys_admin_cannot_take_over_an_account_by_inviting_it() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let globex = app.company("Globex").await;
    let (victim, victim_client) = app.member(acme, "vic@acme.test", Role::Admin).await;
    let (_, attacker) = app.member(globex, "eve@globex.test", Role::Admin).await;
    let victim_hash: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(victim)
        .fetch_one(&app.pool)
        .await
        .unwrap();

    // 1. The invitation answers exactly as it does for an email nobody has.
    let r = invite(&app, &attacker, "globex", "vic@acme.test").await;
    assert_eq!(r.status(), 200);
    let existing = json(r).await;
    let r = invite(&app, &attacker, "globex", "nobody@else.test").await;
    assert_eq!(r.status(), 200);
    let fresh = json(r).await;
    let shape = |v: &serde_json::Value| {
        let i = &v["Invited"];
        (
            i["email"].is_string(),
            i["path"].as_str().unwrap().len(),
            i["expires"].is_object(),
            v.as_object().unwrap().len(),
        )
    };
    assert_eq!(shape(&existing), shape(&fresh), "{existing} vs {fresh}");
    // The company's own audit rows read alike too; only the platform's row says which it was.
    let details: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT details - 'after' || jsonb_build_object('keys', (SELECT array_agg(k ORDER BY k) FROM jsonb_object_keys(details->'after') k))
           FROM audit_log WHERE action = 'user.invite' AND company_id = $1",
    )
    .bind(globex)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(details.len(), 2);
    assert_eq!(details[0], details[1]);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'user.invite_existing' AND company_id IS NULL")
            .await,
        1
    );
    // The member pages show the inviter only what they typed, alike for both: no name of the
    // account's own, no sign-in history, no hint of other companies.
    let fresh_id: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'nobody@else.test'").fetch_one(&app.pool).await.unwrap();
    let mut seen = Vec::new();
    for id in [victim, fresh_id] {
        let r = app.post(&attacker, "/api/users/get", &[("slug", "globex"), ("id", &id.to_string())]).await;
        let mut d = json(r).await;
        for volatile in ["id", "email", "joined"] {
            d["user"].as_object_mut().unwrap().remove(volatile);
        }
        seen.push(d);
    }
    assert_eq!(seen[0], seen[1]);
    assert_eq!(seen[0]["user"]["name"], "Target");
    assert!(seen[0]["user"]["last_login"].is_null() && seen[0]["account_shared"] == false);
    // Nothing is granted: the membership waits, and the victim's account is untouched.
    assert_eq!(membership_status(&app, globex, victim).await.as_deref(), Some("INVITED"));

    // 2. The reset link is refused: the account is not Globex's.
    let r = app.post(&attacker, "/api/users/reset-link", &[("slug", "globex"), ("id", &victim.to_string())]).await;
    // A pending invitation can be re-sent, but as a join link, which sets nothing.
    assert_eq!(r.status(), 200);
    let join = json(r).await["path"].as_str().unwrap().to_string();

    // 3. The link cannot set the victim's password.
    let r = accept_link(&app, &token_of(&join), "attacker chosen password").await;
    assert_eq!(r.status(), 409);
    assert!(json(r).await["Conflict"].as_str().unwrap().contains("sign in"));
    let r =
        accept_link(&app, &token_of(existing["Invited"]["path"].as_str().unwrap()), "attacker chosen password").await;
    assert_eq!(r.status(), 409);
    let after: Option<String> = sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
        .bind(victim)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(after, victim_hash);
    let r = app.login(&client(), "vic@acme.test", "attacker chosen password").await;
    assert_eq!(r.status(), 401);

    // Renaming the pending member renames only Globex's label for the invitation; the
    // account's name is its owner's.
    let r = app
        .post(
            &attacker,
            "/api/users/update",
            &[("slug", "globex"), ("id", &victim.to_string()), ("name", "Owned"), ("role", "VIEWER")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let name: String =
        sqlx::query_scalar("SELECT name FROM users WHERE id = $1").bind(victim).fetch_one(&app.pool).await.unwrap();
    assert_eq!(name, "Test User");

    // The victim still works in Acme, and Globex is not in their switcher until they accept.
    let r = app.get(&victim_client, "/t/acme/users").await;
    assert_eq!(r.status(), 200);
    let me = json(app.post(&victim_client, "/api/me", &[]).await).await;
    let slugs: Vec<&str> = me["companies"].as_array().unwrap().iter().map(|c| c["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, vec!["acme"]);
    let r = app.get(&victim_client, "/t/globex/users").await;
    assert_eq!(r.status(), 404);
}

/// Once the owner accepts, the account is shared: neither company may reset or rename it, and
/// suspending the member in one company leaves their sessions in the other alone.
#[tokio::test]
async fn a_shared_account_belongs_to_its_owner_not_to_either_company() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let globex = app.company("Globex").await;
    let (sam, sam_client) = app.member(acme, "sam@acme.test", Role::Viewer).await;
    let (_, acme_admin) = app.member(acme, "boss@acme.test", Role::Admin).await;
    let (_, globex_admin) = app.member(globex, "eve@globex.test", Role::Admin).await;
    let r = app
        .post(
            &globex_admin,
            "/api/users/invite",
            &[("slug", "globex"), ("email", "sam@acme.test"), ("name", ""), ("role", "VIEWER")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let join = token_of(json(r).await["Invited"]["path"].as_str().unwrap());

    // Sam signs in and is shown the invitation first; the account page lists it.
    let sam2 = client();
    let r = app.login(&sam2, "sam@acme.test", PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"], "/account#invitations");
    let html = app.get(&sam2, "/account").await.text().await.unwrap();
    assert!(html.contains("Globex invites you as Viewer"), "{html}");
    // Only the invited account can answer, only for a pending invitation, and accepting
    // takes the link Globex sent as well as the account.
    let globex_id = globex.to_string();
    let accept = |token: &str| {
        vec![("company_id", globex_id.clone()), ("answer", "accept".to_string()), ("token", token.to_string())]
    };
    assert_eq!(answer(&app, &acme_admin, accept(&join)).await.status(), 404);
    let r = answer(&app, &sam2, vec![("company_id", globex_id.clone()), ("answer", "accept".into())]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(answer(&app, &sam2, accept(&"0".repeat(64))).await.status(), 403);
    assert_eq!(membership_status(&app, globex, sam).await.as_deref(), Some("INVITED"));
    let r = answer(&app, &sam2, accept(&join)).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // The link is spent.
    assert_eq!(app.get(&client(), &format!("/invite/{join}")).await.status(), 409);
    assert_eq!(membership_status(&app, globex, sam).await.as_deref(), Some("ACTIVE"));
    assert_eq!(app.audit_count("user.invite_accept").await, 1);
    let r = app.get(&sam2, "/t/globex/").await;
    assert_eq!(r.status(), 200);

    // Neither company may now hand out a password link, or rename the account.
    let before = app.fingerprint().await;
    for (c, slug) in [(&acme_admin, "acme"), (&globex_admin, "globex")] {
        let r = app.post(c, "/api/users/reset-link", &[("slug", slug), ("id", &sam.to_string())]).await;
        assert_eq!(r.status(), 403);
        let body = json(r).await;
        assert!(body["Denied"].as_str().unwrap().contains("also belongs to another company"), "{body}");
        let r = app
            .post(
                c,
                "/api/users/update",
                &[("slug", slug), ("id", &sam.to_string()), ("name", "Renamed"), ("role", "VIEWER")],
            )
            .await;
        assert_eq!(r.status(), 403);
    }
    assert_eq!(app.fingerprint().await, before);
    // Their role here is still theirs to set.
    let r = app
        .post(
            &acme_admin,
            "/api/users/update",
            &[("slug", "acme"), ("id", &sam.to_string()), ("name", "Test User"), ("role", "MANAGER")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());

    // Sam works in Acme in one browser and in Globex in another. Acme suspends Sam: Acme is
    // closed to both at once; the account and its work in Globex go on.
    let r = app.get(&sam_client, "/t/acme/users").await;
    assert_eq!(r.status(), 200);
    let r = app.get(&sam2, "/t/globex/").await;
    assert_eq!(r.status(), 200);
    let r = app
        .post(&acme_admin, "/api/users/status", &[("slug", "acme"), ("id", &sam.to_string()), ("status", "SUSPENDED")])
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    for c in [&sam_client, &sam2] {
        assert_eq!(app.get(c, "/t/acme/users").await.status(), 404);
        assert_eq!(
            app.post(c, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await.status(),
            404
        );
        assert_eq!(app.get(c, "/t/globex/").await.status(), 200);
    }
    assert_eq!(
        sqlx::query_scalar::<_, String>("SELECT status::text FROM users WHERE id = $1")
            .bind(sam)
            .fetch_one(&app.pool)
            .await
            .unwrap(),
        "ACTIVE"
    );
}

/// A pre-registered account: Globex creates an account for an address (it never signs in)
/// and Acme later invites the same address. Globex cannot use its own link to capture it.
#[tokio::test]
async fn an_account_created_by_one_company_cannot_be_activated_by_another() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let globex = app.company("Globex").await;
    let (_, acme_admin) = app.member(acme, "boss@acme.test", Role::Admin).await;
    let (_, globex_admin) = app.member(globex, "eve@globex.test", Role::Admin).await;
    let r = app
        .post(
            &acme_admin,
            "/api/users/invite",
            &[("slug", "acme"), ("email", "new@hire.test"), ("name", ""), ("role", "VIEWER")],
        )
        .await;
    let acme_link = json(r).await["Invited"]["path"].as_str().unwrap().to_string();
    let r = app
        .post(
            &globex_admin,
            "/api/users/invite",
            &[("slug", "globex"), ("email", "new@hire.test"), ("name", ""), ("role", "ADMIN")],
        )
        .await;
    assert_eq!(r.status(), 200);
    let globex_link = json(r).await["Invited"]["path"].as_str().unwrap().to_string();
    let user: Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'new@hire.test'").fetch_one(&app.pool).await.unwrap();
    // Globex asks for a password link: refused, the account is Acme's until someone signs in.
    let r = app.post(&globex_admin, "/api/users/reset-link", &[("slug", "globex"), ("id", &user.to_string())]).await;
    assert_eq!(r.status(), 403);
    // Acme's link works, and Globex's invitation then waits for the owner's answer.
    let r = accept_link(&app, &token_of(&acme_link), "the new hire's password").await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(membership_status(&app, globex, user).await.as_deref(), Some("INVITED"));
    let c = client();
    let r = app.login(&c, "new@hire.test", "the new hire's password").await;
    assert_eq!(r.status(), 200);
    // The waiting invitation is shown first.
    assert_eq!(r.headers()["location"], "/account#invitations");
    // Whoever set that password (Acme's admin held the link) cannot accept Globex's invitation
    // with the account alone, nor with Acme's spent link; Globex's link went to the person.
    for token in [None, Some(token_of(&acme_link))] {
        let mut form = vec![("company_id", globex.to_string()), ("answer", "accept".to_string())];
        if let Some(t) = token {
            form.push(("token", t));
        }
        let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(app.post(&c, "/api/account/invitation", &form).await.status(), 403);
    }
    assert_eq!(membership_status(&app, globex, user).await.as_deref(), Some("INVITED"));
    // The join link's page, seen by this account, offers the answer; it stays unused here.
    let html = app.get(&c, &globex_link).await.text().await.unwrap();
    assert!(html.contains("data-join") && html.contains("Globex invites new@hire.test as Admin"), "{html}");
    let r =
        app.post(&c, "/api/account/invitation", &[("company_id", &globex.to_string()), ("answer", "decline")]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    assert_eq!(membership_status(&app, globex, user).await, None);
    assert_eq!(app.audit_count("user.invite_decline").await, 1);
}

/// The database holds the line even if the app's checks were skipped: a company transaction
/// (atrium_app under row-level security) cannot rewrite another company's account, and sees
/// only its own sessions.
#[tokio::test]
async fn the_database_refuses_a_company_transaction_that_reaches_for_a_shared_account() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let globex = app.company("Globex").await;
    let (victim, _victim_client) = app.member(acme, "vic@acme.test", Role::Admin).await;
    let (eve, _eve_client) = app.member(globex, "eve@globex.test", Role::Admin).await;
    // Even an accepted membership in Globex does not make the account Globex's.
    sqlx::query("INSERT INTO memberships (company_id, user_id, role, status) VALUES ($1, $2, 'VIEWER', 'ACTIVE')")
        .bind(globex)
        .bind(victim)
        .execute(&app.pool)
        .await
        .unwrap();
    let before = app.fingerprint().await;
    for column in ["password_hash = 'x'", "name = 'Owned'", "email = 'eve2@globex.test'", "status = 'SUSPENDED'"] {
        let mut tx = app::db::tenant(&app.app_pool, globex, Some(eve)).await.unwrap();
        let err = sqlx::query(&format!("UPDATE users SET {column} WHERE id = $1"))
            .bind(victim)
            .execute(&mut *tx)
            .await
            .expect_err(column);
        assert_eq!(err.as_database_error().unwrap().code().as_deref(), Some("42501"), "{column}: {err}");
    }
    // The columns that follow memberships are not the app's to write at all.
    let mut tx = app::db::tenant(&app.app_pool, globex, Some(eve)).await.unwrap();
    let err = sqlx::query("UPDATE users SET allowed_tenants = '{}' WHERE id = $1")
        .bind(eve)
        .execute(&mut *tx)
        .await
        .expect_err("allowed_tenants");
    assert_eq!(err.as_database_error().unwrap().code().as_deref(), Some("42501"));
    drop(tx);
    // Sessions: Globex's transaction sees Eve's own and those working in Globex, no others.
    let mut tx = app::db::tenant(&app.app_pool, globex, Some(eve)).await.unwrap();
    let seen: Vec<Uuid> = sqlx::query_scalar("SELECT user_id FROM sessions").fetch_all(&mut *tx).await.unwrap();
    assert!(!seen.is_empty() && seen.iter().all(|u| *u == eve), "{seen:?}");
    let ended = sqlx::query("UPDATE sessions SET revoked_at = now() WHERE user_id = $1")
        .bind(victim)
        .execute(&mut *tx)
        .await
        .unwrap()
        .rows_affected();
    assert_eq!(ended, 0);
    tx.commit().await.unwrap();
    assert_eq!(app.fingerprint().await, before);
    // The account's own company may still manage what it alone holds.
    let (solo, _) = app.member(acme, "solo@acme.test", Role::Viewer).await;
    let mut tx = app::db::tenant(&app.app_pool, acme, Some(victim)).await.unwrap();
    sqlx::query("UPDATE users SET name = 'Solo' WHERE id = $1").bind(solo).execute(&mut *tx).await.unwrap();
    tx.commit().await.unwrap();
}
