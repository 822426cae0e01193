//! Row-level security, tenant routing, the switcher, disabled companies and act-as.
use crate::helpers::*;
use app::domain::Role;
use sqlx::Row;
use uuid::Uuid;

/// Every table row-level security guards, with the column naming its company.
const TENANT_TABLES: &[(&str, &str)] = &[
    ("companies", "id"),
    ("memberships", "company_id"),
    ("user_tokens", "company_id"),
    ("api_keys", "company_id"),
    ("api_key_usage", "company_id"),
    ("audit_log", "company_id"),
    ("weight_overrides", "company_id"),
    ("weight_override_history", "company_id"),
    ("integration_configs", "company_id"),
    ("integration_delivery_log", "company_id"),
];

/// Rows in every tenant table for `company`, written as the owner.
async fn fill(app: &TestApp, company: Uuid, tag: &str) {
    let user = app.user(&format!("{tag}@fill.test"), Role::Admin, Some(company)).await;
    let sql = format!(
        r#"
        INSERT INTO user_tokens (company_id, user_id, purpose, token_hash, expires_at)
          VALUES ('{company}', '{user}', 'invite', sha256('{tag}'::bytea), now() + interval '1 day');
        INSERT INTO api_keys (id, company_id, name, key_hash, key_prefix, key_last4)
          VALUES (md5('{tag}')::uuid, '{company}', 'k', sha256('{tag}k'::bytea), 'atr_live_', 'abcd');
        INSERT INTO api_key_usage (api_key_id, company_id, used_at, endpoint) VALUES (md5('{tag}')::uuid, '{company}', now(), '/x');
        INSERT INTO weight_overrides (company_id, category, weights) VALUES ('{company}', 'sroi', '{{"a": 1}}');
        INSERT INTO integration_configs (id, company_id, platform) VALUES (md5('{tag}i')::uuid, '{company}', 'benevity');
        INSERT INTO integration_delivery_log (integration_config_id, company_id, platform, payload_hash)
          VALUES (md5('{tag}i')::uuid, '{company}', 'benevity', repeat('a', 64));
        "#
    );
    sqlx::raw_sql(&sql).execute(&app.pool).await.unwrap();
}

#[tokio::test]
async fn an_unscoped_select_as_the_app_role_sees_only_the_current_company() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Borealis").await;
    fill(&app, a, "a").await;
    fill(&app, b, "b").await;

    // The serving pool is neither superuser nor BYPASSRLS, whatever DATABASE_URL names.
    let who = sqlx::query(
        "SELECT current_user::text AS u, r.rolsuper, r.rolbypassrls FROM pg_roles r WHERE r.rolname = current_user",
    )
    .fetch_one(&app.app_pool)
    .await
    .unwrap();
    assert_eq!(who.get::<String, _>("u"), "atrium_app");
    assert!(!who.get::<bool, _>("rolsuper") && !who.get::<bool, _>("rolbypassrls"));

    for (table, column) in TENANT_TABLES {
        let mut tx = app::db::tenant(&app.app_pool, a, None).await.unwrap();
        let sql =
            format!("SELECT count(*) AS n, count(*) FILTER (WHERE {column} IS DISTINCT FROM $1) AS other FROM {table}");
        let row = sqlx::query(&sql).bind(a).fetch_one(&mut *tx).await.unwrap();
        let (n, other): (i64, i64) = (row.get("n"), row.get("other"));
        assert!(n > 0, "{table}: the current company's rows are visible");
        assert_eq!(other, 0, "{table}: no other company's rows");
        tx.rollback().await.unwrap();

        // No company set: nothing at all (companies and memberships would show the user's own,
        // and there is no user here).
        let mut tx = app::db::anonymous(&app.app_pool).await.unwrap();
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(n, 0, "{table}: nothing without a company");
        tx.rollback().await.unwrap();
    }
    // users are scoped through their memberships.
    let mut tx = app::db::tenant(&app.app_pool, a, None).await.unwrap();
    let emails: Vec<String> = sqlx::query_scalar("SELECT email FROM users").fetch_all(&mut *tx).await.unwrap();
    assert_eq!(emails, vec!["a@fill.test".to_string()]);
    // Writing into another company is refused by the policy's WITH CHECK.
    let err = sqlx::query("INSERT INTO weight_overrides (company_id, category, weights) VALUES ($1, 'vis', '{}')")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("row-level security"), "{err}");
    tx.rollback().await.unwrap();

    // And the other company's rows cannot be changed: they are simply not there.
    let mut tx = app::db::tenant(&app.app_pool, a, None).await.unwrap();
    let changed = sqlx::query("UPDATE api_keys SET name = 'stolen' WHERE company_id = $1")
        .bind(b)
        .execute(&mut *tx)
        .await
        .unwrap();
    assert_eq!(changed.rows_affected(), 0);
    // The audit log is append-only for the app role.
    let err = sqlx::query("UPDATE audit_log SET action = 'x'").execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
    tx.rollback().await.unwrap();

    // The platform role reads across companies, and only reads.
    let mut tx = app.app_pool.begin().await.unwrap();
    sqlx::query("SET LOCAL ROLE atrium_platform").execute(&mut *tx).await.unwrap();
    let n: i64 =
        sqlx::query_scalar("SELECT count(DISTINCT company_id) FROM api_keys").fetch_one(&mut *tx).await.unwrap();
    assert_eq!(n, 2);
    let err = sqlx::query("UPDATE api_keys SET name = 'x'").execute(&mut *tx).await.unwrap_err();
    assert!(err.to_string().contains("permission denied"), "{err}");
}

