//! Batching of concurrent statements: requests that arrive while the database is busy with
//! the previous statement of their kind share the next one. Every check-in reads the caller,
//! the policy and the user's last event and then writes one row; on two cores the round
//! trips, not the rows, are what the database and the network stack spend their time on, so
//! sharing statements is what lets throughput grow with load.
//!
//! Callers hand an item to [`Batcher::submit`] and wait for its outcome. One task per kind
//! takes whatever is queued (at most `max_batch` items) and runs it as one flush. It never
//! waits for a batch to fill: a lone request is flushed at once, and batches grow only as far
//! as load makes requests queue up behind a flush in progress. An outcome is handed back
//! only after the flush returned, so a write's caller acknowledges only what is committed
//! (group commit: one WAL flush, one `fsync`, for many requests), and a read's caller sees
//! the database as it was after its request arrived, as if it had read alone.
//!
//! One flush at a time per kind, in submission order: of two writes that conflict (one
//! `client_event_id` twice in an offline batch) the first one sent wins, every time.

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

struct Pending<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
}

/// A queue in front of a task that flushes batches of up to `max_batch` items.
pub struct Batcher<T, R> {
    queue: mpsc::Sender<Pending<T, R>>,
}

/// The flushing task is gone (a flush panicked, or the runtime is shutting down): the
/// item's outcome is unknown.
#[derive(Debug)]
pub struct Gone;

impl<T: Send + 'static, R: Send + 'static> Batcher<T, R> {
    /// Starts the flushing task. `flush` gets the items of one batch, in submission order, and
    /// returns one outcome per item, in the same order.
    pub fn spawn<F, Fut>(name: &'static str, max_batch: usize, flush: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        // Room for a few batches: beyond that, callers wait to enqueue (backpressure) rather
        // than piling up unbounded memory.
        let (queue, receiver) = mpsc::channel(max_batch * 4);
        tokio::spawn(flush_loop(name, receiver, max_batch, flush));
        Batcher { queue }
    }

    /// Queues `item` and waits until its batch has been flushed.
    pub async fn submit(&self, item: T) -> Result<R, Gone> {
        let (reply, outcome) = oneshot::channel();
        self.queue.send(Pending { item, reply }).await.map_err(|_| Gone)?;
        outcome.await.map_err(|_| Gone)
    }
}

async fn flush_loop<T, R, F, Fut>(
    name: &'static str,
    mut receiver: mpsc::Receiver<Pending<T, R>>,
    max_batch: usize,
    flush: F,
) where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        if receiver.recv_many(&mut batch, max_batch).await == 0 {
            return; // every sender is gone: the store was dropped
        }
        let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.drain(..).map(|p| (p.item, p.reply)).unzip();
        // A panicking flush drops this batch's replies (their callers see `Gone`) but must
        // not take the task, and every later statement of its kind, down with it.
        let started = Instant::now();
        let flushed = AssertUnwindSafe(flush(items)).catch_unwind().await;
        record_batch(name, replies.len(), started.elapsed());
        if let Ok(outcomes) = flushed {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The caller may have gone (a dropped request); a write stands regardless.
                let _ = reply.send(outcome);
            }
        }
    }
}

/// Records one shared statement by `statement`: how many requests shared it
/// (`muster_db_batch_size`; `event_insert` counts check-ins per commit) and how long it took
/// (`muster_db_batch_duration_seconds`). A statement busy nearly all the time is where
/// requests queue.
fn record_batch(statement: &'static str, requests: usize, took: Duration) {
    metrics::histogram!("muster_db_batch_size", "statement" => statement).record(requests as f64);
    metrics::histogram!("muster_db_batch_duration_seconds", "statement" => statement).record(took.as_secs_f64());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_submissions_share_flushes_and_get_their_own_outcome() {
        let flushes = Arc::new(AtomicUsize::new(0));
        let counted = flushes.clone();
        let group = Arc::new(Batcher::spawn("test", 8, move |items: Vec<u32>| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move {
                // Long enough for the other submissions to queue behind this flush.
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                items.into_iter().map(|i| i * 10).collect::<Vec<_>>()
            }
        }));
        let tasks: Vec<_> = (0..32u32)
            .map(|i| {
                let group = group.clone();
                tokio::spawn(async move { (i, group.submit(i).await.unwrap()) })
            })
            .collect();
        for task in tasks {
            let (i, outcome) = task.await.unwrap();
            assert_eq!(outcome, i * 10);
        }
        let flushes = flushes.load(Ordering::SeqCst);
        assert!(
            (4..32).contains(&flushes),
            "32 items in batches of at most 8 took {flushes} flushes"
        );
    }

    #[tokio::test]
    async fn batches_keep_submission_order() {
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        let batcher = Batcher::spawn("test", 3, move |items: Vec<u32>| {
            log.lock().unwrap().push(items.clone());
            async move { items }
        });
        let outcomes = futures_util::future::join_all((0..10u32).map(|i| batcher.submit(i))).await;
        assert_eq!(
            outcomes.into_iter().map(Result::unwrap).collect::<Vec<_>>(),
            (0..10).collect::<Vec<_>>()
        );
        let batches = seen.lock().unwrap().clone();
        assert_eq!(
            batches.concat(),
            (0..10).collect::<Vec<_>>(),
            "flushed in submission order"
        );
        assert!(batches.iter().all(|b| b.len() <= 3), "{batches:?}");
    }

    #[tokio::test]
    async fn a_panicking_flush_fails_its_batch_only() {
        let group = Batcher::spawn("test", 4, |items: Vec<u32>| async move {
            assert!(!items.contains(&13), "unlucky");
            items
        });
        assert!(group.submit(13).await.is_err());
        assert_eq!(group.submit(7).await.unwrap(), 7);
    }
}
