//! The audit log's server functions: the viewer, verifying the chains, and a company's
//! retention setting.
#[cfg(feature = "ssr")]
use super::{chain, query, record, retention, Action, Severity};
use super::{AuditView, ChainReport, FilterParams, Retention};
use crate::error::AppError;
use leptos::prelude::*;

/// The viewer: one page of rows under the filters, and the opened row. `slug` None is the
/// super-admin's view across companies.
#[server(endpoint = "audit/view")]
pub async fn load_audit(
    #[server(default)] slug: Option<String>,
    #[server(default)] filters: FilterParams,
    #[server(default)] cursor: String,
    #[server(default)] entry: Option<i64>,
) -> Result<AuditView, AppError> {
    use crate::domain::Permission;
    use crate::server_ctx::state;
    let mut r = crate::access::open_reader(slug.as_deref(), Permission::AuditRead, "audit").await?;
    let filter = query::Filter::parse(&filters, r.scope)?;
    let cursor = match cursor.trim() {
        "" => None,
        c => Some(query::Cursor::parse(c).ok_or_else(|| {
            AppError::field("cursor", "That page link is damaged; start again from the newest rows.")
        })?),
    };
    let page = query::page(&mut r.tx, r.scope, &filter, cursor, query::PAGE_SIZE).await?;
    let detail = match entry {
        Some(id) => Some(query::detail(&mut r.tx, r.scope, id).await?.ok_or(AppError::NotFound)?),
        None => None,
    };
    let retention = match r.scope {
        query::Reach::Company(c) => Some(retention::get(&mut r.tx, c, &state()?.audit_policy).await?),
        query::Reach::All => None,
    };
    let can_export = r.may(Permission::AuditExport);
    let can_set_retention = r.tenant.is_some() && r.may(Permission::AuditRetention);
    r.tx.commit().await?;
    Ok(AuditView { page, detail, can_export, retention, can_set_retention })
}

/// Walks the company's chain (or, across companies, every chain) and records the result
/// as `audit.verify`.
#[server(endpoint = "audit/verify")]
pub async fn verify_audit(slug: Option<String>) -> Result<Vec<ChainReport>, AppError> {
    use crate::domain::Permission;
    use crate::server_ctx::{request_meta, state};
    let mut r = crate::access::open_reader(slug.as_deref(), Permission::AuditRead, "audit.verify").await?;
    let mut reports = Vec::new();
    match r.scope {
        query::Reach::Company(c) => {
            let name = r.tenant.as_ref().map(|t| t.company.name.clone()).unwrap_or_default();
            reports.push(chain::verify(&mut r.tx, c, &name).await?);
        }
        query::Reach::All => {
            for (id, name) in chain::chains(&mut r.tx).await? {
                reports.push(chain::verify(&mut r.tx, id, &name).await?);
            }
        }
    }
    let who = r.who();
    r.tx.commit().await?;
    let company = match r.scope {
        query::Reach::Company(c) => Some(c),
        query::Reach::All => None,
    };
    let broken = reports.iter().filter(|x| x.broken.is_some()).count();
    let mut tx = match company {
        Some(c) => crate::db::tenant(&state()?.pool, c, Some(r.actor.user_id)).await?,
        None => crate::db::account(&state()?.pool, r.actor.user_id).await?,
    };
    record::record(
            &mut tx,
            &who,
            &request_meta(),
            record::Event::new(Action::AuditVerify, "audit_log").company(company).severity(if broken > 0 { Severity::Error } else { Severity::Info }).details(serde_json::json!({
                    "chains": reports.len(),
                    "rows": reports.iter().map(|x| x.rows).sum::<i64>(),
                    "broken": reports.iter().filter_map(|x| x.broken.as_ref().map(|b| serde_json::json!({ "chain": x.chain, "seq": b.seq, "row_id": b.row_id }))).collect::<Vec<_>>(),
                })),
        )
        .await?;
    tx.commit().await?;
    Ok(reports)
}

/// Sets the company's retention and legal hold.
#[server(endpoint = "audit/retention")]
pub async fn save_retention(
    slug: String,
    days: String,
    legal_hold: Option<String>,
    legal_hold_reason: String,
) -> Result<Retention, AppError> {
    use crate::domain::Permission;
    use crate::server_ctx::state;
    let t = crate::access::require_in(&slug, Permission::AuditRetention).await?;
    let policy = state()?.audit_policy;
    let next =
        retention::RetentionInput { days, legal_hold: legal_hold.is_some(), legal_hold_reason }.parse(&policy)?;
    let mut tx = t.tx().await?;
    let saved = retention::save(&mut tx, &t.op(), &next, &policy).await?;
    tx.commit().await?;
    Ok(saved)
}
