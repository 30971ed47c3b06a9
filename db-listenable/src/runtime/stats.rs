//! Backlog figures per subscriber, from the database.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use sqlx::Row;

use super::shared::Shared;
use crate::DbPool;
use crate::error::{Error, Result};

/// Upper bounds, in seconds, of the processing-time histogram's buckets (Prometheus'
/// default buckets, which span a fast in-database update to a slow remote call).
pub const LATENCY_BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// How long changes took to process in this process, as a histogram.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LatencyHistogram {
    /// Changes per bucket, not cumulative: `counts[i]` took at most `LATENCY_BUCKETS[i]`
    /// seconds and more than the bound before; the last entry counts the slower ones.
    /// Empty when nothing was recorded (read with [`load`]).
    pub counts: Vec<u64>,
    /// The total processing time of the counted changes.
    pub sum: Duration,
}

impl LatencyHistogram {
    /// How many changes were counted.
    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// The state of the journal and of every subscriber registered in the database.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Stats {
    /// Committed journal entries of tables that no subscriber consumes, still in the
    /// journal (moved to `db_listenable.unrouted` when their partition is emptied).
    pub unrouted: i64,
    /// Entries kept because no subscriber consumes their table, in the journal or in
    /// `db_listenable.unrouted`: (table, count).
    pub unconsumed: Vec<(String, i64)>,
    /// One entry per subscriber, by name.
    pub subscribers: Vec<SubscriberStats>,
}

/// One subscriber's backlog.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubscriberStats {
    /// The subscriber's name.
    pub name: String,
    /// Its table (`schema.table`) or outbox topic (`outbox:<catalog>`).
    pub table: String,
    /// Changes ready to be claimed now: committed journal entries past its cursor, and
    /// deliveries available now.
    pub pending: i64,
    /// Changes held by a worker under a live lease.
    pub in_flight: i64,
    /// Deliveries that failed and wait for their next attempt.
    pub retrying: i64,
    /// Dead letters.
    pub dead: i64,
    /// Age of the oldest change not yet processed (pending, retrying or in flight).
    pub oldest_pending_age: Option<Duration>,
    /// The error kept on the oldest change not yet processed that failed before (a
    /// failure's text, or `retry after <delay>: <reason>` from a
    /// [`RetryAfter`](super::RetryAfter)): why its row is held back.
    pub oldest_error: Option<String>,
    /// How long ago a runtime last announced that it serves this subscriber
    /// (`db_listenable.subscribers.seen_at`: at registration, then every
    /// [`heartbeat_interval`](super::RuntimeConfig::heartbeat_interval)). Past a
    /// threshold ([`is_stale`](Self::is_stale)) no runtime serves it any more.
    pub seen_ago: Duration,
    /// Changes this process finished since its runtime started (0 when read with [`load`]).
    pub processed_here: u64,
    /// Failed attempts in this process since start (errors, panics, timeouts, and
    /// [`Permanent`](super::Permanent) failures; not [`RetryAfter`](super::RetryAfter)).
    pub failed_here: u64,
    /// Changes the processor skipped ([`Skip`](super::Skip)) in this process since start;
    /// not counted in `processed_here`. Each skip is logged with its reason.
    pub skipped_here: u64,
    /// Changes per second this process finished over the last minute.
    pub per_second: f64,
    /// Processing time per change in this process since start (a batch's time is shared
    /// equally among its changes).
    pub processing_time: LatencyHistogram,
}

impl SubscriberStats {
    /// Whether no runtime announced this subscriber for longer than `stale_after`
    /// ([`RuntimeConfig::STALE_AFTER`](super::RuntimeConfig::STALE_AFTER) by default in
    /// the dashboard and the CLI): an instance gone for good, a processor renamed. Its
    /// backlog grows with every change of its table (and keeps journal partitions from
    /// being emptied) until it is removed
    /// ([`remove_stale_subscriber`](super::remove_stale_subscriber)).
    pub fn is_stale(&self, stale_after: Duration) -> bool {
        self.seen_ago > stale_after
    }
}