#[tokio::test]
async fn another_companys_slug_is_a_404_that_leaks_nothing() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Borealis Secret").await;
    app.user("hidden@borealis.test", Role::Admin, Some(b)).await;
    let (_, c) = app.member(a, "ann@acme.test", Role::Admin).await;
    for path in ["/t/borealis-secret/", "/t/borealis-secret/users", "/t/borealis-secret/roles", "/t/nope/users"] {
        let r = app.get(&c, path).await;
        assert_eq!(r.status(), 404, "{path}");
        let html = r.text().await.unwrap();
        assert!(!html.contains("Borealis Secret") && !html.contains("hidden@borealis.test"), "{path} leaks");
    }
    let r =
        app.post(&c, "/api/users/list", &[("slug", "borealis-secret"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 404);
    assert!(!r.text().await.unwrap().contains("hidden@"));
    // Its own company works, and is home.
    assert_eq!(app.get(&c, "/t/acme/users").await.status(), 200);
    assert_eq!(app.get(&c, "/").await.headers()["location"], "/t/acme/");
}

#[tokio::test]
async fn a_disabled_company_tells_its_users_so() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, c) = app.member(a, "ann@acme.test", Role::Admin).await;
    sqlx::query("UPDATE companies SET tenant_enabled = false WHERE id = $1").bind(a).execute(&app.pool).await.unwrap();
    let r = app.get(&c, "/t/acme/users").await;
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("Acme is disabled"));
    let r = app.post(&c, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(json(r).await["TenantDisabled"], "Acme");
}

#[tokio::test]
async fn switching_company_moves_the_session_and_is_audited() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Borealis").await;
    let (uid, c) = app.member(a, "ann@acme.test", Role::Admin).await;
    sqlx::query("INSERT INTO memberships (company_id, user_id, role) VALUES ($1, $2, 'VIEWER')")
        .bind(b)
        .bind(uid)
        .execute(&app.pool)
        .await
        .unwrap();
    let html = app.get(&c, "/t/acme/").await.text().await.unwrap();
    assert!(html.contains("tenant-switch") && html.contains("Borealis"), "the switcher lists both companies");
    let r = app.post(&c, "/api/tenant/switch", &[("slug", "borealis")]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (tenant, switched): (Option<Uuid>, bool) =
        sqlx::query_as("SELECT tenant_id, last_tenant_switch_at IS NOT NULL FROM sessions WHERE user_id = $1")
            .bind(uid)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(tenant, Some(b));
    assert!(switched);
    assert_eq!(app.audit_count("tenant.switch").await, 1);
    // In Borealis they are a viewer: no user edits.
    let r = app
        .post(&c, "/api/users/invite", &[("slug", "borealis"), ("email", "x@y.test"), ("name", ""), ("role", "VIEWER")])
        .await;
    assert_eq!(r.status(), 403);
    // Home is the home company while they are active there, else another of theirs.
    assert_eq!(app.get(&c, "/").await.headers()["location"], "/t/acme/");
    sqlx::query("UPDATE memberships SET status = 'SUSPENDED' WHERE company_id = $1")
        .bind(a)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get(&c, "/").await.headers()["location"], "/t/borealis/");
    // A company they do not belong to cannot be switched to.
    app.company("Cygnus").await;
    assert_eq!(app.post(&c, "/api/tenant/switch", &[("slug", "cygnus")]).await.status(), 404);
}

