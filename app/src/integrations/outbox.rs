//! The delivery outbox, as the console and the REST API see it: queueing (deduplicated),
//! listing, and replaying. The worker that sends them lives in the server crate.
use super::{AttemptRow, DeliveryDetail, DeliveryFilter, DeliveryRow, DeliveryStatus, Platform};
use crate::audit::record::Op;
use crate::audit::{Action, Severity};
use crate::error::AppError;
use crate::ui::time::rfc3339;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

/// NOTIFY channel that wakes idle workers when something is queued.
pub const CHANNEL: &str = "atrium_outbox";
/// The largest payload accepted, serialised.
pub const MAX_PAYLOAD: usize = 256 * 1024;
pub const PAGE: i64 = 50;

/// A delivery to queue: an event type and its data.
#[derive(Clone, Debug)]
pub struct NewDelivery {
    pub event_type: String,
    pub data: Value,
}

impl NewDelivery {
    /// `{"type": "volunteer.hours", "data": {...}}` from the REST API.
    pub fn from_json(body: &Value) -> Result<NewDelivery, crate::error::FieldErrors> {
        let mut errors = crate::error::FieldErrors::new();
        let event_type = body.get("type").and_then(Value::as_str).unwrap_or_default().trim().to_string();
        if event_type.is_empty()
            || event_type.len() > 100
            || !event_type.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        {
            errors.insert(
                "type".into(),
                "Give an event type of 1 to 100 lower-case letters, digits, dots, - or _, such as volunteer.hours."
                    .into(),
            );
        }
        let data = body.get("data").cloned().unwrap_or(Value::Null);
        if !data.is_object() {
            errors.insert("data".into(), "`data` must be a JSON object.".into());
        } else if data.to_string().len() > MAX_PAYLOAD {
            errors.insert("data".into(), format!("`data` must be under {} KiB.", MAX_PAYLOAD / 1024));
        }
        if errors.is_empty() {
            Ok(NewDelivery { event_type, data })
        } else {
            Err(errors)
        }
    }

    fn payload(&self) -> Value {
        json!({ "type": self.event_type, "data": self.data })
    }
}

