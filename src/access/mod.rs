//! Who may do what: permissions, roles, scopes, and the caller that holds them. Pure rules
//! with no I/O, so every layer (storage included) may use them; the relation look-ups that
//! scoped reads need are `crate::visibility`'s.

pub mod caller;
pub mod permission;
pub mod scope;

pub use caller::{Caller, Denied};
pub use permission::{Permission, PermissionSet, Role};
pub use scope::{Family, Relation, Scope, reaches};
