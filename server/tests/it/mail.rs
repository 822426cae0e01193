//! Mail through the outbox, against a real SMTP server (npm's smtp-server) started by each
//! test: what arrives, its headers and both parts, the one-time link in it, retries and dead
//! letters, and that a mail goes out only for a change that committed.
use crate::helpers::*;
use app::domain::Role;

async fn invite(app: &TestApp, c: &reqwest::Client, email: &str) -> reqwest::Response {
    app.post(c, "/api/users/invite", &[("slug", "acme"), ("email", email), ("name", "New Person"), ("role", "MANAGER")])
        .await
}

#[tokio::test]
async fn an_invitation_is_mailed_and_its_link_sets_the_password() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let r = invite(&app, &admin, "new@acme.test").await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    // The admin is told it went by mail, and never holds the link.
    assert_eq!(body["Invited"]["mailed"], true, "{body}");
    assert_eq!(body["Invited"]["path"], "", "{body}");

    let got = sink.wait_for(1).await;
    let m = &got[0];
    assert_eq!(m["envelope"]["to"][0], "new@acme.test");
    assert_eq!(m["envelope"]["from"], "atrium@atrium.test");
    assert_eq!(m["from"], "\"Atrium\" <atrium@atrium.test>");
    assert_eq!(m["subject"], "You are invited to Acme on Atrium");
    let id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM mail_outbox").fetch_one(&app.pool).await.unwrap();
    assert_eq!(m["headers"]["message-id"], format!("<{id}@atrium.test>"));
    assert!(m["headers"]["content-type"].as_str().unwrap().contains("multipart/alternative"), "{m}");
    let text = m["text"].as_str().unwrap();
    assert!(text.contains("boss@acme.test invited you to join Acme on Atrium as Manager"), "{text}");
    let link = link_in(m);
    assert!(link.starts_with(&format!("http://{}/invite/", app.addr)), "{link}");
    let html = m["html"].as_str().unwrap();
    assert!(html.contains(&format!("href=\"{link}\"")), "{html}");

    // Sent, the body is gone from the database; who, what and when stay.
    let row = settled(&app, "new@acme.test").await;
    assert_eq!((row.0.as_str(), row.1, row.3), ("sent", 1, true));
    assert_eq!(app.scalar_i64("SELECT count(*) FROM mail_outbox WHERE sent_at IS NOT NULL").await, 1);

    // The link in the mail works once.
    let token = link.rsplit('/').next().unwrap().to_string();
    let visitor = client();
    let accept = [("token", token.as_str()), ("password", "a fine new password"), ("confirm", "a fine new password")];
    let r = app.post(&visitor, "/api/invite/accept", &accept).await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    assert_eq!(app.login(&client(), "new@acme.test", "a fine new password").await.status(), 200);
    assert_eq!(app.post(&client(), "/api/invite/accept", &accept).await.status(), 409);
}

#[tokio::test]
async fn an_existing_account_is_told_it_was_added_and_a_reset_link_goes_to_the_person() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let b = app.company("Beta").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (member, _) = app.member(a, "member@acme.test", Role::Viewer).await;
    app.member(b, "shared@beta.test", Role::Viewer).await;

    assert_eq!(invite(&app, &admin, "shared@beta.test").await.status(), 200);
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["subject"], "You were added to Acme on Atrium");
    assert!(got[0]["text"].as_str().unwrap().contains("Nothing changes until you accept"));

    let r = app.post(&admin, "/api/users/reset-link", &[("slug", "acme"), ("id", &member.to_string())]).await;
    assert_eq!(r.status(), 200);
    let body = json(r).await;
    assert_eq!((body["mailed"].as_bool(), body["path"].as_str()), (Some(true), Some("")), "{body}");
    let got = sink.wait_for(2).await;
    assert_eq!(got[1]["envelope"]["to"][0], "member@acme.test");
    assert_eq!(got[1]["subject"], "Set a new Atrium password");
    let token = link_in(&got[1]).rsplit('/').next().unwrap().to_string();
    let r = app
        .post(
            &client(),
            "/api/invite/accept",
            &[("token", &token), ("password", "another fine password"), ("confirm", "another fine password")],
        )
        .await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    assert_eq!(app.login(&client(), "member@acme.test", "another fine password").await.status(), 200);
}

