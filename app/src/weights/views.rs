use super::*;
use crate::chrome::{use_slug, TenantPage};
use crate::ui::time::Time;
use crate::ui::{action_error, ErrorBox, FormAlert};
use leptos_router::hooks::{use_params_map, use_query_map};

fn use_category() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.with(|p| p.get("category").unwrap_or_else(|| "sroi".into()))
}

/// A number as the editor shows it: no trailing zeros.
fn num(v: f64) -> String {
    let s = format!("{v:.4}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The keys a change touched, old beside new (a key absent on one side is a default).
fn changed_only(old: &serde_json::Value, new: &serde_json::Value) -> serde_json::Value {
    let empty = serde_json::Map::new();
    let (o, n) = (old.as_object().unwrap_or(&empty), new.as_object().unwrap_or(&empty));
    let mut before = serde_json::Map::new();
    let mut after = serde_json::Map::new();
    for key in o.keys().chain(n.keys()) {
        if o.get(key) != n.get(key) {
            if let Some(v) = o.get(key) {
                before.insert(key.clone(), v.clone());
            }
            after.insert(key.clone(), n.get(key).cloned().unwrap_or_else(|| "default".into()));
        }
    }
    serde_json::json!({ "before": before, "after": after })
}

/// SROI | VIS | History tabs for the category pages.
#[component]
fn Tabs(slug: String, category: Category, history: bool) -> impl IntoView {
    view! {
        <nav class="tabs" aria-label="Weight categories">
            {Category::ALL.into_iter().map(|c| {
                let current = !history && c == category;
                view! { <a href=format!("/t/{slug}/weights/{}", c.as_str()) aria-current=current.then_some("page")>{c.label()}</a> }
            }).collect_view()}
            <a href=format!("/t/{slug}/weights/{}/history", category.as_str()) aria-current=history.then_some("page")>
                {format!("{} history", category.label())}
            </a>
        </nav>
    }
}

#[component]
pub fn WeightsPage() -> impl IntoView {
    view! { <TenantPage title="Weights"><WeightsEditor/></TenantPage> }
}

#[component]
fn WeightsEditor() -> impl IntoView {
    let slug = use_slug()();
    let category = use_category();
    let query = use_query_map();
    let save = ServerAction::<SaveWeights>::new();
    let err = action_error(save.value());
    let fetch_slug = slug.clone();
    let weights =
        Resource::new(move || (category(), save.version().get()), move |(c, _)| get_weights(fetch_slug.clone(), c));
    let field_err = move |key: String| Signal::derive(move || err.get().and_then(|e| e.field_error(&key)));
    // A saved change's reason belongs to that change: start the next one blank.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if matches!(save.value().get(), Some(Ok(()))) {
            use leptos::wasm_bindgen::JsCast;
            if let Some(t) = document()
                .get_element_by_id("f-reason")
                .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlTextAreaElement>().ok())
            {
                t.set_value("");
            }
        }
    });
    view! {
        <div aria-live="polite">
            {move || (query.with(|q| q.get("saved").is_some()) || matches!(save.value().get(), Some(Ok(()))))
                .then(|| view! { <div class="alert alert-success" role="status">"Saved. The change and its reason are in the history."</div> })}
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading weights…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                match weights.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(w) => {
                        let c = w.category;
                        let ro = !w.can_write;
                        let rows = w.fields.into_iter().map(|f| {
                            let id = format!("w-{}", f.key);
                            let err_id = format!("{id}-error");
                            let help_id = format!("{id}-help");
                            let e = field_err(f.key.clone());
                            let step = match f.kind.as_str() { "integer" => "1", "currency" => "0.01", _ => "0.0001" };
                            let reset_id = id.clone();
                            let reset = move |_| {
                                #[cfg(feature = "hydrate")]
                                {
                                    use leptos::wasm_bindgen::JsCast;
                                    if let Some(input) = document().get_element_by_id(&reset_id)
                                        .and_then(|el| el.dyn_into::<leptos::web_sys::HtmlInputElement>().ok()) {
                                        input.set_value("");
                                    }
                                }
                                let _ = &reset_id;
                            };
                            view! {
                                <tr class:has-error=move || e.get().is_some() data-weight=f.key.clone()>
                                    <td>
                                        <label for=id.clone()><strong>{f.label.clone()}</strong></label>
                                        <br/><code class="muted">{f.key.clone()}</code>
                                        <p class="help" id=help_id.clone()>{f.help.clone()}</p>
                                    </td>
                                    <td class="num">{num(f.default)}</td>
                                    <td>
                                        <input id=id.clone() class="num-input" type="number" inputmode="decimal" step=step
                                            min=num(f.min) max=num(f.max)
                                            name=format!("values[{}]", f.key) value=f.value.map(num).unwrap_or_default()
                                            placeholder=format!("{} (default)", num(f.default)) disabled=ro
                                            aria-describedby=move || if e.get().is_some() { format!("{help_id} {err_id}") } else { help_id.clone() }
                                            aria-invalid=move || e.get().is_some().then_some("true")/>
                                        <p class="error" id=format!("{id}-error") role="alert" hidden=move || e.get().is_none()>
                                            {move || e.get().unwrap_or_default()}
                                        </p>
                                    </td>
                                    <td class="muted">{f.unit.clone()}</td>
                                    <td>{(!ro).then(|| view! {
                                        <button type="button" class="btn btn-secondary btn-sm" on:click=reset
                                            title="Clear the override; the default applies after you save">"Reset"</button>
                                    })}</td>
                                </tr>
                            }
                        }).collect_view();
                        view! {
                            <Tabs slug=slug.clone() category=c history=false/>
                            <section class="card">
                                <p class="muted">
                                    {match (w.updated.clone(), w.updated_by.clone()) {
                                        (Some(at), by) => view! { "Overrides last changed " <Time stamp=at/> {by.map(|b| format!(" by {b}"))} "." }.into_any(),
                                        _ => view! { "No overrides: every weight is at its default." }.into_any(),
                                    }}
                                    " A blank field uses the default."
                                </p>
                                <ActionForm action=save attr:class="stack" attr:novalidate="">
                                    <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(m) if !m.contains_key("form"))))/>
                                    <input type="hidden" name="slug" value=slug.clone()/>
                                    <input type="hidden" name="category" value=c.as_str()/>
                                    <div class="table-wrap full">
                                        <table class="data weights">
                                            <thead><tr>
                                                <th scope="col">"Weight"</th><th scope="col" class="num">"Default"</th>
                                                <th scope="col">"Override"</th><th scope="col">"Unit"</th><th scope="col"><span class="visually-hidden">"Reset"</span></th>
                                            </tr></thead>
                                            <tbody>{rows}</tbody>
                                        </table>
                                    </div>
                                    {(!ro).then(|| {
                                        let e = field_err("reason".into());
                                        view! {
                                            <div class="field" class:has-error=move || e.get().is_some()>
                                                <label for="f-reason">"Reason for the change"</label>
                                                <textarea id="f-reason" name="reason" rows="2" required=true
                                                    aria-describedby="f-reason-help f-reason-error"
                                                    aria-invalid=move || e.get().is_some().then_some("true")></textarea>
                                                <p class="help" id="f-reason-help">"Kept in the history and the audit log, such as \u{201c}2025 Independent Sector rate\u{201d}."</p>
                                                <p class="error" id="f-reason-error" role="alert" hidden=move || e.get().is_none()>{move || e.get().unwrap_or_default()}</p>
                                            </div>
                                            <div class="actions"><button type="submit" class="btn btn-primary">"Save weights"</button></div>
                                        }
                                    })}
                                </ActionForm>
                            </section>
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}

