//! The error answers of the OpenAPI document, written once.
//!
//! Every [`Code`] of `http::error` is one response component,
//! `#/components/responses/{code}` (e.g. `#/components/responses/validation_failed`): its
//! status, an `application/problem+json` body with the `Problem` schema, and `Retry-After`
//! where the server sends it. Handlers never describe an error answer themselves; they list
//! the *sets* below in `#[utoipa::path(responses(...))]`, each named after what makes the
//! server answer that way, and each set is a list of references to those components:
//!
//! | set | statuses | list it when the handler |
//! |---|---|---|
//! | [`Secured`] | 401, 429, 500, 503 | takes a `Caller` (with `security(("bearer" = []))`) |
//! | [`Public`] | 429, 500, 503 | needs no token but reads the database (login, refresh) |
//! | [`RateLimited`] | 429 | needs no token and nothing else (the OpenAPI document) |
//! | [`Unauthorized`] | 401 | needs no token but checks credentials (login, refresh) |
//! | [`Body`] | 400, 408, 413, 415, 422 | reads a body (`Json`, `JsonOrProto`, multipart, raw) |
//! | [`Invalid`] | 422 | takes a `Query`, or refuses input that is not in a body |
//! | [`Forbidden`] | 403 | requires a permission (`caller.require`, `caller.scope`) |
//! | [`NotFound`] | 404 | has a path parameter (a malformed id is 404 too) or looks something up |
//! | [`Conflict`] | 409 | can clash with stored state (unique fields, idempotency keys) |
//!
//! What a status means *for one operation* (which field, which limit) goes in the
//! handler's doc comment, which becomes the operation's description.
//! `tests/api/contract.rs` holds the rules every operation must follow.

use std::collections::BTreeMap;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Type};
use utoipa::{IntoResponses, Modify};

use crate::http::error::Code;

/// The media type of every error answer (RFC 9457).
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What each code means to a client, as the component's description.
fn description(code: Code) -> &'static str {
    match code {
        Code::MalformedRequest => {
            "malformed request: the body is not JSON or protobuf that can be decoded, or the multipart form is broken"
        }
        Code::ValidationFailed => {
            "well-formed but invalid input: `errors[]` names each field (a path such as `entries[3].message`, or a \
             query parameter) and why; nothing was written"
        }
        Code::Unauthorized => "no bearer token, or one that is invalid or expired, or whose session or user has ended",
        Code::Forbidden => "the caller is authenticated but lacks the permission this needs",
        Code::NotFound => {
            "no such object, or one the caller may not know exists (another organisation's objects are always 404); \
             also a path id that is not a UUID"
        }
        Code::Conflict => "the request clashes with what is stored; `errors[]` names the field",
        Code::PayloadTooLarge => "the body (or one part of it) is over its size limit",
        Code::UnsupportedMediaType => "the body's `Content-Type` is not one this operation accepts",
        Code::NotAcceptable => "no answer in a media type the `Accept` header allows",
        Code::RequestTimeout => {
            "the body did not arrive whole within `MUSTER_BODY_READ_TIMEOUT_S`; the connection is closed"
        }
        Code::RateLimited => "over a rate limit; retry after `Retry-After` seconds",
        Code::Unavailable => "a backing service (database, photo store) is unavailable; retry later",
        Code::Internal => {
            "internal error; the body says nothing more, the server log has the cause under the request id"
        }
    }
}

/// The response component of `code`.
fn component(code: Code) -> Response {
    let problem = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .build();
    let response = ResponseBuilder::new()
        .description(description(code))
        .content(PROBLEM_JSON, problem);
    match code {
        Code::RateLimited => response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Some(
                    utoipa::openapi::ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .minimum(Some(1)),
                ))
                .description(Some("seconds to wait before trying again"))
                .build(),
        ),
        _ => response,
    }
    .build()
}

/// Every response component, by name, for `components.responses`.
pub fn components() -> impl Iterator<Item = (String, Response)> {
    Code::ALL
        .into_iter()
        .map(|code| (code.as_str().to_owned(), component(code)))
}

/// Adds the response components to a document (`#[openapi(modifiers(&ProblemComponents))]`).
pub struct ProblemComponents;

impl Modify for ProblemComponents {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let all = openapi.components.get_or_insert_with(Default::default);
        all.responses
            .extend(components().map(|(name, response)| (name, RefOr::T(response))));
    }
}

/// `{status: $ref}` for each code, as an operation's responses.
fn references(codes: &[Code]) -> BTreeMap<String, RefOr<Response>> {
    codes
        .iter()
        .map(|code| {
            (
                code.status().as_u16().to_string(),
                RefOr::Ref(Ref::from_response_name(code.as_str())),
            )
        })
        .collect()
}

/// Declares a response set: a type that lists its codes' components by reference.
macro_rules! response_set {
    ($($(#[$doc:meta])* $name:ident => [$($code:ident),+];)+) => {
        $(
            $(#[$doc])*
            pub struct $name;

            impl IntoResponses for $name {
                fn responses() -> BTreeMap<String, RefOr<Response>> {
                    references(&[$(Code::$code),+])
                }
            }
        )+
    };
}

response_set! {
    /// An operation behind a bearer token: the `Caller` extractor refuses (401) and reads
    /// the database (500, 503); the rate limits apply (429).
    Secured => [Unauthorized, RateLimited, Internal, Unavailable];
    /// An operation without a token that reads the database.
    Public => [RateLimited, Internal, Unavailable];
    /// An operation without a token that touches nothing: only the rate limits apply.
    RateLimited => [RateLimited];
    /// An operation that reads a request body: undecodable (400), too slow (408), too large
    /// (413), of the wrong media type (415) or invalid (422).
    Body => [MalformedRequest, RequestTimeout, PayloadTooLarge, UnsupportedMediaType, ValidationFailed];
    /// A public operation that refuses credentials (login, refresh).
    Unauthorized => [Unauthorized];
    /// An operation that validates its query parameters, or other input outside a body.
    Invalid => [ValidationFailed];
    /// An operation that needs a permission.
    Forbidden => [Forbidden];
    /// An operation on an object named in its path, or that looks one up.
    NotFound => [NotFound];
    /// An operation that can clash with stored state.
    Conflict => [Conflict];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_one_component_with_its_status() {
        let components: BTreeMap<_, _> = components().collect();
        assert_eq!(components.len(), Code::ALL.len());
        for code in Code::ALL {
            let response = &components[code.as_str()];
            assert!(response.content.contains_key(PROBLEM_JSON), "{code:?}");
            assert_eq!(response.content.len(), 1, "{code:?}");
        }
        assert!(components["rate_limited"].headers.contains_key("Retry-After"));
        let secured = Secured::responses();
        assert_eq!(secured.keys().collect::<Vec<_>>(), ["401", "429", "500", "503"]);
    }
}
