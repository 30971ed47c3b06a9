//! Choices that change the generated SQL.

use std::time::Duration;

/// How the listener learns that there is something new in the journal.
///
/// The journal is always the source of truth; a wake-up only shortens the wait. Every
/// transaction that calls NOTIFY takes one cluster-wide lock at commit, so naive
/// per-transaction wake-ups halve insert throughput with 8 clients on a 2-core machine
/// (see "The wake-up is the throughput trap" in the design notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Wakeup {
    /// No NOTIFY at all: the listener polls. Cheapest for writers; latency is the poll interval.
    Off,
    /// `pg_notify(channel, '')` only from a transaction that wins
    /// `pg_try_advisory_xact_lock`, so at most one notifying transaction is in flight.
    /// A change committed just after a wake-up is found by the listener's drain-until-empty
    /// or the next poll. The default.
    #[default]
    Gated,
}

/// Where the capture code runs: once per changed row, or once per statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Granularity {
    /// One statement-level trigger per operation with transition tables: one
    /// `INSERT ... SELECT` into the journal per statement, whatever its row count. An
    /// UPDATE pairs its old and new rows by key, so a row whose key changed is the `D`
    /// of the key it left and the `I` of the key it took. The default (see BENCHMARKS.md
    /// for the measurements).
    #[default]
    Statement,
    /// One row-level trigger: a PL/pgSQL call and a journal insert per changed row.
    Row,
}

/// Options for the generated capture SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptureConfig {
    /// Wake-up mode.
    pub wakeup: Wakeup,
    /// Row- or statement-level capture.
    pub granularity: Granularity,
    /// How long a generated migration waits for a lock on a table before it fails,
    /// naming the table ([`DEFAULT_LOCK_TIMEOUT`] by default). `CREATE TRIGGER` queues
    /// behind every transaction that touched the table and, while it waits, blocks every
    /// writer that comes after it; failing fast keeps a busy table writable. `None` sets
    /// nothing, so the session's own `lock_timeout` applies (PostgreSQL's default: wait
    /// for ever). The setting is transaction-local (`SET LOCAL`) and does not enter the
    /// capture's fingerprint, so changing it alone writes no new migration.
    pub lock_timeout: Option<Duration>,
}

impl Default for CaptureConfig {
    fn default() -> Self {
        CaptureConfig {
            wakeup: Wakeup::default(),
            granularity: Granularity::default(),
            lock_timeout: Some(DEFAULT_LOCK_TIMEOUT),
        }
    }
}

/// The lock timeout of generated migrations unless [`CaptureConfig::lock_timeout`] says
/// otherwise: long enough for the short transactions of a busy application to finish,
/// short enough that writers queued behind the migration barely notice.
pub const DEFAULT_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The NOTIFY channel the wake-up uses (payload is always empty: rows travel through
/// the journal, never through NOTIFY, so NOTIFY's 8000-byte limit never applies).
pub const WAKEUP_CHANNEL: &str = "db_listenable";

/// The two keys of the advisory lock that gates wake-ups (`pg_try_advisory_xact_lock(int, int)`):
/// an arbitrary constant pair, unlikely to meet an application's own advisory locks.
pub const WAKEUP_LOCK: (i32, i32) = (0x6462_6c69, 0x7761_6b65);
