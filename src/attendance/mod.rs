//! Attendance events: the decision object every check-in answers with, its reasons, and
//! the rules that produce them.
//!
//! - [`input`]: a request in JSON or protobuf into one validated input, and its identity hash.
//! - [`rules`]: every policy rule as a pure function, and the status they come to.
//! - [`redact`]: the single way an event leaves the server, redacted for the caller.
//! - [`record`]: recording one event (alone or from a batch), idempotently.

pub mod event;
pub mod input;
pub mod record;
pub mod redact;
pub mod rules;
pub mod wire;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::geofence::{FenceDecision, LatLon, Verdict};
use crate::org::Policy;

/// Why an event is flagged or rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    OutsideGeofence,
    UncertainLocation,
    AccuracyTooLow,
    MockLocation,
    ClockSkew,
    StaleOfflineEvent,
    ImpossibleTravel,
    PhotoRequired,
    NoGeofenceAssigned,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::OutsideGeofence => "outside_geofence",
            Reason::UncertainLocation => "uncertain_location",
            Reason::AccuracyTooLow => "accuracy_too_low",
            Reason::MockLocation => "mock_location",
            Reason::ClockSkew => "clock_skew",
            Reason::StaleOfflineEvent => "stale_offline_event",
            Reason::ImpossibleTravel => "impossible_travel",
            Reason::PhotoRequired => "photo_required",
            Reason::NoGeofenceAssigned => "no_geofence_assigned",
        }
    }
}

/// The decision object of API.md.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decision {
    #[schema(value_type = String)]
    pub verdict: Verdict,
    pub geofence_id: Option<Uuid>,
    pub geofence_version: Option<i32>,
    pub geofence_name: Option<String>,
    pub site_id: Option<Uuid>,
    /// Metres to the nearest assigned geofence boundary; 0 inside.
    pub distance_m: Option<f64>,
    pub reasons: Vec<Reason>,
}

impl Decision {
    pub fn new(fence: FenceDecision, reasons: Vec<Reason>) -> Self {
        let (geofence_id, geofence_version, geofence_name, site_id) = match fence.fence {
            Some(f) => (Some(f.id), Some(f.version), Some(f.name), Some(f.site_id)),
            None => (None, None, None, None),
        };
        Decision {
            verdict: fence.verdict,
            geofence_id,
            geofence_version,
            geofence_name,
            site_id,
            distance_m: fence.distance_m,
            reasons,
        }
    }
}

/// The reasons a location alone gives under the policy: the geofence verdict and accuracy.
/// The one place that turns a verdict into reasons, for check-ins and `:test` alike.
pub fn location_reasons(fence: &FenceDecision, accuracy_m: Option<f64>, policy: &Policy) -> Vec<Reason> {
    let mut reasons = Vec::new();
    match fence.verdict {
        Verdict::Inside => {}
        Verdict::Outside => reasons.push(Reason::OutsideGeofence),
        Verdict::Uncertain => reasons.push(Reason::UncertainLocation),
        Verdict::NoGeofence => reasons.push(Reason::NoGeofenceAssigned),
    }
    if accuracy_m.is_some_and(|a| a > policy.max_accuracy_m) {
        reasons.push(Reason::AccuracyTooLow);
    }
    reasons
}

/// Where a past event was, for re-judging it (`:simulate`).
#[derive(Clone, Copy, Debug)]
pub struct EventLocation {
    pub event_id: Uuid,
    pub point: LatLon,
    pub accuracy_m: f64,
}

#[cfg(test)]
mod tests {
    use super::Reason;

    #[test]
    fn reason_names_are_the_wire_names() {
        use Reason::*;
        for r in [
            OutsideGeofence,
            UncertainLocation,
            AccuracyTooLow,
            MockLocation,
            ClockSkew,
            StaleOfflineEvent,
            ImpossibleTravel,
            PhotoRequired,
            NoGeofenceAssigned,
        ] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
    }
}
