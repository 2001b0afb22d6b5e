//! The body-read deadline: a request body must arrive whole within
//! `MUSTER_BODY_READ_TIMEOUT_S`, or the request ends with 408.
//!
//! actix's `client_request_timeout` covers only the request head. Without this, a client
//! that sends its headers and then dribbles its body (one byte every few seconds) would hold
//! a connection, a worker slot and a growing buffer for as long as it likes, and a few
//! hundred such clients would starve the server. The deadline is total, not per chunk, for
//! exactly that reason: a per-chunk timeout never fires on a steady dribble.
//!
//! Every route that consumes a body wraps the read in [`within_deadline`]: `read_body`
//! (JSON, protobuf) does, and a photo upload does the same around the photo module's
//! bounded reader:
//!
//! ```text
//! let raw = http::within_deadline(&req, photos::read_limited(payload, limits.max_bytes))
//!     .await?               // 408 when the deadline passed
//!     .map_err(...)?;       // the reader's own errors (413, ...)
//! ```
//!
//! Only the reading is timed: work done after the body is in (decoding, storing) is not
//! the client's doing and is not cut short.

use actix_web::{HttpRequest, web};
use std::future::Future;
use std::time::Duration;

use crate::config::Settings;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

/// The configured deadline, in seconds.
fn deadline_s(req: &HttpRequest) -> u64 {
    req.app_data::<web::Data<AppState>>()
        .map(|state| state.settings.body_read_timeout_s)
        .unwrap_or_else(|| Settings::default().body_read_timeout_s)
}

/// Runs `read`, a future that consumes the request body, within the body-read deadline.
/// When the deadline passes first the read is dropped (the client's remaining bytes are
/// never read; the connection closes after the answer) and the answer is 408.
pub async fn within_deadline<F: Future>(req: &HttpRequest, read: F) -> ApiResult<F::Output> {
    let limit_s = deadline_s(req);
    tokio::time::timeout(Duration::from_secs(limit_s), read)
        .await
        .map_err(|_| {
            tracing::info!(limit_s, "request body not received in time");
            ApiError::request_timeout(limit_s)
        })
}
