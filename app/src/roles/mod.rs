//! The roles and permissions matrix, and "why can this person do X?".
use crate::chrome::{use_shell, use_slug, TenantPage};
use crate::domain::Role;
use crate::error::AppError;
use crate::ui::ErrorBox;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PermissionRow {
    pub name: String,
    pub description: String,
    /// Which roles hold it, in Role::ALL order.
    pub granted: Vec<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RoleInfo {
    pub role: Role,
    pub level: i32,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Matrix {
    pub roles: Vec<RoleInfo>,
    pub rows: Vec<PermissionRow>,
    /// Members to ask about (id, label).
    pub members: Vec<(Uuid, String)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub who: String,
    pub role: Role,
    pub permission: String,
    pub allowed: bool,
    /// The sentence that answers the question.
    pub because: String,
}

#[server(endpoint = "roles/matrix")]
pub async fn load_matrix(slug: String) -> Result<Matrix, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersRead).await?;
    let pool = state()?.pool;
    let roles = sqlx::query!(r#"SELECT role AS "role: Role", level, description FROM role_hierarchy ORDER BY level"#)
        .fetch_all(&pool)
        .await?
        .into_iter()
        .map(|r| RoleInfo { role: r.role, level: r.level, description: r.description })
        .collect::<Vec<_>>();
    let perms = sqlx::query!(
        r#"SELECT p.name, p.description,
                      coalesce(array_agg(rp.role::text) FILTER (WHERE rp.role IS NOT NULL), '{}') AS "roles!"
                 FROM permissions p LEFT JOIN role_permissions rp ON rp.permission_id = p.id
                GROUP BY p.id ORDER BY p.resource, p.id"#
    )
    .fetch_all(&pool)
    .await?;
    let rows = perms
        .into_iter()
        .map(|p| PermissionRow {
            granted: roles.iter().map(|r| p.roles.iter().any(|g| g == r.role.as_str())).collect(),
            name: p.name,
            description: p.description,
        })
        .collect();
    let mut tx = t.tx().await?;
    let members = sqlx::query!(
        "SELECT u.id, u.email FROM memberships m JOIN users u ON u.id = m.user_id
              WHERE m.company_id = $1 ORDER BY lower(u.email) LIMIT 500",
        t.company.id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| (r.id, r.email))
    .collect();
    tx.commit().await?;
    Ok(Matrix { roles, rows, members })
}

#[server(endpoint = "roles/explain")]
pub async fn explain(slug: String, user: Uuid, permission: String) -> Result<Explanation, AppError> {
    use crate::server_ctx::*;
    let t = crate::access::require_in(&slug, Permission::UsersRead).await?;
    let Some(perm) = Permission::parse(permission.trim()) else {
        return Err(AppError::field("permission", format!("\u{201c}{permission}\u{201d} is not a permission.")));
    };
    let mut tx = t.tx().await?;
    let member = sqlx::query!(
        r#"SELECT u.email, m.role AS "role: Role", m.status::text AS "status!" FROM memberships m
                 JOIN users u ON u.id = m.user_id WHERE m.company_id = $1 AND m.user_id = $2"#,
        t.company.id,
        user
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    tx.commit().await?;
    let pool = state()?.pool;
    let allowed = t.actor.grants.has(member.role, perm);
    let holders = sqlx::query_scalar!(
        r#"SELECT rp.role AS "role!: Role" FROM role_permissions rp JOIN permissions p ON p.id = rp.permission_id
                JOIN role_hierarchy h ON h.role = rp.role WHERE p.name = $1 ORDER BY h.level"#,
        perm.name()
    )
    .fetch_all(&pool)
    .await?;
    let active = member.status == "ACTIVE";
    let because = match (allowed, active) {
        (true, true) => format!(
            "Yes. {} is {} in {}, and the {} role is granted {}.",
            member.email,
            member.role.label(),
            t.company.name,
            member.role.label(),
            perm.name()
        ),
        (true, false) => format!(
            "Not now. The {} role is granted {}, but {}'s membership is {}.",
            member.role.label(),
            perm.name(),
            member.email,
            member.status.to_lowercase()
        ),
        (false, _) => format!(
            "No. {} is {} in {}, and {} is granted only to {}.",
            member.email,
            member.role.label(),
            t.company.name,
            perm.name(),
            match holders.iter().map(|r| r.label()).collect::<Vec<_>>().as_slice() {
                [] => "no role".to_string(),
                [one] => one.to_string(),
                [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
            }
        ),
    };
    Ok(Explanation {
        who: member.email,
        role: member.role,
        permission: perm.name().into(),
        allowed: allowed && active,
        because,
    })
}

#[component]
pub fn RolesPage() -> impl IntoView {
    view! { <TenantPage title="Roles"><RolesView/></TenantPage> }
}

#[component]
fn RolesView() -> impl IntoView {
    let shell = use_shell();
    let slug = use_slug()();
    let query = use_query_map();
    let matrix = Resource::new(
        {
            let slug = slug.clone();
            move || slug.clone()
        },
        load_matrix,
    );
    let ask = move || query.with(|q| (q.get("user"), q.get("permission")));
    let answer = Resource::new(ask, {
        let slug = slug.clone();
        move |(user, perm)| {
            let slug = slug.clone();
            async move {
                match (user.and_then(|u| Uuid::parse_str(&u).ok()), perm) {
                    (Some(u), Some(p)) => Some(explain(slug, u, p).await),
                    _ => None,
                }
            }
        }
    });
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                if shell.await.is_err() {
                    return ().into_any();
                }
                // Both resources are awaited here, not in a Suspense nested inside this Suspend:
                // a nested one can miss an already-resolved resource during SSR and never finish.
                let answer = answer.await;
                match matrix.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(m) => {
                        let (u0, p0) = ask();
                        view! {
                            <section class="card">
                                <h2>"Why can this person do that?"</h2>
                                <form method="get" action=format!("/t/{slug}/roles") class="search explain">
                                    <label for="why-user">"Person"</label>
                                    <select id="why-user" name="user">
                                        {m.members.iter().map(|(id, email)| {
                                            let selected = u0.as_deref() == Some(id.to_string().as_str());
                                            view! { <option value=id.to_string() selected=selected>{email.clone()}</option> }
                                        }).collect_view()}
                                    </select>
                                    <label for="why-permission">"Permission"</label>
                                    <select id="why-permission" name="permission">
                                        {m.rows.iter().map(|r| view! {
                                            <option value=r.name.clone() selected=p0.as_deref() == Some(r.name.as_str())>{r.name.clone()}</option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit" class="btn btn-secondary">"Explain"</button>
                                </form>
                                {match answer {
                                    None => ().into_any(),
                                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                                    Some(Ok(x)) => view! {
                                        <p class=if x.allowed { "alert alert-success" } else { "alert alert-warning" } role="status" data-explain="">
                                            {x.because}
                                        </p>
                                    }.into_any(),
                                }}
                            </section>
                            <section class="card">
                                <h2>"Permissions by role"</h2>
                                <div class="table-wrap full">
                                    <table class="data matrix">
                                        <thead><tr>
                                            <th scope="col">"Permission"</th>
                                            {m.roles.iter().map(|r| view! { <th scope="col" title=r.description.clone()>{r.role.label()}</th> }).collect_view()}
                                        </tr></thead>
                                        <tbody>
                                            {m.rows.into_iter().map(|r| view! {
                                                <tr>
                                                    <th scope="row"><span class="mono">{r.name}</span><br/><span class="muted">{r.description}</span></th>
                                                    {r.granted.into_iter().map(|g| view! {
                                                        <td class="cell-center">{if g { view! { <span aria-label="granted" class="yes">"✓"</span> }.into_any() } else { view! { <span aria-label="not granted" class="no">"—"</span> }.into_any() }}</td>
                                                    }).collect_view()}
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                <p class="muted">"Roles are ordered Viewer < Manager < Admin < Super-admin. Nobody grants a role above their own, and only people below you can be edited."</p>
                            </section>
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}
