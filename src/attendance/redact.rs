//! The one way an attendance event leaves the server: every answer that carries events
//! (recording, reads, batches) builds its views with [`present`], which decides per subject
//! what the caller may see and applies it with [`view`].
//!
//! A caller who may see an event but not its location gets `location: null,
//! location_redacted: true` and no `decision.distance_m` (a distance to a known fence is a
//! location). The photo link needs both the photo and the location permission (a photo
//! shows where it was taken). [`present`] also reports what it disclosed about other
//! people, so that disclosures can be audited at this single choke point.

use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

use super::Decision;
use super::event::{Kind, Location, Status, StoredEvent};
use crate::access::Family;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// What a caller may see of one subject's events (beyond time, kind, status and verdict).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Visibility {
    pub location: bool,
    pub photo: bool,
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
}

/// What one view disclosed about a person other than the caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disclosure {
    pub subject_id: Uuid,
    pub event_id: Uuid,
    pub location: bool,
    pub photo: bool,
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
        .filter(|_| visibility.photo && visibility.location)
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
    }
}

/// What `caller` may see of `subject_id`'s events. Subjects outside the caller's
/// organisation never reach here: events are read by the caller's `org_id`.
pub async fn visibility(state: &AppState, caller: &Caller, subject_id: Uuid) -> ApiResult<Visibility> {
    let location_scope = Family::Location.scope_in(caller.permissions);
    let photo_scope = Family::Photo.scope_in(caller.permissions);
    if location_scope.is_none() && photo_scope.is_none() {
        return Ok(Visibility::default());
    }
    let subject = state
        .repo
        .get_user(caller.org_id, subject_id)
        .await?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("event of an unknown user")))?;
    Ok(Visibility {
        location: caller.sees(state, Family::Location, &subject).await?,
        photo: caller.sees(state, Family::Photo, &subject).await?,
    })
}

/// Views of events for `caller`, in the given order, and what they disclosed about others.
pub struct Presented {
    pub views: Vec<EventView>,
    pub disclosures: Vec<Disclosure>,
}

/// Redacts events for `caller`, judging each subject once.
pub async fn present(state: &AppState, caller: &Caller, events: Vec<StoredEvent>) -> ApiResult<Presented> {
    let mut by_subject: HashMap<Uuid, Visibility> = HashMap::new();
    let mut views = Vec::with_capacity(events.len());
    let mut disclosures = Vec::new();
    for event in events {
        let visibility = match by_subject.get(&event.user_id) {
            Some(v) => *v,
            None => {
                let v = visibility(state, caller, event.user_id).await?;
                by_subject.insert(event.user_id, v);
                v
            }
        };
        let view = view(event, visibility);
        let photo = view.photo_url.is_some();
        let location = view.location.is_some();
        if view.user_id != caller.user_id && (location || photo) {
            disclosures.push(Disclosure {
                subject_id: view.user_id,
                event_id: view.id,
                location,
                photo,
            });
        }
        views.push(view);
    }
    Ok(Presented { views, disclosures })
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
