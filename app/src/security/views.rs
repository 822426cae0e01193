use super::{load_security, ChainCheck, CompanySecurity, RequireTwoFactor};
use crate::chrome::{use_shell, use_slug, TenantPage};
use crate::domain::Permission;
use crate::error::AppError;
use crate::ui::time::Time;
use crate::ui::{action_error, Badge, ErrorBox, FormAlert};
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

#[component]
pub fn SecurityPage() -> impl IntoView {
    view! { <TenantPage title="Security"><SecurityView/></TenantPage> }
}

/// How a line of the overview stands.
#[derive(Clone, Copy, PartialEq)]
enum Standing {
    Ok,
    NeedsAttention,
    /// Nothing to act on here (a capability this Atrium does not offer yet).
    NotAvailable,
}

impl From<bool> for Standing {
    fn from(ok: bool) -> Standing {
        if ok {
            Standing::Ok
        } else {
            Standing::NeedsAttention
        }
    }
}

/// A line of the overview: what is found, how it stands, and where to fix it.
#[component]
fn Line(
    title: &'static str,
    #[prop(into)] ok: Standing,
    #[prop(into)] summary: String,
    #[prop(optional, into)] fix: Option<String>,
    #[prop(optional)] fix_label: &'static str,
    #[prop(optional)] children: Option<Children>,
) -> impl IntoView {
    let (state, badge, tone) = match ok {
        Standing::Ok => ("yes", "OK", "success"),
        Standing::NeedsAttention => ("no", "Needs attention", "warning"),
        Standing::NotAvailable => ("na", "Not available", "neutral"),
    };
    view! {
        <section class="card security-line" data-ok=state>
            <div class="card-head">
                <h2>{title}</h2>
                <Badge text=badge tone=tone/>
            </div>
            <p>{summary}</p>
            {children.map(|c| c())}
            {fix.map(|href| view! { <p><a href=href>{fix_label}" →"</a></p> })}
        </section>
    }
}

fn verification(check: Option<ChainCheck>) -> AnyView {
    match check {
        Some(c) if c.intact => view! { <span>"Intact when last verified "<Time stamp=c.at/></span> }.into_any(),
        Some(c) => view! { <strong>"Broken when last verified "<Time stamp=c.at/></strong> }.into_any(),
        None => view! { <span>"Never verified"</span> }.into_any(),
    }
}

