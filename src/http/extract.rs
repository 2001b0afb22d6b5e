//! Input extractors whose failures are precise problems: the media type is checked (415),
//! the size limit enforced while reading (413), syntax errors are 400, and type errors,
//! missing or unknown fields are 422 naming the field by its path.

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{FromRequest, HttpRequest, web};
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use std::marker::PhantomData;

use super::body::within_deadline;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// A JSON body, parsed strictly, but only when the handler asks: extraction merely takes the
/// payload, so a handler authorises first and an unauthorised caller gets 401/403, never a
/// body validation error that would reveal what the endpoint expects.
pub struct Json<T> {
    req: HttpRequest,
    payload: Payload,
    _body: PhantomData<T>,
}

impl<T: DeserializeOwned> Json<T> {
    /// Checks the media type, reads the body within the size limit, and parses it.
    pub async fn parse(mut self) -> ApiResult<T> {
        if !has_media_type(&self.req, "application/json") {
            return Err(ApiError::unsupported_media_type(
                "expected Content-Type: application/json",
            ));
        }
        let limit = self.limit();
        let body = read_body(&self.req, &mut self.payload, limit).await?;
        parse_json(&body)
    }

    /// As [`Json::parse`], but an empty body, of any media type or none, is `T::default()`:
    /// for action endpoints whose body is optional (`POST ...:approve` with no comment).
    pub async fn parse_or_default(mut self) -> ApiResult<T>
    where
        T: Default,
    {
        let limit = self.limit();
        let body = read_body(&self.req, &mut self.payload, limit).await?;
        if body.is_empty() {
            return Ok(T::default());
        }
        if !has_media_type(&self.req, "application/json") {
            return Err(ApiError::unsupported_media_type(
                "expected Content-Type: application/json",
            ));
        }
        parse_json(&body)
    }

    /// The configured JSON body limit (`MUSTER_JSON_BODY_LIMIT_BYTES`).
    fn limit(&self) -> u64 {
        self.req
            .app_data::<web::Data<AppState>>()
            .map_or(1 << 20, |s| s.settings.json_body_limit_bytes)
    }
}

/// Reads the whole body, refusing it as soon as it passes `limit` bytes, or when it has
/// not arrived within the body-read deadline (408, see [`super::body`]).
pub async fn read_body(req: &HttpRequest, payload: &mut Payload, limit: u64) -> ApiResult<web::Bytes> {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::too_large("request body", limit));
    }
    within_deadline(req, collect_body(payload, limit)).await?
}

async fn collect_body(payload: &mut Payload, limit: u64) -> ApiResult<web::Bytes> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::malformed(format!("reading the request body failed: {e}")))?;
        if (body.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::too_large("request body", limit));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// Is the request's media type `essence` (or, for JSON, any `+json` type)?
pub fn has_media_type(req: &HttpRequest, essence: &str) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == essence || (essence == "application/json" && mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Parses JSON bytes into `T`: 400 for bad syntax, 422 naming the field for a bad shape.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    Ok(crate::field::parse_json(bytes)?)
}

impl<T> FromRequest for Json<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        std::future::ready(Ok(Json {
            req: req.clone(),
            payload: payload.take(),
            _body: PhantomData,
        }))
    }
}

/// Query parameters, parsed strictly (unknown parameters are refused by `deny_unknown_fields`
/// on the target type where that matters).
pub struct Query<T>(pub T);

impl<T: DeserializeOwned> FromRequest for Query<T> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let de = serde_urlencoded::Deserializer::new(form_urlencoded_parse(req.query_string()));
        let parsed = serde_path_to_error::deserialize(de).map(Query).map_err(|e| {
            let path = e.path().to_string();
            let message = e.into_inner().to_string();
            let field = if path == "." {
                crate::field::field_or_body(String::new(), &message)
            } else {
                path
            };
            ApiError::field(field, message)
        });
        std::future::ready(parsed)
    }
}

fn form_urlencoded_parse(query: &str) -> form_urlencoded::Parse<'_> {
    form_urlencoded::parse(query.as_bytes())
}
