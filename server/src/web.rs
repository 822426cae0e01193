//! The HTTP side: router, middleware, health checks and static files.
use crate::migrate;
use app::access::RequestScope;
use app::server_ctx::{AppState, RequestMeta};
use axum::body::Body;
use axum::extract::{ConnectInfo, Extension, FromRef, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::*;
use leptos_axum::{
    generate_route_list, handle_server_fns_with_context, AxumRouteListing, LeptosRoutes, ResponseOptions,
};
use std::net::SocketAddr;
use std::path::PathBuf;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, Session, SessionManagerLayer};
use tower_sessions_sqlx_store::PostgresStore;

#[derive(Clone, FromRef)]
pub struct WebState {
    pub leptos_options: LeptosOptions,
    pub app: AppState,
}

pub struct WebConfig {
    pub site_root: PathBuf,
    pub addr: SocketAddr,
    pub https: bool,
    /// Proxies whose X-Forwarded-For names the client (`ATRIUM_TRUSTED_PROXIES`).
    pub trusted_proxies: crate::client_ip::TrustedProxies,
    /// `GET /metrics` on this listener (`ATRIUM_METRICS=true`).
    pub metrics: Option<std::sync::Arc<crate::telemetry::Telemetry>>,
}

/// The app's routes, generated once per process.
///
/// Generating runs the whole app with leptos' process-global `SuppressResourceLoad` flag set,
/// and a resource first polled anywhere in the process meanwhile waits forever (leptos #4773):
/// a page rendering while another router was being built hung for good. Generated once, before
/// any router exists, no render can overlap it. `tests/render_hang.rs` shows both sides.
pub fn route_list() -> Vec<AxumRouteListing> {
    static ROUTES: std::sync::OnceLock<Vec<AxumRouteListing>> = std::sync::OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

pub fn router(app_state: AppState, api: crate::api::ApiState, cfg: &WebConfig) -> Router {
    let leptos_options = LeptosOptions::builder()
        .output_name("atrium")
        .site_root(cfg.site_root.to_string_lossy().to_string())
        .site_pkg_dir("pkg")
        .site_addr(cfg.addr)
        .build();
    let routes = route_list();
    let proxies = std::sync::Arc::new(cfg.trusted_proxies.clone());
    let state = WebState { leptos_options: leptos_options.clone(), app: app_state.clone() };

    let context = {
        let app_state = app_state.clone();
        move || {
            provide_context(app_state.clone());
            set_csp_with_nonce();
        }
    };

    let store = PostgresStore::new(app_state.pool.clone());
    let sessions = SessionManagerLayer::new(store)
        .with_name("atrium_session")
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(cfg.https)
        .with_expiry(Expiry::OnInactivity(time::Duration::hours(app::auth::establish::SESSION_HOURS)));

    let pkg = Router::new()
        .nest_service("/pkg", ServeDir::new(cfg.site_root.join("pkg")).precompressed_br().precompressed_gzip())
        .layer(SetResponseHeaderLayer::overriding(header::CACHE_CONTROL, HeaderValue::from_static("no-cache")));
    let favicon = ServeDir::new(cfg.site_root.clone());

    let router = Router::new()
        .route("/healthz", get(|| async { "alive" }))
        .route("/readyz", get(readyz))
        .route("/", get(root))
        .route("/api/{*fn_name}", post(server_fn_handler))
        .route("/t/{slug}/audit/export", get(company_audit_export))
        .route("/admin/audit/export", get(all_audit_export))
        .leptos_routes_with_context(&state, routes, context.clone(), {
            let opts = leptos_options.clone();
            move || app::shell(opts.clone())
        })
        .merge(pkg)
        .route_service("/favicon.svg", favicon)
        .fallback({
            // Unknown paths render inside the frame, with the router's 404 page.
            let render = leptos_axum::render_app_to_stream_with_context(context, {
                let opts = leptos_options.clone();
                move || app::shell(opts.clone())
            });
            move |req: Request| {
                let render = render.clone();
                async move { render(req).await }
            }
        })
        .layer(middleware::from_fn_with_state(state.clone(), gate_pages))
        .layer(middleware::from_fn(crate::input::console))
        .layer(middleware::from_fn(server_fn_status))
        .layer(middleware::from_fn_with_state(api.feed.clone(), writes_seen_here))
        .layer(middleware::from_fn_with_state(api.actors.clone(), read_session_auth))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(cfg.https, same_origin_writes))
        .layer(middleware::from_fn_with_state(cfg.https, security_headers))
        .layer(middleware::from_fn_with_state(proxies.clone(), request_meta))
        .with_state(state)
        // The REST API: no cookies, sessions or pages on its path, only what it needs.
        .merge(
            crate::api::routes::router(api)
                .layer(middleware::from_fn_with_state(cfg.https, security_headers))
                .layer(middleware::from_fn_with_state(proxies, request_meta)),
        );
    let router = match &cfg.metrics {
        Some(t) => router.route("/metrics", get(crate::telemetry::scrape).with_state(t.clone())),
        None => router,
    };
    router
        .route_layer(middleware::from_fn(crate::telemetry::remember_route))
        .layer(middleware::from_fn(crate::telemetry::count_requests))
}

