//! Two-factor sign-in: enrolling, the second step, recovery codes, a company's requirement,
//! the admin's reset, and the security overview, with the attacks on each.
use crate::helpers::*;
use app::domain::Role;

/// The code an authenticator app shows for `secret` (base32, as Atrium displays it) at
/// `offset` steps from now: computed with totp-rs, not with Atrium's own check.
pub fn code(secret: &str, offset: i64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.replace(' ', "")).to_bytes().unwrap();
    // (Seven arguments: the app turns on totp-rs's otpauth feature, which adds issuer and account.)
    let totp = totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, None, "test".into()).unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp() + offset * 30;
    totp.generate(now as u64)
}

async fn call(app: &TestApp, c: &reqwest::Client, path: &str, form: &[(&str, &str)]) -> (u16, serde_json::Value) {
    let r = app.post(c, path, form).await;
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)))
}

/// Sets up the app for the signed-in `c`; its secret and recovery codes.
async fn enroll(app: &TestApp, c: &reqwest::Client) -> (String, Vec<String>) {
    let (s, _) = call(app, c, "/api/account/two-factor/start", &[]).await;
    assert!(s == 200 || s == 302, "{s}");
    let (s, status) = call(app, c, "/api/account/two-factor", &[]).await;
    assert_eq!(s, 200, "{status}");
    let secret = status["enrolling"]["secret"].as_str().unwrap().to_string();
    assert!(
        status["enrolling"]["qr_svg"].as_str().unwrap().starts_with("<?xml")
            || status["enrolling"]["qr_svg"].as_str().unwrap().contains("<svg")
    );
    assert!(status["enrolling"]["uri"].as_str().unwrap().starts_with("otpauth://totp/Atrium:"));
    let (s, body) = call(app, c, "/api/account/two-factor/enable", &[("code", "000000")]).await;
    assert_eq!(s, 422, "{body}");
    let (s, body) = call(app, c, "/api/account/two-factor/enable", &[("code", &code(&secret, 0))]).await;
    assert_eq!(s, 200, "{body}");
    let codes: Vec<String> = serde_json::from_value(body).unwrap();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

/// The password step; the client is then half-way: not signed in.
async fn password_step(app: &TestApp, email: &str) -> reqwest::Client {
    let c = client();
    let r = app.login(&c, email, PASSWORD).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"], "/login/two-factor");
    c
}

async fn signed_in(app: &TestApp, c: &reqwest::Client) -> bool {
    app.get(c, "/account").await.status() == 200
}

#[tokio::test]
async fn with_two_factor_on_a_password_alone_signs_no_one_in_and_each_code_works_once() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, member) = app.member(a, "member@acme.test", Role::Manager).await;
    let (secret, recovery) = enroll(&app, &member).await;
    assert_eq!(app.audit_count("account.two_factor_enable").await, 1);
    let stored: Vec<u8> = sqlx::query_scalar("SELECT totp_secret_sealed FROM users WHERE email = 'member@acme.test'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    let raw = totp_rs::Secret::Encoded(secret.replace(' ', "")).to_bytes().unwrap();
    assert!(!stored.windows(raw.len()).any(|w| w == raw), "the secret is sealed at rest");

    let c = password_step(&app, "member@acme.test").await;
    assert!(!signed_in(&app, &c).await);
    let page = app.get(&c, "/login/two-factor").await.text().await.unwrap();
    assert!(page.contains("Enter your code") && page.contains("member@acme.test"), "{page}");
    let (s, body) = call(&app, &c, "/api/login/two-factor", &[("code", "123456")]).await;
    assert_eq!(s, 422, "{body}");
    // The code that turned it on was spent: not accepted again.
    let (s, _) = call(&app, &c, "/api/login/two-factor", &[("code", &code(&secret, 0))]).await;
    assert_eq!(s, 422);
    let next = code(&secret, 1);
    let (s, body) = call(&app, &c, "/api/login/two-factor", &[("code", &next)]).await;
    assert_eq!(s, 200, "{body}");
    assert!(signed_in(&app, &c).await);
    let again = password_step(&app, "member@acme.test").await;
    assert_eq!(call(&app, &again, "/api/login/two-factor", &[("code", &next)]).await.0, 422);

    // A recovery code, however it is typed, works once.
    let typed = recovery[0].to_uppercase().replace('-', " ");
    assert_eq!(call(&app, &again, "/api/login/two-factor", &[("code", &typed)]).await.0, 200);
    assert!(signed_in(&app, &again).await);
    let third = password_step(&app, "member@acme.test").await;
    assert_eq!(call(&app, &third, "/api/login/two-factor", &[("code", &recovery[0])]).await.0, 422);
    let factors: Vec<String> = sqlx::query_scalar(
        "SELECT details->>'second_factor' FROM audit_log WHERE action = 'auth.login' AND details ? 'second_factor' ORDER BY id",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(factors, ["totp", "recovery_code"]);
    assert_eq!(
        app.scalar_i64("SELECT count(*) FROM audit_log WHERE action = 'auth.login_failed' AND details->>'reason' = 'wrong_second_factor'")
            .await,
        4
    );
    let (_, status) = call(&app, &again, "/api/account/two-factor", &[]).await;
    assert_eq!(status["recovery_codes_left"], 9);
}

#[tokio::test]
async fn new_recovery_codes_need_a_code_from_the_app_and_retire_the_old_ones() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, member) = app.member(a, "member@acme.test", Role::Viewer).await;
    let (secret, old) = enroll(&app, &member).await;
    // A recovery code is not enough: a borrowed session (or a stolen code sheet) cannot mint more.
    assert_eq!(call(&app, &member, "/api/account/two-factor/codes", &[("code", &old[1])]).await.0, 422);
    let (s, body) = call(&app, &member, "/api/account/two-factor/codes", &[("code", &code(&secret, 1))]).await;
    assert_eq!(s, 200, "{body}");
    let new: Vec<String> = serde_json::from_value(body).unwrap();
    assert_eq!(app.audit_count("account.two_factor_codes").await, 1);
    let c = password_step(&app, "member@acme.test").await;
    assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", &old[0])]).await.0, 422);
    assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", &new[0])]).await.0, 200);
    // Off again, with a recovery code (the app's steps so far are spent).
    let (s, _) = call(&app, &c, "/api/account/two-factor/disable", &[("code", &new[1])]).await;
    assert!(s == 200 || s == 302, "{s}");
    assert_eq!(app.audit_count("account.two_factor_disable").await, 1);
    let again = client();
    assert_eq!(app.login(&again, "member@acme.test", PASSWORD).await.headers()["location"], "/t/acme/");
}

