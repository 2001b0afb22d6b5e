//! Authentication: passwords, access tokens, refresh-token rotation, failed-login throttling.
//! (The `Caller` extractor that turns a token into an `access::Caller` is `http::caller`.)

pub mod jwt;
pub mod password;
pub mod refresh;
pub mod throttle;
