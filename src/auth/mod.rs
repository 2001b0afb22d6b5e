//! Authentication: passwords, access tokens, refresh-token rotation, failed-login throttling,
//! and the `Caller` every protected handler takes.

pub mod caller;
pub mod jwt;
pub mod password;
pub mod refresh;
pub mod throttle;

pub use caller::{Caller, Sight};
