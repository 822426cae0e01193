//! spawn_app(): a real server on 127.0.0.1:0 against a fresh, migrated database that is
//! dropped afterwards, and a cookie-keeping client with one helper per endpoint.
use atrium_server::{migrate, web};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use uuid::Uuid;

pub const PASSWORD: &str = "correct horse battery staple";

pub fn admin_options() -> PgConnectOptions {
    let url = std::env::var("DATABASE_URL").expect("DATABASE_URL must point at a PostgreSQL server (run .dev/test)");
    PgConnectOptions::from_str(&url).expect("valid DATABASE_URL").log_statements(tracing::log::LevelFilter::Off)
}

/// A database of its own, dropped when this value is dropped.
pub struct TestDb {
    pub name: String,
    pub options: PgConnectOptions,
}

impl TestDb {
    pub async fn new() -> TestDb {
        let name = format!("atrium_test_{}", Uuid::new_v4().simple());
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(admin_options().database("postgres"))
            .await
            .expect("connect to postgres");
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&admin).await.expect("create test database");
        admin.close().await;
        TestDb { options: admin_options().database(&name), name }
    }

    pub async fn pool(&self) -> PgPool {
        PgPoolOptions::new()
            .max_connections(10)
            .connect_with(self.options.clone())
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs outside async; a short-lived runtime on its own thread does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                if let Ok(admin) =
                    PgPoolOptions::new().max_connections(1).connect_with(admin_options().database("postgres")).await
                {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&admin).await;
                    admin.close().await;
                }
            })
        })
        .join();
    }
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    /// The owner's pool (bypasses row-level security): for setting up and checking.
    pub pool: PgPool,
    /// The pool the server uses, as atrium_app.
    pub app_pool: PgPool,
    /// Kept alive for the test's duration; dropping it drops the database.
    #[allow(dead_code)]
    pub db: TestDb,
    /// The REST API's background work (taken by `stop_api` to shut it down cleanly).
    pub api: std::sync::Arc<tokio::sync::Mutex<Option<atrium_server::api::Api>>>,
    /// The mail worker, when the app sends mail (`spawn_app_with_mail`).
    #[allow(dead_code)]
    pub mailer: Option<std::sync::Arc<atrium_server::mail_worker::MailHandle>>,
}

/// A real SMTP server for a test: `end2end/servers/mail-sink.mjs` (npm's smtp-server; each
/// message parsed by mailparser, an independent MIME parser). Stopped when dropped.
pub struct MailSink {
    _child: tokio::process::Child,
    pub smtp_port: u16,
    http_port: u16,
}

impl MailSink {
    pub async fn start(args: &[&str]) -> MailSink {
        use tokio::io::AsyncBufReadExt;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end");
        let mut child = tokio::process::Command::new("node")
            .arg("servers/mail-sink.mjs")
            .arg("--exit-with-stdin")
            .args(args)
            .current_dir(&dir)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs end2end/servers/mail-sink.mjs (npm ci in end2end/ first)");
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let first = tokio::time::timeout(std::time::Duration::from_secs(20), lines.next_line())
            .await
            .expect("the mail sink starts")
            .unwrap()
            .expect("the mail sink prints its ports");
        let ports: serde_json::Value = serde_json::from_str(&first).unwrap();
        MailSink {
            _child: child,
            smtp_port: ports["smtp"].as_u64().unwrap() as u16,
            http_port: ports["http"].as_u64().unwrap() as u16,
        }
    }