fn set_csp_with_nonce() {
    if let (Some(nonce), Some(res)) = (leptos::nonce::use_nonce(), use_context::<ResponseOptions>()) {
        let csp = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; form-action 'self'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'"
        );
        if let Ok(v) = HeaderValue::from_str(&csp) {
            res.insert_header(header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

async fn server_fn_handler(State(state): State<WebState>, req: Request) -> Response {
    let app_state = state.app.clone();
    handle_server_fns_with_context(move || provide_context(app_state.clone()), req).await.into_response()
}

type Pairs = axum::extract::Query<Vec<(String, String)>>;

async fn company_audit_export(
    State(state): State<WebState>,
    axum::extract::Query(pairs): Pairs,
    req: Request,
) -> Response {
    // The slug from the path itself: path parameters don't survive the layers around the
    // Leptos routes.
    let slug = req.uri().path().trim_start_matches("/t/").split('/').next().unwrap_or_default().to_string();
    audit_export(state, Some(slug), pairs, req).await
}

async fn all_audit_export(State(state): State<WebState>, axum::extract::Query(pairs): Pairs, req: Request) -> Response {
    audit_export(state, None, pairs, req).await
}

/// The viewer's Export links: exactly the page's filters, streamed as a download. The
/// checks are the console's own, so they run in a Leptos context like a server function.
async fn audit_export(state: WebState, slug: Option<String>, pairs: Vec<(String, String)>, req: Request) -> Response {
    use app::audit::{export, FilterParams};
    use leptos::reactive::{computed::ScopedFuture, owner::Owner};
    let params = FilterParams::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let format_raw = pairs.iter().find(|(k, _)| k == "format").map(|(_, v)| v.as_str()).unwrap_or("csv");
    let Some(format) = export::Format::parse(format_raw) else {
        return (StatusCode::BAD_REQUEST, "Export as csv or jsonl.").into_response();
    };
    let (parts, _) = req.into_parts();
    let app_state = state.app.clone();
    let owner = Owner::new();
    let started = owner
        .with(|| {
            ScopedFuture::new(async move {
                provide_context(parts);
                provide_context(app_state);
                export::download(slug, params, format).await
            })
        })
        .await;
    match started {
        Ok((name, stream)) => Response::builder()
            .header(header::CONTENT_TYPE, format.content_type())
            .header(header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))
            .header(header::CACHE_CONTROL, "no-store")
            .body(Body::from_stream(stream))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response()),
        Err(e) => {
            let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let detail = match &e {
                app::error::AppError::Validation(fields) => {
                    fields.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("\n")
                }
                other => other.to_string(),
            };
            let mut res = (status, [(header::CACHE_CONTROL, "no-store")], detail).into_response();
            if status == StatusCode::TOO_MANY_REQUESTS {
                res.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(app::audit::export::EXPORT_RETRY_SECONDS));
            }
            res
        }
    }
}

