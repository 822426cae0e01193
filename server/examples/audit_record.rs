//! The cost of `audit::record` in a transaction (bench/audit.py runs this). Each sample is
//! one transaction as a request makes it, as atrium_app under row-level security: begin,
//! scope to the company, change one row, [write the audit row, chained by the trigger],
//! commit. The two kinds alternate so both see the same conditions; prints p50 and p95 of
//! each, the p50 overhead, and the ratio.
//!
//! Usage: audit_record DATABASE_URL COMPANY_ID [SAMPLES]
use app::audit::record::{record, Event, Who};
use app::audit::{Action, Severity};
use app::server_ctx::RequestMeta;
use std::time::Instant;
use uuid::Uuid;

async fn one(pool: &sqlx::PgPool, company: Uuid, audited: bool) -> f64 {
    let started = Instant::now();
    let mut tx = app::db::tenant(pool, company, None).await.unwrap();
    sqlx::query("UPDATE companies SET updated_at = now() WHERE id = $1").bind(company).execute(&mut *tx).await.unwrap();
    if audited {
        let meta = RequestMeta {
            request_id: "bench".into(),
            ip: Some("127.0.0.1".parse().unwrap()),
            user_agent: Some("bench".into()),
        };
        record(
            &mut tx,
            &Who::system(),
            &meta,
            Event {
                company_id: Some(company),
                action: Action::CompanyUpdate,
                resource: "company",
                resource_id: Some(company.to_string()),
                severity: Severity::Info,
                details: serde_json::json!({ "before": { "n": 1 }, "after": { "n": 2 } }),
            },
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    started.elapsed().as_secs_f64() * 1000.0
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (url, company) = (&args[1], Uuid::parse_str(&args[2]).expect("company id"));
    let samples: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2000);
    let pool = atrium_server::connect_app(url).await.expect("connects");
    for _ in 0..200 {
        one(&pool, company, true).await;
        one(&pool, company, false).await;
    }
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for _ in 0..samples {
        with.push(one(&pool, company, true).await);
        without.push(one(&pool, company, false).await);
    }
    let (w50, w95, o50, o95) =
        (pct(&mut with, 0.5), pct(&mut with, 0.95), pct(&mut without, 0.5), pct(&mut without, 0.95));
    println!("transaction without audit::record  p50 {o50:.3} ms  p95 {o95:.3} ms");
    println!("transaction with audit::record     p50 {w50:.3} ms  p95 {w95:.3} ms");
    println!("record overhead p50 {:.3} ms (target <= 0.5 ms); with / without {:.2}x", w50 - o50, w50 / o50);
}
