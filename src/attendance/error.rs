//! Why a check-in was not recorded. A rejection under the policy is not among these: it is a
//! recorded event with `status: "rejected"`.

use crate::field::InputError;
use crate::storage::StorageError;
use crate::uploads::UploadError;

#[derive(Debug, thiserror::Error)]
pub enum AttendanceError {
    /// The event as sent cannot be judged.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The `client_event_id` was already used for an event with a different body.
    #[error("client_event_id was already used for an event with a different body")]
    Reused,
    /// The photo named by `photo_id` went to another event first.
    #[error("photo_id is attached to another event")]
    PhotoTaken,
    /// The event's photo could not be stored or claimed.
    #[error(transparent)]
    Photo(#[from] UploadError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// An invariant of the use case broke (a look-up or a batch item left unanswered): a
    /// server fault, never the client's.
    #[error("{0} was left unanswered")]
    Unanswered(&'static str),
}

impl AttendanceError {
    /// Whether the failure is the item's own, so that the rest of a batch goes on (bad input
    /// and conflicts), rather than the request's (the database, the photo store).
    pub fn is_item_fault(&self) -> bool {
        match self {
            AttendanceError::Input(InputError::Invalid(_))
            | AttendanceError::Reused
            | AttendanceError::PhotoTaken
            | AttendanceError::Photo(UploadError::Refused(_)) => true,
            AttendanceError::Input(InputError::Malformed(_))
            | AttendanceError::Photo(_)
            | AttendanceError::Storage(_)
            | AttendanceError::Unanswered(_) => false,
        }
    }
}
