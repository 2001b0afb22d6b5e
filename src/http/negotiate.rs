//! Content negotiation for endpoints that speak both JSON and protobuf (API.md "Conventions":
//! check-ins and app logs accept `application/x-protobuf` and answer in it when asked).
//!
//! - [`JsonOrProto<T, P>`] is a lazy request body, like [`Json`](super::Json): extraction only
//!   takes the payload, and the handler calls [`parse`](JsonOrProto::parse) *after* it has
//!   authorised, so an unauthorised caller gets 401/403 and never a body error. `parse`
//!   chooses by `Content-Type`: `application/json` (or `+json`) is parsed strictly into `T`;
//!   `application/x-protobuf` is decoded as the prost message `P` and converted into the same
//!   `T` with `TryFrom<P>`, whose error names the field. Everything after `parse` (validation,
//!   storage) is therefore shared by both wire formats.
//! - [`Reply<T, P>`] answers `T` as JSON, or as the protobuf message `P` (via `From<T>`) when
//!   the request's `Accept` asks for protobuf at least as strongly as for JSON.
//!
//! Failures: another media type is 415, a body over the limit 413 (before it is all read), an
//! undecodable protobuf message or JSON syntax error 400, a JSON shape error 422 naming the
//! field. Errors themselves are always `application/problem+json`.
//!
//! ```ignore
//! #[post("/v1/things")]
//! async fn create(state: web::Data<AppState>, caller: Caller, body: JsonOrProto<NewThing, v1::Thing>)
//!     -> ApiResult<Reply<Created, v1::ThingCreated>> {
//!     caller.require(Permission::ThingsWrite)?;
//!     let thing = body.parse(state.settings.thing_body_limit_bytes).await?;
//!     Ok(Reply::new(StatusCode::CREATED, store(thing).await?))
//! }
//! ```

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, Responder};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

use super::extract::{has_media_type, parse_json, read_body};
use crate::http::error::{ApiError, ApiResult};
use crate::proto::MEDIA_TYPE as PROTOBUF;

const JSON: &str = "application/json";

/// A request body in JSON or protobuf, read and parsed only when the handler asks.
pub struct JsonOrProto<T, P> {
    req: HttpRequest,
    payload: Payload,
    _body: PhantomData<fn() -> (T, P)>,
}

impl<T, P> JsonOrProto<T, P>
where
    T: DeserializeOwned + TryFrom<P>,
    ApiError: From<<T as TryFrom<P>>::Error>,
    P: prost::Message + Default,
{
    /// Checks the media type (415), reads at most `limit` bytes (413), and parses the body
    /// into `T` (400 for undecodable input, 422 naming the field for a wrong shape).
    pub async fn parse(mut self, limit: u64) -> ApiResult<T> {
        // The media type is judged before a byte is read: a wrong one costs nothing.
        let protobuf = if has_media_type(&self.req, PROTOBUF) {
            true
        } else if has_media_type(&self.req, JSON) {
            false
        } else {
            return Err(ApiError::unsupported_media_type(format!(
                "expected Content-Type: {JSON} or {PROTOBUF}"
            )));
        };
        let body = read_body(&self.req, &mut self.payload, limit).await?;
        if !protobuf {
            return parse_json(&body);
        }
        let message = P::decode(body)
            .map_err(|e| ApiError::malformed(format!("request body is not a valid protobuf message: {e}")))?;
        T::try_from(message).map_err(ApiError::from)
    }
}

impl<T, P> FromRequest for JsonOrProto<T, P> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        std::future::ready(Ok(JsonOrProto {
            req: req.clone(),
            payload: payload.take(),
            _body: PhantomData,
        }))
    }
}

/// An answer in JSON, or in protobuf as the message `P` when the client prefers it.
pub struct Reply<T, P> {
    status: StatusCode,
    body: T,
    _wire: PhantomData<fn() -> P>,
}

impl<T, P> Reply<T, P> {
    pub fn new(status: StatusCode, body: T) -> Self {
        Reply {
            status,
            body,
            _wire: PhantomData,
        }
    }

    pub fn ok(body: T) -> Self {
        Self::new(StatusCode::OK, body)
    }
}

impl<T, P> Responder for Reply<T, P>
where
    T: Serialize,
    P: prost::Message + From<T>,
{
    type Body = BoxBody;

    fn respond_to(self, req: &HttpRequest) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        // Caches must not hand a protobuf answer to a JSON client or the other way round.
        response.insert_header((header::VARY, HeaderValue::from_static("accept")));
        if prefers_protobuf(req) {
            response.content_type(PROTOBUF).body(P::from(self.body).encode_to_vec())
        } else {
            response.json(self.body)
        }
    }
}

/// Does the request's `Accept` name protobuf with a quality not lower than JSON's? Wildcards
/// (`*/*`, `application/*`) count for JSON, the default: only a client that names protobuf
/// gets it, and one that names both equally gets the format it asked for specifically.
pub fn prefers_protobuf(req: &HttpRequest) -> bool {
    let mut protobuf = 0.0_f32;
    let mut json = 0.0_f32;
    for value in req.headers().get_all(header::ACCEPT) {
        let Ok(value) = value.to_str() else { continue };
        for range in value.split(',') {
            let mut parts = range.split(';');
            let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let quality = parts
                .filter_map(|p| p.trim().split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, q)| q.trim().parse::<f32>().ok())
                .filter(|q| (0.0..=1.0).contains(q))
                .unwrap_or(1.0);
            if media == PROTOBUF {
                protobuf = protobuf.max(quality);
            } else if media == JSON {
                json = json.max(quality);
            }
        }
    }
    protobuf > 0.0 && protobuf >= json
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn accept(value: &str) -> bool {
        prefers_protobuf(
            &TestRequest::default()
                .insert_header(("accept", value))
                .to_http_request(),
        )
    }

    #[test]
    fn protobuf_only_when_named_and_not_outranked_by_json() {
        assert!(!prefers_protobuf(&TestRequest::default().to_http_request()));
        assert!(accept("application/x-protobuf"));
        assert!(accept("application/json;q=0.5, application/x-protobuf"));
        assert!(accept("application/x-protobuf, application/json"));
        assert!(!accept("application/json, application/x-protobuf;q=0.4"));
        assert!(!accept("application/x-protobuf;q=0"));
        assert!(!accept("*/*"));
        assert!(accept("*/*;q=0.1, Application/X-Protobuf"));
    }
}
