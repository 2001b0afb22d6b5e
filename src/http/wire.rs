//! The protobuf forms of what only the HTTP layer answers with: problem documents, list
//! pages and batch results (the bodies' own conversions live with their domain types); and
//! the schemas of the binary bodies in the OpenAPI document.

use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::{PartialSchema, ToSchema};

use crate::attendance::redact::EventView;
use crate::http::error::Problem;
use crate::http::page::List;
use crate::proto::v1;
use crate::storage::applogs::AppLog;

/// Raw bytes of `media_type`, as a schema.
fn binary(media_type: &str, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Binary)))
        .content_media_type(media_type)
        .description(Some(description))
        .into()
}

/// The schema of a protobuf body (`application/x-protobuf`), the alternative to JSON where a
/// route speaks both: list it as `(ProtobufMessage = "application/x-protobuf")` next to the
/// JSON type, and name the message in the operation's description.
pub struct ProtobufMessage;

impl PartialSchema for ProtobufMessage {
    fn schema() -> RefOr<Schema> {
        binary(
            crate::proto::MEDIA_TYPE,
            "a protobuf message of `proto/muster/v1` carrying the same fields as the JSON form; \
             the operation names the message",
        )
    }
}

impl ToSchema for ProtobufMessage {}

/// The schema of an image body (`image/jpeg`, `image/png` or `image/webp`).
pub struct Image;

impl PartialSchema for Image {
    fn schema() -> RefOr<Schema> {
        binary("image/*", "a JPEG, PNG or WebP image")
    }
}

impl ToSchema for Image {}

/// The result of one batch item, in the order sent.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchItemResult {
    /// 201 (recorded), 200 (already recorded with this body), 409 (the id was used for
    /// another body) or 422 (invalid item).
    pub status_code: u16,
    pub event: Option<EventView>,
    pub error: Option<Problem>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct BatchResult {
    pub results: Vec<BatchItemResult>,
}

impl From<Problem> for v1::Problem {
    fn from(p: Problem) -> Self {
        v1::Problem {
            r#type: p.kind,
            title: p.title,
            status: u32::from(p.status),
            detail: p.detail,
            code: p.code.as_str().to_owned(),
            errors: p
                .errors
                .into_iter()
                .map(|e| v1::FieldError {
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        }
    }
}

impl From<BatchResult> for v1::BatchResult {
    fn from(b: BatchResult) -> Self {
        v1::BatchResult {
            results: b
                .results
                .into_iter()
                .map(|r| v1::BatchItemResult {
                    status_code: u32::from(r.status_code),
                    event: r.event.map(Into::into),
                    error: r.error.map(Into::into),
                })
                .collect(),
        }
    }
}

impl From<List<EventView>> for v1::RecordedEventPage {
    fn from(list: List<EventView>) -> Self {
        v1::RecordedEventPage {
            items: list.items.into_iter().map(Into::into).collect(),
            next_cursor: list.next_cursor,
        }
    }
}

impl From<List<AppLog>> for v1::AppLogPage {
    fn from(list: List<AppLog>) -> Self {
        v1::AppLogPage {
            items: list.items.into_iter().map(Into::into).collect(),
            next_cursor: list.next_cursor,
        }
    }
}
