//! The security overview's queries (in the company's transaction, so row-level security
//! bounds them too) and the two-factor requirement.
use super::{AdminLine, ChainCheck, CompanySecurity, FailingIntegration, RiskyKey, SecurityOverview, UNUSED_DAYS};
use crate::audit::record::Op;
use crate::audit::{Action, Severity};
use crate::domain::Role;
use crate::error::AppError;
use crate::ui::time::rfc3339;
use serde_json::json;
use sqlx::PgConnection;
use uuid::Uuid;

pub async fn overview(conn: &mut PgConnection, company: Uuid, name: &str) -> Result<SecurityOverview, AppError> {
    let c = sqlx::query!(
        "SELECT require_two_factor, audit_retention_days, audit_legal_hold FROM companies WHERE id = $1",
        company
    )
    .fetch_one(&mut *conn)
    .await?;
    let members = sqlx::query!(
        r#"SELECT m.role AS "role!: Role", count(*) AS "all!", count(*) FILTER (WHERE u.totp_enabled_at IS NULL) AS "without!"
             FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.company_id = $1 AND m.status = 'ACTIVE' AND u.status = 'ACTIVE'
            GROUP BY m.role"#,
        company
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut without: Vec<(Role, i64)> = members.iter().filter(|r| r.without > 0).map(|r| (r.role, r.without)).collect();
    without.sort_by_key(|(role, _)| std::cmp::Reverse(role.level()));
    let admins = sqlx::query!(
        r#"SELECT u.id, u.name, u.email, u.last_login_at, u.totp_enabled_at IS NOT NULL AS "two_factor!"
             FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.company_id = $1 AND m.status = 'ACTIVE' AND m.role = 'ADMIN' AND u.status = 'ACTIVE'
            ORDER BY u.last_login_at ASC NULLS FIRST, lower(u.email)"#,
        company
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|a| AdminLine {
        id: a.id,
        name: a.name,
        email: a.email,
        last_sign_in: a.last_login_at.map(rfc3339),
        two_factor: a.two_factor,
    })
    .collect();
    let risky_keys = sqlx::query!(
        r#"SELECT id, name, expires_at IS NULL AS "never_expires!",
                  coalesce(last_used_at, created_at) < now() - make_interval(days => $2::int) AS "unused!",
                  rate_limit_per_minute IS NULL AS "unlimited!"
             FROM api_keys
            WHERE company_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
              AND (expires_at IS NULL OR rate_limit_per_minute IS NULL
                   OR coalesce(last_used_at, created_at) < now() - make_interval(days => $2::int))
            ORDER BY created_at"#,
        company,
        UNUSED_DAYS as i32,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|k| RiskyKey {
        id: k.id,
        name: k.name,
        reasons: [
            (k.never_expires, "never expires".to_string()),
            (k.unused, format!("unused for {UNUSED_DAYS} days")),
            (k.unlimited, "no rate limit".to_string()),
        ]
        .into_iter()
        .filter_map(|(on, why)| on.then_some(why))
        .collect(),
    })
    .collect();
    let failing_integrations = sqlx::query!(
        r#"SELECT c.platform, c.error_message,
                  (SELECT count(*) FROM integration_delivery_log d
                    WHERE d.integration_config_id = c.id AND d.status = 'failed') AS "failed!"
             FROM integration_configs c
            WHERE c.company_id = $1 AND c.enabled
              AND (c.last_sync_status = 'failed'
                   OR EXISTS (SELECT 1 FROM integration_delivery_log d
                               WHERE d.integration_config_id = c.id AND d.status = 'failed'))
            ORDER BY c.platform"#,
        company
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|i| FailingIntegration {
        label: crate::integrations::Platform::parse(&i.platform)
            .map(|p| p.label().to_string())
            .unwrap_or(i.platform.clone()),
        platform: i.platform,
        failed_deliveries: i.failed,
        last_error: i.error_message,
    })
    .collect();
    let last_verification = last_check(conn).await?;
    Ok(SecurityOverview {
        company: name.to_string(),
        require_two_factor: c.require_two_factor,
        members: members.iter().map(|r| r.all).sum(),
        without_two_factor: without.into_iter().map(|(r, n)| (r.label().to_string(), n)).collect(),
        admins,
        risky_keys,
        failing_integrations,
        retention_days: c.audit_retention_days,
        legal_hold: c.audit_legal_hold,
        last_verification,
    })
}

/// The company's chain's last verification, by its own check or the operator's check of every
/// chain (migration 0023 reads the platform row for it).
async fn last_check(conn: &mut PgConnection) -> Result<Option<ChainCheck>, AppError> {
    Ok(sqlx::query!(r#"SELECT verified_at AS "at!", intact AS "intact!" FROM atrium_chain_last_verified()"#)
        .fetch_optional(conn)
        .await?
        .map(|r| ChainCheck { at: rfc3339(r.at), intact: r.intact }))
}

pub async fn set_required(conn: &mut PgConnection, op: &Op, on: bool) -> Result<(), AppError> {
    let before = sqlx::query_scalar!("SELECT require_two_factor FROM companies WHERE id = $1 FOR UPDATE", op.company)
        .fetch_one(&mut *conn)
        .await?;
    if before == on {
        return Ok(());
    }
    sqlx::query!("UPDATE companies SET require_two_factor = $2 WHERE id = $1", op.company, on)
        .execute(&mut *conn)
        .await?;
    op.record(
        &mut *conn,
        op.event(Action::SecurityTwoFactorRequire, "company")
            .on(op.company)
            .severity(Severity::Warning)
            .details(json!({ "before": { "require_two_factor": before }, "after": { "require_two_factor": on } })),
    )
    .await
}

/// Every company's line for the super-admin (as atrium_platform, read put on record).
pub async fn across_companies(conn: &mut PgConnection) -> Result<Vec<CompanySecurity>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT c.name, c.slug, c.require_two_factor,
                  (SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
                    WHERE m.company_id = c.id AND m.status = 'ACTIVE' AND u.status = 'ACTIVE') AS "members!",
                  (SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
                    WHERE m.company_id = c.id AND m.status = 'ACTIVE' AND u.status = 'ACTIVE'
                      AND u.totp_enabled_at IS NULL) AS "without!",
                  (SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
                    WHERE m.company_id = c.id AND m.status = 'ACTIVE' AND u.status = 'ACTIVE' AND m.role = 'ADMIN'
                      AND u.totp_enabled_at IS NULL) AS "admins_without!",
                  (SELECT count(*) FROM api_keys k
                    WHERE k.company_id = c.id AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())
                      AND (k.expires_at IS NULL OR k.rate_limit_per_minute IS NULL
                           OR coalesce(k.last_used_at, k.created_at) < now() - make_interval(days => $1::int))) AS "risky!",
                  (SELECT count(*) FROM integration_configs i
                    WHERE i.company_id = c.id AND i.enabled
                      AND (i.last_sync_status = 'failed'
                           OR EXISTS (SELECT 1 FROM integration_delivery_log d
                                       WHERE d.integration_config_id = i.id AND d.status = 'failed'))) AS "failing!",
                  v."timestamp" AS "verified_at?",
                  NOT EXISTS (
                    SELECT 1 FROM jsonb_array_elements(coalesce(v.details -> 'broken', '[]'::jsonb)) b
                     WHERE EXISTS (SELECT 1 FROM audit_log r WHERE r.id = (b ->> 'row_id')::bigint AND r.company_id = c.id)
                        OR (b ->> 'row_id' IS NULL AND b ->> 'chain' = c.name)) AS "intact!"
             FROM companies c
             -- As atrium_chain_last_verified() (0023) answers a company for itself.
             LEFT JOIN LATERAL (SELECT a."timestamp", a.details FROM audit_log a
                                 WHERE (a.company_id = c.id OR a.company_id IS NULL) AND a.action = 'audit.verify'
                                 ORDER BY a."timestamp" DESC LIMIT 1) v ON true
            WHERE c.deleted_at IS NULL
            ORDER BY lower(c.name)
            LIMIT 500"#,
        UNUSED_DAYS as i32,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| CompanySecurity {
            name: r.name,
            slug: r.slug,
            require_two_factor: r.require_two_factor,
            members: r.members,
            without_two_factor: r.without,
            admins_without_two_factor: r.admins_without,
            risky_keys: r.risky,
            failing_integrations: r.failing,
            last_verification: r.verified_at.map(|at| ChainCheck { at: rfc3339(at), intact: r.intact }),
        })
        .collect())
}