/// A cheap, clonable view of a [`Runtime`](super::Runtime)'s figures that outlives a
/// borrow of it (a dashboard or a metrics endpoint keeps one), from
/// [`Runtime::stats_handle`](super::Runtime::stats_handle).
#[derive(Clone)]
pub struct StatsHandle {
    shared: Arc<Shared>,
}

impl StatsHandle {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        StatsHandle { shared }
    }

    /// Every subscriber's backlog in the database, with this process's counters, rates
    /// and processing times.
    ///
    /// # Errors
    /// [`Error::Database`] if the counts cannot be read.
    pub async fn stats(&self) -> Result<Stats> {
        let mut stats = load(self.shared.db()).await?;
        for served in &self.shared.served {
            if let Some(entry) = stats.subscribers.iter_mut().find(|s| s.name == served.subscriber.spec().name) {
                entry.processed_here = served.counters.processed.load(Ordering::Relaxed);
                entry.failed_here = served.counters.failed.load(Ordering::Relaxed);
                entry.skipped_here = served.counters.skipped.load(Ordering::Relaxed);
                entry.per_second = served.counters.rate();
                entry.processing_time = served.counters.latency();
            }
        }
        Ok(stats)
    }

    /// Changes processed in this process since start, per subscriber it serves (no
    /// database access: cheap enough to sample every few seconds).
    pub fn processed(&self) -> Vec<(String, u64)> {
        self.shared
            .served
            .iter()
            .map(|served| (served.subscriber.spec().name.clone(), served.counters.processed.load(Ordering::Relaxed)))
            .collect()
    }

    /// Whether the runtime prepares its statements (the dashboard follows it).
    #[cfg(feature = "web")]
    pub(crate) fn prepared_statements(&self) -> bool {
        self.shared.config.prepared_statements
    }

    /// The capture configuration the runtime checks the triggers against.
    pub fn capture_config(&self) -> &crate::ddl::CaptureConfig {
        &self.shared.config.capture
    }
}

impl std::fmt::Debug for StatsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.shared.served.iter().map(|s| s.subscriber.spec().name.as_str()).collect();
        f.debug_struct("StatsHandle").field("subscribers", &names).finish_non_exhaustive()
    }
}