    pub fn smtp_url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.smtp_port)
    }

    pub async fn messages(&self) -> Vec<serde_json::Value> {
        let r = client().get(format!("http://127.0.0.1:{}/messages", self.http_port)).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// The messages once at least `n` have arrived (waits up to 15 s).
    pub async fn wait_for(&self, n: usize) -> Vec<serde_json::Value> {
        for _ in 0..150 {
            let got = self.messages().await;
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("expected {n} messages, got {:?}", self.messages().await);
    }
}

/// The one-time link in a mail's text part.
pub fn link_in(message: &serde_json::Value) -> String {
    let text = message["text"].as_str().unwrap();
    let start = text.find("http://").expect("a link in the mail");
    text[start..].split_whitespace().next().unwrap().to_string()
}

/// The peppers test servers hash API keys with (no rotation under way).
pub fn peppers() -> app::api_keys::secret::Peppers {
    app::api_keys::secret::Peppers { current: app::api_keys::secret::Pepper::derive(TEST_SECRET), previous: None }
}

/// The root secret test servers derive their API-key pepper from.
pub const TEST_SECRET: &str = "test secret key, at least thirty-two characters long";

pub fn test_keyring() -> app::integrations::crypto::Keyring {
    app::integrations::crypto::Keyring::new(TEST_SECRET, &[])
}

/// Tests deliver to receivers on loopback only; names resolve from a fixed table, so no DNS
/// query leaves the machine. `rebind.test` answers a private address, as a rebinding name would.
pub fn test_egress() -> app::integrations::egress::Egress {
    use std::net::IpAddr;
    let table: std::collections::HashMap<String, Vec<IpAddr>> = [
        ("localhost", vec!["127.0.0.1".parse().unwrap()]),
        ("hooks.test", vec!["93.184.216.34".parse().unwrap()]),
        ("rebind.test", vec!["10.0.0.5".parse().unwrap()]),
        ("metadata.test", vec!["169.254.169.254".parse().unwrap()]),
    ]
    .into_iter()
    .map(|(h, ips)| (h.to_string(), ips))
    .collect();
    app::integrations::egress::Egress {
        allow_loopback: true,
        allow: Vec::new(),
        resolver: std::sync::Arc::new(app::integrations::egress::StaticResolver(table)),
    }
}

/// A request that hangs fails the test with its URL instead of stalling the suite.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(20))
        .build()
        .unwrap()
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(false).await
}

pub async fn spawn_app_with(https: bool) -> TestApp {
    spawn(https, None).await
}

/// A test app that sends mail to `sink`, retrying quickly (3 attempts, 200 ms apart at first).
pub async fn spawn_app_with_mail(sink: &MailSink) -> TestApp {
    spawn(false, Some(sink.smtp_url())).await
}

