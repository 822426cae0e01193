//! The migration runner: applies, reverts, verifies and reports the embedded migrations.
//!
//! Each migration runs in one transaction with a lock_timeout, under a session advisory lock,
//! so concurrent servers apply each migration once. Statements run one at a time, so a
//! failure names the file, the statement and PostgreSQL's message; the transaction rolls
//! back and the schema is as it was. The checksum of every applied file is kept and
//! compared, so an edited migration is caught.
//!
//! Every attempt, failures included, is written to `schema_migration_log` (who ran it, from
//! which host, when, for how long, the outcome, the error and the backup taken before it), so
//! the runbook's "find the failed migration" is one query:
//! `SELECT * FROM schema_migration_log WHERE outcome = 'failed' ORDER BY id DESC`.
use sha2::{Digest, Sha256};
use sqlx::{Connection, PgConnection, PgPool};
use std::path::PathBuf;
use std::time::Instant;

pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub file: &'static str,
    pub up: &'static str,
    pub down: &'static str,
    pub verify: Option<&'static str>,
}

include!(concat!(env!("OUT_DIR"), "/migrations.rs"));

/// A fixed key for pg_advisory_lock: "atrium migrations".
const LOCK_KEY: i64 = 0x6174_7269_756d_6d67;
const LOCK_TIMEOUT: &str = "10s";

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error("{file}: statement {index} failed: {message}\n--- statement ---\n{statement}\n---")]
    Statement { file: String, index: usize, statement: String, message: String },
    #[error("{file} was edited after it was applied (checksum {applied} in the database, {current} on disk)")]
    Checksum { file: String, applied: String, current: String },
    #[error(
        "version {0} is applied in the database but unknown to this binary; is this binary older than the schema?"
    )]
    Unknown(i64),
    #[error("verify {file} failed: {message}")]
    Verify { file: String, message: String },
    #[error("the backup before migrating failed, so nothing was migrated: {0:#}")]
    Backup(anyhow::Error),
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl Migration {
    pub fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.up.as_bytes()))
    }
}

#[derive(Debug, Clone)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub applied_at: time::OffsetDateTime,
    pub duration_ms: i64,
}

/// Splits SQL into statements, honouring quotes, dollar quotes and comments.
pub fn split_statements(sql: &str) -> Vec<String> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => {
                let q = bytes[i];
                i += 1;
                while i < bytes.len() {
                    if bytes[i] == q {
                        if i + 1 < bytes.len() && bytes[i + 1] == q {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 1;
            }
            b'$' => {
                // $tag$ ... $tag$
                let tag_end = sql[i + 1..].find('$').map(|e| i + 1 + e);
                if let Some(end) = tag_end {
                    let tag = &sql[i..=end];
                    if tag[1..tag.len() - 1].chars().all(|c| c.is_alphanumeric() || c == '_') {
                        if let Some(close) = sql[end + 1..].find(tag) {
                            i = end + 1 + close + tag.len() - 1;
                        }
                    }
                }
            }
            b';' => {
                let stmt = sql[start..i].trim();
                if !is_blank(stmt) {
                    out.push(stmt.to_string());
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    let rest = sql[start.min(sql.len())..].trim();
    if !is_blank(rest) {
        out.push(rest.to_string());
    }
    out
}

fn is_blank(stmt: &str) -> bool {
    stmt.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with("--")
    })
}

async fn ensure_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
           version BIGINT PRIMARY KEY,
           name TEXT NOT NULL,
           checksum TEXT NOT NULL,
           applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
           duration_ms BIGINT NOT NULL
         );
         CREATE TABLE IF NOT EXISTS schema_migration_log (
           id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
           version BIGINT NOT NULL,
           name TEXT NOT NULL,
           direction TEXT NOT NULL CHECK (direction IN ('up', 'down')),
           outcome TEXT NOT NULL CHECK (outcome IN ('applied', 'reverted', 'failed')),
           started_at TIMESTAMPTZ NOT NULL,
           duration_ms BIGINT NOT NULL,
           error TEXT,
           host TEXT NOT NULL,
           run_by TEXT NOT NULL,
           app_version TEXT NOT NULL,
           backup TEXT
         )",
    )
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn applied(conn: &mut PgConnection) -> Result<Vec<Applied>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetch_one(&mut *conn).await?;
    if !exists {
        return Ok(vec![]);
    }
    let rows: Vec<(i64, String, String, time::OffsetDateTime, i64)> = sqlx::query_as(
        "SELECT version, name, checksum, applied_at, duration_ms FROM schema_migrations ORDER BY version",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(version, name, checksum, applied_at, duration_ms)| Applied {
            version,
            name,
            checksum,
            applied_at,
            duration_ms,
        })
        .collect())
}

