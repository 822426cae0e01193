//! Values parsed once at the edge and trusted afterwards.
use serde::{Deserialize, Serialize};

/// A company as pages and the switcher name it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CompanyRef {
    pub id: uuid::Uuid,
    pub name: String,
    pub slug: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "user_role_enum", rename_all = "SCREAMING_SNAKE_CASE"))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    Viewer,
    Manager,
    Admin,
    SuperAdmin,
}

impl Role {
    pub fn level(self) -> u8 {
        match self {
            Role::Viewer => 1,
            Role::Manager => 2,
            Role::Admin => 3,
            Role::SuperAdmin => 4,
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Role::Viewer => "Viewer",
            Role::Manager => "Manager",
            Role::Admin => "Admin",
            Role::SuperAdmin => "Super-admin",
        }
    }

    /// Lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Manager, Role::Admin, Role::SuperAdmin];
    /// The roles a company member can hold.
    pub const COMPANY: [Role; 3] = [Role::Viewer, Role::Manager, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Manager => "MANAGER",
            Role::Admin => "ADMIN",
            Role::SuperAdmin => "SUPER_ADMIN",
        }
    }

    /// A company role from a form: VIEWER, MANAGER or ADMIN (any case).
    pub fn parse_company(raw: &str) -> Result<Role, String> {
        let raw = raw.trim();
        Role::COMPANY
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(raw))
            .ok_or_else(|| format!("\u{201c}{raw}\u{201d} is not a role. Choose Viewer, Manager or Admin."))
    }
}

/// A member's standing in a company.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(sqlx::Type))]
#[cfg_attr(feature = "ssr", sqlx(type_name = "user_status", rename_all = "SCREAMING_SNAKE_CASE"))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UserStatus {
    Active,
    Inactive,
    Invited,
    Suspended,
}

