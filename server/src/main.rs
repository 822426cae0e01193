use atrium_server::config::{Config, LogFormat};
use atrium_server::{accounts, connect, migrate};
use clap::{Parser, Subcommand};
use std::io::IsTerminal;

/// Rendering a page allocates and frees many small strings; glibc's allocator spent about a
/// fifth of the server's CPU doing it (perf on the users page under load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Atrium: the admin console of a multi-tenant SaaS.
#[derive(Parser)]
#[command(name = "atrium", version)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply pending migrations, then serve (the default).
    Serve,
    /// Inspect and change the schema.
    Migrate {
        #[command(subcommand)]
        action: MigrateAction,
    },
    /// Create a super-admin (or reset one's password). The password comes from
    /// ATRIUM_PASSWORD or a prompt.
    CreateSuperadmin {
        #[arg(long)]
        email: String,
    },
    /// Turn off an account's two-factor sign-in (a lost phone and lost recovery codes) and end
    /// its sessions; where it is required, the owner sets it up again at the next sign-in.
    /// Audited as the system.
    ResetTwoFactor {
        #[arg(long)]
        email: String,
    },
    /// Issue, list and revoke API keys (audited as the system).
    ApiKey {
        #[command(subcommand)]
        action: ApiKeyAction,
    },
    /// Dump the database (pg_dump -Fc) with a manifest: schema version, time, size, sha256.
    Backup {
        /// The folder (default: ATRIUM_BACKUP_DIR).
        #[arg(long)]
        to: Option<std::path::PathBuf>,
    },
    /// Restore a dump made by `atrium backup` into an empty database (its manifest must match).
    Restore {
        file: std::path::PathBuf,
        /// Restore a dump that has no manifest (made some other way).
        #[arg(long)]
        unchecked: bool,
    },
    /// Pause every change (console banner; writes answer 503 with Retry-After; the worker
    /// sends nothing), or resume. Audited. Every process hears it within a second.
    Maintenance {
        #[command(subcommand)]
        action: MaintenanceAction,
    },
    /// Run only the delivery worker (any number may run beside `atrium serve`).
    Worker,
    /// Re-encrypt every integration credential under the current ATRIUM_SECRET_KEY. Set the
    /// old key in ATRIUM_SECRET_KEY_PREVIOUS while this runs; afterwards it can go.
    RotateSecret,
    /// Check and prune the audit log.
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Load demo companies and users. Refused when ATRIUM_ENV=production.
    Seed {
        #[arg(long, required = true)]
        demo: bool,
    },
}

#[derive(Subcommand)]
enum ApiKeyAction {
    /// Create a key and print it once.
    Create {
        #[arg(long)]
        company: String,
        #[arg(long)]
        name: String,
        /// Comma-separated, such as read:company,read:metrics.
        #[arg(long)]
        scopes: String,
        /// 90d, 12h, or never.
        #[arg(long, default_value = "90d")]
        expires_in: String,
        /// Requests per minute (none by default).
        #[arg(long)]
        rate_limit: Option<String>,
    },
    /// List a company's keys.
    List {
        #[arg(long)]
        company: String,
    },
    /// Revoke a key at once.
    Revoke { id: uuid::Uuid },
}

#[derive(Subcommand)]
enum MaintenanceAction {
    /// Turn maintenance mode on.
    On {
        /// What users are told (at most 500 characters).
        #[arg(long, default_value = "")]
        message: String,
    },
    /// Turn it off.
    Off,
    /// Show whether it is on.
    Status,
}

#[derive(Subcommand)]
enum AuditAction {
    /// Walk the hash chains (every company's and the platform's, or one company's) and
    /// report "intact, N rows" or the first row that breaks each. Exits 1 when one is broken.
    Verify {
        #[arg(long)]
        company: Option<String>,
    },
    /// Apply each company's retention (never below ATRIUM_AUDIT_MIN_RETENTION_DAYS) now; serve
    /// does this daily.
    Prune,
}

#[derive(Subcommand)]
enum MigrateAction {
    /// Show each migration: version, name, applied_at, duration and checksum state.
    Status,
    /// Apply pending migrations (up to --to V). In production a backup is taken first
    /// (skip it with --no-backup).
    Up {
        #[arg(long)]
        to: Option<i64>,
        /// Turn maintenance mode on for the migrations, and off after them when they succeed.
        #[arg(long)]
        maintenance: bool,
    },
    /// Revert migrations newer than --to V (default: only the latest). --to 0 reverts all.
    /// In production this needs --yes-destroy-data and takes a backup first.
    Down {
        #[arg(long)]
        to: Option<i64>,
        /// Confirm, in production, that the data the reverted migrations hold may go.
        #[arg(long)]
        yes_destroy_data: bool,
    },
    /// Run every applied migration's verify script.
    Verify,
}

