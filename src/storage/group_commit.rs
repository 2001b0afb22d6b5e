//! Group commit: writes that arrive while the database is busy committing share the next
//! commit, so one WAL flush (one `fsync`) acknowledges many requests.
//!
//! Callers hand an item to [`GroupCommit::submit`] and wait for its outcome. One writer task
//! takes whatever is queued (at most `max_batch` items) and flushes it as one statement. It
//! never waits for a batch to fill: a lone request is written at once, and batches grow only
//! as far as load makes requests queue up behind a commit in progress. An outcome is handed
//! back only after the flush returned, so a caller acknowledges only what is committed.
//!
//! One writer, not several: items are flushed in the order they were submitted, so of two
//! writes that conflict (one `client_event_id` twice in an offline batch) the first one sent
//! wins, every time. Throughput comes from the batch size, which grows with the load.

use futures_util::FutureExt;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use tokio::sync::{mpsc, oneshot};

struct Pending<T, R> {
    item: T,
    reply: oneshot::Sender<R>,
}

/// A queue in front of a writer task that flushes batches of up to `max_batch` items.
pub struct GroupCommit<T, R> {
    queue: mpsc::Sender<Pending<T, R>>,
}

/// The writer tasks are gone (a flush panicked, or the runtime is shutting down): the item's
/// outcome is unknown.
#[derive(Debug)]
pub struct WriterGone;

impl<T: Send + 'static, R: Send + 'static> GroupCommit<T, R> {
    /// Starts the writer. `flush` gets the items of one batch, in submission order, and
    /// returns one outcome per item, in the same order.
    pub fn spawn<F, Fut>(max_batch: usize, flush: F) -> Self
    where
        F: Fn(Vec<T>) -> Fut + Send + 'static,
        Fut: Future<Output = Vec<R>> + Send + 'static,
    {
        let max_batch = max_batch.max(1);
        // Room for a few batches: beyond that, callers wait to enqueue (backpressure) rather
        // than piling up unbounded memory.
        let (queue, receiver) = mpsc::channel(max_batch * 4);
        tokio::spawn(write_loop(receiver, max_batch, flush));
        GroupCommit { queue }
    }

    /// Queues `item` and waits until its batch has been flushed.
    pub async fn submit(&self, item: T) -> Result<R, WriterGone> {
        let (reply, outcome) = oneshot::channel();
        self.queue.send(Pending { item, reply }).await.map_err(|_| WriterGone)?;
        outcome.await.map_err(|_| WriterGone)
    }
}

async fn write_loop<T, R, F, Fut>(mut receiver: mpsc::Receiver<Pending<T, R>>, max_batch: usize, flush: F)
where
    F: Fn(Vec<T>) -> Fut,
    Fut: Future<Output = Vec<R>>,
{
    let mut batch = Vec::with_capacity(max_batch);
    loop {
        if receiver.recv_many(&mut batch, max_batch).await == 0 {
            return; // every sender is gone: the store was dropped
        }
        let (items, replies): (Vec<T>, Vec<oneshot::Sender<R>>) = batch.drain(..).map(|p| (p.item, p.reply)).unzip();
        // A panicking flush drops this batch's replies (their callers see `WriterGone`) but
        // must not take the writer, and every later write, down with it.
        if let Ok(outcomes) = AssertUnwindSafe(flush(items)).catch_unwind().await {
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The caller may have gone (a dropped request); its write stands regardless.
                let _ = reply.send(outcome);
            }
        }
    }
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
        let group = Arc::new(GroupCommit::spawn(8, move |items: Vec<u32>| {
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
    async fn a_panicking_flush_fails_its_batch_only() {
        let group = GroupCommit::spawn(4, |items: Vec<u32>| async move {
            assert!(!items.contains(&13), "unlucky");
            items
        });
        assert!(group.submit(13).await.is_err());
        assert_eq!(group.submit(7).await.unwrap(), 7);
    }
}
