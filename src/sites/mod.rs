//! Sites and their geofences as the server keeps them, and the per-organisation index cache
//! that check-ins and `:test` judge against. The geometry itself (validation, the decision)
//! is `crate::geofence`'s.

mod cache;

pub use cache::FenceCache;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

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
