//! `atrium backup` and `atrium restore`: a `pg_dump -Fc` of the database with a manifest beside
//! it, and its restore into an empty database.
//!
//! A dump is written under a `.partial` name and only renamed once pg_dump has succeeded and
//! its manifest (schema version, time, size, SHA-256) is on disk, so a failed backup (a full
//! disk, a lost connection) never leaves a file that looks complete.
use anyhow::Context;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// What `atrium backup` writes beside each dump, as `<dump>.json`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct Manifest {
    /// The dump's file name (in the same folder as the manifest).
    pub file: String,
    /// The newest applied migration when the dump was taken (0 for an empty database).
    pub schema_version: i64,
    pub created_at: String,
    pub size: u64,
    pub sha256: String,
    pub database: String,
    pub pg_dump: String,
}

/// A finished backup: the dump and its manifest.
#[derive(Debug, Clone)]
pub struct Backup {
    pub path: PathBuf,
    pub manifest: Manifest,
}

/// The roles the schema grants to (migration 0010). They belong to the cluster, not the
/// database, so a dump does not carry them: a restore into another cluster creates them first.
const ROLES: &str = "
DO $$ BEGIN CREATE ROLE atrium_app NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN CREATE ROLE atrium_platform NOLOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$;
DO $$ BEGIN
  IF NOT (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    IF NOT pg_has_role(current_user, 'atrium_app', 'MEMBER') THEN
      EXECUTE format('GRANT atrium_app TO %I', current_user);
    END IF;
    IF NOT pg_has_role(current_user, 'atrium_platform', 'MEMBER') THEN
      EXECUTE format('GRANT atrium_platform TO %I', current_user);
    END IF;
  END IF;
END $$;";

/// Finds a PostgreSQL client program the way `.dev/lib.sh` finds the server's: on PATH, then
/// in Debian's versioned folders, newest first (pg_dump must be at least the server's version).
pub fn find_tool(name: &str) -> anyhow::Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect::<Vec<_>>())
        .unwrap_or_default();
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dirs| dirs.filter_map(|d| d.ok()).map(|d| d.path().join("bin").join(name)).collect())
        .unwrap_or_default();
    versioned.sort_by_key(|p| std::cmp::Reverse(pg_major(p)));
    versioned.into_iter().chain(on_path).find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "{name} was not found on PATH or under /usr/lib/postgresql: install the PostgreSQL client \
             programs (Debian: apt-get install postgresql-client-15)"
        )
    })
}

fn pg_major(p: &Path) -> u32 {
    p.components().rev().nth(2).and_then(|c| c.as_os_str().to_str()).and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// The connection for a client program: the URL without its password, which goes in
/// PGPASSWORD instead, so it never shows in the process list.
fn connection(database_url: &str) -> anyhow::Result<(String, Option<String>, String)> {
    let mut url = url::Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let password = url.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
    let _ = url.set_password(None);
    // sqlx accepts parameters of its own (statement-cache-capacity…) that libpq refuses.
    let libpq: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| LIBPQ_PARAMETERS.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    url.set_query(None);
    if !libpq.is_empty() {
        url.query_pairs_mut().extend_pairs(libpq);
    }
    let database = url.path().trim_start_matches('/').to_string();
    Ok((url.to_string(), password, database))
}

const LIBPQ_PARAMETERS: &[&str] = &[
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "passfile",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "sslmode",
    "sslcert",
    "sslkey",
    "sslrootcert",
    "sslcrl",
    "sslcompression",
    "gssencmode",
    "channel_binding",
    "target_session_attrs",
    "service",
];

/// Runs a PostgreSQL client program against the database; its stderr is the error.
async fn run_client(tool: &Path, database_url: &str, args: &[&str], on_failure: &str) -> anyhow::Result<()> {
    let (url, password, _) = connection(database_url)?;
    let mut cmd = Command::new(tool);
    cmd.arg("--dbname").arg(url).arg("--no-password").args(args).kill_on_drop(true);
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd.output().await.with_context(|| format!("cannot run {}", tool.display()))?;
    let name = tool.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    anyhow::ensure!(
        out.status.success(),
        "{name} failed ({}){on_failure}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

async fn tool_version(tool: &Path) -> String {
    match Command::new(tool).arg("--version").output().await {
        Ok(o) => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Err(_) => String::new(),
    }
}

/// The newest applied migration, or 0 when nothing is applied yet.
pub async fn schema_version(pool: &PgPool) -> anyhow::Result<i64> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public.schema_migrations') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(0);
    }
    Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT max(version) FROM schema_migrations")
        .fetch_one(pool)
        .await?
        .unwrap_or(0))
}

