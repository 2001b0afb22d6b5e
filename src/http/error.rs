//! Every error answer of the server, decided in one place.
//!
//! Handlers return `ApiError`; module errors convert into it here, and only here, so the
//! mapping of a failure to a status and a stable `code` is written once. Answers are RFC 9457
//! `application/problem+json`. A 5xx body is opaque: its cause goes to the log (with the
//! request id from the current span), never to the client.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use std::fmt;
use utoipa::ToSchema;

use crate::access::Denied;
use crate::attendance::error::AttendanceError;
use crate::auth::password::HashError;
use crate::field::{FieldError, InputError};
use crate::photos::{IngestError, StoreError};
use crate::reports::ReportError;
use crate::requests::error::RequestError;
use crate::shifts::error::ShiftError;
use crate::storage::StorageError;
use crate::storage::users::UserWriteError;
use crate::uploads::UploadError;

/// The stable machine codes of the API.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    MalformedRequest,
    ValidationFailed,
    Unauthorized,
    Forbidden,
    NotFound,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    NotAcceptable,
    RequestTimeout,
    RateLimited,
    Unavailable,
    Internal,
}

impl Code {
    /// Every code, for the OpenAPI document's response components (`http::problems`).
    pub const ALL: [Code; 13] = [
        Code::MalformedRequest,
        Code::ValidationFailed,
        Code::Unauthorized,
        Code::Forbidden,
        Code::NotFound,
        Code::Conflict,
        Code::PayloadTooLarge,
        Code::UnsupportedMediaType,
        Code::NotAcceptable,
        Code::RequestTimeout,
        Code::RateLimited,
        Code::Unavailable,
        Code::Internal,
    ];

