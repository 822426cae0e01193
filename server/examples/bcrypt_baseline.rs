//! The source document's API-key design, as a baseline for `bench/api_keys.py`: keys stored
//! as bcrypt hashes (002/M003 `key_hash -- bcrypt`), so each request finds the candidate row
//! by its display prefix and then runs bcrypt. Same stack as Atrium: axum, tokio, sqlx.
//!
//! Usage: DATABASE_URL=... bcrypt_baseline <port>   (prints the key it seeded, then serves
//! POST /verify {"key": "..."}).
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};
use sqlx::PgPool;

const COST: u32 = 10;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("DATABASE_URL")?;
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(3100);
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(20).connect(&url).await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS bcrypt_api_keys;
         CREATE TABLE bcrypt_api_keys (id SERIAL PRIMARY KEY, key_prefix TEXT NOT NULL, key_hash TEXT NOT NULL,
                                       company_id INT NOT NULL, scopes TEXT[] NOT NULL);
         CREATE INDEX ON bcrypt_api_keys (key_prefix);",
    )
    .execute(&pool)
    .await?;
    let key = app::api_keys::secret::ApiKeySecret::generate();
    let hash = bcrypt::hash(key.expose(), COST)?;
    sqlx::query(
        "INSERT INTO bcrypt_api_keys (key_prefix, key_hash, company_id, scopes) VALUES ($1, $2, 1, '{read:metrics}')",
    )
    .bind(key.display_prefix())
    .bind(hash)
    .execute(&pool)
    .await?;
    println!("{}", key.expose());
    let app = Router::new().route("/verify", post(verify)).with_state(pool);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    axum::serve(listener, app).await?;
    Ok(())
}

async fn verify(State(pool): State<PgPool>, Json(body): Json<Value>) -> Json<Value> {
    let key = body["key"].as_str().unwrap_or_default().to_string();
    let prefix: String = key.chars().take(13).collect();
    let rows: Vec<(i32, String, i32, Vec<String>)> =
        sqlx::query_as("SELECT id, key_hash, company_id, scopes FROM bcrypt_api_keys WHERE key_prefix = $1")
            .bind(prefix)
            .fetch_all(&pool)
            .await
            .unwrap_or_default();
    for (id, hash, company, scopes) in rows {
        let candidate = key.clone();
        // bcrypt is CPU-bound: off the async workers, as a careful implementation would do.
        let ok = tokio::task::spawn_blocking(move || bcrypt::verify(candidate, &hash).unwrap_or(false))
            .await
            .unwrap_or(false);
        if ok {
            return Json(json!({ "valid": true, "key_id": id, "company_id": company, "scopes": scopes }));
        }
    }
    Json(json!({ "valid": false }))
}