/// Dumps the database into `dir` (created if missing); `schema_version` goes in the manifest.
pub async fn take(database_url: &str, dir: &Path, schema_version: i64) -> anyhow::Result<Backup> {
    let pg_dump = find_tool("pg_dump")?;
    private_dir(dir).with_context(|| format!("cannot create the backup folder {}", dir.display()))?;
    let now = time::OffsetDateTime::now_utc();
    let stamp =
        now.format(time::macros::format_description!("[year][month][day]T[hour][minute][second]Z")).unwrap_or_default();
    // Two backups in one second (a test, a retry) get different names.
    let name = format!("atrium-{stamp}-v{schema_version:04}-{:04x}.dump", rand::random::<u16>());
    let path = dir.join(&name);
    let partial = dir.join(format!("{name}.partial"));
    let result = write_dump(&pg_dump, database_url, &partial).await;
    let manifest = match result {
        Ok(()) => {
            let (size, sha256) = digest(&partial).await?;
            let (_, _, database) = connection(database_url)?;
            Manifest {
                file: name.clone(),
                schema_version,
                created_at: now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                size,
                sha256,
                database,
                pg_dump: tool_version(&pg_dump).await,
            }
        }
        Err(e) => {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(e);
        }
    };
    let finished = async {
        let json = serde_json::to_vec_pretty(&manifest)?;
        let manifest_partial = dir.join(format!("{name}.json.partial"));
        write_synced(&manifest_partial, &json).await?;
        tokio::fs::rename(&manifest_partial, manifest_path(&path)).await?;
        tokio::fs::rename(&partial, &path).await?;
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = finished {
        for p in [partial, dir.join(format!("{name}.json.partial")), manifest_path(&path)] {
            let _ = tokio::fs::remove_file(p).await;
        }
        return Err(e.context(format!("the backup into {} could not be finished", dir.display())));
    }
    Ok(Backup { path, manifest })
}

/// A dump holds password hashes and sealed credentials: only its owner may read the folder
/// and the files (pg_dump keeps the mode of the file it is given).
fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

async fn write_dump(pg_dump: &Path, database_url: &str, partial: &Path) -> anyhow::Result<()> {
    private_file(partial)?;
    // Row-level security is FORCEd on the tenant tables; the owner's own policies let it read
    // every row, and a superuser bypasses them.
    let file = partial.to_string_lossy();
    run_client(pg_dump, database_url, &["--format=custom", "--enable-row-security", "--file", &file], "").await?;
    let f = tokio::fs::File::open(partial).await?;
    f.sync_all().await.context("the dump could not be flushed to disk")?;
    Ok(())
}

async fn write_synced(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut f = tokio::fs::File::from_std(private_file(path)?);
    f.write_all(bytes).await?;
    f.sync_all().await?;
    Ok(())
}

async fn digest(path: &Path) -> anyhow::Result<(u64, String)> {
    use tokio::io::AsyncReadExt;
    let mut f = tokio::fs::File::open(path).await?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hasher.update(&buf[..n]);
    }
    Ok((size, hex::encode(hasher.finalize())))
}

pub fn manifest_path(dump: &Path) -> PathBuf {
    let mut s = dump.as_os_str().to_owned();
    s.push(".json");
    PathBuf::from(s)
}

/// Restores a dump into the database, which must be empty. The manifest beside the dump must
/// match it; without one, only when `unchecked` (a dump made some other way).
pub async fn restore(
    pool: &PgPool,
    database_url: &str,
    file: &Path,
    unchecked: bool,
) -> anyhow::Result<Option<Manifest>> {
    anyhow::ensure!(file.is_file(), "{} is not a file", file.display());
    anyhow::ensure!(
        !file.to_string_lossy().ends_with(".partial"),
        "{} is an unfinished backup: its pg_dump did not complete",
        file.display()
    );
    let manifest = match tokio::fs::read(manifest_path(file)).await {
        Ok(bytes) => {
            let m: Manifest = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a backup manifest", manifest_path(file).display()))?;
            let (size, sha256) = digest(file).await?;
            anyhow::ensure!(
                size == m.size && sha256 == m.sha256,
                "{} does not match its manifest (size {size}, sha256 {sha256}; the manifest says {} and {}): \
                 the file is damaged or not the one that was backed up",
                file.display(),
                m.size,
                m.sha256
            );
            Some(m)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && unchecked => None,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => anyhow::bail!(
            "{} has no manifest beside it ({}), so it cannot be checked: restore it with --unchecked \
             only if you know where it came from",
            file.display(),
            manifest_path(file).display()
        ),
        Err(e) => return Err(e.into()),
    };
    let existing: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')",
    )
    .fetch_one(pool)
    .await?;
    anyhow::ensure!(
        existing == 0,
        "the database is not empty ({existing} relation(s) in schema public): restore only into an empty \
         database (createdb a new one and point DATABASE_URL at it)"
    );
    sqlx::raw_sql(ROLES).execute(pool).await.context("cannot create the roles the schema grants to")?;
    let pg_restore = find_tool("pg_restore")?;
    let dump = file.to_string_lossy();
    run_client(
        &pg_restore,
        database_url,
        &["--no-owner", "--exit-on-error", "--single-transaction", &dump],
        "; nothing was restored",
    )
    .await?;
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_leaves_the_url() {
        let (url, pw, db) = connection(
            "postgres://atrium:p%40ss%2Bw@127.0.0.1:5432/atrium_x?sslmode=disable&statement-cache-capacity=100",
        )
        .unwrap();
        assert_eq!(url, "postgres://atrium@127.0.0.1:5432/atrium_x?sslmode=disable");
        assert_eq!(pw.as_deref(), Some("p@ss+w"));
        assert_eq!(db, "atrium_x");
    }

    #[test]
    fn newer_postgres_folders_come_first() {
        assert_eq!(pg_major(Path::new("/usr/lib/postgresql/15/bin/pg_dump")), 15);
        assert_eq!(pg_major(Path::new("/usr/bin/pg_dump")), 0);
    }
}