async fn spawn(https: bool, smtp_url: Option<String>) -> TestApp {
    let db = TestDb::new().await;
    let pool = db.pool().await;
    migrate::up(&pool, None, |_, _| {}).await.expect("migrations apply");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = db.options.to_url_lossy().to_string();
    let trusted = vec!["127.0.0.1/32".parse().unwrap()];
    // Tests play clients at other addresses through X-Forwarded-For from loopback.
    let outgoing = app::mail::Outgoing { enabled: smtp_url.is_some(), base_url: format!("http://{addr}") };
    let (app_pool, api) = serve_process(pool.clone(), &url, listener, https, trusted, outgoing).await;
    let mailer = smtp_url.map(|smtp_url| {
        let cfg = atrium_server::mail_worker::MailConfig {
            smtp_url,
            from: "Atrium <atrium@atrium.test>".parse().unwrap(),
            message_domain: "atrium.test".into(),
            max_attempts: 3,
            base_backoff: std::time::Duration::from_millis(200),
            max_backoff: std::time::Duration::from_secs(2),
            lease: std::time::Duration::from_secs(30),
            timeout: std::time::Duration::from_secs(10),
            idle_poll: std::time::Duration::from_millis(100),
        };
        let worker = atrium_server::mail_worker::MailWorker::new(pool.clone(), test_keyring(), cfg).unwrap();
        std::sync::Arc::new(worker.spawn())
    });
    TestApp { addr, pool, app_pool, db, api: std::sync::Arc::new(tokio::sync::Mutex::new(Some(api))), mailer }
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Posts a form to a server function the way the hydrated app does (JSON answers).
    pub async fn post(&self, client: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        client
            .post(self.url(path))
            .header("Origin", format!("http://{}", self.addr))
            .form(form)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub async fn get(&self, client: &reqwest::Client, path: &str) -> reqwest::Response {
        client.get(self.url(path)).send().await.unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub async fn login(&self, client: &reqwest::Client, email: &str, password: &str) -> reqwest::Response {
        self.post(client, "/api/login", &[("email", email), ("password", password), ("next", "")]).await
    }

    pub async fn create_company(&self, client: &reqwest::Client, name: &str, slug: &str) -> reqwest::Response {
        self.post(client, "/api/companies/create", &[("name", name), ("slug", slug)]).await
    }

    pub async fn user(&self, email: &str, role: app::domain::Role, company: Option<Uuid>) -> Uuid {
        atrium_server::accounts::upsert_user(&self.pool, email, "Test User", PASSWORD, role, company).await.unwrap()
    }

    /// A signed-in super-admin client.
    pub async fn superadmin(&self) -> reqwest::Client {
        self.user("root@atrium.test", app::domain::Role::SuperAdmin, None).await;
        let c = client();
        let r = self.login(&c, "root@atrium.test", PASSWORD).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        c
    }

    pub async fn company(&self, name: &str) -> Uuid {
        let meta = app::server_ctx::RequestMeta { request_id: "test".into(), ip: None, user_agent: None };
        app::companies::service::create_as(&self.pool, &app::audit::record::Who::system(), &meta, name, "")
            .await
            .unwrap()
    }

    pub async fn slug(&self, company: Uuid) -> String {
        sqlx::query_scalar("SELECT slug FROM companies WHERE id = $1")
            .bind(company)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    pub async fn audit_count(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }
}

pub async fn json(r: reqwest::Response) -> serde_json::Value {
    let text = r.text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
}

impl TestApp {
    /// A member of `company` with `role`, signed in.
    pub async fn member(&self, company: Uuid, email: &str, role: app::domain::Role) -> (Uuid, reqwest::Client) {
        let id = self.user(email, role, Some(company)).await;
        let c = client();
        let r = self.login(&c, email, PASSWORD).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        (id, c)
    }

    /// Opens `slug` as the signed-in super-admin.
    pub async fn act_as(&self, c: &reqwest::Client, slug: &str) {
        let r = self.post(c, "/api/tenant/act-as", &[("slug", slug), ("reason", "Integration test")]).await;
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }

    pub async fn scalar_i64(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&self.pool).await.unwrap()
    }

    /// A fingerprint of everything a request could change, except sign-in bookkeeping:
    /// equal fingerprints mean nothing was written.
    pub async fn fingerprint(&self) -> String {
        sqlx::query_scalar(
            r#"SELECT md5(concat_ws('|',
                 (SELECT string_agg(concat_ws(',', id, name, slug, tenant_enabled, tenant_config, deleted_at), ';' ORDER BY id) FROM companies),
                 (SELECT string_agg(concat_ws(',', id, email, name, role, company_id, status, password_hash, allowed_tenants), ';' ORDER BY id) FROM users),
                 (SELECT string_agg(concat_ws(',', company_id, user_id, role, status), ';' ORDER BY company_id, user_id) FROM memberships),
                 (SELECT string_agg(concat_ws(',', id, used_at, expires_at), ';' ORDER BY id) FROM user_tokens),
                 (SELECT string_agg(concat_ws(',', id, revoked_at, tenant_id, acting_company_id), ';' ORDER BY id) FROM sessions),
                 (SELECT string_agg(concat_ws(',', id, name, scopes, expires_at, revoked_at, rate_limit_per_minute), ';' ORDER BY id) FROM api_keys),
                 (SELECT string_agg(concat_ws(',', company_id, category, weights), ';' ORDER BY company_id, category) FROM weight_overrides),
                 (SELECT count(*) FROM weight_override_history),
                 (SELECT string_agg(concat_ws(',', id, enabled, api_endpoint, credentials_encrypted, config), ';' ORDER BY id) FROM integration_configs),
                 (SELECT string_agg(concat_ws(',', id, status, next_attempt_at, retry_count), ';' ORDER BY id) FROM integration_delivery_log),
                 (SELECT count(*) FROM audit_log WHERE action NOT IN ('platform.read'))))"#,
        )
        .fetch_one(&self.pool)
        .await
        .unwrap()
    }
}

