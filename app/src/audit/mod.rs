//! The audit log: the typed catalogue of actions, the write path and the company feed.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod record;

/// Every action Atrium records. The string form is what lands in `audit_log.action`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    AuthLogin,
    AuthLoginFailed,
    AuthLoginThrottled,
    AuthLogout,
    CompanyCreate,
    CompanyUpdate,
    CompanyDisable,
    CompanyEnable,
    CompanyDelete,
    UserCreate,
    UserPasswordReset,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::AuthLogin,
        Action::AuthLoginFailed,
        Action::AuthLoginThrottled,
        Action::AuthLogout,
        Action::CompanyCreate,
        Action::CompanyUpdate,
        Action::CompanyDisable,
        Action::CompanyEnable,
        Action::CompanyDelete,
        Action::UserCreate,
        Action::UserPasswordReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::AuthLogin => "auth.login",
            Action::AuthLoginFailed => "auth.login_failed",
            Action::AuthLoginThrottled => "auth.login_throttled",
            Action::AuthLogout => "auth.logout",
            Action::CompanyCreate => "company.create",
            Action::CompanyUpdate => "company.update",
            Action::CompanyDisable => "company.disable",
            Action::CompanyEnable => "company.enable",
            Action::CompanyDelete => "company.delete",
            Action::UserCreate => "user.create",
            Action::UserPasswordReset => "user.password_reset",
        }
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
