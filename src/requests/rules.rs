//! Who may see and who may decide an attendance request: the requester sees their own, and
//! whoever the `attendance.requests.approve:*` scope reaches sees and decides the requester's
//! (the one rule of scoped visibility, `access::reaches`, through `crate::visibility`).
//! Nobody decides their own request, whatever their scope.

use crate::access::{Caller, Family, Scope};
use crate::storage::StorageError;
use crate::storage::requests::RequestScope;
use crate::storage::users::{User, UserStore};

/// May the caller approve or reject requests of `requester` (a user of the caller's org)?
pub async fn may_decide(users: &dyn UserStore, caller: &Caller, requester: &User) -> Result<bool, StorageError> {
    if requester.id == caller.user_id {
        return Ok(false);
    }
    crate::visibility::sees(users, caller, Family::RequestApproval, requester).await
}

/// May the caller see requests of `requester`: their own, or those they may decide?
pub async fn may_see(users: &dyn UserStore, caller: &Caller, requester: &User) -> Result<bool, StorageError> {
    Ok(requester.id == caller.user_id || may_decide(users, caller, requester).await?)
}

/// The requests a list without `user_id` shows the caller: their own, and those of everyone
/// their approval scope reaches.
pub fn list_scope(caller: &Caller) -> RequestScope {
    match Family::RequestApproval.scope_in(caller.permissions) {
        None | Some(Scope::Myself) => RequestScope::User(caller.user_id),
        Some(Scope::Direct) => RequestScope::DirectOf(caller.user_id),
        Some(Scope::Team) => RequestScope::TeamOf(caller.user_id),
        Some(Scope::Org) => RequestScope::Org,
    }
}