impl TestApp {
    /// Issues an API key in `company` as the system (the command line's path); returns its
    /// id and secret.
    pub async fn api_key(&self, company: Uuid, scopes: &[&str], rate_limit: Option<i32>) -> (Uuid, String) {
        let new = app::api_keys::service::NewKey {
            name: "Test key".into(),
            scopes: scopes.iter().map(|s| app::api_keys::Scope::parse(s).expect("known scope")).collect(),
            expiry: app::api_keys::service::Expiry::parse_duration("30d").unwrap(),
            rate_limit,
        };
        let meta = app::server_ctx::RequestMeta { request_id: "test".into(), ip: None, user_agent: None };
        let pepper = app::api_keys::secret::Pepper::derive(TEST_SECRET);
        let mut tx = self.pool.begin().await.unwrap();
        let issued = app::api_keys::service::create(
            &mut tx,
            &app::audit::record::Op { company, who: app::audit::record::Who::system(), meta: meta.clone() },
            &pepper,
            &new,
            None,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        (issued.id, issued.secret)
    }

    /// A request to the REST API with `key` as the bearer token.
    pub async fn api(&self, method: reqwest::Method, path: &str, key: Option<&str>) -> reqwest::Response {
        let mut r = client().request(method, self.url(path)).header("User-Agent", "atrium-tests/1");
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send().await.unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// Another Atrium process (its own pools, key cache and listener) on the same database.
    pub async fn peer(&self) -> (std::net::SocketAddr, atrium_server::api::Api) {
        let url = self.db.options.to_url_lossy().to_string();
        let owner = atrium_server::connect(&url).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let outgoing = app::mail::Outgoing { enabled: false, base_url: format!("http://{addr}") };
        let (_, api) = serve_process(owner, &url, listener, false, Vec::new(), outgoing).await;
        (addr, api)
    }
}

/// One Atrium process serving on `listener`: its own pools, API background work and router,
/// as `atrium serve` builds them (with the tests' keyring and egress table).
async fn serve_process(
    owner: PgPool,
    url: &str,
    listener: tokio::net::TcpListener,
    https: bool,
    trusted_proxies: Vec<sqlx::types::ipnetwork::IpNetwork>,
    outgoing: app::mail::Outgoing,
) -> (PgPool, atrium_server::api::Api) {
    let addr = listener.local_addr().unwrap();
    let owner_pool_for_metrics = owner.clone();
    let app_pool = atrium_server::connect_app(url).await.expect("app pool");
    let exports = atrium_server::export_gate(url).await.expect("exports pool");
    let pepper = app::api_keys::secret::Pepper::derive(TEST_SECRET);
    let state = app::server_ctx::AppState {
        pool: app_pool.clone(),
        secure_cookies: https,
        production: false,
        pepper: pepper.clone(),
        pepper_previous: None,
        credentials: test_keyring(),
        egress: test_egress(),
        exports: exports.clone(),
        audit_policy: app::audit::policy::Policy::default(),
        maintenance: Default::default(),
        mail: outgoing,
    };
    let actors = std::sync::Arc::new(app::access::ActorCache::new(true));
    let maintenance = state.maintenance.clone();
    let peppers = app::api_keys::secret::Peppers { current: pepper, previous: None };
    let api = atrium_server::api::Api::start(owner, app_pool.clone(), exports, peppers, true, actors, maintenance)
        .await
        .expect("api starts");
    let telemetry = atrium_server::telemetry::Telemetry::new(
        owner_pool_for_metrics,
        vec![("app", app_pool.clone())],
        state.maintenance.clone(),
    );
    let router = web::router(
        state,
        api.state.clone(),
        &web::WebConfig {
            site_root: "target/site".into(),
            addr,
            https,
            trusted_proxies: atrium_server::client_ip::TrustedProxies(trusted_proxies),
            metrics: Some(telemetry),
        },
    );
    tokio::spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<std::net::SocketAddr>()).await.unwrap();
    });
    (app_pool, api)
}

