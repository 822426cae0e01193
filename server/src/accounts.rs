//! Accounts made from the command line: the super-admin, the first-run account and demo data.
use crate::config::{write_private, Config};
use app::audit::record::{record, Event, Op, Who};
use app::audit::{Action, Severity};
use app::domain::{Email, Role};
use app::server_ctx::RequestMeta;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

fn cli_meta() -> RequestMeta {
    RequestMeta {
        request_id: format!("cli-{}", &Uuid::now_v7().simple().to_string()[..12]),
        ip: None,
        user_agent: Some("atrium-cli".into()),
    }
}

pub fn random_password() -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::thread_rng();
    (0..20).map(|_| CHARS[rng.gen_range(0..CHARS.len())] as char).collect()
}

/// Creates a user (or resets the password of an existing one with the same email), audited
/// with the system actor.
pub async fn upsert_user(
    pool: &PgPool,
    email: &str,
    name: &str,
    password: &str,
    role: Role,
    company_id: Option<Uuid>,
) -> anyhow::Result<Uuid> {
    let mut tx = pool.begin().await?;
    let id = upsert_user_in(&mut tx, email, name, password, role, company_id).await?;
    tx.commit().await?;
    Ok(id)
}

async fn upsert_user_in(
    tx: &mut sqlx::PgConnection,
    email: &str,
    name: &str,
    password: &str,
    role: Role,
    company_id: Option<Uuid>,
) -> anyhow::Result<Uuid> {
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("--email: {e}"))?;
    app::auth::password::validate_new_password(password).map_err(|e| anyhow::anyhow!("password: {e}"))?;
    let hash = app::auth::password::hash(password.to_string()).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    // xmax = 0 tells a fresh insert from an update of an existing row.
    let row = sqlx::query!(
        r#"INSERT INTO users (email, name, password_hash, role, company_id, status)
           VALUES ($1, $2, $3, $4, $5, 'ACTIVE')
           ON CONFLICT (lower(email)) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role,
             company_id = EXCLUDED.company_id, status = 'ACTIVE'
           RETURNING id, (xmax = 0) AS "inserted!""#,
        email.as_str(),
        name,
        &hash,
        role as Role,
        company_id,
    )
    .fetch_one(&mut *tx)
    .await?;
    let (id, inserted) = (row.id, row.inserted);
    record(
        tx,
        &Who::system(),
        &cli_meta(),
        Event::new(if inserted { Action::UserCreate } else { Action::UserPasswordReset }, "user")
            .company(company_id)
            .on(id)
            .severity(if role == Role::SuperAdmin { Severity::Warning } else { Severity::Info })
            .details(json!({ "email": email.as_str(), "role": role, "via": "cli" })),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(id)
}