async fn run_script(tx: &mut PgConnection, file: &str, sql: &str) -> Result<(), MigrateError> {
    for (index, statement) in split_statements(sql).into_iter().enumerate() {
        if let Err(e) = sqlx::raw_sql(&statement).execute(&mut *tx).await {
            let message = match &e {
                sqlx::Error::Database(d) => d.message().to_string(),
                other => other.to_string(),
            };
            return Err(MigrateError::Statement { file: file.to_string(), index: index + 1, statement, message });
        }
    }
    Ok(())
}

/// Who runs the migrations and what happens first, for the migration log.
#[derive(Clone, Debug, Default)]
pub struct Run {
    /// The command that runs them, such as `serve` or `migrate up`.
    pub command: String,
    /// Where to dump the database, under the lock, before the first pending migration (or
    /// the first revert) when there is a schema to lose. `None`: no backup.
    pub backup: Option<BackupPlan>,
}

#[derive(Clone, Debug)]
pub struct BackupPlan {
    pub database_url: String,
    pub dir: PathBuf,
}

impl Run {
    pub fn new(command: &str) -> Run {
        Run { command: command.to_string(), backup: None }
    }

    pub fn with_backup(mut self, plan: Option<BackupPlan>) -> Run {
        self.backup = plan;
        self
    }

    fn run_by(&self) -> String {
        let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "?".into());
        let command = if self.command.is_empty() { "atrium" } else { &self.command };
        format!("{command} (user {user}, pid {})", std::process::id())
    }

    async fn backup_first(&self, schema_version: i64) -> Result<Option<String>, MigrateError> {
        let Some(plan) = &self.backup else { return Ok(None) };
        let taken =
            crate::backup::take(&plan.database_url, &plan.dir, schema_version).await.map_err(MigrateError::Backup)?;
        tracing::info!(path = %taken.path.display(), bytes = taken.manifest.size, "backup taken before migrating");
        Ok(Some(taken.path.display().to_string()))
    }
}

/// One line of `schema_migration_log`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LogEntry {
    pub id: i64,
    pub version: i64,
    pub name: String,
    pub direction: String,
    pub outcome: String,
    pub started_at: time::OffsetDateTime,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub host: String,
    pub run_by: String,
    pub app_version: String,
    pub backup: Option<String>,
}

struct Attempt<'a> {
    migration: &'a Migration,
    direction: &'static str,
    started_at: time::OffsetDateTime,
    started: Instant,
}

