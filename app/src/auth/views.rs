use super::{recovery_available, ForgotPassword, Login};
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
                <p class="login-aside"><a href="/forgot">"Forgot your password?"</a></p>
            </section>
        </main>
    }
}

/// `/forgot`: asks for the address and mails a one-time link to set a new password.
#[component]
pub fn ForgotPasswordPage() -> impl IntoView {
    let action = ServerAction::<ForgotPassword>::new();
    let err = action_error(action.value());
    let available = Resource::new(|| (), |_| recovery_available());
    let sent_by_post = use_query_map().with_untracked(|q| q.get("sent").is_some());
    let sent = move || sent_by_post || matches!(action.value().get(), Some(Ok(())));
    view! {
        <Title text="Forgot your password · Atrium"/>
        <main class="login-wrap" id="main">
            <section class="card login-card">
                <p class="brand-lg">"Atrium"</p>
                <h1>"Forgot your password?"</h1>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        if !available.await.unwrap_or(false) {
                            return view! {
                                <p>"Password recovery by email is not set up here. Ask your company's administrator for a password link."</p>
                            }.into_any();
                        }
                        view! {
                            <Show when=sent fallback=move || view! {
                                <p class="muted">"Enter the address you sign in with. If it belongs to an account, we will mail it a link to choose a new password."</p>
                                <ActionForm action=action attr:class="stack" attr:novalidate="">
                                    <FormAlert error=Signal::derive(move || err.get().filter(|e| e.field_error("email").is_none()))/>
                                    <Field label="Email" name="email" input_type="email" autocomplete="username" required=true autofocus=true
                                        error=field_error(err, "email")/>
                                    <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>
                                        {move || if action.pending().get() { "Sending…" } else { "Send the link" }}
                                    </button>
                                </ActionForm>
                            }>
                                <div class="alert alert-success" role="status" data-recovery-sent="">
                                    "If that address belongs to an account, a link to choose a new password is on its way. It works once, for an hour."
                                </div>
                            </Show>
                        }.into_any()
                    })}
                </Suspense>
                <p class="login-aside"><a href="/login">"Back to sign-in"</a></p>
            </section>
        </main>
    }
}