#[component]
fn SecurityView() -> impl IntoView {
    let shell = use_shell();
    let slug = use_slug()();
    let require = ServerAction::<RequireTwoFactor>::new();
    let err = action_error(require.value());
    let query = use_query_map();
    let fetch_slug = slug.clone();
    let overview = Resource::new(move || require.version().get(), move |_| load_security(fetch_slug.clone()));
    let saved = move || query.with(|q| q.get("saved").is_some()) || matches!(require.value().get(), Some(Ok(())));
    view! {
        <div aria-live="polite">{move || saved().then(|| view! { <div class="alert alert-success" role="status">"Saved."</div> })}</div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                let Ok(shell) = shell.await else { return ().into_any() };
                if !shell.can(Permission::SecurityManage) {
                    return view! { <ErrorBox error=AppError::Forbidden/> }.into_any();
                }
                let o = match overview.await {
                    Ok(o) => o,
                    Err(e) => return view! { <ErrorBox error=e/> }.into_any(),
                };
                let missing: i64 = o.without_two_factor.iter().map(|(_, n)| n).sum();
                // Built here: the view's children are closures that would each take `slug`.
                let admin_rows = o.admins.iter().map(|a| view! {
                    <tr>
                        <td><a href=format!("/t/{slug}/users/{}", a.id)>{if a.name.is_empty() { a.email.clone() } else { a.name.clone() }}</a></td>
                        <td>{match a.last_sign_in.clone() { Some(t) => view! { <Time stamp=t/> }.into_any(), None => view! { <span class="muted">"Never"</span> }.into_any() }}</td>
                        <td>{if a.two_factor { view! { <Badge text="On" tone="success"/> } } else { view! { <Badge text="Off" tone="warning"/> } }}</td>
                    </tr>
                }).collect_view();
                let key_items = o.risky_keys.iter().map(|k| view! {
                    <li><a href=format!("/t/{slug}/api-keys/{}", k.id)>{k.name.clone()}</a>{format!(": {}", k.reasons.join(", "))}</li>
                }).collect_view();
                let integration_items = o.failing_integrations.iter().map(|i| view! {
                    <li><a href=format!("/t/{slug}/integrations/{}", i.platform)>{i.label.clone()}</a>
                        {format!(": {} failed deliver{}{}", i.failed_deliveries, if i.failed_deliveries == 1 { "y" } else { "ies" },
                            i.last_error.as_deref().map(|e| format!(" (last: {e})")).unwrap_or_default())}</li>
                }).collect_view();
                let form_slug = slug.clone();
                let stale_admins = o.admins.iter().filter(|a| !a.two_factor).count();
                view! {
                    <p class="muted">{format!("How {} stands. Each line links to where it is fixed.", o.company)}</p>
                    <Line title="Two-factor sign-in" ok={o.require_two_factor || missing == 0}
                        summary={format!("{} of {} active members sign in without a second factor. {}", missing, o.members,
                            if o.require_two_factor { "Required: they set it up at their next sign-in." } else { "Not required." })}
                        fix=format!("/t/{slug}/users") fix_label="Members">
                        {(!o.without_two_factor.is_empty()).then(|| view! {
                            <ul class="inline-list" data-without-two-factor="">
                                {o.without_two_factor.iter().map(|(role, n)| view! { <li>{format!("{role}: {n}")}</li> }).collect_view()}
                            </ul>
                        })}
                        <FormAlert error=err/>
                        <ActionForm action=require attr:class="inline-form">
                            <input type="hidden" name="slug" value=form_slug/>
                            {(!o.require_two_factor).then(|| view! { <input type="hidden" name="required" value="on"/> })}
                            <button type="submit" class=if o.require_two_factor { "btn btn-secondary btn-sm" } else { "btn btn-primary btn-sm" }>
                                {if o.require_two_factor { "Stop requiring two-factor sign-in" } else { "Require two-factor sign-in" }}
                            </button>
                        </ActionForm>
                    </Line>
                    <Line title="Admins" ok={stale_admins == 0}
                        summary={format!("{} admin{}; {} without two-factor sign-in.", o.admins.len(), if o.admins.len() == 1 { "" } else { "s" }, stale_admins)}
                        fix=format!("/t/{slug}/users?role=ADMIN") fix_label="Admins">
                        <div class="table-wrap">
                            <table class="data">
                                <thead><tr><th scope="col">"Admin"</th><th scope="col">"Last sign-in"</th><th scope="col">"Two-factor"</th></tr></thead>
                                <tbody>{admin_rows}</tbody>
                            </table>
                        </div>
                    </Line>
                    <Line title="Single sign-on" ok=Standing::NotAvailable
                        summary="Not available yet: members sign in with their Atrium password, and a second factor where required."/>
                    <Line title="API keys" ok={o.risky_keys.is_empty()}
                        summary={format!("{} active key{} never expire, went unused for 90 days, or have no rate limit.", o.risky_keys.len(), if o.risky_keys.len() == 1 { "" } else { "s" })}
                        fix=format!("/t/{slug}/api-keys") fix_label="API keys">
                        {(!o.risky_keys.is_empty()).then(|| view! { <ul data-risky-keys="">{key_items}</ul> })}
                    </Line>
                    <Line title="Integrations" ok={o.failing_integrations.is_empty()}
                        summary={if o.failing_integrations.is_empty() { "Every enabled integration delivers.".to_string() } else { format!("{} integration{} failing.", o.failing_integrations.len(), if o.failing_integrations.len() == 1 { " is" } else { "s are" }) }}
                        fix=format!("/t/{slug}/deliveries?status=failed") fix_label="Failed deliveries">
                        {(!o.failing_integrations.is_empty()).then(|| view! { <ul>{integration_items}</ul> })}
                    </Line>
                    <Line title="Audit log" ok={o.last_verification.as_ref().is_some_and(|c| c.intact)}
                        summary={format!("Kept {} days{}.", o.retention_days, if o.legal_hold { ", under legal hold" } else { "" })}
                        fix=format!("/t/{slug}/audit") fix_label="Audit log and verification">
                        <p>{verification(o.last_verification)}</p>
                    </Line>
                }.into_any()
            })}}
        </Suspense>
    }
}

/// The security line of every company, for the super-admin's overview.
#[component]
pub fn PlatformSecuritySummary(rows: Vec<CompanySecurity>) -> impl IntoView {
    view! {
        <h2 id="security">"Security across companies"</h2>
        <div class="table-wrap">
            <table class="data" data-security-summary="">
                <thead><tr>
                    <th scope="col">"Company"</th><th scope="col">"Two-factor"</th><th scope="col">"Members without"</th>
                    <th scope="col">"Admins without"</th><th scope="col">"Risky keys"</th><th scope="col">"Failing integrations"</th>
                    <th scope="col">"Audit chain"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|c| view! {
                        <tr>
                            <td><a href=format!("/t/{}/security", c.slug)>{c.name}</a></td>
                            <td>{if c.require_two_factor { view! { <Badge text="Required" tone="success"/> } } else { view! { <Badge text="Optional" tone="warning"/> } }}</td>
                            <td>{format!("{} of {}", c.without_two_factor, c.members)}</td>
                            <td>{c.admins_without_two_factor}</td>
                            <td>{c.risky_keys}</td>
                            <td>{c.failing_integrations}</td>
                            <td>{verification(c.last_verification)}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
