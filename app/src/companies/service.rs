//! Companies' operations: the reads, and the changes (validated, audited) as
//! `(conn, &Op, input)` in the caller's transaction, with the audit row in that transaction.
use super::{CompanyDetail, CompanyPage, CompanySort, CompanySummary, COUNT_CAP, PAGE_SIZE};
use crate::audit::record::{diff, Op, Who};
use crate::audit::{Action, Severity};
use crate::db;
use crate::domain::{parse_tenant_config, CompanyName, Slug};
use crate::error::{AppError, Fields};
use crate::server_ctx::RequestMeta;
use crate::ui::time::rfc3339;
use serde_json::json;
use sqlx::{PgConnection, PgPool, Row};
use time::OffsetDateTime;
use uuid::Uuid;

fn slug_taken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some("companies_slug_key"))
}

/// Keyset cursor: the sort key of the last row and its id, separated by "~" (ids hold none).
fn split_cursor(cursor: &str) -> Option<(String, Uuid)> {
    let (key, id) = cursor.rsplit_once('~')?;
    Some((key.to_string(), Uuid::parse_str(id).ok()?))
}

/// The list's ORDER BY and keyset comparison depend on the chosen sort, so this one query is
/// assembled at run time from fixed fragments (never from input) and checked by the tests.
pub async fn list(
    conn: &mut PgConnection,
    q: &str,
    sort: CompanySort,
    after: Option<&str>,
) -> Result<CompanyPage, AppError> {
    // Matched against lower(name || ' ' || slug), which the trigram index covers.
    let pattern = format!("%{}%", q.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
    let (order, key_expr, cmp) = match sort {
        CompanySort::Name => ("lower(c.name), c.id", "lower(c.name)", ">"),
        CompanySort::Slug => ("c.slug, c.id", "c.slug", ">"),
        CompanySort::Newest => (
            "c.created_at DESC, c.id DESC",
            "to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')",
            "<",
        ),
    };
    let cursor = after.and_then(split_cursor);
    let searching = !q.is_empty();
    // Parameters: $1 the search pattern (when searching), then the cursor's key and id.
    let (key_param, id_param) = if searching { (2, 3) } else { (1, 2) };
    let filter = if searching { "lower(c.name::text || ' ' || c.slug::text) LIKE $1" } else { "TRUE" };
    // For newest-first, compare timestamps as timestamps; the text form is only the cursor.
    let keyset = match (sort, &cursor) {
        (_, None) => "TRUE".to_string(),
        (CompanySort::Newest, Some(_)) => {
            format!("(c.created_at, c.id) < (${key_param}::timestamp AT TIME ZONE 'UTC', ${id_param})")
        }
        (_, Some(_)) => format!("({key_expr}, c.id) {cmp} (${key_param}, ${id_param})"),
    };
    let sql = format!(
        "SELECT c.id, c.name, c.slug, c.tenant_enabled, c.deleted_at IS NOT NULL AS deleted, c.created_at,
                {key_expr} AS sort_key,
                (SELECT count(*) FROM memberships m WHERE m.company_id = c.id) AS user_count
           FROM companies c
          WHERE {filter} AND {keyset}
          ORDER BY {order}
          LIMIT {}",
        PAGE_SIZE + 1
    );
    // Not a cached prepared statement: each search is planned with its own pattern, so a
    // rare fragment uses the trigram index and a common word walks the sort order.
    let mut query = sqlx::query(&sql).persistent(false);
    if searching {
        query = query.bind(&pattern);
    }
    if let Some((key, id)) = &cursor {
        query = query.bind(key).bind(id);
    }
    let rows = query.fetch_all(&mut *conn).await?;
    // Counting stops past COUNT_CAP, so the count stays cheap at any size ("10,000+").
    let counted = if searching {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM (
                 SELECT 1 FROM companies c WHERE lower(c.name::text || ' ' || c.slug::text) LIKE $1 LIMIT $2) AS capped"#,
            &pattern,
            COUNT_CAP + 1,
        )
        .persistent(false)
        .fetch_one(&mut *conn)
        .await?
    } else {
        sqlx::query_scalar!(
            r#"SELECT count(*) AS "n!" FROM (SELECT 1 FROM companies LIMIT $1) AS capped"#,
            COUNT_CAP + 1
        )
        .fetch_one(&mut *conn)
        .await?
    };
    let (total, total_capped) = if counted > COUNT_CAP { (COUNT_CAP, true) } else { (counted, false) };
    let has_more = rows.len() as i64 > PAGE_SIZE;
    let mut next = None;
    let mut out = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if i as i64 == PAGE_SIZE {
            break;
        }
        let id: Uuid = row.get("id");
        if has_more && i as i64 == PAGE_SIZE - 1 {
            let key: String = row.get("sort_key");
            next = Some(format!("{key}~{id}"));
        }
        out.push(CompanySummary {
            id,
            name: row.get("name"),
            slug: row.get("slug"),
            tenant_enabled: row.get("tenant_enabled"),
            deleted: row.get("deleted"),
            user_count: row.get("user_count"),
            created_at: rfc3339(row.get::<OffsetDateTime, _>("created_at")),
        });
    }
    Ok(CompanyPage { rows: out, next, total, total_capped })
}

