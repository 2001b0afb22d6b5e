//! What a retention run removed, counted as it goes, and its metrics.
//!
//! - `muster_retention_runs_total{outcome="ok"|"failed"}`
//! - `muster_retention_run_duration_seconds`
//! - `muster_retention_removed_total{what}`: `locations`, `photos`, `app_log_batches`,
//!   `orphans`, `leftovers` — counted for failed runs too, up to the failure
//! - `muster_retention_skipped_total`: rounds left to another replica holding the lock
//! - `muster_retention_last_success_timestamp_seconds`: alert when it falls behind

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

impl Purged {
    /// Records one run in the metrics (`/metrics` for the server's background job; the
    /// file `muster purge --metrics-file` writes for a one-off run).
    pub fn record(&self, took: std::time::Duration, succeeded: bool) {
        let outcome = if succeeded { "ok" } else { "failed" };
        metrics::counter!("muster_retention_runs_total", "outcome" => outcome).increment(1);
        metrics::histogram!("muster_retention_run_duration_seconds").record(took.as_secs_f64());
        for (what, n) in [
            ("locations", self.locations),
            ("photos", self.photos),
            ("app_log_batches", self.app_log_batches),
            ("orphans", self.orphans),
            ("leftovers", self.leftovers),
        ] {
            metrics::counter!("muster_retention_removed_total", "what" => what).increment(n);
        }
        metrics::counter!("muster_retention_skipped_total").increment(self.skipped);
        if succeeded {
            let now = chrono::Utc::now().timestamp_micros() as f64 / 1e6;
            metrics::gauge!("muster_retention_last_success_timestamp_seconds").set(now);
        }
    }
}
