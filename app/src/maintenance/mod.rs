//! Maintenance mode: one switch for the whole installation (migration 0019).
//!
//! While it is on, PostgreSQL refuses every change's audit row, and so the change (SQLSTATE
//! AT503, answered with 503 and `Retry-After`); reads, signing in and the switch itself go on.
//! Each process keeps the switch's state in memory (`Switch`), heard on `atrium_maintenance`,
//! for the console's banner. This module is a leaf (the request context holds a `Switch`);
//! throwing the switch is `service`, and the page and its server functions are `console`.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

mod console;
#[cfg(feature = "ssr")]
pub mod service;

pub use console::*;

/// What a refused change tells its client: try again after this many seconds.
pub const RETRY_SECONDS: i64 = 60;
/// The SQLSTATE the database raises for a change refused in maintenance.
pub const REFUSED_SQLSTATE: &str = "AT503";
pub const MESSAGE_MAX: usize = 500;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Status {
    pub active: bool,
    /// What users are told (the banner, and every refused change).
    pub message: String,
    pub since: Option<crate::ui::time::Stamp>,
    pub changed_by: Option<String>,
}

/// The message an operator gives: at most 500 characters, no control characters.
pub fn parse_message(raw: &str) -> Result<String, String> {
    let m = raw.trim();
    if m.chars().count() > MESSAGE_MAX {
        return Err(format!("Keep the message under {MESSAGE_MAX} characters."));
    }
    if m.chars().any(char::is_control) {
        return Err("The message cannot contain control characters (line breaks included).".into());
    }
    Ok(m.to_string())
}

#[cfg(feature = "ssr")]
pub use ssr::*;

#[cfg(feature = "ssr")]
mod ssr {
    use super::*;
    use sqlx::PgConnection;
    use std::sync::RwLock;

    /// This process's view of the switch, kept current by the change feed.
    #[derive(Debug, Default)]
    pub struct Switch(RwLock<Status>);

    impl Switch {
        pub fn now(&self) -> Status {
            self.0.read().map(|s| s.clone()).unwrap_or_default()
        }

        pub fn active(&self) -> bool {
            self.0.read().map(|s| s.active).unwrap_or(false)
        }

        pub fn set(&self, status: Status) {
            if let Ok(mut s) = self.0.write() {
                *s = status;
            }
        }

        /// Reads the switch from the database (at start, and when the feed comes back).
        pub async fn load(&self, conn: &mut PgConnection) -> Result<(), sqlx::Error> {
            self.set(read(conn).await?);
            Ok(())
        }

        /// A notification's payload: `{"active":…,"message":…,"since":…}`.
        pub fn heard(&self, payload: &str) {
            #[derive(Deserialize)]
            struct Heard {
                active: bool,
                message: String,
                since: Option<String>,
            }
            match serde_json::from_str::<Heard>(payload) {
                Ok(h) => {
                    let changed_by = self.now().changed_by;
                    self.set(Status {
                        active: h.active,
                        message: h.message,
                        since: h.since.and_then(|s| parse_pg_time(&s)).map(crate::ui::time::rfc3339),
                        changed_by,
                    })
                }
                Err(e) => tracing::warn!("maintenance notification not understood: {e}"),
            }
        }
    }

    /// json_build_object writes timestamptz as `2026-12-01T02:24:29.123456+00:00`.
    fn parse_pg_time(s: &str) -> Option<time::OffsetDateTime> {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    }

    pub async fn read(conn: &mut PgConnection) -> Result<Status, sqlx::Error> {
        let row = sqlx::query!("SELECT active, message, changed_at, changed_by FROM maintenance_mode")
            .fetch_optional(conn)
            .await?;
        Ok(row
            .map(|r| Status {
                active: r.active,
                message: r.message,
                since: Some(crate::ui::time::rfc3339(r.changed_at)),
                changed_by: r.changed_by,
            })
            .unwrap_or_default())
    }
}

/// The banner every console page shows while maintenance is on.
#[component]
pub fn MaintenanceBanner(status: Status) -> impl IntoView {
    status.active.then(|| {
        view! {
            <div class="maintenance-banner" role="status" data-maintenance="">
                <strong>"Maintenance: changes are paused."</strong>
                " "
                {if status.message.is_empty() { "You can look around; saving will work again shortly.".to_string() } else { status.message.clone() }}
            </div>
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_short_plain_text() {
        assert_eq!(parse_message("  back at 14:30 ").unwrap(), "back at 14:30");
        assert!(parse_message("a\u{0}b").is_err());
        assert!(parse_message("line\nbreak").is_err());
        assert!(parse_message(&"x".repeat(501)).is_err());
        assert!(parse_message(&"é".repeat(500)).is_ok());
    }
}
