//! HTTP plumbing shared by every route: request ids and metrics, input extractors that
//! answer with precise problems, the body-read deadline, rate limits, pagination, the
//! client address.

pub mod bearer;
pub mod body;
pub mod caller;
pub mod client_ip;
pub mod console_assets;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod negotiate;
pub mod observe;
pub mod openapi;
pub mod page;
pub mod problems;
pub mod rate_limit;
pub mod routes;
pub mod state;
pub mod wire;

pub use body::within_deadline;
pub use client_ip::TrustedProxies;
pub use extract::{Json, Query};
pub use negotiate::{JsonOrProto, Reply};
pub use observe::RequestId;
pub use page::{List, page_request};
