//! Reading the audit log: the filters parsed into typed conditions, keyset pages newest
//! first, and one row in full. The console, the REST API and export share all of it.
use super::{Action, AuditDetail, AuditEntry, AuditPage, FilterParams, Severity};
use crate::error::{AppError, FieldErrors};
use sqlx::PgConnection;
use time::macros::format_description;
use time::{Date, OffsetDateTime, Time};
use uuid::Uuid;

/// Rows per page in the console; the API may ask for up to `MAX_LIMIT`.
pub const PAGE_SIZE: i64 = 50;
pub const MAX_LIMIT: i64 = 200;

/// Which rows a reader may see: one company's, or (the super-admin) every company's plus
/// the platform's own events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    Company(Uuid),
    All,
}

/// The filters, parsed. Empty means "any".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// `group.*`: every action in the group.
    pub action_group: Option<String>,
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    pub severity: Option<Severity>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    /// Across companies only: the company's slug, resolved by the caller's query.
    pub company: Option<String>,
}

fn day(field: &str, raw: &str, errors: &mut FieldErrors) -> Option<Date> {
    if raw.is_empty() {
        return None;
    }
    let parsed = Date::parse(raw, format_description!("[year]-[month]-[day]")).ok();
    if parsed.is_none() {
        errors.insert(field.into(), "Use a date like 2026-01-31.".into());
    }
    parsed
}

impl Filter {
    /// `scope` decides whether a company filter makes sense.
    pub fn parse(p: &FilterParams, scope: Reach) -> Result<Filter, AppError> {
        let mut errors = FieldErrors::new();
        let text = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
        let mut f = Filter {
            actor: text(&p.actor),
            resource: text(&p.resource),
            resource_id: text(&p.resource_id),
            ..Filter::default()
        };
        if let Some(a) = text(&p.action) {
            match a.strip_suffix(".*") {
                Some(group) if Action::ALL.iter().any(|k| k.group() == group) => f.action_group = Some(group.into()),
                None if Action::parse(&a).is_some() => f.action = Some(a),
                _ => {
                    errors.insert("action".into(), format!("\u{201c}{a}\u{201d} is not an action in the catalogue."));
                }
            }
        }
        if !p.severity.is_empty() {
            f.severity = Severity::parse(&p.severity);
            if f.severity.is_none() {
                errors.insert("severity".into(), "Choose info, warning or error.".into());
            }
        }
        let from = day("from", &p.from, &mut errors);
        let to = day("to", &p.to, &mut errors);
        if let (Some(a), Some(b)) = (from, to) {
            if a > b {
                errors.insert("to".into(), "The end date is before the start date.".into());
            }
        }
        f.since = from.map(|d| d.with_time(Time::MIDNIGHT).assume_utc());
        f.until = to.and_then(|d| d.next_day()).map(|d| d.with_time(Time::MIDNIGHT).assume_utc());
        match (scope, text(&p.company)) {
            (Reach::All, company) => f.company = company,
            (Reach::Company(_), Some(_)) => {
                errors.insert("company".into(), "Only the all-companies log filters by company.".into());
            }
            (Reach::Company(_), None) => {}
        }
        if errors.is_empty() {
            Ok(f)
        } else {
            Err(AppError::Validation(errors))
        }
    }

    /// The filters that are on, for the record of an export.
    pub fn describe(&self) -> serde_json::Value {
        use time::format_description::well_known::Rfc3339;
        let time = |t: &Option<OffsetDateTime>| t.and_then(|t| t.format(&Rfc3339).ok());
        let mut m = serde_json::Map::new();
        let mut put = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                m.insert(k.into(), v.into());
            }
        };
        put("actor", self.actor.clone());
        put("action", self.action.clone().or_else(|| self.action_group.as_ref().map(|g| format!("{g}.*"))));
        put("resource", self.resource.clone());
        put("resource_id", self.resource_id.clone());
        put("severity", self.severity.map(|s| s.as_str().to_string()));
        put("since", time(&self.since));
        put("until", time(&self.until));
        put("company", self.company.clone());
        serde_json::Value::Object(m)
    }

    pub(crate) fn actor_pattern(&self) -> Option<String> {
        self.actor.as_ref().map(|a| {
            let escaped = a.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
            format!("%{escaped}%")
        })
    }

    pub(crate) fn group_pattern(&self) -> Option<String> {
        self.action_group.as_ref().map(|g| format!("{}.%", g.replace('_', "\\_")))
    }
}

/// A position in the newest-first order: the row's time (µs since the epoch) and id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    pub at: OffsetDateTime,
    pub id: i64,
}

impl Cursor {
    pub fn encode(at: OffsetDateTime, id: i64) -> String {
        format!("{}_{}", at.unix_timestamp_nanos() / 1000, id)
    }

