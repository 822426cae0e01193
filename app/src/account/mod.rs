//! /account: your name, your password, and your signed-in sessions.
use crate::chrome::Frame;
use crate::error::AppError;
use crate::ui::time::{Stamp, Time};
use crate::ui::{action_error, describe_agent, field_error, ErrorBox, Field, FormAlert};
use leptos::prelude::*;
use leptos_meta::Title;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRow {
    pub id: Uuid,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created: Stamp,
    pub last_seen: Stamp,
    pub current: bool,
}

/// A company's pending invitation to this account: nothing is granted until it is accepted.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Invitation {
    pub company_id: Uuid,
    pub company_name: String,
    pub role: crate::domain::Role,
    pub invited: Stamp,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AccountView {
    pub email: String,
    pub name: String,
    pub sessions: Vec<SessionRow>,
    pub invitations: Vec<Invitation>,
    /// Mail me when my account signs in from a browser it has not used.
    pub notify_new_sign_in: bool,
    /// Whether this Atrium sends mail at all.
    pub mail_enabled: bool,
}

#[server(endpoint = "account/load")]
pub async fn load_account() -> Result<AccountView, AppError> {
    use crate::access::require_actor;
    use crate::server_ctx::*;
    use crate::ui::time::rfc3339;
    let actor = require_actor().await?;
    let mut tx = crate::db::account(&state()?.pool, actor.user_id).await?;
    let sessions = sqlx::query!(
        "SELECT id, host(ip_address) AS ip, user_agent, created_at, last_seen_at FROM sessions
              WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > now()
              ORDER BY last_seen_at DESC",
        actor.user_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|s| SessionRow {
        current: s.id == actor.session_id,
        id: s.id,
        ip: s.ip,
        user_agent: s.user_agent,
        created: rfc3339(s.created_at),
        last_seen: rfc3339(s.last_seen_at),
    })
    .collect();
    let invitations = sqlx::query!(
        r#"SELECT c.id, c.name, m.role AS "role: crate::domain::Role", m.created_at
                 FROM memberships m JOIN companies c ON c.id = m.company_id
                WHERE m.user_id = $1 AND m.status = 'INVITED' AND c.deleted_at IS NULL
                ORDER BY m.created_at"#,
        actor.user_id
    )
    .fetch_all(&mut *tx)
    .await?
    .into_iter()
    .map(|r| Invitation { company_id: r.id, company_name: r.name, role: r.role, invited: rfc3339(r.created_at) })
    .collect();
    let notify_new_sign_in = sqlx::query_scalar!("SELECT notify_new_sign_in FROM users WHERE id = $1", actor.user_id)
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(AccountView {
        email: actor.email,
        name: actor.name,
        sessions,
        invitations,
        notify_new_sign_in,
        mail_enabled: state()?.mail.enabled,
    })
}

/// Which mails about the account its owner wants (a checkbox: absent means off).
#[server(endpoint = "account/notifications")]
pub async fn update_notifications(#[server(default)] new_sign_in: Option<String>) -> Result<(), AppError> {
    use crate::access::require_actor;
    use crate::server_ctx::*;
    let actor = require_actor().await?;
    let on = new_sign_in.is_some();
    let mut tx = crate::db::account(&state()?.pool, actor.user_id).await?;
    let before = sqlx::query_scalar!(
        "UPDATE users u SET notify_new_sign_in = $2 FROM users old
          WHERE u.id = $1 AND old.id = u.id RETURNING old.notify_new_sign_in",
        actor.user_id,
        on
    )
    .fetch_one(&mut *tx)
    .await?;
    if before != on {
        crate::audit::record::own_account(
            &mut tx,
            &actor,
            crate::audit::Action::AccountUpdate,
            crate::audit::Severity::Info,
            serde_json::json!({ "before": { "notify_new_sign_in": before }, "after": { "notify_new_sign_in": on } }),
        )
        .await?;
    }
    tx.commit().await?;
    leptos_axum::redirect("/account?saved=1#notifications");
    Ok(())
}

