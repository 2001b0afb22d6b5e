//! Resource readings from `/proc`: the server's resident memory, sampled while a phase runs,
//! and the CPU time of the load tool, the server, PostgreSQL and everything else, so that
//! each phase says who used the two cores.

use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc/*/stat` times: USER_HZ, which is 100 on every Linux
/// architecture's ABI whatever the kernel's own tick rate.
const TICKS_PER_S: f64 = 100.0;
/// Often enough to catch a burst of buffers, rarely enough to cost nothing.
const RSS_SAMPLE_EVERY: Duration = Duration::from_millis(50);

/// A `kB` field of `/proc/PID/status` (`VmRSS`, `VmHWM`), in bytes.
pub fn status_bytes(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line[field.len()..]
        .trim_start_matches(':')
        .trim()
        .strip_suffix("kB")?
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// The largest `VmRSS` of one process since the last `take`, sampled in the background.
pub struct RssSampler {
    max: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let max = Arc::new(AtomicU64::new(0));
        let seen = max.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(RSS_SAMPLE_EVERY);
            loop {
                tick.tick().await;
                if let Some(rss) = status_bytes(pid, "VmRSS") {
                    seen.fetch_max(rss, Ordering::Relaxed);
                }
            }
        });
        RssSampler { max, task }
    }

    /// The maximum since the previous call, and a fresh start for the next phase.
    pub fn take(&self) -> u64 {
        self.max.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// User plus system CPU ticks of a process (all its threads), from `/proc/PID/stat`.
fn cpu_ticks(pid: &str) -> Option<(String, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may itself hold spaces or parentheses.
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let name = stat[open + 1..close].to_owned();
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // Fields 14 (utime) and 15 (stime) of stat(5); `fields` starts at field 3.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// Processes of the PostgreSQL server that are shared by every database, and so work for
/// the server under test too (their titles end in these names).
const SHARED_POSTGRES: [&str; 3] = ["walwriter", "checkpointer", "background writer"];

/// CPU ticks of the `postgres` processes working for `database`: its backends (whose
/// process title names their database) and the shared writers. Backends of other databases,
/// such as other people's tests on the same server, are left out.
fn postgres_ticks(database: &str) -> u64 {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let ours = |pid: &str| {
        let title = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let title = String::from_utf8_lossy(&title).replace('\0', " ");
        title.split_whitespace().any(|word| word == database)
            || SHARED_POSTGRES.iter().any(|name| title.trim_end().ends_with(name))
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|pid| pid.bytes().all(|b| b.is_ascii_digit()))
        .filter_map(|pid| cpu_ticks(&pid).filter(|(name, _)| name == "postgres" && ours(&pid)))
        .map(|(_, ticks)| ticks)
        .sum()
}

/// Busy ticks of the whole machine (all cores), from the first line of `/proc/stat`.
fn machine_ticks() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3).copied().unwrap_or(0) + fields.get(4).copied().unwrap_or(0);
    total.saturating_sub(idle)
}

/// CPU counters at one instant.
pub struct CpuMark {
    at: Instant,
    tool: u64,
    server: u64,
    postgres: Option<u64>,
    machine: u64,
}

impl CpuMark {
    /// `database`: the PostgreSQL database the server uses, if any.
    pub fn now(server_pid: u32, database: Option<&str>) -> CpuMark {
        let ticks = |pid: &str| cpu_ticks(pid).map_or(0, |(_, t)| t);
        CpuMark {
            at: Instant::now(),
            tool: ticks("self"),
            server: ticks(&server_pid.to_string()),
            postgres: database.map(postgres_ticks),
            machine: machine_ticks(),
        }
    }

    /// Cores used by each party between `self` and `later` (2.0 = both cores all the time).
    pub fn cores_until(&self, later: &CpuMark) -> CpuCores {
        let seconds = later.at.duration_since(self.at).as_secs_f64().max(f64::EPSILON);
        let cores = |a: u64, b: u64| b.saturating_sub(a) as f64 / TICKS_PER_S / seconds;
        let tool = cores(self.tool, later.tool);
        let server = cores(self.server, later.server);
        let postgres = self.postgres.zip(later.postgres).map(|(a, b)| cores(a, b));
        let ours = tool + server + postgres.unwrap_or(0.0);
        CpuCores {
            tool,
            server,
            postgres,
            others: (cores(self.machine, later.machine) - ours).max(0.0),
        }
    }
}

/// Cores in use on average during a phase.
#[derive(Clone, Debug, Serialize)]
pub struct CpuCores {
    pub tool: f64,
    pub server: f64,
    /// The server's PostgreSQL processes (none on SQLite).
    pub postgres: Option<f64>,
    /// Everything else on the machine: other people's builds and tests, the kernel.
    pub others: f64,
}

/// The 1-minute load average, for the record of how busy the machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}
