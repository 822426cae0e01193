//! API keys' operations: the reads, and the changes (validated, audited). Each runs in the
//! caller's transaction (a tenant's, or the command line's) as `(conn, &Op, input)`, and
//! every change writes its audit row in that same transaction.
use super::secret::{ApiKeySecret, Pepper};
use super::{
    Caller, DayCount, IssuedKey, KeyDetail, KeyLink, KeyRow, KeyStatus, Scope, EXPIRING_SOON_DAYS, UNUSED_DAYS,
};
use crate::audit::record::Op;
use crate::audit::{Action, Severity};
use crate::error::{AppError, Fields};
use crate::ui::time::rfc3339;
use serde_json::json;
use sqlx::PgConnection;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

pub const MAX_NAME: usize = 100;
pub const MAX_RATE_LIMIT: i32 = 1_000_000;
/// The longest lifetime a dated key may have.
pub const MAX_DAYS: i64 = 5 * 366;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    Never,
    At(OffsetDateTime),
}

impl Expiry {
    fn at(self) -> Option<OffsetDateTime> {
        match self {
            Expiry::Never => None,
            Expiry::At(t) => Some(t),
        }
    }

    /// `90d`, `12h` or `never`, as the command line takes it.
    pub fn parse_duration(raw: &str) -> Result<Expiry, String> {
        let raw = raw.trim();
        if raw == "never" {
            return Ok(Expiry::Never);
        }
        let (n, unit) = raw.split_at(raw.len().saturating_sub(1));
        let n: i64 =
            n.parse().map_err(|_| format!("\u{201c}{raw}\u{201d} is not a duration like 90d, 12h or never."))?;
        let d = match unit {
            "d" => Duration::days(n),
            "h" => Duration::hours(n),
            _ => return Err(format!("\u{201c}{raw}\u{201d} is not a duration like 90d, 12h or never.")),
        };
        if n <= 0 || d > Duration::days(MAX_DAYS) {
            return Err(format!("The expiry must be between 1 hour and {MAX_DAYS} days."));
        }
        Ok(Expiry::At(OffsetDateTime::now_utc() + d))
    }
}

/// A key to issue, parsed from the form or the command line.
#[derive(Clone, Debug)]
pub struct NewKey {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub expiry: Expiry,
    pub rate_limit: Option<i32>,
}

pub fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.is_empty() {
        return Err("Give the key a name, such as the system that will use it.".into());
    }
    if name.chars().count() > MAX_NAME {
        return Err(format!("Keep the name under {MAX_NAME} characters."));
    }
    Ok(name.to_string())
}

pub fn parse_scopes(raw: &[String]) -> Result<Vec<Scope>, String> {
    let mut scopes = Vec::new();
    for s in raw.iter().flat_map(|s| s.split(',')).map(str::trim).filter(|s| !s.is_empty()) {
        let scope = Scope::parse(s).ok_or_else(|| {
            let known: Vec<_> = Scope::ALL.iter().map(|s| s.as_str()).collect();
            format!("\u{201c}{s}\u{201d} is not a scope. Known scopes: {}.", known.join(", "))
        })?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    if scopes.is_empty() {
        return Err("Choose at least one scope.".into());
    }
    Ok(scopes)
}

pub fn parse_rate_limit(raw: &str) -> Result<Option<i32>, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    match raw.parse::<i32>() {
        Ok(n) if (1..=MAX_RATE_LIMIT).contains(&n) => Ok(Some(n)),
        _ => Err(format!("A whole number of requests per minute, from 1 to {MAX_RATE_LIMIT}, or empty for none.")),
    }
}

