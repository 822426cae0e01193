use super::*;
use crate::chrome::{use_shell, use_slug, TenantPage};
use crate::domain::Permission;
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, urlencode, Badge, ErrorBox, Field, FormAlert};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

fn status_badge(s: UserStatus) -> impl IntoView {
    let tone = match s {
        UserStatus::Active => "success",
        UserStatus::Invited => "neutral",
        UserStatus::Inactive => "warning",
        UserStatus::Suspended => "danger",
    };
    view! { <Badge text=s.label() tone=tone/> }
}

/// The browser's origin in front of a path, so a copied link works as is.
fn absolute(path: &str) -> String {
    #[cfg(feature = "hydrate")]
    if let Ok(origin) = window().location().origin() {
        return format!("{origin}{path}");
    }
    path.to_string()
}

/// A one-time link, shown once, with a copy button; or word that it went by mail.
#[component]
fn LinkBox(link: OneTimeLink, #[prop(into)] what: String) -> impl IntoView {
    if link.mailed {
        return view! {
            <div class="alert alert-success link-box" role="status">
                <p><strong>{what}</strong>{format!(" sent to {} by email. ", link.email)}"It works once and expires "<Time stamp=link.expires/>"."</p>
            </div>
        }
        .into_any();
    }
    let url = absolute(&link.path);
    let copied = RwSignal::new(false);
    let copy_url = url.clone();
    let copy = move |_| {
        crate::ui::copy_to_clipboard(&copy_url);
        copied.set(true);
    };
    view! {
        <div class="alert alert-success link-box" role="status">
            <p><strong>{what}</strong>{format!(" for {}. ", link.email)}"Send it to them yourself: it is shown only this once, works once, and expires "<Time stamp=link.expires/>"."</p>
            <div class="copy-row">
                <input type="text" readonly value=url.clone() aria-label="One-time link" data-one-time-link=""/>
                <button type="button" class="btn btn-secondary btn-sm" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
        </div>
    }
    .into_any()
}

#[component]
pub fn UserListPage() -> impl IntoView {
    view! { <TenantPage title="Users"><UserList/></TenantPage> }
}