impl UserStatus {
    pub const ALL: [UserStatus; 4] =
        [UserStatus::Active, UserStatus::Inactive, UserStatus::Invited, UserStatus::Suspended];

    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Inactive => "INACTIVE",
            UserStatus::Invited => "INVITED",
            UserStatus::Suspended => "SUSPENDED",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            UserStatus::Active => "Active",
            UserStatus::Inactive => "Inactive",
            UserStatus::Invited => "Invited",
            UserStatus::Suspended => "Suspended",
        }
    }
    pub fn parse(raw: &str) -> Option<UserStatus> {
        UserStatus::ALL.into_iter().find(|s| s.as_str().eq_ignore_ascii_case(raw.trim()))
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Email, String> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err("Enter an email address.".into());
        }
        if s.len() > 320 {
            return Err("That email address is too long.".into());
        }
        let (local, domain) = s.split_once('@').ok_or("Enter a valid email address, like name@example.com.")?;
        let ok = !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c == ',' || c == '<' || c == '>')
            && !domain.contains('@');
        if ok {
            Ok(Email(s))
        } else {
            Err("Enter a valid email address, like name@example.com.".into())
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A company's URL name: lowercase ASCII letters, digits and inner hyphens, 1–63 characters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slug(String);

impl Slug {
    pub fn parse(raw: &str) -> Result<Slug, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Enter a slug.".into());
        }
        if s.len() > 63 {
            return Err("A slug has at most 63 characters.".into());
        }
        if !s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err("Use only lowercase letters a–z, digits and hyphens.".into());
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err("A slug cannot start or end with a hyphen.".into());
        }
        Ok(Slug(s.to_string()))
    }

    /// Derives a slug from a display name: accents folded, anything else collapsed to '-'.
    pub fn from_name(name: &str) -> Slug {
        let mut out = String::new();
        for c in name.chars().flat_map(fold_char) {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            } else if !out.ends_with('-') {
                out.push('-');
            }
        }
        let trimmed: String = out.trim_matches('-').chars().take(56).collect();
        let trimmed = trimmed.trim_end_matches('-');
        Slug(if trimmed.is_empty() { "company".into() } else { trimmed.into() })
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn fold_char(c: char) -> Vec<char> {
    let s: &str = match c {
        'À'..='Å' | 'à'..='å' | 'Ā'..='ą' => "a",
        'Ç' | 'ç' | 'Ć'..='č' => "c",
        'Ď'..='đ' => "d",
        'È'..='Ë' | 'è'..='ë' | 'Ē'..='ě' => "e",
        'Ĝ'..='ģ' => "g",
        'Ĥ'..='ħ' => "h",
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ'..='ı' => "i",
        'Ĵ' | 'ĵ' => "j",
        'Ķ' | 'ķ' => "k",
        'Ĺ'..='ł' => "l",
        'Ñ' | 'ñ' | 'Ń'..='ň' => "n",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō'..='ő' => "o",
        'Ŕ'..='ř' => "r",
        'Ś'..='š' => "s",
        'Ţ'..='ŧ' => "t",
        'Ù'..='Ü' | 'ù'..='ü' | 'Ũ'..='ų' => "u",
        'Ŵ' | 'ŵ' => "w",
        'Ý' | 'ý' | 'ÿ' | 'Ŷ' | 'ŷ' | 'Ÿ' => "y",
        'Ź'..='ž' => "z",
        'ß' => "ss",
        'Æ' | 'æ' => "ae",
        '&' => "-and-",
        _ => return vec![c],
    };
    s.chars().collect()
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyName(String);

impl CompanyName {
    pub fn parse(raw: &str) -> Result<CompanyName, String> {
        let s = raw.trim();
        if s.is_empty() {
            return Err("Enter the company's name.".into());
        }
        if s.chars().count() > 200 {
            return Err("A name has at most 200 characters.".into());
        }
        if s.chars().any(|c| c.is_control()) {
            return Err("A name cannot contain control characters.".into());
        }
        Ok(CompanyName(s.to_string()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `tenant_config`: must be a JSON object.
/// Text Atrium accepts anywhere holds no control characters but tab, line feed and carriage
/// return: PostgreSQL refuses NUL outright, and the others only hide or garble what people
/// read (in the console, the audit log, an export). Fields that are one line refuse those
/// three as well, in their own parsers.
pub fn is_refused_control(c: char) -> bool {
    c.is_control() && !matches!(c, '\t' | '\n' | '\r')
}

/// The message for text that holds a refused control character.
pub const CONTROL_CHARACTERS: &str = "This text cannot contain control characters (such as NUL).";

pub fn parse_tenant_config(raw: &str) -> Result<serde_json::Value, String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(serde_json::json!({}));
    }
    if raw.len() > 64 * 1024 {
        return Err("The configuration is larger than 64 KiB.".into());
    }
    match serde_json::from_str::<serde_json::Value>(raw) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err("The configuration must be a JSON object, like {\"key\": \"value\"}.".into()),
        Err(e) => Err(format!("This is not valid JSON: {e}.")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_fold_accents_and_punctuation() {
        assert_eq!(Slug::from_name("Crème Brûlée & Co., Ltd.").as_str(), "creme-brulee-and-co-ltd");
        assert_eq!(Slug::from_name("  ACME  ").as_str(), "acme");
        assert_eq!(Slug::from_name("!!!").as_str(), "company");
        assert_eq!(Slug::from_name("Straße Ødegaard").as_str(), "strasse-odegaard");
    }

    #[test]
    fn slug_parse_rejects_bad_input() {
        assert!(Slug::parse("acme-2").is_ok());
        assert!(Slug::parse("Acme").is_err());
        assert!(Slug::parse("-acme").is_err());
        assert!(Slug::parse("ac me").is_err());
        assert!(Slug::parse("").is_err());
        assert!(Slug::parse(&"a".repeat(64)).is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(Email::parse(" Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        assert!(Email::parse("nope").is_err());
        assert!(Email::parse("a@b").is_err());
        assert!(Email::parse("a b@c.d").is_err());
    }

    #[test]
    fn tenant_config_must_be_an_object() {
        assert!(parse_tenant_config("{\"a\": 1}").is_ok());
        assert!(parse_tenant_config("").is_ok());
        assert!(parse_tenant_config("[1]").unwrap_err().contains("object"));
        assert!(parse_tenant_config("{bad").unwrap_err().contains("not valid JSON"));
    }
}

macro_rules! permissions {
    ($($variant:ident => $name:literal,)*) => {
        /// Permissions, as seeded in `permissions` (resource.action).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Permission { $($variant,)* }

        impl Permission {
            pub const ALL: &'static [Permission] = &[$(Permission::$variant,)*];

            pub fn name(self) -> &'static str {
                match self { $(Permission::$variant => $name,)* }
            }

            pub fn parse(s: &str) -> Option<Permission> {
                match s { $($name => Some(Permission::$variant),)* _ => None }
            }
        }
    };
}

permissions! {
    CompaniesRead => "companies.read",
    CompaniesWrite => "companies.write",
    CompaniesDelete => "companies.delete",
    UsersRead => "users.read",
    UsersWrite => "users.write",
    UsersSuspend => "users.suspend",
    ApiKeysRead => "api_keys.read",
    ApiKeysWrite => "api_keys.write",
    ApiKeysRevoke => "api_keys.revoke",
    WeightsRead => "weights.read",
    WeightsWrite => "weights.write",
    IntegrationsRead => "integrations.read",
    IntegrationsWrite => "integrations.write",
    IntegrationsReplay => "integrations.replay",
    AuditRead => "audit.read",
    AuditExport => "audit.export",
    AuditRetention => "audit.retention",
    SecurityManage => "security.manage",
}
