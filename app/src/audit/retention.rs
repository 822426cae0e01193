//! Retention: each company's setting (30 days to 7 years, or a legal hold), and the prune
//! that `atrium serve` runs daily and `atrium audit prune` runs on demand. The removal
//! itself is `atrium_audit_prune()` (migration 0013): whole chain prefixes go, whole
//! partitions where every row has expired, and the chain's head records how far it was
//! pruned so verify can tell retention from deletion.
pub use super::policy::Policy;
use super::record::{diff, record, Event, Op, Who};
use super::{Action, Retention, Severity, RETENTION_MAX_DAYS};
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
    pub fn parse(&self, policy: &Policy) -> Result<Retention, AppError> {
        let mut errors = FieldErrors::new();
        let floor = policy.min_days;
        let days = self.days.trim().parse::<i32>().ok().filter(|d| (floor..=RETENTION_MAX_DAYS).contains(d));
        if days.is_none() {
            errors.insert(
                "days".into(),
                format!(
                    "Keep rows between {floor} days (the platform's minimum) and {RETENTION_MAX_DAYS} days (7 years), in whole days."
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
                floor_days: floor,
            }),
            _ => Err(AppError::Validation(errors)),
        }
    }
}

/// The company's retention as it applies: a period stored below today's floor (set before
/// the floor was raised) reads as the floor, because that is what the prune keeps.
pub async fn get(conn: &mut PgConnection, company: Uuid, policy: &Policy) -> Result<Retention, AppError> {
    let r = sqlx::query!(
        "SELECT audit_retention_days, audit_legal_hold, audit_legal_hold_reason FROM companies WHERE id = $1",
        company
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(Retention {
        days: policy.in_force(r.audit_retention_days),
        legal_hold: r.audit_legal_hold,
        legal_hold_reason: r.audit_legal_hold_reason,
        floor_days: policy.min_days,
    })
}

fn as_json(r: &Retention) -> serde_json::Value {
    json!({ "retention_days": r.days, "legal_hold": r.legal_hold, "legal_hold_reason": r.legal_hold_reason })
}

/// Saves the setting with its audit row. An unchanged setting writes nothing. Shortening
/// the period or lifting a hold is recorded as a warning.
pub async fn save(conn: &mut PgConnection, op: &Op, next: &Retention, policy: &Policy) -> Result<Retention, AppError> {
    let company = op.company;
    let before = get(conn, company, policy).await?;
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
    op.record(
        conn,
        op.event(Action::AuditRetentionUpdate, "company")
            .on(company)
            .severity(if weakened { Severity::Warning } else { Severity::Info })
            .details(diff(&as_json(&before), &as_json(next))),
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

/// Prunes as of `at` (now, outside tests) under the operator's `policy`, in one transaction
/// with an `audit.prune` row in each chain that lost rows. Must run as the schema owner.
pub async fn prune(pool: &PgPool, at: OffsetDateTime, policy: &Policy) -> Result<PruneReport, AppError> {
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
             FROM atrium_audit_prune($1, $2, $3)"#,
        at,
        policy.min_days,
        policy.platform_days,
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
            Event::new(Action::AuditPrune, "audit_log")
                .company(company)
                .details(json!({ "removed": r.removed, "pruned_through_seq": r.through })),
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
        let lowest = Policy::new(30, 2557).unwrap();
        assert_eq!(input("30", false, "ignored").parse(&lowest).unwrap().legal_hold_reason, None);
        assert_eq!(input("2557", true, "Case 12").parse(&lowest).unwrap().days, 2557);
        for bad in ["29", "2558", "90.5", "", "ninety"] {
            assert!(input(bad, false, "").parse(&lowest).unwrap_err().field_error("days").is_some(), "{bad}");
        }
        assert!(input("90", true, " ").parse(&lowest).unwrap_err().field_error("legal_hold_reason").is_some());
    }

    #[test]
    fn the_platform_floor_holds() {
        let policy = Policy::default();
        assert_eq!(policy.min_days, 365);
        let err = input("90", false, "").parse(&policy).unwrap_err();
        assert!(err.field_error("days").unwrap().contains("365 days (the platform's minimum)"));
        assert_eq!(input("365", false, "").parse(&policy).unwrap().floor_days, 365);
        assert_eq!(policy.in_force(90), 365);
        assert_eq!(policy.in_force(730), 730);
        assert!(Policy::new(29, 2557).is_err());
        assert!(Policy::new(400, 300).is_err());
        assert!(Policy::new(30, 2558).is_err());
    }
}
