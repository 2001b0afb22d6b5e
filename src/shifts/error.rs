//! Why a shift, assignment or holiday could not be stored or read.

use crate::access::Denied;
use crate::field::InputError;
use crate::storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum ShiftError {
    /// The body as sent is not one the server accepts, naming the field.
    #[error(transparent)]
    Input(#[from] InputError),
    /// The caller lacks `shifts.read` or `shifts.manage`.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such shift, assignment or holiday in the caller's organisation.
    #[error("no such resource")]
    NotFound,
    /// A retired shift neither changes nor retires again.
    #[error("the shift is retired: it does not change")]
    Retired,
    /// The organisation (or that site) has a holiday on that date already.
    #[error("a holiday on this date exists already")]
    DuplicateHoliday,
    #[error(transparent)]
    Storage(#[from] StorageError),
}
