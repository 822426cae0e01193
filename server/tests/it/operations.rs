//! Operating Atrium: backups and restores, guarded migrations and the migration log.
use crate::cli::{atrium, text};
use crate::helpers::TestDb;
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
    // Only the dump and its manifest: nothing partial left behind.
    assert_eq!(files(dir.path()).len(), 2, "{:?}", files(dir.path()));
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(format!("{}.json", dump.display())).unwrap()).unwrap();
    assert_eq!(manifest["size"].as_u64().unwrap(), std::fs::metadata(dump).unwrap().len());
    assert_eq!(manifest["schema_version"].as_i64().unwrap(), 18);
    assert_eq!(manifest["sha256"].as_str().unwrap().len(), 64);

    let target = TestDb::new().await;
    let out = atrium(&target, &["restore", dump.to_str().unwrap()], &[]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(row_counts(&target).await, before, "the same rows in every table");
    // The restored database is a working Atrium: current, and its audit chains intact.
    let out = atrium(&target, &["migrate", "status"], &[]);
    assert!(text(&out).contains("18 applied, 0 pending"), "{}", text(&out));
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
    assert_eq!(version, 18, "nothing reverted");

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
