//! Users of an organisation: the profile, the reporting tree, roles and site assignment.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::Role;

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
