//! Leaf widgets used on every page: form fields, badges, error boxes, times and diffs. The
//! frame around a page is `chrome`.
mod agent;
pub mod time;
pub use agent::describe_agent;

use crate::error::AppError;
use leptos::prelude::*;

/// The error of the last submission of `action`, if any.
pub fn action_error<T, V>(value: V) -> Signal<Option<AppError>>
where
    T: Clone + Send + Sync + 'static,
    V: Get<Value = Option<Result<T, AppError>>> + Send + Sync + 'static,
{
    Signal::derive(move || value.get().and_then(|r| r.err()))
}

/// navigator.clipboard.writeText, reached without enabling more web-sys features. A no-op
/// on the server.
pub fn copy_to_clipboard(text: &str) {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        use leptos::web_sys::js_sys::{Function, Reflect};
        let w: leptos::wasm_bindgen::JsValue = window().into();
        if let Ok(clip) = Reflect::get(&w, &"navigator".into()).and_then(|n| Reflect::get(&n, &"clipboard".into())) {
            if let Ok(f) =
                Reflect::get(&clip, &"writeText".into()).and_then(|f| f.dyn_into::<Function>().map_err(Into::into))
            {
                let _ = f.call1(&clip, &text.into());
            }
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = text;
}

pub fn field_error(err: Signal<Option<AppError>>, field: &'static str) -> Signal<Option<String>> {
    Signal::derive(move || err.get().and_then(|e| e.field_error(field)))
}

#[component]
pub fn Field(
    label: &'static str,
    name: &'static str,
    #[prop(default = "text")] input_type: &'static str,
    #[prop(optional, into)] value: String,
    #[prop(optional)] help: Option<&'static str>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] required: bool,
    #[prop(optional)] autofocus: bool,
    /// `numeric` brings up the digits keyboard on phones (one-time codes).
    #[prop(optional)]
    input_mode: Option<&'static str>,
    #[prop(into)] error: Signal<Option<String>>,
) -> impl IntoView {
    let id = format!("f-{name}");
    let help_id = format!("{id}-help");
    let err_id = format!("{id}-error");
    let described = {
        let (help_id, err_id) = (help_id.clone(), err_id.clone());
        move || {
            let mut ids = Vec::new();
            if help.is_some() {
                ids.push(help_id.clone());
            }
            if error.get().is_some() {
                ids.push(err_id.clone());
            }
            (!ids.is_empty()).then(|| ids.join(" "))
        }
    };
    view! {
        <div class="field" class:has-error=move || error.get().is_some()>
            <label for=id.clone()>{label}</label>
            <input
                id=id.clone()
                name=name
                type=input_type
                value=value
                autocomplete=autocomplete
                required=required
                autofocus=autofocus
                inputmode=input_mode
                aria-invalid=move || error.get().is_some().then_some("true")
                aria-describedby=described
            />
            {help.map(|h| view! { <p class="help" id=help_id.clone()>{h}</p> })}
            <p class="error" id=err_id role="alert" hidden=move || error.get().is_none()>
                {move || error.get().unwrap_or_default()}
            </p>
        </div>
    }
}

/// A form-level message for errors that belong to no single field.
#[component]
pub fn FormAlert(#[prop(into)] error: Signal<Option<AppError>>) -> impl IntoView {
    move || {
        error
            .get()
            .and_then(|e| match e {
                AppError::Validation(ref map) => map.get("form").cloned().or(Some(e.to_string())),
                other => Some(other.to_string()),
            })
            .map(|msg| view! { <div class="alert alert-error" role="alert">{msg}</div> })
    }
}

#[component]
pub fn Badge(#[prop(into)] text: String, #[prop(into)] tone: String) -> impl IntoView {
    view! { <span class=format!("badge badge-{tone}")>{text}</span> }
}

/// The HTTP status of a server-rendered page (ignored in the browser).
/// Percent-encodes a query value (RFC 3986 unreserved characters pass through).
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn set_status(code: u16) {
    #[cfg(feature = "ssr")]
    if let Some(opts) = use_context::<leptos_axum::ResponseOptions>() {
        opts.set_status(http::StatusCode::from_u16(code).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR));
    }
    #[cfg(not(feature = "ssr"))]
    let _ = code;
}

/// Errors shown inside the frame: what happened and what to do. On the server the page's
/// status follows the error, so a missing company is a real 404.
#[component]
pub fn ErrorBox(error: AppError) -> impl IntoView {
    set_status(error.status());
    let (title, hint) = match &error {
        AppError::NotFound => ("Not found", "Check the address, or go back to the list."),
        AppError::Forbidden => ("Not allowed", "Your role does not allow this. Ask an administrator if you need it."),
        AppError::Denied(_) => ("Not allowed", ""),
        AppError::Unauthenticated(_) => ("Signed out", "Sign in again to continue."),
        AppError::Internal(_) => {
            ("Something went wrong", "Try again. If it keeps happening, send the request id to your operator.")
        }
        _ => ("That did not work", ""),
    };
    view! {
        <section class="card error-page" role="alert">
            <h2>{title}</h2>
            <p>{error.to_string()}</p>
            <p class="muted">{hint}</p>
        </section>
    }
}

/// An audit row's details: for before/after edits, one line per changed key with the old value
/// struck through beside the new one; anything else as compact JSON.
#[component]
pub fn DiffView(details: serde_json::Value) -> impl IntoView {
    let side = |name: &str| details.get(name).and_then(|v| v.as_object()).cloned();
    let (before, after) = (side("before"), side("after"));
    if before.is_none() && after.is_none() {
        let text = details.to_string();
        let text = if text == "{}" { String::new() } else { text };
        return view! { <span class="mono">{text}</span> }.into_any();
    }
    let (before, after) = (before.unwrap_or_default(), after.unwrap_or_default());
    let keys: std::collections::BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    let show = |v: Option<&serde_json::Value>| match v {
        None | Some(serde_json::Value::Null) => "—".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let rows = keys
        .into_iter()
        .map(|k| {
            let (old, new) = (before.get(k), after.get(k));
            view! {
                <div class="diff-row">
                    <dt>{k.clone()}</dt>
                    <dd>
                        {old.is_some().then(|| view! { <del>{show(old)}</del><span aria-hidden="true">" → "</span> })}
                        <ins>{show(new)}</ins>
                    </dd>
                </div>
            }
        })
        .collect_view();
    view! { <dl class="diff">{rows}</dl> }.into_any()
}
