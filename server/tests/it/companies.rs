use crate::helpers::*;
use app::domain::Role;
use uuid::Uuid;

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(&app.pool).await.unwrap()
}

#[tokio::test]
async fn create_derives_unique_slugs_and_audits_in_the_same_transaction() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    let r = app.create_company(&admin, "Acme", "").await;
    assert_eq!(r.status(), 200);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("/admin/companies/"));
    let r = app.create_company(&admin, "  ACME!  ", "").await;
    assert_eq!(r.status(), 200);
    app.create_company(&admin, "Crème Brûlée & Co.", "").await;
    let slugs: Vec<String> =
        sqlx::query_scalar("SELECT slug FROM companies ORDER BY created_at").fetch_all(&app.pool).await.unwrap();
    assert_eq!(slugs, vec!["acme", "acme-2", "creme-brulee-and-co"]);
    let audited: Vec<(Uuid, String, String)> = sqlx::query_as(
        "SELECT a.company_id, a.user_email, a.details->'after'->>'slug' FROM audit_log a WHERE action = 'company.create' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(audited.len(), 3);
    assert_eq!(audited[1].1, "root@atrium.test");
    assert_eq!(audited[1].2, "acme-2");
    let id = Uuid::parse_str(loc.trim_start_matches("/admin/companies/")).unwrap();
    assert_eq!(audited[0].0, id);
}

#[tokio::test]
async fn bad_company_input_is_refused_with_field_messages_and_nothing_written() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    app.create_company(&admin, "Taken", "taken").await;
    let before =
        (count(&app, "SELECT count(*) FROM companies").await, count(&app, "SELECT count(*) FROM audit_log").await);
    for (name, slug, field, needle) in [
        ("", "", "name", "Enter the company"),
        ("   ", "ok", "name", "Enter the company"),
        ("X", "Bad Slug", "slug", "lowercase"),
        ("X", "-x", "slug", "hyphen"),
        ("X", "taken", "slug", "already taken"),
        (&"n".repeat(201), "", "name", "200"),
    ] {
        let r = app.create_company(&admin, name, slug).await;
        assert_eq!(r.status(), 422, "{name:?} {slug:?}");
        let body = json(r).await;
        let msg = body["Validation"][field].as_str().unwrap_or_else(|| panic!("{body}"));
        assert!(msg.contains(needle), "{msg}");
    }
    let after =
        (count(&app, "SELECT count(*) FROM companies").await, count(&app, "SELECT count(*) FROM audit_log").await);
    assert_eq!(before, after);
}

