//! The audit log: the typed catalogue of actions and the rows as the console shows them
//! (here), the write path (`record`), the viewer's reads and filters (`query`, `filter`),
//! export, the hash chain (`chain`), retention, and the console's server functions
//! (`console`). Who may read it is `access::open_reader`.
use serde::{Deserialize, Serialize};

mod console;
pub mod filter;
pub mod views;

#[cfg(feature = "ssr")]
pub mod chain;
#[cfg(feature = "ssr")]
pub mod export;
#[cfg(feature = "ssr")]
pub mod export_gate;
#[cfg(feature = "ssr")]
pub mod policy;
#[cfg(feature = "ssr")]
pub mod query;
#[cfg(feature = "ssr")]
pub mod record;
#[cfg(feature = "ssr")]
pub mod retention;

pub use console::*;
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
    // "Forgot your password?" (whether or not the address has an account: details.outcome).
    AccountRecoveryRequest => "account.recovery_request",
    AccountTwoFactorEnable => "account.two_factor_enable",
    AccountTwoFactorDisable => "account.two_factor_disable",
    AccountTwoFactorCodes => "account.two_factor_codes",
    // A wrong code on the account page (new recovery codes, turning it off).
    AccountTwoFactorRefused => "account.two_factor_refused",
    // A company admin (or the super-admin) turned off a member's second factor (a lost phone).
    UserTwoFactorReset => "user.two_factor_reset",
    SecurityTwoFactorRequire => "security.two_factor_require",
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
    MaintenanceOn => "maintenance.on",
    MaintenanceOff => "maintenance.off",
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