impl NewKey {
    /// The console's form: expiry is 30, 90 or 365 (days), `date` with `expires_on`, or
    /// `never`, which needs `confirm_never`.
    pub fn parse(
        name: &str,
        scopes: &[String],
        expiry: &str,
        expires_on: &str,
        confirm_never: bool,
        rate_limit: &str,
    ) -> Result<NewKey, AppError> {
        let mut f = Fields::default();
        let name = f.check("name", parse_name(name));
        let scopes = f.check("scopes", parse_scopes(scopes));
        let expiry = f.check("expiry", parse_form_expiry(expiry, expires_on, confirm_never));
        let rate_limit = f.check("rate_limit", parse_rate_limit(rate_limit));
        f.finish()?;
        Ok(NewKey {
            name: name.expect("checked"),
            scopes: scopes.expect("checked"),
            expiry: expiry.expect("checked"),
            rate_limit: rate_limit.expect("checked"),
        })
    }
}

fn parse_form_expiry(expiry: &str, expires_on: &str, confirm_never: bool) -> Result<Expiry, String> {
    let now = OffsetDateTime::now_utc();
    match expiry.trim() {
        "30" | "90" | "365" => Ok(Expiry::At(now + Duration::days(expiry.trim().parse().expect("digits")))),
        "never" if confirm_never => Ok(Expiry::Never),
        "never" => Err("A key that never expires must be confirmed: tick \u{201c}I understand\u{201d}.".into()),
        "date" => {
            let format = time::macros::format_description!("[year]-[month]-[day]");
            let date = time::Date::parse(expires_on.trim(), &format)
                .map_err(|_| "Pick the expiry date (YYYY-MM-DD).".to_string())?;
            let at = date.midnight().assume_utc();
            if at <= now {
                return Err("The expiry date must be in the future.".into());
            }
            if at > now + Duration::days(MAX_DAYS) {
                return Err(format!("Pick a date within {MAX_DAYS} days."));
            }
            Ok(Expiry::At(at))
        }
        other => Err(format!("\u{201c}{other}\u{201d} is not an expiry choice.")),
    }
}

/// How long a rolled key keeps working.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grace {
    Immediate,
    Hour,
    Day,
    Week,
}

impl Grace {
    pub fn parse(raw: &str) -> Result<Grace, AppError> {
        match raw.trim() {
            "immediate" | "0" => Ok(Grace::Immediate),
            "1h" => Ok(Grace::Hour),
            "24h" => Ok(Grace::Day),
            "7d" => Ok(Grace::Week),
            other => Err(AppError::field(
                "grace",
                format!("\u{201c}{other}\u{201d} is not a grace period: immediate, 1h, 24h or 7d."),
            )),
        }
    }

    fn duration(self) -> Duration {
        match self {
            Grace::Immediate => Duration::ZERO,
            Grace::Hour => Duration::hours(1),
            Grace::Day => Duration::hours(24),
            Grace::Week => Duration::days(7),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Grace::Immediate => "immediate",
            Grace::Hour => "1h",
            Grace::Day => "24h",
            Grace::Week => "7d",
        }
    }
}

pub fn status(now: OffsetDateTime, expires: Option<OffsetDateTime>, revoked: Option<OffsetDateTime>) -> KeyStatus {
    match (revoked, expires) {
        (Some(_), _) => KeyStatus::Revoked,
        (None, Some(e)) if e <= now => KeyStatus::Expired,
        (None, Some(e)) if e <= now + Duration::days(EXPIRING_SOON_DAYS) => KeyStatus::ExpiringSoon,
        _ => KeyStatus::Active,
    }
}

