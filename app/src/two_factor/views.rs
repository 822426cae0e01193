use super::{
    load_two_factor, DisableTwoFactor, EnableTwoFactor, Enrollment, NewRecoveryCodes, RecoveryCodes, StartTwoFactor,
};
use crate::chrome::Frame;
use crate::error::AppError;
use crate::ui::time::Time;
use crate::ui::{action_error, field_error, ErrorBox, Field, FormAlert};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// Recovery codes, shown once, with a copy button.
#[component]
pub fn RecoveryCodeList(codes: RecoveryCodes) -> impl IntoView {
    let all = codes.join("\n");
    let copied = RwSignal::new(false);
    let copy = move |_| {
        crate::ui::copy_to_clipboard(&all);
        copied.set(true);
    };
    view! {
        <div class="alert alert-success" role="status" data-recovery-codes="">
            <p><strong>"Your recovery codes."</strong>" Keep them somewhere safe, apart from your phone: each one signs you in once if the phone is lost. They are shown only this once."</p>
            <ol class="recovery-codes mono">
                {codes.into_iter().map(|c| view! { <li>{c}</li> }).collect_view()}
            </ol>
            <button type="button" class="btn btn-secondary btn-sm" on:click=copy>
                {move || if copied.get() { "Copied" } else { "Copy all" }}
            </button>
        </div>
    }
}

/// The QR code to scan, the secret to type instead, and where the confirming code goes.
#[component]
pub fn Enroll(enrollment: Enrollment, children: Children) -> impl IntoView {
    view! {
        <div class="enroll" data-enrolling="">
            <ol class="steps">
                <li>"Open an authenticator app (1Password, Google Authenticator, Authy, a hardware key's app…) and add an account."</li>
                <li>"Scan this code, or type the key below."</li>
            </ol>
            <div class="qr" role="img" aria-label="QR code for your authenticator app" inner_html=enrollment.qr_svg></div>
            <p class="muted">"Key: "<code class="mono" data-totp-secret="">{enrollment.secret}</code></p>
            {children()}
        </div>
    }
}

#[component]
pub fn TwoFactorPage() -> impl IntoView {
    let start = ServerAction::<StartTwoFactor>::new();
    let enable = ServerAction::<EnableTwoFactor>::new();
    let codes = ServerAction::<NewRecoveryCodes>::new();
    let disable = ServerAction::<DisableTwoFactor>::new();
    let query = use_query_map();
    let status = Resource::new(
        move || (start.version().get(), enable.version().get(), codes.version().get(), disable.version().get()),
        |_| load_two_factor(),
    );
    let flashed = Resource::new(
        move || query.with(|q| q.get("codes").is_some()),
        |shown| async move {
            if shown {
                super::flash_recovery_codes().await.ok().flatten()
            } else {
                None
            }
        },
    );
    let (eerr, cerr, derr) = (action_error(enable.value()), action_error(codes.value()), action_error(disable.value()));
    let off = move || query.with(|q| q.get("off").is_some()) || matches!(disable.value().get(), Some(Ok(())));
    view! {
        <Title text="Two-factor sign-in · Atrium"/>
        <Frame title="Two-factor sign-in">
            <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    let flashed = flashed.await;
                    let s = match status.await {
                        Ok(s) => s,
                        Err(e) => return view! { <ErrorBox error=e/> }.into_any(),
                    };
                    let fresh = move || match enable.value().get().or(codes.value().get()) {
                        Some(Ok(c)) => Some(c),
                        _ => None,
                    };
                    let state = if s.enabled_at.is_some() { "on" } else { "off" };
                    view! {
                        <section class="card narrow" data-two-factor=state>
                            <p><a href="/account">"← Your account"</a></p>
                            {flashed.map(|c| view! { <RecoveryCodeList codes=c/> })}
                            {move || fresh().map(|c| view! { <RecoveryCodeList codes=c/> })}
                            {move || off().then(|| view! { <div class="alert alert-success" role="status">"Two-factor sign-in is off."</div> })}
                            {(!s.required_by.is_empty()).then(|| view! {
                                <p class="alert alert-warning">{format!("Required by {}.", s.required_by.join(", "))}</p>
                            })}
                            {match (s.enabled_at, s.enrolling) {
                                (Some(since), _) => view! {
                                    <p><span class="badge badge-success">"On"</span>" since "<Time stamp=since/>
                                       {format!(" · {} recovery code{} left", s.recovery_codes_left, if s.recovery_codes_left == 1 { "" } else { "s" })}</p>
                                    <h2>"New recovery codes"</h2>
                                    <ActionForm action=codes attr:class="stack" attr:novalidate="">
                                        <FormAlert error=Signal::derive(move || cerr.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                        <Field label="Code from your app" name="code" autocomplete="one-time-code" input_mode="numeric"
                                            help="The earlier codes stop working." error=field_error(cerr, "code")/>
                                        <div class="actions"><button type="submit" class="btn btn-secondary">"Make new codes"</button></div>
                                    </ActionForm>
                                    {s.required_by.is_empty().then(|| view! {
                                        <h2>"Turn off"</h2>
                                        <ActionForm action=disable attr:class="stack" attr:novalidate="">
                                            <FormAlert error=Signal::derive(move || derr.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                            <Field label="Code from your app, or a recovery code" name="code" autocomplete="one-time-code"
                                                error=field_error(derr, "code")/>
                                            <div class="actions"><button type="submit" class="btn btn-danger">"Turn off two-factor sign-in"</button></div>
                                        </ActionForm>
                                    })}
                                }.into_any(),
                                (None, Some(enrollment)) => view! {
                                    <h2>"Set up your authenticator app"</h2>
                                    <Enroll enrollment>
                                        <ActionForm action=enable attr:class="stack" attr:novalidate="">
                                            <FormAlert error=Signal::derive(move || eerr.get().filter(|e| !matches!(e, AppError::Validation(_))))/>
                                            <Field label="The 6-digit code it shows" name="code" autocomplete="one-time-code" input_mode="numeric"
                                                required=true error=field_error(eerr, "code")/>
                                            <div class="actions"><button type="submit" class="btn btn-primary">"Turn on"</button></div>
                                        </ActionForm>
                                    </Enroll>
                                }.into_any(),
                                (None, None) => view! {
                                    <p>"A code from an app on your phone, on top of your password, keeps your account safe if the password leaks."</p>
                                    <ActionForm action=start>
                                        <button type="submit" class="btn btn-primary">"Set up two-factor sign-in"</button>
                                    </ActionForm>
                                }.into_any(),
                            }}
                        </section>
                    }.into_any()
                })}
            </Suspense>
        </Frame>
    }
}
