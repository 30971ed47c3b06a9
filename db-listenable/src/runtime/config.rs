//! The runtime's settings.

use std::time::Duration;

use crate::ddl::CaptureConfig;
use crate::error::ConfigError;

/// How the runtime claims, retries and waits. `Default` suits most applications.
///
/// Set with chained setters, read with `get_` getters (as sqlx's `PgPoolOptions`);
/// [`validate`](RuntimeConfig::validate) checks the whole, and
/// [`RuntimeBuilder::start`](super::RuntimeBuilder::start) refuses what it refuses.
///
/// ```
/// use std::time::Duration;
/// use db_listenable::runtime::RuntimeConfig;
///
/// let config = RuntimeConfig::default().workers(4).batch_size(500).poll_interval(Duration::from_millis(200));
/// assert_eq!(config.get_workers(), 4);
/// assert!(config.validate().is_ok());
/// assert!(RuntimeConfig::default().batch_size(0).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuntimeConfig {
    pub(crate) workers: usize,
    pub(crate) batch_size: usize,
    pub(crate) claim_bytes: usize,
    pub(crate) route_batch_size: usize,
    pub(crate) poll_interval: Duration,
    pub(crate) wakeups: bool,
    pub(crate) prepared_statements: bool,
    pub(crate) lease: Duration,
    pub(crate) processing_timeout: Duration,
    pub(crate) max_attempts: u32,
    pub(crate) initial_backoff: Duration,
    pub(crate) max_backoff: Duration,
    pub(crate) drift: DriftPolicy,
    pub(crate) capture: CaptureConfig,
    pub(crate) reconnect_backoff: Duration,
    pub(crate) heartbeat_interval: Duration,
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        RuntimeConfig {
            workers: 2,
            batch_size: 1000,
            claim_bytes: 16 * 1024 * 1024,
            route_batch_size: 1000,
            poll_interval: Duration::from_secs(1),
            wakeups: true,
            prepared_statements: true,
            lease: Duration::from_secs(30),
            processing_timeout: Duration::from_secs(300),
            max_attempts: 10,
            initial_backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(600),
            drift: DriftPolicy::Compatible,
            capture: CaptureConfig::default(),
            reconnect_backoff: Duration::from_millis(100),
            heartbeat_interval: Duration::from_secs(30),
        }
    }
}

impl RuntimeConfig {
    /// The longest lease or retry delay accepted: both are added to PostgreSQL
    /// timestamps (and the lease to the worker's clock), which overflow long before
    /// `Duration::MAX`. A year is far beyond any useful value.
    pub const LONGEST: Duration = Duration::from_secs(365 * 24 * 60 * 60);

    /// How long a subscriber may go unseen before operators are told that no runtime
    /// serves it any more (the default of the dashboard's
    /// `Dashboard::stale_after` (feature `web`) and of the CLI's
    /// `subscribers list|remove`): ten heartbeats at the default
    /// [`heartbeat_interval`](Self::heartbeat_interval), so a busy database or a long
    /// pause of the process does not make a live subscriber look abandoned.
    pub const STALE_AFTER: Duration = Duration::from_secs(300);

    /// The defaults (as [`Default`]).
    pub fn new() -> Self {
        RuntimeConfig::default()
    }

    /// Worker tasks in this process (default 2). Each claims batches for every
    /// subscriber in turn; workers of all processes share the journal.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// Changes claimed at once per subscriber (default 1000). A claim costs two cursor
    /// updates whatever its size, so large batches drain fastest (BENCHMARKS.md); memory
    /// stays bounded by [`claim_bytes`](RuntimeConfig::claim_bytes). A smaller batch
    /// makes a failure's retry, or a lost lease, redo less.
    pub fn batch_size(mut self, batch_size: usize) -> Self {
        self.batch_size = batch_size;
        self
    }

