//! Components used on every page: the frame, form fields, badges and error boxes.
pub mod time;

use crate::auth::Me;
use crate::domain::Role;
use crate::error::AppError;
use crate::tenancy::{CompanyRef, TenantShell};
use leptos::prelude::*;
use leptos_router::hooks::use_location;

/// The error of the last submission of `action`, if any.
pub fn action_error<T, V>(value: V) -> Signal<Option<AppError>>
where
    T: Clone + Send + Sync + 'static,
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(|r| r.err()))
}

/// navigator.clipboard.writeText, reached without enabling more web-sys features. A no-op
/// on the server.
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        use leptos::web_sys::js_sys::{Function, Reflect};
        let w: leptos::wasm_bindgen::JsValue = window().into();
        if let Ok(clip) = Reflect::get(&w, &"navigator".into()).and_then(|n| Reflect::get(&n, &"clipboard".into())) {
            if let Ok(f) =
                Reflect::get(&clip, &"writeText".into()).and_then(|f| f.dyn_into::<Function>().map_err(Into::into))
            {
                let _ = f.call1(&clip, &text.into());
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

pub fn field_error(err: Signal<Option<AppError>>, field: &'static str) -> Signal<Option<String>> {
    Signal::derive(move || err.get().and_then(|e| e.field_error(field)))
}

#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional, into)] value: String,
    #[prop(optional)] help: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] autofocus: bool,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("f-{name}");
    let help_id = format!("{id}-help");
    let err_id = format!("{id}-error");
    let described = {
        let (help_id, err_id) = (help_id.clone(), err_id.clone());
        move || {
            let mut ids = Vec::new();
            if help.is_some() {
                ids.push(help_id.clone());
            }
            if error.get().is_some() {
                ids.push(err_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id.clone()
                name=name
                type=input_type
                value=value
                autocomplete=autocomplete
                required=required
                autofocus=autofocus
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described
            />
            {help.map(|h| view! { <p class="help" id=help_id.clone()>{h}</p> })}
            <p class="error" id=err_id role="alert" hidden=move || error.get().is_none()>
                {move || error.get().unwrap_or_default()}
            </p>
        </div>
    }
}

/// A form-level message for errors that belong to no single field.
#[component]
pub fn FormAlert(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| match e {
                AppError::Validation(ref map) => map.get("form").cloned().or(Some(e.to_string())),
                other => Some(other.to_string()),
            })
            .map(|msg| view! { <div class="alert alert-error" role="alert">{msg}</div> })
    }
}

#[component]
pub fn Badge(#[prop(into)] text: String, #[prop(into)] tone: String) -> impl IntoView {
    view! { <span class=format!("badge badge-{tone}")>{text}</span> }
}

/// The HTTP status of a server-rendered page (ignored in the browser).
/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// Errors shown inside the frame: what happened and what to do. On the server the page's
/// status follows the error, so a missing company is a real 404.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    set_status(error.status());
    let (title, hint) = match &error {
        AppError::NotFound => ("Not found", "Check the address, or go back to the list."),
        AppError::Forbidden => ("Not allowed", "Your role does not allow this. Ask an administrator if you need it."),
        AppError::Denied(_) => ("Not allowed", ""),
        AppError::Unauthenticated(_) => ("Signed out", "Sign in again to continue."),
        AppError::Internal(_) => {
            ("Something went wrong", "Try again. If it keeps happening, send the request id to your operator.")
        }
        _ => ("That did not work", ""),
    };
    view! {
        <section class="card error-page" role="alert">
            <h2>{title}</h2>
            <p>{error.to_string()}</p>
            <p class="muted">{hint}</p>
        </section>
    }
}

#[derive(Clone)]
struct NavItem {
    href: String,
    label: &'static str,
}

/// The console frame: sidebar, top bar and the page. On a company page `shell` says which
/// company and what the viewer may do there. The children are built once, outside any
/// Suspend, so the resources they create are never created twice.
#[component]
pub fn Frame(
    #[prop(into)] title: String,
    /// A company page: show the company's navigation, switcher and act-as band.
    #[prop(optional)]
    tenant: bool,
    children: Children,
) -> impl IntoView {
    // Read by the sidebar, the band and the top bar: one request for each per page view.
    let me = crate::me_resource();
    let shell = tenant.then(crate::tenancy::use_shell);
    let title_text = title.clone();
    let sidebar = move |me: Option<Me>, shell_nav: Option<TenantShell>| {
        let path = use_location().pathname.get_untracked();
        let mut tenant: Vec<NavItem> = Vec::new();
        let tenant_ctx = shell_nav
            .as_ref()
            .map(|s| (s.company.slug.clone(), s.company.name.clone()))
            .or_else(|| me.as_ref().and_then(|m| Some((m.home_slug.clone()?, m.home_name.clone()?))));
        if let Some((slug, _)) = &tenant_ctx {
            tenant.push(NavItem { href: format!("/t/{slug}/"), label: "Overview" });
            tenant.push(NavItem { href: format!("/t/{slug}/users"), label: "Users" });
            tenant.push(NavItem { href: format!("/t/{slug}/roles"), label: "Roles" });
            tenant.push(NavItem { href: format!("/t/{slug}/api-keys"), label: "API keys" });
            tenant.push(NavItem { href: format!("/t/{slug}/weights"), label: "Weights" });
            tenant.push(NavItem { href: format!("/t/{slug}/integrations"), label: "Integrations" });
            tenant.push(NavItem { href: format!("/t/{slug}/audit"), label: "Audit log" });
        }
        let admin = me.as_ref().is_some_and(|m| m.role == Role::SuperAdmin);
        let link = move |item: NavItem, path: &str| {
            let current =
                path == item.href || (item.href.len() > 3 && !item.href.ends_with('/') && path.starts_with(&item.href));
            view! {
                <li><a href=item.href.clone() aria-current=current.then_some("page")>{item.label}</a></li>
            }
        };
        view! {
            <nav class="sidebar" aria-label="Main">
                <a class="brand" href="/">"Atrium"</a>
                {tenant_ctx.as_ref().map(|(_, name)| view! { <p class="nav-company" title="Current company">{name.clone()}</p> })}
                <ul>{tenant.into_iter().map(|i| link(i, &path)).collect_view()}</ul>
                {admin.then(|| view! {
                    <p class="nav-group">"Administration"</p>
                    <ul>
                        {link(NavItem { href: "/admin".into(), label: "Overview" }, &path)}
                        {link(NavItem { href: "/admin/companies".into(), label: "Companies" }, &path)}
                        {link(NavItem { href: "/admin/audit".into(), label: "Audit log" }, &path)}
                    </ul>
                })}
                <p class="nav-group">"You"</p>
                <ul>{link(NavItem { href: "/account".into(), label: "Account" }, &path)}</ul>
            </nav>
        }
    };
    let banner = move |shell: Option<TenantShell>| {
        let s = shell?;
        let a = s.acting.clone()?;
        let name = s.company.name.clone();
        Some(view! {
            <div class="act-as-banner" role="status" data-act-as="">
                <span>
                    <strong>{format!("Acting as {name}")}</strong>
                    " as super-admin. Ends " <time::Time stamp=a.until/> ". Reason: “" {a.reason} "”. Everything you do here is recorded under your name."
                </span>
                <form method="post" action="/api/tenant/act-as/end" class="inline">
                    <button type="submit" class="btn btn-secondary btn-sm">"End now"</button>
                </form>
            </div>
        })
    };
    let read = |r: Option<Resource<Result<TenantShell, AppError>>>| async move {
        match r {
            Some(r) => r.await.ok(),
            None => None,
        }
    };
    view! {
        <div class="frame">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <Suspense fallback=|| view! { <nav class="sidebar" aria-label="Main"><span class="brand">"Atrium"</span></nav> }>
                {move || {
                    let sidebar = sidebar.clone();
                    Suspend::new(async move {
                    let m = me.await.ok().flatten();
                    let sh = read(shell).await;
                    view! {
                        <details class="menu">
                            <summary>"Menu"</summary>
                            {sidebar(m.clone(), sh.clone())}
                        </details>
                        <div class="sidebar-wrap">{sidebar(m, sh)}</div>
                    }
                })}}
            </Suspense>
            <div class="main-col">
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move { banner(read(shell).await) })}
                </Suspense>
                <header class="topbar">
                    <h1 class="page-title">{title_text}</h1>
                    <div class="topbar-actions">
                        // The company switcher (for people in several companies), the theme, and who is
                        // signed in.
                        <Suspense fallback=|| view! { <ThemeToggle/> }>
                            {move || Suspend::new(async move {
                                let m = me.await.ok().flatten();
                                let current = read(shell).await.map(|s| s.company.slug);
                                let switcher = m.as_ref().filter(|m| m.companies.len() > 1).map(|m| {
                                    let current = current.or(m.home_slug.clone());
                                    view! { <Switcher companies=m.companies.clone() current=current/> }
                                });
                                view! {
                                    {switcher}
                                    <ThemeToggle/>
                                    {m.map(|m| view! {
                                        <a class="who" href="/account" title=m.email.clone()>
                                            {if m.name.is_empty() { m.email.clone() } else { m.name.clone() }}
                                            <span class="muted">" · " {m.role.label()}</span>
                                        </a>
                                        <form method="post" action="/api/logout" class="inline">
                                            <button type="submit" class="btn btn-secondary btn-sm">"Sign out"</button>
                                        </form>
                                    })}
                                }
                            })}
                        </Suspense>
                    </div>
                </header>
                <main id="main" tabindex="-1">{children()}</main>
            </div>
        </div>
    }
}

