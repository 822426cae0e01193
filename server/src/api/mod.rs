//! The REST API for machine clients: `/api/v1`, `Authorization: Bearer <key>`, RFC 9457
//! problem documents, and an OpenAPI 3.1 document generated from the same route table that
//! builds the router.
pub mod handlers;
pub mod keys;
pub mod limit;
pub mod openapi;
pub mod problem;
pub mod routes;
pub mod schema;
pub mod usage;

use app::access::ActorCache;
use app::api_keys::secret::Peppers;
use app::server_ctx::RequestMeta;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use keys::{KeyInfo, Refusal, Verifier};
use limit::RateLimiter;
use problem::Problem;
use sqlx::PgPool;
use std::sync::Arc;
use usage::Usage;

#[derive(Clone)]
pub struct ApiState {
    /// The serving pool (atrium_app): company data is read under row-level security.
    pub pool: PgPool,
    pub verifier: Arc<Verifier>,
    pub limiter: Arc<RateLimiter>,
    pub usage: Arc<Usage>,
    /// Audit exports run on their own pool, within caps (see `ExportGate`).
    pub exports: Arc<app::audit::export_gate::ExportGate>,
    /// Unauthenticated key checks answered per client address per minute.
    pub verify_per_minute: u32,
    /// The process's change feed, which keeps the key cache and the actor cache honest.
    pub feed: Arc<crate::change_feed::Feed>,
    /// The actors this process keeps between requests (see `app::access::cache`).
    pub actors: Arc<ActorCache>,
}

/// The actor cache as a subscriber of the change feed.
struct KeptActors(Arc<ActorCache>);

impl crate::change_feed::Subscriber for KeptActors {
    fn channel(&self) -> &'static str {
        app::access::cache::CHANNEL
    }

    fn changed(&self, payload: &str) {
        self.0.changed(payload);
    }

    fn resumed(&self) {
        self.0.resume();
    }

    fn lost(&self, why: &str) {
        tracing::warn!("actor cache off: {why}");
        self.0.lose();
    }
}

/// Maintenance mode as this process shows it (the banner). The database refuses changes by
/// itself; this only has to be current for what users are told.
struct HeardSwitch {
    switch: Arc<app::maintenance::Switch>,
    pool: PgPool,
}

impl crate::change_feed::Subscriber for HeardSwitch {
    fn channel(&self) -> &'static str {
        "atrium_maintenance"
    }

    fn changed(&self, payload: &str) {
        self.switch.heard(payload);
    }

    fn resumed(&self) {
        let (switch, pool) = (self.switch.clone(), self.pool.clone());
        tokio::spawn(async move {
            match pool.acquire().await {
                Ok(mut conn) => {
                    if let Err(e) = switch.load(&mut conn).await {
                        tracing::warn!("maintenance mode could not be re-read: {e}");
                    }
                }
                Err(e) => tracing::warn!("maintenance mode could not be re-read: {e}"),
            }
        });
    }

    /// What was heard last stays shown; the database keeps refusing changes meanwhile.
    fn lost(&self, _why: &str) {}
}

/// The API's moving parts, and the background work that keeps them honest.
pub struct Api {
    pub state: ApiState,
    listener: tokio::task::JoinHandle<()>,
    flusher: tokio::task::JoinHandle<()>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Api {
    /// Starts the change feed (for the key cache and `actors`) and the usage flusher.
    /// `owner_pool` listens and writes usage across companies; `app_pool` serves.
    pub async fn start(
        owner_pool: PgPool,
        app_pool: PgPool,
        exports: Arc<app::audit::export_gate::ExportGate>,
        peppers: Peppers,
        cache: bool,
        actors: Arc<ActorCache>,
        maintenance: Arc<app::maintenance::Switch>,
    ) -> anyhow::Result<Api> {
        let verifier = Arc::new(Verifier::new(app_pool.clone(), owner_pool.clone(), peppers, cache));
        maintenance.load(&mut *app_pool.acquire().await?).await?;
        let subscribers: Vec<Arc<dyn crate::change_feed::Subscriber>> = vec![
            verifier.clone(),
            Arc::new(KeptActors(actors.clone())),
            Arc::new(HeardSwitch { switch: maintenance, pool: app_pool.clone() }),
        ];
        let (feed, listener) = crate::change_feed::Feed::start(&owner_pool, &app_pool, subscribers).await?;
        let usage = Arc::new(Usage::new(owner_pool));
        let limiter = Arc::new(RateLimiter::default());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let flusher = tokio::spawn(usage::run(usage.clone(), limiter.clone(), stopped));
        let verify_per_minute = handlers::VERIFY_PER_MINUTE;
        let state = ApiState { pool: app_pool, verifier, limiter, usage, exports, verify_per_minute, feed, actors };
        Ok(Api { state, listener, flusher, stop })
    }

    /// Answers `per_minute` unauthenticated key checks per client address (default
    /// `handlers::VERIFY_PER_MINUTE`).
    pub fn with_verify_limit(mut self, per_minute: u32) -> Api {
        self.state.verify_per_minute = per_minute.max(1);
        self
    }

    /// Flushes the last usage counts and stops the background work.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = self.flusher.await;
        self.listener.abort();
    }
}

