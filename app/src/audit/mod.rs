//! The audit log: the typed catalogue of actions, the write path, the viewer and its
//! filters, export, the hash chain's verification and retention.
use serde::{Deserialize, Serialize};

pub mod filter;
pub mod views;

#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod export;
#[cfg(feature = "ssr")]
pub mod query;
#[cfg(feature = "ssr")]
pub mod record;
#[cfg(feature = "ssr")]
pub mod retention;

pub use filter::FilterParams;

macro_rules! actions {
    ($($variant:ident => $name:literal,)*) => {
        /// Every action Atrium records. The string form is what lands in `audit_log.action`.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
        pub enum Action { $($variant,)* }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $name,)* }
            }
        }
    };
}

actions! {
    AuthLogin => "auth.login",
    AuthLoginFailed => "auth.login_failed",
    AuthLoginThrottled => "auth.login_throttled",
    AuthLogout => "auth.logout",
    CompanyCreate => "company.create",
    CompanyUpdate => "company.update",
    CompanyDisable => "company.disable",
    CompanyEnable => "company.enable",
    CompanyDelete => "company.delete",
    UserCreate => "user.create",
    UserPasswordReset => "user.password_reset",
    UserInvite => "user.invite",
    UserInviteAccept => "user.invite_accept",
    UserInviteDecline => "user.invite_decline",
    // Platform-level: an invitation went to an account that already existed (tenants never
    // read platform rows, so the inviter cannot learn it from the log).
    UserInviteExisting => "user.invite_existing",
    UserUpdate => "user.update",
    UserSuspend => "user.suspend",
    UserReactivate => "user.reactivate",
    UserResetLink => "user.reset_link",
    AccountUpdate => "account.update",
    AccountPasswordChange => "account.password_change",
    SessionRevoke => "session.revoke",
    TenantSwitch => "tenant.switch",
    TenantActAs => "tenant.act_as",
    TenantActAsEnd => "tenant.act_as_end",
    PlatformRead => "platform.read",
    // The platform's copy of a row a super-admin wrote while acting as a company (kept under
    // the platform's retention, whatever the company's).
    PlatformActAsCopy => "platform.act_as_copy",
    ApiKeyCreate => "api_key.create",
    ApiKeyRevoke => "api_key.revoke",
    ApiKeyRoll => "api_key.roll",
    WeightsUpdate => "weights.update",
    WeightsRestore => "weights.restore",
    IntegrationUpdate => "integration.update",
    IntegrationDisable => "integration.disable",
    IntegrationTestDelivery => "integration.test_delivery",
    DeliveryQueue => "delivery.queue",
    DeliveryReplay => "delivery.replay",
    DeliveryReplayAll => "delivery.replay_all",
    SecretRotate => "secret.rotate",
    AuditExport => "audit.export",
    AuditVerify => "audit.verify",
    AuditPrune => "audit.prune",
    AuditRetentionUpdate => "audit.retention_update",
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// The part before the dot: the group the viewer's action filter offers as `group.*`.
    pub fn group(self) -> &'static str {
        self.as_str().split('.').next().unwrap_or("")
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "audit_severity", rename_all = "lowercase"))]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub const ALL: [Severity; 3] = [Severity::Info, Severity::Warning, Severity::Error];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        Severity::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

/// One audit row as the console shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    pub timestamp: crate::ui::time::Stamp,
    pub actor_email: Option<String>,
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub severity: Severity,
    pub details: serde_json::Value,
    pub ip: Option<String>,
}

/// One audit row with everything the detail panel shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditDetail {
    pub entry: AuditEntry,
    pub company: Option<String>,
    pub role: Option<String>,
    pub user_agent: Option<String>,
    pub session_id: Option<String>,
    pub request_id: Option<String>,
    pub chain_seq: i64,
    pub hash: String,
    pub prev_hash: Option<String>,
}

/// A page of the viewer, newest first. `next` is the cursor for the older rows after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub rows: Vec<AuditDetail>,
    pub next: Option<String>,
}

/// What walking a chain found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    /// The company's name, or "Platform" for events with no company.
    pub chain: String,
    pub rows: i64,
    /// The newest row's hash: write it down somewhere else to anchor the chain.
    pub head: Option<String>,
    pub broken: Option<ChainBreak>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChainBreak {
    pub row_id: Option<i64>,
    pub seq: i64,
    pub reason: String,
}

impl std::fmt::Display for ChainReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.broken {
            None => write!(f, "{}: intact, {} rows", self.chain, self.rows),
            Some(b) => write!(f, "{}: BROKEN after {} intact rows: {}", self.chain, self.rows, b.reason),
        }
    }
}

/// A company's retention: how long its audit rows are kept, and whether a legal hold
/// suspends deletion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Retention {
    /// The period in force: the company's own, raised to the platform's floor.
    pub days: i32,
    pub legal_hold: bool,
    pub legal_hold_reason: Option<String>,
    /// The platform's floor (`ATRIUM_AUDIT_MIN_RETENTION_DAYS`): no company keeps less.
    pub floor_days: i32,
}

