//! The authorization matrix: every server function and every page, as every role, against
//! the user's own company and another one. Denied requests must change nothing and return
//! nothing of the other company. A server function or page missing from the tables below
//! fails the test, so new routes have to declare who may use them.
use crate::helpers::*;
use app::domain::{Permission, Role};
use std::collections::BTreeSet;
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
enum Rule {
    /// Anyone, signed in or not (sign-in, the invite link, the theme).
    Public,
    /// Any signed-in user (their own account).
    Signed,
    /// A member of the URL's company whose role holds the permission (None: any member);
    /// a super-admin only while acting as that company.
    Tenant(Option<Permission>),
    /// The super-admin only, for any company.
    SuperOnly,
    /// Platform-wide views and company management: a role holding the permission
    /// (in practice the super-admin).
    Platform(Permission),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Actor {
    Anonymous,
    Viewer,
    Manager,
    Admin,
    Super,
}

const ACTORS: [Actor; 5] = [Actor::Anonymous, Actor::Viewer, Actor::Manager, Actor::Admin, Actor::Super];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Which {
    Own,
    Other,
}

/// What the world looks like: company A (the actors' own) and B (the other one).
struct World {
    app: TestApp,
    clients: Vec<(Actor, reqwest::Client)>,
    a: Uuid,
    b: Uuid,
    /// A viewer in each company, the target of user edits.
    target_a: Uuid,
    target_b: Uuid,
    /// Companies the allowed delete requests may remove.
    spare: [Uuid; 2],
    /// An API key in each company, the target of key reads, rolls and revocations.
    key_a: Uuid,
    key_b: Uuid,
    /// A weight history row in each company, the target of restores.
    version_a: i64,
    version_b: i64,
    /// A queued delivery in each company.
    delivery_a: i64,
    delivery_b: i64,
}

const B_NAME: &str = "Borealis Secret";
const B_EMAILS: [&str; 2] = ["hidden.admin@borealis.test", "hidden.viewer@borealis.test"];

impl World {
    fn key(&self, t: Which) -> String {
        match t {
            Which::Own => self.key_a,
            Which::Other => self.key_b,
        }
        .to_string()
    }

    fn version(&self, t: Which) -> String {
        match t {
            Which::Own => self.version_a,
            Which::Other => self.version_b,
        }
        .to_string()
    }

    fn delivery(&self, t: Which) -> String {
        match t {
            Which::Own => self.delivery_a,
            Which::Other => self.delivery_b,
        }
        .to_string()
    }

    fn slug(&self, t: Which) -> &'static str {
        match t {
            Which::Own => "acme",
            Which::Other => "borealis-secret",
        }
    }
    fn target(&self, t: Which) -> String {
        match t {
            Which::Own => self.target_a,
            Which::Other => self.target_b,
        }
        .to_string()
    }
    fn company(&self, t: Which) -> String {
        match t {
            Which::Own => self.a,
            Which::Other => self.b,
        }
        .to_string()
    }
}

/// A changing number, so repeated saves are real changes.
fn rand_cents() -> u32 {
    Uuid::new_v4().as_u128() as u32
}

fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", &Uuid::new_v4().simple().to_string()[..8])
}

