//! Integration configs' operations, as `(conn, &Op, input)` in the caller's transaction. Credentials are sealed before they reach the database and
//! opened only on the server; the audit log records that they changed, never their value.
use super::crypto::Keyring;
use super::platform::{self, Credentials};
use super::{CredentialState, IntegrationDetail, IntegrationSummary, Platform};
use crate::audit::record::{diff, Op};
use crate::audit::{Action, Severity};
use crate::error::{AppError, Fields};
use crate::ui::time::rfc3339;
use serde_json::{json, Value};
use sqlx::PgConnection;
use uuid::Uuid;

/// The console's form, parsed.
pub struct ConfigInput {
    pub enabled: bool,
    pub endpoint: String,
    pub config: Value,
    pub api_token: Option<String>,
    pub clear_api_token: bool,
    pub signing_secret: Option<String>,
}

impl ConfigInput {
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        platform: Platform,
        enabled: bool,
        endpoint: &str,
        config: &str,
        api_token: &str,
        clear_api_token: bool,
        signing_secret: &str,
        allow_loopback_http: bool,
    ) -> Result<ConfigInput, AppError> {
        let mut f = Fields::default();
        let endpoint = f.check("endpoint", platform::parse_endpoint(endpoint, allow_loopback_http));
        let config = f.check("config", platform::parse_config(platform, config));
        let api_token = f.check(
            "api_token",
            if api_token.trim().is_empty() { Ok(None) } else { platform::parse_api_token(api_token).map(Some) },
        );
        let signing_secret = f.check(
            "signing_secret",
            if signing_secret.trim().is_empty() {
                Ok(None)
            } else {
                platform::parse_signing_secret(signing_secret).map(Some)
            },
        );
        f.finish()?;
        Ok(ConfigInput {
            enabled,
            endpoint: endpoint.expect("checked"),
            config: config.expect("checked"),
            api_token: api_token.expect("checked"),
            clear_api_token,
            signing_secret: signing_secret.expect("checked"),
        })
    }
}

struct Row {
    id: Uuid,
    enabled: bool,
    api_endpoint: Option<String>,
    credentials: Option<(Vec<u8>, i32)>,
    credentials_changed_at: Option<time::OffsetDateTime>,
    config: Value,
    last_synced_at: Option<time::OffsetDateTime>,
    last_sync_status: Option<String>,
    error_message: Option<String>,
}

async fn load(conn: &mut PgConnection, company: Uuid, platform: Platform) -> Result<Option<Row>, AppError> {
    let row = sqlx::query!(
        "SELECT id, enabled, api_endpoint, credentials_encrypted, credentials_key_version, credentials_changed_at,
                config, last_synced_at, last_sync_status, error_message
           FROM integration_configs WHERE company_id = $1 AND platform = $2",
        company,
        platform.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?;
    Ok(row.map(|r| Row {
        id: r.id,
        enabled: r.enabled,
        api_endpoint: r.api_endpoint,
        credentials: r.credentials_encrypted.zip(r.credentials_key_version),
        credentials_changed_at: r.credentials_changed_at,
        config: r.config,
        last_synced_at: r.last_synced_at,
        last_sync_status: r.last_sync_status,
        error_message: r.error_message,
    }))
}

/// Serialises edits of one company's platform config (the row may not exist yet).
async fn lock(conn: &mut PgConnection, company: Uuid, platform: Platform) -> Result<(), AppError> {
    let key = format!("integration:{company}:{}", platform.as_str());
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtextextended($1, 0)) AS locked", key).fetch_one(conn).await?;
    Ok(())
}

pub fn open_credentials(
    keyring: &Keyring,
    company: Uuid,
    platform: Platform,
    endpoint: Option<&str>,
    sealed: Option<&(Vec<u8>, i32)>,
) -> Result<Credentials, AppError> {
    let Some((bytes, version)) = sealed else {
        return Ok(Credentials::default());
    };
    let plain = keyring
        .open(company, platform.as_str(), &platform::origin(endpoint.unwrap_or("")), bytes, *version)
        .map_err(|e| crate::server_ctx::internal(format!("integration credentials for {company}/{platform:?}: {e}")))?;
    serde_json::from_slice(&plain).map_err(|_| crate::server_ctx::internal("integration credentials are not JSON"))
}

fn summary(platform: Platform, row: Option<&Row>, failed: i64) -> IntegrationSummary {
    IntegrationSummary {
        platform,
        configured: row.is_some(),
        enabled: row.is_some_and(|r| r.enabled),
        endpoint: row.and_then(|r| r.api_endpoint.clone()),
        last_synced: row.and_then(|r| r.last_synced_at).map(rfc3339),
        last_status: row.and_then(|r| r.last_sync_status.clone()),
        last_error: row.and_then(|r| r.error_message.clone()),
        failed_deliveries: failed,
    }
}