/// In development, the first start creates a super-admin and says how to sign in.
pub async fn first_run_superadmin(pool: &PgPool, config: &Config, addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let file = config.data_dir.join("admin-password.txt");
    let password = random_password();
    // Servers starting together: the lock lets exactly one of them create the account.
    let mut tx = pool.begin().await?;
    sqlx::query!("SELECT pg_advisory_xact_lock(7365283947)").execute(&mut *tx).await?;
    let exists = sqlx::query_scalar!(r#"SELECT EXISTS (SELECT 1 FROM users WHERE role = 'SUPER_ADMIN') AS "exists!""#)
        .fetch_one(&mut *tx)
        .await?;
    if exists {
        if file.exists() {
            println!(
                "Atrium: sign in at http://{addr}/login as admin@atrium.local; the password is in {}",
                file.display()
            );
        }
        return Ok(());
    }
    upsert_user_in(&mut tx, "admin@atrium.local", "Atrium Admin", &password, Role::SuperAdmin, None).await?;
    std::fs::create_dir_all(&config.data_dir)?;
    write_private(&file, &format!("{password}\n"))?;
    tx.commit().await?;
    println!();
    println!("  Atrium is ready. Sign in:");
    println!("    URL:      http://{addr}/login");
    println!("    Email:    admin@atrium.local");
    println!("    Password: in {} (readable only by you)", file.display());
    println!();
    Ok(())
}

/// Demo companies, each with an admin, a manager and a viewer.
/// A first SROI override with its history row, so the weights pages have something to show.
async fn seed_weights(pool: &PgPool, company: uuid::Uuid, meta: &app::server_ctx::RequestMeta) -> anyhow::Result<()> {
    use app::weights::{catalogue::WeightSet, Category};
    let exists = sqlx::query_scalar!("SELECT count(*) AS \"n!\" FROM weight_overrides WHERE company_id = $1", company)
        .fetch_one(pool)
        .await?;
    if exists > 0 {
        return Ok(());
    }
    let set =
        WeightSet::from_json(Category::Sroi, &serde_json::json!({ "volunteer_hour_value": 34.79, "deadweight": 0.15 }))
            .map_err(|e| anyhow::anyhow!("demo weights: {e:?}"))?;
    let mut tx = pool.begin().await?;
    app::weights::service::save(
        &mut tx,
        &Op { company, who: Who::system(), meta: meta.clone() },
        &set,
        "Demo data: the 2025 Independent Sector rate",
        app::audit::Action::WeightsUpdate,
        serde_json::json!({}),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(())
}

pub async fn seed_demo(pool: &PgPool, config: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(!config.production(), "seed --demo is refused when ATRIUM_ENV=production");
    let password = random_password();
    let meta = cli_meta();
    for name in ["Acme Corporation", "Globex", "Initech", "Crème Brûlée & Co."] {
        let existing =
            sqlx::query_scalar!("SELECT id FROM companies WHERE name = $1", name).fetch_optional(pool).await?;
        let company = match existing {
            Some(id) => id,
            None => app::companies::service::create_as(pool, &Who::system(), &meta, name, "")
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        };
        let slug = sqlx::query_scalar!("SELECT slug FROM companies WHERE id = $1", company).fetch_one(pool).await?;
        for (role, label) in [(Role::Admin, "admin"), (Role::Manager, "manager"), (Role::Viewer, "viewer")] {
            let email = format!("{label}@{slug}.example");
            upsert_user(
                pool,
                &email,
                &format!("{} {}", name.split_whitespace().next().unwrap_or(name), role.label()),
                &password,
                role,
                Some(company),
            )
            .await?;
            println!("  {email:<40} {}", role.label());
        }
        seed_weights(pool, company, &meta).await?;
    }
    let file = config.data_dir.join("demo-password.txt");
    std::fs::create_dir_all(&config.data_dir)?;
    write_private(&file, &format!("{password}\n"))?;
    println!("All demo users share one password, written to {}", file.display());
    Ok(())
}

/// `atrium reset-two-factor`: clears the account's second factor and ends its sessions, with
/// the audit row in the same transaction. False when it had none.
pub async fn reset_two_factor(pool: &PgPool, email: &str) -> anyhow::Result<bool> {
    use app::audit::record::{record, Event, Who};
    let email = app::domain::Email::parse(email).map_err(|m| anyhow::anyhow!("{m}"))?;
    let mut tx = pool.begin().await?;
    let user = sqlx::query_scalar!("SELECT id FROM users WHERE lower(email) = lower($1)", email.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no account has the email {}", email.as_str()))?;
    let cleared =
        app::two_factor::service::reset_by_operator(&mut tx, user).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    if cleared {
        record(
            &mut tx,
            &Who::system(),
            &crate::cli_meta(),
            Event::new(app::audit::Action::UserTwoFactorReset, "user")
                .on(user)
                .severity(app::audit::Severity::Warning)
                .details(serde_json::json!({ "email": email.as_str(), "via": "cli" })),
        )
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    tx.commit().await?;
    Ok(cleared)
}
