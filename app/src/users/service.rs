//! Users' operations: reads, and changes as `(conn, &Op, input)` in the caller's tenant
//! transaction (row-level security scoped), each writing its audit row in that transaction.
//! The escalation rules (`access::rules`) are applied here, against the role in `op.who`.
use super::{InviteOutcome, OneTimeLink, TokenInfo, UserPage, UserRow, LINK_HOURS, PAGE_SIZE};
use crate::access::rules;
use crate::access::Tenant;
use crate::audit::record::{diff, record, Event, Op, Who};
use crate::audit::{Action, Severity};
use crate::auth::password;
use crate::db;
use crate::domain::{Email, Role, UserStatus};
use crate::error::{AppError, Fields};
use crate::mail::{self, letters};
use crate::server_ctx::{request_meta, state};
use crate::ui::time::rfc3339;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::PgConnection;
use uuid::Uuid;

pub struct Filter {
    pattern: Option<String>,
    role: Option<Role>,
    status: Option<UserStatus>,
    after: Option<(String, Uuid)>,
}

impl Filter {
    /// Unknown filter values are refused rather than ignored, so a typo is not a silent
    /// "everyone".
    pub fn parse(q: &str, role: &str, status: &str, after: Option<&str>) -> Result<Filter, AppError> {
        let mut fields = Fields::default();
        let role = if role.trim().is_empty() { None } else { fields.check("role", Role::parse_company(role)) };
        let status = if status.trim().is_empty() {
            None
        } else {
            fields.check(
                "status",
                UserStatus::parse(status).ok_or_else(|| format!("\u{201c}{status}\u{201d} is not a status.")),
            )
        };
        fields.finish()?;
        let q = q.trim().to_lowercase();
        let pattern =
            (!q.is_empty()).then(|| format!("%{}%", q.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")));
        let after = after.and_then(|c| {
            let (key, id) = c.rsplit_once('~')?;
            Some((key.to_string(), Uuid::parse_str(id).ok()?))
        });
        Ok(Filter { pattern, role, status, after })
    }
}

macro_rules! user_row {
    ($r:expr) => {{
        let r = $r;
        UserRow {
            id: r.id,
            email: r.email,
            name: r.name,
            role: r.role,
            status: r.status,
            last_login: r.last_login_at.map(rfc3339),
            joined: rfc3339(r.joined),
        }
    }};
}

pub async fn list(conn: &mut PgConnection, company: Uuid, f: &Filter) -> Result<UserPage, AppError> {
    let rows = sqlx::query!(
        r#"SELECT u.id, u.email, CASE WHEN m.status = 'INVITED' THEN coalesce(m.invited_name, '') ELSE u.name END AS "name!",
                  m.role AS "role: Role", m.status AS "status: UserStatus",
                  CASE WHEN m.status = 'INVITED' THEN NULL ELSE u.last_login_at END AS last_login_at,
                  m.created_at AS joined
             FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.company_id = $1
              AND ($2::text IS NULL OR lower(u.email || ' ' || u.name) LIKE $2)
              AND ($3::user_role_enum IS NULL OR m.role = $3)
              AND ($4::user_status IS NULL OR m.status = $4)
              AND ($5::text IS NULL OR (lower(u.email), u.id) > ($5, $6::uuid))
            ORDER BY lower(u.email), u.id
            LIMIT $7"#,
        company,
        f.pattern,
        f.role as Option<Role>,
        f.status as Option<UserStatus>,
        f.after.as_ref().map(|a| a.0.clone()),
        f.after.as_ref().map(|a| a.1),
        PAGE_SIZE + 1,
    )
    .fetch_all(&mut *conn)
    .await?;
    let total = sqlx::query_scalar!(
        r#"SELECT count(*) AS "n!" FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.company_id = $1
              AND ($2::text IS NULL OR lower(u.email || ' ' || u.name) LIKE $2)
              AND ($3::user_role_enum IS NULL OR m.role = $3)
              AND ($4::user_status IS NULL OR m.status = $4)"#,
        company,
        f.pattern,
        f.role as Option<Role>,
        f.status as Option<UserStatus>,
    )
    .fetch_one(&mut *conn)
    .await?;
    let more = rows.len() as i64 > PAGE_SIZE;
    let rows: Vec<UserRow> = rows.into_iter().take(PAGE_SIZE as usize).map(|r| user_row!(r)).collect();
    let next = if more { rows.last().map(|r| format!("{}~{}", r.email.to_lowercase(), r.id)) } else { None };
    Ok(UserPage { rows, next, total })
}

pub async fn get(conn: &mut PgConnection, company: Uuid, id: Uuid) -> Result<Option<UserRow>, AppError> {
    let row = sqlx::query!(
        r#"SELECT u.id, u.email, CASE WHEN m.status = 'INVITED' THEN coalesce(m.invited_name, '') ELSE u.name END AS "name!",
                  m.role AS "role: Role", m.status AS "status: UserStatus",
                  CASE WHEN m.status = 'INVITED' THEN NULL ELSE u.last_login_at END AS last_login_at,
                  m.created_at AS joined
             FROM memberships m JOIN users u ON u.id = m.user_id
            WHERE m.company_id = $1 AND m.user_id = $2"#,
        company,
        id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| user_row!(r)))
}

fn parse_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    if name.chars().count() > 200 {
        return Err("Keep the name under 200 characters.".into());
    }
    if name.chars().any(char::is_control) {
        return Err("The name cannot contain control characters.".into());
    }
    Ok(name.to_string())
}

