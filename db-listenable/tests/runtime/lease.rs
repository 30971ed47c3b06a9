//! Leases under pool starvation: a batch whose processors hold every pool connection
//! keeps its lease, so no other worker runs its changes meanwhile.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::ddl::CaptureConfig;
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};

use tokio::sync::Notify;

use crate::{Item, fast, insert_items, items_db, pending, pool, wait_for};

/// Runs of each change in flight right now, the most seen at once, and what finished.
#[derive(Clone, Default)]
struct Overlap {
    state: Arc<Mutex<OverlapState>>,
    /// How long a run holds a pool connection, then how long it works without one.
    hold: Duration,
    tail: Duration,
}

#[derive(Default)]
struct OverlapState {
    running: BTreeMap<i64, usize>,
    /// Changes seen running twice at once, with the number of runs.
    overlaps: BTreeMap<i64, usize>,
    finished: BTreeSet<i64>,
}

impl Overlap {
    fn enter(&self, change: i64) {
        let mut state = self.state.lock().expect("overlap state");
        let runs = state.running.entry(change).or_default();
        *runs += 1;
        let runs = *runs;
        if runs > 1 {
            state.overlaps.insert(change, runs);
        }
    }

    fn leave(&self, change: i64, finished: bool) {
        let mut state = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(runs) = state.running.get_mut(&change) {
            *runs -= 1;
        }
        if finished {
            state.finished.insert(change);
        }
    }
}

/// Counts a run as over when it ends, also when the worker stops it (drops it mid-way).
struct Run<'a> {
    overlap: &'a Overlap,
    change: i64,
    finished: bool,
}

impl Drop for Run<'_> {
    fn drop(&mut self) {
        self.overlap.leave(self.change, self.finished);
    }
}

impl Processor<Item> for Overlap {
    async fn process(&self, ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.enter(change.id);
        let mut run = Run { overlap: self, change: change.id, finished: false };
        // Slow work that holds a pool connection (a long statement, a transaction), then
        // more work without one. Sleeping here is the work being simulated, not a wait.
        let held = ctx.db().acquire().await;
        tokio::time::sleep(self.hold).await;
        drop(held);
        tokio::time::sleep(self.tail).await;
        run.finished = true;
        Ok(())
    }
}

#[tokio::test]
async fn a_starved_pool_does_not_let_a_lease_run_out_under_a_running_batch() {
    let (db, observer) = items_db(&CaptureConfig::default()).await;
    let lease = Duration::from_millis(600);
    let overlap = Overlap { hold: lease * 4, tail: lease, ..Overlap::default() };
    // Process one: two workers, a pool of one; its processor takes the connection, so
    // anything else it sends to the database waits for it. (A subscriber's journal batch
    // is held by one worker at a time: the second worker has nothing else to run.)
    let starved_config = fast().workers(2).batch_size(1).lease(lease).wakeups(false);
    let starved_pool = pool(db.url(), 1).await;
    sqlx::query("INSERT INTO items (id, name) SELECT g, 'x' FROM generate_series(1, 4) g")
        .execute(&observer)
        .await
        .expect("insert");
    let starved = RuntimeBuilder::new(starved_pool)
        .config(starved_config)
        .processor::<Item, _>("overlap", overlap.clone())
        .start()
        .await
        .expect("start the starved process");
    wait_for("a starved worker running a change", Duration::from_secs(10), || async {
        overlap.state.lock().expect("overlap state").running.values().filter(|runs| **runs > 0).count() == 1
    })
    .await;
    // Process two, same subscriber, plenty of connections: two workers take the other
    // changes, two stay idle and claim whatever lease runs out.
    let healthy_config = fast().workers(4).batch_size(1).lease(lease).wakeups(false);
    let healthy = RuntimeBuilder::new(pool(db.url(), 12).await)
        .config(healthy_config)
        .processor::<Item, _>("overlap", overlap.clone())
        .start()
        .await
        .expect("start the healthy process");
    wait_for("every change processed and settled", Duration::from_secs(30), || async {
        overlap.state.lock().expect("overlap state").finished.len() == 4 && pending(&observer).await == 0
    })
    .await;
    healthy.shutdown().await;
    starved.shutdown().await;
    let overlaps = overlap.state.lock().expect("overlap state").overlaps.clone();
    assert!(overlaps.is_empty(), "changes run by two workers at once (change id: runs): {overlaps:?}");
}

/// Runs forever on a change's first attempt (until the worker drops it); later attempts
/// finish at once.
#[derive(Clone, Default)]
struct Hangs {
    entered: Arc<Notify>,
    stopped: Arc<AtomicBool>,
    attempts: Arc<Mutex<Vec<u32>>>,
}

/// Sets its flag when dropped: the processor's future was dropped mid-run.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Processor<Item> for Hangs {
    async fn process(&self, _ctx: &Context<'_>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.attempts.lock().expect("attempts").push(change.attempt);
        if change.attempt == 1 {
            let _stopped = SetOnDrop(Arc::clone(&self.stopped));
            self.entered.notify_one();
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_worker_that_cannot_renew_its_lease_stops_the_processor_when_the_lease_ends() {
    let (_db, observer) = items_db(&CaptureConfig::default()).await;
    let hangs = Hangs::default();
    let config = fast().workers(1).lease(Duration::from_millis(500));
    let entered = hangs.entered.notified();
    let runtime = RuntimeBuilder::new(observer.clone())
        .config(config)
        .processor::<Item, _>("hangs", hangs.clone())
        .start()
        .await
        .expect("start");
    insert_items(&observer, [1]).await;
    tokio::time::timeout(Duration::from_secs(10), entered).await.expect("the first attempt runs");
    // A lock on the lease (the subscriber's cursor) makes every renewal wait, as an
    // unreachable database would.
    let mut blocker = observer.begin().await.expect("begin");
    sqlx::query("SELECT 1 FROM db_listenable.cursors FOR UPDATE").execute(&mut *blocker).await.expect("lock");
    wait_for("the worker to stop the processor at the lease's end", Duration::from_secs(10), || async {
        hangs.stopped.load(Ordering::SeqCst)
    })
    .await;
    blocker.rollback().await.expect("release the lock");
    wait_for("the change processed again", Duration::from_secs(20), || async { pending(&observer).await == 0 }).await;
    runtime.shutdown().await;
    assert_eq!(*hangs.attempts.lock().expect("attempts"), [1, 2], "stopped once, then run again");
}
