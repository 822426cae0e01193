use crate::helpers::{spawn_app, TestDb};
use atrium_server::migrate::{self, MigrateError, MIGRATIONS};
use sqlx::PgPool;

async fn our_objects(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                  WHERE n.nspname IN ('public', 'tower_sessions'))
              + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public')
              + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                  WHERE n.nspname = 'public' AND t.typtype = 'e')
              + (SELECT count(*) FROM pg_trigger WHERE NOT tgisinternal)
              + (SELECT count(*) FROM pg_namespace WHERE nspname = 'tower_sessions')",
    )
    .fetch_one(pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn up_verify_down_to_zero_and_up_again() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    let ran = migrate::up(&pool, None, |_, _| {}).await.unwrap();
    assert_eq!(ran.len(), MIGRATIONS.len());
    assert_eq!(migrate::verify(&pool, |_| {}).await.unwrap(), MIGRATIONS.len());
    assert!(migrate::is_current(&pool).await.unwrap());

    let reverted = migrate::down(&pool, 0, |_| {}).await.unwrap();
    assert_eq!(reverted.len(), MIGRATIONS.len());
    assert_eq!(our_objects(&pool).await, 0, "down to zero left tables, functions, types or triggers behind");

    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    assert_eq!(migrate::verify(&pool, |_| {}).await.unwrap(), MIGRATIONS.len());
    // Running up again is a no-op.
    assert!(migrate::up(&pool, None, |_, _| {}).await.unwrap().is_empty());
}

#[tokio::test]
async fn down_to_a_version_reverts_only_newer_ones() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    let reverted = migrate::down(&pool, 3, |_| {}).await.unwrap();
    assert_eq!(reverted, MIGRATIONS.iter().rev().filter(|m| m.version > 3).map(|m| m.version).collect::<Vec<_>>());
    let left: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
    assert_eq!(left, vec![1, 2, 3]);
    assert!(sqlx::query("SELECT 1 FROM audit_log").fetch_optional(&pool).await.is_err(), "audit_log should be gone");
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    migrate::verify(&pool, |_| {}).await.unwrap();
}

#[tokio::test]
async fn pre_phase_c_data_is_mapped() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, Some(1), |_, _| {}).await.unwrap();
    sqlx::raw_sql(
        "INSERT INTO companies (name, created_at) VALUES
           ('Acme', now() - interval '3 days'), ('Acme', now() - interval '2 days'),
           ('Crème Brûlée & Co., Ltd.', now()), ('Ødegaard/Straße', now()), ('!!!', now());
         INSERT INTO users (company_id, email, role)
           SELECT id, 'admin@' || md5(id::text) || '.test', 'admin' FROM companies;
         INSERT INTO users (company_id, email, role)
           SELECT id, 'viewer@' || md5(id::text) || '.test', 'viewer' FROM companies;
         INSERT INTO users (company_id, email, role)
           SELECT id, 'mixed@' || md5(id::text) || '.test', ' Admin ' FROM companies LIMIT 1;",
    )
    .execute(&pool)
    .await
    .unwrap();
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    migrate::verify(&pool, |_| {}).await.unwrap();

    let slugs: Vec<(String, String)> =
        sqlx::query_as("SELECT name, slug FROM companies ORDER BY created_at, slug").fetch_all(&pool).await.unwrap();
    let slug_of = |name: &str| slugs.iter().filter(|(n, _)| n == name).map(|(_, s)| s.clone()).collect::<Vec<_>>();
    assert_eq!(slug_of("Acme"), vec!["acme", "acme-2"], "the older company keeps the plain slug");
    assert_eq!(slug_of("Crème Brûlée & Co., Ltd."), vec!["creme-brulee-and-co-ltd"]);
    assert_eq!(slug_of("Ødegaard/Straße"), vec!["odegaard-strasse"]);
    assert_eq!(slug_of("!!!"), vec!["company"]);

    let roles: Vec<(String, i64)> =
        sqlx::query_as("SELECT role::text, count(*) FROM users GROUP BY role ORDER BY role::text")
            .fetch_all(&pool)
            .await
            .unwrap();
    assert_eq!(roles, vec![("ADMIN".to_string(), 6), ("VIEWER".to_string(), 5)]);
    let allowed_ok: bool = sqlx::query_scalar("SELECT bool_and(company_id = ANY (allowed_tenants)) FROM users")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(allowed_ok);
}

