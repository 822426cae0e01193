//! Configuration from the environment (and `.env`), with CLI flags on top.
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, clap::Args)]
pub struct Config {
    /// PostgreSQL connection string.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Address to listen on.
    #[arg(long, env = "ATRIUM_ADDR", default_value = "127.0.0.1:3000", global = true)]
    pub addr: SocketAddr,
    /// `production` unless set: loopback deliveries, a generated secret key and the demo seed
    /// are for development, which the scripts in .dev/ ask for explicitly.
    #[arg(long = "env", env = "ATRIUM_ENV", value_enum, default_value = "production", global = true)]
    pub environment: Environment,
    /// Root secret for the API-key pepper and credential encryption. Required in production;
    /// generated under .data/ in development.
    #[arg(long, env = "ATRIUM_SECRET_KEY", global = true, hide_env_values = true)]
    pub secret_key: Option<String>,
    /// The previous root secret, still accepted for opening integration credentials until
    /// `atrium rotate-secret` has re-sealed them under the current one.
    #[arg(long, env = "ATRIUM_SECRET_KEY_PREVIOUS", global = true, hide_env_values = true)]
    pub secret_key_previous: Option<String>,
    /// Run the delivery worker inside `atrium serve`.
    #[arg(long, env = "ATRIUM_WORKER", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub worker: bool,
    /// Deliveries each worker sends at once.
    #[arg(long, env = "ATRIUM_WORKER_CONCURRENCY", default_value_t = 8, global = true)]
    pub worker_concurrency: usize,
    /// Attempts before a delivery becomes a dead letter (`failed`).
    #[arg(long, env = "ATRIUM_WORKER_MAX_ATTEMPTS", default_value_t = 8, global = true)]
    pub worker_max_attempts: i32,
    /// The first retry's delay in milliseconds; each later one doubles (with jitter), up to 6 hours.
    #[arg(long, env = "ATRIUM_WORKER_BACKOFF_MS", default_value_t = 30_000, global = true)]
    pub worker_backoff_ms: u64,
    /// The public URL, when Atrium sits behind a proxy; https turns on Secure cookies and HSTS.
    #[arg(long, env = "ATRIUM_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,
    /// Proxies (CIDRs, comma-separated) whose X-Forwarded-For header names the client. Without
    /// them the TCP peer is the client, whatever the header says.
    #[arg(long, env = "ATRIUM_TRUSTED_PROXIES", value_delimiter = ',', global = true)]
    pub trusted_proxies: Vec<sqlx::types::ipnetwork::IpNetwork>,
    /// Networks (CIDRs, comma-separated) that integration endpoints may reach although they are
    /// private, e.g. an on-premises receiver. Everything inside the network is refused otherwise.
    #[arg(long, env = "ATRIUM_WEBHOOK_ALLOW_CIDRS", value_delimiter = ',', global = true)]
    pub webhook_allow_cidrs: Vec<sqlx::types::ipnetwork::IpNetwork>,
    /// The least number of days any company's audit rows are kept, whatever its admins choose.
    #[arg(long, env = "ATRIUM_AUDIT_MIN_RETENTION_DAYS", default_value_t = 365, global = true)]
    pub audit_min_retention_days: i32,
    /// How long platform audit rows are kept (platform events, and the copies of what a
    /// super-admin did while acting as a company). At least the floor above.
    #[arg(long, env = "ATRIUM_AUDIT_PLATFORM_RETENTION_DAYS", default_value_t = 2557, global = true)]
    pub audit_platform_retention_days: i32,
    /// Unauthenticated `POST /api/v1/keys/verify` checks answered per client address per minute.
    #[arg(long, env = "ATRIUM_KEY_VERIFY_PER_MINUTE", default_value_t = 60, global = true)]
    pub key_verify_per_minute: u32,
    /// Where the built site (pkg/, favicon) lives.
    #[arg(long, env = "LEPTOS_SITE_ROOT", default_value = "target/site", global = true)]
    pub site_root: PathBuf,
    /// Cache verified API keys in memory (invalidated through LISTEN/NOTIFY). `false` makes
    /// every API request look its key up in PostgreSQL (for benchmarks and debugging).
    #[arg(long, env = "ATRIUM_API_KEY_CACHE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub api_key_cache: bool,
    /// Keep each session's signed-in actor in memory between requests (invalidated through
    /// LISTEN/NOTIFY, migration 0018). `false` loads it from PostgreSQL on every request.
    #[arg(long, env = "ATRIUM_ACTOR_CACHE", default_value_t = true, action = clap::ArgAction::Set, global = true)]
    pub actor_cache: bool,
    /// Serve Prometheus metrics at GET /metrics on the main address.
    #[arg(long, env = "ATRIUM_METRICS", default_value_t = false, action = clap::ArgAction::Set, global = true)]
    pub metrics: bool,
    /// Serve GET /metrics on this address instead (e.g. 127.0.0.1:9464), apart from the console.
    #[arg(long, env = "ATRIUM_METRICS_ADDR", global = true)]
    pub metrics_addr: Option<SocketAddr>,
    /// `text` (default) or `json`: one JSON object per line, each with the request's id.
    #[arg(long, env = "ATRIUM_LOG_FORMAT", value_enum, default_value = "text", global = true)]
    pub log_format: LogFormat,
    /// Seconds `serve` lets in-flight requests finish after SIGTERM before it stops anyway.
    #[arg(long, env = "ATRIUM_SHUTDOWN_GRACE_SECS", default_value_t = 20, global = true)]
    pub shutdown_grace_secs: u64,
    /// Where backups go: `atrium backup`, and the one production takes before it migrates.
    /// Default: `backups` under ATRIUM_DATA_DIR.
    #[arg(long, env = "ATRIUM_BACKUP_DIR", global = true)]
    pub backup_dir: Option<PathBuf>,
    /// Apply pending migrations in production without taking a backup first.
    #[arg(long, global = true)]
    pub no_backup: bool,
    /// SMTP server for Atrium's mail: `smtp://host:25`, `smtp://user:pass@host:587?tls=required`
    /// or `smtps://user:pass@host`. Without it no mail is sent, and admins copy one-time links
    /// by hand.
    #[arg(long, env = "ATRIUM_SMTP_URL", global = true, hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// The sender of Atrium's mail, e.g. `Atrium <atrium@example.com>`. Required with ATRIUM_SMTP_URL.
    #[arg(long, env = "ATRIUM_MAIL_FROM", global = true)]
    pub mail_from: Option<String>,
    /// Where development state (secret key, first password) is kept.
    #[arg(long, env = "ATRIUM_DATA_DIR", default_value = ".data", global = true)]
    pub data_dir: PathBuf,
}

