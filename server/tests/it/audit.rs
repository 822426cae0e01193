//! The audit log: filters and keyset pages (console and API), tenant isolation, streamed
//! export (CSV escaping, formula injection, audited), the hash chain under concurrent
//! writers and against tampering, and retention with legal holds.
use crate::helpers::*;
use app::domain::Role;
use reqwest::Method;
use std::collections::HashSet;
use uuid::Uuid;

/// One audit row written straight to the table (through the chaining trigger), `days_ago`
/// in the past. Returns its id.
#[allow(clippy::too_many_arguments)]
async fn row(
    app: &TestApp,
    company: Option<Uuid>,
    days_ago: i64,
    action: &str,
    actor: &str,
    severity: &str,
    resource: &str,
    resource_id: &str,
) -> i64 {
    sqlx::query_scalar(
        r#"INSERT INTO audit_log (company_id, "timestamp", user_email, action, resource, resource_id, severity, details,
                                  user_agent, request_id)
           VALUES ($1, now() - make_interval(days => $2::int), $3, $4, $5, $6, $7::audit_severity, '{"n": 1}',
                   'Mozilla/5.0, "quoted"', 'req-1')
           RETURNING id"#,
    )
    .bind(company)
    .bind(days_ago as i32)
    .bind(actor)
    .bind(action)
    .bind(resource)
    .bind(resource_id)
    .bind(severity)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// The months back to `months` ago get partitions, as a database that has run for a while.
async fn partitions_back(app: &TestApp, months: i32) {
    sqlx::query(
        "SELECT atrium_ensure_partitions_between('audit_log', (now() - make_interval(months => $1))::date, now()::date)",
    )
    .bind(months)
    .execute(&app.pool)
    .await
    .unwrap();
}

async fn ids(app: &TestApp, key: &str, query: &str) -> Vec<i64> {
    let r = app.api(Method::GET, &format!("/api/v1/audit-log?limit=200&{query}"), Some(key)).await;
    assert_eq!(r.status(), 200, "{query}");
    let body = json(r).await;
    body["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()).collect()
}

fn day(days_ago: i64) -> String {
    let d = time::OffsetDateTime::now_utc().date() - time::Duration::days(days_ago);
    format!("{d}")
}

#[tokio::test]
async fn filters_combine_and_the_cursor_is_stable() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, key) = app.api_key(acme, &["read:audit"], None).await;
    let mut ann_keys = vec![];
    for d in [1, 2, 3] {
        ann_keys.push(
            row(&app, Some(acme), d, "api_key.create", "ann@acme.test", "info", "api_key", &format!("k{d}")).await,
        );
    }
    let revoke_recent = row(&app, Some(acme), 5, "api_key.revoke", "bob@acme.test", "warning", "api_key", "k1").await;
    let revoke_old = row(&app, Some(acme), 40, "api_key.revoke", "bob@acme.test", "warning", "api_key", "k2").await;
    let suspend = row(&app, Some(acme), 10, "user.suspend", "ann@acme.test", "warning", "user", "u1").await;
    let other = app.company("Other").await;
    row(&app, Some(other), 1, "api_key.create", "ann@acme.test", "info", "api_key", "k1").await;

    let set = |v: Vec<i64>| v.into_iter().collect::<HashSet<_>>();
    assert_eq!(set(ids(&app, &key, "action=api_key.create&actor=ann@").await), set(ann_keys.clone()));
    assert_eq!(set(ids(&app, &key, "action=api_key.*&severity=warning").await), set(vec![revoke_recent, revoke_old]));
    assert_eq!(set(ids(&app, &key, "actor=ANN&severity=warning").await), set(vec![suspend]));
    assert_eq!(set(ids(&app, &key, "resource=api_key&resource_id=k1").await), set(vec![ann_keys[0], revoke_recent]));
    assert_eq!(set(ids(&app, &key, "resource=user&resource_id=u1&action=api_key.*").await), set(vec![]));
    let week = ids(&app, &key, &format!("action=api_key.*&actor=acme&from={}&to={}", day(7), day(0))).await;
    assert_eq!(set(week), set(vec![ann_keys[0], ann_keys[1], ann_keys[2], revoke_recent]));
    let r = app.api(Method::GET, &format!("/api/v1/audit-log?from={}&to={}", day(0), day(3)), Some(&key)).await;
    assert_eq!(r.status(), 400);
    assert!(json(r).await["detail"].as_str().unwrap().contains("before the start date"));

    // Page through everything two at a time while new rows keep arriving: each row once,
    // none of the new ones, in newest-first order.
    let all = ids(&app, &key, "").await;
    assert!(all.len() >= 8, "{all:?}");
    let mut seen = vec![];
    let mut cursor = String::new();
    loop {
        let q = if cursor.is_empty() { "limit=2".to_string() } else { format!("limit=2&cursor={cursor}") };
        let body = json(app.api(Method::GET, &format!("/api/v1/audit-log?{q}"), Some(&key)).await).await;
        seen.extend(body["items"].as_array().unwrap().iter().map(|i| i["id"].as_i64().unwrap()));
        row(&app, Some(acme), 0, "user.update", "new@acme.test", "info", "user", "u9").await;
        match body["next_cursor"].as_str() {
            Some(c) => cursor = c.to_string(),
            None => break,
        }
    }
    assert_eq!(seen, all);

    // The console's page reads the same filters from its URL.
    let (_, c) = app.member(acme, "admin@acme.test", Role::Admin).await;
    let html = app.get(&c, "/t/acme/audit?action=api_key.revoke&severity=warning").await.text().await.unwrap();
    assert_eq!(html.matches(">api_key.revoke</td>").count(), 2, "{html}");
    assert!(!html.contains(">user.suspend</td>"));
    let r = app.get(&c, "/t/acme/audit?from=yesterday").await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("Use a date like 2026-01-31."));
}