impl<'a> Attempt<'a> {
    fn start(migration: &'a Migration, direction: &'static str) -> Attempt<'a> {
        Attempt { migration, direction, started_at: time::OffsetDateTime::now_utc(), started: Instant::now() }
    }

    async fn log(
        &self,
        conn: &mut PgConnection,
        run: &Run,
        outcome: &str,
        error: Option<&str>,
        backup: Option<&str>,
    ) -> Result<(), sqlx::Error> {
        sqlx::query(
            "INSERT INTO schema_migration_log
               (version, name, direction, outcome, started_at, duration_ms, error, host, run_by, app_version, backup)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(self.migration.version)
        .bind(self.migration.name)
        .bind(self.direction)
        .bind(outcome)
        .bind(self.started_at)
        .bind(self.started.elapsed().as_millis() as i64)
        .bind(error)
        .bind(gethostname::gethostname().to_string_lossy().into_owned())
        .bind(run.run_by())
        .bind(env!("CARGO_PKG_VERSION"))
        .bind(backup)
        .execute(conn)
        .await?;
        Ok(())
    }

    /// Runs the migration's script (up or down) in one transaction, with its bookkeeping row and
    /// its log row. A failure rolls the whole transaction back and is logged on its own.
    async fn execute(&self, conn: &mut PgConnection, run: &Run, backup: Option<&str>) -> Result<(), MigrateError> {
        let m = self.migration;
        let up = self.direction == "up";
        let (file, script) = if up { (m.file.to_string(), m.up) } else { (m.file.replace(".up.", ".down."), m.down) };
        let mut tx = conn.begin().await?;
        let done = async {
            sqlx::raw_sql(&format!("SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")).execute(&mut *tx).await?;
            run_script(&mut tx, &file, script).await?;
            if up {
                sqlx::query(
                    "INSERT INTO schema_migrations (version, name, checksum, duration_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(m.version)
                .bind(m.name)
                .bind(m.checksum())
                .bind(self.started.elapsed().as_millis() as i64)
                .execute(&mut *tx)
                .await?;
            } else {
                sqlx::query("DELETE FROM schema_migrations WHERE version = $1")
                    .bind(m.version)
                    .execute(&mut *tx)
                    .await?;
            }
            announce_schema_change(&mut tx).await?;
            self.log(&mut tx, run, if up { "applied" } else { "reverted" }, None, backup).await?;
            Ok::<_, MigrateError>(())
        }
        .await;
        let committed = match done {
            Ok(()) => tx.commit().await.map_err(MigrateError::from),
            Err(e) => {
                tx.rollback().await?;
                Err(e)
            }
        };
        match committed {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(conn, run, e, backup).await),
        }
    }

    /// A failed attempt is logged after its transaction rolled back, on the lock's connection.
    async fn failed(&self, conn: &mut PgConnection, run: &Run, e: MigrateError, backup: Option<&str>) -> MigrateError {
        if let Err(log_error) = self.log(conn, run, "failed", Some(&format!("{e:#}")), backup).await {
            tracing::error!("the failed migration {:04} could not be logged: {log_error}", self.migration.version);
        }
        e
    }
}

/// The newest attempts first.
pub async fn log(pool: &PgPool, limit: i64) -> Result<Vec<LogEntry>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public.schema_migration_log') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(vec![]);
    }
    sqlx::query_as::<_, LogEntry>(
        "SELECT id, version, name, direction, outcome, started_at, duration_ms, error, host, run_by, app_version, backup
           FROM schema_migration_log ORDER BY id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}

/// Holds the advisory lock on its own connection for as long as it lives.
pub struct Locked {
    conn: PgConnection,
}

impl Locked {
    pub async fn acquire(pool: &PgPool) -> Result<Locked, sqlx::Error> {
        let mut conn = pool.acquire().await?.detach();
        sqlx::query("SELECT pg_advisory_lock($1)").bind(LOCK_KEY).execute(&mut conn).await?;
        ensure_table(&mut conn).await?;
        Ok(Locked { conn })
    }
    pub async fn release(mut self) -> Result<(), sqlx::Error> {
        sqlx::query("SELECT pg_advisory_unlock($1)").bind(LOCK_KEY).execute(&mut self.conn).await?;
        self.conn.close().await
    }
}

fn check_applied(applied: &[Applied]) -> Result<(), MigrateError> {
    for a in applied {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == a.version) else {
            return Err(MigrateError::Unknown(a.version));
        };
        let current = m.checksum();
        if current != a.checksum {
            return Err(MigrateError::Checksum { file: m.file.into(), applied: a.checksum.clone(), current });
        }
    }
    Ok(())
}

/// Applies every pending migration up to `target` (all when None). Returns what it applied.
pub async fn up(
    pool: &PgPool,
    target: Option<i64>,
    progress: impl FnMut(&Migration, u128),
) -> Result<Vec<i64>, MigrateError> {
    up_as(pool, target, &Run::new("atrium"), progress).await
}

/// `up`, logged as `run`, after the backup it asks for.
pub async fn up_as(
    pool: &PgPool,
    target: Option<i64>,
    run: &Run,
    mut progress: impl FnMut(&Migration, u128),
) -> Result<Vec<i64>, MigrateError> {
    let mut lock = Locked::acquire(pool).await?;
    let result = up_locked(&mut lock.conn, target, run, &mut progress).await;
    lock.release().await?;
    result
}