/// The company switcher: a plain form, so it works before (and without) hydration.
#[component]
fn Switcher(companies: Vec<CompanyRef>, current: Option<String>) -> impl IntoView {
    view! {
        <form method="post" action="/api/tenant/switch" class="switcher">
            <label class="visually-hidden" for="tenant-switch">"Company"</label>
            <select id="tenant-switch" name="slug">
                {companies.into_iter().map(|c| {
                    let selected = current.as_deref() == Some(c.slug.as_str());
                    view! { <option value=c.slug selected=selected>{c.name}</option> }
                }).collect_view()}
            </select>
            <button type="submit" class="btn btn-secondary btn-sm">"Switch"</button>
        </form>
    }
}

/// Light / dark / system, kept in a cookie so the server renders the right theme.
#[component]
pub fn ThemeToggle() -> impl IntoView {
    let theme = crate::current_theme();
    view! {
        <form method="post" action="/api/theme" class="inline theme-toggle">
            <label class="visually-hidden" for="theme-select">"Theme"</label>
            <select id="theme-select" name="theme" aria-label="Theme">
                <option value="system" selected=theme == "system">"System theme"</option>
                <option value="light" selected=theme == "light">"Light"</option>
                <option value="dark" selected=theme == "dark">"Dark"</option>
            </select>
            <button type="submit" class="btn btn-secondary btn-sm">"Apply"</button>
        </form>
    }
}