#[tokio::test]
async fn a_tenant_sees_only_its_own_rows_and_the_super_admin_sees_all() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let globex = app.company("Globex").await;
    let mine = row(&app, Some(acme), 1, "user.update", "ann@acme.test", "info", "user", "u1").await;
    let theirs = row(&app, Some(globex), 1, "user.update", "gil@globex.test", "info", "user", "u2").await;
    let (_, c) = app.member(acme, "admin@acme.test", Role::Admin).await;

    let html = app.get(&c, "/t/acme/audit").await.text().await.unwrap();
    assert!(html.contains("ann@acme.test") && !html.contains("gil@globex.test"), "{html}");
    // The detail panel: IP, user agent, session and request id, and the chain position.
    let html = app.get(&c, &format!("/t/acme/audit?entry={mine}")).await.text().await.unwrap();
    assert!(html.contains("Request id") && html.contains("req-1") && html.contains("Mozilla/5.0"), "{html}");
    let r = app.get(&c, &format!("/t/acme/audit?entry={theirs}")).await;
    assert_eq!(r.status(), 404);
    // The company filter is the super-admin's alone.
    let r = app.get(&c, "/t/acme/audit?company=globex").await;
    assert_eq!(r.status(), 422);
    // A viewer may not read the log at all.
    let (_, viewer) = app.member(acme, "viewer@acme.test", Role::Viewer).await;
    assert_eq!(app.get(&viewer, "/t/acme/audit").await.status(), 403);
    assert_eq!(app.get(&viewer, "/t/acme/audit/export").await.status(), 403);

    let root = app.superadmin().await;
    let html = app.get(&root, "/admin/audit").await.text().await.unwrap();
    assert!(html.contains("ann@acme.test") && html.contains("gil@globex.test"));
    let html = app.get(&root, "/admin/audit?company=globex").await.text().await.unwrap();
    assert!(!html.contains("ann@acme.test") && html.contains("gil@globex.test"));
    let html = app.get(&root, &format!("/admin/audit?entry={theirs}")).await.text().await.unwrap();
    assert!(html.contains("Globex") && html.contains("req-1"));
    // Reading across companies is itself on record.
    assert!(app.audit_count("platform.read").await >= 3);

    // The super-admin's export spans every company. Its read is on record before it starts,
    // so the export holds no chain lock: it used to wait forever on its own platform.read.
    let export = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        let r = app.get(&root, "/admin/audit/export?format=csv").await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-disposition"].to_str().unwrap().contains("audit-all-companies-"));
        r.text().await.unwrap()
    })
    .await
    .expect("the all-companies export finished");
    assert!(export.contains("ann@acme.test") && export.contains("gil@globex.test"), "{export}");
    assert_eq!(app.audit_count("audit.export").await, 1);
}

