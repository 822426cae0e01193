use super::*;
use crate::chrome::{use_shell, use_slug, TenantPage};
use crate::domain::Permission;
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, Badge, ErrorBox, Field, FormAlert};
use leptos_router::hooks::{use_params_map, use_query_map};

fn status_badge(s: KeyStatus) -> impl IntoView {
    let tone = match s {
        KeyStatus::Active => "success",
        KeyStatus::ExpiringSoon => "warning",
        KeyStatus::Expired => "neutral",
        KeyStatus::Revoked => "danger",
    };
    view! { <Badge text=s.label() tone=tone/> }
}

fn maybe_time(t: Option<crate::ui::time::Stamp>, none: &'static str) -> AnyView {
    match t {
        Some(t) => view! { <Time stamp=t/> }.into_any(),
        None => view! { <span class="muted">{none}</span> }.into_any(),
    }
}

fn masked(prefix: &str, last4: &str) -> String {
    format!("{prefix}…{last4}")
}

/// A new key: shown once, in a monospace box with a copy button.
#[component]
fn SecretBox(issued: IssuedKey) -> impl IntoView {
    let copied = RwSignal::new(false);
    let secret = issued.secret.clone();
    let copy = move |_| {
        crate::ui::copy_to_clipboard(&secret);
        copied.set(true);
    };
    view! {
        <div class="alert alert-success secret-box" role="status">
            <p><strong>{format!("Your new key \u{201c}{}\u{201d}", issued.name)}</strong>
               ". Copy it now and keep it somewhere safe: it will not be shown again, and it is gone when you leave this page."</p>
            <div class="copy-row">
                <input type="text" readonly value=issued.secret.clone() class="mono" aria-label="New API key" data-api-key=""/>
                <button type="button" class="btn btn-secondary btn-sm" on:click=copy>
                    {move || if copied.get() { "Copied" } else { "Copy" }}
                </button>
            </div>
            <p class="help">"Use it as " <code>"Authorization: Bearer <key>"</code> " against " <code>"/api/v1"</code> "."
               {issued.expires.map(|e| view! { " It expires " <Time stamp=e/> "." })}</p>
        </div>
    }
}

#[component]
pub fn ApiKeyListPage() -> impl IntoView {
    view! { <TenantPage title="API keys"><KeyListView/></TenantPage> }
}

#[component]
fn KeyListView() -> impl IntoView {
    let query = use_query_map();
    let slug = use_slug()();
    let params = move || query.with(|q| (q.get("status").unwrap_or_default(), q.get("risky")));
    let list_slug = slug.clone();
    let list = Resource::new(params, move |(status, risky)| list_keys(list_slug.clone(), status, risky));
    let (status0, risky0) = params();
    let risky0 = risky0.is_some_and(|r| !r.is_empty() && r != "0");
    let base = format!("/t/{slug}/api-keys");
    let new_href = format!("{base}/new");
    view! {
        <div class="toolbar">
            <form method="get" action=base.clone() class="search" role="search">
                <label class="visually-hidden" for="key-status">"Status"</label>
                <select id="key-status" name="status">
                    <option value="">"Any status"</option>
                    {[KeyStatus::Active, KeyStatus::ExpiringSoon, KeyStatus::Expired, KeyStatus::Revoked].into_iter().map(|s| view! {
                        <option value=s.as_str() selected=status0 == s.as_str()>{s.label()}</option>
                    }).collect_view()}
                </select>
                <label class="check">
                    <input type="checkbox" name="risky" value="1" checked=risky0/>
                    " Risky only (never expire, unused 90 days, or no rate limit)"
                </label>
                <button type="submit" class="btn btn-secondary">"Filter"</button>
            </form>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading keys…"</p> }>
            {move || {
                let (base, new_href) = (base.clone(), new_href.clone());
                Suspend::new(async move {
                    match list.await {
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                        Ok(l) => {
                            let create = l.can_write.then(|| view! { <a class="btn btn-primary" href=new_href.clone()>"Create key"</a> });
                            if l.rows.is_empty() {
                                let text = if l.total == 0 { "No API keys yet." } else { "No keys match these filters." };
                                return view! {
                                    <div class="empty card"><p>{text}</p>{create}</div>
                                }.into_any();
                            }
                            view! {
                                <div class="toolbar">
                                    <p class="muted count">{format!("{} of {} key{}", l.rows.len(), l.total, if l.total == 1 { "" } else { "s" })}</p>
                                    {create}
                                </div>
                                <div class="table-wrap">
                                    <table class="data">
                                        <thead><tr>
                                            <th scope="col">"Name"</th><th scope="col">"Key"</th><th scope="col">"Scopes"</th>
                                            <th scope="col">"Created"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th>
                                            <th scope="col" class="num"><abbr title="Requests in the last 24 hours">"24 h"</abbr></th><th scope="col">"Status"</th>
                                        </tr></thead>
                                        <tbody>
                                            {l.rows.into_iter().map(|k| view! {
                                                <tr data-key-row=k.id.to_string()>
                                                    <td><a href=format!("{base}/{}", k.id)>{k.name.clone()}</a>
                                                        {(!k.risks.is_empty()).then(|| view! { <br/><span class="risk">{format!("Risky: {}", k.risks.join(", "))}</span> })}</td>
                                                    <td><code>{masked(&k.prefix, &k.last4)}</code></td>
                                                    <td class="scopes">{k.scopes.iter().map(|s| view! { <span class="chip">{s.clone()}</span> }).collect_view()}</td>
                                                    <td><Time stamp=k.created.clone()/><br/><span class="muted">{format!("by {}", k.created_by)}</span></td>
                                                    <td>{maybe_time(k.expires.clone(), "Never")}</td>
                                                    <td>{maybe_time(k.last_used.clone(), "Never")}</td>
                                                    <td class="num">{k.requests_24h}</td>
                                                    <td>{status_badge(k.status)}</td>
                                                </tr>
                                            }).collect_view()}
                                        </tbody>
                                    </table>
                                </div>
                            }.into_any()
                        }
                    }
                })
            }}
        </Suspense>
    }
}