#[tokio::test]
async fn a_refused_invitation_sends_nothing() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (_, manager) = app.member(a, "manager@acme.test", Role::Manager).await;
    // Already a member; a manager may not invite an admin; a bad address.
    assert_eq!(invite(&app, &admin, "manager@acme.test").await.status(), 422);
    let r = app
        .post(
            &manager,
            "/api/users/invite",
            &[("slug", "acme"), ("email", "x@acme.test"), ("name", ""), ("role", "ADMIN")],
        )
        .await;
    assert_eq!(r.status(), 403);
    assert_eq!(invite(&app, &admin, "not an address").await.status(), 422);
    assert_eq!(app.scalar_i64("SELECT count(*) FROM mail_outbox").await, 0);
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(sink.messages().await.is_empty());
}

#[tokio::test]
async fn a_temporary_refusal_is_retried_and_a_permanent_one_is_a_dead_letter() {
    let sink = MailSink::start(&["--reject-first", "1", "--reject-to", "gone@acme.test"]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;

    assert_eq!(invite(&app, &admin, "later@acme.test").await.status(), 200);
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["envelope"]["to"][0], "later@acme.test");
    let row = settled(&app, "later@acme.test").await;
    assert_eq!((row.0.as_str(), row.1, row.2.as_deref()), ("sent", 2, None), "{row:?}");

    assert_eq!(invite(&app, &admin, "gone@acme.test").await.status(), 200);
    let row = settled(&app, "gone@acme.test").await;
    // Refused for good at the first attempt: not retried, and its body erased.
    assert_eq!((row.0.as_str(), row.1, row.3), ("failed", 1, true), "{row:?}");
    assert!(row.2.as_deref().unwrap_or_default().contains("550"), "{row:?}");
    assert_eq!(sink.messages().await.len(), 1);
}

