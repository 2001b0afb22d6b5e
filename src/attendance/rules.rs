//! The policy rules of API.md, as pure functions: every reason an event can get, and the
//! status the org's `geofence_mode` makes of the verdict and the reasons.
//!
//! Decisions made here (and nowhere else):
//! - **Clock skew.** `captured_at` more than `max_clock_skew_s` *ahead* of the server clock
//!   is `clock_skew` for every event; more than that *behind* it only for an online event
//!   (one sent alone), since a batch is an offline queue whose events are old by nature.
//!   Exactly `max_clock_skew_s` either way is not skew ("more than").
//! - **Stale.** `stale_offline_event` when `captured_at` is more than `offline_max_age_h`
//!   before the server clock, whichever endpoint carried it (an online event that old also
//!   has `clock_skew`). Exactly the limit is not stale.
//! - **Impossible travel.** The user's *previous* event is their stored event with a location
//!   whose `captured_at` is the latest not after this one's; among several at that same
//!   instant, the one recorded last (rejected events count too: they are where the phone
//!   said it was). The distance is the great-circle distance less both accuracy radii (GPS
//!   jitter is not travel); over a zero interval any remaining distance is infinitely fast.
//!   Speeds above `max_speed_kmh` are `impossible_travel`.

use chrono::{DateTime, TimeDelta, Utc};

use crate::attendance::location_reasons;
use crate::geofence::{FenceDecision, Verdict, haversine_m};
use crate::storage::events::{Decision, Reason};
use crate::storage::events::{Fix, Status};
use crate::storage::orgs::{GeofenceMode, Policy};

/// `clock_skew` and `stale_offline_event`, from device time against server time.
pub fn clock_reasons(
    captured_at: DateTime<Utc>,
    received_at: DateTime<Utc>,
    online: bool,
    policy: &Policy,
) -> Vec<Reason> {
    let skew = TimeDelta::seconds(i64::from(policy.max_clock_skew_s));
    let ahead = captured_at - received_at;
    let behind = received_at - captured_at;
    let mut reasons = Vec::new();
    if ahead > skew || (online && behind > skew) {
        reasons.push(Reason::ClockSkew);
    }
    if behind > TimeDelta::hours(i64::from(policy.offline_max_age_h)) {
        reasons.push(Reason::StaleOfflineEvent);
    }
    reasons
}

/// `mock_location` when the phone says the location is mocked and the policy forbids it.
pub fn mock_reason(is_mock: bool, policy: &Policy) -> Option<Reason> {
    (is_mock && !policy.allow_mock_location).then_some(Reason::MockLocation)
}

/// `photo_required` when the policy requires a photo and none came.
pub fn photo_reason(has_photo: bool, policy: &Policy) -> Option<Reason> {
    (policy.require_photo && !has_photo).then_some(Reason::PhotoRequired)
}

/// The apparent speed between two fixes in km/h (see the module notes for accuracy).
pub fn speed_kmh(from: &Fix, to: &Fix) -> f64 {
    let distance = haversine_m(from.point, to.point) - from.accuracy_m.max(0.0) - to.accuracy_m.max(0.0);
    if distance <= 0.0 {
        return 0.0;
    }
    let seconds = (to.at - from.at).abs().as_seconds_f64();
    if seconds == 0.0 {
        f64::INFINITY
    } else {
        distance / seconds * 3.6
    }
}

/// `impossible_travel` when the speed from the previous fix exceeds the policy's limit.
pub fn travel_reason(previous: Option<&Fix>, this: &Fix, policy: &Policy) -> Option<Reason> {
    let previous = previous?;
    (speed_kmh(previous, this) > policy.max_speed_kmh).then_some(Reason::ImpossibleTravel)
}

/// What `geofence_mode` makes of a verdict and its reasons.
pub fn status(mode: GeofenceMode, verdict: Verdict, reasons: &[Reason]) -> Status {
    match mode {
        GeofenceMode::Enforce if verdict == Verdict::Inside && reasons.is_empty() => Status::Accepted,
        GeofenceMode::Enforce => Status::Rejected,
        GeofenceMode::Flag if reasons.is_empty() => Status::Accepted,
        GeofenceMode::Flag => Status::Flagged,
        GeofenceMode::Off => Status::Accepted,
    }
}