#[component]
pub fn ApiKeyNewPage() -> impl IntoView {
    view! { <TenantPage title="Create API key"><KeyNewForm/></TenantPage> }
}

#[component]
fn KeyNewForm() -> impl IntoView {
    let shell = use_shell();
    let create = ServerAction::<CreateKey>::new();
    let err = action_error(create.value());
    view! {
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                let Ok(shell) = shell.await else { return ().into_any() };
                if !shell.can(Permission::ApiKeysWrite) {
                    return view! { <ErrorBox error=AppError::Forbidden/> }.into_any();
                }
                let slug = shell.company.slug.clone();
                let list = format!("/t/{slug}/api-keys");
                view! {
        <section class="card narrow">
            <p><a href=list.clone()>"← All keys"</a></p>
            {move || match create.value().get() {
                Some(Ok(issued)) => {
                    let href = format!("{list}/{}", issued.id);
                    let again = format!("{list}/new");
                    view! {
                        <SecretBox issued/>
                        <p><a href=href>"See the key's page"</a>" · "<a href=again rel="external">"Create another key"</a></p>
                    }.into_any()
                }
                _ => ().into_any(),
            }}
            // Once a key is issued the filled-in form has done its job; "Create another" starts afresh.
            <ActionForm action=create attr:class="stack" attr:novalidate=""
                attr:hidden=move || matches!(create.value().get(), Some(Ok(_)))>
                <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                <input type="hidden" name="slug" value=slug.clone()/>
                <Field label="Name" name="name" required=true autocomplete="off" help="What will use it, such as \u{201c}Payroll sync\u{201d}." error=field_error(err, "name")/>
                <fieldset class="field" class:has-error=move || field_error(err, "scopes").get().is_some()>
                    <legend>"Scopes"</legend>
                    {Scope::ALL.iter().map(|s| view! {
                        <label class="check">
                            <input type="checkbox" name="scopes[]" value=s.as_str() checked=*s == Scope::ReadMetrics/>
                            " " <code>{s.as_str()}</code> " — " {s.label()}
                        </label>
                    }).collect_view()}
                    <p class="error" role="alert" hidden=move || field_error(err, "scopes").get().is_none()>
                        {move || field_error(err, "scopes").get().unwrap_or_default()}
                    </p>
                </fieldset>
                <fieldset class="field" class:has-error=move || field_error(err, "expiry").get().is_some()>
                    <legend>"Expires"</legend>
                    <label for="f-expiry" class="visually-hidden">"Expiry"</label>
                    <select id="f-expiry" name="expiry" aria-describedby="f-expiry-error">
                        <option value="30">"In 30 days"</option>
                        <option value="90" selected=true>"In 90 days"</option>
                        <option value="365">"In 365 days"</option>
                        <option value="date">"On a date…"</option>
                        <option value="never">"Never (not recommended)"</option>
                    </select>
                    <label for="f-expires-on">"Date, if you chose \u{201c}On a date\u{201d}"</label>
                    <input id="f-expires-on" type="date" name="expires_on"/>
                    <label class="check confirm">
                        <input type="checkbox" name="confirm_never" value="1"/>
                        " I understand a key that never expires stays valid until someone revokes it"
                    </label>
                    <p class="error" role="alert" id="f-expiry-error" hidden=move || field_error(err, "expiry").get().is_none()>
                        {move || field_error(err, "expiry").get().unwrap_or_default()}
                    </p>
                </fieldset>
                <Field label="Rate limit (requests per minute, optional)" name="rate_limit" input_type="number"
                    help="Empty means no limit; such keys are flagged as risky." error=field_error(err, "rate_limit")/>
                <div class="actions"><button type="submit" class="btn btn-primary">"Create key"</button></div>
            </ActionForm>
        </section>
                }.into_any()
            })}
        </Suspense>
    }
}

