//! The results as a markdown report (tables for `docs/PERFORMANCE.md`) or JSON, with the
//! issue's targets judged from them.

use serde::Serialize;
use std::fmt::Write;

use crate::api::SetupTimes;
use crate::ceiling::Ceiling;
use crate::phases::{Load, Phase};
use crate::probe::CpuCores;
use crate::shared::SharedStatement;
use crate::stats::Summary;

const MIB: f64 = 1024.0 * 1024.0;
/// The targets (#16, "Check-in cost").
/// PostgreSQL check-ins over pgbench's scratch single-row insert at the same concurrency.
const PG_SHARE_OF_SCRATCH_INSERT: f64 = 0.25;
/// PostgreSQL check-ins over pgbench running a check-in's own SQL, a transaction each.
const PG_SHARE_OF_OWN_SQL: f64 = 1.0;
/// CPU milliseconds per stored check-in in the closed-loop phase.
const SERVER_CPU_MS: f64 = 0.25;
const POSTGRES_CPU_MS: f64 = 0.30;
const P99_MS: f64 = 20.0;
const RSS_MIB: f64 = 200.0;
/// One month report (e.g. 1,000 users × 31 days) on its own.
const MONTH_REPORT_MS: f64 = 500.0;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PhaseResult {
    pub phase: Phase,
    pub load: String,
    #[serde(flatten)]
    pub summary: Summary,
    pub max_rss_bytes: u64,
    pub cpu_cores: CpuCores,
    /// The server's shared statements during the phase.
    pub shared: Vec<SharedStatement>,
}

#[derive(Debug, Serialize)]
pub struct BackendRun {
    pub backend: Backend,
    pub ceiling: Ceiling,
    /// PostgreSQL: the check-in's own SQL, one transaction per check-in (`own_sql`).
    pub own_sql: Option<Ceiling>,
    pub setup: SetupTimes,
    pub users: usize,
    pub phases: Vec<PhaseResult>,
    pub peak_rss_bytes: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub started_at: String,
    pub load_average_before: String,
    pub load_average_after: String,
    pub settings: Load,
    pub photo_bytes: usize,
    pub runs: Vec<BackendRun>,
}

/// One target, judged.
struct Verdict {
    backend: Backend,
    target: String,
    measured: String,
    met: bool,
}

impl BackendRun {
    fn phase(&self, phase: Phase) -> Option<&PhaseResult> {
        self.phases.iter().find(|p| p.phase == phase)
    }

    fn verdicts(&self, load: &Load) -> Vec<Verdict> {
        let mut verdicts = Vec::new();
        if let Some(closed) = self.phase(Phase::Checkin) {
            verdicts.push(self.ceiling_verdict(closed, load));
            if let Some(own_sql) = &self.own_sql {
                verdicts.push(self.own_sql_verdict(closed, own_sql, load));
            }
            verdicts.extend(self.cpu_verdicts(closed));
        }
        if let Some(open) = self.phase(Phase::CheckinRate) {
            verdicts.extend(self.rate_verdicts(open, load));
        }
        if let Some(month) = self.phase(Phase::MonthReport) {
            verdicts.extend(self.month_report_verdicts(month, load));
        }
        verdicts
    }

    /// PostgreSQL: a share of the scratch-insert pgbench rate; SQLite: past the per-commit
    /// fsync limit.
    fn ceiling_verdict(&self, closed: &PhaseResult, load: &Load) -> Verdict {
        let ceiling = self.ceiling.commits_per_s();
        let ratio = closed.summary.items_per_s / ceiling;
        let (target, needed) = match self.backend {
            Backend::Postgres => (
                format!(
                    "check-ins ≥ {PG_SHARE_OF_SCRATCH_INSERT}× pgbench's scratch insert at {} clients",
                    load.clients
                ),
                PG_SHARE_OF_SCRATCH_INSERT,
            ),
            Backend::Sqlite => ("check-ins above the per-commit fsync limit".to_owned(), 1.0),
        };
        Verdict {
            backend: self.backend,
            target,
            measured: format!(
                "{:.0}/s vs {:.0}/s = {:.2}×",
                closed.summary.items_per_s, ceiling, ratio
            ),
            met: ratio >= needed && closed.summary.error_count() == 0,
        }
    }

    /// PostgreSQL: at least the rate of the check-in's own SQL, one transaction each.
    fn own_sql_verdict(&self, closed: &PhaseResult, own_sql: &Ceiling, load: &Load) -> Verdict {
        let ratio = closed.summary.items_per_s / own_sql.commits_per_s();
        Verdict {
            backend: self.backend,
            target: format!(
                "check-ins ≥ {PG_SHARE_OF_OWN_SQL}× pgbench of a check-in's own SQL at {} clients",
                load.clients
            ),
            measured: format!(
                "{:.0}/s vs {:.0}/s = {ratio:.2}×",
                closed.summary.items_per_s,
                own_sql.commits_per_s()
            ),
            met: ratio >= PG_SHARE_OF_OWN_SQL && closed.summary.error_count() == 0,
        }
    }

