//! The geofence decision for one reported location: verdict, the fence that made it, and
//! the distance to the nearest applicable fence, under the org's accuracy rule.
//!
//! * `point` judges the reported point alone.
//! * `strict` is `inside` only when the whole accuracy circle lies inside one fence,
//!   `uncertain` when the circle straddles a fence boundary, `outside` when it misses all.
//! * `lenient` is `inside` when the accuracy circle touches a fence at all.
//!
//! A point on a boundary is inside (`Intersects`, not `Contains`). `distance_m` describes the
//! reported point: 0 when it is on or inside an applicable fence, else the great-circle
//! metres to the nearest applicable fence. So a `lenient` `inside` for a point 30 m outside
//! with 50 m accuracy reports 30. The `fence` is the one that made the verdict: the
//! containing fence (the first in index order when several contain the point, or for
//! `strict` the first that holds the whole circle), else the nearest.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::index::{FenceIndex, FenceRef, Hits, Query};
use super::metric::{EARTH_RADIUS_M, LatLon, chord2_to_m, m_to_chord2};

/// How a location's reported accuracy enters the verdict (the org policy's `accuracy_rule`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccuracyRule {
    Point,
    Strict,
    Lenient,
}

/// What the geofence check concluded about a location.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Inside,
    Outside,
    Uncertain,
    NoGeofence,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FenceDecision {
    pub verdict: Verdict,
    /// `None` only for `no_geofence`.
    pub fence: Option<FenceRef>,
    /// Metres from the reported point to the nearest applicable fence; 0 on or inside one;
    /// `None` for `no_geofence`.
    pub distance_m: Option<f64>,
}

impl FenceDecision {
    fn no_geofence() -> Self {
        Self {
            verdict: Verdict::NoGeofence,
            fence: None,
            distance_m: None,
        }
    }
}

impl FenceIndex {
    /// Judges a location against the fences of `sites` (`None`: every fence of the index).
    ///
    /// `accuracy_m` is the radius of the location's accuracy circle; a negative or NaN value
    /// counts as 0 (the HTTP layer rejects those before; `accuracy_too_low` is policy's).
    pub fn decide(&self, point: LatLon, accuracy_m: f64, rule: AccuracyRule, sites: Option<&[Uuid]>) -> FenceDecision {
        let q = Query::new(point);
        let accuracy = if accuracy_m >= 0.0 { accuracy_m } else { 0.0 };
        let mut hits = Hits::new();
        let Some((c2, nearest)) = self.search(sites, &q, &mut hits) else {
            return FenceDecision::no_geofence();
        };
        let containing = hits.sorted();

        let decision = |verdict, fence: u32, distance_m: f64| FenceDecision {
            verdict,
            fence: Some(self.fence_ref(fence)),
            distance_m: Some(distance_m),
        };

        if let Some(&first) = containing.first() {
            return match rule {
                AccuracyRule::Point | AccuracyRule::Lenient => decision(Verdict::Inside, first, 0.0),
                AccuracyRule::Strict => {
                    let (angle, radius) = (accuracy / EARTH_RADIUS_M, m_to_chord2(accuracy));
                    // A boundary nearer than the accuracy radius: the circle pokes out.
                    let holding = containing
                        .iter()
                        .copied()
                        .find(|&f| !self.boundary_within(f, &q, angle, radius));
                    match holding {
                        Some(f) => decision(Verdict::Inside, f, 0.0),
                        None => decision(Verdict::Uncertain, first, 0.0),
                    }
                }
            };
        }

        let Some(fence) = nearest else {
            // Unreachable with at least one fence, but an answer beats a panic.
            return FenceDecision::no_geofence();
        };
        let distance = chord2_to_m(c2);
        let touches = distance <= accuracy;
        let verdict = match rule {
            AccuracyRule::Point => Verdict::Outside,
            AccuracyRule::Strict if touches => Verdict::Uncertain,
            AccuracyRule::Lenient if touches => Verdict::Inside,
            AccuracyRule::Strict | AccuracyRule::Lenient => Verdict::Outside,
        };
        decision(verdict, fence, distance)
    }
}
