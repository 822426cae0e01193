//! Housekeeping that `atrium serve` runs at start and then every hour. Safe to run from any
//! number of processes at once: each step is idempotent.
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
        .rows_affected();
    let sessions_pruned =
        sqlx::query!("DELETE FROM sessions WHERE coalesce(revoked_at, expires_at) < now() - interval '30 days'")
            .execute(pool)
            .await?
            .rows_affected();
    Ok(Report { partitions_created, login_failures_pruned, sessions_pruned })
}

pub async fn run_forever(pool: PgPool) {
    let mut tick = tokio::time::interval(Duration::from_secs(3600));
    loop {
        tick.tick().await;
        match run_once(&pool).await {
            Ok(r) if r != Report::default() => tracing::info!(?r, "maintenance"),
            Ok(_) => {}
            Err(e) => tracing::warn!("maintenance failed: {e}"),
        }
    }
}

/// `atrium rotate-secret`: re-seals every integration credential under the current key, in
/// one transaction with its audit row.
pub async fn rotate_secret(pool: &PgPool, keyring: &app::integrations::crypto::Keyring) -> anyhow::Result<u64> {
    use app::audit::record::{record, Event, Who};
    let mut tx = pool.begin().await?;
    let n = app::integrations::queries::reseal_all(&mut tx, keyring).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = app::server_ctx::RequestMeta { request_id: "cli".into(), ip: None, user_agent: None };
    record(
        &mut tx,
        &Who::system(),
        &meta,
        Event {
            company_id: None,
            action: app::audit::Action::SecretRotate,
            resource: "integration_credentials",
            resource_id: None,
            severity: app::audit::Severity::Warning,
            details: serde_json::json!({ "resealed": n, "key_version": keyring.current_version() }),
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(n)
}