impl Config {
    pub fn audit_policy(&self) -> anyhow::Result<app::audit::policy::Policy> {
        app::audit::policy::Policy::new(self.audit_min_retention_days, self.audit_platform_retention_days)
            .map_err(|e| anyhow::anyhow!("ATRIUM_AUDIT_MIN_RETENTION_DAYS / ATRIUM_AUDIT_PLATFORM_RETENTION_DAYS: {e}"))
    }

    pub fn database_url(&self) -> anyhow::Result<&str> {
        self.database_url.as_deref().ok_or_else(|| {
            anyhow::anyhow!(
                "DATABASE_URL is not set. Use `.dev/run`, which starts a private PostgreSQL, or export DATABASE_URL."
            )
        })
    }

    pub fn https(&self) -> bool {
        self.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
    }

    pub fn production(&self) -> bool {
        self.environment == Environment::Production
    }

    pub fn backup_dir(&self) -> PathBuf {
        self.backup_dir.clone().unwrap_or_else(|| self.data_dir.join("backups"))
    }

    /// Production backs the database up before it applies migrations, unless told not to.
    pub fn backup_before_migrating(&self) -> anyhow::Result<Option<crate::migrate::BackupPlan>> {
        if !self.production() || self.no_backup {
            return Ok(None);
        }
        Ok(Some(self.backup_plan()?))
    }

    pub fn backup_plan(&self) -> anyhow::Result<crate::migrate::BackupPlan> {
        Ok(crate::migrate::BackupPlan { database_url: self.database_url()?.to_string(), dir: self.backup_dir() })
    }

