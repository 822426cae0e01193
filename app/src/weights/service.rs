//! Weight overrides' operations, as `(conn, &Op, input)` in the caller's transaction. The history rows come from the table's trigger, which reads the
//! actor and the reason this module sets for the transaction; every change also writes its
//! audit row in the same transaction.
use super::catalogue::WeightSet;
use super::{Category, HistoryEntry};
use crate::audit::record::Op;
use crate::audit::Action;
use crate::error::AppError;
use crate::ui::time::{rfc3339, Stamp};
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

pub const MAX_REASON: usize = 500;

pub fn parse_reason(raw: &str) -> Result<String, String> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err("Say why you are changing the weights; the reason is kept in the history.".into());
    }
    if reason.chars().count() > MAX_REASON {
        return Err(format!("Keep the reason under {MAX_REASON} characters."));
    }
    Ok(reason.to_string())
}

/// A change as submitted: the weights and the reason, both checked, every problem reported.
pub fn parse_change(
    set: Result<WeightSet, super::catalogue::WeightErrors>,
    reason: &str,
) -> Result<(WeightSet, String), super::catalogue::WeightErrors> {
    match (set, parse_reason(reason)) {
        (Ok(s), Ok(r)) => Ok((s, r)),
        (set, reason) => {
            let mut errors = set.err().unwrap_or_default();
            if let Err(r) = reason {
                errors.insert("reason".into(), r);
            }
            Err(errors)
        }
    }
}

pub struct Current {
    pub weights: Value,
    pub updated: Option<Stamp>,
    pub updated_by: Option<String>,
}

/// The stored overrides (an empty object when there are none).
pub async fn current(conn: &mut PgConnection, company: Uuid, category: Category) -> Result<Current, AppError> {
    let row = sqlx::query!(
        r#"SELECT o.weights, o.updated_at,
                  (SELECT h.changed_by_email FROM weight_override_history h
                    WHERE h.company_id = o.company_id AND h.category = o.category
                    ORDER BY h.changed_at DESC, h.id DESC LIMIT 1) AS updated_by
             FROM weight_overrides o WHERE o.company_id = $1 AND o.category = $2"#,
        company,
        category.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(match row {
        Some(r) => Current { weights: r.weights, updated: Some(rfc3339(r.updated_at)), updated_by: r.updated_by },
        None => Current { weights: json!({}), updated: None, updated_by: None },
    })
}

/// Makes `set` the company's overrides. An empty set deletes the row (the history keeps the
/// delete). Returns Conflict-free "nothing changed" as a validation message.
pub async fn save(
    conn: &mut PgConnection,
    op: &Op,
    set: &WeightSet,
    reason: &str,
    action: Action,
    extra: Value,
) -> Result<(), AppError> {
    let company = op.company;
    let who = &op.who;
    let category = set.category();
    sqlx::query!(
        r#"SELECT set_config('atrium.change_reason', $1, true) AS "r", set_config('atrium.actor_email', $2, true) AS "e""#,
        reason,
        who.email.clone().unwrap_or_default(),
    )
    .fetch_one(&mut *conn)
    .await?;
    let before = sqlx::query_scalar!(
        "SELECT weights FROM weight_overrides WHERE company_id = $1 AND category = $2 FOR UPDATE",
        company,
        category.as_str(),
    )
    .fetch_optional(&mut *conn)
    .await?;
    let after = set.to_json();
    if before.clone().unwrap_or_else(|| json!({})) == after {
        return Err(AppError::field("form", "Nothing changed: these are already the weights in force."));
    }
    if set.is_empty() {
        sqlx::query!(
            "DELETE FROM weight_overrides WHERE company_id = $1 AND category = $2",
            company,
            category.as_str()
        )
        .execute(&mut *conn)
        .await?;
    } else {
        sqlx::query!(
            r#"INSERT INTO weight_overrides (company_id, category, weights, created_by, updated_by)
               VALUES ($1, $2, $3, $4, $4)
               ON CONFLICT (company_id, category) DO UPDATE SET weights = EXCLUDED.weights, updated_by = EXCLUDED.updated_by"#,
            company,
            category.as_str(),
            after,
            who.user_id,
        )
        .execute(&mut *conn)
        .await?;
    }
    let mut details = json!({
        "category": category.as_str(),
        "reason": reason,
        "before": before.unwrap_or_else(|| json!({})),
        "after": after,
    });
    if let (Some(d), Value::Object(extra)) = (details.as_object_mut(), extra) {
        d.extend(extra);
    }
    op.record(conn, op.event(action, "weights").on(category.as_str()).details(details)).await
}

pub async fn history(
    conn: &mut PgConnection,
    company: Uuid,
    category: Category,
    limit: i64,
) -> Result<Vec<HistoryEntry>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT id, operation, old_weights, new_weights, changed_at, changed_by_email, change_reason
             FROM weight_override_history WHERE company_id = $1 AND category = $2
            ORDER BY changed_at DESC, id DESC LIMIT $3"#,
        company,
        category.as_str(),
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, r)| HistoryEntry {
            id: r.id,
            at: rfc3339(r.changed_at),
            by: r.changed_by_email,
            operation: r.operation,
            reason: r.change_reason,
            old: r.old_weights.unwrap_or_else(|| json!({})),
            new: r.new_weights.unwrap_or_else(|| json!({})),
            current: i == 0,
        })
        .collect())
}

/// The overrides a history row left in force (empty after a delete).
pub async fn version(conn: &mut PgConnection, company: Uuid, category: Category, id: i64) -> Result<Value, AppError> {
    let row = sqlx::query!(
        "SELECT new_weights FROM weight_override_history WHERE company_id = $1 AND category = $2 AND id = $3",
        company,
        category.as_str(),
        id,
    )
    .fetch_optional(conn)
    .await?
    .ok_or(AppError::NotFound)?;
    Ok(row.new_weights.unwrap_or_else(|| json!({})))
}
