//! HTTP plumbing shared by every route: request ids and metrics, input extractors that
//! answer with precise problems, pagination, the client address.

pub mod client_ip;
pub mod extract;
pub mod negotiate;
pub mod observe;
pub mod page;

pub use client_ip::TrustedProxies;
pub use extract::{Json, Query};
pub use negotiate::{JsonOrProto, Reply};
pub use observe::RequestId;
pub use page::{List, page_request};
