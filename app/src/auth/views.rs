use super::Login;
use crate::ui::{action_error, field_error, Field, FormAlert};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

#[component]
pub fn LoginPage() -> impl IntoView {
    let action = ServerAction::<Login>::new();
    let err = action_error(action.value());
    let next = use_query_map().with_untracked(|q| q.get("next")).unwrap_or_default();
    let welcome = use_query_map().with_untracked(|q| q.get("welcome").is_some());
    view! {
        <Title text="Sign in · Atrium"/>
        <main class="login-wrap" id="main">
            <section class="card login-card">
                <h1 class="brand-lg">"Atrium"</h1>
                <p class="muted">"Sign in to your admin console."</p>
                {welcome.then(|| view! { <div class="alert alert-success" role="status">"Your password is set. Sign in with it now."</div> })}
                <ActionForm action=action attr:class="stack" attr:novalidate="">
                    <FormAlert error=Signal::derive(move || err.get().filter(|e| e.field_error("email").is_none() && e.field_error("password").is_none()))/>
                    <input type="hidden" name="next" value=next/>
                    <Field label="Email" name="email" input_type="email" autocomplete="username" required=true autofocus=true
                        error=field_error(err, "email")/>
                    <Field label="Password" name="password" input_type="password" autocomplete="current-password" required=true
                        error=field_error(err, "password")/>
                    <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>
                        {move || if action.pending().get() { "Signing in…" } else { "Sign in" }}
                    </button>
                </ActionForm>
            </section>
        </main>
    }
}