    /// The most row data a claim takes at once, in bytes (default 16 MiB): a claim stops
    /// before the delivery that would pass it, so memory is bounded by bytes as well as
    /// by [`batch_size`](RuntimeConfig::batch_size) (a backlog of 1 MB rows at batch size
    /// 1000 would otherwise be a 1 GB batch). A delivery larger than the budget is still
    /// claimed, alone, so nothing gets stuck. Counted as PostgreSQL stores the rows
    /// (`pg_column_size` of the old and new row, after TOAST compression), so rows that
    /// compress well take up to their compression ratio more memory once decoded. A
    /// batch sits in memory about three times over while it is processed (driver
    /// buffers, JSON, decoded values), per worker.
    pub fn claim_bytes(mut self, claim_bytes: usize) -> Self {
        self.claim_bytes = claim_bytes;
        self
    }

    /// Kept entries (`db_listenable.unrouted`) the router hands to their table's new
    /// subscribers per round (default 1000). The name is from the layout before version 3,
    /// when the router moved every journal entry.
    pub fn route_batch_size(mut self, route_batch_size: usize) -> Self {
        self.route_batch_size = route_batch_size;
        self
    }

    /// How often an idle worker looks for work without a wake-up (default 1 s). The
    /// poll alone is correct; wake-ups only shorten the wait.
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// `LISTEN` for wake-ups (the capture triggers' gated NOTIFY, and requeues');
    /// default on. Off: poll only (behind a pooler in transaction mode, with
    /// [`prepared_statements(false)`](RuntimeConfig::prepared_statements) unless the pooler
    /// tracks prepared statements).
    pub fn wakeups(mut self, wakeups: bool) -> Self {
        self.wakeups = wakeups;
        self
    }

    /// Prepare the runtime's statements (default on): sqlx's named statements, cached on
    /// each connection. Off: every statement of the runtime (claims, settlements,
    /// the router's rounds, lease renewals, stats, start-up checks, registration,
    /// [`Context::settle_in`](super::Context::settle_in)) is sent unprepared, in a
    /// transaction of its own where it had none, as [`DbPool::unprepared`](crate::DbPool::unprepared)
    /// describes. For a connection pooler in transaction mode that does not track
    /// prepared statements (PgBouncer before 1.21, or without `max_prepared_statements`),
    /// together with [`wakeups(false)`](RuntimeConfig::wakeups); it costs the drain a
    /// parse and two round trips per statement (see OPERATIONS.md, "Connection poolers").
    /// Processors' own statements are theirs to send unprepared
    /// ([`Context::prepared_statements`](super::Context::prepared_statements)).
    pub fn prepared_statements(mut self, prepared_statements: bool) -> Self {
        self.prepared_statements = prepared_statements;
        self
    }

    /// How long a claim lasts without renewal (default 30 s). The worker renews it every
    /// third of this while its processor runs, so a slow batch keeps its deliveries; a
    /// worker that dies (or loses its connection for longer) gives them back when the
    /// lease ends, and another worker processes them again. Renewals use connections of
    /// their own (up to one per worker, opened when a batch first outlives a third of
    /// its lease), so processors that hold every pool connection cannot starve them. A
    /// worker that cannot renew before the lease ends stops its processor and leaves the
    /// batch to whoever claims it next: one change never runs in two places at once.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    /// The longest a processor may take over one batch (default 300 s); past it the
    /// batch fails (and is retried), so a hung processor cannot hold its deliveries
    /// forever. It may exceed the lease, which is renewed meanwhile.
    pub fn processing_timeout(mut self, processing_timeout: Duration) -> Self {
        self.processing_timeout = processing_timeout;
        self
    }

    /// Attempts before a failing delivery is dead-lettered (default 10).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// Delay before the second attempt (default 500 ms); doubled at each failure, up to
    /// [`max_backoff`](RuntimeConfig::max_backoff), with up to 50 % random jitter added.
    /// Zero retries at once.
    pub fn initial_backoff(mut self, initial_backoff: Duration) -> Self {
        self.initial_backoff = initial_backoff;
        self
    }