#[tokio::test]
async fn a_failing_migration_leaves_the_schema_as_it_was() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, Some(2), |_, _| {}).await.unwrap();
    let c: uuid::Uuid =
        sqlx::query_scalar("INSERT INTO companies (name) VALUES ('X') RETURNING id").fetch_one(&pool).await.unwrap();
    sqlx::query("INSERT INTO users (company_id, email, role) VALUES ($1, 'o@x.test', 'owner')")
        .bind(c)
        .execute(&pool)
        .await
        .unwrap();

    let err = migrate::up(&pool, None, |_, _| {}).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, MigrateError::Statement { .. }), "{text}");
    assert!(text.contains("0003_rbac_roles.up.sql"), "names the file: {text}");
    assert!(text.contains("'owner'"), "carries PostgreSQL's message: {text}");
    assert!(text.contains("DO $$"), "shows the statement: {text}");

    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version").fetch_all(&pool).await.unwrap();
    assert_eq!(versions, vec![1, 2]);
    let enum_exists: bool =
        sqlx::query_scalar("SELECT to_regtype('user_role_enum') IS NOT NULL").fetch_one(&pool).await.unwrap();
    assert!(!enum_exists, "the enum created by the failed migration's first statement was rolled back");
    let role_type: String = sqlx::query_scalar(
        "SELECT data_type FROM information_schema.columns WHERE table_name = 'users' AND column_name = 'role'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(role_type, "character varying");

    // Fix the data and the same binary goes on.
    sqlx::query("UPDATE users SET role = 'admin' WHERE role = 'owner'").execute(&pool).await.unwrap();
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    migrate::verify(&pool, |_| {}).await.unwrap();
}

#[tokio::test]
async fn an_edited_migration_is_caught_by_its_checksum() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    sqlx::query("UPDATE schema_migrations SET checksum = 'deadbeef' WHERE version = 4").execute(&pool).await.unwrap();
    let err = migrate::up(&pool, None, |_, _| {}).await.unwrap_err();
    assert!(matches!(err, MigrateError::Checksum { .. }));
    assert!(err.to_string().contains("0004_api_keys.up.sql"), "{err}");
    assert!(!migrate::is_current(&pool).await.unwrap());
    let rows = migrate::status(&pool).await.unwrap();
    assert_eq!(rows.iter().find(|r| r.version == 4).unwrap().state, migrate::State::Modified);
}

#[tokio::test]
async fn racing_servers_apply_each_migration_once() {
    let db = TestDb::new().await;
    let (a, b) = (db.pool().await, db.pool().await);
    let (ra, rb) = tokio::join!(migrate::up(&a, None, |_, _| {}), migrate::up(&b, None, |_, _| {}));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(ra.len() + rb.len(), MIGRATIONS.len(), "each migration applied by exactly one runner");
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM schema_migrations").fetch_one(&a).await.unwrap();
    assert_eq!(n as usize, MIGRATIONS.len());
    migrate::verify(&a, |_| {}).await.unwrap();
}

#[tokio::test]
async fn audit_log_refuses_update_and_delete() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    sqlx::query("INSERT INTO audit_log (action, resource, \"timestamp\") VALUES ('test.old', 'test', now() - interval '400 days')")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO audit_log (action, resource) VALUES ('test.row', 'test')").execute(&pool).await.unwrap();
    let upd = sqlx::query("UPDATE audit_log SET resource = 'x'").execute(&pool).await.unwrap_err();
    assert!(upd.to_string().contains("append-only"), "{upd}");
    let del = sqlx::query("DELETE FROM audit_log").execute(&pool).await.unwrap_err();
    assert!(del.to_string().contains("append-only"), "{del}");
    let trunc = sqlx::query("TRUNCATE audit_log").execute(&pool).await.unwrap_err();
    assert!(trunc.to_string().contains("append-only"), "{trunc}");
    // Retention is the one way rows leave. Platform events are kept 7 years, so look from
    // six years ahead: the 400-day-old row is then past it, the new one is not.
    let removed: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(removed), 0)::bigint FROM atrium_audit_prune(now() + interval '2200 days')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(removed, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 1);
}

