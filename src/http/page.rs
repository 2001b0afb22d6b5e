//! Cursor pagination: `?limit=` (default 100, at most 1000; larger values are clamped) and
//! an opaque `?cursor=`; answers are `{"items": [...], "next_cursor": ... | null}`.

use base64::Engine;
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::http::error::{ApiError, ApiResult};
use crate::storage::{Page, PageRequest};

pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

pub fn page_request(limit: Option<u32>, cursor: Option<&str>) -> ApiResult<PageRequest> {
    let limit = match limit {
        None => DEFAULT_LIMIT,
        Some(0) => return Err(ApiError::field("limit", "must be at least 1")),
        Some(n) => n.min(MAX_LIMIT),
    };
    let after = match cursor {
        None | Some("") => None,
        Some(c) => {
            let bytes = ENGINE.decode(c).ok().and_then(|b| Uuid::from_slice(&b).ok());
            Some(bytes.ok_or_else(|| ApiError::field("cursor", "is not a cursor this server issued"))?)
        }
    };
    Ok(PageRequest { limit, after })
}

/// A page of a list answer.
#[derive(Serialize, ToSchema)]
pub struct List<T> {
    pub items: Vec<T>,
    /// Pass as `?cursor=` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> List<T> {
    pub fn from_page<S>(page: Page<S>, f: impl FnMut(S) -> T) -> Self {
        List {
            items: page.items.into_iter().map(f).collect(),
            next_cursor: page.next.map(|id| ENGINE.encode(id.as_bytes())),
        }
    }
}