type Args = fn(&World, Which) -> Vec<(&'static str, String)>;

/// Every server function, with the rule that governs it and arguments that would succeed
/// for someone allowed.
fn server_functions() -> Vec<(&'static str, Rule, Args)> {
    use Permission::*;
    use Rule::*;
    vec![
        ("/api/me", Public, |_, _| vec![]),
        ("/api/theme", Public, |_, _| vec![("theme", "dark".into())]),
        ("/api/login", Public, |_, _| {
            vec![("email", "nobody@nowhere.test".into()), ("password", "wrong".into()), ("next", "".into())]
        }),
        ("/api/password/forgot", Public, |_, _| vec![("email", "nobody@nowhere.test".into())]),
        ("/api/password/recovery", Public, |_, _| vec![]),
        ("/api/users/flash-invite", Public, |_, _| vec![]),
        ("/api/users/flash-link", Public, |_, _| vec![]),
        ("/api/invite/inspect", Public, |_, _| vec![("token", "0".repeat(64))]),
        ("/api/invite/accept", Public, |_, _| {
            vec![
                ("token", "0".repeat(64)),
                ("password", "long enough password".into()),
                ("confirm", "long enough password".into()),
            ]
        }),
        ("/api/account/load", Signed, |_, _| vec![]),
        ("/api/account/profile", Signed, |_, _| vec![("name", "Same Name".into())]),
        ("/api/account/notifications", Signed, |_, _| vec![("new_sign_in", "on".into())]),
        ("/api/account/two-factor", Signed, |_, _| vec![]),
        ("/api/account/two-factor/start", Signed, |_, _| vec![]),
        ("/api/account/two-factor/enable", Signed, |_, _| vec![("code", "000000".into())]),
        // Not a code at all: refused as bad input, without counting against the sign-in throttle.
        ("/api/account/two-factor/codes", Signed, |_, _| vec![("code", "x".into())]),
        ("/api/account/two-factor/disable", Signed, |_, _| vec![("code", "x".into())]),
        ("/api/account/two-factor/flash", Public, |_, _| vec![]),
        ("/api/login/two-factor/state", Public, |_, _| vec![]),
        ("/api/login/two-factor", Public, |_, _| vec![("code", "000000".into())]),
        ("/api/account/password", Signed, |_, _| {
            vec![
                ("current", "wrong".into()),
                ("password", "long enough password".into()),
                ("confirm", "long enough password".into()),
            ]
        }),
        ("/api/account/sessions/revoke", Signed, |_, _| vec![("id", Uuid::nil().to_string())]),
        // Nobody here has a pending invitation: accepting one for either company is a 404.
        ("/api/account/invitation", Signed, |w, t| {
            vec![("company_id", if t == Which::Own { w.a } else { w.b }.to_string()), ("answer", "accept".into())]
        }),
        ("/api/tenant/shell", Tenant(None), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/tenant/switch", Tenant(None), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/tenant/act-as", SuperOnly, |w, t| vec![("slug", w.slug(t).into()), ("reason", "Matrix test".into())]),
        ("/api/companies/home", Tenant(Some(CompaniesRead)), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/users/list", Tenant(Some(UsersRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("q", "".into()), ("role", "".into()), ("status", "".into())]
        }),
        ("/api/users/get", Tenant(Some(UsersRead)), |w, t| vec![("slug", w.slug(t).into()), ("id", w.target(t))]),
        ("/api/users/invite", Tenant(Some(UsersWrite)), |w, t| {
            vec![
                ("slug", w.slug(t).into()),
                ("email", format!("{}@matrix.test", unique("inv"))),
                ("name", "".into()),
                ("role", "VIEWER".into()),
            ]
        }),
        ("/api/users/update", Tenant(Some(UsersWrite)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.target(t)), ("name", unique("name")), ("role", "VIEWER".into())]
        }),
        ("/api/users/status", Tenant(Some(UsersSuspend)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.target(t)), ("status", "ACTIVE".into())]
        }),
        ("/api/users/reset-link", Tenant(Some(UsersWrite)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.target(t))]
        }),
        // The target has no second factor: an allowed call is told so (409), nothing changes.
        ("/api/users/two-factor/reset", Tenant(Some(UsersWrite)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.target(t))]
        }),
        ("/api/security/overview", Tenant(Some(SecurityManage)), |w, t| vec![("slug", w.slug(t).into())]),
        // Saved as it is (not required), so the pages below still sign in with a password alone.
        ("/api/security/two-factor", Tenant(Some(SecurityManage)), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/api-keys/list", Tenant(Some(ApiKeysRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("status", "".into())]
        }),
        ("/api/api-keys/get", Tenant(Some(ApiKeysRead)), |w, t| vec![("slug", w.slug(t).into()), ("id", w.key(t))]),
        ("/api/api-keys/create", Tenant(Some(ApiKeysWrite)), |w, t| {
            vec![
                ("slug", w.slug(t).into()),
                ("name", unique("Matrix key")),
                ("scopes[]", "read:metrics".into()),
                ("expiry", "90".into()),
            ]
        }),
        ("/api/api-keys/roll", Tenant(Some(ApiKeysWrite)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.key(t)), ("grace", "1h".into())]
        }),
        ("/api/api-keys/revoke", Tenant(Some(ApiKeysRevoke)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.key(t)), ("confirm", "1".into())]
        }),
        ("/api/api-keys/flash-secret", Public, |_, _| vec![]),
        ("/api/weights/get", Tenant(Some(WeightsRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("category", "sroi".into())]
        }),
        ("/api/weights/history", Tenant(Some(WeightsRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("category", "sroi".into())]
        }),
        ("/api/weights/save", Tenant(Some(WeightsWrite)), |w, t| {
            let value = format!("{}", 20 + rand_cents() % 10);
            vec![
                ("slug", w.slug(t).into()),
                ("category", "sroi".into()),
                ("values[volunteer_hour_value]", value),
                ("reason", "Matrix test".into()),
            ]
        }),
        ("/api/weights/restore", Tenant(Some(WeightsWrite)), |w, t| {
            vec![
                ("slug", w.slug(t).into()),
                ("category", "sroi".into()),
                ("version", w.version(t)),
                ("reason", "Matrix restore".into()),
            ]
        }),
        ("/api/integrations/list", Tenant(Some(IntegrationsRead)), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/integrations/get", Tenant(Some(IntegrationsRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("platform", "benevity".into())]
        }),
        ("/api/integrations/save", Tenant(Some(IntegrationsWrite)), |w, t| {
            vec![
                ("slug", w.slug(t).into()),
                ("platform", "goodera".into()),
                ("endpoint", "https://hooks.example.com/x".into()),
                ("config", format!("{{\"organization_id\": \"{}\"}}", unique("org"))),
            ]
        }),
        ("/api/integrations/send-test", Tenant(Some(IntegrationsWrite)), |w, t| {
            vec![("slug", w.slug(t).into()), ("platform", "benevity".into())]
        }),
        ("/api/integrations/disable", Tenant(Some(IntegrationsWrite)), |w, t| {
            vec![("slug", w.slug(t).into()), ("platform", "benevity".into())]
        }),
        ("/api/deliveries/list", Tenant(Some(IntegrationsRead)), |w, t| {
            vec![
                ("slug", w.slug(t).into()),
                ("status", "".into()),
                ("platform", "".into()),
                ("from", "".into()),
                ("to", "".into()),
            ]
        }),
        ("/api/deliveries/get", Tenant(Some(IntegrationsRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.delivery(t))]
        }),
        ("/api/deliveries/replay", Tenant(Some(IntegrationsReplay)), |w, t| {
            vec![("slug", w.slug(t).into()), ("id", w.delivery(t))]
        }),
        ("/api/deliveries/replay-failed", Tenant(Some(IntegrationsReplay)), |w, t| {
            vec![
                ("slug", w.slug(t).into()),
                ("platform", "".into()),
                ("from", "".into()),
                ("to", "".into()),
                ("expected", "0".into()),
                ("confirm", "1".into()),
            ]
        }),
        ("/api/roles/matrix", Tenant(Some(UsersRead)), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/roles/explain", Tenant(Some(UsersRead)), |w, t| {
            vec![("slug", w.slug(t).into()), ("user", w.target(t)), ("permission", "users.read".into())]
        }),
        ("/api/companies/list", Platform(CompaniesWrite), |_, _| vec![("q", "".into()), ("sort", "name".into())]),
        ("/api/companies/create", Platform(CompaniesWrite), |_, _| {
            vec![("name", unique("Company")), ("slug", "".into())]
        }),
        ("/api/companies/get", Platform(CompaniesWrite), |w, t| vec![("id", w.company(t))]),
        ("/api/companies/update", Platform(CompaniesWrite), |w, t| {
            let (name, slug) = match t {
                Which::Own => ("Acme", "acme"),
                Which::Other => (B_NAME, "borealis-secret"),
            };
            vec![
                ("id", w.company(t)),
                ("name", name.into()),
                ("slug", slug.into()),
                ("tenant_config", "{}".into()),
                ("tenant_enabled", "on".into()),
            ]
        }),
        ("/api/admin/overview", SuperOnly, |_, _| vec![]),
        ("/api/admin/maintenance", SuperOnly, |_, _| vec![]),
        // Switching it off (it is off): allowed calls must leave the other routes writable.
        ("/api/admin/maintenance/set", SuperOnly, |_, _| vec![("active", "false".into()), ("message", "".into())]),
        ("/api/audit/view", Tenant(Some(AuditRead)), |w, t| vec![("slug", w.slug(t).into()), ("cursor", "".into())]),
        ("/api/audit/verify", Tenant(Some(AuditRead)), |w, t| vec![("slug", w.slug(t).into())]),
        ("/api/audit/retention", Tenant(Some(AuditRetention)), |w, t| {
            vec![("slug", w.slug(t).into()), ("days", "90".into()), ("legal_hold_reason", "".into())]
        }),
        // Both end something for the caller, so they run last.
        ("/api/companies/delete", Platform(CompaniesDelete), |w, t| {
            vec![("id", w.spare[if t == Which::Own { 0 } else { 1 }].to_string())]
        }),
        ("/api/tenant/act-as/end", Signed, |_, _| vec![]),
        ("/api/logout", Public, |_, _| vec![]),
    ]
}