    pub fn status(self) -> StatusCode {
        match self {
            Code::MalformedRequest => StatusCode::BAD_REQUEST,
            Code::ValidationFailed => StatusCode::UNPROCESSABLE_ENTITY,
            Code::Unauthorized => StatusCode::UNAUTHORIZED,
            Code::Forbidden => StatusCode::FORBIDDEN,
            Code::NotFound => StatusCode::NOT_FOUND,
            Code::Conflict => StatusCode::CONFLICT,
            Code::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Code::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Code::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Code::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Code::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Code::MalformedRequest => "malformed_request",
            Code::ValidationFailed => "validation_failed",
            Code::Unauthorized => "unauthorized",
            Code::Forbidden => "forbidden",
            Code::NotFound => "not_found",
            Code::Conflict => "conflict",
            Code::PayloadTooLarge => "payload_too_large",
            Code::UnsupportedMediaType => "unsupported_media_type",
            Code::NotAcceptable => "not_acceptable",
            Code::RequestTimeout => "request_timeout",
            Code::RateLimited => "rate_limited",
            Code::Unavailable => "unavailable",
            Code::Internal => "internal",
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: String,
    pub title: String,
    pub status: u16,
    pub detail: String,
    pub code: Code,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// An error answer. Build it with the constructors; convert module errors with `?`.
pub struct ApiError {
    code: Code,
    detail: String,
    errors: Vec<FieldError>,
    retry_after_s: Option<u64>,
    /// The cause of a 5xx, for the log only.
    cause: Option<anyhow::Error>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(code: Code, detail: impl Into<String>) -> Self {
        ApiError {
            code,
            detail: detail.into(),
            errors: Vec::new(),
            retry_after_s: None,
            cause: None,
        }
    }

    pub fn malformed(detail: impl Into<String>) -> Self {
        Self::new(Code::MalformedRequest, detail)
    }

    /// 422 naming the invalid fields.
    pub fn invalid(errors: Vec<FieldError>) -> Self {
        let detail = match errors.as_slice() {
            [one] => format!("{}: {}", one.field, one.message),
            _ => format!("{} fields are invalid", errors.len()),
        };
        ApiError {
            errors,
            ..Self::new(Code::ValidationFailed, detail)
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid(vec![FieldError::new(field, message)])
    }

    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(Code::Unauthorized, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(Code::Forbidden, detail)
    }

    /// 404 for what does not exist and for what the caller may not know exists: the two
    /// must be indistinguishable, so the text never names the object.
    pub fn not_found() -> Self {
        Self::new(Code::NotFound, "no such resource")
    }

    pub fn conflict(field: impl Into<String>, message: impl Into<String>) -> Self {
        let error = FieldError::new(field, message);
        ApiError {
            detail: error.message.clone(),
            errors: vec![error],
            ..Self::new(Code::Conflict, "")
        }
    }

    pub fn too_large(what: &str, limit: u64) -> Self {
        Self::new(
            Code::PayloadTooLarge,
            format!("{what} is larger than the limit of {limit} bytes"),
        )
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(Code::UnsupportedMediaType, detail)
    }

    /// 408: the client did not finish sending its body within `limit_s` seconds.
    pub fn request_timeout(limit_s: u64) -> Self {
        Self::new(
            Code::RequestTimeout,
            format!("the request body was not received within {limit_s} s"),
        )
    }

    pub fn rate_limited(retry_after_s: u64) -> Self {
        ApiError {
            retry_after_s: Some(retry_after_s.max(1)),
            ..Self::new(Code::RateLimited, "too many requests")
        }
    }

    pub fn unavailable(cause: impl Into<anyhow::Error>) -> Self {
        ApiError {
            cause: Some(cause.into()),
            ..Self::new(Code::Unavailable, "a backing service is unavailable")
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        ApiError {
            cause: Some(cause.into()),
            ..Self::new(Code::Internal, "internal error")
        }
    }

    pub fn code(&self) -> Code {
        self.code
    }

    /// The problem document this error answers with.
    pub fn problem(&self) -> Problem {
        let status = self.code.status();
        Problem {
            kind: format!("urn:muster:problem:{}", self.code.as_str()),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail.clone(),
            code: self.code,
            errors: self.errors.clone(),
        }
    }
}

impl fmt::Debug for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.code.as_str(), self.code.status(), self.detail)?;
        if let Some(cause) = &self.cause {
            write!(f, ": {cause:#}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.code.status()
    }

    fn error_response(&self) -> HttpResponse {
        if let Some(cause) = &self.cause {
            tracing::error!(code = self.code.as_str(), error = %format!("{cause:#}"), "request failed");
        }
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        ));
        if let Some(secs) = self.retry_after_s {
            response.insert_header((header::RETRY_AFTER, secs.to_string()));
        }
        // RFC 9110 §15.5.9: the rest of a timed-out body may still be arriving, so the
        // connection cannot carry another request.
        if self.code == Code::RequestTimeout {
            response.force_close();
        }
        response.json(self.problem())
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        if e.is_unavailable() {
            ApiError::unavailable(e)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<HashError> for ApiError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after } => ApiError {
                retry_after_s: Some(retry_after.as_secs().max(1)),
                ..Self::new(Code::Unavailable, e.to_string())
            },
            HashError::Failed(_) => ApiError::internal(e),
        }
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        let message = e.to_string();
        match e {
            IngestError::TooLarge { limit } => ApiError::too_large("the photo", limit),
            IngestError::Unsupported { .. } => ApiError::unsupported_media_type(message),
            IngestError::TooManyPixels { .. } | IngestError::Corrupt(_) => ApiError::field("photo", message),
            IngestError::Stream(_) => ApiError::malformed(message),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() {
            ApiError::unavailable(e)
        } else {
            ApiError::internal(e)
        }
    }
}

impl From<crate::privacy::PrivacyError> for ApiError {
    fn from(e: crate::privacy::PrivacyError) -> Self {
        match e {
            crate::privacy::PrivacyError::Storage(e) => e.into(),
            crate::privacy::PrivacyError::Store(e) => e.into(),
        }
    }
}

impl From<UserWriteError> for ApiError {
    fn from(e: UserWriteError) -> Self {
        let message = e.to_string();
        match e {
            UserWriteError::NotFound => ApiError::not_found(),
            UserWriteError::EmailTaken => ApiError::conflict("email", message),
            UserWriteError::EmployeeCodeTaken => ApiError::conflict("employee_code", message),
            UserWriteError::UnknownManager | UserWriteError::ManagerCycle => ApiError::field("manager_id", message),
            UserWriteError::UnknownSite => ApiError::field("site_ids", message),
            UserWriteError::LastOrgAdmin => ApiError::field("roles", message),
        }
    }
}

/// A single invalid field is a 422, so conversions that fail on one field (such as a
/// protobuf message into a request type) can use `?`.
impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        ApiError::invalid(vec![e])
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> Self {
        ApiError::forbidden(e.to_string())
    }
}

impl From<UploadError> for ApiError {
    fn from(e: UploadError) -> Self {
        match e {
            UploadError::Ingest(e) => e.into(),
            UploadError::Refused(message) => ApiError::field("photo_id", message),
            UploadError::Store(e) => e.into(),
            UploadError::Storage(e) => e.into(),
            UploadError::Aborted(e) => ApiError::internal(e),
        }
    }
}

impl From<InputError> for ApiError {
    fn from(e: InputError) -> Self {
        match e {
            InputError::Malformed(detail) => ApiError::malformed(detail),
            InputError::Invalid(errors) => ApiError::invalid(errors),
        }
    }
}

impl From<AttendanceError> for ApiError {
    fn from(e: AttendanceError) -> Self {
        let message = e.to_string();
        match e {
            AttendanceError::Input(e) => e.into(),
            AttendanceError::Reused => {
                ApiError::conflict("client_event_id", "was already used for an event with a different body")
            }
            AttendanceError::PhotoTaken => ApiError::field("photo_id", "is attached to another event"),
            AttendanceError::Photo(e) => e.into(),
            AttendanceError::Storage(e) => e.into(),
            AttendanceError::Unanswered(_) => ApiError::internal(anyhow::anyhow!(message)),
        }
    }
}

impl From<ReportError> for ApiError {
    fn from(e: ReportError) -> Self {
        match e {
            ReportError::Storage(e) => e.into(),
            ReportError::Encode(e) => ApiError::internal(e),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> Self {
        let message = e.to_string();
        match e {
            RequestError::Input(e) => e.into(),
            RequestError::Denied(e) => e.into(),
            RequestError::OwnRequest | RequestError::NotRequester => ApiError::forbidden(message),
            RequestError::NotFound => ApiError::not_found(),
            RequestError::PendingExists => ApiError::conflict(
                "kind",
                "a pending request of this kind for this date exists already: cancel it or await its decision",
            ),
            RequestError::Corrected => ApiError::conflict("event_id", message),
            RequestError::Decided(_) => ApiError::conflict("status", format!("{message}: a decision is final")),
            RequestError::Photo(e) => e.into(),
            RequestError::PhotoTaken => ApiError::field("photo_id", "is attached to another request"),
            RequestError::Storage(e) => e.into(),
        }
    }
}

impl From<ShiftError> for ApiError {
    fn from(e: ShiftError) -> Self {
        let message = e.to_string();
        match e {
            ShiftError::Input(e) => e.into(),
            ShiftError::Denied(e) => e.into(),
            ShiftError::NotFound => ApiError::not_found(),
            ShiftError::Retired => ApiError::conflict("retired_at", message),
            ShiftError::DuplicateHoliday => ApiError::conflict(
                "date",
                "the organisation (or this site) has a holiday on this date already",
            ),
            ShiftError::Storage(e) => e.into(),
        }
    }
}