/// A mail's row once the worker has finished with it (sent or failed): status, attempts,
/// last error, body erased.
async fn settled(app: &TestApp, to: &str) -> (String, i32, Option<String>, bool) {
    for _ in 0..150 {
        let row: (String, i32, Option<String>, bool) = sqlx::query_as(
            "SELECT status, attempts, last_error, body_sealed IS NULL FROM mail_outbox WHERE to_address = $1",
        )
        .bind(to)
        .fetch_one(&app.pool)
        .await
        .unwrap();
        if row.0 == "sent" || row.0 == "failed" {
            return row;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the mail to {to} was neither sent nor given up");
}

#[tokio::test]
async fn without_smtp_the_admin_still_copies_the_link() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let body = json(invite(&app, &admin, "new@acme.test").await).await;
    assert_eq!(body["Invited"]["mailed"], false);
    assert!(body["Invited"]["path"].as_str().unwrap().starts_with("/invite/"));
    assert_eq!(app.scalar_i64("SELECT count(*) FROM mail_outbox").await, 0);
}

/// "Forgot your password?" posted from the client at `ip`.
async fn forgot(app: &TestApp, email: &str, ip: &str) -> reqwest::Response {
    client()
        .post(app.url("/api/password/forgot"))
        .header("Origin", format!("http://{}", app.addr))
        .header("X-Forwarded-For", ip)
        .form(&[("email", email)])
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn a_forgotten_password_is_reset_through_the_mailed_link_and_every_session_ends() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let b = app.company("Beta").await;
    let (member, signed_in) = app.member(a, "member@acme.test", Role::Manager).await;
    // The account also belongs to another company: its owner may still recover it.
    sqlx::query("INSERT INTO memberships (company_id, user_id, role, status) VALUES ($1, $2, 'VIEWER', 'ACTIVE')")
        .bind(b)
        .bind(member)
        .execute(&app.pool)
        .await
        .unwrap();
    assert_eq!(app.get(&signed_in, "/t/acme/users").await.status(), 200);

    let r = forgot(&app, "Member@Acme.test", "203.0.113.7").await;
    assert_eq!(r.status(), 200);
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["envelope"]["to"][0], "member@acme.test");
    assert_eq!(got[0]["subject"], "Reset your Atrium password");
    assert!(got[0]["text"].as_str().unwrap().contains("works once and for 60 minutes"));
    let link = link_in(&got[0]);
    let path = link.trim_start_matches(&format!("http://{}", app.addr)).to_string();
    let page = app.get(&client(), &path).await.text().await.unwrap();
    assert!(page.contains("Choose a new password") && page.contains("member@acme.test"), "{page}");

    let token = path.rsplit('/').next().unwrap().to_string();
    let accept = [("token", token.as_str()), ("password", "a brand new password"), ("confirm", "a brand new password")];
    let r = app.post(&client(), "/api/invite/accept", &accept).await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    assert_eq!(app.login(&client(), "member@acme.test", "a brand new password").await.status(), 200);
    assert_eq!(app.login(&client(), "member@acme.test", PASSWORD).await.status(), 401);
    // The browser that was signed in is signed out; the link is spent.
    assert_eq!(app.get(&signed_in, "/t/acme/users").await.status(), 303);
    assert_eq!(app.post(&client(), "/api/invite/accept", &accept).await.status(), 409);

    let details: Vec<(String, serde_json::Value)> = sqlx::query_as(
        "SELECT action, details FROM audit_log WHERE action IN ('account.recovery_request', 'user.password_reset') ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(details[0].0, "account.recovery_request");
    assert_eq!(details[0].1["outcome"], "mailed");
    assert_eq!(details[1].0, "user.password_reset");
    assert_eq!(details[1].1["via"], "recovery mail");
}

#[tokio::test]
async fn recovery_answers_alike_for_every_address_and_is_throttled_per_address_and_client() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    app.member(a, "member@acme.test", Role::Viewer).await;
    let (suspended, _) = app.member(a, "gone@acme.test", Role::Viewer).await;
    sqlx::query("UPDATE users SET status = 'SUSPENDED' WHERE id = $1")
        .bind(suspended)
        .execute(&app.pool)
        .await
        .unwrap();

    let known = forgot(&app, "member@acme.test", "198.51.100.1").await;
    let (status, body) = (known.status(), known.text().await.unwrap());
    for other in ["nobody@acme.test", "gone@acme.test"] {
        let r = forgot(&app, other, "198.51.100.2").await;
        assert_eq!((r.status(), r.text().await.unwrap()), (status, body.clone()), "{other}");
    }
    // Three mails an hour per address; the fourth request is answered the same, and sends nothing.
    for i in 0..3 {
        let r = forgot(&app, "member@acme.test", &format!("198.51.100.{}", 10 + i)).await;
        assert_eq!((r.status(), r.text().await.unwrap()), (status, body.clone()));
    }
    sink.wait_for(3).await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    let got = sink.messages().await;
    assert_eq!(got.len(), 3, "{got:?}");
    assert!(got.iter().all(|m| m["envelope"]["to"][0] == "member@acme.test"));
    // Only the newest link works.
    let tokens: Vec<String> = got.iter().map(|m| link_in(m).rsplit('/').next().unwrap().to_string()).collect();
    let accept = |t: &str| {
        [
            ("token", t.to_string()),
            ("password", "a brand new password".into()),
            ("confirm", "a brand new password".into()),
        ]
    };
    let r = client()
        .post(app.url("/api/invite/accept"))
        .header("Origin", format!("http://{}", app.addr))
        .form(&accept(&tokens[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409);

    // One client may ask ten times an hour, whatever the addresses; then a clear 429.
    for i in 0..10 {
        assert_eq!(forgot(&app, &format!("x{i}@acme.test"), "192.0.2.99").await.status(), 200);
    }
    let r = forgot(&app, "x10@acme.test", "192.0.2.99").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(r.text().await.unwrap().contains("Too many password recovery requests"));

    let outcomes: Vec<String> = sqlx::query_scalar(
        "SELECT details->>'outcome' FROM audit_log WHERE action = 'account.recovery_request' ORDER BY id LIMIT 6",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(outcomes, ["mailed", "unknown_account", "account_not_active", "mailed", "mailed", "address_limit"]);
}

#[tokio::test]
async fn without_smtp_recovery_says_to_ask_an_administrator() {
    let app = spawn_app().await;
    let r = forgot(&app, "member@acme.test", "198.51.100.1").await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("Ask your company's administrator"));
    let page = app.get(&client(), "/forgot").await.text().await.unwrap();
    assert!(page.contains("not set up here"), "{page}");
    let bad = forgot(&app, "not an address", "198.51.100.1").await;
    assert_eq!(bad.status(), 422);
}

#[tokio::test]
async fn an_api_key_about_to_expire_is_announced_once_to_each_active_admin() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let b = app.company("Beta").await;
    app.member(a, "ann@acme.test", Role::Admin).await;
    app.member(a, "bob@acme.test", Role::Admin).await;
    let (away, _) = app.member(a, "away@acme.test", Role::Admin).await;
    sqlx::query("UPDATE users SET status = 'SUSPENDED' WHERE id = $1").bind(away).execute(&app.pool).await.unwrap();
    app.member(a, "viewer@acme.test", Role::Viewer).await;
    app.member(b, "other@beta.test", Role::Admin).await;
    let key = |company: uuid::Uuid, name: &'static str, days: i32, revoked: bool| {
        let pool = app.pool.clone();
        async move {
            sqlx::query_scalar::<_, uuid::Uuid>(
                "INSERT INTO api_keys (company_id, name, key_hash, key_prefix, key_last4, expires_at, revoked_at)
                 VALUES ($1, $2, sha256(gen_random_uuid()::text::bytea), 'atr_live_ab12', 'wxyz',
                         now() + make_interval(days => $3) - interval '1 hour', CASE WHEN $4 THEN now() END)
                 RETURNING id",
            )
            .bind(company)
            .bind(name)
            .bind(days)
            .bind(revoked)
            .fetch_one(&pool)
            .await
            .unwrap()
        }
    };
    let soon = key(a, "Payroll sync", 10, false).await;
    key(a, "Later", 30, false).await;
    key(a, "Revoked", 5, true).await;
    // Rolled over to a new key: it runs out on purpose, nobody is told.
    let rolled = key(a, "Rolled", 3, false).await;
    sqlx::query("UPDATE api_keys SET rolled_at = now() WHERE id = $1").bind(rolled).execute(&app.pool).await.unwrap();
    // A company with no admin yet: its key waits, unmarked, until one can be told.
    let lonely = app.company(&"Lonely ".repeat(28)).await;
    let unheard = key(lonely, "Unheard", 7, false).await;

    let outgoing = app::mail::Outgoing { enabled: true, base_url: format!("http://{}", app.addr) };
    let n = atrium_server::housekeeping::expiry_notices(&app.pool, &test_keyring(), &outgoing).await.unwrap();
    assert_eq!(n, 2);
    assert_eq!(atrium_server::housekeeping::expiry_notices(&app.pool, &test_keyring(), &outgoing).await.unwrap(), 0);
    let waiting: bool = sqlx::query_scalar("SELECT expiry_notice_at IS NULL FROM api_keys WHERE id = $1")
        .bind(unheard)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(waiting);
    // Its admin arrives; a company name of 200 characters still makes a subject that fits.
    app.member(lonely, "late@lonely.test", Role::Admin).await;
    assert_eq!(atrium_server::housekeeping::expiry_notices(&app.pool, &test_keyring(), &outgoing).await.unwrap(), 1);
    let got = sink.wait_for(3).await;
    let (acme, lonely_mail): (Vec<_>, Vec<_>) = got.iter().partition(|m| m["envelope"]["to"][0] != "late@lonely.test");
    assert!(lonely_mail[0]["subject"].as_str().unwrap().contains('…'));
    let mut to: Vec<&str> = acme.iter().map(|m| m["envelope"]["to"][0].as_str().unwrap()).collect();
    to.sort();
    assert_eq!(to, ["ann@acme.test", "bob@acme.test"]);
    for m in &acme {
        assert_eq!(m["subject"], "API key \"Payroll sync\" of Acme expires in 10 days");
        assert_eq!(link_in(m), format!("http://{}/t/acme/api-keys/{soon}", app.addr));
        assert!(m["html"].as_str().unwrap().contains("Payroll sync"));
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(sink.messages().await.len(), 3);
}

async fn sign_in_with(app: &TestApp, email: &str, browser: &str) -> reqwest::Client {
    let c = client();
    let r = c
        .post(app.url("/api/login"))
        .header("Origin", format!("http://{}", app.addr))
        .header("User-Agent", browser)
        .form(&[("email", email), ("password", PASSWORD), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    c
}

#[tokio::test]
async fn a_sign_in_from_a_new_browser_is_mailed_unless_the_owner_turned_it_off() {
    const FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
    const CHROME: &str =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    app.user("member@acme.test", Role::Viewer, Some(a)).await;

    // The first sign-in ever is not news; a second browser is; the same browser again is not.
    sign_in_with(&app, "member@acme.test", CHROME).await;
    let firefox = sign_in_with(&app, "member@acme.test", FIREFOX).await;
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["subject"], "New sign-in to your Atrium account");
    let text = got[0]["text"].as_str().unwrap();
    assert!(text.contains("Firefox 128 on Windows") && text.contains("127.0.0.1"), "{text}");
    assert_eq!(link_in(&got[0]), format!("http://{}/account#sessions", app.addr));
    sign_in_with(&app, "member@acme.test", FIREFOX).await;

    // Turned off on the account page: no mail for a third browser.
    let page = app.get(&firefox, "/account").await.text().await.unwrap();
    assert!(page.contains("name=\"new_sign_in\"") && page.contains("checked"), "{page}");
    let r = app.post(&firefox, "/api/account/notifications", &[]).await;
    assert!(r.status().is_success() || r.status().is_redirection(), "{}", r.status());
    assert_eq!(app.audit_count("account.update").await, 1);
    sign_in_with(&app, "member@acme.test", "curl/8.5.0").await;
    tokio::time::sleep(std::time::Duration::from_millis(700)).await;
    assert_eq!(sink.messages().await.len(), 1);
}