    /// The longest delay between attempts (default 600 s).
    pub fn max_backoff(mut self, max_backoff: Duration) -> Self {
        self.max_backoff = max_backoff;
        self
    }

    /// What to do when the installed triggers differ from what the code generates
    /// (default [`DriftPolicy::Compatible`]).
    pub fn drift(mut self, drift: DriftPolicy) -> Self {
        self.drift = drift;
        self
    }

    /// The capture configuration the triggers were generated with, for the drift check
    /// (default [`CaptureConfig::default`]).
    pub fn capture(mut self, capture: CaptureConfig) -> Self {
        self.capture = capture;
        self
    }

    /// Reconnection backoff after a database error (default 100 ms): starts here,
    /// doubles, up to 30 s.
    pub fn reconnect_backoff(mut self, reconnect_backoff: Duration) -> Self {
        self.reconnect_backoff = reconnect_backoff;
        self
    }

    /// How often the runtime records in `db_listenable.subscribers.seen_at` that its
    /// subscribers are served (default 30 s; also at registration). A subscriber whose
    /// `seen_at` is older than [`STALE_AFTER`](Self::STALE_AFTER) has no running instance:
    /// the dashboard marks it stale, and `subscribers remove` removes it. Keep it well
    /// under the threshold operators use.
    pub fn heartbeat_interval(mut self, heartbeat_interval: Duration) -> Self {
        self.heartbeat_interval = heartbeat_interval;
        self
    }

    /// See [`workers`](RuntimeConfig::workers).
    pub fn get_workers(&self) -> usize {
        self.workers
    }

    /// See [`batch_size`](RuntimeConfig::batch_size).
    pub fn get_batch_size(&self) -> usize {
        self.batch_size
    }

    /// See [`claim_bytes`](RuntimeConfig::claim_bytes).
    pub fn get_claim_bytes(&self) -> usize {
        self.claim_bytes
    }

    /// See [`route_batch_size`](RuntimeConfig::route_batch_size).
    pub fn get_route_batch_size(&self) -> usize {
        self.route_batch_size
    }

    /// See [`poll_interval`](RuntimeConfig::poll_interval).
    pub fn get_poll_interval(&self) -> Duration {
        self.poll_interval
    }

    /// See [`wakeups`](RuntimeConfig::wakeups).
    pub fn get_wakeups(&self) -> bool {
        self.wakeups
    }

    /// See [`prepared_statements`](RuntimeConfig::prepared_statements).
    pub fn get_prepared_statements(&self) -> bool {
        self.prepared_statements
    }

    /// See [`lease`](RuntimeConfig::lease).
    pub fn get_lease(&self) -> Duration {
        self.lease
    }

    /// See [`processing_timeout`](RuntimeConfig::processing_timeout).
    pub fn get_processing_timeout(&self) -> Duration {
        self.processing_timeout
    }

    /// See [`max_attempts`](RuntimeConfig::max_attempts).
    pub fn get_max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// See [`initial_backoff`](RuntimeConfig::initial_backoff).
    pub fn get_initial_backoff(&self) -> Duration {
        self.initial_backoff
    }

    /// See [`max_backoff`](RuntimeConfig::max_backoff).
    pub fn get_max_backoff(&self) -> Duration {
        self.max_backoff
    }

    /// See [`drift`](RuntimeConfig::drift).
    pub fn get_drift(&self) -> DriftPolicy {
        self.drift
    }

    /// See [`capture`](RuntimeConfig::capture).
    pub fn get_capture(&self) -> &CaptureConfig {
        &self.capture
    }

    /// See [`reconnect_backoff`](RuntimeConfig::reconnect_backoff).
    pub fn get_reconnect_backoff(&self) -> Duration {
        self.reconnect_backoff
    }

    /// See [`heartbeat_interval`](RuntimeConfig::heartbeat_interval).
    pub fn get_heartbeat_interval(&self) -> Duration {
        self.heartbeat_interval
    }