#[tokio::main]
async fn main() {
    let _ = dotenvy::dotenv();
    if let Some(i) = atrium_server::input::args(std::env::args_os()) {
        eprintln!("error: argument {i} holds a control character (such as NUL), which Atrium does not accept");
        std::process::exit(2);
    }
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| "info,sqlx=warn,tower_sessions=warn".into());
    match cli.config.log_format {
        LogFormat::Text => tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init(),
        // One object per line; a line written while serving a request has span.request_id.
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
    }
    if let Err(e) = run(cli).await {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = cli.config;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => atrium_server::serve(config).await,
        Command::Migrate { action } => {
            let pool = connect(config.database_url()?).await?;
            match action {
                MigrateAction::Status => print_status(&pool).await,
                MigrateAction::Up { to, maintenance } => {
                    let started = std::time::Instant::now();
                    let window = if maintenance { maintenance_window(&pool).await? } else { false };
                    let run = migrate::Run::new("migrate up").with_backup(config.backup_before_migrating()?);
                    let ran = migrate::up_as(&pool, to, &run, |m, ms| {
                        println!("applied {:04} {:<24} {ms:>6} ms", m.version, m.name)
                    })
                    .await;
                    let ran = match ran {
                        Ok(ran) => ran,
                        Err(e) if window => {
                            anyhow::bail!(
                                "{e}\nmaintenance mode stays on: fix the cause and run this again, or \
                                 `atrium maintenance off`"
                            )
                        }
                        Err(e) => return Err(e.into()),
                    };
                    println!("{} migration(s) applied in {} ms", ran.len(), started.elapsed().as_millis());
                    if window {
                        atrium_server::switch_maintenance(&pool, false, "").await?;
                        println!("maintenance mode off");
                    } else if maintenance && atrium_server::maintenance_active(&pool).await? == Some(false) {
                        println!(
                            "(maintenance mode arrived with these migrations, so it could not be on while they ran)"
                        );
                    }
                    Ok(())
                }
                MigrateAction::Down { to, yes_destroy_data } => {
                    let to = match to {
                        Some(v) => v,
                        None => {
                            let mut conn = pool.acquire().await?;
                            let applied = migrate::applied(&mut conn).await?;
                            applied.iter().rev().nth(1).map(|a| a.version).unwrap_or(0)
                        }
                    };
                    let losses = migrate::down_losses(&pool, to).await?;
                    for (table, rows) in &losses {
                        println!("will drop {table} with {rows} row(s)");
                    }
                    let mut run = migrate::Run::new("migrate down");
                    if config.production() {
                        anyhow::ensure!(
                            yes_destroy_data,
                            "migrate down in production destroys data{}: run it again with --yes-destroy-data \
                             (a backup is taken first)",
                            if losses.is_empty() {
                                String::new()
                            } else {
                                format!(
                                    " ({})",
                                    losses.iter().map(|(t, n)| format!("{t}: {n} rows")).collect::<Vec<_>>().join(", ")
                                )
                            }
                        );
                        run = run.with_backup(Some(config.backup_plan()?));
                    }
                    let ran =
                        migrate::down_as(&pool, to, &run, |m| println!("reverted {:04} {}", m.version, m.name)).await?;
                    println!("{} migration(s) reverted", ran.len());
                    Ok(())
                }
                MigrateAction::Verify => {
                    let n = migrate::verify(&pool, |m| println!("ok {:04} {}", m.version, m.name)).await?;
                    println!("{n} verify script(s) passed");
                    Ok(())
                }
            }
        }
        Command::CreateSuperadmin { email } => {
            let password = match std::env::var("ATRIUM_PASSWORD") {
                Ok(p) => p,
                Err(_) if std::io::stdin().is_terminal() => prompt_password()?,
                Err(_) => anyhow::bail!("set ATRIUM_PASSWORD, or run in a terminal to be prompted"),
            };
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            let id = accounts::upsert_user(&pool, &email, "", &password, app::domain::Role::SuperAdmin, None).await?;
            println!("super-admin {email} ready (id {id})");
            Ok(())
        }
        Command::ResetTwoFactor { email } => {
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            if accounts::reset_two_factor(&pool, &email).await? {
                println!("two-factor sign-in of {email} is off and its sessions ended");
            } else {
                println!("{email} had no two-factor sign-in; nothing changed");
            }
            Ok(())
        }
        Command::ApiKey { action } => {
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            match action {
                ApiKeyAction::Create { company, name, scopes, expires_in, rate_limit } => {
                    let pepper = app::api_keys::secret::Pepper::derive(&config.secret_key()?);
                    let key = atrium_server::api_key_cli::create(
                        &pool,
                        &pepper,
                        &company,
                        &name,
                        &scopes,
                        &expires_in,
                        rate_limit.as_deref(),
                    )
                    .await?;
                    println!("{key}");
                }
                ApiKeyAction::List { company } => {
                    for line in atrium_server::api_key_cli::list(&pool, &company).await? {
                        println!("{line}");
                    }
                }
                ApiKeyAction::Revoke { id } => {
                    atrium_server::api_key_cli::revoke(&pool, id).await?;
                    println!("revoked {id}");
                }
            }
            Ok(())
        }
        Command::Backup { to } => {
            let pool = connect(config.database_url()?).await?;
            let version = atrium_server::backup::schema_version(&pool).await?;
            let dir = to.unwrap_or_else(|| config.backup_dir());
            let b = atrium_server::backup::take(config.database_url()?, &dir, version).await?;
            println!(
                "backup {} ({} bytes, schema version {}, sha256 {})",
                b.path.display(),
                b.manifest.size,
                b.manifest.schema_version,
                b.manifest.sha256
            );
            Ok(())
        }
        Command::Restore { file, unchecked } => {
            let pool = connect(config.database_url()?).await?;
            let manifest = atrium_server::backup::restore(&pool, config.database_url()?, &file, unchecked).await?;
            match manifest {
                Some(m) => println!(
                    "restored {} (schema version {}, taken {}); the server applies newer migrations when it starts",
                    file.display(),
                    m.schema_version,
                    m.created_at
                ),
                None => println!("restored {} (it had no manifest, so it was not checked)", file.display()),
            }
            Ok(())
        }
        Command::Maintenance { action } => {
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            let status = match action {
                MaintenanceAction::On { message } => atrium_server::switch_maintenance(&pool, true, &message).await?,
                MaintenanceAction::Off => atrium_server::switch_maintenance(&pool, false, "").await?,
                MaintenanceAction::Status => {
                    let mut conn = pool.acquire().await?;
                    app::maintenance::read(&mut conn).await?
                }
            };
            println!(
                "maintenance mode {}{}",
                if status.active { "on" } else { "off" },
                if status.active && !status.message.is_empty() {
                    format!(": {}", status.message)
                } else {
                    String::new()
                }
            );
            Ok(())
        }
        Command::Worker => atrium_server::run_worker(config).await,
        Command::RotateSecret => {
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            let keyring = config.keyring()?;
            let peppers = config.peppers()?;
            let r = atrium_server::housekeeping::rotate_secret(&pool, &keyring, &peppers.current).await?;
            println!("re-encrypted {} credential set(s) under key version {}", r.resealed, keyring.current_version());
            println!("re-encrypted {} two-factor secret(s)", r.two_factor_resealed);
            if r.recovery_codes_left > 0 {
                println!(
                    "{} account(s) have recovery codes hashed under an earlier secret: they work while \
                     ATRIUM_SECRET_KEY_PREVIOUS is set; ask their owners to make new codes",
                    r.recovery_codes_left
                );
            }
            if r.keys_left == 0 && r.recovery_codes_left == 0 {
                println!("every live API key and recovery code is under the current secret; ATRIUM_SECRET_KEY_PREVIOUS can go");
            } else if r.keys_left == 0 {
                println!("every live API key is hashed under the current secret");
            } else {
                println!(
                    "{} live API key(s) still hashed under an earlier secret: each moves when it is next used \
                     while ATRIUM_SECRET_KEY_PREVIOUS is set (only a keyed hash is stored, so none can move \
                     before); run this again to see what is left",
                    r.keys_left
                );
            }
            Ok(())
        }
        Command::Audit { action } => {
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            match action {
                AuditAction::Verify { company } => {
                    let reports = atrium_server::housekeeping::verify_audit(&pool, company.as_deref()).await?;
                    for r in &reports {
                        println!("{r}");
                    }
                    let broken = reports.iter().filter(|r| r.broken.is_some()).count();
                    anyhow::ensure!(broken == 0, "{broken} of {} chain(s) broken", reports.len());
                    Ok(())
                }
                AuditAction::Prune => {
                    let r =
                        app::audit::retention::prune(&pool, time::OffsetDateTime::now_utc(), &config.audit_policy()?)
                            .await
                            .map_err(|e| anyhow::anyhow!("{e}"))?;
                    if r.skipped {
                        println!("another process is pruning; nothing done");
                    } else {
                        println!(
                            "removed {} audit row(s) from {} chain(s) and {} API usage row(s)",
                            r.audit_rows(),
                            r.chains.len(),
                            r.usage_rows
                        );
                    }
                    Ok(())
                }
            }
        }
        Command::Seed { .. } => {
            anyhow::ensure!(!config.production(), "seed --demo is refused when ATRIUM_ENV=production");
            let pool = connect(config.database_url()?).await?;
            bring_current(&pool, &config).await?;
            accounts::seed_demo(&pool, &config).await
        }
    }
}

