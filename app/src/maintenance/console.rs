//! The super-admin's maintenance page and its server functions.
use super::{Status, MESSAGE_MAX};
use crate::chrome::Frame;
use crate::error::AppError;
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, ErrorBox, FormAlert};
use leptos::prelude::*;
use leptos_meta::Title;

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
    let status = super::service::set(&mut tx, &(&actor).into(), &request_meta(), active, &message).await?;
    tx.commit().await?;
    // This process shows it at once; the others when they hear it.
    state.maintenance.set(status.clone());
    Ok(status)
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
