//! Operating Atrium: backups and restores, guarded migrations and the migration log.
use crate::cli::{atrium, text};
use crate::helpers::TestDb;
use atrium_server::migrate::MIGRATIONS;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const PRODUCTION: [(&str, &str); 1] = [("ATRIUM_ENV", "production")];

/// Every table of the schema and its row count.
async fn row_counts(db: &TestDb) -> BTreeMap<String, i64> {
    let pool = db.pool().await;
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY 1",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let mut counts = BTreeMap::new();
    for t in tables {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM \"{t}\"")).fetch_one(&pool).await.unwrap();
        counts.insert(t, n);
    }
    pool.close().await;
    counts
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(dir).map(|d| d.map(|e| e.unwrap().path()).collect()).unwrap_or_default();
    v.sort();
    v
}

fn dumps(dir: &Path) -> Vec<PathBuf> {
    files(dir).into_iter().filter(|p| p.extension().is_some_and(|e| e == "dump")).collect()
}

#[tokio::test]
async fn a_backup_restores_into_a_fresh_database_with_every_row() {
    let source = TestDb::new().await;
    let out = atrium(&source, &["seed", "--demo"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let before = row_counts(&source).await;
    assert!(before["audit_log"] > 0 && before["users"] > 0, "{before:?}");

    let dir = tempfile::tempdir().unwrap();
    let out = atrium(&source, &["backup", "--to", dir.path().to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let taken = dumps(dir.path());
    assert_eq!(taken.len(), 1, "{:?}", files(dir.path()));
    let dump = &taken[0];
    assert!(text(&out).contains(&dump.display().to_string()), "{}", text(&out));
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(dump), 0o600, "only its owner reads a dump");
        assert_eq!(mode(Path::new(&format!("{}.json", dump.display()))), 0o600);
    }
    // Only the dump and its manifest: nothing partial left behind.
    assert_eq!(files(dir.path()).len(), 2, "{:?}", files(dir.path()));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", dump.display())).unwrap()).unwrap();
    assert_eq!(manifest["size"].as_u64().unwrap(), std::fs::metadata(dump).unwrap().len());
    assert_eq!(manifest["schema_version"].as_i64().unwrap(), MIGRATIONS.len() as i64);
    assert_eq!(manifest["sha256"].as_str().unwrap().len(), 64);

    let target = TestDb::new().await;
    let out = atrium(&target, &["restore", dump.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(row_counts(&target).await, before, "the same rows in every table");
    // The restored database is a working Atrium: current, and its audit chains intact.
    let out = atrium(&target, &["migrate", "status"], &[]);
    assert!(text(&out).contains(&format!("{} applied, 0 pending", MIGRATIONS.len())), "{}", text(&out));
    let out = atrium(&target, &["audit", "verify"], &[]);
    assert!(out.status.success(), "{}", text(&out));

    // A database that holds anything is never restored over.
    let out = atrium(&target, &["restore", dump.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not empty"), "{}", text(&out));

    // A damaged dump is refused before it touches the database.
    let damaged_dir = tempfile::tempdir().unwrap();
    let damaged = damaged_dir.path().join("damaged.dump");
    let mut bytes = std::fs::read(dump).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&damaged, bytes).unwrap();
    std::fs::copy(format!("{}.json", dump.display()), format!("{}.json", damaged.display())).unwrap();
    let empty = TestDb::new().await;
    let out = atrium(&empty, &["restore", damaged.to_str().unwrap()], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("does not match its manifest"), "{}", text(&out));
    assert!(row_counts(&empty).await.is_empty(), "nothing restored");
    // Without its manifest, only when asked to.
    std::fs::remove_file(format!("{}.json", damaged.display())).unwrap();
    std::fs::copy(dump, &damaged).unwrap();
    let out = atrium(&empty, &["restore", damaged.to_str().unwrap()], &[]);
    assert!(!out.status.success() && text(&out).contains("--unchecked"), "{}", text(&out));
    let out = atrium(&empty, &["restore", "--unchecked", damaged.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(row_counts(&empty).await, before);
}

#[tokio::test]
async fn production_backs_up_before_migrating_unless_told_not_to() {
    let db = TestDb::new().await;
    let dir = tempfile::tempdir().unwrap();
    let backups = [("ATRIUM_ENV", "production"), ("ATRIUM_BACKUP_DIR", dir.path().to_str().unwrap())];

    // A first install has nothing to lose: no backup.
    let out = atrium(&db, &["migrate", "up", "--to", "16"], &backups);
    assert!(out.status.success(), "{}", text(&out));
    assert!(dumps(dir.path()).is_empty());

    let out = atrium(&db, &["migrate", "up", "--to", "17"], &backups);
    assert!(out.status.success(), "{}", text(&out));
    let taken = dumps(dir.path());
    assert_eq!(taken.len(), 1, "one backup before 0017");
    let pool = db.pool().await;
    let logged: Option<String> =
        sqlx::query_scalar("SELECT backup FROM schema_migration_log WHERE version = 17 AND outcome = 'applied'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(logged.as_deref(), Some(taken[0].to_str().unwrap()), "the log names the backup");

    let out = atrium(&db, &["migrate", "up", "--no-backup"], &backups);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dumps(dir.path()).len(), 1, "--no-backup takes none");
    let logged: Option<String> = sqlx::query_scalar("SELECT backup FROM schema_migration_log WHERE version = 18")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(logged, None);

    // Down in production: refused without the confirmation, and it says what would go.
    let out = atrium(&db, &["migrate", "down", "--to", "0"], &backups);
    assert!(!out.status.success());
    let t = text(&out);
    assert!(t.contains("--yes-destroy-data") && t.contains("permissions: "), "{t}");
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM schema_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(version as usize, MIGRATIONS.len(), "nothing reverted");

    let out = atrium(&db, &["migrate", "down", "--yes-destroy-data"], &backups);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 migration(s) reverted"), "{}", text(&out));
    assert_eq!(dumps(dir.path()).len(), 2, "a backup before the revert");
    let (outcome, backup): (String, Option<String>) = sqlx::query_as(
        "SELECT outcome, backup FROM schema_migration_log WHERE direction = 'down' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(outcome, "reverted");
    assert!(backup.is_some());

    // Development asks for no confirmation and takes no backup.
    let out = atrium(&db, &["migrate", "down"], &[("ATRIUM_BACKUP_DIR", dir.path().to_str().unwrap())]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(dumps(dir.path()).len(), 2);
    pool.close().await;
}

#[tokio::test]
async fn a_backup_that_cannot_be_written_stops_the_migration() {
    let db = TestDb::new().await;
    let out = atrium(&db, &["migrate", "up", "--to", "17"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let blocker = tempfile::NamedTempFile::new().unwrap();
    // The backup folder is a file: it cannot be created.
    let dir = blocker.path().join("backups");
    let out = atrium(&db, &["migrate", "up"], &[PRODUCTION[0], ("ATRIUM_BACKUP_DIR", dir.to_str().unwrap())]);
    assert!(!out.status.success());
    assert!(text(&out).contains("the backup before migrating failed, so nothing was migrated"), "{}", text(&out));
    let pool = db.pool().await;
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM schema_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(version, 17);
    let (v, outcome, error): (i64, String, String) =
        sqlx::query_as("SELECT version, outcome, error FROM schema_migration_log ORDER BY id DESC LIMIT 1")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((v, outcome.as_str()), (18, "failed"));
    assert!(error.contains("backup"), "{error}");
    pool.close().await;
}

#[tokio::test]
async fn a_failed_migration_is_in_the_log_and_the_schema_is_as_it_was() {
    let db = TestDb::new().await;
    let out = atrium(&db, &["migrate", "up", "--to", "17"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let pool = db.pool().await;
    // Someone created, by hand, a function of the name 0018 uses, with another return type.
    sqlx::raw_sql("CREATE FUNCTION atrium_session_actor_changed() RETURNS int LANGUAGE sql AS 'SELECT 1'")
        .execute(&pool)
        .await
        .unwrap();

    let out = atrium(&db, &["migrate", "up"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).contains("0018_actor_changes.up.sql"), "{}", text(&out));

    // The runbook's query finds it.
    let (version, name, error, host, run_by): (i64, String, String, String, String) = sqlx::query_as(
        "SELECT version, name, error, host, run_by FROM schema_migration_log
          WHERE outcome = 'failed' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((version, name.as_str()), (18, "actor_changes"));
    assert!(error.contains("cannot change return type"), "{error}");
    assert!(!host.is_empty() && run_by.starts_with("migrate up"), "{host} {run_by}");
    let version: i64 = sqlx::query_scalar("SELECT max(version) FROM schema_migrations").fetch_one(&pool).await.unwrap();
    assert_eq!(version, 17, "the failed migration rolled back");
    let triggers: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_trigger WHERE tgname = 'users_actor_changed'")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(triggers, 0, "nothing of 0018 is left half-applied");

    // `migrate status` shows the attempt.
    let out = atrium(&db, &["migrate", "status"], &[]);
    let t = text(&out);
    assert!(t.contains("migration log") && t.contains("failed") && t.contains("cannot change return type"), "{t}");

    // Fixed by hand, it goes through, and the log has both attempts.
    sqlx::raw_sql("DROP FUNCTION atrium_session_actor_changed()").execute(&pool).await.unwrap();
    let out = atrium(&db, &["migrate", "up"], &[]);
    assert!(out.status.success(), "{}", text(&out));
    let outcomes: Vec<String> =
        sqlx::query_scalar("SELECT outcome FROM schema_migration_log WHERE version = 18 ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(outcomes, ["failed", "applied"]);
    pool.close().await;
}

mod maintenance_mode {
    use crate::cli::{atrium, text};
    use crate::helpers::*;
    use crate::receiver::Receiver;
    use app::domain::Role;
    use app::integrations::Platform;
    use reqwest::Method;
    use std::time::Duration;

    async fn switch(app: &TestApp, root: &reqwest::Client, on: bool, message: &str) -> reqwest::Response {
        app.post(
            root,
            "/api/admin/maintenance/set",
            &[("active", if on { "true" } else { "false" }), ("message", message)],
        )
        .await
    }

    async fn put_weights(app: &TestApp, key: &str) -> reqwest::Response {
        client()
            .put(app.url("/api/v1/weights/sroi"))
            .bearer_auth(key)
            .json(&serde_json::json!({ "weights": { "volunteer_hour_value": 40 }, "reason": "maintenance test" }))
            .send()
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn maintenance_refuses_every_change_keeps_reads_and_holds_the_worker() {
        let app = spawn_app().await;
        let company = app.company("Acme").await;
        let slug = app.slug(company).await;
        let root = app.superadmin().await;
        let (_, admin) = app.member(company, "admin@acme.test", Role::Admin).await;
        let (_, key) = app.api_key(company, &["read:weights", "write:weights"], None).await;
        let rx = Receiver::start().await;
        app.integration(company, Platform::Benevity, &rx.url).await;
        let queued = app.enqueue(company, Platform::Benevity, serde_json::json!({ "n": 1 })).await;

        // Another process, with a signed-in member, hears the switch within a second.
        let (peer, _peer_api) = app.peer().await;
        let on_peer = client();
        let peer_post = |c: &reqwest::Client, path: &str, form: &[(&str, &str)]| {
            c.post(format!("http://{peer}{path}")).header("Origin", format!("http://{peer}")).form(form).send()
        };
        let r =
            peer_post(&on_peer, "/api/login", &[("email", "admin@acme.test"), ("password", PASSWORD), ("next", "")])
                .await
                .unwrap();
        assert_eq!(r.status(), 200);

        // Only a super-admin throws the switch.
        assert_eq!(switch(&app, &admin, true, "").await.status(), 403);
        let r = switch(&app, &root, true, "Back by 14:30 UTC.").await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert_eq!(app.audit_count("maintenance.on").await, 1);
        let before = app.fingerprint().await;
        eventually("the other process shows the banner", Duration::from_secs(1), || async {
            let me = json(peer_post(&on_peer, "/api/me", &[]).await.unwrap()).await;
            me["maintenance"]["active"] == true && me["maintenance"]["message"] == "Back by 14:30 UTC."
        })
        .await;

        // A console change: 503, Retry-After, the operator's message, nothing written.
        let r = app
            .post(&admin, "/api/audit/retention", &[("slug", &slug), ("days", "400"), ("legal_hold_reason", "")])
            .await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "60");
        let body = r.text().await.unwrap();
        assert!(body.contains("Unavailable") && body.contains("Back by 14:30 UTC."), "{body}");
        // A REST change: a 503 problem with Retry-After.
        let r = put_weights(&app, &key).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "60");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        assert!(r.text().await.unwrap().contains("Back by 14:30 UTC."));
        // The super-admin's own changes are refused too (creating a company)...
        assert_eq!(app.create_company(&root, "Borealis", "").await.status(), 503);
        assert_eq!(app.fingerprint().await, before, "nothing was written");
        // Opening a company to look, and leaving it, go on (with their platform copies).
        let r =
            app.post(&root, "/api/tenant/act-as", &[("slug", &slug), ("reason", "Checking during the window")]).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert_eq!(app.post(&root, "/api/tenant/act-as/end", &[]).await.status(), 200);

        // Reads go on, with the banner; signing in goes on.
        let page = app.get(&admin, &format!("/t/{slug}/users")).await;
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(html.contains("maintenance-banner") && html.contains("Back by 14:30 UTC."), "banner shown");
        assert_eq!(app.api(Method::GET, "/api/v1/weights/sroi", Some(&key)).await.status(), 200);
        let late = client();
        assert_eq!(app.login(&late, "admin@acme.test", PASSWORD).await.status(), 200);

        // The worker claims nothing while it is on.
        let w = app.worker(fast_worker());
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(app.delivery_status(queued.id).await, "queued");
        assert!(rx.hits().is_empty());

        // Off again: changes and deliveries go through.
        let r = switch(&app, &root, false, "").await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        assert_eq!(app.audit_count("maintenance.off").await, 1);
        app.wait_for(queued.id, "success", Duration::from_secs(10)).await;
        w.shutdown().await;
        assert_eq!(put_weights(&app, &key).await.status(), 200);
        let html = app.get(&admin, &format!("/t/{slug}/users")).await.text().await.unwrap();
        assert!(!html.contains("maintenance-banner"));
    }

    #[tokio::test]
    async fn a_message_with_control_characters_is_refused() {
        let app = spawn_app().await;
        let root = app.superadmin().await;
        let r = switch(&app, &root, true, "line\u{0}break").await;
        assert_eq!(r.status(), 422);
        assert!(r.text().await.unwrap().contains("control characters"));
        assert_eq!(app.audit_count("maintenance.on").await, 0);
    }

    #[tokio::test]
    async fn the_command_line_switches_it_and_migrate_up_can_hold_it_for_the_window() {
        let db = TestDb::new().await;
        let out = atrium(&db, &["maintenance", "on", "--message", "Upgrading"], &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("maintenance mode on: Upgrading"), "{}", text(&out));
        let out = atrium(&db, &["maintenance", "status"], &[]);
        assert!(text(&out).contains("maintenance mode on: Upgrading"), "{}", text(&out));
        let out = atrium(&db, &["maintenance", "off"], &[]);
        assert!(text(&out).contains("maintenance mode off"), "{}", text(&out));

        // Maintenance mode arrives with 0019: a run that applies it cannot hold the window.
        let out = atrium(&db, &["migrate", "down", "--to", "18"], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let out = atrium(&db, &["migrate", "up", "--to", "19", "--maintenance"], &[]);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("could not be on while they ran"), "{}", text(&out));
        // After it, `--maintenance` turns it on before the migrations and off after them.
        let out = atrium(&db, &["migrate", "up", "--maintenance"], &[]);
        assert!(out.status.success(), "{}", text(&out));
        let t = text(&out);
        let (on, applied, off) =
            (t.find("maintenance mode on"), t.find("applied 0020"), t.find("maintenance mode off"));
        assert!(on < applied && applied < off && on.is_some(), "{t}");
        let pool = db.pool().await;
        let actions: Vec<String> =
            sqlx::query_scalar("SELECT action FROM audit_log WHERE action LIKE 'maintenance.%' ORDER BY id")
                .fetch_all(&pool)
                .await
                .unwrap();
        assert_eq!(actions, ["maintenance.on", "maintenance.off", "maintenance.on", "maintenance.off"]);
        let who: Vec<String> = sqlx::query_scalar("SELECT user_email FROM audit_log WHERE action LIKE 'maintenance.%'")
            .fetch_all(&pool)
            .await
            .unwrap();
        assert!(who.iter().all(|w| w == "system@atrium"), "audited as the system: {who:?}");
        pool.close().await;
    }
}

mod root_secret_rotation {
    use crate::cli::{atrium, text};
    use crate::helpers::*;
    use app::api_keys::secret::{Pepper, Peppers};
    use atrium_server::api::keys::{Refusal, Verifier};

    const NEXT: &str = "the next root secret, also at least thirty-two characters";

    fn verifier(app: &TestApp, current: &str, previous: Option<&str>) -> Verifier {
        let peppers = Peppers { current: Pepper::derive(current), previous: previous.map(Pepper::derive) };
        Verifier::new(app.app_pool.clone(), app.pool.clone(), peppers, false)
    }

    async fn pepper_id(app: &TestApp, key: uuid::Uuid) -> Option<String> {
        sqlx::query_scalar("SELECT pepper_id FROM api_keys WHERE id = $1").bind(key).fetch_one(&app.pool).await.unwrap()
    }

    #[tokio::test]
    async fn a_rotation_breaks_no_key_and_moves_each_when_it_is_next_used() {
        let app = spawn_app().await;
        let company = app.company("Acme").await;
        let (used, used_key) = app.api_key(company, &["read:company"], None).await;
        let (_, idle_key) = app.api_key(company, &["read:company"], None).await;
        assert_eq!(pepper_id(&app, used).await, Some(Pepper::derive(TEST_SECRET).id()));

        // The new secret alone knows neither key: that is the outage a rotation must avoid.
        let only_next = verifier(&app, NEXT, None);
        assert!(matches!(only_next.verify(&used_key).await, Err(Refusal::Invalid)));

        let env = [("ATRIUM_SECRET_KEY", NEXT), ("ATRIUM_SECRET_KEY_PREVIOUS", TEST_SECRET)];
        let out = atrium(&app.db, &["rotate-secret"], &env);
        assert!(out.status.success(), "{}", text(&out));
        assert!(text(&out).contains("2 live API key(s) still hashed under an earlier secret"), "{}", text(&out));

        // During the rotation the key works, and its first use moves it to the new pepper.
        let rotating = verifier(&app, NEXT, Some(TEST_SECRET));
        assert_eq!(rotating.verify(&used_key).await.unwrap().id, used);
        assert_eq!(pepper_id(&app, used).await, Some(Pepper::derive(NEXT).id()));
        assert_eq!(rotating.verify(&used_key).await.unwrap().id, used, "and keeps working");
        assert_eq!(only_next.verify(&used_key).await.unwrap().id, used, "the new secret alone knows it now");
        assert!(matches!(verifier(&app, TEST_SECRET, None).verify(&used_key).await, Err(Refusal::Invalid)));

        // A made-up key is refused whatever the secrets.
        let made_up = app::api_keys::secret::ApiKeySecret::generate();
        assert!(matches!(rotating.verify(made_up.expose()).await, Err(Refusal::Invalid)));

        let out = atrium(&app.db, &["rotate-secret"], &env);
        assert!(text(&out).contains("1 live API key(s) still hashed"), "{}", text(&out));
        assert_eq!(rotating.verify(&idle_key).await.unwrap().company_id, company);
        let out = atrium(&app.db, &["rotate-secret"], &env);
        assert!(text(&out).contains("ATRIUM_SECRET_KEY_PREVIOUS can go"), "{}", text(&out));
        assert_eq!(app.audit_count("secret.rotate").await, 3);
    }
}

mod seeing_it_run {
    use crate::helpers::*;
    use crate::receiver::Receiver;
    use app::integrations::Platform;
    use prometheus_parse::{Scrape, Value};
    use reqwest::Method;
    use sqlx::ConnectOptions;
    use std::io::{Read, Write};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> Option<Value> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| s.value.clone())
    }

    fn number(v: Option<Value>) -> f64 {
        match v {
            Some(Value::Counter(n) | Value::Gauge(n) | Value::Untyped(n)) => n,
            other => panic!("not a number: {other:?}"),
        }
    }

    #[tokio::test]
    async fn metrics_parse_as_prometheus_text_and_count_what_happens() {
        let app = spawn_app().await;
        let company = app.company("Acme").await;
        let (_, key) = app.api_key(company, &["read:company"], None).await;
        let rx = Receiver::start().await;
        app.integration(company, Platform::Benevity, &rx.url).await;
        app.enqueue(company, Platform::Benevity, serde_json::json!({ "n": 1 })).await;
        for _ in 0..3 {
            assert_eq!(app.api(Method::GET, "/api/v1/company", Some(&key)).await.status(), 200);
        }
        let c = client();
        assert_eq!(app.login(&c, "nobody@acme.test", "wrong password!").await.status(), 401);
        assert_eq!(app.get(&c, "/no/such/page/at/all").await.status(), 404);

        let r = app.get(&client(), "/metrics").await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let body = r.text().await.unwrap();
        let scrape = Scrape::parse(body.lines().map(|l| Ok(l.to_string()))).expect("Prometheus text");

        let company_reads = value(
            &scrape,
            "atrium_http_requests_total",
            &[("route", "/api/v1/company"), ("method", "GET"), ("status", "200")],
        );
        assert!(number(company_reads) >= 3.0, "{body}");
        assert!(
            number(value(&scrape, "atrium_http_requests_total", &[("route", "unmatched"), ("status", "404")])) >= 1.0
        );
        match value(&scrape, "atrium_http_request_duration_seconds", &[("route", "/api/v1/company")]) {
            Some(Value::Histogram(buckets)) => {
                assert!(buckets.len() >= 10, "{buckets:?}");
                assert!(buckets.last().unwrap().count >= 3.0);
            }
            other => panic!("a latency histogram: {other:?}"),
        }
        assert!(number(value(&scrape, "atrium_sign_in_failures_total", &[("reason", "bad_credentials")])) >= 1.0);
        // An unknown method is one label, whatever its name.
        let odd = reqwest::Method::from_bytes(b"MFOO").unwrap();
        client().request(odd, app.url("/")).send().await.unwrap();
        let body = app.get(&client(), "/metrics").await.text().await.unwrap();
        assert!(!body.contains("MFOO") && body.contains("method=\"other\""), "unknown methods fold into one label");
        assert!(number(value(&scrape, "atrium_api_key_cache_total", &[("result", "miss")])) >= 1.0);
        assert!(value(&scrape, "atrium_api_key_cache_total", &[("result", "hit")]).is_some(), "three reads: cached");
        assert!(number(value(&scrape, "atrium_db_pool_max_connections", &[("pool", "app")])) >= 1.0);
        assert!(value(&scrape, "atrium_db_pool_connections", &[("pool", "app"), ("state", "idle")]).is_some());
        assert_eq!(number(value(&scrape, "atrium_outbox_pending", &[])), 1.0);
        assert_eq!(number(value(&scrape, "atrium_outbox_due", &[])), 1.0);
        assert!(number(value(&scrape, "atrium_outbox_oldest_due_seconds", &[])) >= 0.0);
        assert_eq!(number(value(&scrape, "atrium_maintenance_active", &[])), 0.0);
        assert!(!body.contains(&key), "no secret in the metrics");
    }

    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
    }

    fn wait_listening(port: u16) {
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(start.elapsed() < Duration::from_secs(30), "the server never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[tokio::test]
    async fn metrics_are_off_by_default_and_can_have_their_own_address() {
        let db = TestDb::new().await;
        let (port, metrics_port) = (free_port(), free_port());
        let data = tempfile::tempdir().unwrap();
        let mut server = Command::new(env!("CARGO_BIN_EXE_atrium"))
            .arg("serve")
            .env("DATABASE_URL", db.options.to_url_lossy().as_str())
            .env("ATRIUM_ADDR", format!("127.0.0.1:{port}"))
            .env("ATRIUM_METRICS_ADDR", format!("127.0.0.1:{metrics_port}"))
            .env("ATRIUM_ENV", "development")
            .env("ATRIUM_DATA_DIR", data.path())
            .env("ATRIUM_WORKER", "false")
            .env("RUST_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port);
        wait_listening(metrics_port);
        let main = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
        assert_eq!(main.status(), 404, "not on the console's address");
        let own = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics")).await.unwrap();
        assert_eq!(own.status(), 200);
        assert!(own.text().await.unwrap().contains("atrium_outbox_pending"));
        server.kill().unwrap();
        server.wait().unwrap();
    }

    /// `atrium serve` with JSON logs and a short grace period.
    fn serve(db: &TestDb, port: u16, data: &std::path::Path) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_atrium"))
            .arg("serve")
            .env("DATABASE_URL", db.options.to_url_lossy().as_str())
            .env("ATRIUM_ADDR", format!("127.0.0.1:{port}"))
            .env("ATRIUM_ENV", "development")
            .env("ATRIUM_DATA_DIR", data)
            .env("ATRIUM_LOG_FORMAT", "json")
            .env("ATRIUM_SHUTDOWN_GRACE_SECS", "3")
            .env("RUST_LOG", "warn,access=debug")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn sigterm(child: &std::process::Child) {
        Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    }

    #[tokio::test]
    async fn json_logs_carry_the_request_id_and_sigterm_lets_requests_in_flight_finish() {
        let db = TestDb::new().await;
        let data = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut server = serve(&db, port, data.path());
        wait_listening(port);
        let r = reqwest::get(format!("http://127.0.0.1:{port}/login")).await.unwrap();
        let request_id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        // A one-time link's token is a credential: never in a log line.
        let token = "7f3a".repeat(16);
        reqwest::get(format!("http://127.0.0.1:{port}/invite/{token}")).await.unwrap();

        // A request in flight: its body only half sent.
        let body = "email=nobody%40acme.test&password=wrong+password&next=";
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(
            conn,
            "POST /api/login HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Accept: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            &body[..10]
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(300));
        sigterm(&server);
        std::thread::sleep(Duration::from_millis(500));
        // No new connections once stopping...
        assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the listener is closed after SIGTERM");
        // ...but the one in flight is answered.
        conn.write_all(body[10..].as_bytes()).unwrap();
        let mut answer = String::new();
        conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        conn.read_to_string(&mut answer).unwrap();
        assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
        let status = server.wait().unwrap();
        assert!(status.success(), "{status:?}");

        let mut logs = String::new();
        server.stderr.take().unwrap().read_to_string(&mut logs).unwrap();
        let lines: Vec<serde_json::Value> =
            logs.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}"))).collect();
        assert!(
            lines.iter().any(|l| l["span"]["request_id"] == request_id.as_str() && l["target"] == "access"),
            "a line with the request's id: {logs}"
        );
        assert!(!logs.contains(&token), "the invitation token was logged: {logs}");
        assert!(logs.contains("/invite/…"), "{logs}");

        // A client that never finishes its request does not hold the process past the grace.
        let mut server = serve(&db, port, data.path());
        wait_listening(port);
        let mut stuck = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        write!(stuck, "POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nemail=").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        let stopping = Instant::now();
        sigterm(&server);
        let status = server.wait().unwrap();
        let took = stopping.elapsed();
        assert!(status.success(), "{status:?}");
        assert!(took >= Duration::from_secs(3) && took < Duration::from_secs(8), "stopped after {took:?}");
    }
}