/// Applies pending migrations before a command works on the database, with the backup that
/// production takes first (as `serve` and `migrate up` do).
async fn bring_current(pool: &sqlx::PgPool, config: &Config) -> anyhow::Result<()> {
    let command = std::env::args().skip(1).find(|a| !a.starts_with('-')).unwrap_or_default();
    let run = migrate::Run::new(&command).with_backup(config.backup_before_migrating()?);
    migrate::up_as(pool, None, &run, |m, ms| eprintln!("applied migration {:04} {} in {ms} ms", m.version, m.name))
        .await?;
    Ok(())
}

/// Turns maintenance mode on for `migrate up --maintenance`; true when this run turned it on
/// (and so turns it off after).
async fn maintenance_window(pool: &sqlx::PgPool) -> anyhow::Result<bool> {
    match atrium_server::maintenance_active(pool).await? {
        Some(false) => {
            atrium_server::switch_maintenance(pool, true, "Atrium is being upgraded.").await?;
            println!("maintenance mode on");
            Ok(true)
        }
        Some(true) => {
            println!("maintenance mode was already on; it stays on");
            Ok(false)
        }
        None => Ok(false),
    }
}

fn prompt_password() -> anyhow::Result<String> {
    use std::io::{BufRead, Write};
    eprint!("Password (at least 12 characters; input is shown): ");
    std::io::stderr().flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

async fn print_status(pool: &sqlx::PgPool) -> anyhow::Result<()> {
    let rows = migrate::status(pool).await?;
    println!("{:<8} {:<24} {:<10} {:<21} {:>8}  checksum", "version", "name", "state", "applied_at (UTC)", "ms");
    for r in &rows {
        let state = match r.state {
            migrate::State::Applied => "applied",
            migrate::State::Pending => "pending",
            migrate::State::Modified => "MODIFIED",
            migrate::State::Unknown => "UNKNOWN",
        };
        let (at, ms, sum) = match &r.applied {
            Some(a) => (
                a.applied_at
                    .replace_nanosecond(0)
                    .unwrap_or(a.applied_at)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default(),
                a.duration_ms.to_string(),
                if r.state == migrate::State::Modified {
                    "mismatch".to_string()
                } else {
                    format!("ok {}", &a.checksum[..12])
                },
            ),
            None => ("-".into(), "-".into(), "-".into()),
        };
        println!("{:<8} {:<24} {:<10} {:<21} {:>8}  {}", format!("{:04}", r.version), r.name, state, at, ms, sum);
    }
    let log = migrate::log(pool, 10).await?;
    if !log.is_empty() {
        println!("\nmigration log (newest first; all of it: SELECT * FROM schema_migration_log ORDER BY id DESC)");
        for e in &log {
            let at = e
                .started_at
                .replace_nanosecond(0)
                .unwrap_or(e.started_at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            println!(
                "{at}  {:<4} {:04} {:<24} {:<8} {:>6} ms  {} on {}{}",
                e.direction,
                e.version,
                e.name,
                e.outcome,
                e.duration_ms,
                e.run_by,
                e.host,
                e.backup.as_deref().map(|b| format!("  backup {b}")).unwrap_or_default()
            );
            if let Some(err) = &e.error {
                println!("      error: {}", err.lines().next().unwrap_or_default());
            }
        }
    }
    let pending = rows.iter().filter(|r| r.state == migrate::State::Pending).count();
    let bad = rows.iter().filter(|r| matches!(r.state, migrate::State::Modified | migrate::State::Unknown)).count();
    println!(
        "\n{} applied, {pending} pending{}",
        rows.len() - pending - bad,
        if bad > 0 { format!(", {bad} with problems") } else { String::new() }
    );
    anyhow::ensure!(bad == 0, "the database does not match this binary's migrations");
    Ok(())
}
