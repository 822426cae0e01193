use super::{recovery_available, second_step_state, ForgotPassword, Login, SecondStep};
use crate::error::AppError;
use crate::two_factor::Enroll;
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

/// `/login/two-factor`: the code after the password, or setting the app up when a company (or
/// the platform) requires it and the account has none yet.
#[component]
pub fn SecondStepPage() -> impl IntoView {
    let action = ServerAction::<SecondStep>::new();
    let err = action_error(action.value());
    let state = Resource::new(|| (), |_| second_step_state());
    view! {
        <Title text="Two-factor sign-in · Atrium"/>
        <main class="login-wrap" id="main">
            <section class="card login-card">
                <p class="brand-lg">"Atrium"</p>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || Suspend::new(async move {
                        let s = match state.await {
                            Ok(s) => s,
                            Err(e) => {
                                return view! {
                                    <h1>"Sign in again"</h1>
                                    <div class="alert alert-error" role="alert">{e.to_string()}</div>
                                    <p><a href="/login">"Go to sign-in"</a></p>
                                }.into_any();
                            }
                        };
                        let form = move |label: &'static str, button: &'static str| view! {
                            <ActionForm action=action attr:class="stack" attr:novalidate="">
                                <FormAlert error=Signal::derive(move || err.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                <Field label=label name="code" autocomplete="one-time-code" required=true autofocus=true
                                    error=field_error(err, "code")/>
                                <button type="submit" class="btn btn-primary" disabled=move || action.pending().get()>{button}</button>
                            </ActionForm>
                        };
                        match s.enroll {
                            Some(enrollment) => view! {
                                <h1>"Set up two-factor sign-in"</h1>
                                <p class="muted">{format!("{} requires a code from an app on your phone when {} signs in.", s.required_by.join(", "), s.email)}</p>
                                <Enroll enrollment>{form("The 6-digit code it shows", "Turn on and sign in")}</Enroll>
                            }.into_any(),
                            None => view! {
                                <h1>"Enter your code"</h1>
                                <p class="muted">{format!("Signing in as {}. Open your authenticator app, or use one of your recovery codes.", s.email)}</p>
                                {form("Code", "Sign in")}
                            }.into_any(),
                        }
                    })}
                </Suspense>
                <p class="login-aside"><a href="/login">"Start over"</a></p>
            </section>
        </main>
    }
}
