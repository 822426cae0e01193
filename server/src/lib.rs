//! The Atrium server process: configuration, migrations, the web server and the CLI's work.
#![recursion_limit = "256"]
pub mod accounts;
pub mod api;
pub mod api_key_cli;
pub mod backup;
pub mod change_feed;
pub mod client_ip;
pub mod config;
pub mod delivery_worker;
pub mod housekeeping;
pub mod input;
pub mod mail_worker;
pub mod migrate;
pub mod telemetry;
pub mod web;

use app::server_ctx::{AppState, RequestMeta};
use config::Config;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use std::time::Duration;

/// What the command line's audited changes record as their request.
pub fn cli_meta() -> RequestMeta {
    RequestMeta {
        request_id: format!("cli-{}", &uuid::Uuid::now_v7().simple().to_string()[..12]),
        ip: None,
        user_agent: Some("atrium cli".into()),
    }
}

/// Throws the maintenance switch as the system (`atrium maintenance`, `migrate up --maintenance`).
pub async fn switch_maintenance(pool: &PgPool, on: bool, message: &str) -> anyhow::Result<app::maintenance::Status> {
    let mut tx = pool.begin().await?;
    let status = app::maintenance::service::set(&mut tx, &app::audit::record::Who::system(), &cli_meta(), on, message)
        .await
        .map_err(|e| match e {
            app::error::AppError::Validation(f) => anyhow::anyhow!(f.into_values().collect::<Vec<_>>().join("; ")),
            other => anyhow::anyhow!("{other}"),
        })?;
    tx.commit().await?;
    Ok(status)
}

/// Whether maintenance mode exists yet (migration 0019) and is on.
pub async fn maintenance_active(pool: &PgPool) -> anyhow::Result<Option<bool>> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('public.maintenance_mode') IS NOT NULL").fetch_one(pool).await?;
    if !exists {
        return Ok(None);
    }
    Ok(Some(sqlx::query_scalar("SELECT active FROM maintenance_mode").fetch_one(pool).await?))
}

/// The schema owner's pool: migrations, housekeeping and the command line.
pub async fn connect(database_url: &str) -> anyhow::Result<PgPool> {
    connect_owner(database_url, 4).await
}

async fn connect_owner(database_url: &str, max: u32) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(Duration::from_secs(5))
        .connect(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL: {e}"))?;
    Ok(pool)
}

/// Time limits for the connections that serve requests: a statement or an idle transaction
/// that outlives them is a bug or an attack, and must not hold a connection.
const REQUEST_LIMITS: [&str; 2] = ["SET statement_timeout = '60s'", "SET idle_in_transaction_session_timeout = '60s'"];
/// Exports stream for as long as their client reads; a client that stops reading for ten
/// minutes lets go of its connection.
const EXPORT_LIMITS: [&str; 2] =
    ["SET statement_timeout = '30min'", "SET idle_in_transaction_session_timeout = '10min'"];
/// Audit exports at once per process (the exports pool's size).
pub const EXPORT_SLOTS: u32 = 4;

/// The pool that serves requests. Each connection switches to `atrium_app` (neither superuser
/// nor BYPASSRLS) before first use, so row-level security holds even when DATABASE_URL names
/// a superuser. Needs the migrations applied (0010 creates the role).
pub async fn connect_app(database_url: &str) -> anyhow::Result<PgPool> {
    connect_as_app(database_url, 20, REQUEST_LIMITS).await
}

/// The exports' pool: `atrium_app` too, with longer limits, apart from the request pool.
pub async fn connect_exports(database_url: &str) -> anyhow::Result<PgPool> {
    connect_as_app(database_url, EXPORT_SLOTS, EXPORT_LIMITS).await
}

/// How long a request waits for a connection. sqlx keeps retrying a refused connection until
/// then, so this is also how long a request waits while PostgreSQL is down or restarting
/// before it answers 503 (bench/faults.py): short, so callers learn at once and retry.
pub const REQUEST_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);

