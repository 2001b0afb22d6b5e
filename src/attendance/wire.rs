//! The protobuf forms of attendance answers (`proto/muster/v1/
//! attendance.proto`), which carry the same fields as the JSON ones.

use chrono::{DateTime, SecondsFormat, Utc};

use super::redact::EventView;
use crate::proto::v1;
use crate::storage::events::Decision;
use crate::storage::events::{Location, verdict_name};

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl From<Location> for v1::Location {
    fn from(l: Location) -> Self {
        v1::Location {
            lat: l.lat,
            lon: l.lon,
            accuracy_m: l.accuracy_m,
            altitude_m: l.altitude_m,
            provider: l.provider.map(|p| p.as_str().to_owned()),
            is_mock: l.is_mock,
        }
    }
}

impl From<Decision> for v1::Decision {
    fn from(d: Decision) -> Self {
        v1::Decision {
            verdict: verdict_name(d.verdict).to_owned(),
            geofence_id: d.geofence_id.map(|id| id.to_string()),
            geofence_version: d.geofence_version,
            geofence_name: d.geofence_name,
            site_id: d.site_id.map(|id| id.to_string()),
            distance_m: d.distance_m,
            reasons: d.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        }
    }
}

impl From<EventView> for v1::RecordedEvent {
    fn from(e: EventView) -> Self {
        v1::RecordedEvent {
            id: e.id.to_string(),
            client_event_id: e.client_event_id.to_string(),
            user_id: e.user_id.to_string(),
            kind: e.kind.as_str().to_owned(),
            captured_at: time(e.captured_at),
            received_at: time(e.received_at),
            status: e.status.as_str().to_owned(),
            decision: Some(e.decision.into()),
            location: e.location.map(Into::into),
            location_redacted: e.location_redacted,
            photo_url: e.photo_url,
            source: e.source.as_str().to_owned(),
            request_id: e.request_id.map(|id| id.to_string()),
        }
    }
}
