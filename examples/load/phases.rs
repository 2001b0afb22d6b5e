//! The phases: what each sends, and the two ways of sending it.
//!
//! * Closed loop: C clients, each sending its next request when the previous one is
//!   answered, for D seconds. Measures the most the server does at that concurrency.
//! * Open loop: requests leave on a fixed schedule (R per second) whether or not earlier
//!   ones were answered, and each latency runs from its *scheduled* send time. A slow
//!   answer then delays nothing else, so a stall shows in the percentiles instead of
//!   silently lowering the request rate (coordinated omission).

use serde::Serialize;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::api::World;
use crate::stats::{Outcome, Tally};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// Concurrent logins of the employees (password hashing).
    Login,
    /// Closed loop of JSON check-ins.
    Checkin,
    /// Open loop of JSON check-ins at a fixed rate.
    CheckinRate,
    /// Closed loop of multipart check-ins with a small JPEG.
    CheckinPhoto,
    /// Closed loop of offline batches.
    Batch,
    /// Closed loop of the manager's team report.
    Report,
    /// Closed loop of the manager's team report over the seeded history (`--history-days`),
    /// e.g. 1,000 users × 31 days: the memory of concurrent month reports.
    MonthReport,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Login => "login",
            Phase::Checkin => "checkin",
            Phase::CheckinRate => "checkin-rate",
            Phase::CheckinPhoto => "checkin-photo",
            Phase::Batch => "batch",
            Phase::Report => "report",
            Phase::MonthReport => "month-report",
        }
    }

    /// Whether the phase stores attendance events (and so compares with the commit ceiling).
    pub fn writes_events(self) -> bool {
        matches!(
            self,
            Phase::Checkin | Phase::CheckinRate | Phase::CheckinPhoto | Phase::Batch
        )
    }
}

/// How hard to push.
#[derive(Clone, Debug, Serialize)]
pub struct Load {
    pub clients: usize,
    pub duration_s: u64,
    pub rate: u32,
    pub max_in_flight: usize,
    pub batch_size: usize,
    pub report_clients: usize,
    /// Days of seeded history, which `month-report` reports on.
    pub history_days: u32,
}

impl Load {
    fn duration(&self) -> Duration {
        Duration::from_secs(self.duration_s)
    }

    /// The concurrency a phase runs at, as the results table shows it.
    pub fn describe(&self, phase: Phase) -> String {
        match phase {
            Phase::CheckinRate => format!("{}/s", self.rate),
            Phase::Report | Phase::MonthReport => format!("{} clients", self.report_clients),
            Phase::Batch => format!("{} clients × {}", self.clients, self.batch_size),
            _ => format!("{} clients", self.clients),
        }
    }
}

/// Runs one phase; returns what it recorded and how long it took, first send to last answer.
pub async fn run(phase: Phase, world: &Arc<World>, load: &Load) -> anyhow::Result<(Tally, Duration)> {
    let (clients, duration) = (load.clients, load.duration());
    match phase {
        Phase::Login => {
            closed_phones(world, clients, duration, |w, p, _| async move {
                w.login(&w.phones[p]).await
            })
            .await
        }
        Phase::Checkin => {
            closed_phones(world, clients, duration, |w, p, seq| async move {
                w.check_in(&w.phones[p], seq).await
            })
            .await
        }
        Phase::CheckinRate => {
            let w = world.clone();
            let phones = world.phones.len() as u64;
            open_loop(load.rate, duration, load.max_in_flight, move |k| {
                let w = w.clone();
                async move { w.check_in(&w.phones[(k % phones) as usize], k / phones).await }
            })
            .await
        }
        Phase::CheckinPhoto => {
            closed_phones(world, clients, duration, |w, p, seq| async move {
                w.check_in_with_photo(&w.phones[p], seq).await
            })
            .await
        }
        Phase::Batch => {
            let size = load.batch_size;
            closed_phones(world, clients, duration, move |w, p, seq| async move {
                w.batch(&w.phones[p], seq, size).await
            })
            .await
        }
        Phase::Report => {
            let w = world.clone();
            closed_loop(load.report_clients, duration, move |_, _| {
                let w = w.clone();
                async move { w.report().await }
            })
            .await
        }
        Phase::MonthReport => {
            let w = world.clone();
            let days = load.history_days;
            closed_loop(load.report_clients, duration, move |_, _| {
                let w = w.clone();
                async move { w.history_report(days).await }
            })
            .await
        }
    }
}

