//! Housekeeping that `atrium serve` runs at start and then every hour (retention once a
//! day). Safe to run from any number of processes at once: each step is idempotent, and
//! retention takes an advisory lock.
use sqlx::PgPool;
use std::time::Duration;

/// Months of partitions kept ready ahead of time for the partitioned tables.
pub const MONTHS_AHEAD: i32 = 3;

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    pub partitions_created: i32,
    pub login_failures_pruned: u64,
    pub sessions_pruned: u64,
}

pub async fn run_once(pool: &PgPool) -> Result<Report, sqlx::Error> {
    let partitions_created = sqlx::query_scalar!(
        r#"SELECT atrium_ensure_monthly_partitions('audit_log', $1)
                + atrium_ensure_monthly_partitions('api_key_usage', $1) AS "n!""#,
        MONTHS_AHEAD,
    )
    .fetch_one(pool)
    .await?;
    // Throttling only looks 15 minutes back; a day of history is plenty for investigation,
    // and the audit log keeps every failure anyway.
    let login_failures_pruned = sqlx::query!("DELETE FROM login_failures WHERE failed_at < now() - interval '1 day'")
        .execute(pool)
        .await?
        .rows_affected()
        + sqlx::query!("DELETE FROM recovery_requests WHERE requested_at < now() - interval '1 day'")
            .execute(pool)
            .await?
            .rows_affected();
    let sessions_pruned =
        sqlx::query!("DELETE FROM sessions WHERE coalesce(revoked_at, expires_at) < now() - interval '30 days'")
            .execute(pool)
            .await?
            .rows_affected();
    Ok(Report { partitions_created, login_failures_pruned, sessions_pruned })
}

/// Whether a day has passed since the last prune, by any process.
async fn prune_due(pool: &PgPool) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT NOT EXISTS (SELECT 1 FROM maintenance_runs
                               WHERE job = 'audit_prune' AND last_run_at > now() - interval '23 hours') AS "due!""#
    )
    .fetch_one(pool)
    .await
}

async fn retention(pool: &PgPool, policy: &app::audit::policy::Policy) {
    match prune_due(pool).await {
        Ok(true) => match app::audit::retention::prune(pool, time::OffsetDateTime::now_utc(), policy).await {
            Ok(r) if !r.skipped => {
                tracing::info!(
                    audit_rows = r.audit_rows(),
                    chains = r.chains.len(),
                    usage_rows = r.usage_rows,
                    "retention"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("retention failed: {e}"),
        },
        Ok(false) => {}
        Err(e) => tracing::warn!("retention check failed: {e}"),
    }
}

/// Queues the "API key expires in 14 days" mails now due, in one transaction.
pub async fn expiry_notices(
    pool: &PgPool,
    keyring: &app::integrations::crypto::Keyring,
    outgoing: &app::mail::Outgoing,
) -> anyhow::Result<usize> {
    let mut tx = pool.begin().await?;
    let n =
        app::api_keys::expiry::notify_expiring(&mut tx, keyring, outgoing).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(n)
}

/// Hourly: partitions and pruning, audit retention, and (with mail on) key expiry notices.
pub async fn run_forever(
    pool: PgPool,
    policy: app::audit::policy::Policy,
    mail: Option<(app::integrations::crypto::Keyring, app::mail::Outgoing)>,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match run_once(&pool).await {
            Ok(r) if r != Report::default() => tracing::info!(?r, "maintenance"),
            Ok(_) => {}
            Err(e) => tracing::warn!("maintenance failed: {e}"),
        }
        retention(&pool, &policy).await;
        if let Some((keyring, outgoing)) = &mail {
            match expiry_notices(&pool, keyring, outgoing).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(mails = n, "api key expiry notices queued"),
                Err(e) => tracing::warn!("api key expiry notices failed: {e}"),
            }
        }
    }
}

