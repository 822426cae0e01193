//! Mail that Atrium sends. A change that sends mail queues it here in the change's own
//! transaction, so a mail goes out only for a change that committed; the server's mail worker
//! sends it afterwards with retries. A body can carry a one-time link, so it is sealed under
//! the root secret (bound to the row) and erased once sent.
use crate::error::AppError;
use crate::integrations::crypto::{CryptoError, Keyring};
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use uuid::Uuid;

pub mod letters;

/// NOTIFY channel that wakes the mail worker when something is queued.
pub const CHANNEL: &str = "atrium_mail";

/// The current time as mails state it.
pub fn now_text() -> String {
    time::OffsetDateTime::now_utc()
        .format(time::macros::format_description!("[year]-[month]-[day] [hour]:[minute] UTC"))
        .unwrap_or_default()
}

/// Whether this process sends mail, and the address its links start with.
#[derive(Clone, Debug)]
pub struct Outgoing {
    /// `ATRIUM_SMTP_URL` is set. Without it, admins copy one-time links by hand as before.
    pub enabled: bool,
    /// `ATRIUM_PUBLIC_URL` (else the listening address), without a trailing slash.
    pub base_url: String,
}

impl Outgoing {
    pub fn link(&self, path: &str) -> String {
        format!("{}{}", self.base_url.trim_end_matches('/'), path)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A new account's invitation, with the link that sets its password.
    Invitation,
    /// An existing account was added to a company, pending its owner's answer.
    Join,
    /// A password link an admin sent.
    PasswordReset,
    /// "Forgot your password?"
    Recover,
    /// An API key runs out in 14 days (to the company's admins, once).
    KeyExpiring,
    /// The account signed in from a browser it had not used.
    NewSignIn,
    /// Two-factor sign-in was turned on, off or reset, or new recovery codes were made.
    SecurityNotice,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Invitation => "invitation",
            Kind::Join => "join",
            Kind::PasswordReset => "password_reset",
            Kind::Recover => "recover",
            Kind::KeyExpiring => "key_expiring",
            Kind::NewSignIn => "new_sign_in",
            Kind::SecurityNotice => "security_notice",
        }
    }
}

/// What is sealed: the two renderings of one letter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Body {
    pub text: String,
    pub html: String,
}

#[derive(Clone, Debug)]
pub struct Mail {
    pub kind: Kind,
    pub to: String,
    pub subject: String,
    pub body: Body,
}

/// Where a mail goes and whose it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct Recipient {
    /// None for mail about the account itself rather than one company.
    pub company: Option<Uuid>,
    pub user: Option<Uuid>,
}

fn binding(id: Uuid) -> String {
    format!("mail:{id}")
}

/// Queues `mail` in the caller's transaction. With `dedupe`, a second mail under the same key
/// is not queued (the answer says whether this one was).
pub async fn queue(
    conn: &mut PgConnection,
    keyring: &Keyring,
    to: Recipient,
    mail: &Mail,
    dedupe: Option<&str>,
) -> Result<bool, AppError> {
    let id = Uuid::new_v4();
    let plain = serde_json::to_vec(&mail.body).expect("two strings serialise");
    let (sealed, version) = keyring.seal(to.company.unwrap_or(Uuid::nil()), "mail", &binding(id), &plain);
    let queued = sqlx::query!(
        "INSERT INTO mail_outbox (id, company_id, user_id, kind, to_address, subject, body_sealed, key_version, dedupe_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (dedupe_key) DO NOTHING",
        id,
        to.company,
        to.user,
        mail.kind.as_str(),
        &mail.to,
        &mail.subject,
        &sealed,
        version,
        dedupe,
    )
    .execute(&mut *conn)
    .await?
    .rows_affected()
        == 1;
    if queued {
        // Delivered at commit, so the worker wakes when the row is there to claim.
        sqlx::query!("SELECT pg_notify($1, '')", CHANNEL).execute(&mut *conn).await?;
    }
    Ok(queued)
}

/// Opens a queued mail's body (the worker's side of `queue`).
pub fn open(
    keyring: &Keyring,
    id: Uuid,
    company: Option<Uuid>,
    sealed: &[u8],
    version: i32,
) -> Result<Body, CryptoError> {
    let plain = keyring.open(company.unwrap_or(Uuid::nil()), "mail", &binding(id), sealed, version)?;
    serde_json::from_slice(&plain).map_err(|_| CryptoError::Corrupt)
}
