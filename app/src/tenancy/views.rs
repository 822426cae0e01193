use super::*;
use crate::ui::{action_error, field_error, ErrorBox, FormAlert, Frame};
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// The `:slug` of the current company page.
pub fn use_slug() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.with(|p| p.get("slug").unwrap_or_default())
}

/// The shell of the company page being rendered, as a resource of the caller's own (one per
/// `<Suspense>`; see `crate::me_resource`). Create it outside any Suspend.
fn shell_resource() -> Resource<Result<TenantShell, AppError>> {
    Resource::new(use_slug(), load_tenant_shell)
}

#[derive(Clone, Copy)]
struct ShellContext(Resource<Result<TenantShell, AppError>>);

/// The company page's shell, loaded once by `TenantPage` for the frame and the page to share
/// (a page outside one loads its own).
pub fn use_shell() -> Resource<Result<TenantShell, AppError>> {
    use_context::<ShellContext>().map(|c| c.0).unwrap_or_else(shell_resource)
}

/// A company page: resolves the slug once, and puts the page inside the frame. Missing or
/// foreign companies are a 404, a disabled company says so, and a super-admin is asked for a
/// reason before entering. The page itself renders nothing until the shell is good.
#[component]
pub fn TenantPage(title: &'static str, children: Children) -> impl IntoView {
    let slug = use_slug();
    let shell = shell_resource();
    provide_context(ShellContext(shell));
    view! {
        <Title text=format!("{title} · Atrium")/>
        <Frame title=title tenant=true>
            <Suspense fallback=|| ()>
                {move || Suspend::new(async move {
                    match shell.await {
                        Ok(_) => ().into_any(),
                        Err(AppError::ActAsRequired) => {
                            // Forbidden until opened with a reason; the page says how.
                            crate::ui::set_status(403);
                            view! { <ActAsForm slug=slug()/> }.into_any()
                        }
                        Err(AppError::TenantDisabled(name)) => {
                            crate::ui::set_status(403);
                            view! {
                                <section class="card error-page" role="alert">
                                    <h2>{format!("{name} is disabled")}</h2>
                                    <p>"This company has been switched off, so its pages are closed for now. Nothing has been deleted."</p>
                                    <p class="muted">"Ask your Atrium operator to enable it again. If you belong to other companies, pick one from the menu."</p>
                                </section>
                            }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    }
                })}
            </Suspense>
            {children()}
        </Frame>
    }
}

/// The super-admin's way into a company: a reason, then 30 minutes with a banner.
#[component]
pub fn ActAsForm(#[prop(into)] slug: String) -> impl IntoView {
    let act = ServerAction::<ActAs>::new();
    let err = action_error(act.value());
    // Opening the company changes what every part of the page may show: load it afresh.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        if matches!(act.value().get(), Some(Ok(()))) {
            let _ = window().location().reload();
        }
    });
    view! {
        <section class="card narrow">
            <h2>"Open this company as a super-admin"</h2>
            <p>{format!("You are about to work inside another company's console for {ACT_AS_MINUTES} minutes. \
                Everything you do is recorded under your own name, with the reason you give here.")}</p>
            <ActionForm action=act>
                <FormAlert error=err/>
                <input type="hidden" name="slug" value=slug/>
                <div class="field" class:has-error=move || field_error(err, "reason").get().is_some()>
                    <label for="f-reason">"Reason"</label>
                    <textarea id="f-reason" name="reason" rows="3" required minlength="5" maxlength="500"
                        placeholder="Support ticket #1234: customer cannot invite users"></textarea>
                    <p class="error" role="alert" hidden=move || field_error(err, "reason").get().is_none()>
                        {move || field_error(err, "reason").get().unwrap_or_default()}
                    </p>
                </div>
                <button type="submit" class="btn btn-primary">"Open company"</button>
            </ActionForm>
        </section>
    }
}