    /// Checks that the settings can work together; the first problem found, naming its
    /// setting. [`RuntimeBuilder::start`](super::RuntimeBuilder::start) runs this.
    ///
    /// # Errors
    /// A [`ConfigError`] other than the registration ones (`NoSubscriber`,
    /// `DuplicateSubscriber`, which the builder checks).
    pub fn validate(&self) -> Result<(), ConfigError> {
        let zero = [
            (self.workers == 0, ConfigError::ZeroWorkers),
            (self.batch_size == 0, ConfigError::ZeroBatchSize),
            (self.claim_bytes == 0, ConfigError::ZeroClaimBytes),
            (self.route_batch_size == 0, ConfigError::ZeroRouteBatchSize),
            (self.poll_interval.is_zero(), ConfigError::ZeroPollInterval),
            // The journal keeps leases in whole milliseconds: less is no lease at all,
            // and a worker stops its processor when the lease ends unrenewed.
            (self.lease < Duration::from_millis(1), ConfigError::LeaseTooShort { lease: self.lease }),
            (self.processing_timeout.is_zero(), ConfigError::ZeroProcessingTimeout),
            (self.max_attempts == 0, ConfigError::ZeroMaxAttempts),
            (self.reconnect_backoff.is_zero(), ConfigError::ZeroReconnectBackoff),
            (self.heartbeat_interval.is_zero(), ConfigError::ZeroHeartbeatInterval),
        ];
        if let Some((_, error)) = zero.into_iter().find(|(refused, _)| *refused) {
            return Err(error);
        }
        for (setting, value) in [("lease", self.lease), ("max_backoff", self.max_backoff)] {
            if value > Self::LONGEST {
                return Err(ConfigError::TooLong { setting, value, max: Self::LONGEST });
            }
        }
        if self.initial_backoff > self.max_backoff {
            return Err(ConfigError::BackoffRange { initial: self.initial_backoff, max: self.max_backoff });
        }
        Ok(())
    }

    /// The delay before the attempt after `failed_attempt` (1-based), jitter included.
    pub(crate) fn backoff(&self, failed_attempt: u32) -> Duration {
        let doublings = failed_attempt.saturating_sub(1).min(30);
        let base = self.initial_backoff.saturating_mul(1u32 << doublings).min(self.max_backoff);
        let jitter = base.mul_f64(rand::random::<f64>() * 0.5);
        base + jitter
    }
}

/// The start-up check of installed triggers against the code.
///
/// Whatever the policy, the start refuses a journal schema this code cannot run against
/// ([`crate::Error::SchemaOutdated`], [`crate::Error::SchemaTooNew`]), a model whose table
/// lacks its columns and models of one table that disagree on its capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DriftPolicy {
    /// Refuse to start when a processed table's capture is missing, outdated or does not
    /// provide what a model needs; start, with a warning, when it was installed from other
    /// SQL that provides everything the models read ([`crate::drift::Drift::Compatible`]:
    /// the same key, their events, none of their columns excluded or made quiet). The
    /// default, because a rolling deploy installs the new release's capture first: with
    /// [`Refuse`](DriftPolicy::Refuse), every instance of the old release that restarts
    /// meanwhile (a crash, a scale-up, the orchestrator moving it) would refuse, though it
    /// misses nothing.
    #[default]
    Compatible,
    /// Refuse to start on any difference, compatible ones included: for a deployment that
    /// never runs two releases at once and wants the capture to be exactly the code's.
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
        let config =
            RuntimeConfig::default().initial_backoff(Duration::from_millis(100)).max_backoff(Duration::from_secs(1));
        for (attempt, base_ms) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (40, 1000)] {
            let delay = config.backoff(attempt);
            let base = Duration::from_millis(base_ms);
            assert!(delay >= base && delay <= base.mul_f64(1.5), "attempt {attempt}: {delay:?}");
        }
    }
}
