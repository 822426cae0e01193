//! The super-admin's cross-company views. Each load goes through `db::platform_read`, which
//! audits the read and runs it as atrium_platform.
use crate::chrome::Frame;
use crate::error::AppError;
use crate::ui::time::{Stamp, Time};
use crate::ui::{Badge, ErrorBox};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyOverview {
    pub id: Uuid,
    pub name: String,
    pub slug: String,
    pub enabled: bool,
    pub users: i64,
    pub active_keys: i64,
    pub last_activity: Option<Stamp>,
}

/// `/admin`: every company at a glance, and each one's security line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AdminOverview {
    pub companies: Vec<CompanyOverview>,
    pub security: Vec<crate::security::CompanySecurity>,
}

/// Companies shown on the overview, busiest first.
pub const OVERVIEW_LIMIT: i64 = 200;

#[server(endpoint = "admin/overview")]
pub async fn load_overview() -> Result<AdminOverview, AppError> {
    use crate::access::require_platform;
    use crate::server_ctx::*;
    let actor = require_platform(Permission::CompaniesRead).await?;
    let mut tx = crate::access::platform_read(&state()?.pool, &actor, &request_meta(), "overview").await?;
    let rows = sqlx::query!(
        r#"SELECT c.id, c.name, c.slug, c.tenant_enabled,
                      (SELECT count(*) FROM memberships m WHERE m.company_id = c.id) AS "users!",
                      (SELECT count(*) FROM api_keys k WHERE k.company_id = c.id AND k.revoked_at IS NULL
                          AND (k.expires_at IS NULL OR k.expires_at > now())) AS "keys!",
                      (SELECT max(a."timestamp") FROM audit_log a WHERE a.company_id = c.id) AS last_activity
                 FROM companies c WHERE c.deleted_at IS NULL
                ORDER BY last_activity DESC NULLS LAST, lower(c.name) LIMIT $1"#,
        OVERVIEW_LIMIT
    )
    .fetch_all(&mut *tx)
    .await?;
    // One read on record for the page: the security lines come in the same transaction.
    let security = crate::security::service::across_companies(&mut tx).await?;
    tx.commit().await?;
    let companies = rows
        .into_iter()
        .map(|r| CompanyOverview {
            id: r.id,
            name: r.name,
            slug: r.slug,
            enabled: r.tenant_enabled,
            users: r.users,
            active_keys: r.keys,
            last_activity: r.last_activity.map(crate::ui::time::rfc3339),
        })
        .collect();
    Ok(AdminOverview { companies, security })
}

#[component]
pub fn AdminOverviewPage() -> impl IntoView {
    let rows = Resource::new(|| (), |_| load_overview());
    view! {
        <Title text="Overview · Atrium"/>
        <Frame title="All companies">
            <p class="muted">"Every company at a glance. Opening one asks for a reason and lasts 30 minutes; each look across companies is recorded."</p>
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match rows.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(AdminOverview { companies: rows, security }) => view! {
                            <div class="table-wrap">
                                <table class="data">
                                    <thead><tr>
                                        <th scope="col">"Company"</th><th scope="col">"Status"</th><th scope="col">"Users"</th>
                                        <th scope="col">"Active API keys"</th><th scope="col">"Last activity"</th><th scope="col"><span class="visually-hidden">"Open"</span></th>
                                    </tr></thead>
                                    <tbody>
                                        {rows.into_iter().map(|c| view! {
                                            <tr>
                                                <td><a href=format!("/admin/companies/{}", c.id)>{c.name}</a><br/><span class="muted mono">{c.slug.clone()}</span></td>
                                                <td>{if c.enabled { view! { <Badge text="Enabled" tone="success"/> } } else { view! { <Badge text="Disabled" tone="warning"/> } }}</td>
                                                <td>{c.users}</td>
                                                <td>{c.active_keys}</td>
                                                <td>{match c.last_activity { Some(t) => view! { <Time stamp=t/> }.into_any(), None => view! { <span class="muted">"None"</span> }.into_any() }}</td>
                                                <td><a class="btn btn-secondary btn-sm" href=format!("/t/{}/", c.slug)>"Open…"</a></td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                            <crate::security::PlatformSecuritySummary rows=security/>
                        }.into_any(),
                    }
                })}
            </Suspense>
        </Frame>
    }
}