/// The retention periods offered (30 days to 7 years); any whole number of days in that
/// range is accepted from the API and the command line.
pub const RETENTION_CHOICES: [(i32, &str); 8] = [
    (30, "30 days"),
    (90, "90 days"),
    (180, "180 days"),
    (365, "1 year"),
    (730, "2 years"),
    (1095, "3 years"),
    (1825, "5 years"),
    (2557, "7 years"),
];
pub const RETENTION_MIN_DAYS: i32 = 30;
pub const RETENTION_MAX_DAYS: i32 = 2557;

/// Everything the viewer page needs in one load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditView {
    pub page: AuditPage,
    /// The row opened in the detail panel (`?entry=ID`).
    pub detail: Option<AuditDetail>,
    pub can_export: bool,
    /// The company's retention (company view only), and whether this user may change it.
    pub retention: Option<Retention>,
    pub can_set_retention: bool,
}

#[cfg(feature = "ssr")]
mod scope {
    use super::query::Reach;
    use crate::db::Tx;
    use crate::domain::Permission;
    use crate::error::AppError;
    use crate::server_ctx::*;

    /// A reader's way in: a company page (`slug`) checks membership and `permission`
    /// there; the all-companies view needs the super-admin, and the read is itself audited.
    pub struct Reader {
        pub tx: Tx,
        pub scope: Reach,
        pub tenant: Option<crate::tenancy::guard::Tenant>,
        pub actor: Actor,
    }

    impl Reader {
        pub fn may(&self, permission: Permission) -> bool {
            match &self.tenant {
                Some(t) => t.may(permission),
                None => self.actor.grants.has(self.actor.role, permission),
            }
        }

        pub fn who(&self) -> crate::audit::record::Who {
            match &self.tenant {
                Some(t) => t.who(),
                None => crate::audit::record::Who::from(&self.actor),
            }
        }
    }

    pub async fn open(slug: Option<&str>, permission: Permission, view: &str) -> Result<Reader, AppError> {
        match slug.filter(|s| !s.is_empty()) {
            Some(slug) => {
                let t = crate::tenancy::guard::require_in(slug, permission).await?;
                let tx = t.tx().await?;
                Ok(Reader { tx, scope: Reach::Company(t.company.id), actor: t.actor.clone(), tenant: Some(t) })
            }
            None => {
                let actor = require_platform(permission).await?;
                let tx = crate::db::platform_read(&state()?.pool, &actor, &request_meta(), view).await?;
                Ok(Reader { tx, scope: Reach::All, tenant: None, actor })
            }
        }
    }
}

#[cfg(feature = "ssr")]
pub use scope::{open as open_reader, Reader};

/// The viewer: one page of rows under the filters, and the opened row. `slug` None is the
/// super-admin's view across companies.
#[leptos::server(endpoint = "audit/view")]
pub async fn load_audit(
    #[server(default)] slug: Option<String>,
    #[server(default)] filters: FilterParams,
    #[server(default)] cursor: String,
    #[server(default)] entry: Option<i64>,
) -> Result<AuditView, crate::error::AppError> {
    use crate::domain::Permission;
    use crate::error::AppError;
    use crate::server_ctx::state;
    let mut r = open_reader(slug.as_deref(), Permission::AuditRead, "audit").await?;
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
#[leptos::server(endpoint = "audit/verify")]
pub async fn verify_audit(slug: Option<String>) -> Result<Vec<ChainReport>, crate::error::AppError> {
    use crate::domain::Permission;
    use crate::server_ctx::*;
    let mut r = open_reader(slug.as_deref(), Permission::AuditRead, "audit.verify").await?;
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
            record::Event {
                company_id: company,
                action: Action::AuditVerify,
                resource: "audit_log",
                resource_id: None,
                severity: if broken > 0 { Severity::Error } else { Severity::Info },
                details: serde_json::json!({
                    "chains": reports.len(),
                    "rows": reports.iter().map(|x| x.rows).sum::<i64>(),
                    "broken": reports.iter().filter_map(|x| x.broken.as_ref().map(|b| serde_json::json!({ "chain": x.chain, "seq": b.seq, "row_id": b.row_id }))).collect::<Vec<_>>(),
                }),
            },
        )
        .await?;
    tx.commit().await?;
    Ok(reports)
}

/// Sets the company's retention and legal hold.
#[leptos::server(endpoint = "audit/retention")]
pub async fn save_retention(
    slug: String,
    days: String,
    legal_hold: Option<String>,
    legal_hold_reason: String,
) -> Result<Retention, crate::error::AppError> {
    use crate::domain::Permission;
    use crate::server_ctx::*;
    let t = crate::tenancy::guard::require_in(&slug, Permission::AuditRetention).await?;
    let policy = state()?.audit_policy;
    let next =
        retention::RetentionInput { days, legal_hold: legal_hold.is_some(), legal_hold_reason }.parse(&policy)?;
    let mut tx = t.tx().await?;
    let saved = retention::save(&mut tx, &t.who(), &request_meta(), t.company.id, &next, &policy).await?;
    tx.commit().await?;
    Ok(saved)
}
