//! Sites and their geofences as the server keeps them: every version of every fence, so
//! that an event keeps the version it was judged against.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::audit::AuditEntry;
use super::error::Result;
use super::page::{Page, PageRequest};

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Site {
    pub id: Uuid,
    pub name: String,
    /// IANA time zone name; reports count days in it.
    pub timezone: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug)]
pub struct NewSite {
    pub id: Uuid,
    pub name: String,
    pub timezone: String,
}

#[derive(Clone, Debug, Default)]
pub struct SitePatch {
    pub name: Option<String>,
    pub timezone: Option<String>,
}

/// A geofence as stored and answered.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StoredFence {
    pub id: Uuid,
    pub site_id: Uuid,
    pub name: String,
    /// GeoJSON `Polygon` / `MultiPolygon`, or `{"type": "Circle", "center": [lon, lat], "radius_m": r}`.
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    pub version: i32,
    pub active: bool,
    pub area_m2: f64,
    pub created_at: DateTime<Utc>,
}

/// One version of a geofence, as `GET /v1/geofences/{id}/versions` answers it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FenceVersion {
    pub version: i32,
    pub name: String,
    #[schema(value_type = Object)]
    pub geometry: serde_json::Value,
    pub active: bool,
    pub area_m2: f64,
    pub created_at: DateTime<Utc>,
    pub created_by: Option<Uuid>,
}

/// A validated new geofence.
#[derive(Clone, Debug)]
pub struct NewFence {
    pub id: Uuid,
    pub site_id: Uuid,
    pub name: String,
    pub geometry: serde_json::Value,
    pub area_m2: f64,
}

/// A validated replacement: new name and/or new geometry (with its area).
#[derive(Clone, Debug, Default)]
pub struct FenceChange {
    pub name: Option<String>,
    pub geometry: Option<(serde_json::Value, f64)>,
}

/// Why a geofence write was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FenceWriteError {
    /// The site of the fence at this position of the request does not exist in the org.
    #[error("site_id does not name a site of this organisation")]
    UnknownSite { index: usize },
}

#[async_trait]
pub trait SiteStore: Send + Sync {
    async fn create_site(&self, org_id: Uuid, site: &NewSite, audit: &AuditEntry) -> Result<Site>;
    async fn get_site(&self, org_id: Uuid, site_id: Uuid) -> Result<Option<Site>>;
    async fn list_sites(&self, org_id: Uuid, page: PageRequest) -> Result<Page<Site>>;
    async fn update_site(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        patch: &SitePatch,
        audit: &AuditEntry,
    ) -> Result<Option<Site>>;
    /// Creates all the fences or none (`:import` is all or nothing).
    async fn create_fences(
        &self,
        org_id: Uuid,
        fences: &[NewFence],
        audit: &[AuditEntry],
    ) -> Result<Result<Vec<StoredFence>, FenceWriteError>>;
    /// Replaces name and/or geometry, bumping the version; `None` if there is no such fence.
    async fn replace_fence(
        &self,
        org_id: Uuid,
        fence_id: Uuid,
        change: &FenceChange,
        audit: &AuditEntry,
    ) -> Result<Option<StoredFence>>;
    /// Retires a fence (`active: false`, a new version); history stays.
    async fn retire_fence(&self, org_id: Uuid, fence_id: Uuid, audit: &AuditEntry) -> Result<Option<StoredFence>>;
    async fn get_fence(&self, org_id: Uuid, fence_id: Uuid) -> Result<Option<StoredFence>>;
    async fn list_fences(&self, org_id: Uuid, site_id: Option<Uuid>, page: PageRequest) -> Result<Page<StoredFence>>;
    async fn fence_versions(&self, org_id: Uuid, fence_id: Uuid) -> Result<Vec<FenceVersion>>;
    /// Every active fence of the organisation, for its decision index.
    async fn active_fences(&self, org_id: Uuid) -> Result<Vec<StoredFence>>;
}
