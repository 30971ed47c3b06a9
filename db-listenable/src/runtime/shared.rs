//! What the workers of one runtime share.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Notify;

use super::config::RuntimeConfig;
use super::stats::{LATENCY_BUCKETS, LatencyHistogram};
use super::subscriber::Subscriber;
use crate::DbPool;

pub(crate) struct Shared {
    pub pool: PgPool,
    /// Connections for lease renewals only, built from `pool`'s connect options: a
    /// renewal never waits behind processors that hold `pool`'s connections (see
    /// `worker::handle_leased`).
    pub lease_pool: PgPool,
    pub config: RuntimeConfig,
    pub served: Vec<Served>,
    /// Wakes idle workers: a NOTIFY arrived, or this process adopted kept entries.
    pub wake: Notify,
    /// When a worker of this process last ran the router's round ([`Shared::maintenance_due`]).
    pub maintained_at: Mutex<Option<Instant>>,
}

/// How often a process runs the router's round (`store::maintain`): adopting kept
/// entries and emptying consumed journal partitions need no hurry, and a round trip per
/// batch would cost small batches (one per change at batch size 1).
const MAINTAIN_EVERY: Duration = Duration::from_millis(100);

/// A registered subscriber and its counters in this process.
pub(crate) struct Served {
    pub subscriber: Arc<dyn Subscriber>,
    /// Its row in `db_listenable.subscribers`.
    pub id: i32,
    pub counters: Counters,
    /// Where claims of its deliveries start looking.
    pub pick: PickStart,
    /// Whether its deliveries may hold changes to claim.
    pub deliveries: DeliveriesHint,
    /// Whether a worker of this process holds its journal batch.
    pub journal: JournalTurn,
}

/// Whether a worker of this process holds a subscriber's journal batch. The batch's
/// lease is the subscriber's cursor, so one is in flight at a time; a sibling worker's
/// claim meanwhile would find the cursor leased and come back empty: a call of
/// `claim_journal` for nothing, which with four workers on one subscriber was a tenth of
/// the calls and made the drain's rate vary with how the polls fell
/// (`runtime::siblings`). Other processes still meet the lease in the database.
#[derive(Default)]
pub(crate) struct JournalTurn(AtomicBool);

impl JournalTurn {
    /// Takes the subscriber's journal turn until the guard is dropped; `None` while
    /// another worker of this process has it.
    pub fn take(&self) -> Option<JournalTurnGuard<'_>> {
        self.0
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| JournalTurnGuard(&self.0))
    }
}

/// A worker's turn at a subscriber's journal ([`JournalTurn::take`]), given back when
/// dropped: on every way out of a batch, errors and a cancelled future included.
pub(crate) struct JournalTurnGuard<'a>(&'a AtomicBool);

impl Drop for JournalTurnGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Whether a subscriber's deliveries (`db_listenable.deliveries`: retries, changes waiting
/// behind them, requeued dead letters, adopted kept entries) may hold changes to claim,
/// so workers claim from them before the journal only then: a claim of deliveries that
/// finds nothing costs a round trip per batch. Set by this process when it writes
/// deliveries, on a wake-up, at start, and every poll interval (another process may
/// have written some, or left them when it stopped); cleared when a claim finds none.
pub(crate) struct DeliveriesHint {
    /// Expected (from this process), or the time of the last look that found none.
    state: Mutex<Option<Instant>>,
}

impl Default for DeliveriesHint {
    /// Expected: the first claim looks.
    fn default() -> Self {
        DeliveriesHint { state: Mutex::new(None) }
    }
}

/// How often workers look at a subscriber's deliveries when nothing says they hold any:
/// every poll interval, and at least this often.
const DELIVERIES_EVERY: Duration = Duration::from_millis(500);

impl DeliveriesHint {
    /// Whether a claim should look at the deliveries first: when expected, or when the
    /// last look is `poll_interval` old (at most [`DELIVERIES_EVERY`]).
    pub fn due(&self, poll_interval: Duration) -> bool {
        let every = poll_interval.min(DELIVERIES_EVERY);
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).is_none_or(|at| at.elapsed() >= every)
    }

    /// Deliveries were written: the next claim looks.
    pub fn expect(&self) {
        *self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
    }

    /// A claim found none to take now.
    pub fn none_due(&self) {
        *self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(Instant::now());
    }
}

/// Where a claim starts its scan of a subscriber's deliveries (by change id).
///
/// A claim scanning from the lowest change id steps over the index entries of every
/// delivery settled since the last time PostgreSQL could mark them dead. The drain bench
/// showed slow runs reading hundreds of entries per index scan (the cells whose
/// throughput swung 2-8x between runs). So claims start at the first change id the
/// previous full claim took: everything below it was then in flight, settled, or not
/// available yet. What is below can become claimable again (a retry whose delay ran
/// out, a lease that expired, a transaction that committed late with a lower id): a claim
/// that comes back short, and any claim after [`FULL_SCAN_EVERY`], starts from the
/// beginning instead.
#[derive(Default)]
pub(crate) struct PickStart {
    /// The lowest change id the next claim looks at (0: from the beginning).
    from: AtomicI64,
    /// When a claim last started from the beginning.
    full_scan: Mutex<Option<Instant>>,
}