/// The one place a server function's error becomes an HTTP status. server_fn answers every
/// error with 500; the status follows from the `AppError` in the body instead (a plain form
/// post is answered with a redirect back to its page, which is left as it is).
async fn server_fn_status(req: Request, next: Next) -> Response {
    let is_server_fn = req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if !is_server_fn || res.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return res;
    }
    let (mut parts, body) = res.into_parts();
    let bytes = axum::body::to_bytes(body, 64 * 1024).await.unwrap_or_default();
    if let Ok(e) = serde_json::from_slice::<app::error::AppError>(&bytes) {
        parts.status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Ready when the database answers within a second and every migration is applied. A load
/// balancer polls this often: it must answer, 503, while PostgreSQL is down, not wait for it.
async fn readyz(State(state): State<WebState>) -> Response {
    match tokio::time::timeout(std::time::Duration::from_secs(1), migrate::is_current(&state.app.pool)).await {
        Ok(Ok(true)) => (StatusCode::OK, "ready").into_response(),
        Ok(Ok(false)) => (StatusCode::SERVICE_UNAVAILABLE, "migrations pending").into_response(),
        Ok(Err(e)) => {
            tracing::warn!("readyz: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response(),
    }
}

/// `/` sends a signed-in user to their home, anyone else to sign in.
async fn root(State(state): State<WebState>, Extension(scope): Extension<RequestScope>) -> Response {
    match scope.actor(&state.app.pool).await {
        Ok(Some(actor)) if actor.role == app::domain::Role::SuperAdmin => Redirect::to("/admin").into_response(),
        Ok(Some(actor)) => {
            let slug =
                app::tenancy::session::home_slug(&state.app.pool, actor.user_id, actor.company_id).await.ok().flatten();
            Redirect::to(&slug.map(|s| format!("/t/{s}/")).unwrap_or_else(|| "/account".into())).into_response()
        }
        _ => Redirect::to("/login").into_response(),
    }
}

/// Console pages need a signed-in user: anyone else is sent to /login and brought back.
async fn gate_pages(
    State(state): State<WebState>,
    Extension(scope): Extension<RequestScope>,
    req: Request,
    next: Next,
) -> Response {
    let path = req.uri().path();
    let protected =
        path.starts_with("/admin") || path.starts_with("/t/") || path == "/account" || path.starts_with("/account/");
    if !protected || req.method() != Method::GET {
        return next.run(req).await;
    }
    match scope.actor(&state.app.pool).await {
        Ok(Some(_)) => next.run(req).await,
        Ok(None) => {
            let target = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/");
            let enc: String = url_encode(target);
            Redirect::to(&format!("/login?next={enc}")).into_response()
        }
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn url_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'/' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// CSRF defence: a request that changes state must come from our own origin. Browsers send
/// Origin on every POST; Referer is the fallback. Clients that send neither (curl, scripts)
/// carry no ambient browser credentials worth forging.
/// Refuses a state-changing request that a browser sent from another site. The Origin (or,
/// without it, the Referer) must be our own origin, scheme included. A request that carries
/// our session cookie and neither header is refused unless the browser vouches for it with
/// `Sec-Fetch-Site: same-origin`; one without the cookie (curl, a first sign-in) acts for
/// nobody and may pass.
async fn same_origin_writes(State(https): State<bool>, req: Request, next: Next) -> Response {
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || from_our_origin(req.headers(), https) {
        return next.run(req).await;
    }
    (StatusCode::FORBIDDEN, "Cross-origin request refused.").into_response()
}

fn from_our_origin(headers: &axum::http::HeaderMap, https: bool) -> bool {
    let header = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let ours = format!("{}://{}", if https { "https" } else { "http" }, header(header::HOST).unwrap_or(""));
    match (header(header::ORIGIN), header(header::REFERER)) {
        (Some(origin), _) => origin == ours,
        (None, Some(referer)) => {
            referer == ours || referer.strip_prefix(&ours).is_some_and(|rest| rest.starts_with('/'))
        }
        (None, None) => {
            let has_session = headers.get_all(header::COOKIE).iter().any(|c| {
                c.to_str().is_ok_and(|c| c.split(';').any(|kv| kv.trim_start().starts_with("atrium_session=")))
            });
            !has_session || header(HeaderName::from_static("sec-fetch-site")) == Some("same-origin")
        }
    }
}

async fn security_headers(State(https): State<bool>, req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'self'; script-src 'none'; frame-ancestors 'none'; object-src 'none'; base-uri 'none'",
            ),
        );
    }
    if https {
        h.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static("max-age=31536000; includeSubDomains"));
    }
    res
}

/// Reads the session's sign-in once, before the app runs, into the request's scope, which
/// loads the actor on first use for the gate and every server function of the request to
/// share (see `app::access::RequestScope`).
async fn read_session_auth(
    State(actors): State<std::sync::Arc<app::access::ActorCache>>,
    session: Session,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    if req.uri().path().starts_with("/pkg/") {
        // Assets need no sign-in: an empty scope, without reading the session.
        req.extensions_mut().insert(RequestScope::new(None, None));
        return next.run(req).await;
    }
    let auth = session.get::<app::server_ctx::SessionAuth>(app::server_ctx::SESSION_AUTH_KEY).await.ok().flatten();
    req.extensions_mut().insert(RequestScope::new(auth, Some(actors)));
    next.run(req).await
}

/// A server function may have changed what an actor load returns (a role, a membership, a
/// session's act-as window or its end). Before it answers, this process applies every change
/// it committed, so the caller's next request here, or anyone's, sees it: kept actors never
/// lag behind a write made through this process. Other processes hear it within moments.
///
/// Only for signed-in callers: a visitor's request can change no actor that is kept (signing
/// in makes a new session, which nothing has kept yet), and must not make this process wait.
async fn writes_seen_here(
    State(feed): State<std::sync::Arc<crate::change_feed::Feed>>,
    req: Request,
    next: Next,
) -> Response {
    let signed_in = req.extensions().get::<RequestScope>().is_some_and(RequestScope::signed_in);
    let server_fn = req.method() == Method::POST && req.uri().path().starts_with("/api/");
    let res = next.run(req).await;
    if server_fn && signed_in {
        feed.barrier().await;
    }
    res
}

/// The path as logs may show it: a one-time link's token is a credential, so it is cut.
fn loggable_path(path: &str) -> std::borrow::Cow<'_, str> {
    match path.strip_prefix("/invite/") {
        Some(token) if !token.is_empty() => "/invite/…".into(),
        _ => path.into(),
    }
}