/// One company as the editor shows it. Both lookups select the same columns.
macro_rules! select_detail {
    ($where:literal, $arg:expr) => {
        sqlx::query!(
            "SELECT id, name, slug, tenant_enabled, tenant_config, deleted_at, created_at, updated_at
               FROM companies WHERE "
                + $where,
            $arg
        )
    };
}

macro_rules! detail {
    ($r:expr) => {{
        let r = $r;
        CompanyDetail {
            id: r.id,
            name: r.name,
            slug: r.slug,
            tenant_enabled: r.tenant_enabled,
            tenant_config: serde_json::to_string_pretty(&r.tenant_config).unwrap_or_else(|_| "{}".into()),
            deleted: r.deleted_at.is_some(),
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }};
}

pub async fn get(conn: &mut PgConnection, id: Uuid) -> Result<Option<CompanyDetail>, AppError> {
    Ok(select_detail!("id = $1", id).fetch_optional(conn).await?.map(|r| detail!(r)))
}

pub async fn user_count(conn: &mut PgConnection, company_id: Uuid) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(r#"SELECT count(*) AS "n!" FROM memberships WHERE company_id = $1"#, company_id)
        .fetch_one(conn)
        .await?)
}

/// Creates the company `op.company` (the caller's transaction is scoped to that new id, so
/// row-level security admits the insert). An empty slug is derived from the name and
/// de-duplicated (acme, acme-2, ...); a given slug must be valid and free.
pub async fn create(conn: &mut PgConnection, op: &Op, name: &str, slug: &str) -> Result<(), AppError> {
    let mut fields = Fields::default();
    let name = fields.check("name", CompanyName::parse(name));
    let slug =
        if slug.trim().is_empty() { None } else { fields.check("slug", Slug::parse(slug)).map(Some).unwrap_or(None) };
    fields.finish()?;
    let name = name.expect("checked");
    let id = op.company;
    let slug = match slug {
        Some(s) => s.as_str().to_string(),
        None => {
            let base = Slug::from_name(name.as_str());
            sqlx::query_scalar!(r#"SELECT atrium_unique_company_slug($1, NULL) AS "slug!""#, base.as_str())
                .fetch_one(&mut *conn)
                .await?
        }
    };
    match sqlx::query!("INSERT INTO companies (id, name, slug) VALUES ($1, $2, $3)", id, name.as_str(), &slug)
        .execute(&mut *conn)
        .await
    {
        Ok(_) => {}
        Err(e) if slug_taken(&e) => {
            return Err(AppError::field("slug", format!("The slug \u{201c}{slug}\u{201d} is already taken.")))
        }
        Err(e) => return Err(e.into()),
    };
    op.record(
        conn,
        op.event(Action::CompanyCreate, "company")
            .on(id)
            .details(json!({ "after": { "name": name.as_str(), "slug": slug } })),
    )
    .await
}

/// `create` in a transaction of its own, for the command line and seeds: returns the new id.
pub async fn create_as(pool: &PgPool, who: &Who, meta: &RequestMeta, name: &str, slug: &str) -> Result<Uuid, AppError> {
    let id = Uuid::new_v4();
    let mut tx = db::tenant(pool, id, who.user_id).await?;
    create(&mut tx, &Op { company: id, who: who.clone(), meta: meta.clone() }, name, slug).await?;
    tx.commit().await?;
    Ok(id)
}

pub struct CompanyEdit {
    pub name: String,
    pub slug: String,
    pub tenant_config: String,
    pub tenant_enabled: bool,
}

pub async fn update(conn: &mut PgConnection, op: &Op, input: CompanyEdit) -> Result<(), AppError> {
    let mut fields = Fields::default();
    let name = fields.check("name", CompanyName::parse(&input.name));
    let slug = fields.check("slug", Slug::parse(&input.slug));
    let config = fields.check("tenant_config", parse_tenant_config(&input.tenant_config));
    fields.finish()?;
    let (name, slug, config) = (name.expect("checked"), slug.expect("checked"), config.expect("checked"));

    let id = op.company;
    let before = sqlx::query!(
        r#"SELECT name, slug, tenant_enabled, tenant_config, deleted_at IS NOT NULL AS "deleted!"
             FROM companies WHERE id = $1 FOR UPDATE"#,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| (r.name, r.slug, r.tenant_enabled, r.tenant_config, r.deleted));
    let Some(before) = before else { return Err(AppError::NotFound) };
    if before.4 {
        return Err(AppError::Conflict("This company has been deleted and can no longer be edited.".into()));
    }
    match sqlx::query!(
        "UPDATE companies SET name = $2, slug = $3, tenant_config = $4, tenant_enabled = $5 WHERE id = $1",
        id,
        name.as_str(),
        slug.as_str(),
        &config,
        input.tenant_enabled,
    )
    .execute(&mut *conn)
    .await
    {
        Ok(_) => {}
        Err(e) if slug_taken(&e) => {
            return Err(AppError::field(
                "slug",
                format!("The slug \u{201c}{}\u{201d} is already taken.", slug.as_str()),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let before_json =
        json!({ "name": before.0, "slug": before.1, "tenant_enabled": before.2, "tenant_config": before.3 });
    let after_json = json!({ "name": name.as_str(), "slug": slug.as_str(), "tenant_enabled": input.tenant_enabled, "tenant_config": config });
    if before_json != after_json {
        let action = match (before.2, input.tenant_enabled) {
            (true, false) => Action::CompanyDisable,
            (false, true) => Action::CompanyEnable,
            _ => Action::CompanyUpdate,
        };
        op.record(
            conn,
            op.event(action, "company")
                .on(id)
                .severity(if action == Action::CompanyDisable { Severity::Warning } else { Severity::Info })
                .details(diff(&before_json, &after_json)),
        )
        .await?;
    }
    Ok(())
}

/// Soft delete: the company disappears from tenant routing; its rows and audit trail stay.
pub async fn soft_delete(conn: &mut PgConnection, op: &Op) -> Result<(), AppError> {
    let id = op.company;
    let row = sqlx::query!("SELECT slug, deleted_at FROM companies WHERE id = $1 FOR UPDATE", id)
        .fetch_optional(&mut *conn)
        .await?
        .map(|r| (r.slug, r.deleted_at));
    let Some((slug, deleted_at)) = row else { return Err(AppError::NotFound) };
    if deleted_at.is_some() {
        return Err(AppError::Conflict("This company is already deleted.".into()));
    }
    sqlx::query!("UPDATE companies SET deleted_at = now(), tenant_enabled = false WHERE id = $1", id)
        .execute(&mut *conn)
        .await?;
    sqlx::query!("UPDATE sessions SET revoked_at = now() WHERE tenant_id = $1 AND revoked_at IS NULL", id)
        .execute(&mut *conn)
        .await?;
    op.record(
        conn,
        op.event(Action::CompanyDelete, "company").on(id).severity(Severity::Warning).details(json!({ "slug": slug })),
    )
    .await
}