#[component]
pub fn WeightHistoryPage() -> impl IntoView {
    view! { <TenantPage title="Weight history"><HistoryList/></TenantPage> }
}

#[component]
fn HistoryList() -> impl IntoView {
    let slug = use_slug()();
    let category = use_category();
    let query = use_query_map();
    let restore = ServerAction::<RestoreWeights>::new();
    let err = action_error(restore.value());
    let fetch_slug = slug.clone();
    let history = Resource::new(
        move || (category(), restore.version().get()),
        move |(c, _)| weight_history(fetch_slug.clone(), c),
    );
    view! {
        <div aria-live="polite">
            {move || (query.with(|q| q.get("restored").is_some()) || matches!(restore.value().get(), Some(Ok(()))))
                .then(|| view! { <div class="alert alert-success" role="status">"Restored, as a new change at the top of the history."</div> })}
            <FormAlert error=err/>
        </div>
        <Suspense fallback=|| view! { <p class="muted">"Loading history…"</p> }>
            {move || {
                let slug = slug.clone();
                Suspend::new(async move {
                match history.await {
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    Ok(h) => {
                        let c = h.category;
                        let tabs = view! { <Tabs slug=slug.clone() category=c history=true/> };
                        let total = h.entries.len();
                        if h.entries.is_empty() {
                            let editor = format!("/t/{slug}/weights/{}", c.as_str());
                            return view! {
                                {tabs}
                                <div class="empty card"><p>{format!("No {} changes yet.", c.label())}</p>
                                    <a class="btn btn-primary" href=editor>"Edit the weights"</a></div>
                            }.into_any();
                        }
                        view! {
                            {tabs}
                            <ol class="history">
                                {h.entries.into_iter().enumerate().map(|(i, e)| {
                                    let ordinal = total - i;
                                    let (verb, tone) = match e.operation.as_str() {
                                        "INSERT" => ("Overrides created", "neutral"),
                                        "DELETE" => ("Reset to defaults", "warning"),
                                        _ => ("Overrides changed", "neutral"),
                                    };
                                    let details = changed_only(&e.old, &e.new);
                                    let slug = slug.clone();
                                    view! {
                                        <li class="card" data-version=e.id>
                                            <div class="card-head">
                                                <h2>{verb}</h2>
                                                {e.current.then(|| view! { <crate::ui::Badge text="In force" tone="success"/> })}
                                                {(!e.current).then(|| view! { <crate::ui::Badge text=format!("Version {ordinal}") tone=tone/> })}
                                            </div>
                                            <p class="muted"><Time stamp=e.at.clone()/>{format!(" by {}", e.by.clone().unwrap_or_else(|| "an unknown actor".into()))}</p>
                                            <p class="reason">{match e.reason.clone() { Some(r) => format!("\u{201c}{r}\u{201d}"), None => "No reason was given.".into() }}</p>
                                            {if e.operation == "DELETE" && e.new.as_object().is_none_or(|o| o.is_empty()) {
                                                view! { <p class="muted">"Every weight went back to its default."</p> }.into_any()
                                            } else {
                                                view! { <crate::ui::DiffView details=details/> }.into_any()
                                            }}
                                            {(h.can_write && !e.current).then(|| view! {
                                                <details class="restore">
                                                    <summary class="btn btn-secondary btn-sm">"Restore this version"</summary>
                                                    <ActionForm action=restore attr:class="stack">
                                                        <input type="hidden" name="slug" value=slug.clone()/>
                                                        <input type="hidden" name="category" value=c.as_str()/>
                                                        <input type="hidden" name="version" value=e.id/>
                                                        <label for=format!("reason-{}", e.id)>"Reason for restoring"</label>
                                                        <input id=format!("reason-{}", e.id) name="reason" required=true/>
                                                        <p class="help">"Restoring makes a new change with this reason; the history is never rewritten."</p>
                                                        <button type="submit" class="btn btn-primary btn-sm">"Restore"</button>
                                                    </ActionForm>
                                                </details>
                                            })}
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                        }.into_any()
                    }
                }
            })}}
        </Suspense>
    }
}