#[tokio::test]
async fn wrong_codes_share_the_password_throttle_and_a_stale_step_signs_no_one_in() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, member) = app.member(a, "member@acme.test", Role::Viewer).await;
    let (secret, _) = enroll(&app, &member).await;
    // No password step: nothing to complete.
    assert_eq!(call(&app, &client(), "/api/login/two-factor", &[("code", &code(&secret, 1))]).await.0, 401);
    let c = password_step(&app, "member@acme.test").await;
    for _ in 0..4 {
        assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", "000000")]).await.0, 422);
    }
    // The fifth wrong code ends the attempt: the password is needed again.
    assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", "000000")]).await.0, 401);
    assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", &code(&secret, 1))]).await.0, 401);
    // And the shared throttle now holds this account from this address, password or code.
    let c = client();
    assert_eq!(app.login(&c, "member@acme.test", PASSWORD).await.status(), 429);
    let r = app.post(&c, "/api/login/two-factor", &[("code", &code(&secret, 1))]).await;
    assert_eq!(r.status(), 401);
    let r = app.login(&client(), "member@acme.test", PASSWORD).await;
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    assert!(!signed_in(&app, &c).await);
}

#[tokio::test]
async fn a_company_that_requires_two_factor_has_members_set_it_up_before_they_get_in() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (_, viewer) = app.member(a, "viewer@acme.test", Role::Viewer).await;
    assert_eq!(call(&app, &viewer, "/api/security/two-factor", &[("slug", "acme"), ("required", "on")]).await.0, 403);
    let (s, _) = call(&app, &admin, "/api/security/two-factor", &[("slug", "acme"), ("required", "on")]).await;
    assert!(s == 200 || s == 302);
    assert_eq!(app.audit_count("security.two_factor_require").await, 1);

    let c = password_step(&app, "viewer@acme.test").await;
    let (s, state) = call(&app, &c, "/api/login/two-factor/state", &[]).await;
    assert_eq!(s, 200, "{state}");
    assert_eq!(state["required_by"][0], "Acme");
    let secret = state["enroll"]["secret"].as_str().unwrap().to_string();
    let page = app.get(&c, "/login/two-factor").await.text().await.unwrap();
    assert!(page.contains("Set up two-factor sign-in") && page.contains("<svg"), "{page}");
    assert!(!signed_in(&app, &c).await);
    let r = app.post(&c, "/api/login/two-factor", &[("code", &code(&secret, 0))]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["location"], "/account/two-factor?codes=1");
    let shown = app.get(&c, "/account/two-factor?codes=1").await.text().await.unwrap();
    assert!(shown.contains("data-recovery-codes"), "{shown}");
    let again = app.get(&c, "/account/two-factor?codes=1").await.text().await.unwrap();
    assert!(!again.contains("data-recovery-codes"), "shown once");
    // Required: it cannot be turned off.
    let (s, body) = call(&app, &c, "/api/account/two-factor/disable", &[("code", &code(&secret, 1))]).await;
    assert_eq!(s, 403, "{body}");
    assert!(body.to_string().contains("required by Acme"), "{body}");
}

