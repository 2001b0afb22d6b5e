//! An attendance event as the server keeps it: what was reported, what was decided, and
//! the small enums both sides of the wire share.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use async_trait::async_trait;

use super::error::Result;
use super::names::stored_enum;
use super::orgs::Policy;
use super::page::{Page, PageRequest};
use crate::geofence::{FenceDecision, LatLon, Verdict};

stored_enum! {
    /// Check-in or check-out.
    pub enum Kind {
        CheckIn => "check_in",
        CheckOut => "check_out",
    }
}

stored_enum! {
    /// What the policy made of an event.
    pub enum Status {
        Accepted => "accepted",
        Flagged => "flagged",
        Rejected => "rejected",
    }
}

stored_enum! {
    /// Who wrote an event: the phone, the server closing a day left open (auto check-out), or
    /// the approval of an attendance request.
    #[derive(Default)]
    pub enum Source {
        #[default]
        Device => "device",
        Auto => "auto",
        Request => "request",
    }
}

stored_enum! {
    /// Where a location fix came from, as the phone reports it.
    pub enum Provider {
        Gps => "gps",
        Network => "network",
        Fused => "fused",
    }
}

/// The geofence verdict's stable name, as stored and answered.
pub fn verdict_name(v: Verdict) -> &'static str {
    match v {
        Verdict::Inside => "inside",
        Verdict::Outside => "outside",
        Verdict::Uncertain => "uncertain",
        Verdict::NoGeofence => "no_geofence",
    }
}

pub fn parse_verdict(s: &str) -> Option<Verdict> {
    [
        Verdict::Inside,
        Verdict::Outside,
        Verdict::Uncertain,
        Verdict::NoGeofence,
    ]
    .into_iter()
    .find(|v| verdict_name(*v) == s)
}

/// A reported location, validated.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
    pub accuracy_m: Option<f64>,
    pub altitude_m: Option<f64>,
    pub provider: Option<Provider>,
    pub is_mock: bool,
}

impl Location {
    /// The point for geometry; stored locations were validated on the way in.
    pub fn point(&self) -> Option<LatLon> {
        LatLon::new(self.lat, self.lon).ok()
    }
}

/// The phone that sent an event (personal data: erasure removes it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub id: Option<String>,
    pub model: Option<String>,
    pub os: Option<String>,
    pub os_version: Option<String>,
    pub app_version: Option<String>,
}

/// An event as stored. `location` is `None` once retention or erasure removed it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredEvent {
    pub id: Uuid,
    pub user_id: Uuid,
    pub client_event_id: Uuid,
    /// Hash of the canonical request: a retry with another body under the same
    /// `client_event_id` is told apart by it.
    pub request_sha256: String,
    pub kind: Kind,
    pub captured_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub status: Status,
    pub decision: Decision,
    pub location: Option<Location>,
    pub photo_id: Option<Uuid>,
    pub source: Source,
    /// The attendance request whose approval wrote this event (`source` is `Request`).
    pub request_id: Option<Uuid>,
}

/// An event to store, with the personal extras that are kept but not answered.
#[derive(Clone, Debug)]
pub struct NewEvent {
    pub org_id: Uuid,
    pub event: StoredEvent,
    pub device: Option<Device>,
    pub note: Option<String>,
}

/// Where and when a user was, for the travel-speed check.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fix {
    pub point: LatLon,
    pub accuracy_m: f64,
    pub at: DateTime<Utc>,
}

/// What recording one of a user's events reads before judging it, in one round trip.
#[derive(Clone, Debug, Default)]
pub struct EventContext {
    /// The event already stored under the request's `client_event_id`: this is a retry.
    pub existing: Option<StoredEvent>,
    /// The user's latest located event captured at or before the new one (the last
    /// recorded among equals): the "previous event" of the travel-speed rule.
    pub previous: Option<Fix>,
}

/// What judging a request's events needs, read in one shared statement.
#[derive(Clone, Debug)]
pub struct CheckInReads {
    /// The organisation's policy.
    pub policy: Policy,
    /// The user's sites, ascending.
    pub sites: Vec<Uuid>,
    /// What storage holds for each of the request's events, in order.
    pub contexts: Vec<EventContext>,
}