/// Requests per day as inline SVG bars, drawn on the server.
#[component]
fn DailyChart(days: Vec<DayCount>) -> impl IntoView {
    let max = days.iter().map(|d| d.requests).max().unwrap_or(0).max(1);
    let total: i64 = days.iter().map(|d| d.requests).sum();
    let (w, h, gap) = (600.0_f64, 120.0_f64, 2.0_f64);
    let bar_w = w / days.len().max(1) as f64 - gap;
    let first = days.first().map(|d| d.day.clone()).unwrap_or_default();
    let last = days.last().map(|d| d.day.clone()).unwrap_or_default();
    view! {
        <figure class="chart">
            <svg viewBox=format!("0 0 {w} {}", h + 2.0) role="img" preserveAspectRatio="none"
                 aria-label=format!("Requests per day, {first} to {last}: {total} in total")>
                {days.iter().enumerate().map(|(i, d)| {
                    let bh = if d.requests == 0 { 1.0 } else { (d.requests as f64 / max as f64 * h).max(2.0) };
                    view! {
                        <rect x=format!("{:.1}", i as f64 * (bar_w + gap)) y=format!("{:.1}", h - bh + 1.0)
                              width=format!("{bar_w:.1}") height=format!("{bh:.1}") class=if d.requests == 0 { "bar empty" } else { "bar" }>
                            <title>{format!("{}: {} request{}", d.day, d.requests, if d.requests == 1 { "" } else { "s" })}</title>
                        </rect>
                    }
                }).collect_view()}
            </svg>
            <figcaption class="muted">{format!("{total} request{} in the last 30 days ({first} – {last}, UTC). Peak {max} a day.", if total == 1 { "" } else { "s" })}</figcaption>
        </figure>
    }
}

#[component]
pub fn ApiKeyDetailPage() -> impl IntoView {
    view! { <TenantPage title="API key"><crate::audit::views::RecordHistory tenant=true resource="api_key" id_param="id"><KeyDetailView/></crate::audit::views::RecordHistory></TenantPage> }
}