async fn issue_link(
    conn: &mut PgConnection,
    op: &Op,
    user: Uuid,
    email: &str,
    purpose: &str,
    role: Role,
) -> Result<OneTimeLink, AppError> {
    // A new link retires the user's earlier unused links of the same kind.
    sqlx::query!(
        "UPDATE user_tokens SET used_at = now()
          WHERE company_id = $1 AND user_id = $2 AND purpose = $3 AND used_at IS NULL",
        op.company,
        user,
        purpose
    )
    .execute(&mut *conn)
    .await?;
    let (token, hash) = password::one_time_token();
    let expires = sqlx::query_scalar!(
        r#"INSERT INTO user_tokens (company_id, user_id, purpose, token_hash, created_by, expires_at)
           VALUES ($1, $2, $3, $4, $5, now() + make_interval(hours => $6::int)) RETURNING expires_at"#,
        op.company,
        user,
        purpose,
        &hash,
        op.who.user_id,
        LINK_HOURS as i32,
    )
    .fetch_one(&mut *conn)
    .await?;
    let path = format!("/invite/{token}");
    let outgoing = state()?.mail;
    if !outgoing.enabled {
        return Ok(OneTimeLink { email: email.to_string(), path, expires: rfc3339(expires), mailed: false });
    }
    // With mail on, the link goes to the address alone: the admin never holds a link that
    // would let them set the person's password.
    let company =
        sqlx::query_scalar!("SELECT name FROM companies WHERE id = $1", op.company).fetch_one(&mut *conn).await?;
    let url = outgoing.link(&path);
    let inviter = op.who.email.as_deref().unwrap_or("An administrator");
    let letter = match purpose {
        "invite" => letters::invitation(email, &company, inviter, role.label(), &url, LINK_HOURS),
        "join" => letters::join(email, &company, inviter, role.label(), &url, LINK_HOURS),
        _ => letters::password_reset(email, &company, &url, LINK_HOURS),
    };
    let to = mail::Recipient { company: Some(op.company), user: Some(user) };
    mail::queue(&mut *conn, &state()?.credentials, to, &letter, None).await?;
    Ok(OneTimeLink { email: email.to_string(), path: String::new(), expires: rfc3339(expires), mailed: true })
}

fn email_taken(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.constraint() == Some("users_email_key"))
}