#[tokio::test]
async fn only_the_company_that_alone_holds_an_account_may_reset_its_second_factor() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Beta").await;
    let (_, admin_a) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (_, admin_b) = app.member(b, "boss@beta.test", Role::Admin).await;
    let (_, manager) = app.member(a, "manager@acme.test", Role::Manager).await;
    let (member, member_c) = app.member(a, "member@acme.test", Role::Viewer).await;
    enroll(&app, &member_c).await;
    let id = member.to_string();

    // A manager may not reset an admin's; another company's admin cannot reach the member at all.
    let boss: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM users WHERE email = 'boss@acme.test'").fetch_one(&app.pool).await.unwrap();
    assert_eq!(
        call(&app, &manager, "/api/users/two-factor/reset", &[("slug", "acme"), ("id", &boss.to_string())]).await.0,
        403
    );
    assert_eq!(call(&app, &admin_b, "/api/users/two-factor/reset", &[("slug", "acme"), ("id", &id)]).await.0, 404);
    assert_eq!(call(&app, &admin_b, "/api/users/two-factor/reset", &[("slug", "beta"), ("id", &id)]).await.0, 404);

    // Once Beta also holds the account, Acme may not weaken it either.
    sqlx::query("INSERT INTO memberships (company_id, user_id, role, status) VALUES ($1, $2, 'VIEWER', 'ACTIVE')")
        .bind(b)
        .bind(member)
        .execute(&app.pool)
        .await
        .unwrap();
    let (s, body) = call(&app, &admin_a, "/api/users/two-factor/reset", &[("slug", "acme"), ("id", &id)]).await;
    assert_eq!(s, 403, "{body}");
    let on: bool = sqlx::query_scalar("SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = $1")
        .bind(member)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(on);

    sqlx::query("DELETE FROM memberships WHERE company_id = $1 AND user_id = $2")
        .bind(b)
        .bind(member)
        .execute(&app.pool)
        .await
        .unwrap();
    let (s, _) = call(&app, &admin_a, "/api/users/two-factor/reset", &[("slug", "acme"), ("id", &id)]).await;
    assert!(s == 200 || s == 302, "{s}");
    assert_eq!(app.audit_count("user.two_factor_reset").await, 1);
    let c = client();
    assert_eq!(
        app.login(&c, "member@acme.test", PASSWORD)
            .await
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string()),
        Some("/t/acme/".into())
    );
}