#[tokio::test]
async fn only_the_super_admin_manages_companies() {
    let app = spawn_app().await;
    let c = app.company("Acme").await;
    for (email, role) in [("v@acme.test", Role::Viewer), ("m@acme.test", Role::Manager), ("a@acme.test", Role::Admin)] {
        app.user(email, role, Some(c)).await;
        let client = client();
        assert_eq!(app.login(&client, email, PASSWORD).await.status(), 200);
        assert_eq!(app.create_company(&client, "Mine", "").await.status(), 403, "{role:?} may not create");
        assert_eq!(app.post(&client, "/api/companies/list", &[("q", ""), ("sort", "name")]).await.status(), 403);
        let id = c.to_string();
        let r = app
            .post(
                &client,
                "/api/companies/update",
                &[("id", &id), ("name", "Hacked"), ("slug", "acme"), ("tenant_config", "{}")],
            )
            .await;
        assert_eq!(r.status(), 403);
        assert_eq!(app.post(&client, "/api/companies/delete", &[("id", &id)]).await.status(), 403);
    }
    assert_eq!(app.create_company(&client(), "Anon", "").await.status(), 401);
    assert_eq!(count(&app, "SELECT count(*) FROM companies").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM companies WHERE name = 'Hacked'").await, 0);
}

#[tokio::test]
async fn the_list_searches_sorts_and_pages_by_keyset() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    for i in 0..60 {
        app.company(&format!("Company {i:02}")).await;
    }
    app.company("Zeta Search Target").await;
    let page = |q: &str, sort: &str, after: Option<String>| {
        let (app, admin) = (&app, &admin);
        let (q, sort) = (q.to_string(), sort.to_string());
        async move {
            let mut form = vec![("q", q.clone()), ("sort", sort.clone())];
            if let Some(a) = after {
                form.push(("after", a));
            }
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let r = app.post(admin, "/api/companies/list", &form).await;
            assert_eq!(r.status(), 200);
            json(r).await
        }
    };
    for sort in ["name", "newest", "slug"] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let p = page("", sort, after.clone()).await;
            assert_eq!(p["total"], 61);
            for row in p["rows"].as_array().unwrap() {
                seen.push(row["name"].as_str().unwrap().to_string());
            }
            match p["next"].as_str() {
                Some(n) => after = Some(n.to_string()),
                None => break,
            }
        }
        assert_eq!(seen.len(), 61, "{sort}: every company exactly once");
        let mut dedup = seen.clone();
        dedup.sort();
        dedup.dedup();
        assert_eq!(dedup.len(), 61);
        if sort == "name" {
            assert_eq!(seen[0], "Company 00");
            assert_eq!(seen[60], "Zeta Search Target");
        }
        if sort == "newest" {
            assert_eq!(seen[0], "Zeta Search Target");
        }
    }
    let p = page("search tar", "name", None).await;
    assert_eq!(p["total"], 1);
    assert_eq!(p["rows"][0]["slug"], "zeta-search-target");
    let p = page("100%_", "name", None).await;
    assert_eq!(p["total"], 0, "LIKE wildcards in the search are literal");
}

#[tokio::test]
async fn edits_validate_json_and_audit_before_and_after() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    let id = app.company("Acme").await.to_string();
    let update = |name: &str, slug: &str, config: &str, enabled: bool| {
        let mut form = vec![
            ("id", id.clone()),
            ("name", name.to_string()),
            ("slug", slug.to_string()),
            ("tenant_config", config.to_string()),
        ];
        if enabled {
            form.push(("tenant_enabled", "on".to_string()));
        }
        form
    };
    let send = |form: Vec<(&'static str, String)>| {
        let (app, admin) = (&app, &admin);
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            app.post(admin, "/api/companies/update", &form).await
        }
    };
    let r = send(update("Acme", "acme", "{not json", true)).await;
    assert_eq!(r.status(), 422);
    let msg = json(r).await["Validation"]["tenant_config"].as_str().unwrap().to_string();
    assert!(msg.contains("not valid JSON"), "{msg}");
    let r = send(update("Acme", "acme", "[1, 2]", true)).await;
    assert!(json(r).await["Validation"]["tenant_config"].as_str().unwrap().contains("JSON object"));

    let r = send(update("Acme Inc", "acme-inc", "{\"locale\": \"en-GB\"}", true)).await;
    assert_eq!(r.status(), 200);
    let details: serde_json::Value =
        sqlx::query_scalar("SELECT details FROM audit_log WHERE action = 'company.update'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(details["before"]["name"], "Acme");
    assert_eq!(details["after"]["name"], "Acme Inc");
    assert_eq!(details["after"]["slug"], "acme-inc");
    assert_eq!(details["after"]["tenant_config"]["locale"], "en-GB");
    assert!(details["before"].get("tenant_enabled").is_none(), "unchanged fields are left out");

    let r = send(update("Acme Inc", "acme-inc", "{\"locale\": \"en-GB\"}", false)).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.audit_count("company.disable").await, 1);
    let enabled: bool = sqlx::query_scalar("SELECT tenant_enabled FROM companies").fetch_one(&app.pool).await.unwrap();
    assert!(!enabled);
    let r = send(update("Acme Inc", "nope-not-a-uuid", "{}", false)).await;
    assert_eq!(r.status(), 200, "a new free slug is fine");
    let r = app
        .post(
            &admin,
            "/api/companies/update",
            &[("id", "not-a-uuid"), ("name", "x"), ("slug", "x"), ("tenant_config", "{}")],
        )
        .await;
    assert_eq!(r.status(), 422, "a malformed id is bad input");
}