pub async fn invite(
    conn: &mut PgConnection,
    op: &Op,
    email: &str,
    name: &str,
    role: &str,
) -> Result<InviteOutcome, AppError> {
    let mut fields = Fields::default();
    let email = fields.check("email", Email::parse(email));
    let name = fields.check("name", parse_name(name));
    let role = fields.check("role", Role::parse_company(role));
    fields.finish()?;
    let (email, name, role) = (email.expect("checked"), name.expect("checked"), role.expect("checked"));
    if !rules::may_grant(actor_role(op)?, role) {
        return Err(AppError::Forbidden);
    }
    // An account may already exist in another company; only its id is visible from here.
    let existing = sqlx::query_scalar!(r#"SELECT atrium_user_id_by_email($1) AS "id""#, email.as_str())
        .fetch_one(&mut *conn)
        .await?;
    let (user_id, link) = match existing {
        // An existing account belongs to its owner: the membership waits, granting nothing,
        // until they accept it. The inviter gets the same answer as for a new account.
        Some(uid) => {
            let inserted = sqlx::query!(
                "INSERT INTO memberships (company_id, user_id, role, status, invited_by, invited_name)
                 VALUES ($1, $2, $3, 'INVITED', $4, $5)
                 ON CONFLICT (company_id, user_id) DO NOTHING",
                op.company,
                uid,
                role as Role,
                op.who.user_id,
                &name,
            )
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if inserted == 0 {
                return Err(AppError::field(
                    "email",
                    format!("{} is already a member of this company.", email.as_str()),
                ));
            }
            let link = issue_link(&mut *conn, op, uid, email.as_str(), "join", role).await?;
            op.record(
                &mut *conn,
                Event::new(Action::UserInviteExisting, "user")
                    .on(uid)
                    .details(json!({ "company_id": op.company, "role": role, "pending": true })),
            )
            .await?;
            (uid, link)
        }
        None => {
            let uid = match sqlx::query_scalar!(
                "INSERT INTO users (email, name, role, company_id, status) VALUES ($1, $2, $3, $4, 'INVITED') RETURNING id",
                email.as_str(),
                &name,
                role as Role,
                op.company,
            )
            .fetch_one(&mut *conn)
            .await
            {
                Ok(id) => id,
                Err(e) if email_taken(&e) => {
                    return Err(AppError::field("email", format!("{} was invited a moment ago.", email.as_str())))
                }
                Err(e) => return Err(e.into()),
            };
            sqlx::query!(
                "UPDATE memberships SET invited_by = $3, invited_name = $4 WHERE company_id = $1 AND user_id = $2",
                op.company,
                uid,
                op.who.user_id,
                &name,
            )
            .execute(&mut *conn)
            .await?;
            (uid, issue_link(&mut *conn, op, uid, email.as_str(), "invite", role).await?)
        }
    };
    op.record(
        &mut *conn,
        op.event(Action::UserInvite, "user").on(user_id).details(
            json!({ "after": { "email": email.as_str(), "name": name, "role": role, "status": UserStatus::Invited } }),
        ),
    )
    .await?;
    Ok(InviteOutcome::Invited(link))
}

/// Shown when a company tries to change what belongs to the account's owner.
pub const SHARED_ACCOUNT: &str =
    "This account also belongs to another company; its owner or a super-admin can reset it.";

/// What a company may do with an account beyond its membership.
struct AccountState {
    /// Never signed in yet (no password set).
    never_activated: bool,
    /// This company alone holds the account, so it may reset, rename or activate it.
    owned_here: bool,
}

async fn account_state(
    conn: &mut PgConnection,
    company: Uuid,
    actor_role: Role,
    user: Uuid,
) -> Result<AccountState, AppError> {
    let row = sqlx::query!(
        r#"SELECT status AS "status: UserStatus", atrium_account_owned_by(id, $2) AS "owned!" FROM users WHERE id = $1"#,
        user,
        company
    )
    .fetch_one(conn)
    .await?;
    Ok(AccountState {
        never_activated: row.status == UserStatus::Invited,
        owned_here: row.owned || actor_role == Role::SuperAdmin,
    })
}

/// Is the account shared with another company (so its global fields are not ours to change)?
pub async fn account_shared(conn: &mut PgConnection, t: &Tenant, user: Uuid) -> Result<bool, AppError> {
    Ok(!account_state(conn, t.company.id, t.role, user).await?.owned_here)
}

/// The role the operation's actor holds in the company; an operation without one may do
/// nothing (escalation rules need it).
fn actor_role(op: &Op) -> Result<Role, AppError> {
    op.who.role.ok_or(AppError::Forbidden)
}

/// The member, locked, if the actor may manage them; else the reason why not.
async fn managed_member(conn: &mut PgConnection, op: &Op, id: Uuid) -> Result<UserRow, AppError> {
    sqlx::query!("SELECT 1 AS x FROM memberships WHERE company_id = $1 AND user_id = $2 FOR UPDATE", op.company, id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(AppError::NotFound)?;
    let user = get(conn, op.company, id).await?.ok_or(AppError::NotFound)?;
    if !rules::may_manage(actor_role(op)?, user.role, op.who.user_id == Some(id)) {
        return Err(AppError::Forbidden);
    }
    Ok(user)
}

/// The last active admin keeps the company manageable: they cannot be demoted or suspended.
async fn ensure_not_last_admin(conn: &mut PgConnection, company: Uuid, user: &UserRow) -> Result<(), AppError> {
    if user.role != Role::Admin || user.status != UserStatus::Active {
        return Ok(());
    }
    // Lock the company's admin memberships so two demotions cannot both pass.
    let admins = sqlx::query_scalar!(
        "SELECT user_id FROM memberships WHERE company_id = $1 AND role = 'ADMIN' AND status = 'ACTIVE' FOR UPDATE",
        company
    )
    .fetch_all(&mut *conn)
    .await?;
    if admins.len() <= 1 {
        return Err(AppError::Conflict(format!(
            "{} is the last active admin of this company. Make someone else an admin first.",
            user.email
        )));
    }
    Ok(())
}

pub async fn update(conn: &mut PgConnection, op: &Op, id: Uuid, name: &str, role: &str) -> Result<(), AppError> {
    let mut fields = Fields::default();
    let name = fields.check("name", parse_name(name));
    let role = fields.check("role", Role::parse_company(role));
    fields.finish()?;
    let (name, role) = (name.expect("checked"), role.expect("checked"));
    if !rules::may_grant(actor_role(op)?, role) {
        return Err(AppError::Forbidden);
    }
    let before = managed_member(&mut *conn, op, id).await?;
    if role != before.role {
        ensure_not_last_admin(&mut *conn, op.company, &before).await?;
        sqlx::query!(
            "UPDATE memberships SET role = $3 WHERE company_id = $1 AND user_id = $2",
            op.company,
            id,
            role as Role
        )
        .execute(&mut *conn)
        .await?;
    }
    if name != before.name && before.status == UserStatus::Invited {
        // Until they join, the name is the company's label for the invitation, whether or not
        // the address already has an account.
        sqlx::query!(
            "UPDATE memberships SET invited_name = $3 WHERE company_id = $1 AND user_id = $2",
            op.company,
            id,
            &name
        )
        .execute(&mut *conn)
        .await?;
    } else if name != before.name {
        if !account_state(&mut *conn, op.company, actor_role(op)?, id).await?.owned_here {
            return Err(AppError::Denied(SHARED_ACCOUNT.replace("reset", "rename")));
        }
        sqlx::query!("UPDATE users SET name = $2 WHERE id = $1", id, &name).execute(&mut *conn).await?;
    }
    let b = json!({ "name": before.name, "role": before.role });
    let a = json!({ "name": name, "role": role });
    if a != b {
        op.record(
            &mut *conn,
            op.event(Action::UserUpdate, "user")
                .on(id)
                .severity(if role != before.role { Severity::Warning } else { Severity::Info })
                .details(diff(&b, &a)),
        )
        .await?;
    }
    Ok(())
}

pub async fn set_status(conn: &mut PgConnection, op: &Op, id: Uuid, status: &str) -> Result<(), AppError> {
    let status = match UserStatus::parse(status) {
        Some(s @ (UserStatus::Active | UserStatus::Suspended | UserStatus::Inactive)) => s,
        _ => return Err(AppError::field("status", "Choose Active, Inactive or Suspended.")),
    };
    let before = managed_member(&mut *conn, op, id).await?;
    if before.status == status {
        return Ok(());
    }
    if before.status == UserStatus::Invited {
        return Err(AppError::Conflict(
            "This person has not accepted the invitation yet. Send a new link, or wait until they sign in.".into(),
        ));
    }
    if status != UserStatus::Active {
        ensure_not_last_admin(&mut *conn, op.company, &before).await?;
    }
    sqlx::query!(
        "UPDATE memberships SET status = $3 WHERE company_id = $1 AND user_id = $2",
        op.company,
        id,
        status as UserStatus
    )
    .execute(&mut *conn)
    .await?;
    // The membership is this company's; the account is not. Every request checks the
    // membership, so a suspended member's work in this company stops at once. Their sessions
    // are signed out only when no other company holds the account: a browser session spans
    // companies, and another company's work is not ours to end.
    let ended = if status != UserStatus::Active
        && account_state(&mut *conn, op.company, actor_role(op)?, id).await?.owned_here
    {
        crate::auth::sessions::end_for_user(&mut *conn, id, None).await?
    } else {
        0
    };
    op.record(
        &mut *conn,
        op.event(if status == UserStatus::Active { Action::UserReactivate } else { Action::UserSuspend }, "user")
            .on(id)
            .severity(Severity::Warning)
            .details(json!({ "before": { "status": before.status }, "after": { "status": status },
                             "sessions_ended": ended })),
    )
    .await?;
    Ok(())
}

pub async fn reset_link(conn: &mut PgConnection, op: &Op, id: Uuid) -> Result<OneTimeLink, AppError> {
    let user = managed_member(&mut *conn, op, id).await?;
    if user.status == UserStatus::Suspended {
        return Err(AppError::Conflict("Reactivate this user before sending a password link.".into()));
    }
    let account = account_state(&mut *conn, op.company, actor_role(op)?, id).await?;
    // A pending invitation to an existing account gets a fresh join link, which sets nothing;
    // a password link needs the account to be this company's alone.
    let purpose = match (user.status, account.never_activated) {
        (UserStatus::Invited, false) => "join",
        _ if !account.owned_here => return Err(AppError::Denied(SHARED_ACCOUNT.into())),
        (UserStatus::Invited, true) => "invite",
        _ => "reset",
    };
    let link = issue_link(&mut *conn, op, id, &user.email, purpose, user.role).await?;
    // A pending invitation's link reads the same whether or not the account existed.
    op.record(&mut *conn,
        op.event(Action::UserResetLink, "user").on(id).severity(Severity::Warning).details(
            json!({ "email": user.email, "purpose": if user.status == UserStatus::Invited { "invite" } else { purpose } }),
        ),
    )
    .await?;
    Ok(link)
}

pub async fn has_two_factor(conn: &mut PgConnection, user: Uuid) -> Result<bool, AppError> {
    Ok(sqlx::query_scalar!(r#"SELECT totp_enabled_at IS NOT NULL AS "on!" FROM users WHERE id = $1"#, user)
        .fetch_one(conn)
        .await?)
}

pub async fn reset_two_factor(conn: &mut PgConnection, op: &Op, id: Uuid) -> Result<(), AppError> {
    let member = managed_member(&mut *conn, op, id).await?;
    // A pending invitation grants nothing over the account, this least of all.
    if member.status == UserStatus::Invited {
        return Err(AppError::NotFound);
    }
    // The second factor guards the account everywhere it is a member: another company's
    // admin must not be able to weaken it.
    if !account_state(&mut *conn, op.company, actor_role(op)?, id).await?.owned_here {
        return Err(AppError::Denied(SHARED_ACCOUNT.into()));
    }
    if !crate::two_factor::service::clear(&mut *conn, id).await? {
        return Err(AppError::Conflict("This user does not use two-factor sign-in.".into()));
    }
    // Whoever holds a session of theirs now holds it without the second factor: end them all.
    let ended = crate::auth::sessions::end_for_user(&mut *conn, id, None).await?;
    op.record(
        &mut *conn,
        op.event(Action::UserTwoFactorReset, "user")
            .on(id)
            .severity(Severity::Warning)
            .details(json!({ "sessions_ended": ended })),
    )
    .await?;
    let st = state()?;
    let to = mail::Recipient { company: Some(op.company), user: Some(id) };
    let what = format!(
        "An administrator of your company ({}) turned off your two-factor sign-in",
        op.who.email.as_deref().unwrap_or("unknown")
    );
    crate::two_factor::service::notify_owner(&mut *conn, &st, to, &member.email, &what).await?;
    Ok(())
}

struct TokenRow {
    id: Uuid,
    /// None for an account's own recovery link ("Forgot your password?").
    company_id: Option<Uuid>,
    user_id: Uuid,
    purpose: String,
}

const JOIN_LINK: &str =
    "This invitation is for an existing Atrium account: sign in, and accept it on your account page.";
const BAD_LINK: &str = "This link is not valid. Check that you copied all of it, or ask for a new one.";

/// Finds a link's token; an expired or used one gets its own clear message.
async fn find_token(conn: &mut PgConnection, token: &str) -> Result<TokenRow, AppError> {
    let token = token.trim();
    if token.len() != 64 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AppError::Conflict(BAD_LINK.into()));
    }
    let hash = Sha256::digest(token.to_ascii_lowercase().as_bytes()).to_vec();
    let row = sqlx::query!(
        r#"SELECT id AS "id!", company_id, user_id AS "user_id!", purpose AS "purpose!",
                  expires_at < now() AS "expired!", used_at IS NOT NULL AS "used!"
             FROM atrium_token_lookup($1)"#,
        &hash
    )
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| AppError::Conflict(BAD_LINK.into()))?;
    if row.used {
        return Err(AppError::Conflict(
            "This link has already been used. Sign in, or ask your administrator for a new link.".into(),
        ));
    }
    if row.expired {
        return Err(AppError::Conflict(if row.purpose == "recover" {
            format!(
                "This link has expired (recovery links last {} minutes). Ask for a new one on the sign-in page.",
                crate::auth::recovery::LINK_MINUTES
            )
        } else {
            format!("This link has expired (links last {LINK_HOURS} hours). Ask your administrator for a new one.")
        }));
    }
    Ok(TokenRow { id: row.id, company_id: row.company_id, user_id: row.user_id, purpose: row.purpose })
}

