//! App logs: what the mobile app reports about itself (API.md "App logs").
//!
//! - [`wire`]: an upload (`Upload`, from JSON or protobuf) and the protobuf form of entries.
//! - [`validate`]: the upload checked against the configured [`Limits`] into a batch to
//!   store, which the server stamps with the user, organisation, receipt time and address.
//! - [`redact`]: [`present`], the one place that hides the personal data `applogs.pii.read`
//!   guards and tells the caller whose data it disclosed.
//! - The records themselves are `storage::applogs`.
//!
//! Entry text is data, never log output: CR/LF and other control characters are stored and
//! returned verbatim, and no entry content is ever written to the server log.

pub mod redact;
pub mod validate;
pub mod wire;

pub use redact::present;
pub use validate::{Limits, new_batch};
pub use wire::{Accepted, Upload, UploadEntry};
