//! Permission and role names, exactly as API.md spells them, and the default grants.
//!
//! Each name is declared once in `permissions!`; parsing, printing and the bit layout of
//! [`PermissionSet`] all come from that one list.

use std::fmt;

macro_rules! permissions {
    ($($variant:ident => $name:literal),+ $(,)?) => {
        /// One grantable permission.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum Permission { $($variant),+ }

        impl Permission {
            /// Every permission, in the order of the API contract.
            pub const ALL: &'static [Permission] = &[$(Permission::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Permission::$variant => $name),+ }
            }

            pub fn parse(name: &str) -> Option<Permission> {
                match name { $($name => Some(Permission::$variant),)+ _ => None }
            }
        }
    };
}

permissions! {
    AttendanceRecord => "attendance.record",
    AttendanceReadSelf => "attendance.read:self",
    AttendanceReadTeam => "attendance.read:team",
    AttendanceReadOrg => "attendance.read:org",
    LocationReadSelf => "attendance.location.read:self",
    LocationReadDirect => "attendance.location.read:direct",
    LocationReadTeam => "attendance.location.read:team",
    LocationReadOrg => "attendance.location.read:org",
    PhotoReadSelf => "attendance.photo.read:self",
    PhotoReadDirect => "attendance.photo.read:direct",
    PhotoReadTeam => "attendance.photo.read:team",
    PhotoReadOrg => "attendance.photo.read:org",
    ReportsReadTeam => "reports.read:team",
    ReportsReadOrg => "reports.read:org",
    UsersReadTeam => "users.read:team",
    UsersReadOrg => "users.read:org",
    UsersManage => "users.manage",
    GeofencesRead => "geofences.read",
    GeofencesManage => "geofences.manage",
    PolicyManage => "policy.manage",
    RolesManage => "roles.manage",
    ApplogsWrite => "applogs.write",
    ApplogsReadSelf => "applogs.read:self",
    ApplogsReadTeam => "applogs.read:team",
    ApplogsReadOrg => "applogs.read:org",
    ApplogsPiiRead => "applogs.pii.read",
    AuditRead => "audit.read",
    PrivacyManage => "privacy.manage",
    RequestsCreate => "attendance.requests.create",
    RequestsApproveDirect => "attendance.requests.approve:direct",
    RequestsApproveTeam => "attendance.requests.approve:team",
    RequestsApproveOrg => "attendance.requests.approve:org",
    ShiftsRead => "shifts.read",
    ShiftsManage => "shifts.manage",
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of permissions as a bit set: effective permissions are computed on every request,
/// so the union and the membership test must cost nothing.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct PermissionSet(u64);

impl PermissionSet {
    pub const fn empty() -> Self {
        PermissionSet(0)
    }

    pub fn contains(self, p: Permission) -> bool {
        self.0 & (1 << p as u8) != 0
    }

    pub fn insert(&mut self, p: Permission) {
        self.0 |= 1 << p as u8;
    }

    pub fn union(self, other: PermissionSet) -> PermissionSet {
        PermissionSet(self.0 | other.0)
    }

    pub fn iter(self) -> impl Iterator<Item = Permission> {
        Permission::ALL.iter().copied().filter(move |p| self.contains(*p))
    }

    /// Names in contract order, for answers such as `GET /v1/me`.
    pub fn names(self) -> Vec<&'static str> {
        self.iter().map(Permission::as_str).collect()
    }
}

impl FromIterator<Permission> for PermissionSet {
    fn from_iter<I: IntoIterator<Item = Permission>>(iter: I) -> Self {
        let mut set = PermissionSet::empty();
        for p in iter {
            set.insert(p);
        }
        set
    }
}

impl fmt::Debug for PermissionSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.names()).finish()
    }
}

/// The five roles of v1 (no custom roles).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Employee,
    Manager,
    Hr,
    OrgAdmin,
    Auditor,
}

impl Role {
    pub const ALL: &'static [Role] = &[Role::Employee, Role::Manager, Role::Hr, Role::OrgAdmin, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Employee => "employee",
            Role::Manager => "manager",
            Role::Hr => "hr",
            Role::OrgAdmin => "org_admin",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.iter().copied().find(|r| r.as_str() == name)
    }

    /// Roles that `users.manage` alone may give or take; the rest need `roles.manage`.
    pub fn is_basic(self) -> bool {
        matches!(self, Role::Employee | Role::Manager)
    }

    /// The grants a new organisation starts with (API.md "Default roles").
    pub fn default_grants(self) -> PermissionSet {
        use Permission::*;
        let grants: &[Permission] = match self {
            Role::Employee => &[
                AttendanceRecord,
                AttendanceReadSelf,
                LocationReadSelf,
                PhotoReadSelf,
                ApplogsWrite,
                ApplogsReadSelf,
                GeofencesRead,
                RequestsCreate,
                ShiftsRead,
            ],
            Role::Manager => &[
                AttendanceReadTeam,
                LocationReadDirect,
                PhotoReadDirect,
                ReportsReadTeam,
                UsersReadTeam,
                RequestsApproveDirect,
                ShiftsRead,
            ],
            Role::Hr => &[
                AttendanceReadOrg,
                ReportsReadOrg,
                UsersReadOrg,
                UsersManage,
                PrivacyManage,
                RequestsApproveOrg,
                ShiftsRead,
                ShiftsManage,
            ],
            Role::OrgAdmin => &[
                UsersReadOrg,
                UsersManage,
                GeofencesRead,
                GeofencesManage,
                PolicyManage,
                RolesManage,
                ApplogsReadOrg,
                ApplogsPiiRead,
                AuditRead,
                PrivacyManage,
                ShiftsRead,
                ShiftsManage,
            ],
            Role::Auditor => &[AuditRead],
        };
        grants.iter().copied().collect()
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_round_trips_and_fits_the_bit_set() {
        assert!(Permission::ALL.len() <= 64);
        for p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(*p));
        }
        assert_eq!(Permission::parse("attendance.read:everyone"), None);
    }

    #[test]
    fn manager_sees_locations_of_direct_reports_only_by_default() {
        let m = Role::Manager.default_grants();
        assert!(m.contains(Permission::LocationReadDirect));
        assert!(!m.contains(Permission::LocationReadTeam));
        assert!(!m.contains(Permission::LocationReadOrg));
    }
}
