//! The chrome around every console page: the frame (sidebar, top bar, act-as band), the
//! company switcher, the theme toggle, and `TenantPage`, which resolves a company page's
//! shell once for the frame and the page to share.
use crate::auth::Me;
use crate::domain::{CompanyRef, Role};
use crate::error::AppError;
use crate::tenancy::{load_tenant_shell, ActAsForm, TenantShell};
use crate::ui::{time, ErrorBox};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_location, use_params_map};

/// The signed-in user, refetched on every navigation.
pub fn me_resource() -> Resource<Result<Option<Me>, AppError>> {
    let location = leptos_router::hooks::use_location();
    Resource::new(move || location.pathname.get(), |_| crate::auth::current_user())
}

/// The theme cookie: "light", "dark", or "system" (follow prefers-color-scheme). In the
/// browser, the server-rendered `<html data-theme>` is the source.
pub fn current_theme() -> &'static str {
    #[cfg(feature = "hydrate")]
    if let Some(root) = document().document_element() {
        match root.get_attribute("data-theme").as_deref() {
            Some("light") => return "light",
            Some("dark") => return "dark",
            _ => {}
        }
    }
    #[cfg(feature = "ssr")]
    {
        let cookie = use_context::<http::request::Parts>()
            .and_then(|p| p.headers.get(http::header::COOKIE).and_then(|v| v.to_str().ok()).map(str::to_owned))
            .unwrap_or_default();
        for part in cookie.split(';') {
            match part.trim() {
                "atrium_theme=light" => return "light",
                "atrium_theme=dark" => return "dark",
                _ => {}
            }
        }
    }
    "system"
}

/// The `:slug` of the current company page.
pub fn use_slug() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.with(|p| p.get("slug").unwrap_or_default())
}

/// The shell of the company page being rendered, as a resource of the caller's own (one per
/// `<Suspense>`; see `crate::me_resource`). Create it outside any Suspend.
fn shell_resource() -> Resource<Result<TenantShell, AppError>> {
    Resource::new(use_slug(), load_tenant_shell)
}

#[derive(Clone, Copy)]
struct ShellContext(Resource<Result<TenantShell, AppError>>);

/// The company page's shell, loaded once by `TenantPage` for the frame and the page to share
/// (a page outside one loads its own).
pub fn use_shell() -> Resource<Result<TenantShell, AppError>> {
    use_context::<ShellContext>().map(|c| c.0).unwrap_or_else(shell_resource)
}

/// A company page: resolves the slug once, and puts the page inside the frame. Missing or
/// foreign companies are a 404, a disabled company says so, and a super-admin is asked for a
/// reason before entering. The page itself renders nothing until the shell is good.
#[component]
pub fn TenantPage(title: &'static str, children: Children) -> impl IntoView {
    let slug = use_slug();
    let shell = shell_resource();
    provide_context(ShellContext(shell));
    view! {
        <Title text=format!("{title} · Atrium")/>
        <Frame title=title tenant=true>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match shell.await {
                        Ok(_) => ().into_any(),
                        Err(AppError::ActAsRequired) => {
                            // Forbidden until opened with a reason; the page says how.
                            crate::ui::set_status(403);
                            view! { <ActAsForm slug=slug()/> }.into_any()
                        }
                        Err(AppError::TenantDisabled(name)) => {
                            crate::ui::set_status(403);
                            view! {
                                <section class="card error-page" role="alert">
                                    <h2>{format!("{name} is disabled")}</h2>
                                    <p>"This company has been switched off, so its pages are closed for now. Nothing has been deleted."</p>
                                    <p class="muted">"Ask your Atrium operator to enable it again. If you belong to other companies, pick one from the menu."</p>
                                </section>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            {children()}
        </Frame>
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
    let me = me_resource();
    let shell = tenant.then(use_shell);
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
            if shell_nav.as_ref().is_some_and(|s| s.can(crate::domain::Permission::SecurityManage)) {
                tenant.push(NavItem { href: format!("/t/{slug}/security"), label: "Security" });
            }
        }
        let admin = me.as_ref().is_some_and(|m| m.role == Role::SuperAdmin);
        let link = move |item: NavItem, path: &str| {
            // A section is current on its pages too; the admin overview only on itself.
            let current = path == item.href
                || (item.href.len() > 3
                    && item.href != "/admin"
                    && !item.href.ends_with('/')
                    && path.starts_with(&item.href));
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
                        {link(NavItem { href: "/admin/maintenance".into(), label: "Maintenance" }, &path)}
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
                    {move || Suspend::new(async move {
                        let maintenance = me.await.ok().flatten().map(|m| m.maintenance).unwrap_or_default();
                        view! {
                            <crate::maintenance::MaintenanceBanner status=maintenance/>
                            {banner(read(shell).await)}
                        }
                    })}
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
    let theme = current_theme();
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
