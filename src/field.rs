//! Invalid input, named by field: the one error shape every layer may use (geometry
//! validation, request parsing, use cases), which the HTTP layer puts into a problem
//! document's `errors[]` as it is.

use serde::Serialize;
use serde::de::DeserializeOwned;
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

/// Input that cannot be used: not parseable at all (400), or parsed with invalid fields (422).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InputError {
    #[error("{0}")]
    Malformed(String),
    #[error("{} invalid field(s)", .0.len())]
    Invalid(Vec<FieldError>),
}

impl From<FieldError> for InputError {
    fn from(e: FieldError) -> Self {
        InputError::Invalid(vec![e])
    }
}

impl From<Vec<FieldError>> for InputError {
    fn from(errors: Vec<FieldError>) -> Self {
        InputError::Invalid(errors)
    }
}

/// Parses JSON bytes into `T`: a syntax error is `Malformed`, a shape error names the field
/// by its path.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, InputError> {
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(json_error)
}

/// Converts an already parsed JSON value into `T`, with the errors of [`parse_json`]: for
/// a part of a body that must fail alone (one item of a batch).
pub fn parse_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, InputError> {
    serde_path_to_error::deserialize(value).map_err(json_error)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> InputError {
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        serde_json::error::Category::Data => {
            let field = if path == "." { String::new() } else { path };
            let message = inner.to_string();
            // serde_json appends " at line L column C"; the field path says more.
            let message = message.split(" at line ").next().unwrap_or(&message).to_owned();
            InputError::Invalid(vec![FieldError::new(field_or_body(field, &message), message)])
        }
        _ => InputError::Malformed(format!("request body is not valid JSON: {inner}")),
    }
}

/// serde reports a missing field at its parent, so the field's own name is appended; an
/// unknown field's path already ends with its name.
pub fn field_or_body(path: String, message: &str) -> String {
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    match (missing, path.is_empty()) {
        (Some(name), true) => name.to_owned(),
        (Some(name), false) => format!("{path}.{name}"),
        (None, true) => message
            .strip_prefix("unknown field `")
            .and_then(|rest| rest.split('`').next())
            .unwrap_or("body")
            .to_owned(),
        (None, false) => path,
    }
}