fn pages() -> Vec<(&'static str, Rule, fn(&World, Which) -> String)> {
    use Permission::*;
    use Rule::*;
    vec![
        ("/login", Public, |_, _| "/login".into()),
        ("/forgot", Public, |_, _| "/forgot".into()),
        ("/invite/:token", Public, |_, _| format!("/invite/{}", "0".repeat(64))),
        ("/account", Signed, |_, _| "/account".into()),
        ("/account/two-factor", Signed, |_, _| "/account/two-factor".into()),
        ("/login/two-factor", Public, |_, _| "/login/two-factor".into()),
        ("/admin", SuperOnly, |_, _| "/admin".into()),
        ("/admin/audit", SuperOnly, |_, _| "/admin/audit".into()),
        ("/admin/maintenance", SuperOnly, |_, _| "/admin/maintenance".into()),
        ("/admin/companies", Platform(CompaniesWrite), |_, _| "/admin/companies".into()),
        ("/admin/companies/new", Platform(CompaniesWrite), |_, _| "/admin/companies/new".into()),
        ("/admin/companies/:id", Platform(CompaniesWrite), |w, t| format!("/admin/companies/{}", w.company(t))),
        ("/t/:slug", Tenant(Some(CompaniesRead)), |w, t| format!("/t/{}", w.slug(t))),
        ("/t/:slug/", Tenant(Some(CompaniesRead)), |w, t| format!("/t/{}/", w.slug(t))),
        ("/t/:slug/users", Tenant(Some(UsersRead)), |w, t| format!("/t/{}/users", w.slug(t))),
        ("/t/:slug/users/invite", Tenant(Some(UsersWrite)), |w, t| format!("/t/{}/users/invite", w.slug(t))),
        ("/t/:slug/users/:id", Tenant(Some(UsersRead)), |w, t| format!("/t/{}/users/{}", w.slug(t), w.target(t))),
        ("/t/:slug/roles", Tenant(Some(UsersRead)), |w, t| format!("/t/{}/roles", w.slug(t))),
        ("/t/:slug/api-keys", Tenant(Some(ApiKeysRead)), |w, t| format!("/t/{}/api-keys", w.slug(t))),
        ("/t/:slug/api-keys/new", Tenant(Some(ApiKeysWrite)), |w, t| format!("/t/{}/api-keys/new", w.slug(t))),
        ("/t/:slug/api-keys/:id", Tenant(Some(ApiKeysRead)), |w, t| format!("/t/{}/api-keys/{}", w.slug(t), w.key(t))),
        ("/t/:slug/integrations", Tenant(Some(IntegrationsRead)), |w, t| format!("/t/{}/integrations", w.slug(t))),
        ("/t/:slug/integrations/:platform", Tenant(Some(IntegrationsRead)), |w, t| {
            format!("/t/{}/integrations/benevity", w.slug(t))
        }),
        ("/t/:slug/deliveries", Tenant(Some(IntegrationsRead)), |w, t| format!("/t/{}/deliveries", w.slug(t))),
        ("/t/:slug/deliveries/:id", Tenant(Some(IntegrationsRead)), |w, t| {
            format!("/t/{}/deliveries/{}", w.slug(t), w.delivery(t))
        }),
        ("/t/:slug/audit", Tenant(Some(AuditRead)), |w, t| format!("/t/{}/audit", w.slug(t))),
        ("/t/:slug/security", Tenant(Some(SecurityManage)), |w, t| format!("/t/{}/security", w.slug(t))),
        ("/t/:slug/weights", Tenant(Some(WeightsRead)), |w, t| format!("/t/{}/weights", w.slug(t))),
        ("/t/:slug/weights/:category", Tenant(Some(WeightsRead)), |w, t| format!("/t/{}/weights/vis", w.slug(t))),
        ("/t/:slug/weights/:category/history", Tenant(Some(WeightsRead)), |w, t| {
            format!("/t/{}/weights/sroi/history", w.slug(t))
        }),
    ]
}

