//! How the server's shared statements (`storage::batcher`) fared in a phase, from its
//! `/metrics` before and after: per statement, how many ran, how many requests each served
//! on average, and how much of the phase one was in flight. A statement in flight nearly
//! all the time is the one requests queue behind.

use serde::Serialize;
use std::collections::BTreeMap;

/// Running totals of one statement kind, as `/metrics` shows them.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Totals {
    statements: f64,
    requests: f64,
    seconds: f64,
}

/// The totals of every statement kind at one moment.
#[derive(Clone, Debug, Default)]
pub struct Mark(BTreeMap<String, Totals>);

/// One statement kind over a phase.
#[derive(Clone, Debug, Serialize)]
pub struct SharedStatement {
    pub statement: String,
    pub statements: u64,
    /// Requests per statement, on average.
    pub requests_per_statement: f64,
    /// Share of the phase's wall time during which one was in flight.
    pub busy: f64,
}

impl Mark {
    /// Reads the server's metrics now.
    pub async fn now(client: &reqwest::Client, base: &str) -> anyhow::Result<Mark> {
        let text = client.get(format!("{base}/metrics")).send().await?.text().await?;
        Ok(Mark::parse(&text))
    }

    fn parse(text: &str) -> Mark {
        let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((series, value)) = line.rsplit_once(' ') else {
                continue;
            };
            let Ok(value) = value.parse::<f64>() else { continue };
            let Some((name, labels)) = series.split_once('{') else {
                continue;
            };
            let Some(statement) = labels
                .split(',')
                .find_map(|l| l.strip_prefix("statement=\""))
                .and_then(|l| l.split('"').next())
            else {
                continue;
            };
            let entry = totals.entry(statement.to_owned()).or_default();
            match name {
                "muster_db_batch_size_count" => entry.statements = value,
                "muster_db_batch_size_sum" => entry.requests = value,
                "muster_db_batch_duration_seconds_sum" => entry.seconds = value,
                _ => {}
            }
        }
        Mark(totals)
    }

    /// What ran between `self` and `later`, over `wall_s` seconds: statement kinds that ran.
    pub fn until(&self, later: &Mark, wall_s: f64) -> Vec<SharedStatement> {
        later
            .0
            .iter()
            .filter_map(|(statement, after)| {
                let before = self.0.get(statement).copied().unwrap_or_default();
                let statements = after.statements - before.statements;
                (statements > 0.0).then(|| SharedStatement {
                    statement: statement.clone(),
                    statements: statements as u64,
                    requests_per_statement: (after.requests - before.requests) / statements,
                    busy: (after.seconds - before.seconds) / wall_s,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_counted_between_two_scrapes() {
        let before = Mark::parse(
            "# TYPE muster_db_batch_size histogram\n\
             muster_db_batch_size_sum{statement=\"principal\"} 10\n\
             muster_db_batch_size_count{statement=\"principal\"} 10\n\
             muster_db_batch_duration_seconds_sum{statement=\"principal\"} 0.5\n",
        );
        let after = Mark::parse(
            "muster_db_batch_size_bucket{statement=\"principal\",le=\"1\"} 12\n\
             muster_db_batch_size_sum{statement=\"principal\"} 40\n\
             muster_db_batch_size_count{statement=\"principal\"} 20\n\
             muster_db_batch_duration_seconds_sum{statement=\"principal\"} 5.5\n\
             muster_db_batch_size_sum{statement=\"event_insert\"} 8\n\
             muster_db_batch_size_count{statement=\"event_insert\"} 2\n\
             muster_http_requests_total{route=\"/healthz\",status=\"200\"} 3\n",
        );
        let shared = before.until(&after, 10.0);
        assert_eq!(shared.len(), 2);
        let insert = &shared[0];
        assert_eq!((insert.statement.as_str(), insert.statements), ("event_insert", 2));
        assert_eq!(insert.requests_per_statement, 4.0);
        let principal = &shared[1];
        assert_eq!((principal.statement.as_str(), principal.statements), ("principal", 10));
        assert_eq!(principal.requests_per_statement, 3.0);
        assert_eq!(principal.busy, 0.5);
    }
}
