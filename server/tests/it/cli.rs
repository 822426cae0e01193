//! The `atrium` binary itself: migrate, create-superadmin, seed, and two servers racing.
use crate::helpers::TestDb;
use atrium_server::migrate::MIGRATIONS;
use sqlx::ConnectOptions;
use std::process::{Command, Output};
use std::time::Duration;

pub fn atrium(db: &TestDb, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atrium"));
    cmd.args(args)
        .env("DATABASE_URL", db.options.to_url_lossy().as_str())
        .env("ATRIUM_DATA_DIR", dir.path())
        .env("RUST_LOG", "warn")
        // The binary defaults to production; these tests run it as a developer would.
        .env("ATRIUM_ENV", "development")
        .env_remove("ATRIUM_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("atrium runs")
}

pub fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[tokio::test]
async fn migrate_status_up_down_verify() {
    let db = TestDb::new().await;
    let out = atrium(&db, &["migrate", "status"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("0 applied, {} pending", MIGRATIONS.len())), "{}", text(&out));

    let out = atrium(&db, &["migrate", "up", "--to", "3"], &[]);
    assert!(text(&out).contains("3 migration(s) applied"), "{}", text(&out));
    let out = atrium(&db, &["migrate", "up"], &[]);
    assert!(text(&out).contains(&format!("{} migration(s) applied", MIGRATIONS.len() - 3)), "{}", text(&out));
    let out = atrium(&db, &["migrate", "status"], &[]);
    let t = text(&out);
    assert!(
        t.contains(&format!("{} applied, 0 pending", MIGRATIONS.len()))
            && t.contains("rbac_roles")
            && t.contains("ok "),
        "{t}"
    );

    let out = atrium(&db, &["migrate", "verify"], &[]);
    assert!(
        out.status.success() && text(&out).contains(&format!("{} verify script(s) passed", MIGRATIONS.len())),
        "{}",
        text(&out)
    );

    // `down` without --to reverts only the latest migration.
    let out = atrium(&db, &["migrate", "down"], &[]);
    let latest = format!("reverted {:04}", MIGRATIONS.len());
    assert!(text(&out).contains(&latest) && text(&out).contains("1 migration(s) reverted"), "{}", text(&out));
    let out = atrium(&db, &["migrate", "down", "--to", "0"], &[]);
    assert!(text(&out).contains(&format!("{} migration(s) reverted", MIGRATIONS.len() - 1)), "{}", text(&out));

    // An edited migration makes status fail loudly.
    atrium(&db, &["migrate", "up"], &[]);
    let pool = db.pool().await;
    sqlx::query("UPDATE schema_migrations SET checksum = 'x' WHERE version = 2").execute(&pool).await.unwrap();
    let out = atrium(&db, &["migrate", "status"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("MODIFIED"), "{}", text(&out));
}

#[tokio::test]
async fn create_superadmin_and_seed() {
    let db = TestDb::new().await;
    let out = atrium(&db, &["create-superadmin", "--email", "Root@Example.com"], &[]);
    assert!(!out.status.success(), "no password and no terminal: refused");
    assert!(text(&out).contains("ATRIUM_PASSWORD"), "{}", text(&out));
    let out = atrium(&db, &["create-superadmin", "--email", "root@example.com"], &[("ATRIUM_PASSWORD", "short")]);
    assert!(!out.status.success() && text(&out).contains("at least 12"), "{}", text(&out));
    let out = atrium(
        &db,
        &["create-superadmin", "--email", "Root@Example.com"],
        &[("ATRIUM_PASSWORD", "a long enough password")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pool = db.pool().await;
    let (role, audited): (String, i64) = sqlx::query_as(
        "SELECT u.role::text, (SELECT count(*) FROM audit_log WHERE action = 'user.create' AND user_email = 'system@atrium')
           FROM users u WHERE email = 'root@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((role.as_str(), audited), ("SUPER_ADMIN", 1));

    let out = atrium(&db, &["seed", "--demo"], &[("ATRIUM_ENV", "production")]);
    assert!(!out.status.success() && text(&out).contains("production"), "{}", text(&out));
    let out = atrium(&db, &["seed", "--demo"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let companies: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM companies ORDER BY slug").fetch_all(&pool).await.unwrap();
    assert_eq!(companies, vec!["acme-corporation", "creme-brulee-and-co", "globex", "initech"]);
    let users: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE company_id IS NOT NULL").fetch_one(&pool).await.unwrap();
    assert_eq!(users, 12);
    // Seeding twice changes nothing but the passwords.
    assert!(atrium(&db, &["seed", "--demo"], &[]).status.success());
    let again: i64 = sqlx::query_scalar("SELECT count(*) FROM companies").fetch_one(&pool).await.unwrap();
    assert_eq!(again, 4);
    // Each demo company has an SROI override, with its history row and reason, once.
    let (overrides, history): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM weight_overrides), (SELECT count(*) FROM weight_override_history WHERE change_reason LIKE 'Demo data%')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((overrides, history), (4, 4));
}

#[tokio::test]
async fn two_servers_racing_on_an_empty_database_both_come_up() {
    let db = TestDb::new().await;
    let data_dir = tempfile::tempdir().unwrap();
    let ports: Vec<u16> =
        (0..2).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()).collect();
    let mut children: Vec<_> = ports
        .iter()
        .map(|port| {
            Command::new(env!("CARGO_BIN_EXE_atrium"))
                .arg("serve")
                .env("DATABASE_URL", db.options.to_url_lossy().as_str())
                .env("ATRIUM_ADDR", format!("127.0.0.1:{port}"))
                .env("ATRIUM_ENV", "development")
                .env("ATRIUM_DATA_DIR", data_dir.path())
                .env("RUST_LOG", "warn")
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    let client = reqwest::Client::new();
    for port in &ports {
        let mut ready = false;
        for _ in 0..150 {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{port}/readyz")).send().await {
                if r.status() == 200 {
                    ready = true;
                    break;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(ready, "server on {port} did not become ready");
    }
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let pool = db.pool().await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM schema_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(n, atrium_server::migrate::MIGRATIONS.len() as i64);
    // The first-run super-admin was created once, not twice.
    let admins: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE role = 'SUPER_ADMIN'").fetch_one(&pool).await.unwrap();
    assert_eq!(admins, 1);
}

#[tokio::test]
async fn api_keys_from_the_command_line_are_printed_once_listed_revoked_and_audited() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    atrium_server::migrate::up(&pool, None, |_, _| {}).await.unwrap();
    sqlx::query("INSERT INTO companies (name, slug) VALUES ('Acme', 'acme')").execute(&pool).await.unwrap();
    let secret = [("ATRIUM_SECRET_KEY", crate::helpers::TEST_SECRET)];
    let out = atrium(
        &db,
        &[
            "api-key",
            "create",
            "--company",
            "acme",
            "--name",
            "Deploy bot",
            "--scopes",
            "read:company,read:metrics",
            "--expires-in",
            "90d",
        ],
        &secret,
    );
    assert!(out.status.success(), "{}", text(&out));
    let key = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(app::api_keys::secret::ApiKeySecret::parse(&key).is_some(), "stdout is the key alone: {key}");
    // The stored hash is the one the server derives from the same root secret.
    let pepper = app::api_keys::secret::Pepper::derive(crate::helpers::TEST_SECRET);
    let hash = pepper.hash(&app::api_keys::secret::ApiKeySecret::parse(&key).unwrap()).to_vec();
    let id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM api_keys WHERE key_hash = $1").bind(&hash).fetch_one(&pool).await.unwrap();

    let out = atrium(&db, &["api-key", "list", "--company", "acme"], &secret);
    let t = text(&out);
    assert!(
        out.status.success() && t.contains("Deploy bot") && t.contains(&id.to_string()) && t.contains("Active"),
        "{t}"
    );
    assert!(!t.contains(&key), "the list never shows the secret");

    let out =
        atrium(&db, &["api-key", "create", "--company", "nope", "--name", "x", "--scopes", "read:company"], &secret);
    assert!(!out.status.success() && text(&out).contains("no company has the slug"), "{}", text(&out));
    let out = atrium(&db, &["api-key", "create", "--company", "acme", "--name", "x", "--scopes", "root"], &secret);
    assert!(!out.status.success() && text(&out).contains("not a scope"), "{}", text(&out));

    let out = atrium(&db, &["api-key", "revoke", &id.to_string()], &secret);
    assert!(out.status.success(), "{}", text(&out));
    let revoked: bool = sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM api_keys WHERE id = $1")
        .bind(id)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(revoked);
    let actors: Vec<(String, String)> =
        sqlx::query_as("SELECT action, user_email FROM audit_log WHERE resource = 'api_key' ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(
        actors,
        vec![
            ("api_key.create".to_string(), "system@atrium".to_string()),
            ("api_key.revoke".to_string(), "system@atrium".to_string())
        ]
    );
}

#[tokio::test]
async fn rotate_secret_reseals_and_a_separate_worker_process_delivers_with_the_new_key() {
    use app::integrations::Platform;
    const NEW_ROOT: &str = "the operator's new root secret, long enough";
    let app = crate::helpers::spawn_app().await;
    let company = app.company("Acme").await;
    let rx = crate::receiver::Receiver::start().await;
    let secret = app.integration(company, Platform::Workday, &rx.url).await;
    let q = app.enqueue(company, Platform::Workday, serde_json::json!({"via": "atrium worker"})).await;

    // Without the old key the credentials cannot be opened, and nothing changes.
    let out = atrium(&app.db, &["rotate-secret"], &[("ATRIUM_SECRET_KEY", NEW_ROOT)]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("ATRIUM_SECRET_KEY_PREVIOUS"), "{}", text(&out));
    let out = atrium(
        &app.db,
        &["rotate-secret"],
        &[("ATRIUM_SECRET_KEY", NEW_ROOT), ("ATRIUM_SECRET_KEY_PREVIOUS", crate::helpers::TEST_SECRET)],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("re-encrypted 1 credential set(s)"), "{}", text(&out));
    assert_eq!(app.audit_count("secret.rotate").await, 1);

    let data_dir = tempfile::tempdir().unwrap();
    let mut worker = Command::new(env!("CARGO_BIN_EXE_atrium"))
        .arg("worker")
        .env("DATABASE_URL", app.db.options.to_url_lossy().as_str())
        .env("ATRIUM_SECRET_KEY", NEW_ROOT)
        .env("ATRIUM_ENV", "development")
        .env("ATRIUM_DATA_DIR", data_dir.path())
        .env("RUST_LOG", "warn")
        .spawn()
        .unwrap();
    app.wait_for(q.id, "success", Duration::from_secs(15)).await;
    assert!(crate::receiver::verify(&secret, &rx.hits()[0]), "signed with the same signing secret");
    // SIGTERM: a clean stop.
    Command::new("kill").args(["-TERM", &worker.id().to_string()]).status().unwrap();
    let status = worker.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn without_atrium_env_the_server_is_production_and_wants_a_secret_key() {
    let db = TestDb::new().await;
    let data_dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_atrium"))
        .arg("serve")
        .env("DATABASE_URL", db.options.to_url_lossy().as_str())
        .env("ATRIUM_ADDR", "127.0.0.1:0")
        .env("ATRIUM_DATA_DIR", data_dir.path())
        .env("RUST_LOG", "warn")
        .env_remove("ATRIUM_ENV")
        .env_remove("ATRIUM_SECRET_KEY")
        .output()
        .expect("atrium runs");
    assert!(!out.status.success());
    assert!(text(&out).contains("ATRIUM_SECRET_KEY is required"), "{}", text(&out));
}

#[tokio::test]
async fn an_operator_resets_a_lost_second_factor_from_the_command_line() {
    let db = TestDb::new().await;
    let out = atrium(
        &db,
        &["create-superadmin", "--email", "root@example.com"],
        &[("ATRIUM_PASSWORD", "a long enough password")],
    );
    assert!(out.status.success(), "{}", text(&out));
    let pool = db.pool().await;
    sqlx::query(
        "UPDATE users SET totp_secret_sealed = 'sealed', totp_key_version = 1, totp_enabled_at = now(),
                          totp_recovery_codes = ARRAY['x'::bytea] WHERE email = 'root@example.com'",
    )
    .execute(&pool)
    .await
    .unwrap();
    let out = atrium(&db, &["reset-two-factor", "--email", "Root@Example.com"], &[]);
    assert!(out.status.success() && text(&out).contains("is off"), "{}", text(&out));
    let (on, codes, audited): (bool, i32, i64) = sqlx::query_as(
        "SELECT totp_enabled_at IS NOT NULL, cardinality(totp_recovery_codes),
                (SELECT count(*) FROM audit_log WHERE action = 'user.two_factor_reset' AND user_email = 'system@atrium')
           FROM users WHERE email = 'root@example.com'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((on, codes, audited), (false, 0, 1));
    let out = atrium(&db, &["reset-two-factor", "--email", "root@example.com"], &[]);
    assert!(out.status.success() && text(&out).contains("nothing changed"), "{}", text(&out));
    let out = atrium(&db, &["reset-two-factor", "--email", "nobody@example.com"], &[]);
    assert!(!out.status.success() && text(&out).contains("no account"), "{}", text(&out));
}