#[server(endpoint = "account/profile")]
pub async fn update_profile(name: String) -> Result<(), AppError> {
    use crate::access::require_actor;
    use crate::server_ctx::*;
    let actor = require_actor().await?;
    let name = name.trim().to_string();
    if name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(AppError::field("name", "Use up to 200 ordinary characters."));
    }
    let mut tx = crate::db::account(&state()?.pool, actor.user_id).await?;
    sqlx::query!("UPDATE users SET name = $2 WHERE id = $1", actor.user_id, &name).execute(&mut *tx).await?;
    if name != actor.name {
        crate::audit::record::own_account(
            &mut tx,
            &actor,
            crate::audit::Action::AccountUpdate,
            crate::audit::Severity::Info,
            serde_json::json!({ "before": { "name": actor.name }, "after": { "name": name } }),
        )
        .await?;
    }
    tx.commit().await?;
    leptos_axum::redirect("/account?saved=1");
    Ok(())
}

/// Needs the current password. Every other session ends.
#[server(endpoint = "account/password")]
pub async fn change_password(current: String, password: String, confirm: String) -> Result<(), AppError> {
    use crate::access::require_actor;
    use crate::auth::password as pw;
    use crate::server_ctx::*;
    let actor = require_actor().await?;
    let mut fields = crate::error::Fields::default();
    if current.is_empty() {
        fields.check::<()>("current", Err("Enter your current password.".into()));
    }
    fields.check("password", pw::validate_new_password(&password));
    if password != confirm {
        fields.check::<()>("confirm", Err("The two passwords are different.".into()));
    }
    fields.finish()?;
    let pool = state()?.pool;
    let mut tx = crate::db::account(&pool, actor.user_id).await?;
    let stored =
        sqlx::query_scalar!("SELECT password_hash FROM users WHERE id = $1", actor.user_id).fetch_one(&mut *tx).await?;
    if !pw::verify(current, stored).await? {
        return Err(AppError::field("current", "That is not your current password."));
    }
    let hash = pw::hash(password).await?;
    sqlx::query!("UPDATE users SET password_hash = $2 WHERE id = $1", actor.user_id, &hash).execute(&mut *tx).await?;
    let ended = crate::auth::sessions::end_for_user(&mut tx, actor.user_id, Some(actor.session_id)).await?;
    crate::audit::record::own_account(
        &mut tx,
        &actor,
        crate::audit::Action::AccountPasswordChange,
        crate::audit::Severity::Info,
        serde_json::json!({ "other_sessions_ended": ended }),
    )
    .await?;
    tx.commit().await?;
    leptos_axum::redirect("/account?password=1");
    Ok(())
}

/// Ends one of your sessions, or with `all_others` every one but this.
#[server(endpoint = "account/sessions/revoke")]
pub async fn revoke_sessions(
    #[server(default)] id: Option<Uuid>,
    #[server(default)] all_others: Option<String>,
) -> Result<(), AppError> {
    use crate::access::require_actor;
    use crate::server_ctx::*;
    let actor = require_actor().await?;
    let mut tx = crate::db::account(&state()?.pool, actor.user_id).await?;
    let ended = match (id, all_others.is_some()) {
        (_, true) => crate::auth::sessions::end_for_user(&mut tx, actor.user_id, Some(actor.session_id)).await?,
        (Some(id), false) => sqlx::query!(
            "UPDATE sessions SET revoked_at = now() WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL",
            actor.user_id,
            id
        )
        .execute(&mut *tx)
        .await?
        .rows_affected(),
        (None, false) => return Err(AppError::field("form", "Choose a session to sign out.")),
    };
    if ended == 0 && id.is_some() {
        return Err(AppError::NotFound);
    }
    crate::audit::record::own_account(
        &mut tx,
        &actor,
        crate::audit::Action::SessionRevoke,
        crate::audit::Severity::Info,
        serde_json::json!({ "session": id, "all_others": all_others.is_some(), "ended": ended }),
    )
    .await?;
    tx.commit().await?;
    leptos_axum::redirect("/account");
    Ok(())
}

