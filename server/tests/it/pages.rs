use crate::helpers::*;

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    let c = client();
    assert_eq!(app.get(&c, "/healthz").await.text().await.unwrap(), "alive");
    assert_eq!(app.get(&c, "/readyz").await.status(), 200);
    sqlx::query("DELETE FROM schema_migrations WHERE version = (SELECT max(version) FROM schema_migrations)")
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get(&c, "/readyz").await.status(), 503);
}

/// Assets pass the same middleware as pages without needing a session: a missing one is a
/// 404, never a 500 (an extractor that expected the page's request scope once broke every
/// asset, and with them hydration).
#[tokio::test]
async fn assets_pass_the_middleware_signed_in_or_not() {
    let app = spawn_app().await;
    let (_, admin) = app.member(app.company("Acme").await, "admin@acme.test", app::domain::Role::Admin).await;
    for c in [client(), admin] {
        for path in ["/pkg/no-such-file.js", "/pkg/atrium.css"] {
            let r = app.get(&c, path).await;
            assert!(r.status() == 404 || r.status() == 200, "{path}: {}", r.status());
        }
    }
}

#[tokio::test]
async fn pages_render_on_the_server_with_a_strict_csp() {
    let app = spawn_app().await;
    let c = client();
    let r = app.get(&c, "/login").await;
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    for part in [
        "script-src 'self' 'nonce-",
        "'wasm-unsafe-eval'",
        "frame-ancestors 'none'",
        "object-src 'none'",
        "base-uri 'none'",
    ] {
        assert!(csp.contains(part), "{csp}");
    }
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    let nonce = csp.split("'nonce-").nth(1).unwrap().split('\'').next().unwrap().to_string();
    let html = r.text().await.unwrap();
    assert!(html.contains(&format!("nonce=\"{nonce}\"")), "the hydration script carries the response's nonce");
    assert!(html.contains(r#"action="/api/login""#) && html.contains(r#"name="password""#));

    // Console pages need a session.
    let r = app.get(&c, "/t/acme/").await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/login?next=/t/acme/");
    assert_eq!(app.get(&c, "/").await.headers()["location"], "/login");
}

#[tokio::test]
async fn signed_in_pages_show_the_frame_and_data() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    app.company("Acme").await;
    let html = app.get(&admin, "/admin/companies").await.text().await.unwrap();
    assert!(html.contains("Acme") && html.contains("/t/acme/"), "the list renders fully on the server");
    assert!(html.contains("Sign out") && html.contains("Administration"));
    let r = app.get(&admin, "/").await;
    assert_eq!(r.headers()["location"], "/admin");
    // A super-admin is asked for a reason before entering a company.
    let html = app.get(&admin, "/t/acme/").await.text().await.unwrap();
    assert!(html.contains("Open this company as a super-admin"), "{html}");
    let r = app.post(&admin, "/api/tenant/act-as", &[("slug", "acme"), ("reason", "Checking the audit trail")]).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let html = app.get(&admin, "/t/acme/").await.text().await.unwrap();
    assert!(html.contains("company.create"), "the company's home lists its audit events");
    assert!(html.contains("Acting as Acme") && html.contains("Checking the audit trail"), "the banner shows");
    // An edit shows as a diff: the old value struck through beside the new one.
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM companies").fetch_one(&app.pool).await.unwrap();
    let r = app
        .post(
            &admin,
            "/api/companies/update",
            &[
                ("id", &id.to_string()),
                ("name", "Acme Two"),
                ("slug", "acme"),
                ("tenant_config", "{}"),
                ("tenant_enabled", "on"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let html = app.get(&admin, "/t/acme/").await.text().await.unwrap();
    assert!(html.contains("<del>Acme</del>") && html.contains("<ins>Acme Two</ins>"), "{html}");
    let r = app.get(&admin, "/no/such/page").await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn the_theme_is_kept_in_a_cookie_and_rendered_by_the_server() {
    let app = spawn_app().await;
    let c = client();
    let r = app.post(&c, "/api/theme", &[("theme", "dark")]).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["set-cookie"].to_str().unwrap().starts_with("atrium_theme=dark"));
    let html = app.get(&c, "/login").await.text().await.unwrap();
    assert!(html.contains(r#"data-theme="dark""#));
    assert_eq!(app.post(&c, "/api/theme", &[("theme", "neon")]).await.status(), 422);
}

#[tokio::test]
async fn seed_is_refused_in_production() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        config: atrium_server::config::Config,
    }
    let config = <Cli as clap::Parser>::parse_from(["atrium", "--env", "production"]).config;
    let err = atrium_server::accounts::seed_demo(&pool, &config).await.unwrap_err();
    assert!(err.to_string().contains("production"));
}