/// Gives every request an id, and records the caller's address and user agent.
async fn request_meta(
    State(proxies): State<std::sync::Arc<crate::client_ip::TrustedProxies>>,
    mut req: Request<Body>,
    next: Next,
) -> Response {
    let request_id = uuid::Uuid::now_v7().simple().to_string()[..16].to_string();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let ip = proxies.client_ip(peer, req.headers());
    let user_agent =
        req.headers().get(header::USER_AGENT).and_then(|v| v.to_str().ok()).map(|s| s.chars().take(512).collect());
    req.extensions_mut().insert(RequestMeta { request_id: request_id.clone(), ip, user_agent });
    // Log lines written while serving the request carry its id (in JSON: span.request_id).
    // At ERROR level so that whatever RUST_LOG lets through, even only errors, still has it.
    let span = tracing::error_span!("request", request_id = %request_id, method = %req.method(), path = %loggable_path(req.uri().path()));
    let started = std::time::Instant::now();
    let mut res = tracing::Instrument::instrument(
        async move {
            let res = next.run(req).await;
            // The access log, off unless asked for (RUST_LOG=access=debug): under load it is
            // one line per request.
            tracing::debug!(target: "access", status = res.status().as_u16(), ms = started.elapsed().as_millis() as u64);
            res
        },
        span,
    )
    .await;
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        res.headers_mut().insert("x-request-id", v);
    }
    res
}