/// How long claims may start past the beginning before one scans it all again.
pub(crate) const FULL_SCAN_EVERY: Duration = Duration::from_millis(500);

impl PickStart {
    /// The change id the next claim starts at.
    pub fn next(&self) -> i64 {
        let mut full_scan = self.full_scan.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let due = full_scan.is_none_or(|at| at.elapsed() >= FULL_SCAN_EVERY);
        if due {
            *full_scan = Some(Instant::now());
            0
        } else {
            self.from.load(Ordering::Relaxed)
        }
    }

    /// Records a claim for `limit` deliveries that took `taken`, the lowest being `first`.
    pub fn claimed(&self, limit: usize, taken: usize, first: Option<i64>) {
        match first {
            Some(first) if taken >= limit => self.from.store(first, Ordering::Relaxed),
            // Short: the deliveries past the start ran out; look from the beginning next.
            _ => {
                self.from.store(0, Ordering::Relaxed);
                *self.full_scan.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = None;
            }
        }
    }
}

/// How long the processing rate looks back.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Outcomes counted in this process since start.
#[derive(Default)]
pub(crate) struct Counters {
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub dead: AtomicU64,
    /// Changes the processor skipped ([`Skip`](super::Skip)); not in `processed`.
    pub skipped: AtomicU64,
    /// (when, processed total then), one sample per batch within the rate window.
    samples: Mutex<VecDeque<(Instant, u64)>>,
    /// Processing-time histogram: changes per bucket of [`LATENCY_BUCKETS`], then +Inf.
    /// Atomics, not a lock: workers of every subscriber add to it after each batch.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of the processing times counted in `latency`, in nanoseconds.
    latency_sum_nanos: AtomicU64,
}

impl Shared {
    /// Whether this process should run the router's round now (at most every
    /// [`MAINTAIN_EVERY`]); claims the turn when it is.
    pub fn maintenance_due(&self) -> bool {
        let mut at = self.maintained_at.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if at.is_some_and(|at| at.elapsed() < MAINTAIN_EVERY) {
            return false;
        }
        *at = Some(Instant::now());
        true
    }

    /// The pool processors share, with the runtime's choice of prepared statements.
    pub fn db(&self) -> DbPool<'_> {
        DbPool::with_prepared_statements(&self.pool, self.config.prepared_statements)
    }

    /// The lease renewals' pool, likewise.
    pub fn lease_db(&self) -> DbPool<'_> {
        DbPool::with_prepared_statements(&self.lease_pool, self.config.prepared_statements)
    }
}

impl Counters {
    pub(crate) fn record(&self, done: u64, failed: u64, dead: u64, skipped: u64) {
        let total = self.processed.fetch_add(done, Ordering::Relaxed) + done;
        self.failed.fetch_add(failed, Ordering::Relaxed);
        self.dead.fetch_add(dead, Ordering::Relaxed);
        self.skipped.fetch_add(skipped, Ordering::Relaxed);
        let now = Instant::now();
        let mut samples = self.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        samples.push_back((now, total));
        while samples.len() > 2 && samples.front().is_some_and(|(at, _)| now.duration_since(*at) > RATE_WINDOW) {
            samples.pop_front();
        }
    }

    /// Counts `changes` changes handled in `elapsed` in the processing-time histogram.
    /// A batch runs its changes together, so each is counted at the batch's time divided
    /// by its size (exact for batches of one).
    pub(crate) fn record_latency(&self, elapsed: Duration, changes: u64) {
        if changes == 0 {
            return;
        }
        let each = elapsed.as_secs_f64() / changes as f64;
        let bucket = LATENCY_BUCKETS.iter().position(|bound| each <= *bound).unwrap_or(LATENCY_BUCKETS.len());
        self.latency[bucket].fetch_add(changes, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.latency_sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// The processing-time histogram so far.
    pub(crate) fn latency(&self) -> LatencyHistogram {
        LatencyHistogram {
            counts: self.latency.iter().map(|count| count.load(Ordering::Relaxed)).collect(),
            sum: Duration::from_nanos(self.latency_sum_nanos.load(Ordering::Relaxed)),
        }
    }

    /// Changes processed per second over the last minute (or since the first batch).
    pub(crate) fn rate(&self) -> f64 {
        let samples = self.samples.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let Some(&(first_at, first_total)) = samples.iter().find(|(at, _)| now.duration_since(*at) <= RATE_WINDOW)
        else {
            return 0.0;
        };
        let Some(&(_, last_total)) = samples.back() else {
            return 0.0;
        };
        let span = now.duration_since(first_at).as_secs_f64().max(1.0);
        (last_total.saturating_sub(first_total)) as f64 / span
    }
}