/// Issues a key in `company`. The secret leaves this function once, in the result.
pub async fn create(
    conn: &mut PgConnection,
    op: &Op,
    pepper: &Pepper,
    new: &NewKey,
    rolled_from: Option<Uuid>,
) -> Result<IssuedKey, AppError> {
    let company = op.company;
    let who = &op.who;
    let secret = ApiKeySecret::generate();
    let scopes: Vec<String> = new.scopes.iter().map(|s| s.as_str().to_string()).collect();
    let metadata = json!({
        "created_by_email": who.email,
        "created_via": if who.user_id.is_some() { "console" } else { "cli" },
    });
    let id = sqlx::query_scalar!(
        r#"INSERT INTO api_keys (company_id, name, key_hash, key_prefix, key_last4, scopes, rate_limit_per_minute,
                                 created_by, expires_at, metadata, rolled_from, pepper_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id"#,
        company,
        new.name,
        &pepper.hash(&secret)[..],
        secret.display_prefix(),
        secret.last4(),
        &scopes,
        new.rate_limit,
        who.user_id,
        new.expiry.at(),
        metadata,
        rolled_from,
        pepper.id(),
    )
    .fetch_one(&mut *conn)
    .await?;
    let details = json!({
        "name": new.name, "key": format!("{}…{}", secret.display_prefix(), secret.last4()), "scopes": scopes,
        "expires_at": new.expiry.at().map(|t| rfc3339(t).iso), "never_expires": new.expiry == Expiry::Never,
        "rate_limit_per_minute": new.rate_limit, "rolled_from": rolled_from,
    });
    let severity = if new.expiry == Expiry::Never { Severity::Warning } else { Severity::Info };
    let event = op.event(Action::ApiKeyCreate, "api_key").on(id).severity(severity).details(details);
    op.record(conn, event).await?;
    Ok(IssuedKey {
        id,
        name: new.name.clone(),
        secret: secret.expose().to_string(),
        expires: new.expiry.at().map(rfc3339),
    })
}

/// Revokes at once. Every Atrium process hears of it through the `api_keys_changed` trigger.
pub async fn revoke(conn: &mut PgConnection, op: &Op, id: Uuid) -> Result<(), AppError> {
    let company = op.company;
    let who = &op.who;
    let row = sqlx::query!(
        r#"UPDATE api_keys SET revoked_at = now(), revoked_by = $3,
                  metadata = metadata || jsonb_build_object('revoked_by_email', $4::text)
            WHERE id = $1 AND company_id = $2 AND revoked_at IS NULL
        RETURNING name, key_prefix, key_last4"#,
        id,
        company,
        who.user_id,
        who.email,
    )
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        let exists =
            sqlx::query_scalar!("SELECT 1 AS one FROM api_keys WHERE id = $1 AND company_id = $2", id, company)
                .fetch_optional(&mut *conn)
                .await?;
        return Err(match exists {
            Some(_) => AppError::Conflict("This key is already revoked.".into()),
            None => AppError::NotFound,
        });
    };
    let event = op
        .event(Action::ApiKeyRevoke, "api_key")
        .on(id)
        .severity(Severity::Warning)
        .details(json!({ "name": row.name, "key": format!("{}…{}", row.key_prefix, row.key_last4) }));
    op.record(conn, event).await
}