/// Spends the join link that `company` sent to `user`: accepting an invitation takes the
/// link, not only the account, so an account someone else set up for an address cannot
/// accept what was meant for the person who reads that address's mail.
pub async fn claim_join_token(conn: &mut PgConnection, token: &str, company: Uuid, user: Uuid) -> Result<(), AppError> {
    let denied = || {
        AppError::Denied(
            "To accept, open the invitation link the company sent you, and accept there while signed in.".into(),
        )
    };
    let row = find_token(conn, token).await.map_err(|_| denied())?;
    if row.purpose != "join" || row.company_id != Some(company) || row.user_id != user {
        return Err(denied());
    }
    let claimed = sqlx::query!(
        "UPDATE user_tokens SET used_at = now() WHERE id = $1 AND used_at IS NULL AND expires_at > now()",
        row.id
    )
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if claimed != 1 {
        return Err(denied());
    }
    Ok(())
}

pub async fn inspect_token(token: &str) -> Result<TokenInfo, AppError> {
    let pool = state()?.pool;
    let mut anon = db::anonymous(&pool).await?;
    let row = find_token(&mut anon, token).await?;
    anon.commit().await?;
    let (email, company_name, role) = match row.company_id {
        Some(company) => {
            let mut tx = db::tenant(&pool, company, Some(row.user_id)).await?;
            let info = sqlx::query!(
                r#"SELECT u.email, c.name, m.role AS "role: Role" FROM users u, companies c, memberships m
                    WHERE u.id = $1 AND c.id = $2 AND m.company_id = c.id AND m.user_id = u.id"#,
                row.user_id,
                company
            )
            .fetch_optional(&mut *tx)
            .await?
            .ok_or_else(|| AppError::Conflict(BAD_LINK.into()))?;
            tx.commit().await?;
            (info.email, info.name, info.role)
        }
        None => {
            let mut tx = db::account(&pool, row.user_id).await?;
            let info = sqlx::query!(r#"SELECT email, role AS "role: Role" FROM users WHERE id = $1"#, row.user_id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| AppError::Conflict(BAD_LINK.into()))?;
            tx.commit().await?;
            (info.email, String::new(), info.role)
        }
    };
    let viewer = crate::access::current_actor().await?.map(|a| a.user_id);
    Ok(TokenInfo {
        email,
        company_name,
        company_id: row.company_id.unwrap_or_default(),
        role,
        reset: matches!(row.purpose.as_str(), "reset" | "recover"),
        join: row.purpose == "join",
        signed_in: viewer.is_some(),
        for_viewer: viewer == Some(row.user_id),
    })
}

pub async fn accept_token(token: &str, password_raw: &str, confirm: &str) -> Result<(), AppError> {
    let mut fields = Fields::default();
    fields.check("password", password::validate_new_password(password_raw));
    if password_raw != confirm {
        fields.check::<()>("confirm", Err("The two passwords are different.".into()));
    }
    fields.finish()?;
    let pool = state()?.pool;
    let mut anon = db::anonymous(&pool).await?;
    let row = find_token(&mut anon, token).await?;
    anon.commit().await?;
    if row.purpose == "join" {
        return Err(AppError::Conflict(JOIN_LINK.into()));
    }
    let reset = row.purpose == "reset";
    let recover = row.purpose == "recover";
    let hash = password::hash(password_raw.to_string()).await?;
    let mut tx = match row.company_id {
        Some(company) => db::tenant(&pool, company, Some(row.user_id)).await?,
        // The account's own link: its owner, reading their mail, speaks for it.
        None => db::account(&pool, row.user_id).await?,
    };
    if let Some(company) = row.company_id {
        // The link was made by one company; the password is the account's. If another company
        // has come to hold the account since, the link no longer speaks for it.
        let owned = sqlx::query_scalar!(r#"SELECT atrium_account_owned_by($1, $2) AS "owned!""#, row.user_id, company)
            .fetch_one(&mut *tx)
            .await?;
        if !owned {
            return Err(AppError::Denied(SHARED_ACCOUNT.into()));
        }
    }
    // Claimed with a guarded UPDATE, so two submissions of one link cannot both succeed.
    let claimed = sqlx::query!(
        "UPDATE user_tokens SET used_at = now() WHERE id = $1 AND used_at IS NULL AND expires_at > now()",
        row.id
    )
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed != 1 {
        return Err(AppError::Conflict("This link has already been used.".into()));
    }
    // Recovery sets a password only: a suspended account stays suspended.
    let email = sqlx::query_scalar!(
        "UPDATE users SET password_hash = $2, status = CASE WHEN $3 THEN status ELSE 'ACTIVE' END
          WHERE id = $1 AND (NOT $3 OR status = 'ACTIVE') RETURNING email",
        row.user_id,
        &hash,
        recover,
    )
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| AppError::Conflict("This account is not active. Ask your administrator.".into()))?;
    if let Some(company) = row.company_id {
        sqlx::query!(
            "UPDATE memberships SET status = 'ACTIVE' WHERE company_id = $1 AND user_id = $2 AND status = 'INVITED'",
            company,
            row.user_id
        )
        .execute(&mut *tx)
        .await?;
    }
    if reset || recover {
        // A new password ends every existing session.
        crate::auth::sessions::end_for_user(&mut tx, row.user_id, None).await?;
    }
    record(
        &mut tx,
        &Who { user_id: Some(row.user_id), email: Some(email), ..Default::default() },
        &request_meta(),
        Event::new(if reset || recover { Action::UserPasswordReset } else { Action::UserInviteAccept }, "user")
            .company(row.company_id)
            .on(row.user_id)
            .details(json!({ "via": if recover { "recovery mail" } else { "link" } })),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