/// What a route needs from the caller's key.
#[derive(Clone)]
pub struct Guard {
    pub api: ApiState,
    pub scope: app::api_keys::Scope,
    pub endpoint: &'static str,
}

pub fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

pub fn meta(req: &Request) -> RequestMeta {
    req.extensions().get::<RequestMeta>().cloned().unwrap_or(RequestMeta {
        request_id: "-".into(),
        ip: None,
        user_agent: None,
    })
}

/// Checks the key, counts the request, applies the key's rate limit and its scope, then
/// hands the key to the handler.
pub async fn authenticate(State(guard): State<Guard>, mut req: Request, next: Next) -> Response {
    let Some(token) = bearer(&req) else { return Problem::invalid_key().into_response() };
    let info = match guard.api.verifier.verify(token).await {
        Ok(info) => info,
        Err(refusal) => return Problem::refused(&refusal).into_response(),
    };
    let meta = meta(&req);
    guard.api.usage.record(info.id, info.company_id, guard.endpoint, meta.ip, meta.user_agent.as_deref());
    let decision = info.rate_limit.map(|limit| guard.api.limiter.check(info.id, limit));
    if let Some(d) = decision.filter(|d| !d.allowed) {
        return with_limit_headers(Problem::rate_limited(&d).into_response(), Some(d));
    }
    if !info.has(guard.scope) {
        return with_limit_headers(Problem::missing_scope(guard.scope).into_response(), decision);
    }
    req.extensions_mut().insert(Caller(info));
    with_limit_headers(next.run(req).await, decision)
}

/// The verified key, for handlers behind `authenticate`.
#[derive(Clone)]
pub struct Caller(pub Arc<KeyInfo>);

pub fn with_limit_headers(mut res: Response, decision: Option<limit::Decision>) -> Response {
    if let Some(d) = decision {
        let h = res.headers_mut();
        h.insert("ratelimit-limit", HeaderValue::from(d.limit));
        h.insert("ratelimit-remaining", HeaderValue::from(d.remaining));
        h.insert("ratelimit-reset", HeaderValue::from(d.reset));
        if !d.allowed {
            h.insert(header::RETRY_AFTER, HeaderValue::from(d.retry_after.max(1)));
        }
    }
    res
}

impl Problem {
    pub fn refused(r: &Refusal) -> Problem {
        match r {
            Refusal::Invalid => Problem::invalid_key(),
            Refusal::Expired(at) => Problem::new(
                401,
                "key-expired",
                "API key expired",
                format!(
                    "This API key expired at {}. Ask an admin of the company for a new key.",
                    app::ui::time::rfc3339(*at).iso
                ),
            ),
            Refusal::Revoked => Problem::new(
                401,
                "key-revoked",
                "API key revoked",
                "This API key was revoked. Ask an admin of the company for a new key.",
            ),
            Refusal::CompanyDisabled => Problem::new(
                403,
                "company-disabled",
                "Company disabled",
                "The company this key belongs to is disabled.",
            ),
            Refusal::Unavailable => Problem::new(
                503,
                "unavailable",
                "Temporarily unavailable",
                "The key could not be checked just now. Retry shortly.",
            ),
        }
    }
}