fn role_of(actor: Actor) -> Option<Role> {
    match actor {
        Actor::Anonymous => None,
        Actor::Viewer => Some(Role::Viewer),
        Actor::Manager => Some(Role::Manager),
        Actor::Admin => Some(Role::Admin),
        Actor::Super => Some(Role::SuperAdmin),
    }
}

/// The status a denied request must get, or None when it is allowed.
async fn expected_denial(app: &TestApp, rule: Rule, actor: Actor, tenant: Which) -> Option<u16> {
    let role = role_of(actor)?;
    let holds = |p: Permission| async move {
        sqlx::query_scalar::<_, bool>(
            "SELECT EXISTS (SELECT 1 FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
              WHERE rp.role = $1::user_role_enum AND p.name = $2)",
        )
        .bind(role.as_str())
        .bind(p.name())
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    match rule {
        Rule::Public | Rule::Signed => None,
        Rule::SuperOnly => (role != Role::SuperAdmin).then_some(403),
        Rule::Platform(p) => (!holds(p).await).then_some(403),
        Rule::Tenant(p) => match (actor, tenant) {
            (Actor::Super, Which::Own) => None,
            // Not acting as that company: 403 (a page offers the act-as form).
            (Actor::Super, Which::Other) => Some(403),
            (_, Which::Other) => Some(404),
            (_, Which::Own) => match p {
                Some(p) if !holds(p).await => Some(403),
                _ => None,
            },
        },
    }
}