#[tokio::test]
async fn soft_delete_keeps_the_audit_trail_and_closes_the_tenant() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    let c = app.company("Acme").await;
    app.user("ann@acme.test", Role::Admin, Some(c)).await;
    let ann = client();
    app.login(&ann, "ann@acme.test", PASSWORD).await;
    assert_eq!(app.get(&ann, "/t/acme/").await.status(), 200);
    let r = app.post(&admin, "/api/companies/delete", &[("id", &c.to_string())]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(app.audit_count("company.delete").await, 1);
    let trail: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE company_id = $1")
        .bind(c)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(trail >= 3, "create, login and delete stay");
    // Its users' sessions ended with it.
    assert_eq!(app.get(&ann, "/t/acme/").await.status(), 303);
    let r = app.post(&admin, "/api/companies/delete", &[("id", &c.to_string())]).await;
    assert_eq!(r.status(), 409);
}

#[tokio::test]
async fn a_company_home_shows_its_own_audit_and_nobody_elses() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let _b = app.company("Globex").await;
    app.user("ann@acme.test", Role::Viewer, Some(a)).await;
    let ann = client();
    app.login(&ann, "ann@acme.test", PASSWORD).await;
    let home = app.post(&ann, "/api/companies/home", &[("slug", "acme")]).await;
    assert_eq!(home.status(), 200);
    let body = json(home).await;
    assert_eq!(body["company"]["name"], "Acme");
    let actions: Vec<&str> = body["recent"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.contains(&"auth.login") && actions.contains(&"company.create"), "{actions:?}");
    let other = app.post(&ann, "/api/companies/home", &[("slug", "globex")]).await;
    assert_eq!(other.status(), 404);
    let page = app.get(&ann, "/t/globex/").await;
    assert_eq!(page.status(), 404, "another company's page is not found");
    let html = page.text().await.unwrap();
    assert!(html.contains("Not found") && !html.contains("Globex"));
}

#[tokio::test]
async fn a_change_whose_audit_write_fails_is_rolled_back() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    sqlx::raw_sql(
        "CREATE FUNCTION test_fail() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit is down'; END $$;
         CREATE TRIGGER test_fail BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION test_fail();",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let r = app.create_company(&admin, "Ghost", "").await;
    assert_eq!(r.status(), 500);
    let body = json(r).await;
    let msg = body["Internal"].as_str().unwrap();
    assert!(!msg.contains("audit is down"), "database errors stay on the server");
    assert_eq!(count(&app, "SELECT count(*) FROM companies").await, 0);
}

#[tokio::test]
async fn the_count_stops_at_ten_thousand() {
    let app = spawn_app().await;
    let admin = app.superadmin().await;
    sqlx::query(
        "INSERT INTO companies (name, slug) SELECT 'Bulk ' || i, 'bulk-' || i FROM generate_series(1, 10005) i",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    let p = json(app.post(&admin, "/api/companies/list", &[("q", ""), ("sort", "name")]).await).await;
    assert_eq!((p["total"].as_i64(), p["total_capped"].as_bool()), (Some(10_000), Some(true)));
    assert_eq!(p["rows"].as_array().unwrap().len(), 25);
    let p = json(app.post(&admin, "/api/companies/list", &[("q", "bulk 1000"), ("sort", "name")]).await).await;
    assert_eq!(
        (p["total"].as_i64(), p["total_capped"].as_bool()),
        (Some(7), Some(false)),
        "Bulk 1000 and Bulk 10000 to 10005"
    );
}