/// `atrium audit verify`: walks each chain (or one company's) as the schema owner and
/// records the result as `audit.verify`.
pub async fn verify_audit(pool: &PgPool, company: Option<&str>) -> anyhow::Result<Vec<app::audit::ChainReport>> {
    use app::audit::record::{record, Event, Who};
    use app::audit::{chain, Action, Severity};
    let mut conn = pool.acquire().await?;
    let chains = match company {
        Some(slug) => {
            let row = sqlx::query!("SELECT id, name FROM companies WHERE slug = $1", slug)
                .fetch_optional(&mut *conn)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no company has the slug {slug}"))?;
            vec![(row.id, row.name)]
        }
        None => chain::chains(&mut conn).await.map_err(|e| anyhow::anyhow!("{e}"))?,
    };
    let mut reports = Vec::new();
    for (id, name) in chains {
        reports.push(chain::verify(&mut conn, id, &name).await.map_err(|e| anyhow::anyhow!("{e}"))?);
    }
    drop(conn);
    let broken: Vec<_> = reports
        .iter()
        .filter_map(|r| {
            r.broken.as_ref().map(|b| serde_json::json!({ "chain": r.chain, "seq": b.seq, "row_id": b.row_id }))
        })
        .collect();
    let mut tx = pool.begin().await?;
    let meta = app::server_ctx::RequestMeta { request_id: "cli".into(), ip: None, user_agent: None };
    record(
        &mut tx,
        &Who::system(),
        &meta,
        Event::new(Action::AuditVerify, "audit_log")
            .resource_id(company.map(str::to_string))
            .severity(if broken.is_empty() { Severity::Info } else { Severity::Error })
            .details(serde_json::json!({
                "chains": reports.len(), "rows": reports.iter().map(|r| r.rows).sum::<i64>(), "broken": broken,
            })),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(reports)
}

/// What `atrium rotate-secret` did and what is left.
#[derive(Debug)]
pub struct Rotation {
    /// Integration credential sets re-sealed under the current root secret.
    pub resealed: u64,
    /// Live API keys still hashed under an earlier root secret (or not yet labelled). Only a
    /// keyed hash of a key is stored, so a key moves when it is next presented, not before.
    pub keys_left: i64,
    /// Two-factor secrets re-sealed under the current root secret.
    pub two_factor_resealed: u64,
    /// Accounts whose recovery codes are hashed under an earlier secret (they work while
    /// ATRIUM_SECRET_KEY_PREVIOUS is set; their owners should make new ones).
    pub recovery_codes_left: i64,
}

/// `atrium rotate-secret`: re-seals every integration credential and two-factor secret under
/// the current key, in one transaction with its audit row.
pub async fn rotate_secret(
    pool: &PgPool,
    keyring: &app::integrations::crypto::Keyring,
    pepper: &app::api_keys::secret::Pepper,
) -> anyhow::Result<Rotation> {
    use app::audit::record::{record, Event, Who};
    let mut tx = pool.begin().await?;
    let resealed =
        app::integrations::service::reseal_all(&mut tx, keyring).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let keys_left = keys_under_earlier_secrets(&mut tx, pepper).await?;
    let (two_factor_resealed, recovery_codes_left) =
        app::two_factor::service::reseal_all(&mut tx, keyring, pepper).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    record(
        &mut tx,
        &Who::system(),
        &crate::cli_meta(),
        Event::new(app::audit::Action::SecretRotate, "integration_credentials")
            .severity(app::audit::Severity::Warning)
            .details(serde_json::json!({
                "resealed": resealed,
                "key_version": keyring.current_version(),
                "api_keys_left": keys_left,
                "two_factor_resealed": two_factor_resealed,
                "recovery_codes_left": recovery_codes_left,
            })),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(Rotation { resealed, keys_left, two_factor_resealed, recovery_codes_left })
}

/// Live keys (not revoked, not expired) whose hash is not under `pepper`.
async fn keys_under_earlier_secrets(
    conn: &mut sqlx::PgConnection,
    pepper: &app::api_keys::secret::Pepper,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM api_keys
            WHERE pepper_id IS DISTINCT FROM $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())"#,
        pepper.id()
    )
    .fetch_one(conn)
    .await
}

/// Keys stored before migration 0020 carry no pepper label. While no rotation is under way
/// (no previous secret), every key that works is under the current pepper: label them, so
/// the next rotation can count what is left.
pub async fn label_key_peppers(pool: &PgPool, peppers: &app::api_keys::secret::Peppers) -> Result<u64, sqlx::Error> {
    if peppers.previous.is_some() {
        return Ok(0);
    }
    Ok(sqlx::query!("UPDATE api_keys SET pepper_id = $1 WHERE pepper_id IS NULL", peppers.current.id())
        .execute(pool)
        .await?
        .rows_affected())
}