/// Reads the figures of every subscriber registered in the database (without this
/// process's rates; [`Runtime::stats`](super::Runtime::stats) adds them).
///
/// # Errors
/// [`Error::Database`] if the counts cannot be read.
pub async fn load<'a>(db: impl Into<DbPool<'a>>) -> Result<Stats> {
    let db = db.into();
    let action = "read db-listenable stats";
    // Unprepared, the three statements share one transaction.
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    // Tables without a subscriber that have journal entries: found by skipping through
    // the journal's index one table at a time (a handful of probes, whatever its size).
    let waiting = sqlx::query(
        "WITH RECURSIVE ids(table_id) AS (
             (SELECT j.table_id FROM db_listenable.changes j ORDER BY j.table_id LIMIT 1)
             UNION ALL
             SELECT (SELECT j.table_id FROM db_listenable.changes j WHERE j.table_id > i.table_id
                     ORDER BY j.table_id LIMIT 1)
             FROM ids i WHERE i.table_id IS NOT NULL
         ), journal AS (
             SELECT i.table_id, (SELECT count(*) FROM db_listenable.changes j
                                 WHERE j.table_id = i.table_id
                                   AND NOT EXISTS (SELECT FROM db_listenable.resume_points r
                                                   WHERE r.table_id = j.table_id
                                                     AND (j.id <= r.lo OR pg_visible_in_snapshot(j.txid, r.snap)))) AS n
             FROM ids i
             WHERE i.table_id IS NOT NULL
               AND NOT EXISTS (SELECT FROM db_listenable.subscribers s WHERE s.table_id = i.table_id)
         ), kept AS (
             SELECT u.table_id, count(*) AS n FROM db_listenable.unrouted u GROUP BY u.table_id
         )
         SELECT coalesce(t.schema_name || '.' || t.table_name, 'table id ' || w.table_id),
                sum(w.n)::bigint, sum(w.n) FILTER (WHERE w.in_journal)::bigint
         FROM (SELECT table_id, n, true AS in_journal FROM journal WHERE n > 0
               UNION ALL SELECT table_id, n, false FROM kept) w
         LEFT JOIN db_listenable.tables t ON t.id = w.table_id
         GROUP BY 1 ORDER BY 1",
    )
    .persistent(db.prepared())
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    let unrouted = waiting.iter().map(|row| row.get::<Option<i64>, _>(2).unwrap_or(0)).sum();
    let unconsumed = waiting.iter().map(|row| (row.get::<String, _>(0), row.get::<i64, _>(1))).collect();
    let rows = sqlx::query(
        "SELECT s.name,
                coalesce(t.schema_name || '.' || t.table_name, 'topic ' || s.table_id),
                coalesce(d.pending, 0) + j.backlog - j.in_flight, coalesce(d.in_flight, 0) + j.in_flight,
                coalesce(d.retrying, 0),
                (SELECT count(*) FROM db_listenable.dead_letters x WHERE x.subscriber_id = s.id),
                extract(epoch FROM now() - least(d.oldest, j.oldest))::float8,
                (SELECT x.last_error FROM db_listenable.deliveries x
                 WHERE x.subscriber_id = s.id AND x.change_id = d.first_failed),
                greatest(extract(epoch FROM now() - s.seen_at), 0)::float8
         FROM db_listenable.subscribers s
         LEFT JOIN db_listenable.tables t ON t.id = s.table_id
         LEFT JOIN LATERAL (
             SELECT count(*) FILTER (WHERE e.available_at <= now() AND (e.leased_until IS NULL OR e.leased_until < now())) AS pending,
                    count(*) FILTER (WHERE e.leased_until >= now()) AS in_flight,
                    count(*) FILTER (WHERE e.available_at > now() AND (e.leased_until IS NULL OR e.leased_until < now())) AS retrying,
                    min(e.captured_at) AS oldest,
                    -- Found by the scan the counts make anyway; its error is then read
                    -- by primary key.
                    min(e.change_id) FILTER (WHERE e.last_error IS NOT NULL) AS first_failed
             FROM db_listenable.deliveries e WHERE e.subscriber_id = s.id
         ) d ON true
         -- The journal past its cursor (see ddl::cursor), the leased batch included.
         LEFT JOIN db_listenable.cursors c ON c.subscriber_id = s.id
         CROSS JOIN LATERAL (
             SELECT count(*) AS backlog, min(e.captured_at) AS oldest,
                    CASE WHEN c.leased_until >= now() THEN c.in_flight ELSE 0 END AS in_flight
             FROM db_listenable.pending_entries(s.id) e
         ) j
         ORDER BY s.name",
    )
    .persistent(db.prepared())
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    let subscribers = rows
        .into_iter()
        .map(|row| {
            let name: String = row.get(0);
            let table: String = row.get(1);
            let table = match table.strip_prefix("topic ") {
                Some(_) => name.strip_prefix("outbox:").map_or(table.clone(), crate::ddl::topic_label),
                None => table,
            };
            SubscriberStats {
                name,
                table,
                pending: row.get(2),
                in_flight: row.get(3),
                retrying: row.get(4),
                dead: row.get(5),
                oldest_pending_age: row.get::<Option<f64>, _>(6).map(|s| Duration::from_secs_f64(s.max(0.0))),
                oldest_error: row.get(7),
                seen_ago: Duration::from_secs_f64(row.get::<f64, _>(8)),
                ..SubscriberStats::default()
            }
        })
        .collect();
    Ok(Stats { unrouted, unconsumed, subscribers })
}
