//! `record`: the one way an audit row is written, inside the caller's transaction, so a
//! change and its audit row commit or roll back together.
use super::{Action, AuditEntry, Severity};
use crate::domain::Role;
use crate::error::AppError;
use crate::server_ctx::{Actor, RequestMeta};
use sqlx::types::ipnetwork::IpNetwork;
use sqlx::PgConnection;
use uuid::Uuid;

/// Who did it: the signed-in actor, or for sign-in events the account that was tried.
#[derive(Clone, Debug, Default)]
pub struct Who {
    pub user_id: Option<Uuid>,
    pub email: Option<String>,
    pub role: Option<Role>,
    pub session_id: Option<Uuid>,
    /// A super-admin acting as the company: the reason they gave. Lands in details.acting_as.
    pub acting_reason: Option<String>,
}

impl From<&Actor> for Who {
    fn from(a: &Actor) -> Self {
        Who {
            user_id: Some(a.user_id),
            email: Some(a.email.clone()),
            role: Some(a.role),
            session_id: Some(a.session_id),
            acting_reason: None,
        }
    }
}

impl Who {
    /// The command line acting on the operator's behalf.
    pub fn system() -> Self {
        Who { email: Some("system@atrium".into()), ..Default::default() }
    }
}

/// What happened, built with `Event::new(action, resource)` and the setters below: an info
/// event with no company, no resource id and empty details unless told otherwise.
pub struct Event {
    pub company_id: Option<Uuid>,
    pub action: Action,
    pub resource: &'static str,
    pub resource_id: Option<String>,
    pub severity: Severity,
    pub details: serde_json::Value,
}

impl Event {
    pub fn new(action: Action, resource: &'static str) -> Event {
        Event {
            company_id: None,
            action,
            resource,
            resource_id: None,
            severity: Severity::Info,
            details: serde_json::json!({}),
        }
    }

    /// The company whose chain the row joins (None: the platform's).
    pub fn company(mut self, company: impl Into<Option<Uuid>>) -> Event {
        self.company_id = company.into();
        self
    }

    /// The resource's id.
    pub fn on(mut self, id: impl ToString) -> Event {
        self.resource_id = Some(id.to_string());
        self
    }

    pub fn resource_id(mut self, id: Option<String>) -> Event {
        self.resource_id = id;
        self
    }

    pub fn severity(mut self, severity: Severity) -> Event {
        self.severity = severity;
        self
    }

    pub fn details(mut self, details: serde_json::Value) -> Event {
        self.details = details;
        self
    }
}

/// Who does an operation, on which company, from which request: what every audited service
/// operation takes besides the caller's transaction and its input, as `(conn, &Op, input)`.
#[derive(Clone, Debug)]
pub struct Op {
    pub company: Uuid,
    pub who: Who,
    pub meta: RequestMeta,
}

impl Op {
    /// An event of this operation, in its company.
    pub fn event(&self, action: Action, resource: &'static str) -> Event {
        Event::new(action, resource).company(self.company)
    }

    pub async fn record(&self, conn: &mut PgConnection, event: Event) -> Result<(), AppError> {
        record(conn, &self.who, &self.meta, event).await
    }
}

/// No RETURNING: row-level security would demand the new row be readable, and platform
/// events (no company) are not readable by a tenant's transaction.
///
/// What a super-admin does while acting as a company is written twice: into the company's
/// chain, which the company reads and whose retention it sets, and as a
/// `platform.act_as_copy` into the platform chain, which follows the platform's retention,
/// so the company's settings never decide how long the platform remembers it.
pub async fn record(conn: &mut PgConnection, who: &Who, meta: &RequestMeta, mut event: Event) -> Result<(), AppError> {
    if let (Some(reason), Some(details)) = (&who.acting_reason, event.details.as_object_mut()) {
        details.insert("acting_as".into(), serde_json::json!({ "super_admin": who.email, "reason": reason }));
    }
    insert(&mut *conn, who, meta, &event).await?;
    if let (Some(_), Some(company)) = (&who.acting_reason, event.company_id) {
        let copy = Event::new(Action::PlatformActAsCopy, event.resource)
            .resource_id(event.resource_id.take())
            .severity(event.severity)
            .details(serde_json::json!({
                "company_id": company,
                "action": event.action.as_str(),
                "details": std::mem::take(&mut event.details),
            }));
        insert(conn, who, meta, &copy).await?;
    }
    Ok(())
}

async fn insert(conn: &mut PgConnection, who: &Who, meta: &RequestMeta, event: &Event) -> Result<(), AppError> {
    sqlx::query!(
        r#"INSERT INTO audit_log (company_id, user_id, user_email, user_role, action, resource, resource_id,
                                  severity, details, ip_address, user_agent, session_id, request_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"#,
        event.company_id,
        who.user_id,
        who.email.as_deref(),
        who.role as Option<Role>,
        event.action.as_str(),
        event.resource,
        event.resource_id,
        event.severity as Severity,
        event.details,
        meta.ip.map(IpNetwork::from),
        meta.user_agent.as_deref(),
        who.session_id.map(|s| s.to_string()),
        &meta.request_id,
    )
    .execute(conn)
    .await?;
    Ok(())
}

/// Before/after of the fields that changed, for an edit's details.
pub fn diff(before: &serde_json::Value, after: &serde_json::Value) -> serde_json::Value {
    let (Some(b), Some(a)) = (before.as_object(), after.as_object()) else {
        return serde_json::json!({ "before": before, "after": after });
    };
    let mut changed_before = serde_json::Map::new();
    let mut changed_after = serde_json::Map::new();
    for (k, av) in a {
        if b.get(k) != Some(av) {
            changed_before.insert(k.clone(), b.get(k).cloned().unwrap_or(serde_json::Value::Null));
            changed_after.insert(k.clone(), av.clone());
        }
    }
    serde_json::json!({ "before": changed_before, "after": changed_after })
}

/// An `AuditEntry` from a query row that selects the viewer's columns: id, ts, user_email,
/// action, resource, resource_id, severity, details, ip.
macro_rules! audit_entry {
    ($r:expr) => {{
        let r = $r;
        $crate::audit::AuditEntry {
            id: r.id,
            timestamp: $crate::ui::time::rfc3339(r.ts),
            actor_email: r.user_email,
            action: r.action,
            resource: r.resource,
            resource_id: r.resource_id,
            severity: r.severity,
            details: r.details,
            ip: r.ip,
        }
    }};
}

pub async fn recent_for_company(
    conn: &mut PgConnection,
    company_id: Uuid,
    limit: i64,
) -> Result<Vec<AuditEntry>, AppError> {
    let rows = sqlx::query!(
        r#"SELECT id, "timestamp" AS ts, user_email, action, resource, resource_id, severity AS "severity: Severity",
                  details, host(ip_address) AS ip
             FROM audit_log WHERE company_id = $1
            ORDER BY "timestamp" DESC, id DESC LIMIT $2"#,
        company_id,
        limit,
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().map(|r| audit_entry!(r)).collect())
}

/// The audit row of a change the signed-in person made to their own account.
pub async fn own_account(
    tx: &mut crate::db::Tx,
    actor: &crate::server_ctx::Actor,
    action: Action,
    severity: Severity,
    details: serde_json::Value,
) -> Result<(), AppError> {
    record(
        tx,
        &Who::from(actor),
        &crate::server_ctx::request_meta(),
        Event::new(action, "user").on(actor.user_id).severity(severity).details(details),
    )
    .await
}