/// SHA-256 of the payload's canonical JSON (object keys sorted, no whitespace).
pub fn payload_hash(payload: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(&map[k], out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut s = String::new();
    canonical(payload, &mut s);
    hex::encode(Sha256::digest(s.as_bytes()))
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Enqueued {
    pub id: i64,
    pub webhook_id: Uuid,
    pub status: String,
    /// The same payload went to this integration in the last 24 hours: that delivery is
    /// returned instead of a new one.
    pub duplicate: bool,
}

/// Queues a delivery to the company's enabled `platform` integration, unless the same payload
/// was queued for it in the last 24 hours. Audited as `action` when given.
pub async fn enqueue(
    conn: &mut PgConnection,
    op: &Op,
    platform: Platform,
    delivery: &NewDelivery,
    action: Action,
) -> Result<Enqueued, AppError> {
    let company = op.company;
    let who = &op.who;
    let config = super::service::enabled_config(conn, company, platform).await?;
    let payload = delivery.payload();
    let hash = payload_hash(&payload);
    // Two requests with one payload must not both miss the duplicate check.
    let lock_key = format!("delivery:{config}:{hash}");
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) AS locked", lock_key)
        .fetch_one(&mut *conn)
        .await?;
    if let Some(d) = sqlx::query!(
        "SELECT id, webhook_id, status FROM integration_delivery_log
          WHERE integration_config_id = $1 AND payload_hash = $2 AND created_at > now() - interval '24 hours'
          ORDER BY created_at DESC LIMIT 1",
        config,
        hash
    )
    .fetch_optional(&mut *conn)
    .await?
    {
        return Ok(Enqueued { id: d.id, webhook_id: d.webhook_id, status: d.status, duplicate: true });
    }
    let row = sqlx::query!(
        "INSERT INTO integration_delivery_log (integration_config_id, company_id, platform, payload, payload_hash, metadata)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id, webhook_id",
        config,
        company,
        platform.as_str(),
        payload,
        hash,
        json!({ "queued_by": who.email }),
    )
    .fetch_one(&mut *conn)
    .await?;
    notify(conn).await?;
    op.record(
        conn,
        op.event(action, "delivery").on(row.id).details(
            json!({ "platform": platform.as_str(), "type": delivery.event_type, "webhook_id": row.webhook_id }),
        ),
    )
    .await?;
    Ok(Enqueued { id: row.id, webhook_id: row.webhook_id, status: "queued".into(), duplicate: false })
}

fn bounds(filter: &DeliveryFilter) -> (Option<time::OffsetDateTime>, Option<time::OffsetDateTime>) {
    let day = |d: &Option<time::Date>| d.map(|d| d.midnight().assume_utc());
    (day(&filter.from), day(&filter.to).map(|t| t + time::Duration::days(1)))
}

macro_rules! delivery_row {
    ($r:expr) => {{
        let r = $r;
        DeliveryRow {
            id: r.id,
            platform: Platform::parse(&r.platform).unwrap_or(Platform::Benevity),
            status: DeliveryStatus::parse(&r.status).unwrap_or(DeliveryStatus::Queued),
            event_type: r.payload_type.unwrap_or_default(),
            webhook_id: r.webhook_id,
            created: rfc3339(r.created_at),
            delivered: r.delivered_at.map(rfc3339),
            next_attempt: (matches!(r.status.as_str(), "queued" | "retrying")).then(|| rfc3339(r.next_attempt_at)),
            attempts: r.retry_count,
            response_status: r.response_status,
            error: r.error_message,
        }
    }};
}

pub async fn list(
    conn: &mut PgConnection,
    company: Uuid,
    filter: &DeliveryFilter,
    before: Option<i64>,
) -> Result<(Vec<DeliveryRow>, Option<i64>), AppError> {
    let (from, to) = bounds(filter);
    let rows = sqlx::query!(
        r#"SELECT id, platform, status, payload->>'type' AS payload_type, webhook_id, created_at, delivered_at,
                  next_attempt_at, retry_count, response_status, error_message
             FROM integration_delivery_log
            WHERE company_id = $1
              AND ($2::text IS NULL OR status = $2) AND ($3::text IS NULL OR platform = $3)
              AND ($4::timestamptz IS NULL OR created_at >= $4) AND ($5::timestamptz IS NULL OR created_at < $5)
              AND ($6::bigint IS NULL OR id < $6)
            ORDER BY id DESC LIMIT $7"#,
        company,
        filter.status.map(|s| s.as_str()),
        filter.platform.map(|p| p.as_str()),
        from,
        to,
        before,
        PAGE + 1,
    )
    .fetch_all(conn)
    .await?;
    let more = rows.len() as i64 > PAGE;
    let rows: Vec<DeliveryRow> = rows.into_iter().take(PAGE as usize).map(|r| delivery_row!(r)).collect();
    let next = if more { rows.last().map(|r| r.id) } else { None };
    Ok((rows, next))
}

pub async fn count_failed(conn: &mut PgConnection, company: Uuid, filter: &DeliveryFilter) -> Result<i64, AppError> {
    let (from, to) = bounds(filter);
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM integration_delivery_log
            WHERE company_id = $1 AND status = 'failed' AND ($2::text IS NULL OR platform = $2)
              AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)"#,
        company,
        filter.platform.map(|p| p.as_str()),
        from,
        to,
    )
    .fetch_one(conn)
    .await?)
}

/// Deliveries matching the filter's platform and dates, by status (every status present).
pub async fn by_status(
    conn: &mut PgConnection,
    company: Uuid,
    filter: &DeliveryFilter,
) -> Result<Vec<(DeliveryStatus, i64)>, AppError> {
    let (from, to) = bounds(filter);
    let rows = sqlx::query!(
        r#"SELECT status AS "status!", count(*) AS "n!" FROM integration_delivery_log
            WHERE company_id = $1 AND ($2::text IS NULL OR platform = $2)
              AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
            GROUP BY status"#,
        company,
        filter.platform.map(|p| p.as_str()),
        from,
        to,
    )
    .fetch_all(conn)
    .await?;
    Ok(DeliveryStatus::ALL
        .into_iter()
        .map(|s| (s, rows.iter().find(|r| r.status == s.as_str()).map_or(0, |r| r.n)))
        .collect())
}

