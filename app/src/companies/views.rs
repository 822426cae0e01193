use super::*;
use crate::chrome::Frame;
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, urlencode, Badge, ErrorBox, Field, FormAlert};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

fn status_badge(enabled: bool, deleted: bool) -> impl IntoView {
    if deleted {
        view! { <Badge text="Deleted" tone="danger"/> }
    } else if enabled {
        view! { <Badge text="Enabled" tone="success"/> }
    } else {
        view! { <Badge text="Disabled" tone="warning"/> }
    }
}

#[component]
pub fn CompanyListPage() -> impl IntoView {
    let query = use_query_map();
    let params =
        move || query.with(|q| (q.get("q").unwrap_or_default(), q.get("sort").unwrap_or_default(), q.get("after")));
    let page = Resource::new(params, |(q, sort, after)| list_companies(q, sort, after));
    let (q0, sort0, _) = params();
    let sort0 = CompanySort::parse(&sort0);
    view! {
        <Title text="Companies · Atrium"/>
        <Frame title="Companies">
            <div class="toolbar">
                <form method="get" action="/admin/companies" class="search" role="search">
                    <label class="visually-hidden" for="company-search">"Search companies"</label>
                    <input id="company-search" type="search" name="q" value=q0 placeholder="Search name or slug  ( / )" data-search=""/>
                    <label class="visually-hidden" for="company-sort">"Sort"</label>
                    <select id="company-sort" name="sort">
                        <option value="name" selected=sort0 == CompanySort::Name>"Name A–Z"</option>
                        <option value="newest" selected=sort0 == CompanySort::Newest>"Newest first"</option>
                        <option value="slug" selected=sort0 == CompanySort::Slug>"Slug A–Z"</option>
                    </select>
                    <button type="submit" class="btn btn-secondary">"Search"</button>
                </form>
                <a class="btn btn-primary" href="/admin/companies/new">"New company"</a>
            </div>
            <Suspense fallback=|| view! { <p class="muted">"Loading companies…"</p> }>
                {move || Suspend::new(async move {
                    match page.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(p) if p.rows.is_empty() => view! {
                            <div class="empty card">
                                <p>"No companies match."</p>
                                <a class="btn btn-primary" href="/admin/companies/new">"Create a company"</a>
                            </div>
                        }.into_any(),
                        Ok(p) => {
                            let (q, sort, after) = params();
                            let next_href = p.next.clone().map(|n| {
                                format!("/admin/companies?q={}&sort={}&after={}", urlencode(&q), urlencode(&sort), urlencode(&n))
                            });
                            let first_href = after.map(|_| format!("/admin/companies?q={}&sort={}", urlencode(&q), urlencode(&sort)));
                            view! {
                                <p class="muted count">{format!("{}{} compan{}", thousands(p.total), if p.total_capped { "+" } else { "" }, if p.total == 1 { "y" } else { "ies" })}</p>
                                <div class="table-wrap">
                                    <table class="data">
                                        <thead><tr>
                                            <th scope="col">"Name"</th><th scope="col">"Slug"</th><th scope="col">"Status"</th>
                                            <th scope="col" class="num">"Users"</th><th scope="col">"Created"</th>
                                        </tr></thead>
                                        <tbody>
                                            {p.rows.into_iter().map(|c| view! {
                                                <tr>
                                                    <td><a href=format!("/admin/companies/{}", c.id)>{c.name}</a></td>
                                                    <td><a class="mono" href=format!("/t/{}/", c.slug)>{c.slug.clone()}</a></td>
                                                    <td>{status_badge(c.tenant_enabled, c.deleted)}</td>
                                                    <td class="num">{c.user_count}</td>
                                                    <td><Time stamp=c.created_at/></td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <nav class="pager" aria-label="Pages">
                                    {first_href.map(|h| view! { <a class="btn btn-secondary btn-sm" href=h>"First page"</a> })}
                                    {next_href.map(|h| view! { <a class="btn btn-secondary btn-sm" href=h>"Next page"</a> })}
                                </nav>
                            }.into_any()
                        }
                    }
                })}
            </Suspense>
        </Frame>
    }
}

fn thousands(n: i64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[component]
pub fn CompanyNewPage() -> impl IntoView {
    let action = ServerAction::<CreateCompany>::new();
    let err = action_error(action.value());
    // The form is only for those who may create companies; others get the 403 page.
    let me = crate::chrome::me_resource();
    view! {
        <Title text="New company · Atrium"/>
        <Frame title="New company">
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    if !matches!(me.await, Ok(Some(m)) if m.role == crate::domain::Role::SuperAdmin) {
                        return view! { <ErrorBox error=AppError::Forbidden/> }.into_any();
                    }
                    view! {
                        <section class="card narrow">
                            <ActionForm action=action attr:class="stack" attr:novalidate="">
                                <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                <Field label="Name" name="name" required=true autofocus=true error=field_error(err, "name")/>
                                <Field label="Slug" name="slug" help="Used in the company's URL: /t/slug/. Leave empty to derive it from the name."
                                    error=field_error(err, "slug")/>
                                <div class="actions">
                                    <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>"Create company"</button>
                                    <a class="btn btn-secondary" href="/admin/companies">"Cancel"</a>
                                </div>
                            </ActionForm>
                        </section>
                    }.into_any()
                })}
            </Suspense>
        </Frame>
    }
}

