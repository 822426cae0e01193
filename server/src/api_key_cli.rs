//! `atrium api-key create|list|revoke`: first setup and automation. Each change is audited
//! with the system actor, in the same transaction as the change.
use app::api_keys::secret::Pepper;
use app::api_keys::service::{self, Expiry, NewKey};
use app::audit::record::{Op, Who};
use sqlx::PgPool;
use uuid::Uuid;

async fn company_id(pool: &PgPool, slug: &str) -> anyhow::Result<Uuid> {
    sqlx::query_scalar!("SELECT id FROM companies WHERE slug = $1 AND deleted_at IS NULL", slug)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no company has the slug \u{201c}{slug}\u{201d}"))
}

/// Prints the new key (once) on stdout, and a summary on stderr.
pub async fn create(
    pool: &PgPool,
    pepper: &Pepper,
    slug: &str,
    name: &str,
    scopes: &str,
    expires_in: &str,
    rate_limit: Option<&str>,
) -> anyhow::Result<String> {
    let company = company_id(pool, slug).await?;
    let new = NewKey {
        name: service::parse_name(name).map_err(anyhow::Error::msg)?,
        scopes: service::parse_scopes(&[scopes.to_string()]).map_err(anyhow::Error::msg)?,
        expiry: Expiry::parse_duration(expires_in).map_err(anyhow::Error::msg)?,
        rate_limit: service::parse_rate_limit(rate_limit.unwrap_or("")).map_err(anyhow::Error::msg)?,
    };
    let mut tx = pool.begin().await?;
    let issued =
        service::create(&mut tx, &Op { company, who: Who::system(), meta: crate::cli_meta() }, pepper, &new, None)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    eprintln!(
        "created key {} \u{201c}{}\u{201d} for {slug}{}; it is shown once:",
        issued.id,
        issued.name,
        issued.expires.as_ref().map(|e| format!(", expires {}", e.iso)).unwrap_or_else(|| ", never expires".into())
    );
    Ok(issued.secret)
}

pub async fn list(pool: &PgPool, slug: &str) -> anyhow::Result<Vec<String>> {
    let company = company_id(pool, slug).await?;
    let mut conn = pool.acquire().await?;
    let (rows, _) = service::list(&mut conn, company, None, false).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut lines =
        vec![format!("{:<36}  {:<24}  {:<18}  {:<13}  {:<20}  scopes", "id", "name", "key", "status", "expires")];
    for k in rows {
        lines.push(format!(
            "{:<36}  {:<24}  {:<18}  {:<13}  {:<20}  {}",
            k.id,
            k.name.chars().take(24).collect::<String>(),
            format!("{}…{}", k.prefix, k.last4),
            k.status.label(),
            k.expires.map(|e| e.iso).unwrap_or_else(|| "never".into()),
            k.scopes.join(",")
        ));
    }
    Ok(lines)
}

pub async fn revoke(pool: &PgPool, id: Uuid) -> anyhow::Result<()> {
    let company = sqlx::query_scalar!("SELECT company_id FROM api_keys WHERE id = $1", id)
        .fetch_optional(pool)
        .await?
        .ok_or_else(|| anyhow::anyhow!("no API key has the id {id}"))?;
    let mut tx = pool.begin().await?;
    service::revoke(&mut tx, &Op { company, who: Who::system(), meta: crate::cli_meta() }, id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tx.commit().await?;
    Ok(())
}