async fn failed_count(conn: &mut PgConnection, company: Uuid, platform: Option<Platform>) -> Result<i64, AppError> {
    Ok(sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM integration_delivery_log
            WHERE company_id = $1 AND status = 'failed' AND ($2::text IS NULL OR platform = $2)"#,
        company,
        platform.map(|p| p.as_str()),
    )
    .fetch_one(conn)
    .await?)
}

pub async fn list(conn: &mut PgConnection, company: Uuid) -> Result<Vec<IntegrationSummary>, AppError> {
    let mut out = Vec::new();
    for p in Platform::ALL {
        let row = load(conn, company, p).await?;
        let failed = if row.is_some() { failed_count(conn, company, Some(p)).await? } else { 0 };
        out.push(summary(p, row.as_ref(), failed));
    }
    Ok(out)
}

pub async fn detail(
    conn: &mut PgConnection,
    keyring: &Keyring,
    company: Uuid,
    platform: Platform,
) -> Result<IntegrationDetail, AppError> {
    let row = load(conn, company, platform).await?;
    let failed = if row.is_some() { failed_count(conn, company, Some(platform)).await? } else { 0 };
    let creds = open_credentials(
        keyring,
        company,
        platform,
        row.as_ref().and_then(|r| r.api_endpoint.as_deref()),
        row.as_ref().and_then(|r| r.credentials.as_ref()),
    )?;
    Ok(IntegrationDetail {
        summary: summary(platform, row.as_ref(), failed),
        config: row
            .as_ref()
            .map(|r| serde_json::to_string_pretty(&r.config).unwrap_or_default())
            .unwrap_or_else(|| "{}".into()),
        settings: platform::fields(platform)
            .iter()
            .map(|f| (f.key.to_string(), f.required, f.help.to_string()))
            .collect(),
        credentials: CredentialState {
            api_token: creds.api_token.is_some(),
            signing_secret: creds.signing_secret.is_some(),
            changed: row.as_ref().and_then(|r| r.credentials_changed_at).map(rfc3339),
        },
        recent: Vec::new(),
        can_write: false,
        can_replay: false,
    })
}

fn public_view(enabled: bool, endpoint: Option<&str>, config: &Value, credentials: &str) -> Value {
    json!({ "enabled": enabled, "api_endpoint": endpoint, "config": config, "credentials": credentials })
}

/// Creates or updates the company's config for `platform`, sealing any new credentials.
pub async fn save(
    conn: &mut PgConnection,
    op: &Op,
    keyring: &Keyring,
    platform: Platform,
    input: ConfigInput,
) -> Result<(), AppError> {
    let company = op.company;
    lock(conn, company, platform).await?;
    let existing = load(conn, company, platform).await?;
    let old_endpoint = existing.as_ref().and_then(|r| r.api_endpoint.as_deref());
    let had_credentials = existing.as_ref().is_some_and(|r| r.credentials.is_some());
    let origin = platform::origin(&input.endpoint);
    // Stored credentials go only where they were entered for: a new host needs them again, so
    // a token cannot be redirected to a host of someone else's choosing.
    let moved = had_credentials && platform::origin(old_endpoint.unwrap_or("")) != origin;
    if moved && input.signing_secret.is_none() {
        return Err(AppError::field(
            "signing_secret",
            "The endpoint's host changed, so the stored credentials were not carried over. Enter the signing secret \
             (and the API token, if the receiver needs one) again.",
        ));
    }
    let mut creds = if moved {
        Credentials::default()
    } else {
        open_credentials(
            keyring,
            company,
            platform,
            old_endpoint,
            existing.as_ref().and_then(|r| r.credentials.as_ref()),
        )?
    };
    let mut changed = moved;
    if let Some(t) = input.api_token {
        changed |= creds.api_token.as_deref() != Some(t.as_str());
        creds.api_token = Some(t);
    } else if input.clear_api_token && creds.api_token.is_some() {
        creds.api_token = None;
        changed = true;
    }
    if let Some(s) = input.signing_secret {
        changed |= creds.signing_secret.as_deref() != Some(s.as_str());
        creds.signing_secret = Some(s);
    }
    if input.enabled && creds.signing_secret.is_none() {
        return Err(AppError::field(
            "signing_secret",
            "Set a signing secret before enabling: receivers use it to check each delivery came from Atrium.",
        ));
    }
    let before = match &existing {
        Some(r) => public_view(
            r.enabled,
            r.api_endpoint.as_deref(),
            &r.config,
            if r.credentials.is_some() { "set" } else { "not set" },
        ),
        None => json!({}),
    };
    let cred_label = if changed {
        "changed"
    } else if existing.as_ref().is_some_and(|r| r.credentials.is_some()) {
        "set"
    } else {
        "not set"
    };
    let after = public_view(input.enabled, Some(&input.endpoint), &input.config, cred_label);
    if existing.is_some() && before == after {
        // Saved as it was: nothing to write, nothing to audit.
        return Ok(());
    }
    let sealed = changed.then(|| {
        let plain = serde_json::to_vec(&creds).expect("credentials serialize");
        keyring.seal(company, platform.as_str(), &origin, &plain)
    });
    let (bytes, version) = match sealed {
        Some((b, v)) => (Some(b), Some(v)),
        None => (None, None),
    };
    sqlx::query!(
        r#"INSERT INTO integration_configs (company_id, platform, enabled, api_endpoint, config,
                                            credentials_encrypted, credentials_key_version, credentials_changed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $6::bytea IS NULL THEN NULL ELSE now() END)
           ON CONFLICT (company_id, platform) DO UPDATE SET
             enabled = EXCLUDED.enabled, api_endpoint = EXCLUDED.api_endpoint, config = EXCLUDED.config,
             credentials_encrypted = coalesce(EXCLUDED.credentials_encrypted, integration_configs.credentials_encrypted),
             credentials_key_version = coalesce(EXCLUDED.credentials_key_version, integration_configs.credentials_key_version),
             credentials_changed_at = coalesce(EXCLUDED.credentials_changed_at, integration_configs.credentials_changed_at)"#,
        company,
        platform.as_str(),
        input.enabled,
        input.endpoint,
        input.config,
        bytes,
        version,
    )
    .execute(&mut *conn)
    .await?;
    let mut details = diff(&before, &after);
    details["platform"] = json!(platform.as_str());
    op.record(
        conn,
        op.event(Action::IntegrationUpdate, "integration")
            .resource_id(Some(platform.as_str().into()))
            .severity(if changed { Severity::Warning } else { Severity::Info })
            .details(details),
    )
    .await
}

