//! Document-wide touches of the OpenAPI document that no single handler should repeat.

use utoipa::Modify;
use utoipa::openapi::RefOr;

/// Gives every inline response without a description its status's reason phrase
/// ("OK", "Created"): OpenAPI requires one, and a handler's tuple rarely has more to say
/// than its body type (the operation's description says the rest).
pub struct ReasonPhrases;

impl Modify for ReasonPhrases {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                for (status, response) in operation.responses.responses.iter_mut() {
                    if let RefOr::T(response) = response
                        && response.description.is_empty()
                    {
                        response.description = reason_phrase(status).to_owned();
                    }
                }
            }
        }
    }
}

fn reason_phrase(status: &str) -> &'static str {
    status
        .parse::<u16>()
        .ok()
        .and_then(|code| actix_web::http::StatusCode::from_u16(code).ok())
        .and_then(|code| code.canonical_reason())
        .unwrap_or("Response")
}
