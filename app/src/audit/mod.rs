//! The audit log: the typed catalogue of actions, the write path and the company feed.
use serde::{Deserialize, Serialize};

#[cfg(feature = "ssr")]
pub mod record;

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