    /// Deliveries reach public addresses and the operator's allow-list; loopback only in
    /// development, where the receivers of tests and local tools live.
    pub fn egress(&self) -> app::integrations::egress::Egress {
        app::integrations::egress::Egress {
            allow_loopback: !self.production(),
            allow: self.webhook_allow_cidrs.clone(),
            resolver: std::sync::Arc::new(app::integrations::egress::SystemResolver),
        }
    }

    /// The root secret: from the environment, or in development from .data/secret_key.
    pub fn secret_key(&self) -> anyhow::Result<String> {
        if let Some(k) = &self.secret_key {
            anyhow::ensure!(k.len() >= 32, "ATRIUM_SECRET_KEY must be at least 32 characters");
            return Ok(k.clone());
        }
        anyhow::ensure!(!self.production(), "ATRIUM_SECRET_KEY is required when ATRIUM_ENV=production");
        let path = self.data_dir.join("secret_key");
        if let Ok(k) = std::fs::read_to_string(&path) {
            return Ok(k.trim().to_string());
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let key = hex::encode(rand::random::<[u8; 32]>());
        write_private(&path, &key)?;
        tracing::info!("generated a development secret key in {}", path.display());
        Ok(key)
    }
}

impl Config {
    /// The address links in mail start with: ATRIUM_PUBLIC_URL, else the listening address.
    pub fn base_url(&self) -> String {
        match self.public_url.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.addr),
        }
    }

    pub fn outgoing(&self) -> app::mail::Outgoing {
        app::mail::Outgoing {
            enabled: self.smtp_url.as_deref().is_some_and(|u| !u.is_empty()),
            base_url: self.base_url(),
        }
    }

    /// The mail worker's settings, when ATRIUM_SMTP_URL is set. Retries follow the delivery
    /// worker's (ATRIUM_WORKER_MAX_ATTEMPTS, ATRIUM_WORKER_BACKOFF_MS).
    pub fn mail(&self) -> anyhow::Result<Option<crate::mail_worker::MailConfig>> {
        let Some(smtp_url) = self.smtp_url.clone().filter(|u| !u.is_empty()) else { return Ok(None) };
        let from = self
            .mail_from
            .as_deref()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| {
                anyhow::anyhow!("ATRIUM_MAIL_FROM is required with ATRIUM_SMTP_URL, e.g. `Atrium <atrium@example.com>`")
            })?
            .parse()
            .map_err(|e| anyhow::anyhow!("ATRIUM_MAIL_FROM is not a mail address: {e}"))?;
        let message_domain = url::Url::parse(&self.base_url())
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_else(|| "atrium.invalid".into());
        Ok(Some(crate::mail_worker::MailConfig {
            smtp_url,
            from,
            message_domain,
            max_attempts: self.worker_max_attempts.max(1),
            base_backoff: std::time::Duration::from_millis(self.worker_backoff_ms),
            max_backoff: std::time::Duration::from_secs(6 * 3600),
            lease: std::time::Duration::from_secs(60),
            timeout: std::time::Duration::from_secs(30),
            idle_poll: std::time::Duration::from_secs(1),
        }))
    }

    /// Hashes API keys under the current root secret; accepts (and moves) keys hashed under
    /// ATRIUM_SECRET_KEY_PREVIOUS.
    pub fn peppers(&self) -> anyhow::Result<app::api_keys::secret::Peppers> {
        use app::api_keys::secret::Pepper;
        Ok(app::api_keys::secret::Peppers {
            current: Pepper::derive(&self.secret_key()?),
            previous: self.secret_key_previous.as_deref().filter(|s| !s.is_empty()).map(Pepper::derive),
        })
    }

    /// Seals integration credentials under the current root; opens them under earlier ones too.
    pub fn keyring(&self) -> anyhow::Result<app::integrations::crypto::Keyring> {
        // One previous key, whole: a secret may itself contain commas or spaces.
        let previous: Vec<String> = self.secret_key_previous.iter().filter(|s| !s.is_empty()).cloned().collect();
        Ok(app::integrations::crypto::Keyring::new(&self.secret_key()?, &previous))
    }
}

/// Writes a file only its owner can read.
pub fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())
}