    pub fn parse(raw: &str) -> Option<Cursor> {
        let (t, id) = raw.split_once('_')?;
        let micros: i128 = t.parse().ok()?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(micros.checked_mul(1000)?).ok()?;
        Some(Cursor { at, id: id.parse().ok()? })
    }
}

/// The company's id for a slug in the all-companies view (None: no such company).
async fn company_by_slug(conn: &mut PgConnection, slug: &str) -> Result<Option<Uuid>, AppError> {
    Ok(sqlx::query_scalar!("SELECT id FROM companies WHERE slug = $1", slug).fetch_optional(conn).await?)
}

/// Resolves the filter's company (across companies) into the id the queries take. A slug
/// that names no company matches nothing rather than everything.
pub async fn company_condition(conn: &mut PgConnection, scope: Reach, f: &Filter) -> Result<Option<Uuid>, AppError> {
    match (scope, &f.company) {
        (Reach::Company(id), _) => Ok(Some(id)),
        (Reach::All, None) => Ok(None),
        (Reach::All, Some(slug)) => Ok(Some(company_by_slug(conn, slug).await?.unwrap_or(Uuid::nil()))),
    }
}

/// Plans each page with its actual filters: a generic plan can't tell which of the
/// optional conditions are off, and would miss the indexes that make pages fast.
pub async fn plan_per_query(conn: &mut PgConnection) -> Result<(), AppError> {
    sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan").execute(conn).await?;
    Ok(())
}

/// One audit row as the viewer and the export read it. `details` stays JSON text, so the
/// export writes it as stored and only the viewer parses it.
pub struct Row {
    pub id: i64,
    pub ts: OffsetDateTime,
    pub company: Option<String>,
    pub user_email: Option<String>,
    pub role: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub severity: Severity,
    pub details: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub chain_seq: i64,
    pub hash: Vec<u8>,
    pub prev_hash: Option<Vec<u8>>,
}

/// A `Row` from a query that selects its columns under their names (`matching`, `detail`).
macro_rules! row_of {
    ($r:expr) => {{
        let r = $r;
        Row {
            id: r.id,
            ts: r.ts,
            company: r.company,
            user_email: r.user_email,
            role: r.role,
            action: r.action,
            resource: r.resource,
            resource_id: r.resource_id,
            severity: r.severity,
            details: r.details,
            ip: r.ip,
            user_agent: r.user_agent,
            session_id: r.session_id,
            request_id: r.request_id,
            chain_seq: r.chain_seq,
            hash: r.hash,
            prev_hash: r.prev_hash,
        }
    }};
}

impl Row {
    pub fn into_detail(self) -> AuditDetail {
        AuditDetail {
            company: self.company,
            role: self.role,
            user_agent: self.user_agent,
            session_id: self.session_id,
            request_id: self.request_id,
            chain_seq: self.chain_seq,
            hash: hex::encode(self.hash),
            prev_hash: self.prev_hash.map(hex::encode),
            entry: AuditEntry {
                id: self.id,
                timestamp: crate::ui::time::rfc3339(self.ts),
                actor_email: self.user_email,
                action: self.action,
                resource: self.resource,
                resource_id: self.resource_id,
                severity: self.severity,
                details: serde_json::from_str(&self.details).unwrap_or(serde_json::Value::Null),
                ip: self.ip,
            },
        }
    }
}

/// Every row under the filter, newest first, after `cursor`, at most `limit` (None: all of
/// them): the one query behind the viewer, the REST API and exports. `company` comes from
/// `company_condition`; run `plan_per_query` in the transaction first.
pub fn matching<'c>(
    conn: &'c mut PgConnection,
    company: Option<Uuid>,
    f: &Filter,
    cursor: Option<Cursor>,
    limit: Option<i64>,
) -> futures::stream::BoxStream<'c, Result<Row, sqlx::Error>> {
    use futures::{StreamExt, TryStreamExt};
    sqlx::query!(
        r#"SELECT a.id, a."timestamp" AS ts, a.user_email, a.user_role::text AS role, a.action, a.resource,
                  a.resource_id, a.severity AS "severity: Severity", a.details::text AS "details!",
                  host(a.ip_address) AS ip, a.user_agent, a.session_id, a.request_id, a.chain_seq, a.hash,
                  a.prev_hash, c.name AS "company?"
             FROM audit_log a LEFT JOIN companies c ON c.id = a.company_id
            WHERE ($1::uuid IS NULL OR a.company_id = $1)
              AND ($2::text IS NULL OR a.action = $2)
              AND ($3::text IS NULL OR a.action LIKE $3)
              AND ($4::text IS NULL OR a.user_email ILIKE $4)
              AND ($5::text IS NULL OR a.resource = $5)
              AND ($6::text IS NULL OR a.resource_id = $6)
              AND ($7::audit_severity IS NULL OR a.severity = $7)
              AND ($8::timestamptz IS NULL OR a."timestamp" >= $8)
              AND ($9::timestamptz IS NULL OR a."timestamp" < $9)
              AND ($10::timestamptz IS NULL OR (a."timestamp", a.id) < ($10, $11::bigint))
            ORDER BY a."timestamp" DESC, a.id DESC
            LIMIT $12"#,
        company,
        f.action,
        f.group_pattern(),
        f.actor_pattern(),
        f.resource,
        f.resource_id,
        f.severity as Option<Severity>,
        f.since,
        f.until,
        cursor.map(|c| c.at),
        cursor.map(|c| c.id),
        limit,
    )
    .fetch(conn)
    .map_ok(|r| row_of!(r))
    .boxed()
}