async fn up_locked(
    conn: &mut PgConnection,
    target: Option<i64>,
    run: &Run,
    progress: &mut impl FnMut(&Migration, u128),
) -> Result<Vec<i64>, MigrateError> {
    let done = applied(conn).await?;
    check_applied(&done)?;
    let pending: Vec<&Migration> = MIGRATIONS
        .iter()
        .filter(|m| target.is_none_or(|t| m.version <= t))
        .filter(|m| !done.iter().any(|a| a.version == m.version))
        .collect();
    let Some(first) = pending.first() else { return Ok(vec![]) };
    // An empty database has nothing to lose: the first install takes no backup.
    let backup = match done.last() {
        Some(newest) => match run.backup_first(newest.version).await {
            Ok(path) => path,
            Err(e) => return Err(Attempt::start(first, "up").failed(conn, run, e, None).await),
        },
        None => None,
    };
    let mut ran = Vec::new();
    for m in pending {
        let attempt = Attempt::start(m, "up");
        attempt.execute(conn, run, backup.as_deref()).await?;
        progress(m, attempt.started.elapsed().as_millis());
        ran.push(m.version);
    }
    Ok(ran)
}

/// A migration may change what an actor load or a key lookup returns (a function, a policy, a
/// column): every running process drops what it keeps, when the migration commits.
async fn announce_schema_change(conn: &mut PgConnection) -> Result<(), MigrateError> {
    sqlx::query("SELECT pg_notify('atrium_actors', '*'), pg_notify('atrium_api_keys', 'schema')")
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// Reverts applied migrations, newest first, until only versions <= `to` remain.
pub async fn down(pool: &PgPool, to: i64, progress: impl FnMut(&Migration)) -> Result<Vec<i64>, MigrateError> {
    down_as(pool, to, &Run::new("atrium"), progress).await
}

/// `down`, logged as `run`, after the backup it asks for.
pub async fn down_as(
    pool: &PgPool,
    to: i64,
    run: &Run,
    mut progress: impl FnMut(&Migration),
) -> Result<Vec<i64>, MigrateError> {
    let mut lock = Locked::acquire(pool).await?;
    let result = async {
        let conn = &mut lock.conn;
        let done = applied(conn).await?;
        check_applied(&done)?;
        let doomed: Vec<&Migration> = done
            .iter()
            .rev()
            .filter(|a| a.version > to)
            .map(|a| MIGRATIONS.iter().find(|m| m.version == a.version).ok_or(MigrateError::Unknown(a.version)))
            .collect::<Result<_, _>>()?;
        let Some(first) = doomed.first() else { return Ok(vec![]) };
        let backup = match run.backup_first(first.version).await {
            Ok(path) => path,
            Err(e) => return Err(Attempt::start(first, "down").failed(conn, run, e, None).await),
        };
        let mut reverted = Vec::new();
        for m in doomed {
            Attempt::start(m, "down").execute(conn, run, backup.as_deref()).await?;
            progress(m);
            reverted.push(m.version);
        }
        if to <= 0 {
            // Nothing of ours is left, not even the bookkeeping (the backup taken first, in
            // production, holds the log).
            sqlx::raw_sql("DROP TABLE IF EXISTS schema_migrations, schema_migration_log").execute(&mut *conn).await?;
        }
        Ok(reverted)
    }
    .await;
    lock.release().await?;
    result
}

/// What reverting down to `to` would drop: each table a down script drops that holds rows,
/// with its row count, so an operator sees the audit log or the keys go before they do.
pub async fn down_losses(pool: &PgPool, to: i64) -> Result<Vec<(String, i64)>, MigrateError> {
    let mut conn = pool.acquire().await?;
    let done = applied(&mut conn).await?;
    let mut losses = Vec::new();
    for a in done.iter().rev().filter(|a| a.version > to) {
        let Some(m) = MIGRATIONS.iter().find(|m| m.version == a.version) else { continue };
        for table in dropped_tables(m.down) {
            let exists: bool =
                sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL").bind(&table).fetch_one(&mut *conn).await?;
            if !exists {
                continue;
            }
            // The name comes from our own embedded down script, not from input.
            let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}")).fetch_one(&mut *conn).await?;
            if rows > 0 {
                losses.push((table, rows));
            }
        }
    }
    Ok(losses)
}