pub async fn disable(conn: &mut PgConnection, op: &Op, platform: Platform) -> Result<(), AppError> {
    let company = op.company;
    let was = sqlx::query_scalar!(
        "SELECT enabled FROM integration_configs WHERE company_id = $1 AND platform = $2 FOR UPDATE",
        company,
        platform.as_str()
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or(AppError::NotFound)?;
    if !was {
        return Err(AppError::Conflict(format!("{} is already disabled.", platform.label())));
    }
    sqlx::query!(
        "UPDATE integration_configs SET enabled = false WHERE company_id = $1 AND platform = $2",
        company,
        platform.as_str()
    )
    .execute(&mut *conn)
    .await?;
    op.record(
        conn,
        op.event(Action::IntegrationDisable, "integration")
            .resource_id(Some(platform.as_str().into()))
            .severity(Severity::Warning)
            .details(
                json!({ "platform": platform.as_str(), "before": { "enabled": true }, "after": { "enabled": false } }),
            ),
    )
    .await
}

/// Re-seals every stored credential under the keyring's current key. Runs as the schema
/// owner (all companies); returns how many rows were re-sealed.
pub async fn reseal_all(conn: &mut PgConnection, keyring: &Keyring) -> Result<u64, AppError> {
    let rows = sqlx::query!(
        r#"SELECT id, company_id, platform, api_endpoint, credentials_encrypted AS "sealed!",
                  credentials_key_version AS "version!"
             FROM integration_configs
            WHERE credentials_encrypted IS NOT NULL AND credentials_key_version <> $1
            FOR UPDATE"#,
        keyring.current_version()
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut n = 0;
    for r in rows {
        let origin = platform::origin(r.api_endpoint.as_deref().unwrap_or(""));
        let plain = keyring
            .open(r.company_id, &r.platform, &origin, &r.sealed, r.version)
            .map_err(|e| AppError::Conflict(format!("integration {} ({}): {e}", r.id, r.platform)))?;
        let (sealed, version) = keyring.seal(r.company_id, &r.platform, &origin, &plain);
        sqlx::query!(
            "UPDATE integration_configs SET credentials_encrypted = $2, credentials_key_version = $3 WHERE id = $1",
            r.id,
            sealed,
            version
        )
        .execute(&mut *conn)
        .await?;
        n += 1;
    }
    Ok(n)
}

/// The config id the outbox needs, if the integration exists and is enabled.
pub async fn enabled_config(conn: &mut PgConnection, company: Uuid, platform: Platform) -> Result<Uuid, AppError> {
    let row = load(conn, company, platform).await?;
    match row {
        None => Err(AppError::Conflict(format!("{} is not configured for this company.", platform.label()))),
        Some(r) if !r.enabled => {
            Err(AppError::Conflict(format!("{} is disabled. Enable it before sending deliveries.", platform.label())))
        }
        Some(r) => Ok(r.id),
    }
}