/// A minimal RFC 4180 reader, to check what a spreadsheet would see.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let (mut rows, mut row, mut cell) = (vec![], vec![], String::new());
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(ch) = chars.next() {
        match (quoted, ch) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                cell.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => cell.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut cell)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut cell));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => cell.push(c),
        }
    }
    rows
}

#[tokio::test]
async fn export_streams_exactly_the_filter_escaped_and_is_audited() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    for i in 0..3 {
        row(&app, Some(acme), 1, "user.update", "ann@acme.test", "info", "user", &format!("u{i}")).await;
    }
    // Cells a spreadsheet would misread: commas, quotes, a line break, and formulas.
    let nasty = ["=HYPERLINK(\"http://evil\")", "+1", "-2", "@SUM(A1)", "a,b \"c\"\nd"];
    for n in nasty {
        row(&app, Some(acme), 2, "user.suspend", "bob@acme.test", "warning", "user", n).await;
    }
    row(&app, Some(app.company("Other").await), 1, "user.suspend", "x@other.test", "warning", "user", "z").await;
    let (_, c) = app.member(acme, "manager@acme.test", Role::Manager).await;

    let r = app.get(&c, "/t/acme/audit/export?format=csv&action=user.suspend").await;
    assert_eq!(r.status(), 200, "{:?}", r.text().await);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(r.headers()["content-disposition"].to_str().unwrap().starts_with("attachment; filename=\"audit-acme-"));
    let rows = parse_csv(&r.text().await.unwrap());
    assert_eq!(rows[0][0], "id");
    assert_eq!(rows.len(), 1 + nasty.len(), "{rows:?}");
    let rid = rows[0].iter().position(|h| h == "resource_id").unwrap();
    let ua = rows[0].iter().position(|h| h == "user_agent").unwrap();
    let got: HashSet<String> = rows[1..].iter().map(|r| r[rid].clone()).collect();
    let want: HashSet<String> = nasty
        .iter()
        .map(|n| if n.starts_with(['=', '+', '-', '@']) { format!("'{n}") } else { n.to_string() })
        .collect();
    assert_eq!(got, want);
    assert!(rows[1..].iter().all(|r| r.len() == rows[0].len() && r[ua] == "Mozilla/5.0, \"quoted\""));

    let r = app.get(&c, "/t/acme/audit/export?format=jsonl&actor=ann").await;
    assert_eq!(r.headers()["content-type"], "application/x-ndjson");
    let text = r.text().await.unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["actor"]["email"] == "ann@acme.test" && l["details"]["n"] == 1));

    // Each export is on record with its filters, in the company's own log.
    let recorded: Vec<serde_json::Value> = sqlx::query_scalar(
        "SELECT details FROM audit_log WHERE action = 'audit.export' AND company_id = $1 ORDER BY id",
    )
    .bind(acme)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(recorded.len(), 2);
    assert_eq!(recorded[0]["format"], "csv");
    assert_eq!(recorded[0]["filters"]["action"], "user.suspend");
    assert_eq!(recorded[1]["filters"]["actor"], "ann");

    assert_eq!(app.get(&c, "/t/acme/audit/export?format=xml").await.status(), 400);
    assert_eq!(app.get(&c, "/t/acme/audit/export?severity=loud").await.status(), 422);

    // The REST API streams the same, for a key with read:audit.
    let (_, key) = app.api_key(acme, &["read:audit"], None).await;
    let r = app.api(Method::GET, "/api/v1/audit-log/export?format=csv&action=user.suspend", Some(&key)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(parse_csv(&r.text().await.unwrap()).len(), 1 + nasty.len());
    let r = app.api(Method::GET, "/api/v1/audit-log/export", Some(&key)).await;
    let n = r.text().await.unwrap().lines().count() as i64;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE company_id = $1")
        .bind(acme)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // Everything up to and including this export's own record.
    assert_eq!(n, total);
    let (_, weak) = app.api_key(acme, &["read:company"], None).await;
    assert_eq!(app.api(Method::GET, "/api/v1/audit-log/export", Some(&weak)).await.status(), 403);
}

