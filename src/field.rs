//! Invalid input, named by field: the one error shape every layer may use (geometry
//! validation, request parsing, use cases), which the HTTP layer puts into a problem
//! document's `errors[]` as it is.

use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

/// One invalid input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct FieldError {
    /// Path of the field, e.g. `location.lat` or `geometry.coordinates[0][3]`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}
