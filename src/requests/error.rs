//! Why an attendance request could not be filed, read or decided.

use crate::access::Denied;
use crate::field::InputError;
use crate::storage::StorageError;
use crate::storage::requests::RequestStatus;
use crate::uploads::UploadError;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// The request as sent is not one the server accepts, naming the field.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The caller lacks the permission the action needs.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// Nobody decides their own request.
    #[error("nobody approves or rejects their own request")]
    OwnRequest,
    /// Only the requester cancels a request.
    #[error("only the requester may cancel a request")]
    NotRequester,
    /// No such request, or not one the caller may see.
    #[error("no such request")]
    NotFound,
    /// The requester already has a pending request of this kind for this day.
    #[error("a pending request of this kind for this day exists already")]
    PendingExists,
    /// The event named by `event_id` has an approved correction already: an event is
    /// corrected once.
    #[error("event_id names an event corrected already by an approved request")]
    Corrected,
    /// The request was decided already; decisions are final.
    #[error("the request is {} already", .0.as_str())]
    Decided(RequestStatus),
    /// The photo named by `photo_id` cannot be attached.
    #[error(transparent)]
    Photo(#[from] UploadError),
    /// The photo went to another request first.
    #[error("photo_id is attached to another request")]
    PhotoTaken,
    #[error(transparent)]
    Storage(#[from] StorageError),
}
