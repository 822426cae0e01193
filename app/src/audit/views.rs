//! The audit log's pages: the viewer (a company's, and the super-admin's across companies),
//! its detail panel, export links, the integrity check, retention, and the History tab that
//! other pages embed.
use super::Action as Event;
use super::*;
use crate::chrome::Frame;
use crate::chrome::{use_slug, TenantPage};
use crate::error::AppError;
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, Badge, DiffView, ErrorBox, FormAlert};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn AuditLogPage() -> impl IntoView {
    let slug = use_slug()();
    view! { <TenantPage title="Audit log"><AuditViewer slug=Some(slug)/></TenantPage> }
}

#[component]
pub fn AdminAuditPage() -> impl IntoView {
    view! {
        <Title text="Audit log · Atrium"/>
        <Frame title="Audit log, all companies"><AuditViewer slug=None/></Frame>
    }
}

fn severity_badge(s: Severity) -> impl IntoView {
    let tone = match s {
        Severity::Info => "neutral",
        Severity::Warning => "warning",
        Severity::Error => "danger",
    };
    view! { <Badge text=s.as_str() tone=tone/> }
}

/// The action filter: every action, grouped, each group also selectable as `group.*`.
fn action_options(current: String) -> impl IntoView {
    let mut groups: Vec<&'static str> = Vec::new();
    for a in Event::ALL {
        if !groups.contains(&a.group()) {
            groups.push(a.group());
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let all = format!("{g}.*");
            let selected_all = current == all;
            let actions = Event::ALL
                .iter()
                .filter(|a| a.group() == g)
                .map(|a| view! { <option value=a.as_str() selected=current == a.as_str()>{a.as_str()}</option> })
                .collect_view();
            view! {
                <optgroup label=g>
                    <option value=all.clone() selected=selected_all>{format!("{g}: every action")}</option>
                    {actions}
                </optgroup>
            }
        })
        .collect_view()
}

#[component]
fn FilterForm(base: String, params: FilterParams, across: bool, error: Option<AppError>) -> impl IntoView {
    let err = |f: &str| error.as_ref().and_then(|e| e.field_error(f));
    let field = move |id: &'static str,
                      label: &'static str,
                      kind: &'static str,
                      value: String,
                      hint: &'static str,
                      msg: Option<String>| {
        let invalid = msg.is_some();
        view! {
            <div class="field">
                <label for=format!("audit-{id}")>{label}</label>
                <input id=format!("audit-{id}") name=id type=kind value=value placeholder=hint
                    aria-invalid=invalid.then_some("true") aria-describedby=invalid.then(|| format!("audit-{id}-error"))/>
                {msg.map(|m| view! { <p class="error" id=format!("audit-{id}-error")>{m}</p> })}
            </div>
        }
    };
    let (action_err, severity_err, company_err) = (err("action"), err("severity"), err("company"));
    view! {
        <form method="get" action=base.clone() class="audit-filters" role="search" aria-label="Filter the audit log">
            {field("actor", "Actor", "search", params.actor.clone(), "email contains", err("actor"))}
            <div class="field">
                <label for="audit-action">"Action"</label>
                <select id="audit-action" name="action" aria-invalid=action_err.is_some().then_some("true")>
                    <option value="">"Any action"</option>
                    {action_options(params.action.clone())}
                </select>
                {action_err.map(|m| view! { <p class="error">{m}</p> })}
            </div>
            {field("resource", "Resource", "search", params.resource.clone(), "e.g. api_key", err("resource"))}
            {field("resource_id", "Resource id", "search", params.resource_id.clone(), "exact id", err("resource_id"))}
            <div class="field">
                <label for="audit-severity">"Severity"</label>
                <select id="audit-severity" name="severity" aria-invalid=severity_err.is_some().then_some("true")>
                    <option value="">"Any"</option>
                    {Severity::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=params.severity == s.as_str()>{s.as_str()}</option> }).collect_view()}
                </select>
                {severity_err.map(|m| view! { <p class="error">{m}</p> })}
            </div>
            {field("from", "From", "date", params.from.clone(), "", err("from"))}
            {field("to", "To", "date", params.to.clone(), "", err("to"))}
            {across.then(|| field("company", "Company", "search", params.company.clone(), "slug", company_err))}
            <div class="filter-actions">
                <button type="submit" class="btn btn-primary">"Filter"</button>
                {(!params.is_empty()).then(|| view! { <a class="btn btn-secondary" href=base.clone()>"Clear"</a> })}
            </div>
        </form>
    }
}

