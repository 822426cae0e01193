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
