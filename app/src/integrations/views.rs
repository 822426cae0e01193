use super::*;
use crate::chrome::{use_slug, TenantPage};
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, Badge, ErrorBox, Field, FormAlert};
use leptos_router::hooks::{use_params_map, use_query_map};

fn status_badge(s: DeliveryStatus) -> impl IntoView {
    view! { <Badge text=s.label() tone=s.tone()/> }
}

fn sync_badge(s: &IntegrationSummary) -> impl IntoView {
    let (text, tone) = match (s.configured, s.enabled) {
        (false, _) => ("Not configured", "neutral"),
        (true, false) => ("Disabled", "neutral"),
        (true, true) => ("Enabled", "success"),
    };
    view! { <Badge text=text tone=tone/> }
}

fn last_sync(s: &IntegrationSummary) -> AnyView {
    match (&s.last_synced, s.last_status.as_deref()) {
        (Some(at), status) => {
            let (text, tone) = match status {
                Some("success") => ("succeeded", "success"),
                Some("pending") => ("failed, retrying", "warning"),
                _ => ("failed", "danger"),
            };
            view! {
                <span>"Last delivery " <Time stamp=at.clone()/> " "<Badge text=text tone=tone/></span>
                {s.last_error.clone().map(|e| view! { <br/><span class="muted error-text">{e}</span> })}
            }
            .into_any()
        }
        _ => view! { <span class="muted">"Nothing sent yet"</span> }.into_any(),
    }
}

#[component]
fn DeliveryTable(rows: Vec<DeliveryRow>, slug: String, #[prop(optional)] show_platform: bool) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="data deliveries">
                <thead><tr>
                    <th scope="col">"#"</th>
                    {show_platform.then(|| view! { <th scope="col">"Platform"</th> })}
                    <th scope="col">"Event"</th><th scope="col">"Status"</th><th scope="col" class="num">"Attempts"</th>
                    <th scope="col">"Last response"</th><th scope="col">"Queued"</th>
                </tr></thead>
                <tbody>
                    {rows.into_iter().map(|d| {
                        let href = format!("/t/{slug}/deliveries/{}", d.id);
                        view! {
                            <tr data-delivery=d.id data-status=d.status.as_str()>
                                <td><a href=href>{format!("#{}", d.id)}</a></td>
                                {show_platform.then(|| view! { <td>{d.platform.label()}</td> })}
                                <td class="mono">{d.event_type.clone()}</td>
                                <td>{status_badge(d.status)}
                                    {d.next_attempt.clone().filter(|_| d.status == DeliveryStatus::Retrying).map(|n| view! { <br/><span class="muted">"next " <Time stamp=n/></span> })}</td>
                                <td class="num">{d.attempts}</td>
                                <td>{match (d.response_status, d.error.clone()) {
                                    (Some(code), _) => view! { <code>{code}</code> }.into_any(),
                                    (None, Some(e)) => view! { <span class="muted">{e}</span> }.into_any(),
                                    _ => view! { <span class="muted">"—"</span> }.into_any(),
                                }}</td>
                                <td><Time stamp=d.created.clone()/></td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// Deliveries by status: one stacked bar (inline SVG) and a legend whose entries filter the list.
#[component]
fn StatusBar(counts: Vec<(DeliveryStatus, i64)>, href: String) -> impl IntoView {
    let total: i64 = counts.iter().map(|c| c.1).sum();
    let mut x = 0.0;
    let bars = counts
        .iter()
        .filter(|(_, n)| *n > 0)
        .map(|(s, n)| {
            let w = *n as f64 / total.max(1) as f64 * 100.0;
            let rect = view! { <rect x=format!("{x:.3}") y="0" width=format!("{w:.3}") height="10" class=format!("bar-{}", s.tone())/> };
            x += w;
            rect
        })
        .collect_view();
    view! {
        <div class="status-bar">
            <svg viewBox="0 0 100 10" preserveAspectRatio="none" role="img"
                aria-label=format!("{total} deliveries by status")>{bars}</svg>
            <ul class="legend">
                {counts.into_iter().map(|(s, n)| view! {
                    <li><a href=format!("{href}&status={}", s.as_str())><span class=format!("dot bar-{}", s.tone())></span>
                        {format!("{} {n}", s.label())}</a></li>
                }).collect_view()}
            </ul>
        </div>
    }
}

#[component]
pub fn IntegrationsPage() -> impl IntoView {
    view! { <TenantPage title="Integrations"><IntegrationCards/></TenantPage> }
}

#[component]
fn IntegrationCards() -> impl IntoView {
    let slug = use_slug()();
    let fetch_slug = slug.clone();
    let list = Resource::new(|| (), move |_| list_integrations(fetch_slug.clone()));
    view! {
        <div class="toolbar">
            <p class="muted">"Atrium sends your programme data to these platforms, signed, with retries."</p>
            <a class="btn btn-secondary" href=format!("/t/{slug}/deliveries")>"All deliveries"</a>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading integrations…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(items) => view! {
                        <div class="cards">
                            {items.into_iter().map(|s| {
                                let href = format!("/t/{slug}/integrations/{}", s.platform.as_str());
                                let failed = (s.failed_deliveries > 0).then(|| {
                                    let href = format!("/t/{slug}/deliveries?status=failed&platform={}", s.platform.as_str());
                                    view! { <p><a href=href class="risk">{format!("{} failed deliver{}", s.failed_deliveries, if s.failed_deliveries == 1 { "y" } else { "ies" })}</a></p> }
                                });
                                view! {
                                    <section class="card" data-platform=s.platform.as_str()>
                                        <div class="card-head"><h2>{s.platform.label()}</h2>{sync_badge(&s)}</div>
                                        <p class="mono muted">{s.endpoint.clone().unwrap_or_else(|| "No endpoint yet".into())}</p>
                                        <p>{last_sync(&s)}</p>
                                        {failed}
                                        <a class="btn btn-secondary btn-sm" href=href>{if s.configured { "Manage" } else { "Set up" }}</a>
                                    </section>
                                }
                            }).collect_view()}
                        </div>
                    }.into_any(),
                }
            })}}
        </Suspense>
    }
}