#[component]
pub fn CompanyEditPage() -> impl IntoView {
    let params = use_params_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| Uuid::parse_str(&s).ok()));
    let query = use_query_map();
    let update = ServerAction::<UpdateCompany>::new();
    // Refetch after every save, and after the post-save redirect (?saved=1) of a plain form.
    let company = Resource::new(
        move || (id(), update.version().get(), query.with(|q| q.get("saved"))),
        |(id, _, _)| async move {
            match id {
                Some(id) => get_company(id).await,
                None => Err(AppError::NotFound),
            }
        },
    );
    let saved = move || query.with(|q| q.get("saved").is_some()) || matches!(update.value().get(), Some(Ok(())));
    let delete = ServerAction::<DeleteCompany>::new();
    let err = action_error(update.value());
    let del_err = action_error(delete.value());
    view! {
        <Title text="Company · Atrium"/>
        <Frame title="Edit company">
            <crate::audit::views::RecordHistory tenant=false resource="company" id_param="id">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match company.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(c) => { let del_name = c.name.clone(); let del_id = c.id.to_string(); let deleted = c.deleted; view! {
                            <div aria-live="polite">
                                {move || saved().then(|| view! { <div class="alert alert-success" role="status">"Saved."</div> })}
                            </div>
                            <section class="card">
                                <div class="card-head">
                                    <h2>{c.name.clone()}</h2>
                                    {status_badge(c.tenant_enabled, c.deleted)}
                                    <a class="btn btn-secondary btn-sm" href=format!("/t/{}/", c.slug)>"Open company"</a>
                                </div>
                                <p class="muted">"Created " <Time stamp=c.created_at.clone()/> " · updated " <Time stamp=c.updated_at.clone()/></p>
                                <ActionForm action=update attr:class="stack" attr:novalidate="">
                                    <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                    <input type="hidden" name="id" value=c.id.to_string()/>
                                    <Field label="Name" name="name" value=c.name.clone() required=true error=field_error(err, "name")/>
                                    <Field label="Slug" name="slug" value=c.slug.clone() help="Lowercase letters, digits and hyphens. Changing it changes the company's URLs."
                                        error=field_error(err, "slug")/>
                                    <div class="field check">
                                        <input type="checkbox" id="f-tenant_enabled" name="tenant_enabled" value="on" checked=c.tenant_enabled/>
                                        <label for="f-tenant_enabled">"Enabled — its users can sign in and work"</label>
                                    </div>
                                    <div class="field" class:has-error=move || field_error(err, "tenant_config").get().is_some()>
                                        <label for="f-tenant_config">"Tenant configuration (JSON object)"</label>
                                        <textarea id="f-tenant_config" name="tenant_config" rows="8" class="mono"
                                            aria-describedby="f-tenant_config-error">{c.tenant_config.clone()}</textarea>
                                        <p class="error" id="f-tenant_config-error" role="alert" hidden=move || field_error(err, "tenant_config").get().is_none()>
                                            {move || field_error(err, "tenant_config").get().unwrap_or_default()}
                                        </p>
                                    </div>
                                    <div class="actions">
                                        <button type="submit" class="btn btn-primary" disabled=c.deleted>"Save changes"</button>
                                    </div>
                                </ActionForm>
                            </section>
                            {(!deleted).then(move || view! {
                                <section class="card danger-zone">
                                    <h2>"Delete company"</h2>
                                    <p>"The company is disabled and hidden from its users at once. Its data and audit trail are kept."</p>
                                    <FormAlert error=del_err/>
                                    <ActionForm action=delete>
                                        <input type="hidden" name="id" value=del_id/>
                                        <label class="check">
                                            <input type="checkbox" name="confirm" required=true/>
                                            {format!(" Yes, delete {del_name}")}
                                        </label>
                                        <button type="submit" class="btn btn-danger">"Delete company"</button>
                                    </ActionForm>
                                </section>
                            })}
                        }.into_any() },
                    }
                })}
            </Suspense>
            </crate::audit::views::RecordHistory>
        </Frame>
    }
}

#[component]
pub fn CompanyHomePage() -> impl IntoView {
    view! { <crate::chrome::TenantPage title="Overview"><crate::audit::views::RecordHistory tenant=true resource="company"><CompanyHome/></crate::audit::views::RecordHistory></crate::chrome::TenantPage> }
}

#[component]
fn CompanyHome() -> impl IntoView {
    let shell = crate::chrome::use_shell();
    let home = Resource::new(crate::chrome::use_slug(), load_company_home);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                if shell.await.is_err() {
                    return ().into_any();
                }
                match home.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(h) => {
                        let c = h.company;
                        view! {
                                {(!c.tenant_enabled).then(|| view! {
                                    <div class="alert alert-warning" role="status">"This company is disabled. Its users cannot work in it until a super-admin enables it again."</div>
                                })}
                                <div class="stats">
                                    <div class="stat card"><span class="stat-label">"Status"</span>{status_badge(c.tenant_enabled, c.deleted)}</div>
                                    <div class="stat card"><span class="stat-label">"Users"</span><span class="stat-value">{h.user_count}</span></div>
                                    <div class="stat card"><span class="stat-label">"Slug"</span><span class="mono">{c.slug.clone()}</span></div>
                                </div>
                                <section class="card">
                                    <h2>"Recent activity"</h2>
                                    {if h.recent.is_empty() {
                                        view! { <p class="muted">"Nothing has happened here yet."</p> }.into_any()
                                    } else {
                                        view! { <crate::audit::views::AuditTable entries=h.recent/> }.into_any()
                                    }}
                                </section>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}