#[component]
fn KeyDetailView() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| Uuid::parse_str(&s).ok()));
    let slug = use_slug()();
    let revoke = ServerAction::<RevokeKey>::new();
    let roll = ServerAction::<RollKey>::new();
    let fetch_slug = slug.clone();
    let key = Resource::new(
        move || (id(), revoke.version().get(), roll.version().get(), query.with(|q| q.get("revoked"))),
        move |(id, _, _, _)| {
            let slug = fetch_slug.clone();
            async move {
                match id {
                    Some(id) => get_key(slug, id).await,
                    None => Err(AppError::NotFound),
                }
            }
        },
    );
    let flashed = Resource::new(
        move || query.with(|q| q.get("issued").is_some()),
        |issued| async move {
            if issued {
                flash_secret().await.ok().flatten()
            } else {
                None
            }
        },
    );
    let revoke_err = action_error(revoke.value());
    let roll_err = action_error(roll.value());
    let list = format!("/t/{slug}/api-keys");
    view! {
        <div class="page-head">
            <p><a href=list.clone()>"← All keys"</a></p>
            <div aria-live="polite">
                {move || (query.with(|q| q.get("revoked").is_some()) || matches!(revoke.value().get(), Some(Ok(()))))
                    .then(|| view! { <div class="alert alert-success" role="status">"Revoked. The key stopped working everywhere at once."</div> })}
                {let list = list.clone(); move || match roll.value().get() {
                    Some(Ok(issued)) => {
                        let href = format!("{list}/{}", issued.id);
                        view! { <SecretBox issued/><p><a href=href>"Go to the new key"</a></p> }.into_any()
                    }
                    _ => ().into_any(),
                }}
            </div>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let (slug, list) = (slug.clone(), list.clone());
                Suspend::new(async move {
                let flashed = flashed.await;
                match key.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(d) => {
                        let k = d.key.clone();
                        let kid = k.id.to_string();
                        let live = matches!(k.status, KeyStatus::Active | KeyStatus::ExpiringSoon);
                        let link = |l: KeyLink| {
                            let href = format!("{list}/{}", l.id);
                            view! { <a href=href>{l.name}</a> " " <code>{masked(&l.prefix, &l.last4)}</code> }
                        };
                        view! {
                            {flashed.map(|issued| view! { <SecretBox issued/> })}
                            <section class="card">
                                <div class="card-head">
                                    <h2>{k.name.clone()}</h2>
                                    {status_badge(k.status)}
                                </div>
                                <dl class="facts">
                                    <dt>"Key"</dt><dd><code>{masked(&k.prefix, &k.last4)}</code></dd>
                                    <dt>"Scopes"</dt><dd>{k.scopes.iter().map(|s| view! { <span class="chip">{s.clone()}</span> }).collect_view()}</dd>
                                    <dt>"Rate limit"</dt><dd>{match k.rate_limit { Some(n) => format!("{n} requests per minute"), None => "None".into() }}</dd>
                                    <dt>"Created"</dt><dd><Time stamp=k.created.clone()/>{format!(" by {}", k.created_by)}</dd>
                                    <dt>"Expires"</dt><dd>{maybe_time(k.expires.clone(), "Never")}</dd>
                                    <dt>"Last used"</dt><dd>{maybe_time(k.last_used.clone(), "Never")}</dd>
                                    <dt>"Requests (24 h)"</dt><dd>{k.requests_24h}</dd>
                                    {d.revoked.clone().map(|r| view! {
                                        <dt>"Revoked"</dt><dd><Time stamp=r/>{d.revoked_by.clone().map(|b| format!(" by {b}"))}</dd>
                                    })}
                                    {d.rolled_from.clone().map(|l| view! { <dt>"Rolled from"</dt><dd>{link(l)}</dd> })}
                                    {(!d.rolled_to.is_empty()).then(|| view! {
                                        <dt>"Rolled to"</dt><dd>{d.rolled_to.clone().into_iter().map(link).collect_view()}</dd>
                                    })}
                                </dl>
                                {(!k.risks.is_empty()).then(|| view! { <p class="risk">{format!("Risky: {}.", k.risks.join(", "))}</p> })}
                            </section>
                            <section class="card">
                                <h2>"Requests per day"</h2>
                                <DailyChart days=d.daily.clone()/>
                            </section>
                            <section class="card">
                                <h2>"Recent callers"</h2>
                                {if d.callers.is_empty() {
                                    view! { <p class="muted">"No calls in the last 30 days."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap"><table class="data">
                                            <thead><tr><th scope="col">"Address"</th><th scope="col">"Client"</th><th scope="col">"Endpoint"</th>
                                                <th scope="col" class="num">"Requests"</th><th scope="col">"Last seen"</th></tr></thead>
                                            <tbody>
                                                {d.callers.clone().into_iter().map(|c| view! {
                                                    <tr>
                                                        <td>{c.ip.unwrap_or_else(|| "—".into())}</td>
                                                        <td class="ua">{c.user_agent.unwrap_or_else(|| "—".into())}</td>
                                                        <td><code>{c.endpoint}</code></td>
                                                        <td class="num">{c.requests}</td>
                                                        <td><Time stamp=c.last_seen/></td>
                                                    </tr>
                                                }).collect_view()}
                                            </tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                            {(live && d.can_write).then(|| { let (slug, kid) = (slug.clone(), kid.clone()); view! {
                                <section class="card">
                                    <h2>"Roll"</h2>
                                    <p>"Issues a successor with the same name, scopes, limit and lifetime. The old key keeps working for the grace period you choose, so clients can move over."</p>
                                    <FormAlert error=roll_err/>
                                    <ActionForm action=roll attr:class="inline-form">
                                        <input type="hidden" name="slug" value=slug/>
                                        <input type="hidden" name="id" value=kid/>
                                        <label for="f-grace">"Old key works for"</label>
                                        <select id="f-grace" name="grace">
                                            <option value="immediate">"No grace: stop it now"</option>
                                            <option value="1h">"1 hour"</option>
                                            <option value="24h" selected=true>"24 hours"</option>
                                            <option value="7d">"7 days"</option>
                                        </select>
                                        <button type="submit" class="btn btn-secondary">"Roll key"</button>
                                    </ActionForm>
                                </section>
                            }})}
                            {(live && d.can_revoke).then(|| { let (slug, kid) = (slug.clone(), kid.clone()); view! {
                                <section class="card danger-zone">
                                    <h2>"Revoke"</h2>
                                    <p>"Revoking stops this key everywhere within a second. It cannot be undone; clients using it will get 401."</p>
                                    <FormAlert error=Signal::derive(move || revoke_err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                    <ActionForm action=revoke>
                                        <input type="hidden" name="slug" value=slug/>
                                        <input type="hidden" name="id" value=kid/>
                                        <label class="check confirm">
                                            <input type="checkbox" name="confirm" value="1" required=true/>
                                            " Yes, revoke this key now"
                                        </label>
                                        <p class="error" role="alert" hidden=move || field_error(revoke_err, "confirm").get().is_none()>
                                            {move || field_error(revoke_err, "confirm").get().unwrap_or_default()}
                                        </p>
                                        <button type="submit" class="btn btn-danger">"Revoke key"</button>
                                    </ActionForm>
                                </section>
                            }})}
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}