/// Issues a successor with the same name, scopes, limit and lifetime, and lets the old key
/// work on for `grace` (revoking it at once for `Immediate`).
pub async fn roll(
    conn: &mut PgConnection,
    op: &Op,
    pepper: &Pepper,
    id: Uuid,
    grace: Grace,
) -> Result<IssuedKey, AppError> {
    let company = op.company;
    let who = &op.who;
    let meta = &op.meta;
    let old = sqlx::query!(
        r#"SELECT name, scopes, rate_limit_per_minute, created_at, expires_at, revoked_at, key_prefix, key_last4
             FROM api_keys WHERE id = $1 AND company_id = $2 FOR UPDATE"#,
        id,
        company,
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let now = OffsetDateTime::now_utc();
    if old.revoked_at.is_some() || old.expires_at.is_some_and(|e| e <= now) {
        return Err(AppError::Conflict(
            "Only a live key can be rolled; this one no longer works. Create a new key.".into(),
        ));
    }
    let scopes = old.scopes.iter().filter_map(|s| Scope::parse(s)).collect();
    let expiry = match old.expires_at {
        None => Expiry::Never,
        Some(e) => Expiry::At(now + (e - old.created_at).max(Duration::days(1))),
    };
    let new = NewKey { name: old.name.clone(), scopes, expiry, rate_limit: old.rate_limit_per_minute };
    let issued = create(conn, &Op { company, who: who.clone(), meta: meta.clone() }, pepper, &new, Some(id)).await?;
    let until = now + grace.duration();
    if grace == Grace::Immediate {
        sqlx::query!(
            r#"UPDATE api_keys SET revoked_at = now(), revoked_by = $2, rolled_at = now(),
                      metadata = metadata || jsonb_build_object('revoked_by_email', $3::text)
                WHERE id = $1"#,
            id,
            who.user_id,
            who.email,
        )
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query!(
            r#"UPDATE api_keys SET rolled_at = now(),
                      expires_at = LEAST(coalesce(expires_at, 'infinity'::timestamptz), $2) WHERE id = $1"#,
            id,
            until,
        )
        .execute(&mut *conn)
        .await?;
    }
    let event = op.event(Action::ApiKeyRoll, "api_key").on(id).details(json!({
        "name": old.name, "key": format!("{}…{}", old.key_prefix, old.key_last4), "successor": issued.id,
        "grace": grace.as_str(), "old_key_works_until": rfc3339(until).iso,
    }));
    op.record(conn, event).await?;
    Ok(issued)
}

macro_rules! key_row {
    ($r:expr, $now:expr) => {{
        let r = $r;
        let status = status($now, r.expires_at, r.revoked_at);
        let live = matches!(status, KeyStatus::Active | KeyStatus::ExpiringSoon);
        let mut risks = Vec::new();
        if live && r.expires_at.is_none() {
            risks.push("never expires".to_string());
        }
        if live && r.last_used_at.unwrap_or(r.created_at) < $now - Duration::days(UNUSED_DAYS) {
            risks.push(format!("unused for {UNUSED_DAYS} days"));
        }
        if live && r.rate_limit_per_minute.is_none() {
            risks.push("no rate limit".to_string());
        }
        KeyRow {
            id: r.id,
            name: r.name,
            prefix: r.key_prefix,
            last4: r.key_last4,
            scopes: r.scopes,
            created_by: r.created_by.unwrap_or_else(|| "system".into()),
            created: rfc3339(r.created_at),
            expires: r.expires_at.map(rfc3339),
            last_used: r.last_used_at.map(rfc3339),
            requests_24h: r.requests,
            rate_limit: r.rate_limit_per_minute,
            status,
            risks,
        }
    }};
}

/// The company's keys, newest first. A company holds tens of keys, not thousands, so the
/// status and risk filters run on the fetched rows.
pub async fn list(
    conn: &mut PgConnection,
    company: Uuid,
    status_filter: Option<KeyStatus>,
    risky: bool,
) -> Result<(Vec<KeyRow>, i64), AppError> {
    let rows = sqlx::query!(
        r#"SELECT k.id, k.name, k.key_prefix, k.key_last4, k.scopes, k.metadata->>'created_by_email' AS created_by,
                  k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.rate_limit_per_minute,
                  (SELECT coalesce(sum(g.request_count), 0) FROM api_key_usage g
                    WHERE g.api_key_id = k.id AND g.used_at > now() - interval '24 hours')::bigint AS "requests!"
             FROM api_keys k WHERE k.company_id = $1
            ORDER BY k.created_at DESC, k.id LIMIT 1000"#,
        company,
    )
    .fetch_all(&mut *conn)
    .await?;
    let now = OffsetDateTime::now_utc();
    let total = rows.len() as i64;
    let rows = rows
        .into_iter()
        .map(|r| key_row!(r, now))
        .filter(|k| status_filter.is_none_or(|s| k.status == s))
        .filter(|k| !risky || !k.risks.is_empty())
        .collect();
    Ok((rows, total))
}

pub async fn detail(conn: &mut PgConnection, company: Uuid, id: Uuid) -> Result<Option<KeyDetail>, AppError> {
    let Some(r) = sqlx::query!(
        r#"SELECT k.id, k.name, k.key_prefix, k.key_last4, k.scopes, k.metadata->>'created_by_email' AS created_by,
                  k.created_at, k.expires_at, k.last_used_at, k.revoked_at, k.rate_limit_per_minute, k.rolled_from,
                  k.metadata->>'revoked_by_email' AS revoked_by,
                  (SELECT coalesce(sum(g.request_count), 0) FROM api_key_usage g
                    WHERE g.api_key_id = k.id AND g.used_at > now() - interval '24 hours')::bigint AS "requests!"
             FROM api_keys k WHERE k.company_id = $1 AND k.id = $2"#,
        company,
        id,
    )
    .fetch_optional(&mut *conn)
    .await?
    else {
        return Ok(None);
    };
    let now = OffsetDateTime::now_utc();
    let (revoked, revoked_by, rolled_from) = (r.revoked_at.map(rfc3339), r.revoked_by.clone(), r.rolled_from);
    let key = key_row!(r, now);
    let links = sqlx::query_as!(
        LinkRow,
        r#"SELECT id, name, key_prefix, key_last4, rolled_from FROM api_keys
            WHERE company_id = $1 AND (id = $2 OR rolled_from = $3) ORDER BY created_at"#,
        company,
        rolled_from,
        id,
    )
    .fetch_all(&mut *conn)
    .await?;
    let link = |l: &LinkRow| KeyLink {
        id: l.id,
        name: l.name.clone(),
        prefix: l.key_prefix.clone(),
        last4: l.key_last4.clone(),
    };
    let from = links.iter().find(|l| Some(l.id) == rolled_from).map(link);
    let to = links.iter().filter(|l| l.rolled_from == Some(id)).map(link).collect();
    let daily = requests_per_day(conn, Some(id), None).await?;
    let callers = sqlx::query!(
        r#"SELECT host(ip_address) AS ip, user_agent, endpoint, sum(request_count)::bigint AS "requests!",
                  max(used_at) AS "last_seen!"
             FROM api_key_usage WHERE api_key_id = $1 AND used_at > now() - interval '30 days'
            GROUP BY ip_address, user_agent, endpoint ORDER BY max(used_at) DESC LIMIT 20"#,
        id,
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|c| Caller {
        ip: c.ip,
        user_agent: c.user_agent,
        endpoint: c.endpoint,
        requests: c.requests,
        last_seen: rfc3339(c.last_seen),
    })
    .collect();
    Ok(Some(KeyDetail {
        key,
        revoked,
        revoked_by,
        rolled_from: from,
        rolled_to: to,
        daily,
        callers,
        can_write: false,
        can_revoke: false,
    }))
}

/// Requests per UTC day for the last 30 days, oldest first, every day present: of one key,
/// or of a whole company.
pub async fn requests_per_day(
    conn: &mut PgConnection,
    key: Option<Uuid>,
    company: Option<Uuid>,
) -> Result<Vec<DayCount>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT to_char(d.day AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS "day!",
                  coalesce((SELECT sum(g.request_count) FROM api_key_usage g
                             WHERE ($1::uuid IS NULL OR g.api_key_id = $1) AND ($2::uuid IS NULL OR g.company_id = $2)
                               AND g.used_at >= d.day AND g.used_at < d.day + interval '1 day'), 0)::bigint AS "requests!"
             FROM generate_series(date_trunc('day', now(), 'UTC') - interval '29 days',
                                  date_trunc('day', now(), 'UTC'), interval '1 day') AS d(day)
            ORDER BY d.day"#,
        key,
        company,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|d| DayCount { day: d.day, requests: d.requests }).collect())
}

struct LinkRow {
    id: Uuid,
    name: String,
    key_prefix: String,
    key_last4: String,
    rolled_from: Option<Uuid>,
}