#[component]
pub fn IntegrationPage() -> impl IntoView {
    view! { <TenantPage title="Integration"><crate::audit::views::RecordHistory tenant=true resource="integration" id_param="platform"><IntegrationEditor/></crate::audit::views::RecordHistory></TenantPage> }
}

#[component]
fn IntegrationEditor() -> impl IntoView {
    let slug = use_slug()();
    let params = use_params_map();
    let query = use_query_map();
    let platform = move || params.with(|p| p.get("platform").unwrap_or_default());
    let save = ServerAction::<SaveIntegration>::new();
    let disable = ServerAction::<DisableIntegration>::new();
    let test = ServerAction::<SendTestDelivery>::new();
    let err = action_error(save.value());
    let disable_err = action_error(disable.value());
    let test_err = action_error(test.value());
    let fetch_slug = slug.clone();
    let detail = Resource::new(
        move || (platform(), save.version().get(), disable.version().get(), test.version().get()),
        move |(p, ..)| get_integration(fetch_slug.clone(), p),
    );
    let notice = move || {
        let q = |k: &str| query.with(|q| q.get(k).is_some());
        if q("saved") || matches!(save.value().get(), Some(Ok(()))) {
            Some("Saved.")
        } else if q("disabled") || matches!(disable.value().get(), Some(Ok(()))) {
            Some("Disabled. Queued deliveries wait until you enable it again.")
        } else {
            None
        }
    };
    let test_link = {
        let slug = slug.clone();
        move || match test.value().get() {
            Some(Ok(id)) => {
                let href = format!("/t/{slug}/deliveries/{id}");
                Some(
                    view! { <div class="alert alert-success" role="status">"Test delivery queued. " <a href=href>"Follow it"</a></div> },
                )
            }
            _ => None,
        }
    };
    view! {
        <div aria-live="polite">
            {move || notice().map(|n| view! { <div class="alert alert-success" role="status">{n}</div> })}
            {test_link}
            <FormAlert error=disable_err/>
            <FormAlert error=test_err/>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                match detail.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(d) => {
                        let s = d.summary.clone();
                        let p = s.platform;
                        let creds = d.credentials.clone();
                        let ro = !d.can_write;
                        let cred_state = move |set: bool| if set {
                            view! { <Badge text="Set" tone="success"/> }.into_any()
                        } else {
                            view! { <span class="muted">"Not set"</span> }.into_any()
                        };
                        let actions = (s.configured && !ro).then(|| { let (slug, slug2) = (slug.clone(), slug.clone()); view! {
                                    <div class="actions">
                                        <ActionForm action=test attr:class="inline">
                                            <input type="hidden" name="slug" value=slug2/>
                                            <input type="hidden" name="platform" value=p.as_str()/>
                                            <button type="submit" class="btn btn-secondary" disabled=!s.enabled>"Send a test delivery"</button>
                                        </ActionForm>
                                        {s.enabled.then(|| view! {
                                            <ActionForm action=disable attr:class="inline" attr:onsubmit="return confirm('Disable this integration? Nothing is sent until it is enabled again.')">
                                                <input type="hidden" name="slug" value=slug.clone()/>
                                                <input type="hidden" name="platform" value=p.as_str()/>
                                                <button type="submit" class="btn btn-danger">"Disable"</button>
                                            </ActionForm>
                                        })}
                                    </div>
                                }});
                        let all_href = format!("/t/{slug}/deliveries?platform={}", p.as_str());
                        let table_slug = slug.clone();
                        let changed = creds.changed.clone().map(|c| view! { <span class="muted">", last changed " <Time stamp=c/></span> });
                        view! {
                            <p><a href=format!("/t/{slug}/integrations")>"← All integrations"</a></p>
                            <section class="card">
                                <div class="card-head"><h2>{p.label()}</h2>{sync_badge(&s)}</div>
                                <p>{last_sync(&s)}</p>
                                {actions}
                            </section>
                            <section class="card">
                                <h2>"Settings"</h2>
                                <ActionForm action=save attr:class="stack" attr:novalidate="">
                                    <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                    <input type="hidden" name="slug" value=slug.clone()/>
                                    <input type="hidden" name="platform" value=p.as_str()/>
                                    <label class="check">
                                        <input type="checkbox" name="enabled" value="on" checked=s.enabled disabled=ro/>
                                        " Enabled: send deliveries to this endpoint"
                                    </label>
                                    <Field label="Endpoint URL" name="endpoint" input_type="url" value=s.endpoint.clone().unwrap_or_default()
                                        help="https only. Deliveries are POSTed here as JSON with Standard Webhooks signature headers."
                                        error=field_error(err, "endpoint")/>
                                    <fieldset class="field">
                                        <legend>"Credentials"</legend>
                                        <p class="help">"Stored encrypted; never shown again. Leave a field blank to keep what is set."</p>
                                        <dl class="facts">
                                            <dt>"API token"</dt><dd>{cred_state(creds.api_token)}{changed}</dd>
                                            <dt>"Signing secret"</dt><dd>{cred_state(creds.signing_secret)}</dd>
                                        </dl>
                                        <Field label="New API token" name="api_token" input_type="password" autocomplete="off"
                                            help="Sent as Authorization: Bearer with each delivery." error=field_error(err, "api_token")/>
                                        {creds.api_token.then(|| view! {
                                            <label class="check"><input type="checkbox" name="clear_api_token" value="on"/>" Remove the API token"</label>
                                        })}
                                        <Field label="New signing secret" name="signing_secret" input_type="password" autocomplete="off"
                                            help="whsec_ followed by base64 (24–64 bytes), shared with the receiver to verify webhook-signature."
                                            error=field_error(err, "signing_secret")/>
                                    </fieldset>
                                    <div class="field" class:has-error=move || field_error(err, "config").get().is_some()>
                                        <label for="f-config">"Settings (JSON)"</label>
                                        <textarea id="f-config" name="config" rows="6" class="mono" aria-describedby="f-config-help f-config-error" disabled=ro>{d.config.clone()}</textarea>
                                        <ul class="help" id="f-config-help">
                                            {d.settings.iter().map(|(k, req, help)| view! {
                                                <li><code>{k.clone()}</code>{req.then_some(" (required)")}" — "{help.clone()}</li>
                                            }).collect_view()}
                                        </ul>
                                        <p class="error" id="f-config-error" role="alert" hidden=move || field_error(err, "config").get().is_none()>
                                            {move || field_error(err, "config").get().unwrap_or_default()}
                                        </p>
                                    </div>
                                    {(!ro).then(|| view! { <div class="actions"><button type="submit" class="btn btn-primary">"Save"</button></div> })}
                                </ActionForm>
                            </section>
                            <section class="card">
                                <div class="card-head">
                                    <h2>"Recent deliveries"</h2>
                                    <a href=all_href>"All"</a>
                                </div>
                                {if d.recent.is_empty() {
                                    view! { <p class="muted">"No deliveries yet. Send a test delivery once the integration is enabled."</p> }.into_any()
                                } else {
                                    view! { <DeliveryTable rows=d.recent.clone() slug=table_slug/> }.into_any()
                                }}
                            </section>
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}

#[component]
pub fn DeliveriesPage() -> impl IntoView {
    view! { <TenantPage title="Deliveries"><DeliveryList/></TenantPage> }
}

#[component]
fn DeliveryList() -> impl IntoView {
    let slug = use_slug()();
    let query = use_query_map();
    let replay_all = ServerAction::<ReplayFailed>::new();
    let replay_err = action_error(replay_all.value());
    let params = move || {
        query.with(|q| {
            (
                q.get("status").unwrap_or_default(),
                q.get("platform").unwrap_or_default(),
                q.get("from").unwrap_or_default(),
                q.get("to").unwrap_or_default(),
                q.get("before").and_then(|b| b.parse::<i64>().ok()),
            )
        })
    };
    let fetch_slug = slug.clone();
    let list = Resource::new(
        move || (params(), replay_all.version().get()),
        move |((status, platform, from, to, before), _)| {
            list_deliveries(fetch_slug.clone(), status, platform, from, to, before)
        },
    );
    let (status0, platform0, from0, to0, _) = params();
    let base = format!("/t/{slug}/deliveries");
    let status_q = status0.clone();
    view! {
        <div aria-live="polite">
            {move || {
                let n = match replay_all.value().get() {
                    Some(Ok(n)) => Some(n.to_string()),
                    _ => query.with(|q| q.get("replayed")),
                };
                n.map(|n| view! { <div class="alert alert-success" role="status">{format!("{n} failed deliveries queued again.")}</div> })
            }}
            <FormAlert error=replay_err/>
        </div>
        <form method="get" action=base.clone() class="toolbar filters" role="search">
            <label>"Status "
                <select name="status">
                    <option value="">"Any"</option>
                    {DeliveryStatus::ALL.into_iter().map(|s| view! { <option value=s.as_str() selected=status0 == s.as_str()>{s.label()}</option> }).collect_view()}
                </select>
            </label>
            <label>"Platform "
                <select name="platform">
                    <option value="">"Any"</option>
                    {Platform::ALL.into_iter().map(|p| view! { <option value=p.as_str() selected=platform0 == p.as_str()>{p.label()}</option> }).collect_view()}
                </select>
            </label>
            <label>"From " <input type="date" name="from" value=from0.clone()/></label>
            <label>"To " <input type="date" name="to" value=to0.clone()/></label>
            <button type="submit" class="btn btn-secondary">"Filter"</button>
        </form>
        <Suspense fallback=|| view! { <p class="muted">"Loading deliveries…"</p> }>
            {move || {
                let (slug, base) = (slug.clone(), base.clone());
                let (status_q, platform0, from0, to0) = (status_q.clone(), platform0.clone(), from0.clone(), to0.clone());
                Suspend::new(async move {
                match list.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(l) => {
                        let hidden = (slug.clone(), platform0.clone(), from0.clone(), to0.clone());
                        let replay = (l.can_replay && l.failed > 0).then(move || {
                            let n = l.failed;
                            let (slug, platform0, from0, to0) = hidden;
                            view! {
                                <details class="replay-all">
                                    <summary class="btn btn-danger btn-sm">{format!("Replay all failed ({n})")}</summary>
                                    <ActionForm action=replay_all attr:class="stack">
                                        <input type="hidden" name="slug" value=slug.clone()/>
                                        <input type="hidden" name="platform" value=platform0.clone()/>
                                        <input type="hidden" name="from" value=from0.clone()/>
                                        <input type="hidden" name="to" value=to0.clone()/>
                                        <input type="hidden" name="expected" value=n/>
                                        <label class="check">
                                            <input type="checkbox" name="confirm" value="1"/>
                                            {format!(" Send {n} failed deliver{} again, under their original webhook ids", if n == 1 { "y" } else { "ies" })}
                                        </label>
                                        <button type="submit" class="btn btn-danger">{format!("Replay {n}")}</button>
                                    </ActionForm>
                                </details>
                            }
                        });
                        if l.rows.is_empty() {
                            return view! {
                                <div class="empty card"><p>"No deliveries match. Queue one with \u{201c}Send a test delivery\u{201d} on an integration, or through the API."</p>
                                <a class="btn btn-secondary" href=format!("/t/{slug}/integrations")>"Integrations"</a></div>
                            }.into_any();
                        }
                        let older = l.next.map(|b| {
                            let q = format!("{base}?status={}&platform={}&from={}&to={}&before={b}", status_q, platform0, from0, to0);
                            view! { <a class="btn btn-secondary btn-sm" href=q>"Older"</a> }
                        });
                        let legend_href = format!("{base}?platform={}&from={}&to={}", platform0, from0, to0);
                        view! {
                            <StatusBar counts=l.by_status.clone() href=legend_href/>
                            <div class="toolbar">{replay}</div>
                            <DeliveryTable rows=l.rows slug=slug.clone() show_platform=true/>
                            <div class="pager">{older}</div>
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}

#[component]
pub fn DeliveryPage() -> impl IntoView {
    view! { <TenantPage title="Delivery"><DeliveryView/></TenantPage> }
}

#[component]
fn DeliveryView() -> impl IntoView {
    let slug = use_slug()();
    let params = use_params_map();
    let query = use_query_map();
    let id = move || params.with(|p| p.get("id").and_then(|s| s.parse::<i64>().ok()));
    let replay = ServerAction::<ReplayDelivery>::new();
    let replay_err = action_error(replay.value());
    let tick = RwSignal::new(0u32);
    let fetch_slug = slug.clone();
    let delivery = Resource::new(
        move || (id(), replay.version().get(), tick.get()),
        move |(id, ..)| {
            let slug = fetch_slug.clone();
            async move {
                match id {
                    Some(id) => get_delivery(slug, id).await,
                    None => Err(AppError::NotFound),
                }
            }
        },
    );
    // While the delivery is still on its way, look again every two seconds.
    #[cfg(feature = "hydrate")]
    {
        let handle = set_interval_with_handle(
            move || {
                let pending = delivery.get_untracked().and_then(|d| d.ok()).is_some_and(|d| {
                    matches!(d.row.status, DeliveryStatus::Queued | DeliveryStatus::Sending | DeliveryStatus::Retrying)
                });
                if pending {
                    tick.update(|t| *t += 1);
                }
            },
            std::time::Duration::from_secs(2),
        );
        if let Ok(h) = handle {
            on_cleanup(move || h.clear());
        }
    }
    view! {
        <div aria-live="polite">
            {move || (query.with(|q| q.get("replayed").is_some()) || matches!(replay.value().get(), Some(Ok(()))))
                .then(|| view! { <div class="alert alert-success" role="status">"Queued again, under the same webhook id."</div> })}
            {move || query.with(|q| q.get("sent").is_some())
                .then(|| view! { <div class="alert alert-success" role="status">"Test delivery queued."</div> })}
            <FormAlert error=replay_err/>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                match delivery.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(d) => {
                        let r = d.row.clone();
                        let finished = matches!(r.status, DeliveryStatus::Success | DeliveryStatus::Failed);
                        view! {
                            <p><a href=format!("/t/{slug}/deliveries")>"← All deliveries"</a>" · "
                               <a href=format!("/t/{slug}/integrations/{}", r.platform.as_str())>{r.platform.label()}</a></p>
                            <section class="card" data-delivery-status=r.status.as_str()>
                                <div class="card-head"><h2>{format!("Delivery #{}", r.id)}</h2>{status_badge(r.status)}</div>
                                <dl class="facts">
                                    <dt>"Event"</dt><dd class="mono">{r.event_type.clone()}</dd>
                                    <dt>"webhook-id"</dt><dd class="mono">{r.webhook_id.to_string()}</dd>
                                    <dt>"Queued"</dt><dd><Time stamp=r.created.clone()/></dd>
                                    {r.delivered.clone().map(|t| view! { <dt>"Delivered"</dt><dd><Time stamp=t/></dd> })}
                                    {r.next_attempt.clone().map(|t| view! { <dt>"Next attempt"</dt><dd><Time stamp=t/></dd> })}
                                    <dt>"Attempts"</dt><dd>{r.attempts}</dd>
                                    {r.error.clone().map(|e| view! { <dt>"Last error"</dt><dd>{e}</dd> })}
                                </dl>
                                {(d.can_replay && finished).then(|| view! {
                                    <ActionForm action=replay attr:class="inline">
                                        <input type="hidden" name="slug" value=slug.clone()/>
                                        <input type="hidden" name="id" value=r.id/>
                                        <button type="submit" class="btn btn-secondary">"Replay"</button>
                                    </ActionForm>
                                })}
                            </section>
                            <section class="card">
                                <h2>"Attempts"</h2>
                                {if d.attempts.is_empty() {
                                    view! { <p class="muted">"No attempt yet."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap">
                                            <table class="data attempts">
                                                <thead><tr><th scope="col">"#"</th><th scope="col">"When"</th><th scope="col">"Outcome"</th>
                                                    <th scope="col">"Response"</th><th scope="col" class="num">"Duration"</th><th scope="col">"Body (excerpt)"</th></tr></thead>
                                                <tbody>
                                                    {d.attempts.into_iter().map(|a| {
                                                        let tone = match a.outcome.as_str() { "success" => "success", "retry" => "warning", _ => "danger" };
                                                        view! {
                                                            <tr data-attempt=a.attempt>
                                                                <td>{a.attempt}</td>
                                                                <td><Time stamp=a.at/></td>
                                                                <td><Badge text=a.outcome.clone() tone=tone/></td>
                                                                <td>{a.response_status.map(|s| view! { <code>{s}</code> })}
                                                                    {a.error.map(|e| view! { <span class="muted">{e}</span> })}</td>
                                                                <td class="num">{format!("{} ms", a.duration_ms)}</td>
                                                                <td><pre class="excerpt">{a.excerpt.unwrap_or_default()}</pre></td>
                                                            </tr>
                                                        }
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        </div>
                                    }.into_any()
                                }}
                            </section>
                            <section class="card">
                                <h2>"Payload"</h2>
                                <pre class="payload">{d.payload.clone()}</pre>
                            </section>
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}
