//! What a page costs the database: the SQL statements one signed-in page view sends, counted
//! by PostgreSQL itself (pg_stat_statements, which `.dev/lib.sh`'s cluster preloads) for this
//! test's database and the roles requests run as. These are top-level statements, that is
//! round trips: a function's inner queries count as its one call.
use crate::helpers::*;
use app::domain::Role;

/// Each console page's statements may not pass this (the frame and the page together).
const BUDGET: i64 = 12;

/// Calls per normalised statement so far, for this database and the request roles.
async fn statements(app: &TestApp) -> std::collections::HashMap<String, i64> {
    sqlx::query_as::<_, (String, i64)>(
        "SELECT query, sum(calls)::int8 FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND userid IN ('atrium_app'::regrole, 'atrium_platform'::regrole)
          GROUP BY query",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

struct Cost {
    page: String,
    total: i64,
    /// The statements the view ran, with how often each.
    ran: Vec<(i64, String)>,
}

/// GETs each page twice (the first warms the pool's connections) and returns what the
/// second view ran.
async fn cost(app: &TestApp, c: &reqwest::Client, pages: &[String]) -> Vec<Cost> {
    let mut out = Vec::new();
    for page in pages {
        assert_eq!(app.get(c, page).await.status(), 200, "{page}");
        let before = statements(app).await;
        let r = app.get(c, page).await;
        assert_eq!(r.status(), 200, "{page}");
        // What a connection runs once when the pool opens it (its time limits, and sqlx's
        // lookups of custom types in pg_type and pg_enum) is the cold connection's cost, not
        // the page's: a loaded machine may open one more connection mid-view. Left out.
        let mut ran: Vec<(i64, String)> = statements(app)
            .await
            .into_iter()
            .map(|(q, n)| (n - before.get(&q).copied().unwrap_or(0), q))
            .filter(|(n, q)| {
                *n > 0
                    && !q.contains("pg_catalog.")
                    && !q.contains("::regtype")
                    && !q.starts_with("SET statement_timeout")
                    && !q.starts_with("SET idle_in_transaction_session_timeout")
            })
            .collect();
        ran.sort();
        out.push(Cost { page: page.clone(), total: ran.iter().map(|r| r.0).sum(), ran });
    }
    out
}

#[tokio::test]
async fn every_console_page_stays_within_its_statement_budget() {
    let app = spawn_app().await;
    sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        .execute(&app.pool)
        .await
        .expect("pg_stat_statements must be preloaded (shared_preload_libraries); .dev/test's cluster does that");
    let acme = app.company("Acme").await;
    let (ann, admin) = app.member(acme, "admin@acme.test", Role::Admin).await;
    let (key, _) = app.api_key(acme, &["read:company"], None).await;
    let pages: Vec<String> = [
        "/t/acme/".to_string(),
        "/t/acme/users".into(),
        "/t/acme/users/invite".into(),
        format!("/t/acme/users/{ann}"),
        "/t/acme/roles".into(),
        "/t/acme/api-keys".into(),
        "/t/acme/api-keys/new".into(),
        format!("/t/acme/api-keys/{key}"),
        "/t/acme/weights/sroi".into(),
        "/t/acme/weights/sroi/history".into(),
        "/t/acme/integrations".into(),
        "/t/acme/integrations/benevity".into(),
        "/t/acme/deliveries".into(),
        "/t/acme/audit".into(),
        "/t/acme/security".into(),
        "/account".into(),
        "/account/two-factor".into(),
    ]
    .into();
    let mut costs = cost(&app, &admin, &pages).await;
    let root = app.superadmin().await;
    let admin_pages: Vec<String> =
        ["/admin", "/admin/companies", "/admin/companies/new", &format!("/admin/companies/{acme}"), "/admin/audit"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    costs.extend(cost(&app, &root, &admin_pages).await);
    for c in &costs {
        eprintln!("{:>4}  {}", c.total, c.page);
    }
    let over: Vec<&Cost> = costs.iter().filter(|c| c.total > BUDGET).collect();
    for c in &over {
        eprintln!("\n{} ran {}:", c.page, c.total);
        for (n, q) in &c.ran {
            eprintln!(
                "  {n} × {}",
                q.split_whitespace().collect::<Vec<_>>().join(" ").chars().take(160).collect::<String>()
            );
        }
    }
    let names: Vec<&str> = over.iter().map(|c| c.page.as_str()).collect();
    assert!(over.is_empty(), "pages over {BUDGET} statements: {names:?}");
    // The second view of a page found its caller in the process's kept actors.
    let reloaded: Vec<&str> = costs
        .iter()
        .filter(|c| c.ran.iter().any(|(_, q)| q.contains("atrium_request_actor")))
        .map(|c| c.page.as_str())
        .collect();
    assert!(reloaded.is_empty(), "pages that loaded their actor again: {reloaded:?}");
}