/// Everything an event is judged on.
#[derive(Clone, Debug)]
pub struct Facts {
    pub fence: FenceDecision,
    pub fix: Fix,
    /// The accuracy the phone reported, if any (`fix.accuracy_m` is 0 without one).
    pub reported_accuracy_m: Option<f64>,
    pub is_mock: bool,
    pub received_at: DateTime<Utc>,
    /// Sent alone (`POST /v1/attendance/events`) rather than in an offline batch.
    pub online: bool,
    pub has_photo: bool,
    pub previous: Option<Fix>,
}

/// The decision and status of one event: every rule, in the order of API.md's reasons.
pub fn judge(facts: Facts, policy: &Policy) -> (Decision, Status) {
    let mut reasons = location_reasons(&facts.fence, facts.reported_accuracy_m, policy);
    reasons.extend(mock_reason(facts.is_mock, policy));
    reasons.extend(clock_reasons(facts.fix.at, facts.received_at, facts.online, policy));
    reasons.extend(travel_reason(facts.previous.as_ref(), &facts.fix, policy));
    reasons.extend(photo_reason(facts.has_photo, policy));
    let status = status(policy.geofence_mode, facts.fence.verdict, &reasons);
    (Decision::new(facts.fence, reasons), status)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geofence::{FenceRef, LatLon};
    use chrono::TimeZone;
    use uuid::Uuid;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 4, 0, 0).unwrap()
    }

    fn fix(lat: f64, lon: f64, accuracy_m: f64, at: DateTime<Utc>) -> Fix {
        Fix {
            point: LatLon::new(lat, lon).unwrap(),
            accuracy_m,
            at,
        }
    }

    fn fence(verdict: Verdict) -> FenceDecision {
        FenceDecision {
            verdict,
            fence: (verdict != Verdict::NoGeofence).then(|| FenceRef {
                id: Uuid::nil(),
                version: 1,
                name: "HQ".into(),
                site_id: Uuid::nil(),
            }),
            distance_m: (verdict != Verdict::NoGeofence).then_some(0.0),
        }
    }

    fn facts(verdict: Verdict) -> Facts {
        Facts {
            fence: fence(verdict),
            fix: fix(12.97, 77.59, 10.0, now()),
            reported_accuracy_m: Some(10.0),
            is_mock: false,
            received_at: now(),
            online: true,
            has_photo: false,
            previous: None,
        }
    }

    #[test]
    fn clock_skew_edges() {
        let p = Policy::default(); // 300 s, 72 h
        let s = TimeDelta::seconds;
        assert!(
            clock_reasons(now() + s(300), now(), true, &p).is_empty(),
            "exactly the limit ahead"
        );
        assert_eq!(clock_reasons(now() + s(301), now(), true, &p), [Reason::ClockSkew]);
        assert_eq!(
            clock_reasons(now() + s(301), now(), false, &p),
            [Reason::ClockSkew],
            "ahead is skew offline too"
        );
        assert!(
            clock_reasons(now() - s(300), now(), true, &p).is_empty(),
            "exactly the limit behind"
        );
        assert_eq!(clock_reasons(now() - s(301), now(), true, &p), [Reason::ClockSkew]);
        assert!(
            clock_reasons(now() - s(301), now(), false, &p).is_empty(),
            "a batch item may be old"
        );
        assert!(clock_reasons(now() - TimeDelta::hours(72), now(), false, &p).is_empty());
        assert_eq!(
            clock_reasons(now() - TimeDelta::hours(72) - s(1), now(), false, &p),
            [Reason::StaleOfflineEvent]
        );
        assert_eq!(
            clock_reasons(now() - TimeDelta::hours(80), now(), true, &p),
            [Reason::ClockSkew, Reason::StaleOfflineEvent]
        );
    }

    #[test]
    fn mock_and_photo_follow_the_policy() {
        let mut p = Policy::default();
        assert_eq!(mock_reason(true, &p), Some(Reason::MockLocation));
        assert_eq!(mock_reason(false, &p), None);
        p.allow_mock_location = true;
        assert_eq!(mock_reason(true, &p), None);
        assert_eq!(photo_reason(false, &p), None);
        p.require_photo = true;
        assert_eq!(photo_reason(false, &p), Some(Reason::PhotoRequired));
        assert_eq!(photo_reason(true, &p), None);
    }

    #[test]
    fn travel_speed_uses_distance_beyond_accuracy() {
        let p = Policy::default(); // 300 km/h
        let t0 = now();
        // Bangalore to Mumbai (~840 km) in an hour: impossible.
        let blr = fix(12.9716, 77.5946, 10.0, t0);
        let bom = fix(19.0760, 72.8777, 10.0, t0 + TimeDelta::hours(1));
        assert!(speed_kmh(&blr, &bom) > 800.0);
        assert_eq!(travel_reason(Some(&blr), &bom, &p), Some(Reason::ImpossibleTravel));
        // The same trip in four hours is a flight.
        let bom_later = fix(19.0760, 72.8777, 10.0, t0 + TimeDelta::hours(4));
        assert_eq!(travel_reason(Some(&blr), &bom_later, &p), None);
        // 150 m of jitter within two 100 m accuracy circles in one second is no travel.
        let jitter = fix(12.9716 + 150.0 / 111_195.0, 77.5946, 100.0, t0 + TimeDelta::seconds(1));
        let blr_rough = fix(12.9716, 77.5946, 100.0, t0);
        assert_eq!(speed_kmh(&blr_rough, &jitter), 0.0);
        // At the same instant, any distance beyond accuracy is infinitely fast; none is fine.
        let elsewhere = fix(12.9816, 77.5946, 10.0, t0);
        assert_eq!(speed_kmh(&blr, &elsewhere), f64::INFINITY);
        assert_eq!(
            travel_reason(Some(&blr), &elsewhere, &p),
            Some(Reason::ImpossibleTravel)
        );
        assert_eq!(travel_reason(Some(&blr), &blr, &p), None);
        assert_eq!(travel_reason(None, &bom, &p), None);
    }

    #[test]
    fn travel_limit_is_exclusive() {
        let mut p = Policy::default();
        let a = fix(0.0, 0.0, 0.0, now());
        let b = fix(0.0, 1.0, 0.0, now() + TimeDelta::hours(1));
        let v = speed_kmh(&a, &b);
        p.max_speed_kmh = v;
        assert_eq!(travel_reason(Some(&a), &b, &p), None, "exactly the limit");
        p.max_speed_kmh = v - 0.001;
        assert_eq!(travel_reason(Some(&a), &b, &p), Some(Reason::ImpossibleTravel));
    }

    #[test]
    fn modes_make_statuses() {
        use GeofenceMode::*;
        use Verdict::*;
        let none: &[Reason] = &[];
        let some = &[Reason::ClockSkew];
        assert_eq!(status(Enforce, Inside, none), Status::Accepted);
        assert_eq!(status(Enforce, Inside, some), Status::Rejected);
        assert_eq!(status(Enforce, Outside, &[Reason::OutsideGeofence]), Status::Rejected);
        assert_eq!(
            status(Enforce, NoGeofence, &[Reason::NoGeofenceAssigned]),
            Status::Rejected
        );
        assert_eq!(
            status(Enforce, Uncertain, none),
            Status::Rejected,
            "anything but inside"
        );
        assert_eq!(status(Flag, Inside, none), Status::Accepted);
        assert_eq!(status(Flag, Outside, &[Reason::OutsideGeofence]), Status::Flagged);
        assert_eq!(status(Flag, Inside, some), Status::Flagged);
        assert_eq!(status(Off, Outside, &[Reason::OutsideGeofence]), Status::Accepted);
        assert_eq!(status(Off, Inside, some), Status::Accepted);
    }

    #[test]
    fn judge_collects_every_reason_in_order() {
        let mut p = Policy {
            require_photo: true,
            max_accuracy_m: 5.0,
            ..Policy::default()
        };
        let mut f = facts(Verdict::Outside);
        f.is_mock = true;
        f.fix.at = now() + TimeDelta::hours(1);
        f.previous = Some(fix(19.0760, 72.8777, 10.0, now()));
        let (decision, status) = judge(f.clone(), &p);
        assert_eq!(
            decision.reasons,
            [
                Reason::OutsideGeofence,
                Reason::AccuracyTooLow,
                Reason::MockLocation,
                Reason::ClockSkew,
                Reason::ImpossibleTravel,
                Reason::PhotoRequired
            ]
        );
        assert_eq!(status, Status::Flagged);
        p.geofence_mode = GeofenceMode::Off;
        let (decision, status) = judge(f, &p);
        assert_eq!(status, Status::Accepted);
        assert_eq!(decision.verdict, Verdict::Outside, "off still records the verdict");
        assert_eq!(decision.reasons.len(), 6, "and the reasons");
        let (decision, status) = judge(facts(Verdict::Inside), &Policy::default());
        assert!(decision.reasons.is_empty());
        assert_eq!(status, Status::Accepted);
    }
}
