//! Errors of the geofence module: one `FieldError` per broken rule, naming the field path
//! the client wrote (`geometry.coordinates[0][3]`), so the HTTP layer can put them
//! straight into the problem document's `errors[]`.

use crate::field::FieldError;

/// The module's error enum, for callers that want one `?`-able type; the API layer maps
/// both variants to 422 `validation_failed` with `errors` as the problem's `errors[]`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GeofenceError {
    #[error("invalid geometry ({} error(s))", .0.len())]
    InvalidGeometry(Vec<FieldError>),
    #[error("invalid location ({} error(s))", .0.len())]
    InvalidLocation(Vec<FieldError>),
}

impl GeofenceError {
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            GeofenceError::InvalidGeometry(e) | GeofenceError::InvalidLocation(e) => e,
        }
    }
}