#[tokio::test]
async fn housekeeping_keeps_partitions_ahead_and_prunes_old_rows() {
    use atrium_server::housekeeping;
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    // As if the migration had run months ago: the furthest partitions are not there yet.
    let ahead: String =
        sqlx::query_scalar("SELECT to_char(now() + interval '3 months', 'YYYY_MM')").fetch_one(&pool).await.unwrap();
    sqlx::raw_sql(&format!("DROP TABLE audit_log_{ahead}; DROP TABLE api_key_usage_{ahead};"))
        .execute(&pool)
        .await
        .unwrap();
    sqlx::raw_sql(
        "INSERT INTO login_failures (email, failed_at) VALUES ('old@x.test', now() - interval '2 days'), ('new@x.test', now());",
    )
    .execute(&pool)
    .await
    .unwrap();

    let report = housekeeping::run_once(&pool).await.unwrap();
    assert_eq!(report.partitions_created, 2);
    assert_eq!(report.login_failures_pruned, 1);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM login_failures").fetch_one(&pool).await.unwrap();
    assert_eq!(left, 1);
    // Rows for a coming month land in that month's partition, not the default one.
    sqlx::query("INSERT INTO audit_log (action, resource, \"timestamp\") VALUES ('test.future', 'test', now() + interval '3 months')")
        .execute(&pool)
        .await
        .unwrap();
    let in_default: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log_default").fetch_one(&pool).await.unwrap();
    assert_eq!(in_default, 0);
    // Running it again changes nothing.
    assert_eq!(housekeeping::run_once(&pool).await.unwrap(), housekeeping::Report::default());
}

#[tokio::test]
async fn verify_catches_a_security_definer_function_open_to_public() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    migrate::verify(&pool, |_| {}).await.expect("every definer function follows the rule");
    sqlx::query("CREATE FUNCTION atrium_sloppy() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1'")
        .execute(&pool)
        .await
        .unwrap();
    let err = migrate::verify(&pool, |_| {}).await.expect_err("a definer function open to PUBLIC is caught");
    assert!(err.to_string().contains("atrium_sloppy"), "{err}");
}

/// The one-statement actor load sets the account's settings for itself; called inside a
/// company transaction (as atrium_app), it must leave that transaction's company as it was,
/// or everything after it would run with the account's view.
#[tokio::test]
async fn the_actor_load_leaves_a_surrounding_transactions_settings_alone() {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.unwrap();
    let company = uuid::Uuid::new_v4().to_string();
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SELECT set_config('app.company_id', $1, true), set_config('app.user_id', '', true)")
        .bind(&company)
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query("SET LOCAL ROLE atrium_app").execute(&mut *tx).await.unwrap();
    // The one-round-trip reads (0016's actor, 0017's company summary) each scope themselves
    // and then put the caller's settings back.
    for read in [
        "SELECT count(*) FROM atrium_request_actor(gen_random_uuid(), gen_random_uuid())",
        "SELECT count(*) FROM atrium_api_company(gen_random_uuid())",
    ] {
        let rows: i64 = sqlx::query_scalar(read).fetch_one(&mut *tx).await.unwrap();
        assert_eq!(rows, 0, "nothing to find: {read}");
        let (company_after, user_after): (String, String) =
            sqlx::query_as("SELECT current_setting('app.company_id'), current_setting('app.user_id')")
                .fetch_one(&mut *tx)
                .await
                .unwrap();
        assert_eq!((company_after.as_str(), user_after.as_str()), (company.as_str(), ""), "{read}");
    }
}

#[tokio::test]
async fn the_apis_company_read_sees_only_the_company_it_names() {
    // Row-level security still applies inside the one-round-trip read: called for company A,
    // it returns A and counts only A's members, however the rows of B are arranged.
    let app = spawn_app().await;
    let a = app.company("Read A").await;
    let b = app.company("Read B").await;
    app.user("one@a.test", app::domain::Role::Admin, Some(a)).await;
    app.user("one@b.test", app::domain::Role::Admin, Some(b)).await;
    app.user("two@b.test", app::domain::Role::Viewer, Some(b)).await;
    let serving = app.app_pool.clone();
    let (id, users): (uuid::Uuid, i64) = sqlx::query_as("SELECT id, active_users FROM atrium_api_company($1)")
        .bind(a)
        .fetch_one(&serving)
        .await
        .unwrap();
    assert_eq!((id, users), (a, 1));
    let (id, users): (uuid::Uuid, i64) = sqlx::query_as("SELECT id, active_users FROM atrium_api_company($1)")
        .bind(b)
        .fetch_one(&serving)
        .await
        .unwrap();
    assert_eq!((id, users), (b, 2));
}
