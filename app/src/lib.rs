//! Atrium's application: pages, server functions and (with `ssr`) the domain layer.
#![recursion_limit = "256"]

pub mod access;
pub mod account;
pub mod admin;
pub mod api_keys;
pub mod audit;
pub mod auth;
pub mod chrome;
pub mod companies;
#[cfg(feature = "ssr")]
pub mod db;
pub mod domain;
pub mod error;
pub mod integrations;
#[cfg(feature = "ssr")]
pub mod mail;
pub mod maintenance;
pub mod roles;
pub mod security;
#[cfg(feature = "ssr")]
pub mod server_ctx;
pub mod tenancy;
pub mod two_factor;
pub mod ui;
pub mod users;
pub mod weights;

#[cfg(all(test, feature = "ssr"))]
mod properties;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

/// The document around the app. Rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let theme = chrome::current_theme();
    view! {
        <!DOCTYPE html>
        <html lang="en" data-theme=theme>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <link rel="stylesheet" href="/pkg/atrium.css"/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    #[cfg(feature = "hydrate")]
    focus_search_on_slash();
    view! {
        <Router>
            <Pages/>
        </Router>
    }
}

#[component]
fn Pages() -> impl IntoView {
    view! {
            <Routes fallback=|| view! { <NotFound/> }>
                <Route path=path!("/login") view=auth::LoginPage ssr=SsrMode::Async/>
                <Route path=path!("/forgot") view=auth::ForgotPasswordPage ssr=SsrMode::Async/>
                <Route path=path!("/login/two-factor") view=auth::SecondStepPage ssr=SsrMode::Async/>
                <Route path=path!("/account/two-factor") view=two_factor::TwoFactorPage ssr=SsrMode::Async/>
                <Route path=path!("/admin") view=admin::AdminOverviewPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/audit") view=audit::views::AdminAuditPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/maintenance") view=maintenance::MaintenancePage ssr=SsrMode::Async/>
                <Route path=path!("/admin/companies") view=companies::CompanyListPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/companies/new") view=companies::CompanyNewPage ssr=SsrMode::Async/>
                <Route path=path!("/admin/companies/:id") view=companies::CompanyEditPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug") view=companies::CompanyHomePage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/") view=companies::CompanyHomePage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/users") view=users::UserListPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/users/invite") view=users::UserInvitePage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/users/:id") view=users::UserDetailPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/roles") view=roles::RolesPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/api-keys") view=api_keys::ApiKeyListPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/api-keys/new") view=api_keys::ApiKeyNewPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/api-keys/:id") view=api_keys::ApiKeyDetailPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/weights") view=weights::WeightsPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/weights/:category") view=weights::WeightsPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/weights/:category/history") view=weights::WeightHistoryPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/integrations") view=integrations::IntegrationsPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/integrations/:platform") view=integrations::IntegrationPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/deliveries") view=integrations::DeliveriesPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/deliveries/:id") view=integrations::DeliveryPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/audit") view=audit::views::AuditLogPage ssr=SsrMode::Async/>
                <Route path=path!("/t/:slug/security") view=security::SecurityPage ssr=SsrMode::Async/>
                <Route path=path!("/account") view=account::AccountPage ssr=SsrMode::Async/>
                <Route path=path!("/invite/:token") view=users::AcceptInvitePage ssr=SsrMode::Async/>
            </Routes>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <chrome::Frame title="Not found">
            <ui::ErrorBox error=error::AppError::NotFound/>
            <p><a href="/">"Go to your home page"</a></p>
        </chrome::Frame>
    }
}

/// `/` focuses the page's search box, unless the user is typing somewhere.
#[cfg(feature = "hydrate")]
fn focus_search_on_slash() {
    use leptos::wasm_bindgen::JsCast;
    let handle = window_event_listener(leptos::ev::keydown, |e| {
        if e.key() != "/" || e.ctrl_key() || e.meta_key() || e.alt_key() {
            return;
        }
        let typing = e
            .target()
            .and_then(|t| t.dyn_into::<leptos::web_sys::Element>().ok())
            .is_some_and(|el| matches!(el.tag_name().as_str(), "INPUT" | "TEXTAREA" | "SELECT"));
        if typing {
            return;
        }
        if let Some(el) = document()
            .query_selector("[data-search]")
            .ok()
            .flatten()
            .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlElement>().ok())
        {
            e.prevent_default();
            let _ = el.focus();
        }
    });
    on_cleanup(move || handle.remove());
}

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(App);
    // Lets tests (and curious operators) see that the page is live.
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
