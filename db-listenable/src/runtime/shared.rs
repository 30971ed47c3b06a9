//! What the workers of one runtime share.

use std::any::Any;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Notify;

use super::config::RuntimeConfig;
use super::stats::{LATENCY_BUCKETS, LatencyHistogram};
use super::subscriber::Subscriber;

pub(crate) struct Shared {
    pub pool: PgPool,
    pub config: RuntimeConfig,
    pub served: Vec<Served>,
    pub state: Arc<dyn Any + Send + Sync>,
    /// Wakes idle workers: a NOTIFY arrived, or this process routed new deliveries.
    pub wake: Notify,
}

/// A registered subscriber and its counters in this process.
pub(crate) struct Served {
    pub subscriber: Arc<dyn Subscriber>,
    /// Its row in `db_listenable.subscribers`.
    pub id: i32,
    pub counters: Counters,
}

/// How long the processing rate looks back.
const RATE_WINDOW: Duration = Duration::from_secs(60);

/// Outcomes counted in this process since start.
#[derive(Default)]
pub(crate) struct Counters {
    pub processed: AtomicU64,
    pub failed: AtomicU64,
    pub dead: AtomicU64,
    /// (when, processed total then), one sample per batch within the rate window.
    samples: Mutex<VecDeque<(Instant, u64)>>,
    /// Processing-time histogram: changes per bucket of [`LATENCY_BUCKETS`], then +Inf.
    /// Atomics, not a lock: workers of every subscriber add to it after each batch.
    latency: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    /// Sum of the processing times counted in `latency`, in nanoseconds.
    latency_sum_nanos: AtomicU64,
}

impl Counters {
    pub(crate) fn record(&self, done: u64, failed: u64, dead: u64) {
        let total = self.processed.fetch_add(done, Ordering::Relaxed) + done;
        self.failed.fetch_add(failed, Ordering::Relaxed);
        self.dead.fetch_add(dead, Ordering::Relaxed);
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