#[tokio::test]
async fn a_super_admin_acts_as_a_company_for_a_limited_time_with_a_reason() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let admin = app.superadmin().await;
    let html = app.get(&admin, "/t/acme/users").await.text().await.unwrap();
    assert!(html.contains("Open this company as a super-admin"));
    let r = app.post(&admin, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 403, "no silent way in");
    let r = app.post(&admin, "/api/tenant/act-as", &[("slug", "acme"), ("reason", "hm")]).await;
    assert_eq!(r.status(), 422);
    assert!(json(r).await["Validation"]["reason"].as_str().unwrap().contains("why"));

    app.act_as(&admin, "acme").await;
    let html = app.get(&admin, "/t/acme/users").await.text().await.unwrap();
    assert!(html.contains("data-act-as") && html.contains("Integration test"), "the banner shows");
    let r = app
        .post(
            &admin,
            "/api/users/invite",
            &[("slug", "acme"), ("email", "new@acme.test"), ("name", ""), ("role", "ADMIN")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    // Both identities: the super-admin's own, and the company, with the reason.
    let row = sqlx::query(
        "SELECT user_email, user_role::text AS role, company_id, details FROM audit_log WHERE action = 'user.invite'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("user_email"), "root@atrium.test");
    assert_eq!(row.get::<String, _>("role"), "SUPER_ADMIN");
    assert_eq!(row.get::<Uuid, _>("company_id"), a);
    assert_eq!(row.get::<serde_json::Value, _>("details")["acting_as"]["reason"], "Integration test");
    assert_eq!(app.audit_count("tenant.act_as").await, 1);

    // The window closes by itself.
    sqlx::query("UPDATE sessions SET acting_until = now() - interval '1 second'").execute(&app.pool).await.unwrap();
    let r = app.post(&admin, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 403);
    // Or on request.
    app.act_as(&admin, "acme").await;
    let r = app.post(&admin, "/api/tenant/act-as/end", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.audit_count("tenant.act_as_end").await, 1);
    let r = app.post(&admin, "/api/users/list", &[("slug", "acme"), ("q", ""), ("role", ""), ("status", "")]).await;
    assert_eq!(r.status(), 403);
}

#[tokio::test]
async fn the_super_admins_cross_company_views_are_audited() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    app.company("Borealis").await;
    app.user("ann@acme.test", Role::Admin, Some(a)).await;
    let admin = app.superadmin().await;
    let html = app.get(&admin, "/admin").await.text().await.unwrap();
    assert!(html.contains("Acme") && html.contains("Borealis"));
    let html = app.get(&admin, "/admin/audit").await.text().await.unwrap();
    assert!(html.contains("company.create"));
    assert_eq!(app.scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'platform.read'").await, 2);
    // Nobody else gets them.
    let (_, c) = app.member(a, "boss@acme.test", Role::Admin).await;
    assert_eq!(app.get(&c, "/admin").await.status(), 403);
    assert_eq!(app.post(&c, "/api/admin/overview", &[]).await.status(), 403);
}

#[tokio::test]
async fn the_code_and_the_database_agree_on_roles_and_permissions() {
    let app = spawn_app().await;
    // The escalation rules compare Role::level(); role_hierarchy is the seeded source.
    let levels: Vec<(String, i32)> = sqlx::query_as("SELECT role::text, level FROM role_hierarchy ORDER BY level")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    let code: Vec<(String, i32)> = Role::ALL.iter().map(|r| (r.as_str().to_string(), r.level() as i32)).collect();
    assert_eq!(levels, code);
    // Every permission the code checks is seeded, and nothing seeded is unknown to the code.
    let seeded: Vec<String> =
        sqlx::query_scalar("SELECT name FROM permissions ORDER BY name").fetch_all(&app.pool).await.unwrap();
    let mut known: Vec<String> = app::domain::Permission::ALL.iter().map(|p| p.name().to_string()).collect();
    known.sort();
    assert_eq!(seeded, known);
}
