//! The runtime's settings.

use std::time::Duration;

use crate::ddl::CaptureConfig;

/// How the runtime claims, retries and waits. `Default` suits most applications.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RuntimeConfig {
    /// Worker tasks in this process. Each claims batches for every subscriber in turn;
    /// workers of all processes share the journal.
    pub workers: usize,
    /// Deliveries claimed at once per subscriber.
    pub batch_size: usize,
    /// The most row data a claim takes at once, in bytes: a claim stops before the
    /// delivery that would pass it, so memory is bounded by bytes as well as by
    /// `batch_size` (a backlog of 1 MB rows at batch size 1000 would otherwise be a 1 GB
    /// batch). A delivery larger than the budget is still claimed, alone, so nothing
    /// gets stuck. Counted as PostgreSQL stores the rows (`pg_column_size` of the old
    /// and new row, after TOAST compression), so rows that compress well take up to
    /// their compression ratio more memory once decoded. A batch sits in memory about
    /// three times over while it is processed (driver buffers, JSON, decoded values),
    /// per worker. Default 16 MiB.
    pub claim_bytes: usize,
    /// Journal entries the router moves to the subscribers per round.
    pub route_batch_size: usize,
    /// How often an idle worker looks for work without a wake-up. The poll alone is
    /// correct; wake-ups only shorten the wait.
    pub poll_interval: Duration,
    /// `LISTEN` for wake-ups (the capture triggers' gated NOTIFY and the router's).
    /// Off: poll only.
    pub wakeups: bool,
    /// How long a claim lasts without renewal. The worker renews it every third of this
    /// while its processor runs, so a slow batch keeps its deliveries; a worker that dies
    /// (or loses its connection for longer) gives them back when the lease ends, and
    /// another worker processes them again. Renewals use connections of their own (up
    /// to one per worker, opened when a batch first outlives a third of its lease), so
    /// processors that hold every pool connection cannot starve them. A worker that
    /// cannot renew before the lease ends stops its processor and leaves the batch to
    /// whoever claims it next: one change never runs in two places at once.
    pub lease: Duration,
    /// The longest a processor may take over one batch; past it the batch fails (and is
    /// retried), so a hung processor cannot hold its deliveries forever.
    pub processing_timeout: Duration,
    /// Attempts before a failing delivery is dead-lettered.
    pub max_attempts: u32,
    /// Delay before the second attempt; doubled at each failure, up to `max_backoff`,
    /// with up to 50 % random jitter added.
    pub initial_backoff: Duration,
    /// The longest delay between attempts.
    pub max_backoff: Duration,
    /// What to do when the installed triggers differ from what the code generates.
    pub drift: DriftPolicy,
    /// The capture configuration the triggers were generated with (for the drift check).
    pub capture: CaptureConfig,
    /// Reconnection backoff after a database error: starts here, doubles, up to 30 s.
    pub reconnect_backoff: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 2,
            batch_size: 100,
            claim_bytes: 16 * 1024 * 1024,
            route_batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            wakeups: true,
            lease: Duration::from_secs(30),
            processing_timeout: Duration::from_secs(300),
            max_attempts: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(600),
            drift: DriftPolicy::Refuse,
            capture: CaptureConfig::default(),
            reconnect_backoff: Duration::from_millis(100),
        }
    }
}

impl RuntimeConfig {
    /// The delay before the attempt after `failed_attempt` (1-based), jitter included.
    pub(crate) fn backoff(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(30);
        let base = self.initial_backoff.saturating_mul(1u32 << doublings).min(self.max_backoff);
        let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
        base + jitter
    }
}

/// The start-up check of installed triggers against the code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DriftPolicy {
    /// Refuse to start when a processed table's capture is missing or outdated: changes
    /// could be missed or mis-captured. The default.
    #[default]
    Refuse,
    /// Log a warning and start.
    Warn,
    /// Do not check.
    Skip,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_bounded_jitter_and_a_ceiling() {
        let config = RuntimeConfig {
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(1),
            ..RuntimeConfig::default()
        };
        for (attempt, base_ms) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (40, 1000)] {
            let delay = config.backoff(attempt);
            let base = Duration::from_millis(base_ms);
            assert!(delay >= base && delay <= base.mul_f64(1.5), "attempt {attempt}: {delay:?}");
        }
    }
}