#[tokio::test]
async fn a_recovered_password_still_needs_the_second_factor() {
    let sink = MailSink::start(&[]).await;
    let app = spawn_app_with_mail(&sink).await;
    let a = app.company("Acme").await;
    let (_, member) = app.member(a, "member@acme.test", Role::Viewer).await;
    enroll(&app, &member).await;
    // The owner hears of it by mail.
    let got = sink.wait_for(1).await;
    assert_eq!(got[0]["subject"], "Your Atrium sign-in settings changed");
    assert!(got[0]["text"].as_str().unwrap().contains("Two-factor sign-in was turned on"));
    let r = app.post(&client(), "/api/password/forgot", &[("email", "member@acme.test")]).await;
    assert_eq!(r.status(), 200);
    let got = sink.wait_for(2).await;
    let token = link_in(&got[1]).rsplit('/').next().unwrap().to_string();
    let accept = [("token", token.as_str()), ("password", "a brand new password"), ("confirm", "a brand new password")];
    let r = app.post(&client(), "/api/invite/accept", &accept).await;
    assert!(r.status().is_success() || r.status().is_redirection());
    let c = client();
    let r = app.login(&c, "member@acme.test", "a brand new password").await;
    assert_eq!(r.headers()["location"], "/login/two-factor");
    assert!(!signed_in(&app, &c).await);
}