pub async fn detail(conn: &mut PgConnection, company: Uuid, id: i64) -> Result<DeliveryDetail, AppError> {
    let r = sqlx::query!(
        r#"SELECT id, platform, status, payload->>'type' AS payload_type, webhook_id, created_at, delivered_at,
                  next_attempt_at, retry_count, response_status, error_message, payload
             FROM integration_delivery_log WHERE company_id = $1 AND id = $2"#,
        company,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    let payload = serde_json::to_string_pretty(&r.payload).unwrap_or_default();
    let row = delivery_row!(r);
    let attempts = sqlx::query!(
        "SELECT attempt, started_at, duration_ms, response_status, response_excerpt, error, outcome
           FROM integration_delivery_attempts WHERE company_id = $1 AND delivery_id = $2 ORDER BY attempt",
        company,
        id
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|a| AttemptRow {
        attempt: a.attempt,
        at: rfc3339(a.started_at),
        duration_ms: a.duration_ms,
        response_status: a.response_status,
        excerpt: a.response_excerpt,
        error: a.error,
        outcome: a.outcome,
    })
    .collect();
    Ok(DeliveryDetail { row, payload, attempts, can_replay: false })
}

/// Queues deliveries again from their first attempt (their webhook ids stay), and wakes the
/// workers.
async fn requeue(conn: &mut PgConnection, company: Uuid, ids: &[i64]) -> Result<u64, AppError> {
    let n = sqlx::query!(
        "UPDATE integration_delivery_log SET status = 'queued', retry_count = 0, next_attempt_at = now(),
                lease_expires_at = NULL, lease_token = NULL, error_message = NULL
          WHERE company_id = $1 AND id = ANY($2)",
        company,
        ids
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    notify(conn).await?;
    Ok(n)
}

async fn notify(conn: &mut PgConnection) -> Result<(), AppError> {
    sqlx::query!("SELECT pg_notify($1, '') AS sent", CHANNEL).fetch_one(conn).await?;
    Ok(())
}

/// Sends a finished delivery again, under the same webhook-id so the receiver can dedupe.
pub async fn replay(conn: &mut PgConnection, op: &Op, id: i64) -> Result<(), AppError> {
    let company = op.company;
    let status = sqlx::query_scalar!(
        "SELECT status FROM integration_delivery_log WHERE company_id = $1 AND id = $2 FOR UPDATE",
        company,
        id
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !matches!(status.as_str(), "failed" | "success") {
        return Err(AppError::Conflict(format!(
            "Delivery {id} is {status}; only finished deliveries can be replayed."
        )));
    }
    requeue(conn, company, &[id]).await?;
    op.record(
        conn,
        op.event(Action::DeliveryReplay, "delivery")
            .on(id)
            .details(json!({ "before": { "status": status }, "after": { "status": "queued" } })),
    )
    .await
}

/// Replays every failed delivery matching `filter`, if their number is still `expected` (the
/// count the user confirmed). Returns how many were queued again.
pub async fn replay_failed(
    conn: &mut PgConnection,
    op: &Op,
    filter: &DeliveryFilter,
    expected: i64,
) -> Result<u64, AppError> {
    let company = op.company;
    let (from, to) = bounds(filter);
    let ids = sqlx::query_scalar!(
        r#"SELECT id FROM integration_delivery_log
            WHERE company_id = $1 AND status = 'failed' AND ($2::text IS NULL OR platform = $2)
              AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
            FOR UPDATE"#,
        company,
        filter.platform.map(|p| p.as_str()),
        from,
        to,
    )
    .fetch_all(&mut *conn)
    .await?;
    if ids.len() as i64 != expected {
        return Err(AppError::Conflict(format!(
            "The number of failed deliveries changed: there are {} now, not {expected}. Check the list and confirm again.",
            ids.len()
        )));
    }
    if ids.is_empty() {
        return Err(AppError::Conflict("There are no failed deliveries to replay.".into()));
    }
    let n = requeue(conn, company, &ids).await?;
    op.record(
        conn,
        op.event(Action::DeliveryReplayAll, "delivery").severity(Severity::Warning).details(json!({
            "count": n,
            "platform": filter.platform.map(|p| p.as_str()),
            "from": filter.from.map(|d| d.to_string()),
            "to": filter.to.map(|d| d.to_string()),
        })),
    )
    .await?;
    Ok(n)
}
