//! What a retention run removed, counted as it goes.

/// What one retention run removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Purged {
    pub locations: u64,
    pub photos: u64,
    pub app_log_batches: u64,
    /// Photo objects no row named, deleted by the orphan sweep.
    pub orphans: u64,
    /// Leftovers of interrupted photo writes removed by the orphan sweep.
    pub leftovers: u64,
    /// Rounds skipped because another replica held the retention lock.
    pub skipped: u64,
}
