// The connection a shared statement keeps between its flushes (see `all.rs` for how this
// file is compiled).

/// A shared statement's own connection, kept from one flush to the next while it is busy.
///
/// sqlx tests a connection with a round trip each time it leaves the pool (a `Sync` on
/// PostgreSQL, a message to the worker thread on SQLite, when `test_before_acquire`, the
/// default) and again, unconditionally, in a spawned task each time it goes back. Taken per
/// flush, that made every shared statement of a check-in three round trips, two of them
/// pings. A batcher runs one flush at a time, so it can keep one connection for all of them:
/// that took 45 % off PostgreSQL's CPU per check-in and a third off the server's
/// (docs/PERFORMANCE.md, "Kept connections, one read, one caller row").
///
/// The pool's tests still apply wherever they can catch something: a connection idle longer
/// than [`KEEP_IDLE`] goes back and a tested one is taken, so a database restart or an idle
/// connection dropped by the network during a quiet spell fails no request; and a flush that
/// fails gives its connection back instead of reusing it (the pool tests it and closes it if
/// broken), so a restart under load fails the statements in flight, as it would anyway, and
/// the next flush runs on a fresh connection.
///
/// Only a pool of at least [`Held::MIN_POOL`] connections lends any for keeping: in a
/// smaller one, a connection kept for a flush that may not come would leave the other
/// statements and queries waiting out their acquire timeout (the pool cannot ask for it back).
struct Held {
    pool: Pool<Db>,
    keeps: bool,
    kept: std::sync::Mutex<Option<(sqlx::pool::PoolConnection<Db>, std::time::Instant)>>,
}

/// How long a shared statement keeps an unused connection. Under load a flush follows the
/// last within milliseconds; a connection idle for longer goes back to be tested.
const KEEP_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

impl Held {
    /// Twice what the shared statements would keep: the rest of the server always has at
    /// least half of the pool.
    const MIN_POOL: u32 = 2 * SHARED_STATEMENTS as u32;

    /// One per shared statement of `pool`.
    fn each(pool: &Pool<Db>) -> [Arc<Self>; SHARED_STATEMENTS] {
        let keeps = pool.options().get_max_connections() >= Self::MIN_POOL;
        std::array::from_fn(|_| {
            Arc::new(Held {
                pool: pool.clone(),
                keeps,
                kept: std::sync::Mutex::new(None),
            })
        })
    }

    /// Runs one flush's statements on the kept connection.
    async fn with<R>(&self, work: impl AsyncFnOnce(&mut DbConn) -> Result<R>) -> Result<R> {
        let mut conn = self.take().await?;
        let outcome = work(&mut conn).await;
        self.put_back(conn, &outcome);
        outcome
    }

    /// The kept connection if it was used within [`KEEP_IDLE`], else one from the pool.
    async fn take(&self) -> Result<sqlx::pool::PoolConnection<Db>> {
        let kept = self.lock().take();
        if let Some((conn, used)) = kept {
            if used.elapsed() < KEEP_IDLE {
                return Ok(conn);
            }
            // Back to the pool, which tests it before anyone takes it again.
            drop(conn);
        }
        Ok(self.pool.acquire().await?)
    }

    /// Keeps `conn` for the next flush after `outcome` (a flush's result), unless this
    /// statement does not keep connections, the flush failed (the connection's state is
    /// unknown) or the pool is closing.
    fn put_back<R>(&self, conn: sqlx::pool::PoolConnection<Db>, outcome: &Result<R>) {
        let mut kept = self.lock();
        // Checked under the lock: `release` runs after the pool is marked closed, so a
        // flush ending during shutdown either sees it closed or has its connection released.
        if self.keeps && outcome.is_ok() && !self.pool.is_closed() {
            *kept = Some((conn, std::time::Instant::now()));
        }
    }

    /// Gives the kept connection back, for the pool to close: `Pool::close` waits for every
    /// connection taken from it.
    fn release(&self) {
        self.lock().take();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(sqlx::pool::PoolConnection<Db>, std::time::Instant)>> {
        // Nothing can panic while the lock is held; a poisoned lock still holds a valid Option.
        self.kept.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
