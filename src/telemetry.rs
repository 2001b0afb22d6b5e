//! Logging and metrics set-up, and the metrics that are not tied to one request.
//!
//! Metric families (Prometheus, at `/metrics`):
//! - `muster_http_requests_total`, `muster_http_request_duration_seconds` (`http::observe`)
//! - `muster_rate_limited_total{limit}` (`http::rate_limit`)
//! - `muster_photo_store_operations_total`, `muster_photo_store_operation_duration_seconds`
//!   (`photos::MeteredStore`)
//! - `muster_db_pool_size`, `muster_db_pool_idle`, `muster_db_pool_in_use`,
//!   `muster_db_pool_max` and `process_resident_memory_bytes`, sampled when `/metrics` is
//!   rendered ([`sample_gauges`])
//! - `muster_attendance_decisions_total{verdict, status}` ([`record_decision`])
//! - `muster_password_hash_wait_seconds`, `muster_password_hash_busy_total`
//!   (`auth::password::Hasher`)

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;
use std::time::Duration;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;
use crate::storage::PoolStats;

/// Installs the tracing subscriber (`RUST_LOG` filters; default `info`).
pub fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let installed = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    };
    // A second call (tests start many servers in one process) keeps the first subscriber.
    drop(installed);
}

/// Buckets of every `*_seconds` histogram, from a fast query to a slow S3 upload. With
/// buckets the exporter renders real histograms rather than per-replica quantiles, which
/// cannot be aggregated across replicas.
const SECONDS_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// Buckets of `muster_db_batch_size`: how many requests shared one statement.
const BATCH_BUCKETS: [f64; 11] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1000.0];

/// How often histogram samples are folded into their buckets. Without it, samples pile up
/// in memory until the next scrape, without bound if nobody scrapes.
const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The process-wide Prometheus recorder. `metrics` has one global recorder, so every server
/// in a process (tests start several) shares it.
pub fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("muster_db_batch_size".into()), &BATCH_BUCKETS))
                // Only fails for an empty bucket list, which the constants are not.
                .unwrap_or_else(|_| PrometheusBuilder::new());
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder was installed first; then ours renders empty,
            // which the metrics test would catch.
            let _ = metrics::set_global_recorder(recorder);
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(UPKEEP_EVERY);
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "metrics upkeep thread not started; histograms fold only when scraped");
            }
            handle
        })
        .clone()
}

/// Counts one attendance decision, for `muster_attendance_decisions_total{verdict, status}`.
///
/// `verdict` is the decision's verdict (`inside`, `outside`, `uncertain`, `no_geofence`) and
/// `status` the event's status (`accepted`, `flagged`, `rejected`). Pass only these API
/// values, never client input: every distinct value makes a new time series.
pub fn record_decision(verdict: &str, status: &str) {
    metrics::counter!(
        "muster_attendance_decisions_total",
        "verdict" => verdict.to_owned(),
        "status" => status.to_owned()
    )
    .increment(1);
}

/// Sets the gauges that are sampled rather than counted; called as `/metrics` renders.
pub fn sample_gauges(pool: PoolStats) {
    metrics::gauge!("muster_db_pool_size").set(pool.size);
    metrics::gauge!("muster_db_pool_idle").set(pool.idle);
    metrics::gauge!("muster_db_pool_in_use").set(pool.in_use);
    metrics::gauge!("muster_db_pool_max").set(pool.max);
    if let Some(bytes) = resident_memory_bytes() {
        // f64 is exact for any realistic size (up to 2^53 bytes).
        metrics::gauge!("process_resident_memory_bytes").set(bytes as f64);
    }
}

/// The process's resident set size, on Linux. Read from `VmRSS` in `/proc/self/status`,
/// which is already in bytes (kB), rather than `statm`, whose page counts would need the
/// page size (4 KiB, 16 KiB or 64 KiB depending on the machine) from libc.
fn resident_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line
        .trim_start_matches("VmRSS:")
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    kib.checked_mul(1024)
}

/// Writes everything `handle` holds, as Prometheus text, to `path` through a temporary file
/// renamed into place, so a collector reading the file never sees half of it.
pub fn write_metrics_file(handle: &PrometheusHandle, path: &std::path::Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let name = path.file_name().context("the metrics file needs a file name")?;
    let temporary = path.with_file_name(format!(".{}.tmp", name.to_string_lossy()));
    std::fs::write(&temporary, handle.render()).with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).with_context(|| format!("replacing {}", path.display()))
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn resident_memory_is_read_on_linux() {
        let rss = super::resident_memory_bytes().expect("VmRSS");
        assert!(rss > 1024 * 1024, "{rss}");
    }
}