/// The phone a closed-loop client uses for its `i`-th request, and how often that phone
/// sent before. Client `c` cycles through phones `c, c + clients, ...`, so no phone has two
/// requests in flight, as no real phone would.
fn own_phone(client: usize, clients: usize, phones: usize, i: u64) -> (usize, u64) {
    let owned = phones.saturating_sub(client).div_ceil(clients).max(1) as u64;
    let phone = client + (i % owned) as usize * clients;
    (phone % phones, i / owned)
}

/// A closed loop in which each client sends as its own phones.
async fn closed_phones<F, Fut>(
    world: &Arc<World>,
    clients: usize,
    duration: Duration,
    request: F,
) -> anyhow::Result<(Tally, Duration)>
where
    F: Fn(Arc<World>, usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let w = world.clone();
    let phones = world.phones.len();
    closed_loop(clients, duration, move |client, i| {
        let (phone, seq) = own_phone(client, clients, phones, i);
        request(w.clone(), phone, seq)
    })
    .await
}

/// `clients` tasks, each sending `request(client, i)` back to back until `duration` is over.
async fn closed_loop<F, Fut>(clients: usize, duration: Duration, request: F) -> anyhow::Result<(Tally, Duration)>
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = JoinSet::new();
    for client in 0..clients {
        let request = request.clone();
        tasks.spawn(async move {
            let mut tally = Tally::default();
            let mut i = 0;
            while Instant::now() < deadline {
                let sent = Instant::now();
                let outcome = request(client, i).await;
                tally.record(sent.elapsed(), outcome);
                i += 1;
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(tally) = tasks.join_next().await {
        total.merge(tally?);
    }
    Ok((total, started.elapsed()))
}

/// How long past the end of its schedule the open loop may still be sending: a server that
/// far behind has shown what it can do, and the rest would only measure the backlog.
const SEND_GRACE: Duration = Duration::from_secs(5);

/// `rate` requests a second for `duration`, `request(k)` scheduled at `k / rate` seconds.
/// At most `max_in_flight` are outstanding; past that a request waits for a slot, and that
/// wait counts in its latency like any other delay. Requests still waiting for a slot
/// `SEND_GRACE` after the schedule's end are not sent, and count as errors (`unsent`).
async fn open_loop<F, Fut>(
    rate: u32,
    duration: Duration,
    max_in_flight: usize,
    request: F,
) -> anyhow::Result<(Tally, Duration)>
where
    F: Fn(u64) -> Fut,
    Fut: Future<Output = Outcome> + Send + 'static,
{
    let total = (f64::from(rate) * duration.as_secs_f64()) as u64;
    let tally = Arc::new(Mutex::new(Tally::default()));
    let slots = Arc::new(Semaphore::new(max_in_flight));
    let mut tasks = JoinSet::new();
    let started = Instant::now();
    let cutoff = started + duration + SEND_GRACE;
    let mut unsent = 0;
    for k in 0..total {
        let scheduled = started + Duration::from_secs_f64(k as f64 / f64::from(rate));
        tokio::time::sleep_until(scheduled.into()).await;
        let Ok(slot) = tokio::time::timeout_at(cutoff.into(), slots.clone().acquire_owned()).await else {
            unsent = total - k;
            break;
        };
        let slot = slot?;
        let pending = request(k);
        let tally = tally.clone();
        tasks.spawn(async move {
            let outcome = pending.await;
            let latency = scheduled.elapsed();
            drop(slot);
            tally.lock().unwrap_or_else(|p| p.into_inner()).record(latency, outcome);
        });
        // Reap finished tasks as we go, so that a long run holds only those in flight.
        while tasks.try_join_next().is_some() {}
    }
    while let Some(done) = tasks.join_next().await {
        done?;
    }
    let elapsed = started.elapsed();
    let mut tally = std::mem::take(&mut *tally.lock().unwrap_or_else(|p| p.into_inner()));
    tally.unsent(unsent);
    Ok((tally, elapsed))
}