async fn verify(app: &TestApp, slug: &str) -> app::audit::ChainReport {
    let mut r = atrium_server::housekeeping::verify_audit(&app.pool, Some(slug)).await.unwrap();
    r.remove(0)
}

/// As a superuser could: with the append-only trigger off.
async fn tamper(app: &TestApp, sql: &str) {
    sqlx::raw_sql(&format!(
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only; {sql}; ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only;"
    ))
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn the_chain_detects_an_edited_a_deleted_and_a_reordered_row() {
    let app = spawn_app().await;
    let mut rows = std::collections::HashMap::new();
    for slug in ["edited", "deleted", "reordered"] {
        let c = app.company(slug).await;
        let mut ids = vec![];
        for i in 0..5 {
            ids.push(row(&app, Some(c), 0, "user.update", "ann@x.test", "info", "user", &format!("u{i}")).await);
        }
        let report = verify(&app, slug).await;
        assert!(report.broken.is_none(), "{report}");
        assert_eq!(report.rows, 6, "company.create and five updates");
        rows.insert(slug, ids);
    }
    tamper(&app, &format!("UPDATE audit_log SET details = '{{\"n\": 2}}' WHERE id = {}", rows["edited"][2])).await;
    let r = verify(&app, "edited").await;
    let b = r.broken.as_ref().expect("broken");
    assert_eq!(b.row_id, Some(rows["edited"][2]));
    assert!(b.reason.contains("was altered"), "{r}");
    assert_eq!(r.rows, 3);

    tamper(&app, &format!("DELETE FROM audit_log WHERE id = {}", rows["deleted"][1])).await;
    let r = verify(&app, "deleted").await;
    let b = r.broken.as_ref().expect("broken");
    assert_eq!(b.row_id, Some(rows["deleted"][2]), "the row after the gap");
    assert!(b.reason.contains("missing"), "{r}");

    let (x, y) = (rows["reordered"][1], rows["reordered"][3]);
    tamper(
        &app,
        &format!(
            "UPDATE audit_log a SET chain_seq = b.chain_seq FROM audit_log b
              WHERE (a.id, b.id) IN (({x}, {y}), ({y}, {x}))"
        ),
    )
    .await;
    let r = verify(&app, "reordered").await;
    assert_eq!(r.broken.as_ref().expect("broken").row_id, Some(y), "{r}");

    // The newest row gone is noticed too: the chain's head remembers it.
    let c = app.company("tail").await;
    let last = row(&app, Some(c), 0, "user.update", "ann@x.test", "info", "user", "u").await;
    tamper(&app, &format!("DELETE FROM audit_log WHERE id = {last}")).await;
    let r = verify(&app, "tail").await;
    assert!(r.broken.as_ref().expect("broken").reason.contains("newest rows"), "{r}");

    // The console's button says the same, and the check is on record.
    let (_, admin) = app.member(c, "admin@tail.test", Role::Admin).await;
    let r = json(app.post(&admin, "/api/audit/verify", &[("slug", "tail")]).await).await;
    assert!(r[0]["broken"]["reason"].as_str().unwrap().contains("missing"), "{r}");
    let (_, ok_admin) = app.member(rows_company(&app, "edited").await, "x@edited.test", Role::Admin).await;
    let r = json(app.post(&ok_admin, "/api/audit/verify", &[("slug", "edited")]).await).await;
    assert_eq!(r[0]["broken"]["row_id"], rows["edited"][2]);
    assert!(app.audit_count("audit.verify").await >= 2);
}

async fn rows_company(app: &TestApp, slug: &str) -> Uuid {
    sqlx::query_scalar("SELECT id FROM companies WHERE slug = $1").bind(slug).fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn concurrent_writers_do_not_fork_the_chain() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let mut tasks = vec![];
    for w in 0..8 {
        let pool = app.app_pool.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                let mut tx = app::db::tenant(&pool, acme, None).await.unwrap();
                let meta = app::server_ctx::RequestMeta { request_id: format!("w{w}-{i}"), ip: None, user_agent: None };
                app::audit::record::record(
                    &mut tx,
                    &app::audit::record::Who::system(),
                    &meta,
                    app::audit::record::Event {
                        company_id: Some(acme),
                        action: app::audit::Action::UserUpdate,
                        resource: "user",
                        resource_id: Some(format!("{w}-{i}")),
                        severity: app::audit::Severity::Info,
                        details: serde_json::json!({}),
                    },
                )
                .await
                .unwrap();
                tx.commit().await.unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let r = verify(&app, "acme").await;
    assert!(r.broken.is_none(), "{r}");
    assert_eq!(r.rows, 201);
    let distinct = app.scalar_i64("SELECT count(DISTINCT chain_seq) FROM audit_log WHERE company_id IS NOT NULL").await;
    assert_eq!(distinct, 201);
}

async fn save_retention(app: &TestApp, c: &reqwest::Client, slug: &str, form: &[(&str, &str)]) -> reqwest::Response {
    let mut full = vec![("slug", slug)];
    full.extend_from_slice(form);
    app.post(c, "/api/audit/retention", &full).await
}

#[tokio::test]
async fn retention_settings_are_bounded_by_the_platform_floor_and_audited() {
    let app = spawn_app().await;
    let acme = app.company("Acme").await;
    let (_, admin) = app.member(acme, "admin@acme.test", Role::Admin).await;
    // A company that never chose reads as the floor (365 days in the tests' state), not the
    // 90 days stored by default, because that is what the prune keeps.
    let html = app.get(&admin, "/t/acme/audit").await.text().await.unwrap();
    assert!(html.contains("Rows older than 1 year are removed each day."), "{html}");
    assert!(
        html.contains("The platform keeps every company&#x27;s rows at least 1 year.")
            || html.contains("The platform keeps every company's rows at least 1 year.")
    );
    assert!(!html.contains(r#"<option value="90""#), "periods under the floor are not offered");
    let before = app.fingerprint().await;
    // Shortening retention to hide one's tracks: refused below the floor, whatever is sent.
    for days in ["10", "30", "90", "364"] {
        let r = save_retention(&app, &admin, "acme", &[("days", days), ("legal_hold_reason", "")]).await;
        assert_eq!(r.status(), 422, "{days}");
        assert!(json(r).await.to_string().contains("between 365 days (the platform's minimum) and 2557 days"));
    }
    let r =
        save_retention(&app, &admin, "acme", &[("days", "730"), ("legal_hold", "on"), ("legal_hold_reason", "")]).await;
    assert_eq!(r.status(), 422);
    assert_eq!(app.fingerprint().await, before, "refusals change nothing");
    assert_eq!(app.audit_count("audit.retention_update").await, 0);

    let r =
        save_retention(&app, &admin, "acme", &[("days", "730"), ("legal_hold", "on"), ("legal_hold_reason", "Case 7")])
            .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let (days, hold): (i32, bool) =
        sqlx::query_as("SELECT audit_retention_days, audit_legal_hold FROM companies WHERE id = $1")
            .bind(acme)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((days, hold), (730, true));
    let r = save_retention(&app, &admin, "acme", &[("days", "365"), ("legal_hold_reason", "")]).await;
    assert_eq!(r.status(), 200);
    let (severity, details): (String, serde_json::Value) = sqlx::query_as(
        "SELECT severity::text, details FROM audit_log WHERE action = 'audit.retention_update' ORDER BY id DESC LIMIT 1",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(severity, "warning", "shortening and lifting a hold is a warning");
    assert_eq!(details["before"]["retention_days"], 730);
    assert_eq!(details["after"]["legal_hold"], false);
    assert_eq!(app.audit_count("audit.retention_update").await, 2);

    let (_, manager) = app.member(acme, "manager@acme.test", Role::Manager).await;
    assert_eq!(
        save_retention(&app, &manager, "acme", &[("days", "730"), ("legal_hold_reason", "")]).await.status(),
        403
    );
    let html = app.get(&admin, "/t/acme/audit").await.text().await.unwrap();
    assert!(html.contains("Rows older than 1 year are removed each day."), "{html}");
}

/// A company's own setting, even one stored below the floor (before the floor was raised, or
/// written straight into the table), does not make its rows go sooner than the operator's
/// floor; and the platform chain, where the copies of what a super-admin did while acting as
/// a company live, follows the platform's period, not the company's.
#[tokio::test]
async fn the_floor_and_the_platforms_period_decide_what_the_prune_keeps() {
    let app = spawn_app().await;
    partitions_back(&app, 22).await;
    let short: Uuid = sqlx::query_scalar(
        "INSERT INTO companies (name, slug, audit_retention_days) VALUES ('Short', 'short', 30) RETURNING id",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    let platform_rows = app.scalar_i64("SELECT count(*) FROM audit_log WHERE company_id IS NULL").await;
    assert_eq!(platform_rows, 0, "the old platform rows below must come first in their chain");
    for d in [600, 400, 200, 20] {
        row(&app, Some(short), d, "user.update", &format!("{d}@short.test"), "info", "user", "u").await;
    }
    for d in [600, 450, 20] {
        row(&app, None, d, "company.update", &format!("{d}@platform.test"), "info", "company", "c").await;
    }
    // What the super-admin does while acting as the company is copied to the platform chain.
    let root = app.superadmin().await;
    app.act_as(&root, "short").await;
    let r = app
        .post(
            &root,
            "/api/users/invite",
            &[("slug", "short"), ("email", "new@short.test"), ("name", ""), ("role", "VIEWER")],
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let copies: Vec<(Option<Uuid>, serde_json::Value)> =
        sqlx::query_as("SELECT company_id, details FROM audit_log WHERE action = 'platform.act_as_copy' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let copied: Vec<&str> = copies.iter().map(|(_, d)| d["action"].as_str().unwrap()).collect();
    assert_eq!(copied, ["tenant.act_as", "user.invite"]);
    assert!(copies.iter().all(|(c, d)| c.is_none() && d["company_id"] == short.to_string()));
    assert_eq!(copies[1].1["details"]["acting_as"]["reason"], "Integration test");
    // The company reads its own rows, never the platform's copies.
    let (_, admin) = app.member(short, "admin@short.test", Role::Admin).await;
    let html = app.get(&admin, "/t/short/audit?action=user.invite").await.text().await.unwrap();
    assert!(html.contains("new@short.test"), "{html}");
    let html = app.get(&admin, "/t/short/audit?action=platform.act_as_copy").await.text().await.unwrap();
    assert!(html.contains("No events match these filters."), "{html}");

    let policy = app::audit::policy::Policy::new(365, 500).unwrap();
    app::audit::retention::prune(&app.pool, time::OffsetDateTime::now_utc(), &policy).await.unwrap();
    let left = |company: Option<Uuid>| {
        let pool = app.pool.clone();
        async move {
            let v: Vec<String> = sqlx::query_scalar(
                "SELECT split_part(user_email, '@', 1) FROM audit_log
                  WHERE company_id IS NOT DISTINCT FROM $1 AND action IN ('user.update', 'company.update')
                  ORDER BY chain_seq",
            )
            .bind(company)
            .fetch_all(&pool)
            .await
            .unwrap();
            v
        }
    };
    assert_eq!(left(Some(short)).await, ["200", "20"], "the company's 30 days count as the floor's 365");
    assert_eq!(left(None).await, ["450", "20"], "the platform keeps its own 500 days");
    assert_eq!(app.audit_count("platform.act_as_copy").await, 2);
    assert!(verify(&app, "short").await.broken.is_none());
    let platform = atrium_server::housekeeping::verify_audit(&app.pool, None).await.unwrap();
    assert!(platform.iter().all(|r| r.broken.is_none()), "{platform:?}");
}

/// The operator's lowest possible floor (30 days), so each company's own period shows.
fn lowest_floor() -> app::audit::policy::Policy {
    app::audit::policy::Policy::new(30, 2557).unwrap()
}

#[tokio::test]
async fn retention_drops_only_what_it_should_and_respects_a_legal_hold() {
    let app = spawn_app().await;
    partitions_back(&app, 8).await;
    // Companies made without their creation row, so each chain runs oldest to newest.
    let bare = |name: &'static str| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, Uuid>("INSERT INTO companies (name, slug) VALUES ($1, lower($1)) RETURNING id")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    let short = bare("Short").await; // 30 days
    let held = bare("Held").await; // 30 days, but on hold
    let normal = bare("Normal").await; // the default 90 days
    sqlx::query("UPDATE companies SET audit_retention_days = 30 WHERE id IN ($1, $2)")
        .bind(short)
        .bind(held)
        .execute(&app.pool)
        .await
        .unwrap();
    sqlx::query("UPDATE companies SET audit_legal_hold = true, audit_legal_hold_reason = 'Case 1' WHERE id = $1")
        .bind(held)
        .execute(&app.pool)
        .await
        .unwrap();
    for (c, slug) in [(short, "short"), (held, "held"), (normal, "normal")] {
        for d in [200, 100, 60, 20] {
            row(&app, Some(c), d, "user.update", &format!("{d}@{slug}.test"), "info", "user", "u").await;
        }
    }
    let old_partition: String =
        sqlx::query_scalar("SELECT 'audit_log_' || to_char(now() - interval '200 days', 'YYYY_MM')")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO api_key_usage (api_key_id, company_id, used_at, endpoint, request_count)
                 SELECT id, company_id, now() - interval '500 days', 'GET /x', 1 FROM api_keys LIMIT 1",
    )
    .execute(&app.pool)
    .await
    .unwrap();

    let report =
        app::audit::retention::prune(&app.pool, time::OffsetDateTime::now_utc(), &lowest_floor()).await.unwrap();
    let left = |slug: &'static str| {
        let pool = app.pool.clone();
        async move {
            let v: Vec<String> = sqlx::query_scalar(
                "SELECT split_part(user_email, '@', 1) FROM audit_log a JOIN companies c ON c.id = a.company_id
                  WHERE c.slug = $1 AND a.action = 'user.update' ORDER BY a.chain_seq",
            )
            .bind(slug)
            .fetch_all(&pool)
            .await
            .unwrap();
            v
        }
    };
    assert_eq!(left("short").await, ["20"]);
    assert_eq!(left("held").await, ["200", "100", "60", "20"]);
    assert_eq!(left("normal").await, ["60", "20"]);
    assert_eq!(report.audit_rows(), 3 + 2);
    // The old month still holds the held company's rows, so it stays.
    let exists = |name: String| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, bool>("SELECT to_regclass($1) IS NOT NULL")
                .bind(name)
                .fetch_one(&pool)
                .await
                .unwrap()
        }
    };
    assert!(exists(old_partition.clone()).await);
    // Each pruned chain records it, and still verifies from its first surviving row.
    assert_eq!(app.audit_count("audit.prune").await, 2);
    for slug in ["short", "held", "normal"] {
        let r = verify(&app, slug).await;
        assert!(r.broken.is_none(), "{r}");
    }

    // Lift the hold: the next run removes the held rows, and the old month goes whole.
    sqlx::query("UPDATE companies SET audit_legal_hold = false WHERE id = $1")
        .bind(held)
        .execute(&app.pool)
        .await
        .unwrap();
    let report =
        app::audit::retention::prune(&app.pool, time::OffsetDateTime::now_utc(), &lowest_floor()).await.unwrap();
    assert_eq!(left("held").await, ["20"]);
    assert_eq!(report.audit_rows(), 3);
    assert!(!exists(old_partition).await, "a month with only expired rows is dropped, not deleted from");
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM api_key_usage WHERE used_at < now() - interval '400 days'").await,
        0
    );
    for slug in ["short", "held", "normal"] {
        assert!(verify(&app, slug).await.broken.is_none());
    }
    // Rows that vanish from the start without retention are not mistaken for it.
    let first: i64 = sqlx::query_scalar(
        "SELECT min(a.id) FROM audit_log a JOIN companies c ON c.id = a.company_id WHERE c.slug = 'normal'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    tamper(&app, &format!("DELETE FROM audit_log WHERE id = {first}")).await;
    let r = verify(&app, "normal").await;
    assert!(r.broken.as_ref().expect("broken").reason.contains("missing from the start"), "{r}");
}