/// One page, newest first, after `cursor`. Reads `limit + 1` rows to know whether there
/// are older ones.
pub async fn page(
    conn: &mut PgConnection,
    scope: Reach,
    f: &Filter,
    cursor: Option<Cursor>,
    limit: i64,
) -> Result<AuditPage, AppError> {
    use futures::TryStreamExt;
    plan_per_query(conn).await?;
    let company = company_condition(conn, scope, f).await?;
    let rows: Vec<Row> = matching(conn, company, f, cursor, Some(limit + 1)).try_collect().await?;
    let more = rows.len() as i64 > limit;
    let next = if more { rows.get(limit as usize - 1).map(|r| Cursor::encode(r.ts, r.id)) } else { None };
    let rows = rows.into_iter().take(limit as usize).map(Row::into_detail).collect();
    Ok(AuditPage { rows, next })
}

/// One row by id, within the scope.
pub async fn detail(conn: &mut PgConnection, scope: Reach, id: i64) -> Result<Option<AuditDetail>, AppError> {
    let company = match scope {
        Reach::Company(c) => Some(c),
        Reach::All => None,
    };
    let r = sqlx::query!(
        r#"SELECT a.id, a."timestamp" AS ts, a.user_email, a.user_role::text AS role, a.action, a.resource,
                  a.resource_id, a.severity AS "severity: Severity", a.details::text AS "details!",
                  host(a.ip_address) AS ip, a.user_agent, a.session_id, a.request_id, a.chain_seq, a.hash,
                  a.prev_hash, c.name AS "company?"
             FROM audit_log a LEFT JOIN companies c ON c.id = a.company_id
            WHERE a.id = $1 AND ($2::uuid IS NULL OR a.company_id = $2)"#,
        id,
        company,
    )
    .fetch_optional(conn)
    .await?;
    Ok(r.map(|r| row_of!(r).into_detail()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> FilterParams {
        FilterParams::from_pairs(pairs.iter().copied())
    }

    #[test]
    fn parses_each_filter_and_names_the_bad_ones() {
        let f = Filter::parse(
            &params(&[("action", "api_key.*"), ("severity", "warning"), ("from", "2026-01-01"), ("to", "2026-01-31")]),
            Reach::All,
        )
        .unwrap();
        assert_eq!(f.action_group.as_deref(), Some("api_key"));
        assert_eq!(f.group_pattern().as_deref(), Some("api\\_key.%"));
        assert_eq!(f.severity, Some(Severity::Warning));
        assert_eq!(f.until.unwrap() - f.since.unwrap(), time::Duration::days(31));
        let Err(AppError::Validation(e)) = Filter::parse(
            &params(&[("action", "user.fly"), ("severity", "loud"), ("from", "31/01/2026"), ("company", "x")]),
            Reach::Company(Uuid::nil()),
        ) else {
            panic!("expected field errors")
        };
        assert_eq!(e.keys().collect::<Vec<_>>(), ["action", "company", "from", "severity"]);
        let Err(AppError::Validation(e)) =
            Filter::parse(&params(&[("from", "2026-02-01"), ("to", "2026-01-01")]), Reach::All)
        else {
            panic!("expected field errors")
        };
        assert!(e.contains_key("to"));
    }

    #[test]
    fn actor_text_is_matched_literally() {
        let f = Filter::parse(&params(&[("actor", "a_b%")]), Reach::All).unwrap();
        assert_eq!(f.actor_pattern().as_deref(), Some("%a\\_b\\%%"));
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        let c = Cursor::encode(at, 42);
        assert_eq!(Cursor::parse(&c), Some(Cursor { at, id: 42 }));
        assert_eq!(Cursor::parse("x_1"), None);
        assert_eq!(Cursor::parse("99999999999999999999999_1"), None);
    }
}
