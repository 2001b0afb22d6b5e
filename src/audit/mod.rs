//! The audit trail: who did what to whom, and every disclosure of someone else's location,
//! photo or app-log PII. Append-only (the database refuses updates and deletes).

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

/// What an audit entry records. The names are the stable strings of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    LoginSucceeded,
    LoginFailed,
    UserCreated,
    UserUpdated,
    UserDisabled,
    RoleChanged,
    PolicyChanged,
    OrgChanged,
    OrgCreated,
    SiteCreated,
    SiteUpdated,
    GeofenceCreated,
    GeofenceUpdated,
    GeofenceRetired,
    LocationDisclosed,
    PhotoDisclosed,
    AppLogPiiDisclosed,
    DataExported,
    DataErased,
}

impl Action {
    pub const ALL: &'static [Action] = &[
        Action::LoginSucceeded,
        Action::LoginFailed,
        Action::UserCreated,
        Action::UserUpdated,
        Action::UserDisabled,
        Action::RoleChanged,
        Action::PolicyChanged,
        Action::OrgChanged,
        Action::OrgCreated,
        Action::SiteCreated,
        Action::SiteUpdated,
        Action::GeofenceCreated,
        Action::GeofenceUpdated,
        Action::GeofenceRetired,
        Action::LocationDisclosed,
        Action::PhotoDisclosed,
        Action::AppLogPiiDisclosed,
        Action::DataExported,
        Action::DataErased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::LoginSucceeded => "auth.login_succeeded",
            Action::LoginFailed => "auth.login_failed",
            Action::UserCreated => "user.created",
            Action::UserUpdated => "user.updated",
            Action::UserDisabled => "user.disabled",
            Action::RoleChanged => "role.changed",
            Action::PolicyChanged => "policy.changed",
            Action::OrgChanged => "org.changed",
            Action::OrgCreated => "org.created",
            Action::SiteCreated => "site.created",
            Action::SiteUpdated => "site.updated",
            Action::GeofenceCreated => "geofence.created",
            Action::GeofenceUpdated => "geofence.updated",
            Action::GeofenceRetired => "geofence.retired",
            Action::LocationDisclosed => "location.disclosed",
            Action::PhotoDisclosed => "photo.disclosed",
            Action::AppLogPiiDisclosed => "applog_pii.disclosed",
            Action::DataExported => "privacy.exported",
            Action::DataErased => "privacy.erased",
        }
    }

    pub fn parse(s: &str) -> Option<Action> {
        Action::ALL.iter().copied().find(|a| a.as_str() == s)
    }

    /// Disclosures are what `GET /v1/me/disclosures` shows the subject.
    pub fn is_disclosure(self) -> bool {
        matches!(
            self,
            Action::LocationDisclosed | Action::PhotoDisclosed | Action::AppLogPiiDisclosed
        )
    }
}

/// One audit entry, as stored and as answered (`GET /v1/audit`, `GET /v1/me/disclosures`).
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    #[serde(skip)]
    pub org_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub action: String,
    pub object_id: Option<String>,
    pub request_id: Option<String>,
    /// The client address, recorded for logins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Who is acting, and in which request: stamped on every entry written for it.
#[derive(Clone, Debug)]
pub struct AuditContext {
    pub org_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub request_id: Option<String>,
    pub ip: Option<String>,
}

impl AuditContext {
    pub fn entry(&self, action: Action, subject_id: Option<Uuid>, object_id: Option<String>) -> AuditEntry {
        AuditEntry {
            id: Uuid::now_v7(),
            org_id: self.org_id,
            at: Utc::now(),
            actor_id: self.actor_id,
            subject_id,
            action: action.as_str().to_owned(),
            object_id,
            request_id: self.request_id.clone(),
            ip: None,
            detail: serde_json::Value::Null,
        }
    }
}

/// Filters of `GET /v1/audit`.
#[derive(Clone, Debug, Default)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub subject_id: Option<Uuid>,
    pub actions: Vec<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}
