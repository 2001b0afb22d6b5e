//! Refresh-token families: rotation, reuse detection, revocation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::error::Result;

/// The outcome of presenting a refresh token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefreshOutcome {
    Rotated {
        user_id: Uuid,
        org_id: Uuid,
        family_id: Uuid,
    },
    /// A token that was already used: the whole family is now revoked.
    Reused,
    /// Unknown, expired, or of a revoked family.
    Invalid,
}

#[async_trait]
pub trait TokenStore: Send + Sync {
    async fn start_refresh_family(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        family_id: Uuid,
        token_hash: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<()>;
    async fn rotate_refresh(
        &self,
        token_hash: &str,
        new_hash: &str,
        new_expires_at: DateTime<Utc>,
    ) -> Result<RefreshOutcome>;
    async fn revoke_family(&self, family_id: Uuid) -> Result<()>;
}