    /// CPU time per stored check-in of the server and (PostgreSQL) its database processes.
    fn cpu_verdicts(&self, closed: &PhaseResult) -> Vec<Verdict> {
        let per_event_ms = |cores: f64| cores * 1000.0 / closed.summary.items_per_s.max(f64::MIN_POSITIVE);
        let mut verdicts = Vec::new();
        let mut judge = |what: &str, cores: f64, limit: f64| {
            let ms = per_event_ms(cores);
            verdicts.push(Verdict {
                backend: self.backend,
                target: format!("{what} CPU ≤ {limit} ms per check-in"),
                measured: format!("{ms:.3} ms ({cores:.2} cores at {:.0}/s)", closed.summary.items_per_s),
                met: ms <= limit,
            });
        };
        judge("server", closed.cpu_cores.server, SERVER_CPU_MS);
        if let Some(pg) = closed.cpu_cores.postgres {
            judge("PostgreSQL", pg, POSTGRES_CPU_MS);
        }
        verdicts
    }

    /// Memory while `--report-clients` month reports run at once; their latency only when
    /// one runs alone (`--report-clients 1`), as the issue states it: concurrent reports share
    /// the cores, so their latency says more about the machine than about a report.
    fn month_report_verdicts(&self, month: &PhaseResult, load: &Load) -> Vec<Verdict> {
        let s = &month.summary;
        let rss_mib = month.max_rss_bytes as f64 / MIB;
        let mut verdicts = vec![Verdict {
            backend: self.backend,
            target: format!(
                "RSS ≤ {RSS_MIB} MiB with {} concurrent month reports",
                load.report_clients
            ),
            measured: format!("{rss_mib:.0} MiB, {} errors", s.error_count()),
            met: rss_mib <= RSS_MIB && s.error_count() == 0,
        }];
        if load.report_clients == 1 {
            verdicts.push(Verdict {
                backend: self.backend,
                target: format!("one month report ≤ {MONTH_REPORT_MS} ms"),
                measured: format!(
                    "p50 {:.0} ms, p99 {:.0} ms, {:.0} rows each",
                    s.p50_ms,
                    s.p99_ms,
                    s.items as f64 / s.requests.max(1) as f64
                ),
                met: s.p99_ms <= MONTH_REPORT_MS && s.error_count() == 0,
            });
        }
        verdicts
    }

    /// p99 and memory at the fixed rate; the rate must actually have been kept up.
    fn rate_verdicts(&self, open: &PhaseResult, load: &Load) -> [Verdict; 2] {
        let s = &open.summary;
        let kept_up = s.requests_per_s >= 0.95 * f64::from(load.rate) && s.error_count() == 0;
        let rss_mib = open.max_rss_bytes as f64 / MIB;
        [
            Verdict {
                backend: self.backend,
                target: format!("p99 ≤ {P99_MS} ms at {} check-ins/s", load.rate),
                measured: format!(
                    "p99 {:.1} ms at {:.0}/s, {} errors",
                    s.p99_ms,
                    s.requests_per_s,
                    s.error_count()
                ),
                met: s.p99_ms <= P99_MS && kept_up,
            },
            Verdict {
                backend: self.backend,
                target: format!("RSS ≤ {RSS_MIB} MiB at {} check-ins/s", load.rate),
                measured: format!("{rss_mib:.0} MiB"),
                met: rss_mib <= RSS_MIB,
            },
        ]
    }
}

fn errors(summary: &Summary) -> String {
    if summary.errors.is_empty() {
        return "0".into();
    }
    let parts: Vec<String> = summary
        .errors
        .iter()
        .map(|(label, n)| format!("{n}× {label}"))
        .collect();
    parts.join(", ")
}

fn phase_row(out: &mut String, run: &BackendRun, p: &PhaseResult) {
    let s = &p.summary;
    let of_ceiling = if p.phase.writes_events() {
        format!("{:.2}×", s.items_per_s / run.ceiling.commits_per_s())
    } else {
        "—".into()
    };
    let _ = writeln!(
        out,
        "| {} | {} | {} | {} | {:.0} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {} | {:.0} | {:.2} / {:.2} / {} / {:.2} |",
        run.backend.name(),
        p.phase.name(),
        p.load,
        s.requests,
        s.requests_per_s,
        s.items_per_s,
        of_ceiling,
        s.p50_ms,
        s.p90_ms,
        s.p99_ms,
        s.max_ms,
        errors(s),
        p.max_rss_bytes as f64 / MIB,
        p.cpu_cores.tool,
        p.cpu_cores.server,
        p.cpu_cores.postgres.map_or("—".into(), |c| format!("{c:.2}")),
        p.cpu_cores.others,
    );
}

