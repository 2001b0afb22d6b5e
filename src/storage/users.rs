//! Users as the server keeps them: profile, reporting tree, roles and sites, the caller's
//! principal read on every request, and what login needs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::AuditEntry;
use super::error::Result;
use super::page::{Page, PageRequest};
use crate::access::{PermissionSet, Relation, Role};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserStatus {
    Active,
    Disabled,
}

impl UserStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "active",
            UserStatus::Disabled => "disabled",
        }
    }

    pub fn parse(s: &str) -> Option<UserStatus> {
        match s {
            "active" => Some(UserStatus::Active),
            "disabled" => Some(UserStatus::Disabled),
            _ => None,
        }
    }
}

/// The user object of the API.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub org_id: Uuid,
    pub email: String,
    pub name: String,
    pub employee_code: String,
    pub manager_id: Option<Uuid>,
    pub roles: Vec<Role>,
    pub site_ids: Vec<Uuid>,
    pub status: UserStatus,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// A validated new user, ready to store.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub employee_code: String,
    pub manager_id: Option<Uuid>,
    pub roles: Vec<Role>,
    pub site_ids: Vec<Uuid>,
    pub password_hash: Option<String>,
}

/// A validated change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserPatch {
    pub email: Option<String>,
    pub name: Option<String>,
    pub employee_code: Option<String>,
    /// `Some(None)` removes the manager.
    pub manager_id: Option<Option<Uuid>>,
    pub roles: Option<Vec<Role>>,
    pub site_ids: Option<Vec<Uuid>>,
    pub status: Option<UserStatus>,
    pub password_hash: Option<String>,
}

/// Why a user write was refused; expected outcomes, not failures of the database.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UserWriteError {
    #[error("user not found")]
    NotFound,
    #[error("email is already in use")]
    EmailTaken,
    #[error("employee_code is already in use in this organisation")]
    EmployeeCodeTaken,
    #[error("manager_id does not name a user of this organisation")]
    UnknownManager,
    #[error("site_ids names a site that does not exist in this organisation")]
    UnknownSite,
    #[error("manager_id would make the reporting chain a cycle")]
    ManagerCycle,
    #[error("the last active org_admin of an organisation cannot be disabled or demoted")]
    LastOrgAdmin,
}

/// The server-wide uniqueness key of an email address. The one place that decides what
/// "the same address" means.
pub fn email_key(email: &str) -> String {
    email.trim().to_lowercase()
}

/// The caller as the database knows them right now: read on every request so that a
/// disabled user, a role change or a new manager takes effect at once.
#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub manager_id: Option<Uuid>,
    pub status: UserStatus,
    pub permissions: PermissionSet,
}

/// What login needs to know about an address.
#[derive(Clone, Debug)]
pub struct LoginRecord {
    pub user_id: Uuid,
    pub org_id: Uuid,
    pub status: UserStatus,
    pub password_hash: Option<String>,
}

/// Which users a list may show.
#[derive(Clone, Copy, Debug)]
pub enum UserScope {
    Org,
    /// Everyone whose manager chain contains this user.
    TeamOf(Uuid),
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// The active state and effective permissions of a user, if the user and the session
    /// (refresh family) still exist and the session is the user's and not revoked. Read
    /// afresh for every request; concurrent requests share the statement.
    async fn principal(&self, user_id: Uuid, session: Uuid) -> Result<Option<Principal>>;
    async fn login_record(&self, email_key: &str) -> Result<Option<LoginRecord>>;
    async fn create_user(
        &self,
        org_id: Uuid,
        user: &NewUser,
        audit: &AuditEntry,
    ) -> Result<Result<User, UserWriteError>>;
    async fn get_user(&self, org_id: Uuid, user_id: Uuid) -> Result<Option<User>>;
    async fn list_users(&self, org_id: Uuid, scope: UserScope, page: PageRequest) -> Result<Page<User>>;
    /// Applies a change atomically: manager cycles and the last org_admin are checked
    /// under a lock of the organisation, so two concurrent changes cannot both pass.
    async fn update_user(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        patch: &UserPatch,
        audit: &[AuditEntry],
    ) -> Result<Result<User, UserWriteError>>;
    /// Is `viewer` on `subject`'s manager chain? (`team` scope)
    async fn is_in_team(&self, org_id: Uuid, viewer: Uuid, subject: Uuid) -> Result<bool>;
    /// How each of `subjects` relates to `viewer`, in one query: the batch form of
    /// `is_in_team` for lists and reports. Subjects that are not users of `org_id` are
    /// absent from the map.
    async fn relations(&self, org_id: Uuid, viewer: Uuid, subjects: &[Uuid]) -> Result<HashMap<Uuid, Relation>>;
}
