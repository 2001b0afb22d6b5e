//! Keyset pages of list answers: at most `limit` items after a cursor.

use uuid::Uuid;

/// A page request: at most `limit` items strictly after the cursor `after`.
#[derive(Clone, Copy, Debug)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<Uuid>,
}

/// One page; `next` is the cursor of the following page, if there is one.
#[derive(Clone, Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<Uuid>,
}