fn denied_for_anonymous(rule: Rule) -> bool {
    !matches!(rule, Rule::Public)
}

async fn world() -> World {
    let app = spawn_app().await;
    let a = app.company("Acme").await;
    let b = app.company(B_NAME).await;
    app.user(B_EMAILS[0], Role::Admin, Some(b)).await;
    let target_b = app.user(B_EMAILS[1], Role::Viewer, Some(b)).await;
    let target_a = app.user("target@acme.test", Role::Viewer, Some(a)).await;
    let mut clients = vec![(Actor::Anonymous, client())];
    for (actor, role, email) in [
        (Actor::Viewer, Role::Viewer, "viewer@acme.test"),
        (Actor::Manager, Role::Manager, "manager@acme.test"),
        (Actor::Admin, Role::Admin, "admin@acme.test"),
    ] {
        clients.push((actor, app.member(a, email, role).await.1));
    }
    clients.push((Actor::Super, app.superadmin().await));
    let spare = [app.company("Spare One").await, app.company("Spare Two").await];
    let (key_a, key_b) =
        (app.api_key(a, &["read:company"], None).await.0, app.api_key(b, &["read:company"], None).await.0);
    let mut versions = Vec::new();
    for company in [a, b] {
        sqlx::query(
            "INSERT INTO weight_overrides (company_id, category, weights) VALUES ($1, 'sroi', '{\"deadweight\": 0.3}')",
        )
        .bind(company)
        .execute(&app.pool)
        .await
        .unwrap();
        versions.push(
            app.scalar_i64(&format!("SELECT max(id) FROM weight_override_history WHERE company_id = '{company}'"))
                .await,
        );
    }
    let (version_a, version_b) = (versions[0], versions[1]);
    let mut deliveries = Vec::new();
    for company in [a, b] {
        app.integration(company, app::integrations::Platform::Benevity, "http://127.0.0.1:9/hook").await;
        deliveries
            .push(app.enqueue(company, app::integrations::Platform::Benevity, serde_json::json!({"m": 1})).await.id);
    }
    let (delivery_a, delivery_b) = (deliveries[0], deliveries[1]);
    World { app, clients, a, b, target_a, target_b, spare, key_a, key_b, version_a, version_b, delivery_a, delivery_b }
}

fn assert_no_leak(body: &str, what: &str) {
    assert!(!body.contains(B_NAME), "{what}: leaks the other company's name");
    for e in B_EMAILS {
        assert!(!body.contains(e), "{what}: leaks {e}");
    }
}