/// What storing an event came to. The database's unique key on
/// `(org_id, user_id, client_event_id)` decides between the first two, so concurrent
/// retries store one row.
#[derive(Clone, Debug)]
pub enum InsertOutcome {
    Inserted(StoredEvent),
    /// The user already has an event with this `client_event_id` (this one is not stored).
    Existing(StoredEvent),
    /// The photo is attached to another event.
    PhotoTaken,
}

/// Which events a list may show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventScope {
    Org,
    /// The viewer's own events and those of everyone whose manager chain contains them.
    TeamOf(Uuid),
    User(Uuid),
}

/// Filters of `GET /v1/attendance/events`.
#[derive(Clone, Copy, Debug)]
pub struct EventFilter {
    pub scope: EventScope,
    /// `captured_at >= from`.
    pub from: Option<DateTime<Utc>>,
    /// `captured_at < to`.
    pub to: Option<DateTime<Utc>>,
    pub kind: Option<Kind>,
    pub status: Option<Status>,
}

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

    /// The decision on an event the server writes without a location (an approved
    /// request's, an auto check-out): judged against no geofence, for no reason.
    pub fn unlocated() -> Self {
        Decision {
            verdict: Verdict::NoGeofence,
            geofence_id: None,
            geofence_version: None,
            geofence_name: None,
            site_id: None,
            distance_m: None,
            reasons: Vec::new(),
        }
    }
}

/// Where a past event was, for re-judging it (`:simulate`).
#[derive(Clone, Copy, Debug)]
pub struct EventLocation {
    pub event_id: Uuid,
    pub point: LatLon,
    pub accuracy_m: f64,
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Events judged against `site_id` with `captured_at` in `[from, to)` that still have a
    /// location, oldest first, at most `limit`.
    async fn site_locations(
        &self,
        org_id: Uuid,
        site_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<EventLocation>>;
    /// Stores the event unless the user already has one with its `client_event_id`: the
    /// unique key decides (never a read before the write), so concurrent retries store one
    /// row and every loser gets the winner's event. Concurrent calls share a commit (group
    /// commit); each returns only once its event is committed.
    async fn insert_event(&self, event: NewEvent) -> Result<InsertOutcome>;
    /// What judging a request's events needs, in one statement: the org's policy, the
    /// user's sites, and for each item what [`EventStore::event_contexts`] finds.
    async fn check_in_reads(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        items: &[(Uuid, DateTime<Utc>)],
    ) -> Result<CheckInReads>;
    async fn get_event(&self, org_id: Uuid, event_id: Uuid) -> Result<Option<StoredEvent>>;
    /// For each `(client_event_id, at)`, in order, in one round trip: the user's event
    /// stored under that `client_event_id`, and their latest located event captured at or
    /// before `at`.
    async fn event_contexts(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        items: &[(Uuid, DateTime<Utc>)],
    ) -> Result<Vec<EventContext>>;
    /// Events in `captured_at` order (then id), filtered and scoped.
    async fn list_events(&self, org_id: Uuid, filter: &EventFilter, page: PageRequest) -> Result<Page<StoredEvent>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        // serde's names and the stored ones must agree (`stored_enum!` declares the latter).
        fn agree<T: Copy + PartialEq + std::fmt::Debug + Serialize>(
            all: &[T],
            name: fn(T) -> &'static str,
            parse: fn(&str) -> Option<T>,
        ) {
            for v in all {
                assert_eq!(parse(name(*v)), Some(*v));
                assert_eq!(serde_json::to_value(v).unwrap(), name(*v));
            }
        }
        agree(Kind::ALL, Kind::as_str, Kind::parse);
        agree(Status::ALL, Status::as_str, Status::parse);
        agree(Source::ALL, Source::as_str, Source::parse);
        agree(Provider::ALL, Provider::as_str, Provider::parse);
        assert_eq!(Source::default(), Source::Device);
        for v in [
            Verdict::Inside,
            Verdict::Outside,
            Verdict::Uncertain,
            Verdict::NoGeofence,
        ] {
            assert_eq!(parse_verdict(verdict_name(v)), Some(v));
            assert_eq!(serde_json::to_value(v).unwrap(), verdict_name(v));
        }
        assert_eq!(Kind::parse("lunch"), None);
    }
}