/// A worker tuned for tests: short timeout, lease and backoff.
pub fn fast_worker() -> atrium_server::delivery_worker::WorkerConfig {
    atrium_server::delivery_worker::WorkerConfig {
        concurrency: 4,
        lease: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_millis(500),
        max_attempts: 3,
        base_backoff: std::time::Duration::from_millis(50),
        max_backoff: std::time::Duration::from_secs(5),
        idle_poll: std::time::Duration::from_millis(50),
        egress: test_egress(),
    }
}

impl TestApp {
    /// An enabled integration of `company` pointing at `endpoint`; returns its signing secret.
    pub async fn integration(&self, company: Uuid, platform: app::integrations::Platform, endpoint: &str) -> String {
        let secret = app::integrations::platform::generate_signing_secret();
        let config = match platform {
            app::integrations::Platform::Benevity => r#"{"program_id": "prog-1"}"#,
            app::integrations::Platform::Goodera => r#"{"organization_id": "org-1"}"#,
            app::integrations::Platform::Workday => r#"{"tenant": "acme"}"#,
        };
        let input = app::integrations::service::ConfigInput::parse(
            platform,
            true,
            endpoint,
            config,
            "tok_test_12345678",
            false,
            &secret,
            true,
        )
        .unwrap();
        let meta = app::server_ctx::RequestMeta { request_id: "test".into(), ip: None, user_agent: None };
        let mut tx = self.pool.begin().await.unwrap();
        app::integrations::service::save(
            &mut tx,
            &app::audit::record::Op { company, who: app::audit::record::Who::system(), meta: meta.clone() },
            &test_keyring(),
            platform,
            input,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        secret
    }

    /// Queues a delivery as the system would.
    pub async fn enqueue(
        &self,
        company: Uuid,
        platform: app::integrations::Platform,
        data: serde_json::Value,
    ) -> app::integrations::outbox::Enqueued {
        let meta = app::server_ctx::RequestMeta { request_id: "test".into(), ip: None, user_agent: None };
        let delivery = app::integrations::outbox::NewDelivery { event_type: "test.event".into(), data };
        let mut tx = self.pool.begin().await.unwrap();
        let q = app::integrations::outbox::enqueue(
            &mut tx,
            &app::audit::record::Op { company, who: app::audit::record::Who::system(), meta: meta.clone() },
            platform,
            &delivery,
            app::audit::Action::DeliveryQueue,
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
        q
    }

    pub fn worker(
        &self,
        cfg: atrium_server::delivery_worker::WorkerConfig,
    ) -> atrium_server::delivery_worker::WorkerHandle {
        atrium_server::delivery_worker::Worker::new(self.pool.clone(), test_keyring(), cfg).unwrap().spawn()
    }

    pub async fn delivery_status(&self, id: i64) -> String {
        sqlx::query_scalar("SELECT status FROM integration_delivery_log WHERE id = $1")
            .bind(id)
            .fetch_one(&self.pool)
            .await
            .unwrap()
    }

    /// Waits until delivery `id` has `status`, failing with what it is instead.
    pub async fn wait_for(&self, id: i64, status: &str, within: std::time::Duration) {
        let start = std::time::Instant::now();
        loop {
            let now = self.delivery_status(id).await;
            if now == status {
                return;
            }
            assert!(start.elapsed() < within, "delivery {id} is {now}, not {status}, after {within:?}");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// Polls until `f` holds (the usage flush and the notifications are asynchronous).
pub async fn eventually<F, Fut>(what: &str, within: std::time::Duration, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    while !f().await {
        assert!(start.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Cuts every Atrium process's notification connection that listens on `channel` (as a
/// network fault or a restarted PostgreSQL would), and says how many it cut.
pub async fn cut_listeners(app: &TestApp, channel: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
          WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE '%LISTEN%' || $1 || '%'",
    )
    .bind(channel)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}
