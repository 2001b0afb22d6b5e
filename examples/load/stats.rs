//! What a phase measured: every request's latency and outcome, summarised as throughput and
//! percentiles. A phase sends at most a few hundred thousand requests, so keeping every
//! latency and sorting once is exact and cheaper than a histogram dependency.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// How one request ended.
pub enum Outcome {
    /// The expected answer; `items` is what it carried (events stored, report rows, tokens).
    Ok { items: u64 },
    /// Anything else, labelled by HTTP status or transport failure.
    Failed(String),
}

impl Outcome {
    pub fn status(code: reqwest::StatusCode) -> Outcome {
        Outcome::Failed(code.as_u16().to_string())
    }

    pub fn transport(error: &reqwest::Error) -> Outcome {
        let label = if error.is_timeout() {
            "timeout"
        } else if error.is_connect() {
            "connect"
        } else {
            "transport"
        };
        Outcome::Failed(label.to_owned())
    }
}

/// The raw record of a phase, merged from its clients.
#[derive(Default)]
pub struct Tally {
    latencies_us: Vec<u64>,
    items: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    pub fn record(&mut self, latency: Duration, outcome: Outcome) {
        self.latencies_us
            .push(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
        match outcome {
            Outcome::Ok { items } => self.items += items,
            Outcome::Failed(label) => *self.errors.entry(label).or_default() += 1,
        }
    }

    /// Requests an open loop gave up sending: errors, without a latency.
    pub fn unsent(&mut self, requests: u64) {
        if requests > 0 {
            *self.errors.entry("unsent".into()).or_default() += requests;
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        self.items += other.items;
        for (label, n) in other.errors {
            *self.errors.entry(label).or_default() += n;
        }
    }

    /// Throughput over `elapsed` (first send to last answer) and the latency percentiles.
    pub fn summarise(mut self, elapsed: Duration) -> Summary {
        self.latencies_us.sort_unstable();
        let seconds = elapsed.as_secs_f64().max(f64::EPSILON);
        let requests = self.latencies_us.len() as u64;
        Summary {
            requests,
            items: self.items,
            seconds,
            requests_per_s: requests as f64 / seconds,
            items_per_s: self.items as f64 / seconds,
            p50_ms: percentile_ms(&self.latencies_us, 0.50),
            p90_ms: percentile_ms(&self.latencies_us, 0.90),
            p99_ms: percentile_ms(&self.latencies_us, 0.99),
            max_ms: percentile_ms(&self.latencies_us, 1.0),
            errors: self.errors,
        }
    }
}

/// Nearest-rank percentile of sorted microseconds, in milliseconds (0 when empty).
fn percentile_ms(sorted_us: &[u64], q: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted_us.len() as f64).ceil() as usize).clamp(1, sorted_us.len());
    sorted_us[rank - 1] as f64 / 1000.0
}

#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub requests: u64,
    pub items: u64,
    pub seconds: f64,
    pub requests_per_s: f64,
    pub items_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub errors: BTreeMap<String, u64>,
}

impl Summary {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}
