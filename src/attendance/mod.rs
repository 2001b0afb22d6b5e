//! Attendance events: the decision object every check-in answers with, its reasons, and
//! the rules that produce them.
//!
//! - [`input`]: a request in JSON or protobuf into one validated input, and its identity hash.
//! - [`rules`]: every policy rule as a pure function, and the status they come to.
//! - [`redact`]: the single way an event leaves the server, redacted for the caller.
//! - [`record`]: judging and storing one event (alone or from a batch), idempotently.
//! - [`check_in`]: the use cases (one event, one with its photo, an offline batch).
//! - [`error`]: why a check-in was not recorded.

pub mod check_in;
pub mod error;
pub mod input;
pub mod record;
pub mod redact;
pub mod rules;
pub mod wire;

use crate::geofence::{FenceDecision, Verdict};
use crate::storage::events::Reason;
use crate::storage::orgs::Policy;

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
