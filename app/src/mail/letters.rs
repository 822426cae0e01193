//! The letters Atrium writes. Each is composed once, as paragraphs, an optional button and a
//! closing note, and rendered twice: plain text and simple HTML (inline styles only, since
//! mail clients drop style sheets). Every value from users is escaped in the HTML.
use super::{Body, Kind, Mail};
use html_escape::{encode_double_quoted_attribute, encode_text};

struct Letter {
    paragraphs: Vec<String>,
    action: Option<(String, String)>,
    note: String,
}

impl Letter {
    fn render(&self) -> Body {
        let mut text = String::from("Hello,\n\n");
        let mut html = String::from(
            "<!doctype html><html><body style=\"margin:0;padding:24px;background:#f6f7f9;\
             font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,sans-serif;color:#1f2328\">\
             <div style=\"max-width:560px;margin:0 auto;background:#ffffff;border:1px solid #d0d7de;\
             border-radius:8px;padding:24px\"><p style=\"margin:0 0 16px\">Hello,</p>",
        );
        for p in &self.paragraphs {
            text.push_str(p);
            text.push_str("\n\n");
            html.push_str(&format!("<p style=\"margin:0 0 16px;line-height:1.5\">{}</p>", encode_text(p)));
        }
        if let Some((label, url)) = &self.action {
            text.push_str(&format!("{label}:\n{url}\n\n"));
            html.push_str(&format!(
                "<p style=\"margin:24px 0\"><a href=\"{}\" style=\"background:#1f6feb;color:#ffffff;\
                 padding:10px 16px;border-radius:6px;text-decoration:none;display:inline-block\">{}</a></p>\
                 <p style=\"margin:0 0 16px;font-size:13px;color:#57606a;word-break:break-all\">Or open this address: {}</p>",
                encode_double_quoted_attribute(url),
                encode_text(label),
                encode_text(url)
            ));
        }
        text.push_str(&format!("{}\n\n-- \nAtrium\n", self.note));
        html.push_str(&format!(
            "<p style=\"margin:24px 0 0;font-size:13px;color:#57606a\">{}</p>\
             <p style=\"margin:16px 0 0;font-size:13px;color:#57606a\">Atrium</p></div></body></html>",
            encode_text(&self.note)
        ));
        Body { text, html }
    }
}

fn mail(kind: Kind, to: &str, subject: String, letter: Letter) -> Mail {
    Mail { kind, to: to.to_string(), subject, body: letter.render() }
}

/// A new account's invitation: the link sets its password.
pub fn invitation(to: &str, company: &str, inviter: &str, role: &str, link: &str, hours: i64) -> Mail {
    mail(
        Kind::Invitation,
        to,
        format!("You are invited to {} on Atrium", short(company, 120)),
        Letter {
            paragraphs: vec![format!(
                "{inviter} invited you to join {company} on Atrium as {role}. Choose a password to set up your account."
            )],
            action: Some(("Accept the invitation".into(), link.to_string())),
            note: format!(
                "The link works once and for {hours} hours. If you did not expect this invitation, ignore this mail."
            ),
        },
    )
}

/// An existing account was added to a company; its owner accepts or declines.
pub fn join(to: &str, company: &str, inviter: &str, role: &str, link: &str, hours: i64) -> Mail {
    mail(
        Kind::Join,
        to,
        format!("You were added to {} on Atrium", short(company, 120)),
        Letter {
            paragraphs: vec![
                format!("{inviter} added your Atrium account to {company} as {role}."),
                "Nothing changes until you accept: sign in with your usual password, and accept or decline.".into(),
            ],
            action: Some(("Review the invitation".into(), link.to_string())),
            note: format!("The link works once and for {hours} hours."),
        },
    )
}

/// A password link an admin sent.
pub fn password_reset(to: &str, company: &str, link: &str, hours: i64) -> Mail {
    mail(
        Kind::PasswordReset,
        to,
        "Set a new Atrium password".into(),
        Letter {
            paragraphs: vec![format!(
                "An administrator of {company} sent you a link to set a new password for your Atrium account."
            )],
            action: Some(("Set a new password".into(), link.to_string())),
            note: format!(
                "The link works once and for {hours} hours. Setting a new password signs you out everywhere."
            ),
        },
    )
}

