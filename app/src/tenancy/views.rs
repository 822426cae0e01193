use super::*;
use crate::ui::{action_error, field_error, FormAlert};

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
