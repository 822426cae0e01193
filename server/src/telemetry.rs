//! `GET /metrics` in Prometheus' text format (off unless `ATRIUM_METRICS=true` or
//! `ATRIUM_METRICS_ADDR` is set), through the `metrics` facade and its Prometheus exporter.
//!
//! Counted as things happen: requests per route (count and latency histogram), API-key cache
//! hits and misses, sign-in failures by reason. Read at each scrape: the pools' connections,
//! the delivery outbox's depth and the age of its oldest due delivery, and maintenance mode.
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use sqlx::PgPool;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Seconds; from a cached REST read (well under a millisecond) to a slow export.
const LATENCY_BUCKETS: &[f64] = &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The process's recorder: the `metrics` facade has one global recorder, installed once.
fn handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full("atrium_http_request_duration_seconds".into()), LATENCY_BUCKETS)
                .expect("buckets are not empty")
                .install_recorder()
                .expect("the only metrics recorder of this process")
        })
        .clone()
}

/// What a scrape reads besides the counters.
pub struct Telemetry {
    handle: PrometheusHandle,
    /// (label, pool): the pools whose connections are reported.
    pools: Vec<(&'static str, PgPool)>,
    /// Reads the outbox across companies (the owner's pool).
    owner: PgPool,
    maintenance: Arc<app::maintenance::Switch>,
}

impl Telemetry {
    pub fn new(
        owner: PgPool,
        pools: Vec<(&'static str, PgPool)>,
        maintenance: Arc<app::maintenance::Switch>,
    ) -> Arc<Self> {
        Arc::new(Telemetry { handle: handle(), pools, owner, maintenance })
    }

    pub async fn render(&self) -> Result<String, sqlx::Error> {
        for (name, pool) in &self.pools {
            let idle = pool.num_idle() as f64;
            let size = f64::from(pool.size());
            metrics::gauge!("atrium_db_pool_connections", "pool" => *name, "state" => "idle").set(idle);
            metrics::gauge!("atrium_db_pool_connections", "pool" => *name, "state" => "in_use").set(size - idle);
            metrics::gauge!("atrium_db_pool_max_connections", "pool" => *name)
                .set(f64::from(pool.options().get_max_connections()));
        }
        let outbox = sqlx::query!(
            r#"SELECT count(*) AS "pending!",
                      count(*) FILTER (WHERE next_attempt_at <= now()) AS "due!",
                      coalesce(extract(epoch FROM now() - min(next_attempt_at) FILTER (WHERE next_attempt_at <= now())), 0)::float8
                        AS "oldest_due_seconds!"
                 FROM integration_delivery_log WHERE status IN ('queued', 'retrying', 'sending')"#
        )
        .fetch_one(&self.owner)
        .await?;
        metrics::gauge!("atrium_outbox_pending").set(outbox.pending as f64);
        metrics::gauge!("atrium_outbox_due").set(outbox.due as f64);
        metrics::gauge!("atrium_outbox_oldest_due_seconds").set(outbox.oldest_due_seconds);
        metrics::gauge!("atrium_maintenance_active").set(if self.maintenance.active() { 1.0 } else { 0.0 });
        self.handle.run_upkeep();
        Ok(self.handle.render())
    }
}

pub async fn scrape(State(t): State<Arc<Telemetry>>) -> Response {
    match t.render().await {
        Ok(text) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response(),
        Err(e) => {
            tracing::warn!("metrics: {e}");
            (StatusCode::SERVICE_UNAVAILABLE, "database unreachable").into_response()
        }
    }
}

/// The route a request matched, carried out to `count_requests` (which runs outside the
/// router, before routing, and so cannot see it itself).
#[derive(Clone)]
struct Route(MatchedPath);

/// Inside the router: remembers the matched route on the response.
pub async fn remember_route(req: Request, next: Next) -> Response {
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let mut res = next.run(req).await;
    if let Some(m) = matched {
        res.extensions_mut().insert(Route(m));
    }
    res
}

/// Around everything: counts and times each request by route, method and status. Paths that
/// matched no route share one label, so a scanner cannot grow the series without bound.
pub async fn count_requests(req: Request, next: Next) -> Response {
    let started = Instant::now();
    // Any token is a method to hyper: only the ones Atrium serves get a label of their own.
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "other",
    };
    let res = next.run(req).await;
    let route = res.extensions().get::<Route>().map(|r| r.0.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let status = res.status().as_u16().to_string();
    metrics::counter!("atrium_http_requests_total", "route" => route.clone(), "method" => method, "status" => status)
        .increment(1);
    metrics::histogram!("atrium_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    res
}
