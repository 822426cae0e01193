//! Who may read the audit log, and how far: a company's members with the permission read
//! that company's rows; the super-admin reads across companies, and that read is audited.
use super::actor::require_platform;
use super::platform::platform_read;
use super::tenant::{require_in, Tenant};
use crate::audit::query::Reach;
use crate::audit::record::Who;
use crate::db::Tx;
use crate::domain::Permission;
use crate::error::AppError;
use crate::server_ctx::{request_meta, state, Actor};

/// A reader's way in, with the transaction its reads run in.
pub struct Reader {
    pub tx: Tx,
    pub scope: Reach,
    pub tenant: Option<Tenant>,
    pub actor: Actor,
}

impl Reader {
    pub fn may(&self, permission: Permission) -> bool {
        match &self.tenant {
            Some(t) => t.may(permission),
            None => self.actor.grants.has(self.actor.role, permission),
        }
    }

    pub fn who(&self) -> Who {
        match &self.tenant {
            Some(t) => t.who(),
            None => Who::from(&self.actor),
        }
    }
}

/// A company page (`slug`) checks membership and `permission` there; no slug is the
/// all-companies view, for the super-admin only, recorded as a platform read of `view`.
pub async fn open_reader(slug: Option<&str>, permission: Permission, view: &str) -> Result<Reader, AppError> {
    match slug.filter(|s| !s.is_empty()) {
        Some(slug) => {
            let t = require_in(slug, permission).await?;
            let tx = t.tx().await?;
            Ok(Reader { tx, scope: Reach::Company(t.company.id), actor: t.actor.clone(), tenant: Some(t) })
        }
        None => {
            let actor = require_platform(permission).await?;
            let tx = platform_read(&state()?.pool, &actor, &request_meta(), view).await?;
            Ok(Reader { tx, scope: Reach::All, tenant: None, actor })
        }
    }
}
