//! Every authorization decision, in one place (kanidm's `server/access` is the model):
//! who the caller is (the actor, loaded once per request), what their role allows (the
//! grants, read from the actor, never a query per check), which company they may enter,
//! the super-admin's audited reads across companies, who may read the audit log, and the
//! escalation rules.
//!
//! Server functions and REST handlers begin here; nothing below this module (`db`,
//! `audit::record`, `server_ctx`) decides anything.
pub mod rules;

#[cfg(feature = "ssr")]
mod actor;
#[cfg(feature = "ssr")]
mod audit_reader;
#[cfg(feature = "ssr")]
pub mod cache;
#[cfg(feature = "ssr")]
mod platform;
#[cfg(feature = "ssr")]
mod tenant;

#[cfg(feature = "ssr")]
pub use actor::{current_actor, load_actor, load_actor_for, require, require_actor, require_platform, RequestScope};
#[cfg(feature = "ssr")]
pub use audit_reader::{open_reader, Reader};
#[cfg(feature = "ssr")]
pub use cache::ActorCache;
#[cfg(feature = "ssr")]
pub use platform::platform_read;
#[cfg(feature = "ssr")]
pub use tenant::{enter, require_in, route, Route, Tenant};
