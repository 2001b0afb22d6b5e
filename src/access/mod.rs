//! Who may do what: permissions, roles, scopes. Every authorisation decision of the server
//! is made through this module and the `Caller` extractor in `auth`.

pub mod permission;
pub mod scope;

pub use permission::{Permission, PermissionSet, Role};
pub use scope::{Family, Relation, Scope};
