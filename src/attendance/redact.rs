//! The one way an attendance event leaves the server: every answer that carries events
//! (recording, reads, batches) builds its views with [`present`], which decides per subject
//! what the caller may see and applies it with [`view`].
//!
//! A caller who may see an event but not its location gets `location: null,
//! location_redacted: true` and no `decision.distance_m` (a distance to a known fence is a
//! location). The photo link needs both the photo and the location permission (a photo
//! shows where it was taken). [`present`] also writes the audit of what it disclosed about
//! other people: one `location.disclosed` entry per subject per response, with the request
//! id, before the answer leaves. A photo link is not the photo: `photo.disclosed` is written
//! where the image itself is served (`GET /v1/attendance/events/{id}/photo`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Caller, Family};
use crate::audit::{Action, Disclosures};
use crate::storage::events::Decision;
use crate::storage::events::{Kind, Location, Source, Status, StoredEvent};
use crate::storage::{Repo, StorageError};

/// What a caller may see of one subject's events (beyond time, kind, status and verdict).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Visibility {
    pub location: bool,
    pub photo: bool,
}

impl Visibility {
    /// Whether the caller may have the photo, as a link or the image: the one rule for both.
    /// It needs the location permission too: API.md gives an event whose location is
    /// redacted no photo URL, and a selfie shows where it was taken.
    pub fn photo_shown(self) -> bool {
        self.photo && self.location
    }
}

/// An event as answered.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct EventView {
    pub id: Uuid,
    pub client_event_id: Uuid,
    pub user_id: Uuid,
    pub kind: Kind,
    pub captured_at: DateTime<Utc>,
    pub received_at: DateTime<Utc>,
    pub status: Status,
    pub decision: Decision,
    /// `null` when redacted or removed by retention.
    pub location: Option<Location>,
    /// The caller may not see this event's location.
    pub location_redacted: bool,
    /// Where the caller may fetch the event's photo, if it has one they may see.
    pub photo_url: Option<String>,
    /// Who wrote the event: `device` (the phone), `auto` (the server closing a day left
    /// open) or `request` (an approved attendance request).
    pub source: Source,
    /// The attendance request whose approval wrote this event (`GET
    /// /v1/attendance/requests/{id}`); `null` unless `source` is `request`.
    pub request_id: Option<Uuid>,
}

/// The path of an event's photo.
pub fn photo_path(event_id: Uuid) -> String {
    format!("/v1/attendance/events/{event_id}/photo")
}

/// Applies a visibility to one event.
pub fn view(event: StoredEvent, visibility: Visibility) -> EventView {
    let mut decision = event.decision;
    let location = if visibility.location {
        event.location
    } else {
        decision.distance_m = None;
        None
    };
    let photo_url = event
        .photo_id
        .filter(|_| visibility.photo_shown())
        .map(|_| photo_path(event.id));
    EventView {
        id: event.id,
        client_event_id: event.client_event_id,
        user_id: event.user_id,
        kind: event.kind,
        captured_at: event.captured_at,
        received_at: event.received_at,
        status: event.status,
        decision,
        location,
        location_redacted: !visibility.location,
        photo_url,
        source: event.source,
        request_id: event.request_id,
    }
}

/// What `caller` may see of each subject's events (beyond time, kind, status and verdict),
/// for a whole answer with one relation query at most. Subjects outside the caller's
/// organisation never reach here: events are read by the caller's `org_id`.
async fn visibilities(
    repo: &dyn Repo,
    caller: &Caller,
    subjects: &[Uuid],
) -> Result<HashMap<Uuid, Visibility>, StorageError> {
    let sight = crate::visibility::sight(repo, caller, &[Family::Location, Family::Photo], subjects).await?;
    Ok(subjects
        .iter()
        .map(|s| {
            let visibility = Visibility {
                location: sight.sees(Family::Location, *s),
                photo: sight.sees(Family::Photo, *s),
            };
            (*s, visibility)
        })
        .collect())
}

/// Views of events for `caller`, in the given order.
pub struct Presented {
    pub views: Vec<EventView>,
}

/// Redacts events for `caller` and audits the locations this shows of other people.
pub async fn present(repo: &dyn Repo, caller: &Caller, events: Vec<StoredEvent>) -> Result<Presented, StorageError> {
    let mut subjects: Vec<Uuid> = events.iter().map(|e| e.user_id).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let visible = visibilities(repo, caller, &subjects).await?;
    let mut disclosures = Disclosures::new(caller.audit());
    let views: Vec<EventView> = events
        .into_iter()
        .map(|event| {
            let visibility = visible.get(&event.user_id).copied().unwrap_or_default();
            let view = view(event, visibility);
            if view.location.is_some() {
                disclosures.record(Action::LocationDisclosed, view.user_id, Some(view.id.to_string()));
            }
            view
        })
        .collect();
    disclosures.write(repo).await?;
    Ok(Presented { views })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geofence::Verdict;

    fn event() -> StoredEvent {
        StoredEvent {
            id: Uuid::now_v7(),
            user_id: Uuid::now_v7(),
            client_event_id: Uuid::now_v7(),
            request_sha256: "x".into(),
            kind: Kind::CheckIn,
            captured_at: Utc::now(),
            received_at: Utc::now(),
            status: Status::Flagged,
            decision: Decision {
                verdict: Verdict::Outside,
                geofence_id: Some(Uuid::nil()),
                geofence_version: Some(1),
                geofence_name: Some("HQ".into()),
                site_id: Some(Uuid::nil()),
                distance_m: Some(42.0),
                reasons: vec![super::super::Reason::OutsideGeofence],
            },
            location: Some(Location {
                lat: 12.9,
                lon: 77.5,
                accuracy_m: Some(5.0),
                altitude_m: None,
                provider: None,
                is_mock: false,
            }),
            photo_id: Some(Uuid::now_v7()),
            source: Source::Device,
            request_id: None,
        }
    }

    #[test]
    fn hidden_location_hides_distance_and_photo() {
        let e = event();
        let v = view(
            e.clone(),
            Visibility {
                location: false,
                photo: true,
            },
        );
        assert_eq!(v.location, None);
        assert!(v.location_redacted);
        assert_eq!(v.decision.distance_m, None);
        assert_eq!(v.decision.verdict, Verdict::Outside, "the verdict stays");
        assert_eq!(v.decision.geofence_name.as_deref(), Some("HQ"));
        assert_eq!(v.photo_url, None);
    }

    #[test]
    fn full_visibility_shows_everything() {
        let e = event();
        let v = view(
            e.clone(),
            Visibility {
                location: true,
                photo: true,
            },
        );
        assert_eq!(v.location, e.location);
        assert!(!v.location_redacted);
        assert_eq!(v.decision.distance_m, Some(42.0));
        assert_eq!(v.photo_url, Some(photo_path(e.id)));
        let v = view(
            e,
            Visibility {
                location: true,
                photo: false,
            },
        );
        assert_eq!(v.photo_url, None);
        assert!(v.location.is_some());
    }

    #[test]
    fn removed_location_is_not_called_redacted() {
        let mut e = event();
        e.location = None;
        e.photo_id = None;
        let v = view(
            e,
            Visibility {
                location: true,
                photo: true,
            },
        );
        assert_eq!(v.location, None);
        assert!(!v.location_redacted);
        assert_eq!(v.photo_url, None);
    }
}