#[tokio::test]
async fn every_route_as_every_role_for_own_and_other_company() {
    let w = world().await;
    let app = &w.app;

    // Completeness: the tables above name every registered server function and page.
    let registered: BTreeSet<String> = leptos::server_fn::axum::server_fn_paths().map(|(p, _)| p.to_string()).collect();
    let listed: BTreeSet<String> = server_functions().iter().map(|c| c.0.to_string()).collect();
    assert_eq!(registered, listed, "server functions missing from (or stale in) the matrix");
    let routes: BTreeSet<String> = atrium_server::web::route_list().iter().map(|r| r.path().to_string()).collect();
    let listed_pages: BTreeSet<String> = pages()
        .iter()
        .map(|p| {
            p.0.split('/')
                .map(|seg| match seg.strip_prefix(':') {
                    Some(name) => format!("{{{name}}}"),
                    None => seg.to_string(),
                })
                .collect::<Vec<_>>()
                .join("/")
        })
        .collect();
    assert_eq!(routes, listed_pages, "pages missing from (or stale in) the matrix");

    let mut checked = 0;
    for (path, rule, args) in server_functions() {
        for (actor, c) in &w.clients {
            for tenant in [Which::Own, Which::Other] {
                if *actor == Actor::Super && path != "/api/logout" {
                    app.act_as(c, "acme").await;
                }
                let form = args(&w, tenant);
                let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
                let before = app.fingerprint().await;
                let r = app.post(c, path, &form).await;
                let status = r.status().as_u16();
                let body =
                    r.text().await.unwrap_or_else(|e| panic!("{path} as {actor:?} on {tenant:?}: {status}: {e}"));
                let what = format!("{path} as {actor:?} on {tenant:?}: {status} {body}");
                assert!(status < 500, "{what}");
                let denial = if *actor == Actor::Anonymous {
                    denied_for_anonymous(rule).then_some(401)
                } else {
                    expected_denial(app, rule, *actor, tenant).await
                };
                match denial {
                    Some(code) => {
                        assert_eq!(status, code, "{what}");
                        assert_eq!(app.fingerprint().await, before, "{what}: a denied request changed something");
                    }
                    None => assert!(
                        ![401, 403, 404].contains(&status) || matches!(rule, Rule::Public | Rule::Signed),
                        "{what}"
                    ),
                }
                // The super-admin's platform views show every company by design (and are audited).
                let cross_company_view = *actor == Actor::Super && matches!(rule, Rule::Platform(_) | Rule::SuperOnly);
                if (tenant == Which::Own || denial.is_some()) && !cross_company_view {
                    assert_no_leak(&body, &what);
                }
                checked += 1;
            }
        }
    }

    // Pages, with fresh sign-ins (the last server functions signed everyone out).
    let w = World {
        clients: {
            let mut clients = vec![(Actor::Anonymous, client())];
            for (actor, email) in [
                (Actor::Viewer, "viewer@acme.test"),
                (Actor::Manager, "manager@acme.test"),
                (Actor::Admin, "admin@acme.test"),
                (Actor::Super, "root@atrium.test"),
            ] {
                let c = client();
                assert_eq!(app.login(&c, email, PASSWORD).await.status(), 200);
                clients.push((actor, c));
            }
            clients
        },
        ..w
    };
    let app = &w.app;
    for (pattern, rule, url) in pages() {
        for (actor, c) in &w.clients {
            for tenant in [Which::Own, Which::Other] {
                if *actor == Actor::Super {
                    app.act_as(c, "acme").await;
                }
                let before = app.fingerprint().await;
                let r = app.get(c, &url(&w, tenant)).await;
                let status = r.status().as_u16();
                let body = r
                    .text()
                    .await
                    .unwrap_or_else(|e| panic!("page {pattern} as {actor:?} on {tenant:?}: {status}: {e}"));
                let what = format!("page {pattern} as {actor:?} on {tenant:?}: {status}");
                let denial = if *actor == Actor::Anonymous {
                    denied_for_anonymous(rule).then_some(
                        if pattern.starts_with("/t/")
                            || pattern.starts_with("/admin")
                            || pattern.starts_with("/account")
                        {
                            303
                        } else {
                            200
                        },
                    )
                } else {
                    expected_denial(app, rule, *actor, tenant).await
                };
                match denial {
                    Some(code) => {
                        assert_eq!(status, code, "{what}");
                        if *actor == Actor::Super && matches!(rule, Rule::Tenant(_)) {
                            assert!(body.contains("Open this company as a super-admin"), "{what}");
                        }
                        assert_eq!(app.fingerprint().await, before, "{what}: a page view changed something");
                    }
                    None if pattern == "/invite/:token" => assert_eq!(status, 409, "{what}: a made-up link is refused"),
                    None => assert_eq!(status, 200, "{what}"),
                }
                let cross_company_view = *actor == Actor::Super && matches!(rule, Rule::Platform(_) | Rule::SuperOnly);
                if !cross_company_view {
                    assert_no_leak(&body, &what);
                }
                checked += 1;
            }
        }
    }
    let (fns, pages_n) = (server_functions().len(), pages().len());
    assert_eq!(checked, (fns + pages_n) * ACTORS.len() * 2);
    println!("authorization matrix: ({fns} server functions + {pages_n} pages) x {} roles x 2 companies = {checked} requests", ACTORS.len());
}
