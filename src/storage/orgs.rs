//! Organisations (tenants), their attendance policy and what each role grants.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::AuditEntry;
use super::error::Result;
use super::users::{NewUser, User, UserWriteError};
use crate::access::{PermissionSet, Role};
use crate::geofence::AccuracyRule;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    /// IANA time zone name, e.g. `Asia/Kolkata`.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewOrg {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
}

#[derive(Clone, Debug, Default)]
pub struct OrgPatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
}

/// What the server does with a check-in judged outside every geofence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "snake_case")]
pub enum GeofenceMode {
    /// Reject anything but `inside` and any reason.
    Enforce,
    /// Accept, with `status: flagged` when there is a reason.
    #[default]
    Flag,
    /// Accept, still recording the verdict.
    Off,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    pub location_days: u32,
    pub photo_days: u32,
    pub applog_days: u32,
}

/// The org policy of API.md, with its defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub geofence_mode: GeofenceMode,
    pub accuracy_rule: AccuracyRule,
    pub max_accuracy_m: f64,
    pub require_photo: bool,
    pub allow_mock_location: bool,
    pub max_clock_skew_s: u32,
    pub offline_max_age_h: u32,
    pub max_speed_kmh: f64,
    pub retention: Retention,
    /// How many days back an attendance request may name (0: only today). Defaulted when
    /// absent, so policies stored before requests existed still read, and a `PUT` written
    /// against them still applies.
    #[serde(default = "Policy::default_request_max_age_days")]
    pub request_max_age_days: u32,
    /// Hours after a working day's scheduled end (its shift's) at which a day still open gets
    /// a `check_out` with `source: "auto"` at that end; null: never. Defaulted to null when
    /// absent, like `request_max_age_days`.
    #[serde(default)]
    pub auto_check_out_after_h: Option<u32>,
}

impl Policy {
    /// The most `request_max_age_days` may be: a year, as reports span at most that.
    pub const MAX_REQUEST_AGE_DAYS: u32 = 366;
    /// The most `auto_check_out_after_h` may be: a day, so that a day is closed before the
    /// next one's check-out would hide it (auto check-out looks at users whose last counted
    /// check-in is still open).
    pub const MAX_AUTO_CHECK_OUT_AFTER_H: u32 = 24;

    fn default_request_max_age_days() -> u32 {
        30
    }
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            geofence_mode: GeofenceMode::Flag,
            accuracy_rule: AccuracyRule::Point,
            max_accuracy_m: 100.0,
            require_photo: false,
            allow_mock_location: false,
            max_clock_skew_s: 300,
            offline_max_age_h: 72,
            max_speed_kmh: 300.0,
            retention: Retention {
                location_days: 400,
                photo_days: 90,
                applog_days: 30,
            },
            request_max_age_days: Policy::default_request_max_age_days(),
            auto_check_out_after_h: None,
        }
    }
}

#[async_trait]
pub trait OrgStore: Send + Sync {
    async fn count_orgs(&self) -> Result<i64>;
    /// Creates the organisation with default roles and policy, and its first admin.
    async fn create_org(
        &self,
        org: &NewOrg,
        admin: &NewUser,
        audit: &[AuditEntry],
    ) -> Result<Result<(Org, User), UserWriteError>>;
    async fn get_org(&self, org_id: Uuid) -> Result<Option<Org>>;
    async fn update_org(&self, org_id: Uuid, patch: &OrgPatch, audit: &AuditEntry) -> Result<Option<Org>>;
    async fn get_policy(&self, org_id: Uuid) -> Result<Policy>;
    async fn put_policy(&self, org_id: Uuid, policy: &Policy, audit: &AuditEntry) -> Result<()>;
    async fn role_grants(&self, org_id: Uuid) -> Result<Vec<(Role, PermissionSet)>>;
    async fn set_role_grants(&self, org_id: Uuid, role: Role, grants: PermissionSet, audit: &AuditEntry) -> Result<()>;
}
