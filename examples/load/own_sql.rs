//! The check-in's own SQL under pgbench: what PostgreSQL does for one check-in when every
//! check-in is its own transaction, at the phases' concurrency, on the run's own database
//! (the organisation, its employees and their history as the setup left them).
//!
//! One transaction per check-in, the statements muster sends for a batch of one:
//! the caller (user, session, role grants); the policy and the user's sites with the retry
//! look-up by `client_event_id` and the previous located fix (one statement, as muster reads
//! them); and the insert of the event row as a check-in stores it (same columns, same sizes, a time-ordered id like UUIDv7).
//! muster beats this only by sharing: concurrent check-ins share each read statement and
//! one group commit, so it pays fewer round trips and fewer WAL flushes per check-in.
//!
//! pgbench picks one script per transaction; each script is one employee (pgbench allows at
//! most 128 scripts, so the first 128 employees with a session take part), weighted alike,
//! so every transaction is a random employee as in the phases. Statements are prepared
//! (`-M prepared`), as sqlx prepares and caches muster's.

use anyhow::{Context, bail};
use sqlx::{Connection, Row};
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

use crate::ceiling::{Sample, run_pgbench_scripts};

/// pgbench's limit on `-f` scripts per run.
const MAX_SCRIPTS: usize = 128;

/// One employee as a check-in names them.
struct Employee {
    user: Uuid,
    org: Uuid,
    session: Uuid,
}

/// The fence a typical check-in is judged inside.
struct Fence {
    id: Uuid,
    version: i32,
    name: String,
    site: Uuid,
}

/// Measures the check-in's own SQL on `url` (the run's database) for `duration`.
pub async fn sample(
    url: &str,
    pgbench: &Path,
    clients: usize,
    duration: Duration,
    dir: &Path,
) -> anyhow::Result<Sample> {
    let (employees, fence) = read_world(url).await?;
    let scripts_dir = dir.join("own-sql");
    std::fs::create_dir_all(&scripts_dir)?;
    let mut scripts = Vec::with_capacity(employees.len());
    for (i, employee) in employees.iter().enumerate() {
        let path = scripts_dir.join(format!("employee-{i}.sql"));
        std::fs::write(&path, script(employee, &fence))?;
        scripts.push(path);
    }
    let (tps, latency_ms) = run_pgbench_scripts(url, pgbench, clients, duration, &scripts, &["-M", "prepared"]).await?;
    Ok(Sample {
        commits_per_s: tps,
        latency_ms,
    })
}

/// The employees with a live session (every one the setup logged in) and an active fence.
async fn read_world(url: &str) -> anyhow::Result<(Vec<Employee>, Fence)> {
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let rows = sqlx::query(
        "SELECT u.id, u.org_id, f.id AS session FROM users u
         JOIN user_roles r ON r.user_id = u.id AND r.role = 'employee'
         JOIN LATERAL (SELECT id FROM refresh_families f
                       WHERE f.user_id = u.id AND f.revoked_at IS NULL ORDER BY created_at DESC LIMIT 1) f ON true
         ORDER BY u.employee_code LIMIT $1",
    )
    .bind(MAX_SCRIPTS as i64)
    .fetch_all(&mut conn)
    .await?;
    let employees = rows
        .iter()
        .map(|r| {
            Ok(Employee {
                user: r.try_get("id")?,
                org: r.try_get("org_id")?,
                session: r.try_get("session")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    if employees.is_empty() {
        bail!("the run's database has no logged-in employee to check in as");
    }
    let fence =
        sqlx::query("SELECT id, version, name, site_id FROM geofences WHERE active ORDER BY created_at LIMIT 1")
            .fetch_optional(&mut conn)
            .await?
            .context("the run's database has no active geofence")?;
    let fence = Fence {
        id: fence.try_get("id")?,
        version: fence.try_get("version")?,
        name: fence.try_get("name")?,
        site: fence.try_get("site_id")?,
    };
    conn.close().await?;
    Ok((employees, fence))
}

/// One check-in of `e` as one transaction. The id is time-ordered like muster's UUIDv7 (48
/// bits of milliseconds, then random), so the primary key grows at its right edge as it does
/// under muster; `client_event_id` is random, as a phone's is.
fn script(e: &Employee, fence: &Fence) -> String {
    let Employee { user, org, session } = e;
    let Fence {
        id,
        version,
        name,
        site,
    } = fence;
    let mut s = String::new();
    s.push_str("BEGIN;\n");
    // The caller: `fetch_principals` for one key.
    let _ = writeln!(
        s,
        "SELECT u.org_id, u.manager_id, u.status, string_agg(g.permission, ',') FROM users u \
         JOIN refresh_families f ON f.id = '{session}' AND f.user_id = u.id AND f.revoked_at IS NULL \
         LEFT JOIN user_roles r ON r.user_id = u.id \
         LEFT JOIN role_grants g ON g.org_id = r.org_id AND g.role = r.role WHERE u.id = '{user}' \
         GROUP BY u.org_id, u.manager_id, u.status;"
    );
    // Policy and sites, the retry look-up and the previous fix: `fetch_reads` for one
    // request of one item, as one statement.
    s.push_str("\\set cid_hi random(1, 1000000000000000000)\n");
    let _ = writeln!(
        s,
        "SELECT 0 AS part, o.policy, s.site_id AS user_site, \
           NULL AS id, NULL AS captured_at, NULL AS lat, NULL AS lon, NULL AS accuracy_m \
         FROM orgs o LEFT JOIN user_sites s ON s.user_id = '{user}' WHERE o.id = '{org}' \
         UNION ALL \
         SELECT 1, NULL, NULL, id, captured_at, lat, lon, accuracy_m FROM attendance_events \
         WHERE org_id = '{org}' AND user_id = '{user}' AND client_event_id = md5(:cid_hi::text)::uuid \
         UNION ALL \
         (SELECT 2, NULL, NULL, p.id, p.captured_at, p.lat, p.lon, p.accuracy_m FROM attendance_events p \
           WHERE p.org_id = '{org}' AND p.user_id = '{user}' AND p.captured_at <= now() \
             AND p.lat IS NOT NULL AND p.lon IS NOT NULL \
           ORDER BY p.captured_at DESC, p.id DESC LIMIT 1);"
    );
    // The event row, as `insert_batch` writes a check-in inside the fence.
    let _ = writeln!(
        s,
        "INSERT INTO attendance_events (id, org_id, user_id, client_event_id, request_sha256, kind, captured_at, \
           received_at, status, verdict, reasons, geofence_id, geofence_version, geofence_name, site_id, distance_m, \
           lat, lon, accuracy_m, altitude_m, provider, is_mock, device, note, photo_id, source, request_id) \
         VALUES ((lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, '0') \
                  || substr(md5(random()::text), 1, 20))::uuid, \
           '{org}', '{user}', md5(:cid_hi::text || 'c')::uuid, \
           encode(sha256(random()::text::bytea), 'hex'), 'check_in', now(), now(), 'accepted', 'inside', '[]', \
           '{id}', {version}, '{name}', '{site}', 0, \
           12.97 + (random() - 0.5) / 1000, 77.59 + (random() - 0.5) / 1000, 12.5, NULL, 'gps', false, \
           '{{\"id\": \"load-device\", \"model\": \"Pixel 8\", \"os\": \"android\", \"os_version\": \"15\", \"app_version\": \"3.2.1\"}}', \
           NULL, NULL, 'device', NULL);",
        name = name.replace('\'', "''"),
    );
    s.push_str("COMMIT;\n");
    s
}