#[component]
fn UserList() -> impl IntoView {
    let shell = use_shell();
    let query = use_query_map();
    let slug = use_slug()();
    let params = move || {
        query.with(|q| {
            (
                q.get("q").unwrap_or_default(),
                q.get("role").unwrap_or_default(),
                q.get("status").unwrap_or_default(),
                q.get("after"),
            )
        })
    };
    let list_slug = slug.clone();
    let page =
        Resource::new(params, move |(q, role, status, after)| list_users(list_slug.clone(), q, role, status, after));
    let (q0, role0, status0, _) = params();
    let base = format!("/t/{slug}/users");
    let invite_href = format!("{base}/invite");
    view! {
        <div class="toolbar">
            <form method="get" action=base.clone() class="search" role="search">
                <label class="visually-hidden" for="user-search">"Search users"</label>
                <input id="user-search" type="search" name="q" value=q0 placeholder="Search email or name  ( / )" data-search=""/>
                <label class="visually-hidden" for="user-role">"Role"</label>
                <select id="user-role" name="role">
                    <option value="">"Any role"</option>
                    {Role::COMPANY.into_iter().map(|r| view! {
                        <option value=r.as_str() selected=role0.eq_ignore_ascii_case(r.as_str())>{r.label()}</option>
                    }).collect_view()}
                </select>
                <label class="visually-hidden" for="user-status">"Status"</label>
                <select id="user-status" name="status">
                    <option value="">"Any status"</option>
                    {UserStatus::ALL.into_iter().map(|s| view! {
                        <option value=s.as_str() selected=status0.eq_ignore_ascii_case(s.as_str())>{s.label()}</option>
                    }).collect_view()}
                </select>
                <button type="submit" class="btn btn-secondary">"Filter"</button>
            </form>
            <Suspense fallback=|| ()>
                {
                    move || {
                        let href = invite_href.clone();
                        Suspend::new(async move {
                            shell.await.ok().filter(|s| s.can(Permission::UsersWrite)).map(|_| view! {
                                <a class="btn btn-primary" href=href>"Invite user"</a>
                            })
                        })
                    }
                }
            </Suspense>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading users…"</p> }>
            {move || {
                let base = base.clone();
                Suspend::new(async move {
                    if shell.await.is_err() {
                        return ().into_any();
                    }
                    match page.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(p) if p.rows.is_empty() => view! {
                            <div class="empty card"><p>"No users match these filters."</p></div>
                        }.into_any(),
                        Ok(p) => {
                            let next = p.next.clone().map(|n| {
                                let (q, role, status, _) = params();
                                format!("{base}?q={}&role={role}&status={status}&after={}", urlencode(&q), urlencode(&n))
                            });
                            view! {
                                <p class="muted count">{format!("{} user{}", p.total, if p.total == 1 { "" } else { "s" })}</p>
                                <div class="table-wrap">
                                    <table class="data">
                                        <thead><tr>
                                            <th scope="col">"Email"</th><th scope="col">"Name"</th><th scope="col">"Role"</th>
                                            <th scope="col">"Status"</th><th scope="col">"Last sign-in"</th>
                                        </tr></thead>
                                        <tbody>
                                            {p.rows.into_iter().map(|u| view! {
                                                <tr>
                                                    <td><a href=format!("{base}/{}", u.id)>{u.email}</a></td>
                                                    <td>{u.name}</td>
                                                    <td>{u.role.label()}</td>
                                                    <td>{status_badge(u.status)}</td>
                                                    <td>{match u.last_login {
                                                        Some(t) => view! { <Time stamp=t/> }.into_any(),
                                                        None => view! { <span class="muted">"Never"</span> }.into_any(),
                                                    }}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                                {next.map(|n| view! { <nav class="pager"><a class="btn btn-secondary" href=n>"Next page →"</a></nav> })}
                            }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
pub fn UserInvitePage() -> impl IntoView {
    view! { <TenantPage title="Invite user"><InviteForm/></TenantPage> }
}

#[component]
fn InviteForm() -> impl IntoView {
    let shell = use_shell();
    let invite = ServerAction::<InviteUser>::new();
    let err = action_error(invite.value());
    // After a plain (no-wasm) form post the answer comes back through the session, once.
    let query = use_query_map();
    let flashed = Resource::new(
        move || query.with(|q| q.get("sent").is_some()),
        |sent| async move {
            if sent {
                flash_invite().await.ok().flatten()
            } else {
                None
            }
        },
    );
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(shell) = shell.await else { return ().into_any() };
                // Awaited here rather than in a nested Suspense (see RolesView).
                let flashed = flashed.await;
                if !shell.can(Permission::UsersWrite) {
                    return view! { <ErrorBox error=AppError::Forbidden/> }.into_any();
                }
                let grantable: Vec<Role> = Role::COMPANY.into_iter().filter(|r| r.level() <= shell.role.level()).collect();
                let slug = shell.company.slug.clone();
                view! {
        <section class="card narrow">
            <p><a href=format!("/t/{slug}/users")>"← All users"</a></p>
            {match flashed {
                Some(InviteOutcome::Invited(link)) => view! { <LinkBox link what="Invitation link"/> }.into_any(),
                None => ().into_any(),
            }}
            {move || match invite.value().get() {
                Some(Ok(InviteOutcome::Invited(link))) => view! { <LinkBox link what="Invitation link"/> }.into_any(),
                _ => ().into_any(),
            }}
            <ActionForm action=invite attr:class="stack" attr:novalidate="">
                <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                <input type="hidden" name="slug" value=slug.clone()/>
                <Field label="Email" name="email" input_type="email" required=true autocomplete="off" error=field_error(err, "email")/>
                <Field label="Name (optional)" name="name" error=field_error(err, "name")/>
                <div class="field" class:has-error=move || field_error(err, "role").get().is_some()>
                    <label for="f-role">"Role"</label>
                    <select id="f-role" name="role">
                        {grantable.iter().map(|r| view! { <option value=r.as_str() selected=*r == Role::Viewer>{r.label()}</option> }).collect_view()}
                    </select>
                    <p class="error" role="alert" hidden=move || field_error(err, "role").get().is_none()>
                        {move || field_error(err, "role").get().unwrap_or_default()}
                    </p>
                </div>
                <p class="help">{format!("They start as Invited, with a one-time link for you to send them: a new account sets its password there, an existing one signs in and accepts. The link expires after {LINK_HOURS} hours.")}</p>
                <div class="actions"><button type="submit" class="btn btn-primary">"Send invitation"</button></div>
            </ActionForm>
        </section>
                }.into_any()
            })}
        </Suspense>
    }
}

#[component]
pub fn UserDetailPage() -> impl IntoView {
    view! { <TenantPage title="User"><crate::audit::views::RecordHistory tenant=true resource="user" id_param="id"><UserDetailView/></crate::audit::views::RecordHistory></TenantPage> }
}

#[component]
fn UserDetailView() -> impl IntoView {
    let shell = use_shell();
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| Uuid::parse_str(&s).ok()));
    let slug = use_slug()();
    let update = ServerAction::<UpdateUser>::new();
    let status = ServerAction::<SetUserStatus>::new();
    let reset = ServerAction::<ResetLink>::new();
    let reset_tf = ServerAction::<ResetTwoFactor>::new();
    let fetch_slug = slug.clone();
    let user = Resource::new(
        move || {
            let versions = (update.version().get(), status.version().get(), reset_tf.version().get());
            (id(), versions, query.with(|q| q.get("saved")))
        },
        move |(id, _, _)| {
            let slug = fetch_slug.clone();
            async move {
                match id {
                    Some(id) => get_user(slug, id).await,
                    None => Err(AppError::NotFound),
                }
            }
        },
    );
    let flashed = Resource::new(
        move || query.with(|q| q.get("link").is_some()),
        |link| async move {
            if link {
                flash_link().await.ok().flatten()
            } else {
                None
            }
        },
    );
    let err = action_error(update.value());
    let status_err = action_error(status.value());
    let reset_err = action_error(reset.value());
    let tf_err = action_error(reset_tf.value());
    let saved = move || {
        query.with(|q| q.get("saved").is_some())
            || matches!(update.value().get(), Some(Ok(())))
            || matches!(status.value().get(), Some(Ok(())))
    };
    view! {
        <div class="page-head">
            <p><a href=format!("/t/{slug}/users")>"← All users"</a></p>
            <div aria-live="polite">
                {move || saved().then(|| view! { <div class="alert alert-success" role="status">"Saved."</div> })}
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                if shell.await.is_err() {
                    return ().into_any();
                }
                let flashed = flashed.await;
                match user.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(d) => {
                        let u = d.user.clone();
                        let uid = u.id.to_string();
                        view! {
                            <section class="card">
                                <div class="card-head">
                                    <h2>{if u.name.is_empty() { u.email.clone() } else { u.name.clone() }}</h2>
                                    {status_badge(u.status)}
                                </div>
                                <dl class="facts">
                                    <dt>"Email"</dt><dd>{u.email.clone()}</dd>
                                    <dt>"Role"</dt><dd>{u.role.label()}</dd>
                                    <dt>"Member since"</dt><dd><Time stamp=u.joined.clone()/></dd>
                                    <dt>"Last sign-in"</dt><dd>{match u.last_login.clone() {
                                        Some(t) => view! { <Time stamp=t/> }.into_any(),
                                        None => view! { <span class="muted">"Never"</span> }.into_any(),
                                    }}</dd>
                                    <dt>"Two-factor"</dt><dd data-two-factor="">{if d.two_factor { "On" } else { "Off" }}</dd>
                                </dl>
                                {(!d.manageable).then(|| view! {
                                    <p class="muted" data-read-only="">"You can see this person but not change them: only people below your own role can be edited here."</p>
                                })}
                            </section>
                            {d.manageable.then(|| {
                                let (slug, uid) = (slug.clone(), uid.clone());
                                let (status_slug, status_uid) = (slug.clone(), uid.clone());
                                let (reset_slug, reset_uid) = (slug.clone(), uid.clone());
                                let (tf_slug, tf_uid) = (slug.clone(), uid.clone());
                                let suspended = u.status == UserStatus::Suspended;
                                let away = suspended || u.status == UserStatus::Inactive;
                                let invited = u.status == UserStatus::Invited;
                                let shared = d.account_shared;
                                // A pending invitation to an existing account can be re-sent;
                                // a shared account's password is not this company's to reset.
                                let can_link = invited || !shared;
                                view! {
                                    <section class="card">
                                        <h2>"Edit"</h2>
                                        <ActionForm action=update attr:class="stack" attr:novalidate="">
                                            <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                            <input type="hidden" name="slug" value=slug.clone()/>
                                            <input type="hidden" name="id" value=uid.clone()/>
                                            {if shared {
                                                view! {
                                                    <input type="hidden" name="name" value=u.name.clone()/>
                                                    <p class="muted" data-shared-account="">"This account also belongs to another company, so its name and password are its owner's. You manage their role and access here."</p>
                                                }.into_any()
                                            } else {
                                                view! { <Field label="Name" name="name" value=u.name.clone() error=field_error(err, "name")/> }.into_any()
                                            }}
                                            <div class="field">
                                                <label for="f-role">"Role"</label>
                                                <select id="f-role" name="role">
                                                    {d.grantable.iter().map(|r| view! { <option value=r.as_str() selected=*r == u.role>{r.label()}</option> }).collect_view()}
                                                </select>
                                            </div>
                                            <div class="actions"><button type="submit" class="btn btn-primary">"Save changes"</button></div>
                                        </ActionForm>
                                    </section>
                                    <section class="card">
                                        <h2>"Password"</h2>
                                        <p>{if invited { "They have not accepted the invitation yet. A new invitation link replaces the old one." } else if shared { "This account also belongs to another company; its owner or a super-admin can reset it." } else { "A reset link lets them choose a new password. Their sessions end when they use it." }}</p>
                                        <FormAlert error=reset_err/>
                                        {flashed.map(|link| view! { <LinkBox link what="Password link"/> })}
                                        {move || match reset.value().get() {
                                            Some(Ok(link)) => view! { <LinkBox link what="Password link"/> }.into_any(),
                                            _ => ().into_any(),
                                        }}
                                        {can_link.then(|| view! {
                                            <ActionForm action=reset>
                                                <input type="hidden" name="slug" value=reset_slug/>
                                                <input type="hidden" name="id" value=reset_uid/>
                                                <button type="submit" class="btn btn-secondary">{if invited { "New invitation link" } else { "Create reset link" }}</button>
                                            </ActionForm>
                                        })}
                                        {(d.two_factor && !shared).then(|| view! {
                                            <h3>"Two-factor sign-in"</h3>
                                            <p>"If they lost their phone and their recovery codes, turn it off; they set it up again at their next sign-in where it is required."</p>
                                            <FormAlert error=tf_err/>
                                            <ActionForm action=reset_tf attr:class="stack">
                                                <input type="hidden" name="slug" value=tf_slug/>
                                                <input type="hidden" name="id" value=tf_uid/>
                                                <label class="check confirm">
                                                    <input type="checkbox" name="confirm" required=true/>
                                                    " Yes, turn off their two-factor sign-in"
                                                </label>
                                                <div class="actions"><button type="submit" class="btn btn-danger">"Reset two-factor"</button></div>
                                            </ActionForm>
                                        })}
                                    </section>
                                    {(!invited).then(move || {
                                        let (inactive_slug, inactive_uid) = (status_slug.clone(), status_uid.clone());
                                        view! {
                                        <section class="card danger-zone">
                                            <h2>"Access"</h2>
                                            <FormAlert error=status_err/>
                                            {if away {
                                                view! {
                                                    <p>{if suspended { "Suspended: they cannot work in this company." } else { "Inactive: they no longer work in this company." }}</p>
                                                    <ActionForm action=status>
                                                        <input type="hidden" name="slug" value=status_slug/>
                                                        <input type="hidden" name="id" value=status_uid/>
                                                        <input type="hidden" name="status" value="ACTIVE"/>
                                                        <button type="submit" class="btn btn-primary">"Reactivate user"</button>
                                                    </ActionForm>
                                                }.into_any()
                                            } else {
                                                view! {
                                                    <p>"Either way they are signed out of this company at once and cannot work in it until reactivated. "
                                                       "Inactive is for someone who left; suspended is for access that must stop now."</p>
                                                    <div class="actions">
                                                        <ActionForm action=status>
                                                            <input type="hidden" name="slug" value=inactive_slug/>
                                                            <input type="hidden" name="id" value=inactive_uid/>
                                                            <input type="hidden" name="status" value="INACTIVE"/>
                                                            <button type="submit" class="btn btn-secondary">"Mark inactive"</button>
                                                        </ActionForm>
                                                        <ActionForm action=status>
                                                            <input type="hidden" name="slug" value=status_slug/>
                                                            <input type="hidden" name="id" value=status_uid/>
                                                            <input type="hidden" name="status" value="SUSPENDED"/>
                                                            <label class="check confirm">
                                                                <input type="checkbox" name="confirm" required=true/>
                                                                " Yes, sign them out and suspend them"
                                                            </label>
                                                            <button type="submit" class="btn btn-danger">"Suspend user"</button>
                                                        </ActionForm>
                                                    </div>
                                                }.into_any()
                                            }}
                                        </section>
                                    }})}
                                }
                            })}
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}

/// `/invite/{token}`: set a password from an invitation or reset link. No sign-in needed.
#[component]
pub fn AcceptInvitePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.with(|p| p.get("token").unwrap_or_default());
    let info = Resource::new(token, inspect_token);
    let accept = ServerAction::<AcceptToken>::new();
    let err = action_error(accept.value());
    let answer = ServerAction::<crate::account::AnswerInvitation>::new();
    let answer_err = action_error(answer.value());
    view! {
        <Title text="Set your password · Atrium"/>
        <main class="login-wrap" id="main">
            <section class="card login-card">
                <p class="brand-lg">"Atrium"</p>
                <Suspense fallback=|| view! { <p class="muted">"Checking your link…"</p> }>
                    {move || Suspend::new(async move {
                        match info.await {
                            Err(e) => {
                                crate::ui::set_status(e.status());
                                view! {
                                    <h1>"This link cannot be used"</h1>
                                    <div class="alert alert-error" role="alert">{e.to_string()}</div>
                                    <p><a href="/login">"Go to sign-in"</a></p>
                                }.into_any()
                            }
                            Ok(i) if i.join => {
                                let company = i.company_id.to_string();
                                let (company2, token2) = (company.clone(), token());
                                view! {
                                <h1>{format!("Join {}", i.company_name)}</h1>
                                <p>{format!("{} invites {} as {}.", i.company_name, i.email, i.role.label())}</p>
                                {if i.for_viewer {
                                    view! {
                                        <p class="muted">"Nothing is granted until you accept."</p>
                                        <FormAlert error=answer_err/>
                                        <div class="actions" data-join="">
                                            <ActionForm action=answer>
                                                <input type="hidden" name="company_id" value=company/>
                                                <input type="hidden" name="answer" value="accept"/>
                                                <input type="hidden" name="token" value=token()/>
                                                <button type="submit" class="btn btn-primary">"Accept"</button>
                                            </ActionForm>
                                            <ActionForm action=answer>
                                                <input type="hidden" name="company_id" value=company2/>
                                                <input type="hidden" name="answer" value="decline"/>
                                                <input type="hidden" name="token" value=token2/>
                                                <button type="submit" class="btn btn-secondary">"Decline"</button>
                                            </ActionForm>
                                        </div>
                                    }.into_any()
                                } else if i.signed_in {
                                    view! {
                                        <p class="muted">{format!("You are signed in as someone else. Sign out, then open this link again and sign in as {}.", i.email)}</p>
                                    }.into_any()
                                } else {
                                    view! {
                                        <p class="muted">"Sign in with your Atrium account to accept or decline. Nothing is granted until you accept."</p>
                                        <a class="btn btn-primary" href=format!("/login?next=/invite/{}", token())>"Sign in to answer"</a>
                                    }.into_any()
                                }}
                            }.into_any() }
                            Ok(i) => view! {
                                <h1>{if i.reset { "Choose a new password".to_string() } else { format!("Join {}", i.company_name) }}</h1>
                                <p class="muted">{format!("Signing in as {}", i.email)}</p>
                                <ActionForm action=accept attr:class="stack" attr:novalidate="">
                                    <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                    <input type="hidden" name="token" value=token()/>
                                    <input type="email" name="username" value=i.email.clone() autocomplete="username" hidden/>
                                    <Field label="New password" name="password" input_type="password" autocomplete="new-password" required=true
                                        help="At least 12 characters." error=field_error(err, "password")/>
                                    <Field label="Repeat the password" name="confirm" input_type="password" autocomplete="new-password" required=true
                                        error=field_error(err, "confirm")/>
                                    <button type="submit" class="btn btn-primary">"Set password"</button>
                                </ActionForm>
                            }.into_any(),
                        }
                    })}
                </Suspense>
            </section>
        </main>
    }
}