async fn connect_as_app(database_url: &str, size: u32, limits: [&'static str; 2]) -> anyhow::Result<PgPool> {
    let pool = PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(REQUEST_ACQUIRE_TIMEOUT)
        .after_connect(move |conn, _| {
            Box::pin(async move {
                sqlx::query!("SET ROLE atrium_app").execute(&mut *conn).await?;
                for limit in limits {
                    sqlx::query(limit).execute(&mut *conn).await?;
                }
                Ok(())
            })
        })
        .connect(database_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to PostgreSQL as atrium_app: {e}"))?;
    Ok(pool)
}

/// The audit exports' gate over their own pool.
pub async fn export_gate(database_url: &str) -> anyhow::Result<std::sync::Arc<app::audit::export_gate::ExportGate>> {
    Ok(app::audit::export_gate::ExportGate::new(
        connect_exports(database_url).await?,
        EXPORT_SLOTS as usize,
        app::audit::export_gate::ExportGate::PER_COMPANY,
    ))
}

pub fn app_state(
    pool: PgPool,
    exports: std::sync::Arc<app::audit::export_gate::ExportGate>,
    config: &Config,
) -> anyhow::Result<AppState> {
    Ok(AppState {
        pool,
        secure_cookies: config.https(),
        production: config.production(),
        pepper: app::api_keys::secret::Pepper::derive(&config.secret_key()?),
        pepper_previous: config.peppers()?.previous,
        credentials: config.keyring()?,
        egress: config.egress(),
        exports,
        audit_policy: config.audit_policy()?,
        maintenance: Default::default(),
        mail: config.outgoing(),
    })
}

/// The mail worker, when ATRIUM_SMTP_URL is set, with a small pool of its own.
pub async fn mailer(config: &Config) -> anyhow::Result<Option<mail_worker::MailWorker>> {
    let Some(cfg) = config.mail()? else { return Ok(None) };
    let pool = connect_owner(config.database_url()?, 2).await?;
    Ok(Some(mail_worker::MailWorker::new(pool, config.keyring()?, cfg)?))
}

/// The delivery worker as configured (`atrium serve` runs one; `atrium worker` runs only that),
/// with a pool of its own so deliveries never wait behind requests or housekeeping.
pub async fn worker(config: &Config) -> anyhow::Result<delivery_worker::Worker> {
    let pool = connect_owner(config.database_url()?, config.worker_concurrency.max(1) as u32 + 1).await?;
    let cfg = delivery_worker::WorkerConfig {
        concurrency: config.worker_concurrency.max(1),
        max_attempts: config.worker_max_attempts.max(1),
        base_backoff: Duration::from_millis(config.worker_backoff_ms),
        egress: config.egress(),
        ..Default::default()
    };
    delivery_worker::Worker::new(pool, config.keyring()?, cfg)
}

/// Runs only the delivery worker (and the mail worker, with ATRIUM_SMTP_URL), until SIGINT/SIGTERM.
pub async fn run_worker(config: Config) -> anyhow::Result<()> {
    let pool = connect(config.database_url()?).await?;
    anyhow::ensure!(
        migrate::is_current(&pool).await?,
        "migrations are pending: run `atrium migrate up` or `atrium serve` first"
    );
    let handle = worker(&config).await?.spawn();
    let mail = mailer(&config).await?.map(mail_worker::MailWorker::spawn);
    tracing::info!("delivery worker running ({} at a time)", config.worker_concurrency.max(1));
    shutdown_signal().await;
    handle.shutdown().await;
    if let Some(m) = mail {
        m.shutdown().await;
    }
    pool.close().await;
    Ok(())
}

/// Applies pending migrations, then serves until SIGINT/SIGTERM.
pub async fn serve(config: Config) -> anyhow::Result<()> {
    let pool = connect(config.database_url()?).await?;
    let run = migrate::Run::new("serve").with_backup(config.backup_before_migrating()?);
    let applied = migrate::up_as(&pool, None, &run, |m, ms| {
        tracing::info!("applied migration {:04} {} in {ms} ms", m.version, m.name)
    })
    .await?;
    if applied.is_empty() {
        tracing::info!("schema is current");
    }
    config.secret_key()?;
    let labelled = housekeeping::label_key_peppers(&pool, &config.peppers()?).await?;
    if labelled > 0 {
        tracing::info!(keys = labelled, "labelled API keys with the current secret's pepper");
    }
    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    if !config.production() {
        accounts::first_run_superadmin(&pool, &config, addr).await?;
    }
    let app_pool = connect_app(config.database_url()?).await?;
    let store = tower_sessions_sqlx_store::PostgresStore::new(app_pool.clone());
    let cleanup = tokio::spawn(async move {
        use tower_sessions::ExpiredDeletion;
        let _ = store.continuously_delete_expired(Duration::from_secs(3600)).await;
    });
    let notices = config.outgoing().enabled.then(|| config.keyring().map(|k| (k, config.outgoing()))).transpose()?;
    let housekeeping = tokio::spawn(housekeeping::run_forever(pool.clone(), config.audit_policy()?, notices));
    let exports = export_gate(config.database_url()?).await?;
    let state = app_state(app_pool.clone(), exports.clone(), &config)?;
    let deliveries = if config.worker { Some(worker(&config).await?.spawn()) } else { None };
    let mail = if config.worker { mailer(&config).await?.map(mail_worker::MailWorker::spawn) } else { None };
    let actors = std::sync::Arc::new(app::access::ActorCache::new(config.actor_cache));
    let api = api::Api::start(
        pool.clone(),
        app_pool.clone(),
        exports,
        config.peppers()?,
        config.api_key_cache,
        actors,
        state.maintenance.clone(),
    )
    .await?
    .with_verify_limit(config.key_verify_per_minute);
    let telemetry = (config.metrics || config.metrics_addr.is_some()).then(|| {
        telemetry::Telemetry::new(
            pool.clone(),
            vec![("app", app_pool.clone()), ("owner", pool.clone())],
            state.maintenance.clone(),
        )
    });
    let metrics_listener = match (config.metrics_addr, &telemetry) {
        (Some(at), Some(t)) => {
            let listener = tokio::net::TcpListener::bind(at).await?;
            tracing::info!("metrics at http://{}/metrics", listener.local_addr()?);
            let metrics =
                axum::Router::new().route("/metrics", axum::routing::get(telemetry::scrape)).with_state(t.clone());
            Some(tokio::spawn(async move { axum::serve(listener, metrics).await }))
        }
        _ => None,
    };
    let router = web::router(
        state,
        api.state.clone(),
        &web::WebConfig {
            site_root: config.site_root.clone(),
            addr,
            https: config.https(),
            trusted_proxies: crate::client_ip::TrustedProxies(config.trusted_proxies.clone()),
            metrics: telemetry.filter(|_| config.metrics_addr.is_none()),
        },
    );
    tracing::info!("Atrium is listening on http://{addr}");
    // On SIGTERM: stop accepting, let in-flight requests finish, but not for longer than the
    // grace period (a client that never finishes its request must not hold the process).
    let (stopping, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>())
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            let _ = stopping.send(());
        });
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    tokio::select! {
        served = server => served?,
        _ = async move {
            let _ = stopped.await;
            tokio::time::sleep(grace).await;
        } => tracing::warn!("requests still in flight after {}s; stopping anyway", grace.as_secs()),
    }
    cleanup.abort();
    housekeeping.abort();
    if let Some(m) = metrics_listener {
        m.abort();
    }
    // Flushing usage, letting the worker finish its sends and closing the pools get a grace of
    // their own: a connection still held by a request that outlived the first must not keep
    // the process up.
    let teardown = async {
        api.shutdown().await;
        if let Some(w) = deliveries {
            w.shutdown().await;
        }
        if let Some(m) = mail {
            m.shutdown().await;
        }
        app_pool.close().await;
        pool.close().await;
    };
    if tokio::time::timeout(grace, teardown).await.is_err() {
        tracing::warn!("shutting down took longer than {}s; stopping anyway", grace.as_secs());
    }
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}
