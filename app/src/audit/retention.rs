//! Retention: each company's setting (30 days to 7 years, or a legal hold), and the prune
//! that `atrium serve` runs daily and `atrium audit prune` runs on demand. The removal
//! itself is `atrium_audit_prune()` (migration 0013): whole chain prefixes go, whole
//! partitions where every row has expired, and the chain's head records how far it was
//! pruned so verify can tell retention from deletion.
use super::record::{diff, record, Event, Who};
use super::{Action, Retention, Severity, RETENTION_MAX_DAYS, RETENTION_MIN_DAYS};
use crate::error::{AppError, FieldErrors};
use crate::server_ctx::RequestMeta;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use uuid::Uuid;

/// API usage rows (per key, endpoint and minute) are kept this long, for every company.
pub const USAGE_RETENTION_DAYS: i32 = 400;

/// The form's raw input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionInput {
    pub days: String,
    pub legal_hold: bool,
    pub legal_hold_reason: String,
}

impl RetentionInput {
    pub fn parse(&self) -> Result<Retention, AppError> {
        let mut errors = FieldErrors::new();
        let days =
            self.days.trim().parse::<i32>().ok().filter(|d| (RETENTION_MIN_DAYS..=RETENTION_MAX_DAYS).contains(d));
        if days.is_none() {
            errors.insert(
                "days".into(),
                format!(
                    "Keep rows between {RETENTION_MIN_DAYS} and {RETENTION_MAX_DAYS} days (7 years), in whole days."
                ),
            );
        }
        let reason = self.legal_hold_reason.trim();
        if self.legal_hold && reason.chars().count() < 3 {
            errors.insert("legal_hold_reason".into(), "Say why the hold is on, such as the matter or ticket.".into());
        }
        if reason.chars().count() > 500 {
            errors.insert("legal_hold_reason".into(), "Keep the reason under 500 characters.".into());
        }
        match days {
            Some(days) if errors.is_empty() => Ok(Retention {
                days,
                legal_hold: self.legal_hold,
                legal_hold_reason: self.legal_hold.then(|| reason.to_string()),
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

pub async fn get(conn: &mut PgConnection, company: Uuid) -> Result<Retention, AppError> {
    let r = sqlx::query!(
        "SELECT audit_retention_days, audit_legal_hold, audit_legal_hold_reason FROM companies WHERE id = $1",
        company
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Retention {
        days: r.audit_retention_days,
        legal_hold: r.audit_legal_hold,
        legal_hold_reason: r.audit_legal_hold_reason,
    })
}

fn as_json(r: &Retention) -> serde_json::Value {
    json!({ "retention_days": r.days, "legal_hold": r.legal_hold, "legal_hold_reason": r.legal_hold_reason })
}

/// Saves the setting with its audit row. An unchanged setting writes nothing. Shortening
/// the period or lifting a hold is recorded as a warning.
pub async fn save(
    conn: &mut PgConnection,
    who: &Who,
    meta: &RequestMeta,
    company: Uuid,
    next: &Retention,
) -> Result<Retention, AppError> {
    let before = get(conn, company).await?;
    if &before == next {
        return Ok(before);
    }
    sqlx::query!(
        "UPDATE companies SET audit_retention_days = $2, audit_legal_hold = $3, audit_legal_hold_reason = $4 WHERE id = $1",
        company,
        next.days,
        next.legal_hold,
        next.legal_hold_reason,
    )
    .execute(&mut *conn)
    .await?;
    let weakened = next.days < before.days || (before.legal_hold && !next.legal_hold);
    record(
        conn,
        who,
        meta,
        Event {
            company_id: Some(company),
            action: Action::AuditRetentionUpdate,
            resource: "company",
            resource_id: Some(company.to_string()),
            severity: if weakened { Severity::Warning } else { Severity::Info },
            details: diff(&as_json(&before), &as_json(next)),
        },
    )
    .await?;
    Ok(next.clone())
}

/// What one prune removed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Per chain that lost rows: (company id or None for the platform, rows removed,
    /// the chain position pruned through).
    pub chains: Vec<(Option<Uuid>, i64, i64)>,
    pub usage_rows: i64,
    /// Another process was pruning; this run did nothing.
    pub skipped: bool,
}

impl PruneReport {
    pub fn audit_rows(&self) -> i64 {
        self.chains.iter().map(|c| c.1).sum()
    }
}

/// Prunes as of `at` (now, outside tests), in one transaction with an `audit.prune` row in
/// each chain that lost rows. Must run as the schema owner.
pub async fn prune(pool: &PgPool, at: OffsetDateTime) -> Result<PruneReport, AppError> {
    let mut tx = pool.begin().await?;
    let locked = sqlx::query_scalar!(r#"SELECT pg_try_advisory_xact_lock(hashtext('atrium.audit_prune')) AS "ok!""#)
        .fetch_one(&mut *tx)
        .await?;
    if !locked {
        return Ok(PruneReport { skipped: true, ..PruneReport::default() });
    }
    // Dropping a partition needs the parent's exclusive lock; rather than queue behind a
    // long reader (and block every writer meanwhile), give up and try on the next run.
    sqlx::query!("SET LOCAL lock_timeout = '5s'").execute(&mut *tx).await?;
    let rows = sqlx::query!(
        r#"SELECT chain_id AS "chain_id!", removed AS "removed!", pruned_through_seq AS "through!"
             FROM atrium_audit_prune($1)"#,
        at
    )
    .fetch_all(&mut *tx)
    .await?;
    let usage_rows = sqlx::query_scalar!(r#"SELECT atrium_usage_prune($1, $2) AS "n!""#, USAGE_RETENTION_DAYS, at)
        .fetch_one(&mut *tx)
        .await?;
    sqlx::query!(
        "INSERT INTO maintenance_runs (job, last_run_at) VALUES ('audit_prune', $1)
         ON CONFLICT (job) DO UPDATE SET last_run_at = EXCLUDED.last_run_at",
        at
    )
    .execute(&mut *tx)
    .await?;
    let meta = RequestMeta { request_id: "retention".into(), ip: None, user_agent: None };
    let mut report = PruneReport { usage_rows, ..PruneReport::default() };
    for r in rows {
        let company = (r.chain_id != super::chain::PLATFORM_CHAIN).then_some(r.chain_id);
        record(
            &mut tx,
            &Who::system(),
            &meta,
            Event {
                company_id: company,
                action: Action::AuditPrune,
                resource: "audit_log",
                resource_id: None,
                severity: Severity::Info,
                details: json!({ "removed": r.removed, "pruned_through_seq": r.through }),
            },
        )
        .await?;
        report.chains.push((company, r.removed, r.through));
    }
    tx.commit().await?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(days: &str, hold: bool, reason: &str) -> RetentionInput {
        RetentionInput { days: days.into(), legal_hold: hold, legal_hold_reason: reason.into() }
    }

    #[test]
    fn bounds_and_hold_reason() {
        assert_eq!(input("30", false, "ignored").parse().unwrap().legal_hold_reason, None);
        assert_eq!(input("2557", true, "Case 12").parse().unwrap().days, 2557);
        for bad in ["29", "2558", "90.5", "", "ninety"] {
            assert!(input(bad, false, "").parse().unwrap_err().field_error("days").is_some(), "{bad}");
        }
        assert!(input("90", true, " ").parse().unwrap_err().field_error("legal_hold_reason").is_some());
    }
}