#[leptos::server(endpoint = "theme")]
pub async fn set_theme(theme: String) -> Result<(), AppError> {
    let value = match theme.as_str() {
        "light" | "dark" | "system" => theme,
        _ => return Err(AppError::field("theme", "Choose light, dark or system.")),
    };
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        let cookie = format!("atrium_theme={value}; Path=/; Max-Age=31536000; SameSite=Lax");
        if let Ok(v) = http::HeaderValue::from_str(&cookie) {
            opts.append_header(http::header::SET_COOKIE, v);
        }
    }
    Ok(())
}

/// An audit row's details: for before/after edits, one line per changed key with the old value
/// struck through beside the new one; anything else as compact JSON.
#[component]
pub fn DiffView(details: serde_json::Value) -> impl IntoView {
    let side = |name: &str| details.get(name).and_then(|v| v.as_object()).cloned();
    let (before, after) = (side("before"), side("after"));
    if before.is_none() && after.is_none() {
        let text = details.to_string();
        let text = if text == "{}" { String::new() } else { text };
        return view! { <span class="mono">{text}</span> }.into_any();
    }
    let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "—".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let rows = keys
        .into_iter()
        .map(|k| {
            let (old, new) = (before.get(k), after.get(k));
            view! {
                <div class="diff-row">
                    <dt>{k.clone()}</dt>
                    <dd>
                        {old.is_some().then(|| view! { <del>{show(old)}</del><span aria-hidden="true">" → "</span> })}
                        <ins>{show(new)}</ins>
                    </dd>
                </div>
            }
        })
        .collect_view();
    view! { <dl class="diff">{rows}</dl> }.into_any()
}

/// Audit rows as a table: when, who, action, severity and the before/after details.
#[component]
pub fn AuditTable(
    entries: Vec<crate::audit::AuditEntry>,
    /// Across companies: a column naming each row's company (carried in `resource`).
    #[prop(optional)]
    show_company: bool,
) -> impl IntoView {
    use crate::audit::Severity;
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
                                <td><time::Time stamp=e.timestamp/></td>
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