/// "Forgot your password?"
pub fn recover(to: &str, link: &str, minutes: i64) -> Mail {
    mail(
        Kind::Recover,
        to,
        "Reset your Atrium password".into(),
        Letter {
            paragraphs: vec!["Someone asked to reset the password of the Atrium account for this address.".into()],
            action: Some(("Choose a new password".into(), link.to_string())),
            note: format!(
                "The link works once and for {minutes} minutes. If you did not ask for it, ignore this mail: \
                 your password stays as it is."
            ),
        },
    )
}

/// At most `max` characters, with an ellipsis when cut (subjects stay one short line).
fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut cut: String = text.chars().take(max - 1).collect();
    cut.push('…');
    cut
}

/// An API key runs out in `days` days.
pub fn key_expiring(to: &str, company: &str, key: &str, prefix: &str, expires: &str, link: &str, days: i64) -> Mail {
    mail(
        Kind::KeyExpiring,
        to,
        format!("API key \"{}\" of {} expires in {days} days", short(key, 60), short(company, 60)),
        Letter {
            paragraphs: vec![
                format!("The API key \"{key}\" ({prefix}…) of {company} expires on {expires}."),
                "Clients that use it will be refused from then on. Issue a new key and move them to it before then."
                    .into(),
            ],
            action: Some(("Open the API keys".into(), link.to_string())),
            note: "You receive this because you are an administrator of the company. It is sent once per key.".into(),
        },
    )
}

/// The account signed in from a browser it had not used before.
pub fn new_sign_in(to: &str, when: &str, address: &str, browser: &str, link: &str) -> Mail {
    mail(
        Kind::NewSignIn,
        to,
        "New sign-in to your Atrium account".into(),
        Letter {
            paragraphs: vec![format!(
                "Your account signed in from a browser it had not used before: {browser}, from {address}, at {when}."
            )],
            action: Some(("Review your sessions".into(), link.to_string())),
            note: "If this was you, there is nothing to do. If not, end that session on your account page and \
                   change your password. You can turn these mails off there too."
                .into(),
        },
    )
}

/// Something changed about how the account signs in (two-factor on, off, reset, new codes).
pub fn security_notice(to: &str, what: &str, when: &str, link: &str) -> Mail {
    mail(
        Kind::SecurityNotice,
        to,
        "Your Atrium sign-in settings changed".into(),
        Letter {
            paragraphs: vec![format!("{what} ({when}).")],
            action: Some(("Review your account".into(), link.to_string())),
            note: "If this was you, there is nothing to do. If not, change your password at once and tell your administrator."
                .into(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_renderings_carry_the_link_and_html_escapes_what_users_wrote() {
        let m = invitation(
            "new@acme.test",
            "Acme <script>",
            "Ann \"Admin\"",
            "MANAGER",
            "https://atrium.test/invite/abc?x=1&y=2",
            72,
        );
        assert_eq!(m.subject, "You are invited to Acme <script> on Atrium");
        assert!(m.body.text.contains("https://atrium.test/invite/abc?x=1&y=2\n"));
        assert!(m.body.text.contains("Ann \"Admin\" invited you to join Acme <script>"));
        assert!(m.body.html.contains("href=\"https://atrium.test/invite/abc?x=1&amp;y=2\""));
        assert!(m.body.html.contains("Acme &lt;script&gt;"));
        assert!(!m.body.html.contains("<script>"));
    }

    #[test]
    fn subjects_stay_short_whatever_the_names() {
        let long = "x".repeat(300);
        let m = key_expiring("a@b.test", &long, &long, "atr_live_ab12", "2026-12-01", "https://a.test/", 14);
        assert!(m.subject.chars().count() < 160, "{}", m.subject.chars().count());
        assert!(m.subject.contains('…'));
        assert!(invitation("a@b.test", &long, "x", "Admin", "https://a.test/", 72).subject.chars().count() < 160);
    }
}