/// The tables a script's `DROP TABLE [IF EXISTS] a, b [CASCADE]` statements name.
fn dropped_tables(sql: &str) -> Vec<String> {
    split_statements(sql)
        .iter()
        .filter_map(|stmt| {
            let words: Vec<&str> = stmt.split_whitespace().collect();
            let upper: Vec<String> = words.iter().take(5).map(|w| w.to_ascii_uppercase()).collect();
            let skip = match upper.as_slice() {
                [d, t, i, e, ..] if d == "DROP" && t == "TABLE" && i == "IF" && e == "EXISTS" => 4,
                [d, t, ..] if d == "DROP" && t == "TABLE" => 2,
                _ => return None,
            };
            Some(
                words[skip..]
                    .join(" ")
                    .split(',')
                    .map(|t| t.split_whitespace().next().unwrap_or("").to_string())
                    .filter(|t| !t.is_empty() && t.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.'))
                    .collect::<Vec<_>>(),
            )
        })
        .flatten()
        .collect()
}

/// Runs every applied migration's verify script, each in a transaction that is rolled back.
pub async fn verify(pool: &PgPool, mut progress: impl FnMut(&Migration)) -> Result<usize, MigrateError> {
    let mut conn = pool.acquire().await?;
    let done = applied(&mut conn).await?;
    check_applied(&done)?;
    let mut n = 0;
    for a in &done {
        let m = MIGRATIONS.iter().find(|m| m.version == a.version).ok_or(MigrateError::Unknown(a.version))?;
        let Some(sql) = m.verify else { continue };
        let mut tx = conn.begin().await?;
        let file = m.file.replace(".up.", ".verify.");
        let r = run_script(&mut tx, &file, sql).await;
        tx.rollback().await?;
        if let Err(e) = r {
            let message = match e {
                MigrateError::Statement { message, .. } => message,
                other => other.to_string(),
            };
            return Err(MigrateError::Verify { file, message });
        }
        progress(m);
        n += 1;
    }
    Ok(n)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Applied,
    Pending,
    Modified,
    Unknown,
}

pub struct StatusRow {
    pub version: i64,
    pub name: String,
    pub state: State,
    pub applied: Option<Applied>,
}

pub async fn status(pool: &PgPool) -> Result<Vec<StatusRow>, MigrateError> {
    let mut conn = pool.acquire().await?;
    let done = applied(&mut conn).await?;
    let mut rows: Vec<StatusRow> = MIGRATIONS
        .iter()
        .map(|m| {
            let a = done.iter().find(|a| a.version == m.version).cloned();
            let state = match &a {
                None => State::Pending,
                Some(a) if a.checksum != m.checksum() => State::Modified,
                Some(_) => State::Applied,
            };
            StatusRow { version: m.version, name: m.name.into(), state, applied: a }
        })
        .collect();
    for a in done.iter().filter(|a| !MIGRATIONS.iter().any(|m| m.version == a.version)) {
        rows.push(StatusRow {
            version: a.version,
            name: a.name.clone(),
            state: State::Unknown,
            applied: Some(a.clone()),
        });
    }
    rows.sort_by_key(|r| r.version);
    Ok(rows)
}

/// True when every embedded migration is applied with a matching checksum.
pub async fn is_current(pool: &PgPool) -> Result<bool, MigrateError> {
    Ok(status(pool).await?.iter().all(|r| r.state == State::Applied))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_around_quotes_and_dollar_bodies() {
        let sql = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\n-- a; comment\nSELECT 'a;b'; SELECT $x$;$x$";
        let s = split_statements(sql);
        assert_eq!(s.len(), 3, "{s:?}");
        assert!(s[0].contains("SELECT 1;"));
        assert_eq!(s[2], "SELECT $x$;$x$");
    }

    #[test]
    fn dropped_tables_are_read_from_down_scripts() {
        let sql = "DROP INDEX x; DROP TABLE IF EXISTS api_key_usage CASCADE;\ndrop table a, b.c;";
        assert_eq!(dropped_tables(sql), ["api_key_usage", "a", "b.c"]);
        let all: Vec<String> = MIGRATIONS.iter().flat_map(|m| dropped_tables(m.down)).collect();
        assert!(all.iter().any(|t| t == "audit_log") && all.iter().any(|t| t == "api_keys"), "{all:?}");
    }

    #[test]
    fn every_migration_splits() {
        for m in MIGRATIONS {
            assert!(!split_statements(m.up).is_empty(), "{}", m.file);
            assert!(!split_statements(m.down).is_empty(), "{}", m.file);
        }
    }
}