fn ceiling_row(out: &mut String, run: &BackendRun, c: &Ceiling) {
    let _ = writeln!(
        out,
        "| {} | {} | {:.0} / {:.0} | {:.2} / {:.2} | {} users {:.1} / {:.1} / {} events {:.1} | {} |",
        run.backend.name(),
        c.what,
        c.before.commits_per_s,
        c.after.commits_per_s,
        c.before.latency_ms,
        c.after.latency_ms,
        run.users,
        run.setup.users_s,
        run.setup.logins_s,
        run.setup.history_events,
        run.setup.history_s,
        run.peak_rss_bytes
            .map_or("?".into(), |b| format!("{:.0}", b as f64 / MIB)),
    );
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        let l = &self.settings;
        let _ = writeln!(
            out,
            "Run of {}: {} s per phase, {} clients (reports: {}), open loop at {}/s (≤ {} in flight), \
             batches of {}, photos of {:.1} KiB; load average {} before, {} after.\n",
            self.started_at,
            l.duration_s,
            l.clients,
            l.report_clients,
            l.rate,
            l.max_in_flight,
            l.batch_size,
            self.photo_bytes as f64 / 1024.0,
            self.load_average_before,
            self.load_average_after
        );
        self.results_table(&mut out);
        self.shared_table(&mut out);
        self.ceiling_table(&mut out);
        self.targets_table(&mut out);
        out
    }

    fn results_table(&self, out: &mut String) {
        out.push_str(
            "| backend | phase | load | requests | req/s | items/s | × ceiling | p50 ms | p90 ms | p99 ms | max ms | errors | max RSS MiB | CPU cores: tool / server / pg / others |\n",
        );
        out.push_str("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---|\n");
        for run in &self.runs {
            for p in &run.phases {
                phase_row(out, run, p);
            }
        }
        out.push_str(
            "\nItems: events stored (check-in phases, batch), report rows (report), tokens (login). \
             × ceiling: items/s over the ceiling below. Latency of `checkin-rate` runs from each \
             request's scheduled send time. CPU: cores busy on average (of 2) in this tool, the \
             server, its PostgreSQL processes and everything else on the machine.\n\n",
        );
    }

    /// Per phase and statement kind: requests per statement and the share of the phase one
    /// was in flight.
    fn shared_table(&self, out: &mut String) {
        let mut kinds: Vec<&str> = self
            .runs
            .iter()
            .flat_map(|r| &r.phases)
            .flat_map(|p| &p.shared)
            .map(|s| s.statement.as_str())
            .collect();
        kinds.sort_unstable();
        kinds.dedup();
        if kinds.is_empty() {
            return;
        }
        let _ = writeln!(out, "| backend | phase | {} |", kinds.join(" | "));
        let _ = writeln!(out, "|---|---|{}", "---:|".repeat(kinds.len()));
        for run in &self.runs {
            for p in &run.phases {
                let cells: Vec<String> = kinds
                    .iter()
                    .map(|k| {
                        p.shared.iter().find(|s| s.statement == *k).map_or("—".into(), |s| {
                            format!("{:.1} ({:.0}%)", s.requests_per_statement, s.busy * 100.0)
                        })
                    })
                    .collect();
                let _ = writeln!(
                    out,
                    "| {} | {} | {} |",
                    run.backend.name(),
                    p.phase.name(),
                    cells.join(" | ")
                );
            }
        }
        out.push_str(
            "\nShared statements (`muster_db_batch_size`, `muster_db_batch_duration_seconds`): requests \
             per statement on average, and (in brackets) the share of the phase during which one \
             was in flight. One runs at a time per kind, so one near 100% is where requests queue.\n\n",
        );
    }

    fn ceiling_table(&self, out: &mut String) {
        out.push_str(
            "| backend | ceiling (same run) | commits/s before / after | latency ms before / after | setup: users / logins / history s | peak RSS MiB |\n",
        );
        out.push_str("|---|---|---|---|---|---:|\n");
        for run in &self.runs {
            for c in std::iter::once(&run.ceiling).chain(&run.own_sql) {
                ceiling_row(out, run, c);
            }
        }
        out.push_str(
            "\n× ceiling and the targets compare with the mean of the two samples of a ceiling; \
             × ceiling in the results is over the first (scratch insert) ceiling.\n\n",
        );
    }

    fn targets_table(&self, out: &mut String) {
        out.push_str("| backend | target | measured | met |\n|---|---|---|---|\n");
        for run in &self.runs {
            for v in run.verdicts(&self.settings) {
                let met = if v.met { "yes" } else { "**no**" };
                let _ = writeln!(out, "| {} | {} | {} | {met} |", v.backend.name(), v.target, v.measured);
            }
        }
    }
}
