//! The one way an attendance request leaves the server: [`present`] turns stored requests
//! into [`RequestView`]s for a caller, with a photo link only where the caller may have the
//! photo (the rule of event photos, `attendance::redact::Visibility::photo_shown`). The
//! decision is always there for the requester to see.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::access::{Caller, Family};
use crate::attendance::redact::Visibility;
use crate::storage::StorageError;
use crate::storage::requests::{RequestKind, RequestStatus, StoredRequest};
use crate::storage::users::UserStore;

/// An attendance request as answered.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct RequestView {
    pub id: Uuid,
    pub user_id: Uuid,
    /// The local day, `YYYY-MM-DD`.
    #[schema(value_type = String, format = Date)]
    pub date: NaiveDate,
    pub kind: RequestKind,
    /// The proposed local time, `HH:MM`.
    #[schema(example = "09:05")]
    pub time: String,
    /// The instant `date` and `time` named in the requester's time zone when the request was
    /// filed: the approved event's `captured_at`.
    pub proposed_at: DateTime<Utc>,
    /// The event a correction is about.
    pub event_id: Option<Uuid>,
    /// `null` once the requester's personal data was erased.
    pub reason: Option<String>,
    pub photo_id: Option<Uuid>,
    /// Where the caller may fetch the request's photo (`GET /v1/attendance/requests/{id}/photo`),
    /// if it has one they may see: it needs the `attendance.photo.read:*` and
    /// `attendance.location.read:*` scopes over the requester, like an event's photo.
    pub photo_url: Option<String>,
    pub status: RequestStatus,
    pub created_at: DateTime<Utc>,
    /// Who approved or rejected it; the requester for a cancellation.
    pub decided_by: Option<Uuid>,
    pub decided_at: Option<DateTime<Utc>>,
    /// The approver's or rejecter's comment; `null` once the requester's data was erased.
    pub comment: Option<String>,
    /// The event the approval wrote.
    pub result_event_id: Option<Uuid>,
}

/// The path of a request's photo.
pub fn photo_path(request_id: Uuid) -> String {
    format!("/v1/attendance/requests/{request_id}/photo")
}

/// A request as answered, its photo link shown or not.
pub fn view(r: StoredRequest, photo_shown: bool) -> RequestView {
    RequestView {
        id: r.id,
        user_id: r.user_id,
        date: r.date,
        kind: r.kind,
        time: r.time.format("%H:%M").to_string(),
        proposed_at: r.proposed_at,
        event_id: r.event_id,
        reason: r.reason,
        photo_id: r.photo_id,
        photo_url: r.photo_id.filter(|_| photo_shown).map(|_| photo_path(r.id)),
        status: r.status,
        created_at: r.created_at,
        decided_by: r.decided_by,
        decided_at: r.decided_at,
        comment: r.comment,
        result_event_id: r.result_event_id,
    }
}

/// Views of `requests` for `caller`, in order, with one relation query at most.
pub async fn present(
    users: &dyn UserStore,
    caller: &Caller,
    requests: Vec<StoredRequest>,
) -> Result<Vec<RequestView>, StorageError> {
    let mut subjects: Vec<Uuid> = requests.iter().map(|r| r.user_id).collect();
    subjects.sort_unstable();
    subjects.dedup();
    let sight = crate::visibility::sight(users, caller, &[Family::Location, Family::Photo], &subjects).await?;
    Ok(requests
        .into_iter()
        .map(|r| {
            let visibility = Visibility {
                location: sight.sees(Family::Location, r.user_id),
                photo: sight.sees(Family::Photo, r.user_id),
            };
            view(r, visibility.photo_shown())
        })
        .collect())
}
