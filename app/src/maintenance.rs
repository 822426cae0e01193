//! Maintenance mode: one switch for the whole installation (migration 0019).
//!
//! While it is on, PostgreSQL refuses every change's audit row, and so the change (SQLSTATE
//! AT503, answered with 503 and `Retry-After`); reads, signing in and the switch itself go on.
//! Each process keeps the switch's state in memory (`Switch`), heard on `atrium_maintenance`,
//! for the console's banner.
use crate::chrome::Frame;
use crate::error::AppError;
use crate::ui::time::{Stamp, Time};
use crate::ui::{action_error, field_error, ErrorBox, FormAlert};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};

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
    pub since: Option<Stamp>,
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
    use crate::audit::record::{record, Event, Who};
    use crate::audit::{Action, Severity};
    use crate::server_ctx::RequestMeta;
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

    /// Throws the switch, audited in the same transaction (the caller commits).
    pub async fn set(
        conn: &mut PgConnection,
        who: &Who,
        meta: &RequestMeta,
        active: bool,
        message: &str,
    ) -> Result<Status, AppError> {
        let message = parse_message(message).map_err(|m| AppError::field("message", m))?;
        let before = read(&mut *conn).await?;
        let by = who.email.clone().unwrap_or_else(|| "system@atrium".into());
        sqlx::query!(
            "UPDATE maintenance_mode SET active = $1, message = $2, changed_at = now(), changed_by = $3",
            active,
            message,
            by
        )
        .execute(&mut *conn)
        .await?;
        let action = if active { Action::MaintenanceOn } else { Action::MaintenanceOff };
        record(
            conn,
            who,
            meta,
            Event::new(action, "maintenance").severity(Severity::Warning).details(serde_json::json!({
                "before": { "active": before.active, "message": before.message },
                "after": { "active": active, "message": message },
            })),
        )
        .await?;
        Ok(Status {
            active,
            message,
            since: Some(crate::ui::time::rfc3339(time::OffsetDateTime::now_utc())),
            changed_by: Some(by),
        })
    }
}

#[server(endpoint = "admin/maintenance")]
pub async fn maintenance_status() -> Result<Status, AppError> {
    use crate::server_ctx::*;
    crate::access::require_platform(Permission::CompaniesRead).await?;
    Ok(state()?.maintenance.now())
}

#[server(endpoint = "admin/maintenance/set")]
pub async fn set_maintenance(active: bool, message: String) -> Result<Status, AppError> {
    use crate::server_ctx::*;
    let actor = crate::access::require_platform(Permission::CompaniesWrite).await?;
    let state = state()?;
    let mut tx = state.pool.begin().await?;
    let status = set(&mut tx, &(&actor).into(), &request_meta(), active, &message).await?;
    tx.commit().await?;
    // This process shows it at once; the others when they hear it.
    state.maintenance.set(status.clone());
    Ok(status)
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

#[component]
pub fn MaintenancePage() -> impl IntoView {
    let set = ServerAction::<SetMaintenance>::new();
    let status = Resource::new(move || set.version().get(), |_| maintenance_status());
    let err = action_error(set.value());
    view! {
        <Title text="Maintenance · Atrium"/>
        <Frame title="Maintenance">
            <p class="muted">"While maintenance is on, every change is refused with a message and a time to retry, in the console, the REST API and the delivery worker; pages, reads and signing in go on. Every process hears the switch within a second, and it is recorded in the audit log."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(s) => {
                            let turn_on = !s.active;
                            view! {
                                <section class="card stack" aria-labelledby="maintenance-state">
                                    <h2 id="maintenance-state">{if s.active { "Maintenance is on" } else { "Maintenance is off" }}</h2>
                                    {s.since.clone().map(|at| view! {
                                        <p class="muted">"Since "<Time stamp=at/>{s.changed_by.clone().map(|b| format!(", by {b}"))}</p>
                                    })}
                                    {s.active.then(|| view! { <p>{if s.message.is_empty() { "No message.".to_string() } else { s.message.clone() }}</p> })}
                                    <ActionForm action=set attr:class="stack">
                                        <input type="hidden" name="active" value=turn_on.to_string()/>
                                        {turn_on.then(|| view! {
                                            <div class="field">
                                                <label for="maintenance-message">"Message for users"</label>
                                                <input id="maintenance-message" name="message" maxlength=MESSAGE_MAX.to_string()
                                                    placeholder="Upgrading the database; back by 14:30 UTC"/>
                                                {move || field_error(err, "message").get().map(|m| view! { <p class="error">{m}</p> })}
                                            </div>
                                        })}
                                        {(!turn_on).then(|| view! { <input type="hidden" name="message" value=""/> })}
                                        <FormAlert error=err/>
                                        <div>
                                            <button type="submit" class=if turn_on { "btn btn-danger" } else { "btn btn-primary" }>
                                                {if turn_on { "Turn maintenance on" } else { "Turn maintenance off" }}
                                            </button>
                                        </div>
                                    </ActionForm>
                                </section>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </Frame>
    }
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