/// Accepts or declines a company's invitation to this account. Accepting makes the membership
/// active; declining removes it. Either way the company's audit log says so.
#[server(endpoint = "account/invitation")]
pub async fn answer_invitation(
    company_id: Uuid,
    answer: String,
    #[server(default)] token: Option<String>,
) -> Result<(), AppError> {
    use crate::access::require_actor;
    use crate::audit::record::{record, Event, Who};
    use crate::audit::Action;
    use crate::server_ctx::*;
    let actor = require_actor().await?;
    let accept = match answer.as_str() {
        "accept" => true,
        "decline" => false,
        _ => return Err(AppError::field("answer", "Answer accept or decline.")),
    };
    let mut tx = crate::db::tenant(&state()?.pool, company_id, Some(actor.user_id)).await?;
    let role = sqlx::query_scalar!(
        r#"SELECT role AS "role: crate::domain::Role" FROM memberships
                WHERE company_id = $1 AND user_id = $2 AND status = 'INVITED' FOR UPDATE"#,
        company_id,
        actor.user_id
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or(AppError::NotFound)?;
    if accept {
        // Declining needs only the account; accepting needs the link as well.
        let token = token.as_deref().unwrap_or("");
        crate::users::service::claim_join_token(&mut tx, token, company_id, actor.user_id).await?;
        sqlx::query!(
            "UPDATE memberships SET status = 'ACTIVE' WHERE company_id = $1 AND user_id = $2",
            company_id,
            actor.user_id
        )
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query!("DELETE FROM memberships WHERE company_id = $1 AND user_id = $2", company_id, actor.user_id)
            .execute(&mut *tx)
            .await?;
    }
    // The invitation's links have done their work either way.
    sqlx::query!(
        "UPDATE user_tokens SET used_at = now() WHERE company_id = $1 AND user_id = $2 AND used_at IS NULL",
        company_id,
        actor.user_id
    )
    .execute(&mut *tx)
    .await?;
    let mut who = Who::from(&actor);
    who.role = Some(role);
    record(
        &mut tx,
        &who,
        &request_meta(),
        Event::new(if accept { Action::UserInviteAccept } else { Action::UserInviteDecline }, "user")
            .company(company_id)
            .on(actor.user_id)
            .details(serde_json::json!({ "via": "account", "role": role })),
    )
    .await?;
    tx.commit().await?;
    leptos_axum::redirect(if accept { "/account?joined=1" } else { "/account" });
    Ok(())
}

#[component]
pub fn AccountPage() -> impl IntoView {
    let profile = ServerAction::<UpdateProfile>::new();
    let password = ServerAction::<ChangePassword>::new();
    let revoke = ServerAction::<RevokeSessions>::new();
    let answer = ServerAction::<AnswerInvitation>::new();
    let notifications = ServerAction::<UpdateNotifications>::new();
    let query = leptos_router::hooks::use_query_map();
    let account = Resource::new(
        move || {
            (
                profile.version().get(),
                revoke.version().get(),
                password.version().get(),
                answer.version().get(),
                notifications.version().get(),
            )
        },
        |_| load_account(),
    );
    let nerr = action_error(notifications.value());
    let aerr = action_error(answer.value());
    let joined = move || query.with(|q| q.get("joined").is_some()) || matches!(answer.value().get(), Some(Ok(())));
    let perr = action_error(profile.value());
    let pwerr = action_error(password.value());
    let rerr = action_error(revoke.value());
    let saved = move || query.with(|q| q.get("saved").is_some()) || matches!(profile.value().get(), Some(Ok(())));
    let pw_saved =
        move || query.with(|q| q.get("password").is_some()) || matches!(password.value().get(), Some(Ok(())));
    view! {
        <Title text="Account · Atrium"/>
        <Frame title="Your account">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match account.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(a) => { let (email, email2, name) = (a.email.clone(), a.email.clone(), a.name.clone()); view! {
                            {move || joined().then(|| view! { <div class="alert alert-success" role="status">"Done. Your companies are in the switcher."</div> })}
                            {(!a.invitations.is_empty()).then(|| view! {
                                <section class="card narrow" id="invitations" data-invitations="">
                                    <h2>"Invitations"</h2>
                                    <FormAlert error=aerr/>
                                    <ul class="invitations">
                                        {a.invitations.into_iter().map(|i| { let id = i.company_id.to_string(); view! {
                                            <li>
                                                <p><strong>{format!("{} invites you as {}", i.company_name, i.role.label())}</strong>
                                                   <span class="muted">" · "<Time stamp=i.invited/></span></p>
                                                <p class="muted">"To accept, open the invitation link they sent you. Nothing is granted until then."</p>
                                                <div class="actions">
                                                    <ActionForm action=answer>
                                                        <input type="hidden" name="company_id" value=id/>
                                                        <input type="hidden" name="answer" value="decline"/>
                                                        <button type="submit" class="btn btn-secondary btn-sm">"Decline"</button>
                                                    </ActionForm>
                                                </div>
                                            </li>
                                        }}).collect_view()}
                                    </ul>
                                </section>
                            })}
                            <section class="card narrow">
                                <h2>"Profile"</h2>
                                {move || saved().then(|| view! { <div class="alert alert-success" role="status">"Saved."</div> })}
                                <ActionForm action=profile attr:class="stack" attr:novalidate="">
                                    <p class="muted">{format!("Signed in as {email}")}</p>
                                    <Field label="Name" name="name" value=name autocomplete="name" error=field_error(perr, "name")/>
                                    <div class="actions"><button type="submit" class="btn btn-primary">"Save name"</button></div>
                                </ActionForm>
                            </section>
                            <section class="card narrow" id="two-factor">
                                <h2>"Two-factor sign-in"</h2>
                                <p>"A code from an app on your phone when you sign in, on top of your password."</p>
                                <p><a class="btn btn-secondary" href="/account/two-factor">"Manage two-factor sign-in"</a></p>
                            </section>
                            <section class="card narrow">
                                <h2>"Password"</h2>
                                {move || pw_saved().then(|| view! { <div class="alert alert-success" role="status">"Password changed. Your other sessions have been signed out."</div> })}
                                <ActionForm action=password attr:class="stack" attr:novalidate="">
                                    <input type="email" name="username" value=email2 autocomplete="username" hidden/>
                                    <Field label="Current password" name="current" input_type="password" autocomplete="current-password" error=field_error(pwerr, "current")/>
                                    <Field label="New password" name="password" input_type="password" autocomplete="new-password" help="At least 12 characters." error=field_error(pwerr, "password")/>
                                    <Field label="Repeat the new password" name="confirm" input_type="password" autocomplete="new-password" error=field_error(pwerr, "confirm")/>
                                    <div class="actions"><button type="submit" class="btn btn-primary">"Change password"</button></div>
                                </ActionForm>
                            </section>
                            {a.mail_enabled.then(|| view! {
                                <section class="card narrow" id="notifications">
                                    <h2>"Notifications"</h2>
                                    <FormAlert error=nerr/>
                                    <ActionForm action=notifications attr:class="stack">
                                        <label class="check">
                                            <input type="checkbox" name="new_sign_in" checked=a.notify_new_sign_in/>
                                            " Mail me when my account signs in from a browser it has not used before"
                                        </label>
                                        <div class="actions"><button type="submit" class="btn btn-secondary">"Save notifications"</button></div>
                                    </ActionForm>
                                </section>
                            })}
                            <section class="card" id="sessions">
                                <div class="card-head">
                                    <h2>"Signed-in sessions"</h2>
                                    {(a.sessions.len() > 1).then(|| view! {
                                        <ActionForm action=revoke>
                                            <input type="hidden" name="all_others" value="on"/>
                                            <button type="submit" class="btn btn-secondary btn-sm">"Sign out all other sessions"</button>
                                        </ActionForm>
                                    })}
                                </div>
                                <FormAlert error=rerr/>
                                <div class="table-wrap">
                                    <table class="data">
                                        <thead><tr><th scope="col">"Device"</th><th scope="col">"IP"</th><th scope="col">"Signed in"</th><th scope="col">"Last seen"</th><th scope="col"><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                        <tbody>
                                            {a.sessions.into_iter().map(|s| view! {
                                                <tr>
                                                    <td class="ua" title=s.user_agent.clone().unwrap_or_default()>
                                                        {s.user_agent.as_deref().map(describe_agent).unwrap_or_else(|| "Unknown".into())}
                                                    </td>
                                                    <td class="mono">{s.ip.unwrap_or_else(|| "—".into())}</td>
                                                    <td><Time stamp=s.created/></td>
                                                    <td><Time stamp=s.last_seen/></td>
                                                    <td>{if s.current {
                                                        view! { <span class="badge badge-success">"This session"</span> }.into_any()
                                                    } else {
                                                        view! {
                                                            <ActionForm action=revoke>
                                                                <input type="hidden" name="id" value=s.id.to_string()/>
                                                                <button type="submit" class="btn btn-secondary btn-sm">"Sign out"</button>
                                                            </ActionForm>
                                                        }.into_any()
                                                    }}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            </section>
                        }.into_any() }
                    }
                })}
            </Suspense>
        </Frame>
    }
}
