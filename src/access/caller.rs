//! The caller of a request as every layer sees it: who they are, and the permissions the
//! database grants them *now* (read afresh per request by the HTTP layer's extractor, so a
//! disabled user, a role change or an ended session applies to the very next request).

use uuid::Uuid;

use super::permission::{Permission, PermissionSet};
use super::scope::{Family, Scope};

#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub manager_id: Option<Uuid>,
    pub permissions: PermissionSet,
    pub session: Uuid,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

/// A caller without the permission an action needs (403).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    #[error("requires the permission {0}")]
    Lacks(Permission),
    #[error("no permission to read {0:?} data")]
    NoScope(Family),
}

impl Caller {
    /// `Denied` unless the caller holds `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Denied> {
        if self.permissions.contains(permission) {
            Ok(())
        } else {
            Err(Denied::Lacks(permission))
        }
    }

    pub fn has(&self, permission: Permission) -> bool {
        self.permissions.contains(permission)
    }

    /// The widest scope the caller has for `family`; `Denied` with none.
    pub fn scope(&self, family: Family) -> Result<Scope, Denied> {
        family.scope_in(self.permissions).ok_or(Denied::NoScope(family))
    }
}
