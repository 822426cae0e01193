//! The escalation rules, in one place so the server functions and the UI agree.
use crate::domain::Role;

/// May someone with `actor` edit, suspend or reset a member holding `target`? Only members
/// strictly below them (the super-admin excepted), and never themselves here: their own
/// account is edited on /account.
pub fn may_manage(actor: Role, target: Role, is_self: bool) -> bool {
    !is_self && (actor == Role::SuperAdmin || target.level() < actor.level())
}

/// May `actor` give `role`? Nobody grants a role above their own.
pub fn may_grant(actor: Role, role: Role) -> bool {
    role != Role::SuperAdmin && role.level() <= actor.level()
}

pub fn grantable(actor: Role) -> Vec<Role> {
    Role::COMPANY.into_iter().filter(|r| may_grant(actor, *r)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nobody_manages_their_equal_or_better_except_the_super_admin() {
        assert!(may_manage(Role::Admin, Role::Manager, false));
        assert!(!may_manage(Role::Admin, Role::Admin, false));
        assert!(!may_manage(Role::Manager, Role::Admin, false));
        assert!(may_manage(Role::SuperAdmin, Role::Admin, false));
        assert!(!may_manage(Role::Admin, Role::Viewer, true));
    }

    #[test]
    fn nobody_grants_above_their_own_role() {
        assert_eq!(grantable(Role::Manager), vec![Role::Viewer, Role::Manager]);
        assert_eq!(grantable(Role::Admin), vec![Role::Viewer, Role::Manager, Role::Admin]);
        assert!(!may_grant(Role::SuperAdmin, Role::SuperAdmin), "super-admin is not a company role");
    }
}