/// The viewer. Filters, cursor (`before`) and the open row (`entry`) all live in the URL.
#[component]
pub fn AuditViewer(slug: Option<String>) -> impl IntoView {
    let query = use_query_map();
    let params = move || {
        query.with(|q| FilterParams::from_pairs(FilterParams::KEYS.iter().map(|k| (*k, q.get_str(k).unwrap_or("")))))
    };
    let cursor = move || query.with(|q| q.get("before").unwrap_or_default());
    let entry = move || query.with(|q| q.get("entry").and_then(|e| e.parse::<i64>().ok()));
    let fetch_slug = slug.clone();
    let view_data =
        Resource::new(move || (params(), cursor(), entry()), move |(p, c, e)| load_audit(fetch_slug.clone(), p, c, e));
    let base = match &slug {
        Some(s) => format!("/t/{s}/audit"),
        None => "/admin/audit".to_string(),
    };
    let across = slug.is_none();
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading the audit log…"</p> }>
            {move || {
                let (base, slug, p, cur) = (base.clone(), slug.clone(), params(), cursor());
                Suspend::new(async move {
                    match view_data.await {
                        Err(e @ AppError::Validation(_)) => {
                            crate::ui::set_status(422);
                            view! {
                                <FilterForm base=base.clone() params=p across=across error=Some(e.clone())/>
                                <ErrorBox error=e/>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(v) => view! {
                            <FilterForm base=base.clone() params=p.clone() across=across error=None/>
                            <AuditToolbar slug=slug.clone() base=base.clone() params=p.clone() can_export=v.can_export/>
                            <div class="audit-layout" class:with-detail=v.detail.is_some()>
                                <AuditRows rows=v.page.rows.clone() base=base.clone() params=p.clone() cursor=cur.clone()
                                    open=v.detail.as_ref().map(|d| d.entry.id) across=across/>
                                {v.detail.clone().map(|d| view! { <DetailPanel detail=d close=p.href(&base, &cursor_pair(&cur))/> })}
                            </div>
                            <nav class="pager" aria-label="Pages">
                                {(!cur.is_empty()).then(|| view! { <a class="btn btn-secondary btn-sm" href=p.href(&base, &[])>"Newest"</a> })}
                                {v.page.next.clone().map(|n| view! { <a class="btn btn-secondary btn-sm" rel="next" href=p.href(&base, &[("before", &n)])>"Older"</a> })}
                            </nav>
                            {v.retention.clone().zip(slug.clone()).map(|(r, s)| view! { <RetentionCard slug=s retention=r can_edit=v.can_set_retention/> })}
                        }.into_any(),
                    }
                })
            }}
        </Suspense>
    }
}

fn cursor_pair(cursor: &str) -> Vec<(&'static str, &str)> {
    if cursor.is_empty() {
        vec![]
    } else {
        vec![("before", cursor)]
    }
}

#[component]
fn AuditToolbar(slug: Option<String>, base: String, params: FilterParams, can_export: bool) -> impl IntoView {
    let verify = ServerAction::<VerifyAudit>::new();
    let err = action_error(verify.value());
    let export = |format: &'static str| {
        let q = params.href(&format!("{base}/export"), &[("format", format)]);
        view! { <a class="btn btn-secondary" href=q download="">{format!("Export {}", format.to_uppercase())}</a> }
    };
    view! {
        <div class="toolbar audit-toolbar">
            {can_export.then(|| view! {
                <span class="muted">"Export exactly this filter:"</span>
                {export("csv")}
                {export("jsonl")}
            })}
            <ActionForm action=verify attr:class="inline">
                {slug.clone().map(|s| view! { <input type="hidden" name="slug" value=s/> })}
                <button type="submit" class="btn btn-secondary" disabled=move || verify.pending().get()>
                    {move || if verify.pending().get() { "Verifying…" } else { "Verify integrity" }}
                </button>
            </ActionForm>
        </div>
        <div aria-live="polite" class="verify-result">
            <FormAlert error=err/>
            {move || verify.value().get().and_then(|r| r.ok()).map(|reports| view! {
                <ul class="chain-reports">
                    {reports.into_iter().map(|r| {
                        let ok = r.broken.is_none();
                        let text = r.to_string();
                        let head = r.head.clone().map(|h| format!("head {}…", &h[..h.len().min(16)]));
                        view! {
                            <li class=if ok { "alert alert-success" } else { "alert alert-error" } role=if ok { "status" } else { "alert" }>
                                <strong>{if ok { "Intact" } else { "Broken" }}</strong>" "{text}
                                {head.map(|h| view! { <span class="muted mono">" · "{h}</span> })}
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </div>
    }
}

/// A one-line summary of an event's details for the table.
fn summary(details: &serde_json::Value) -> String {
    if let Some(after) = details.get("after").and_then(|a| a.as_object()) {
        let keys: Vec<&str> = after.keys().map(String::as_str).collect();
        return format!("changed {}", keys.join(", "));
    }
    let text = details.to_string();
    if text == "{}" {
        return String::new();
    }
    let mut cut: String = text.chars().take(90).collect();
    if cut.len() < text.len() {
        cut.push('…');
    }
    cut
}

#[component]
fn AuditRows(
    rows: Vec<AuditDetail>,
    base: String,
    params: FilterParams,
    cursor: String,
    open: Option<i64>,
    across: bool,
) -> impl IntoView {
    if rows.is_empty() {
        return view! {
            <div class="empty card"><p>{if params.is_empty() { "Nothing has been recorded yet." } else { "No events match these filters." }}</p></div>
        }
        .into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="data audit">
                <thead><tr>
                    <th scope="col">"When"</th>
                    {across.then(|| view! { <th scope="col">"Company"</th> })}
                    <th scope="col">"Actor"</th><th scope="col">"Action"</th><th scope="col">"Resource"</th>
                    <th scope="col">"Severity"</th><th scope="col">"Details"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|d| {
                        let e = d.entry;
                        let id = e.id.to_string();
                        let mut extra = cursor_pair(&cursor);
                        extra.push(("entry", &id));
                        let href = params.href(&base, &extra);
                        let current = open == Some(e.id);
                        let resource = match &e.resource_id {
                            Some(rid) => format!("{} {}", e.resource, short_id(rid)),
                            None => e.resource.clone(),
                        };
                        view! {
                            <tr class:selected=current>
                                <td><a href=href aria-current=current.then_some("true") title="Open the details"><Time stamp=e.timestamp/></a></td>
                                {across.then(|| view! { <td>{d.company.clone().unwrap_or_else(|| "Platform".into())}</td> })}
                                <td class="actor">{e.actor_email.unwrap_or_else(|| "—".into())}</td>
                                <td class="mono">{e.action}</td>
                                <td class="mono">{resource}</td>
                                <td>{severity_badge(e.severity)}</td>
                                <td class="details muted">{summary(&e.details)}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn short_id(id: &str) -> String {
    if id.len() > 13 && id.is_ascii() {
        format!("{}…", &id[..8])
    } else {
        id.to_string()
    }
}

#[component]
fn DetailPanel(detail: AuditDetail, close: String) -> impl IntoView {
    let e = detail.entry;
    let dash = |v: Option<String>| v.filter(|s| !s.is_empty()).unwrap_or_else(|| "—".into());
    let exact = format!("{} UTC", e.timestamp.iso.replace('T', " ").trim_end_matches('Z'));
    view! {
        <aside class="card audit-detail" aria-labelledby="audit-detail-title">
            <header>
                <h2 id="audit-detail-title" class="mono">{e.action.clone()}</h2>
                <a class="btn btn-secondary btn-sm" href=close>"Close"</a>
            </header>
            <dl class="facts">
                <dt>"When"</dt><dd>{exact}" "<span class="muted">"("<Time stamp=e.timestamp.clone()/>")"</span></dd>
                {detail.company.clone().map(|c| view! { <dt>"Company"</dt><dd>{c}</dd> })}
                <dt>"Actor"</dt><dd>{dash(e.actor_email.clone())}{detail.role.clone().map(|r| view! { <span class="muted">{format!(" ({r})")}</span> })}</dd>
                <dt>"Resource"</dt><dd class="mono">{e.resource.clone()}" "{dash(e.resource_id.clone())}</dd>
                <dt>"Severity"</dt><dd>{severity_badge(e.severity)}</dd>
                <dt>"IP address"</dt><dd class="mono">{dash(e.ip.clone())}</dd>
                <dt>"User agent"</dt><dd class="wrap">{dash(detail.user_agent.clone())}</dd>
                <dt>"Session"</dt><dd class="mono">{dash(detail.session_id.clone())}</dd>
                <dt>"Request id"</dt><dd class="mono">{dash(detail.request_id.clone())}</dd>
                <dt>"Chain"</dt><dd class="mono wrap">{format!("#{} · {}", detail.chain_seq, detail.hash)}</dd>
            </dl>
            <h3>"Change"</h3>
            <DiffView details=e.details/>
        </aside>
    }
}

#[component]
fn RetentionCard(slug: String, retention: Retention, can_edit: bool) -> impl IntoView {
    let save = ServerAction::<SaveRetention>::new();
    let err = action_error(save.value());
    let initial = retention.clone();
    let status = move || {
        let r = save.value().get().and_then(|v| v.ok()).unwrap_or_else(|| initial.clone());
        let period = period_label(r.days);
        if r.legal_hold {
            format!(
                "Rows are kept {period}, but a legal hold is on, so nothing is deleted: {}",
                r.legal_hold_reason.unwrap_or_default()
            )
        } else {
            format!("Rows older than {period} are removed each day.")
        }
    };
    // The platform's floor is the shortest period offered; a floor between the usual
    // choices is offered as it is.
    let floor = retention.floor_days;
    let choices: Vec<(i32, String)> = (!RETENTION_CHOICES.iter().any(|(d, _)| *d == floor))
        .then(|| (floor, period_label(floor)))
        .into_iter()
        .chain(RETENTION_CHOICES.iter().filter(|(d, _)| *d >= floor).map(|(d, l)| (*d, l.to_string())))
        .collect();
    view! {
        <section class="card retention" aria-labelledby="retention-title">
            <h2 id="retention-title">"Retention"</h2>
            <p role="status">{status}</p>
            {can_edit.then(|| view! {
                <ActionForm action=save attr:class="stack retention-form">
                    <input type="hidden" name="slug" value=slug.clone()/>
                    <div class="field">
                        <label for="retention-days">"Keep audit rows for"</label>
                        <select id="retention-days" name="days" aria-describedby="retention-floor">
                            {choices.into_iter().map(|(d, l)| view! { <option value=d.to_string() selected=d == retention.days>{l}</option> }).collect_view()}
                        </select>
                        <p id="retention-floor" class="muted">{format!("The platform keeps every company's rows at least {}.", period_label(floor))}</p>
                        {move || field_error(err, "days").get().map(|m| view! { <p class="error">{m}</p> })}
                    </div>
                    <label class="check">
                        <input type="checkbox" name="legal_hold" value="on" checked=retention.legal_hold/>
                        " Legal hold: delete nothing until it is lifted"
                    </label>
                    <div class="field">
                        <label for="retention-reason">"Reason for the hold"</label>
                        <input id="retention-reason" name="legal_hold_reason" value=retention.legal_hold_reason.clone().unwrap_or_default()
                            placeholder="matter or ticket"/>
                        {move || field_error(err, "legal_hold_reason").get().map(|m| view! { <p class="error">{m}</p> })}
                    </div>
                    <div>
                        <button type="submit" class="btn btn-primary">"Save retention"</button>
                        {move || matches!(save.value().get(), Some(Ok(_))).then(|| view! { <span class="muted" role="status">" Saved."</span> })}
                    </div>
                </ActionForm>
            })}
        </section>
    }
}

/// "1 year" for a period offered by name, "400 days" otherwise.
fn period_label(days: i32) -> String {
    RETENTION_CHOICES
        .iter()
        .find(|(d, _)| *d == days)
        .map(|(_, l)| l.to_string())
        .unwrap_or_else(|| format!("{days} days"))
}

/// A record's own audit rows, for the History tab of a company, user, API key or
/// integration page.
#[component]
pub fn HistoryTab(
    /// The company page's slug; None on the super-admin's pages.
    slug: Option<String>,
    resource: &'static str,
    resource_id: String,
) -> impl IntoView {
    let params = FilterParams { resource: resource.into(), resource_id: resource_id.clone(), ..Default::default() };
    let fetch = (slug.clone(), params.clone());
    let rows = Resource::new(move || fetch.clone(), |(s, p)| load_audit(s, p, String::new(), None));
    let base = match &slug {
        Some(s) => format!("/t/{s}/audit"),
        None => "/admin/audit".into(),
    };
    view! {
        <section aria-label="History">
            <Suspense fallback=|| view! { <p class="muted">"Loading history…"</p> }>
                {move || {
                    let (base, params) = (base.clone(), params.clone());
                    Suspend::new(async move {
                        match rows.await {
                            Err(AppError::Forbidden) => view! { <p class="muted">"Your role can't read the audit log."</p> }.into_any(),
                            Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                            Ok(v) => view! {
                                <AuditRows rows=v.page.rows base=base.clone() params=params.clone() cursor=String::new() open=None across=false/>
                                <p><a href=params.href(&base, &[])>{if v.page.next.is_some() { "See all of it in the audit log" } else { "Open in the audit log" }}</a></p>
                            }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </section>
    }
}

/// "Details | History" above a record's page; `?tab=history` selects the second.
#[component]
pub fn RecordTabs(base: String, #[prop(into)] history: Signal<bool>) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Record">
            <a href=base.clone() aria-current=move || (!history.get()).then_some("page")>"Details"</a>
            <a href=format!("{base}?tab=history") aria-current=move || history.get().then_some("page")>"History"</a>
        </nav>
    }
}

/// Whether the page's `?tab=` asks for the History tab.
pub fn use_history_tab() -> impl Fn() -> bool + Copy + Send + Sync + 'static {
    let query = use_query_map();
    move || query.with(|q| q.get("tab").as_deref() == Some("history"))
}

/// Wraps a record's page in "Details | History" tabs. The record's id comes from the route
/// parameter `id_param` (None: the resource alone, such as the company on its own pages,
/// where the company's scope already narrows it to this one).
#[component]
pub fn RecordHistory(
    /// Inside a company's pages (the slug from the route), or the super-admin's.
    tenant: bool,
    resource: &'static str,
    #[prop(optional)] id_param: Option<&'static str>,
    children: ChildrenFn,
) -> impl IntoView {
    let params = leptos_router::hooks::use_params_map();
    let location = leptos_router::hooks::use_location();
    let history = use_history_tab();
    let slug = move || if tenant { params.with(|p| p.get("slug")) } else { None };
    let record_id = move || id_param.and_then(|k| params.with(|p| p.get(k))).unwrap_or_default();
    view! {
        <RecordTabs base=location.pathname.get_untracked() history=Signal::derive(history)/>
        {move || if history() {
            view! { <HistoryTab slug=slug() resource=resource resource_id=record_id()/> }.into_any()
        } else {
            children().into_any()
        }}
    }
}

/// Audit rows as a table: when, who, action, severity and the before/after details.
#[component]
pub fn AuditTable(
    entries: Vec<super::AuditEntry>,
    /// Across companies: a column naming each row's company (carried in `resource`).
    #[prop(optional)]
    show_company: bool,
) -> impl IntoView {
    use super::Severity;
    view! {
        <div class="table-wrap">
            <table class="data audit">
                <thead><tr>
                    <th scope="col">"When"</th>
                    {show_company.then(|| view! { <th scope="col">"Company"</th> })}
                    <th scope="col">"Who"</th>
                    <th scope="col">"Action"</th><th scope="col">"Severity"</th><th scope="col">"Details"</th>
                </tr></thead>
                <tbody>
                    {entries.into_iter().map(|e| {
                        let (sev, tone) = match e.severity {
                            Severity::Info => ("info", "neutral"),
                            Severity::Warning => ("warning", "warning"),
                            Severity::Error => ("error", "danger"),
                        };
                        view! {
                            <tr>
                                <td><crate::ui::time::Time stamp=e.timestamp/></td>
                                {show_company.then(|| view! { <td>{e.resource.split(" · ").next().unwrap_or("").to_string()}</td> })}
                                <td>{e.actor_email.unwrap_or_else(|| "—".into())}</td>
                                <td class="mono">{e.action}</td>
                                <td><Badge text=sev tone=tone/></td>
                                <td class="details"><DiffView details=e.details/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}