#[tokio::test]
async fn the_security_overview_counts_what_needs_attention_and_links_to_it() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, admin) = app.member(a, "boss@acme.test", Role::Admin).await;
    app.member(a, "viewer@acme.test", Role::Viewer).await;
    let (_, viewer2) = app.member(a, "viewer2@acme.test", Role::Viewer).await;
    enroll(&app, &viewer2).await;
    sqlx::query(
        "INSERT INTO api_keys (company_id, name, key_hash, key_prefix, key_last4) VALUES ($1, 'Forever', sha256('k'::bytea), 'atr_live_ab12', 'wxyz')",
    )
    .bind(a)
    .execute(&app.pool)
    .await
    .unwrap();
    let (s, o) = call(&app, &admin, "/api/security/overview", &[("slug", "acme")]).await;
    assert_eq!(s, 200, "{o}");
    assert_eq!(o["members"], 3);
    assert_eq!(o["without_two_factor"], serde_json::json!([["Admin", 1], ["Viewer", 1]]));
    assert_eq!(o["admins"][0]["email"], "boss@acme.test");
    assert_eq!(o["admins"][0]["two_factor"], false);
    assert_eq!(o["risky_keys"][0]["reasons"], serde_json::json!(["never expires", "no rate limit"]));
    assert_eq!(o["last_verification"], serde_json::Value::Null);
    // The operator's check of every chain counts for each company (a platform row tenants cannot read).
    atrium_server::housekeeping::verify_audit(&app.pool, None).await.unwrap();
    let (_, o) = call(&app, &admin, "/api/security/overview", &[("slug", "acme")]).await;
    assert_eq!(o["last_verification"]["intact"], true, "{o}");
    let page = app.get(&admin, "/t/acme/security").await.text().await.unwrap();
    assert!(page.contains("Require two-factor sign-in") && page.contains("/t/acme/api-keys/"), "{page}");
    let (_, viewer) = app.member(a, "viewer3@acme.test", Role::Viewer).await;
    assert_eq!(call(&app, &viewer, "/api/security/overview", &[("slug", "acme")]).await.0, 403);

    let root = app.superadmin().await;
    let (s, overview) = call(&app, &root, "/api/admin/overview", &[]).await;
    assert_eq!(s, 200, "{overview}");
    let acme = overview["security"].as_array().unwrap().iter().find(|r| r["slug"] == "acme").unwrap();
    assert_eq!((acme["without_two_factor"].as_i64(), acme["risky_keys"].as_i64()), (Some(3), Some(1)));
    assert_eq!(acme["last_verification"]["intact"], true);
    assert_eq!(
        app.scalar_i64(
            "SELECT count(*) FROM audit_log WHERE action = 'platform.read' AND details->>'view' = 'overview'"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn codes_on_the_account_page_share_the_throttle_and_are_audited() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (_, member) = app.member(a, "member@acme.test", Role::Viewer).await;
    let (secret, _) = enroll(&app, &member).await;
    for _ in 0..5 {
        assert_eq!(call(&app, &member, "/api/account/two-factor/disable", &[("code", "000000")]).await.0, 422);
    }
    let r = app.post(&member, "/api/account/two-factor/codes", &[("code", &code(&secret, 1))]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(app.audit_count("account.two_factor_refused").await, 5);
    // What cannot be a code is bad input, not a guess: refused, not counted.
    let (s, body) = call(&app, &member, "/api/account/two-factor/disable", &[("code", "hello")]).await;
    assert_eq!(s, 422, "{body}");
    assert_eq!(app.audit_count("account.two_factor_refused").await, 5);
    let on: bool = sqlx::query_scalar("SELECT totp_enabled_at IS NOT NULL FROM users WHERE email = 'member@acme.test'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(on);
}

#[tokio::test]
async fn a_secret_that_cannot_be_opened_still_lets_a_recovery_code_in_and_rotation_reseals_secrets() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let (member, c) = app.member(a, "member@acme.test", Role::Viewer).await;
    let (secret, codes) = enroll(&app, &c).await;

    // Rotating the root secret seals the two-factor secret again under the new one.
    let rotated =
        app::integrations::crypto::Keyring::new("the next root secret, also long enough", &[TEST_SECRET.into()]);
    let new_pepper = app::api_keys::secret::Pepper::derive("the next root secret, also long enough");
    let r = atrium_server::housekeeping::rotate_secret(&app.pool, &rotated, &new_pepper).await.unwrap();
    assert_eq!((r.two_factor_resealed, r.recovery_codes_left), (1, 1));
    let (sealed, version): (Vec<u8>, i32) =
        sqlx::query_as("SELECT totp_secret_sealed, totp_key_version FROM users WHERE id = $1")
            .bind(member)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let only_new = app::integrations::crypto::Keyring::new("the next root secret, also long enough", &[]);
    let opened = app::two_factor::totp::open(&only_new, member, &sealed, version).unwrap();
    assert_eq!(opened, totp_rs::Secret::Encoded(secret.replace(' ', "")).to_bytes().unwrap());

    // This server still runs with the old secret, so it cannot open the new seal: the code
    // from the app is refused, a recovery code lets the owner in (no 500).
    let c = password_step(&app, "member@acme.test").await;
    assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", &code(&secret, 1))]).await.0, 422);
    assert_eq!(call(&app, &c, "/api/login/two-factor", &[("code", &codes[0])]).await.0, 200);
}

#[tokio::test]
async fn a_pending_invitation_reveals_and_resets_nothing_of_the_account() {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company("Beta").await;
    let (_, admin_a) = app.member(a, "boss@acme.test", Role::Admin).await;
    let (other, other_c) = app.member(b, "other@beta.test", Role::Viewer).await;
    enroll(&app, &other_c).await;
    // Beta's membership ends: no accepted membership holds the account any more.
    sqlx::query("DELETE FROM memberships WHERE company_id = $1 AND user_id = $2")
        .bind(b)
        .bind(other)
        .execute(&app.pool)
        .await
        .unwrap();
    let (s, _) = call(
        &app,
        &admin_a,
        "/api/users/invite",
        &[("slug", "acme"), ("email", "other@beta.test"), ("name", ""), ("role", "VIEWER")],
    )
    .await;
    assert_eq!(s, 200);
    let (_, detail) = call(&app, &admin_a, "/api/users/get", &[("slug", "acme"), ("id", &other.to_string())]).await;
    assert_eq!(detail["two_factor"], false, "{detail}");
    assert_eq!(
        call(&app, &admin_a, "/api/users/two-factor/reset", &[("slug", "acme"), ("id", &other.to_string())]).await.0,
        404
    );
    let on: bool = sqlx::query_scalar("SELECT totp_enabled_at IS NOT NULL FROM users WHERE id = $1")
        .bind(other)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert!(on);
}
