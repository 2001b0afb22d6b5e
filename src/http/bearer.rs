//! The bearer token of a request, read the same way by the `Caller` extractor and by the
//! rate limiter (which keys users by a verified token without touching the database).

use actix_web::HttpRequest;
use actix_web::http::header;

/// The bearer token of a request, if it sent one (also read by the rate limiter).
pub fn bearer(req: &HttpRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned())
}
