//! Scopes (`self | direct | team | org`) and how a viewer relates to a subject.
//!
//! A scope grants every relation up to it: whoever may see their whole team may see their
//! direct reports, and whoever may see the organisation may see themselves. Seeing one's own
//! data is never more sensitive than seeing anyone else's.

use super::permission::{Permission, PermissionSet};

/// How close a subject is to the viewer, closest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Relation {
    /// The viewer is the subject.
    Myself,
    /// The subject's `manager_id` is the viewer.
    Direct,
    /// The viewer is somewhere on the subject's manager chain.
    Team,
    /// Same organisation, nothing closer.
    Org,
}

/// The widest relation a caller's permissions reach, per kind of data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    Myself,
    Direct,
    Team,
    Org,
}

impl Scope {
    pub fn covers(self, relation: Relation) -> bool {
        let reach = match self {
            Scope::Myself => Relation::Myself,
            Scope::Direct => Relation::Direct,
            Scope::Team => Relation::Team,
            Scope::Org => Relation::Org,
        };
        relation <= reach
    }
}

/// A kind of data whose visibility is scoped; each maps to its permission family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Attendance,
    Location,
    Photo,
    Reports,
    Users,
    AppLogs,
    /// Deciding (and so seeing) other people's attendance requests.
    RequestApproval,
}

impl Family {
    /// The permissions of this family, widest scope first.
    fn grants(self) -> &'static [(Permission, Scope)] {
        use Permission::*;
        match self {
            Family::Attendance => &[
                (AttendanceReadOrg, Scope::Org),
                (AttendanceReadTeam, Scope::Team),
                (AttendanceReadSelf, Scope::Myself),
            ],
            Family::Location => &[
                (LocationReadOrg, Scope::Org),
                (LocationReadTeam, Scope::Team),
                (LocationReadDirect, Scope::Direct),
                (LocationReadSelf, Scope::Myself),
            ],
            Family::Photo => &[
                (PhotoReadOrg, Scope::Org),
                (PhotoReadTeam, Scope::Team),
                (PhotoReadDirect, Scope::Direct),
                (PhotoReadSelf, Scope::Myself),
            ],
            Family::Reports => &[(ReportsReadOrg, Scope::Org), (ReportsReadTeam, Scope::Team)],
            Family::Users => &[(UsersReadOrg, Scope::Org), (UsersReadTeam, Scope::Team)],
            Family::AppLogs => &[
                (ApplogsReadOrg, Scope::Org),
                (ApplogsReadTeam, Scope::Team),
                (ApplogsReadSelf, Scope::Myself),
            ],
            Family::RequestApproval => &[
                (RequestsApproveOrg, Scope::Org),
                (RequestsApproveTeam, Scope::Team),
                (RequestsApproveDirect, Scope::Direct),
            ],
        }
    }

    /// The widest scope `permissions` grant for this family, if any.
    pub fn scope_in(self, permissions: PermissionSet) -> Option<Scope> {
        self.grants()
            .iter()
            .find(|(p, _)| permissions.contains(*p))
            .map(|(_, s)| *s)
    }
}

/// The one rule of scoped visibility: may `permissions` see `family` data of a subject who
/// stands in `relation` to the viewer? The widest granted scope must cover the relation.
/// `relation` is asked for only when the answer depends on it (a direct or team scope), so
/// callers can defer a reporting-tree look-up.
pub fn reaches(permissions: PermissionSet, family: Family, relation: impl FnOnce() -> Option<Relation>) -> bool {
    match family.scope_in(permissions) {
        None => false,
        Some(Scope::Org) => true,
        Some(scope) => relation().is_some_and(|r| scope.covers(r)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_nest() {
        assert!(Scope::Team.covers(Relation::Direct));
        assert!(Scope::Team.covers(Relation::Myself));
        assert!(!Scope::Direct.covers(Relation::Team));
        assert!(!Scope::Myself.covers(Relation::Direct));
        assert!(Scope::Org.covers(Relation::Org));
    }

    #[test]
    fn widest_grant_wins() {
        let set: PermissionSet = [Permission::LocationReadSelf, Permission::LocationReadTeam]
            .into_iter()
            .collect();
        assert_eq!(Family::Location.scope_in(set), Some(Scope::Team));
        assert_eq!(Family::Photo.scope_in(set), None);
    }
}
