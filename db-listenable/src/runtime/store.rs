//! Every statement the workers run against the cursors and the delivery tables (see
//! [`crate::ddl::delivery`]).
//!
//! Each is one statement in its own transaction, committed without waiting for the WAL
//! flush (`set_config('synchronous_commit', 'off', true)` inside the statement, so the
//! application's own transactions on the shared pool keep their setting). Losing such a
//! commit in a server crash is harmless: a lost claim or lease renewal leaves the
//! batch claimable; a lost round of the router is done again by the next; a lost
//! settlement makes the batch run again. All of it is what
//! at-least-once delivery already allows, and small batches stop paying one flush per
//! claim and one per settlement.

use std::time::Duration;

use sqlx::Row;

use super::subscriber::Spec;
use crate::DbPool;
use crate::ddl::ROUTER_LOCK;
use crate::error::{Error, Result};

/// Fails with [`Error::NotInstalled`] unless the journal and delivery tables exist (which
/// layout they have is the version check's: [`crate::ddl::SchemaVersion`]).
///
/// # Errors
/// [`Error::NotInstalled`], or [`Error::Database`] if the check itself fails.
pub async fn ensure_installed<'a>(db: impl Into<DbPool<'a>>) -> Result<()> {
    let db = db.into();
    let action = "look for the db_listenable journal";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let present: bool = sqlx::query_scalar(
        "SELECT to_regclass('db_listenable.changes') IS NOT NULL AND to_regclass('db_listenable.deliveries') IS NOT NULL \
         AND to_regclass('db_listenable.unrouted') IS NOT NULL",
    )
    .persistent(db.prepared())
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    if present { Ok(()) } else { Err(Error::NotInstalled) }
}

/// Waits for the router lock and holds it until `tx` ends: no routing round runs
/// meanwhile, and the statements that follow read what the last round left.
async fn hold_router_lock(tx: &mut sqlx::PgConnection, prepared: bool) -> std::result::Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_xact_lock($1, $2)")
        .bind(ROUTER_LOCK.0)
        .bind(ROUTER_LOCK.1)
        .persistent(prepared)
        .execute(tx)
        .await?;
    Ok(())
}

/// Registers (or refreshes) a subscriber and hands it the kept entries of its table
/// that no subscriber consumed yet. Returns its id.
pub(crate) async fn register(db: DbPool<'_>, spec: &Spec) -> Result<i32> {
    let action = || format!("register subscriber `{}` for {}", spec.name, spec.label);
    let mut tx = db.pool().begin().await.map_err(Error::database(action()))?;
    // Registration and the router exclude each other (`maintain` reads only once it
    // holds this lock): a journal partition is emptied, and its entries nobody consumes
    // kept in `unrouted`, either before this subscriber exists (and they are adopted
    // below) or after (and its cursor keeps them). The statements below run after the
    // lock, so their snapshots see the last round.
    hold_router_lock(&mut tx, db.prepared()).await.map_err(Error::database(action()))?;
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET table_id = EXCLUDED.table_id, key_columns = EXCLUDED.key_columns,
                                           seen_at = now()
         RETURNING id",
    )
    .bind(&spec.name)
    .bind(spec.table_id)
    .bind(&spec.key_columns)
    .persistent(db.prepared())
    .fetch_one(&mut *tx)
    .await
    .map_err(Error::database(action()))?;
    // Where it starts reading the journal: a table's first subscriber where its last one
    // was removed, or at the journal's beginning (nothing is passed over that no one
    // processed); another one where the least advanced subscriber of its table stands, so
    // it gets at least what they still have to do: its whole position, the range it is
    // working through included (the entries of that range it has processed, up to `pos`,
    // are not in its snapshot yet).
    sqlx::query(
        "WITH resumed AS (
             DELETE FROM db_listenable.resume_points r
             WHERE r.table_id = $2
               AND NOT EXISTS (SELECT FROM db_listenable.subscribers s WHERE s.table_id = $2 AND s.id <> $1)
             RETURNING r.snap, r.lo
         ), peer AS (
             SELECT c.snap, c.lo, c.target, c.target_lo, c.target_hi, c.pos
             FROM db_listenable.cursors c JOIN db_listenable.subscribers s ON s.id = c.subscriber_id
             WHERE s.table_id = $2 AND s.id <> $1
             ORDER BY c.lo, c.snap::text LIMIT 1
         )
         INSERT INTO db_listenable.cursors (subscriber_id, snap, lo, target, target_lo, target_hi, pos, hi)
         SELECT $1, start.snap, start.lo, start.target, start.target_lo, start.target_hi, start.pos,
                db_listenable.allocated_id()
         FROM (SELECT r.snap, r.lo, NULL::pg_snapshot AS target, NULL::bigint AS target_lo,
                      NULL::bigint AS target_hi, r.lo AS pos
               FROM resumed r
               UNION ALL
               SELECT p.snap, p.lo, p.target, p.target_lo, p.target_hi, p.pos FROM peer p
               WHERE NOT EXISTS (SELECT FROM resumed)
               UNION ALL
               SELECT '1:1:'::pg_snapshot, 0, NULL, NULL, NULL, 0
               WHERE NOT EXISTS (SELECT FROM resumed) AND NOT EXISTS (SELECT FROM peer)) start
         ON CONFLICT (subscriber_id) DO NOTHING",
    )
    .bind(id)
    .bind(spec.table_id)
    .persistent(db.prepared())
    .execute(&mut *tx)
    .await
    .map_err(Error::database(action()))?;
    sqlx::query(
        "WITH kept AS (DELETE FROM db_listenable.unrouted WHERE table_id = $2 RETURNING *)
         INSERT INTO db_listenable.deliveries
             (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key)
         SELECT $1, k.id, k.table_id, k.op, k.txid, k.captured_at, k.old_row, k.new_row,
                db_listenable.row_key(k.table_id, k.op, k.id, k.old_row, k.new_row, $3)
         FROM kept k",
    )
    .bind(id)
    .bind(spec.table_id)
    .bind(&spec.key_columns)
    .persistent(db.prepared())
    .execute(&mut *tx)
    .await
    .map_err(Error::database(action()))?;
    tx.commit().await.map_err(Error::database(action()))?;
    Ok(id)
}

/// What one round of the router did.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Maintained {
    /// Entries kept in `unrouted` earlier and given to their table's subscribers now.
    pub adopted: i64,
    /// Entries of tables no subscriber consumes, kept in `unrouted` before their journal
    /// partition was emptied.
    pub kept: i64,
    /// Journal partitions emptied.
    pub truncated: i32,
}

/// One round of the router, if no other router is at work (`None` then): adopts kept
/// entries, empties the journal partitions every subscriber is past (see
/// `ddl::partitions`). One call of `db_listenable.maintain`, in its own transaction.
pub(crate) async fn maintain(db: DbPool<'_>, limit: i64) -> Result<Option<Maintained>> {
    let action = "maintain the journal (adopt kept entries, empty consumed partitions)";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let row = sqlx::query("SELECT held, adopted_count, kept_count, truncated_count FROM db_listenable.maintain($1)")
        .bind(limit)
        .persistent(db.prepared())
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    if !row.get::<bool, _>(0) {
        return Ok(None);
    }
    Ok(Some(Maintained { adopted: row.get(1), kept: row.get(2), truncated: row.get(3) }))
}

/// Extends the lease of a journal batch held under `token` (on the subscriber's cursor).
/// Returns whether it was still held.
pub(crate) async fn renew_cursor(db: DbPool<'_>, subscriber_id: i32, token: i64, lease: Duration) -> Result<bool> {
    let action = "renew a lease";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let renewed = sqlx::query(
        "UPDATE db_listenable.cursors SET leased_until = now() + $3 * interval '1 millisecond'
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
         WHERE subscriber_id = $1 AND lease_token = $2",
    )
    .bind(subscriber_id)
    .bind(token)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .persistent(db.prepared())
    .execute(&mut *conn)
    .await
    .map_err(Error::database(action))?
    .rows_affected();
    conn.finish().await.map_err(Error::database(action))?;
    Ok(renewed > 0)
}

/// Extends the lease of the deliveries held under `token`. Returns how many were renewed.
///
/// Rows locked by another transaction are skipped, not waited for: those are deliveries
/// a processor settled in its own transaction ([`settle_done_in`]), still open; waiting
/// would stall the renewal until that transaction ends, and a batch processor's
/// settlement taking the rows in another order could deadlock with it. The worker counts
/// those deliveries apart (`settle_in::SettledInTx`).
pub(crate) async fn renew(db: DbPool<'_>, subscriber_id: i32, token: i64, lease: Duration) -> Result<u64> {
    let action = "renew a lease";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let renewed = sqlx::query(
        "UPDATE db_listenable.deliveries d SET leased_until = now() + $3 * interval '1 millisecond'
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
         WHERE d.subscriber_id = $1 AND d.change_id = ANY(ARRAY(
             SELECT h.change_id FROM db_listenable.deliveries h
             WHERE h.subscriber_id = $1 AND h.lease_token = $2
             FOR UPDATE SKIP LOCKED))",
    )
    .bind(subscriber_id)
    .bind(token)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .persistent(db.prepared())
    .execute(&mut *conn)
    .await
    .map_err(Error::database(action))?
    .rows_affected();
    conn.finish().await.map_err(Error::database(action))?;
    Ok(renewed)
}

/// The settlement of done deliveries, as common table expressions over the parameters
/// `$1` (subscriber id), `$2` (lease token) and `$3` (done change ids): `done` deletes
/// them (only those still held under the token) and returns their ids; `superseded`
/// counts them in the subscriber's older dead letters of the same rows. One definition
/// for the worker's settlement and for a processor's [`settle_done_in`].
macro_rules! done_ctes {
    () => {
        "done AS (
             DELETE FROM db_listenable.deliveries
             WHERE subscriber_id = $1 AND lease_token = $2 AND change_id = ANY($3)
             RETURNING change_id, row_key
         ), superseded AS (
             -- Dead letters of the rows just processed, older than what was processed:
             -- the requeue confirmation and `Change::requeued` tell how many newer
             -- changes ran since. An index probe per done row, and none at all (a one-time
             -- filter, evaluated once) while the subscriber has no dead letter.
             UPDATE db_listenable.dead_letters x SET newer_processed = x.newer_processed + n.newer
             FROM (SELECT l.change_id, count(*)::integer AS newer
                   FROM done d JOIN db_listenable.dead_letters l
                        ON l.subscriber_id = $1 AND l.row_key = d.row_key AND l.change_id < d.change_id
                   WHERE EXISTS (SELECT FROM db_listenable.dead_letters e WHERE e.subscriber_id = $1)
                   GROUP BY l.change_id) n
             WHERE x.subscriber_id = $1 AND x.change_id = n.change_id
         )"
    };
}

/// Settles the done deliveries `ids` inside the caller's transaction `tx` (a processor's:
/// [`Context::settle_in`](super::Context::settle_in)), exactly as the worker's
/// [`settle`] would, under the caller's durability settings (no asynchronous commit
/// here: this commit carries the processor's writes). Returns the ids it settled: those
/// still held under `token`.
pub(crate) async fn settle_done_in(
    tx: &mut sqlx::PgConnection,
    prepared: bool,
    subscriber_id: i32,
    token: i64,
    ids: &[i64],
) -> Result<Vec<i64>> {
    sqlx::query_scalar(concat!("WITH ", done_ctes!(), " SELECT coalesce(array_agg(change_id), '{}') FROM done"))
        .bind(subscriber_id)
        .bind(token)
        .bind(ids)
        .persistent(prepared)
        .fetch_one(tx)
        .await
        .map_err(Error::database("settle changes in the processor's transaction"))
}

/// The fate of a claimed batch, written in one transaction.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    /// Done or skipped: deleted.
    pub done: Vec<i64>,
    /// (change id, delay before the next attempt, error).
    pub retry: Vec<(i64, Duration, String)>,
    /// (change id, error).
    pub dead: Vec<(i64, String)>,
    /// Done by a processor that settled them in its own transaction: gone if that
    /// transaction committed; still held (and released for another attempt, with
    /// [`UNCOMMITTED`] as the error) if it did not.
    pub settled_in_tx: Vec<i64>,
    /// Every change the processor settled in its own transaction, whatever it returned:
    /// one of these found gone was not lost to another worker.
    pub settled_elsewhere: std::collections::BTreeSet<i64>,
    /// Processor failures (errors and panics) among them, retried or dead: for the counters.
    pub failed_attempts: u64,
    /// Skipped changes among `done`: for the counters.
    pub skipped: u64,
}

/// A settlement's retries and dead letters as the column arrays the statements take.
struct Columns<'a> {
    retry_ids: Vec<i64>,
    /// In milliseconds.
    retry_delays: Vec<i64>,
    retry_errors: Vec<&'a str>,
    dead_ids: Vec<i64>,
    dead_errors: Vec<&'a str>,
}

impl Settlement {
    fn columns(&self) -> Columns<'_> {
        Columns {
            retry_ids: self.retry.iter().map(|r| r.0).collect(),
            retry_delays: self.retry.iter().map(|r| i64::try_from(r.1.as_millis()).unwrap_or(i64::MAX)).collect(),
            retry_errors: self.retry.iter().map(|r| r.2.as_str()).collect(),
            dead_ids: self.dead.iter().map(|r| r.0).collect(),
            dead_errors: self.dead.iter().map(|r| r.1.as_str()).collect(),
        }
    }
}

/// The error recorded for a change whose processor settled it in a transaction that did
/// not commit, yet returned `Ok`.
pub(crate) const UNCOMMITTED: &str =
    "the processor returned Ok, but the transaction it settled this change in (Context::settle_in) did not commit";

/// Removes the done deliveries, schedules the retries, moves the dead ones to
/// `dead_letters` and releases the changes settled in a processor's transaction that did
/// not commit, in one statement (one round trip, one commit); only deliveries still held
/// under `token` are touched (a lease that ran out and was taken by another worker is
/// theirs now). Returns the ids it touched and, among them, those of `settled_in_tx`
/// (the transactions that did not commit).
pub(crate) async fn settle(
    db: DbPool<'_>,
    subscriber_id: i32,
    token: i64,
    settlement: &Settlement,
) -> Result<(Vec<i64>, Vec<i64>)> {
    if settlement.retry.is_empty() && settlement.dead.is_empty() && settlement.settled_in_tx.is_empty() {
        return settle_done(db, subscriber_id, token, &settlement.done).await.map(|done| (done, Vec::new()));
    }
    let Columns { retry_ids, retry_delays, retry_errors, dead_ids, dead_errors } = settlement.columns();
    let action = "record the outcome of a batch";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    // The four sets are disjoint, so no row is modified twice by the statement.
    let row = sqlx::query(concat!(
        "WITH async_commit AS (
             SELECT set_config('synchronous_commit', 'off', true)
         ), ",
        done_ctes!(),
        ", retried AS (
             UPDATE db_listenable.deliveries d
             SET leased_until = NULL, lease_token = NULL, last_error = f.error,
                 available_at = now() + f.delay * interval '1 millisecond'
             FROM unnest($4::bigint[], $5::bigint[], $6::text[]) AS f(change_id, delay, error)
             WHERE d.subscriber_id = $1 AND d.lease_token = $2 AND d.change_id = f.change_id
             RETURNING d.change_id
         ), dead AS (
             DELETE FROM db_listenable.deliveries d
             USING unnest($7::bigint[], $8::text[]) AS f(change_id, error)
             WHERE d.subscriber_id = $1 AND d.lease_token = $2 AND d.change_id = f.change_id
             RETURNING d.*, f.error
         ), buried AS (
             INSERT INTO db_listenable.dead_letters
                 (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, attempts, last_error,
                  newer_processed)
             SELECT subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, attempts, error,
                    coalesce((requeued ->> 'newer_processed')::integer, 0)
             FROM dead
             ON CONFLICT (subscriber_id, change_id) DO UPDATE
                 SET attempts = EXCLUDED.attempts, last_error = EXCLUDED.last_error, dead_at = now()
             RETURNING change_id
         ), uncommitted AS (
             -- Still held: the processor's transaction did not commit, so its effect is
             -- not applied either. Released at once: the attempt was counted at the claim.
             UPDATE db_listenable.deliveries d
             SET leased_until = NULL, lease_token = NULL, last_error = $10
             WHERE d.subscriber_id = $1 AND d.lease_token = $2 AND d.change_id = ANY($9)
             RETURNING d.change_id
         )
         SELECT array(SELECT change_id FROM done UNION ALL SELECT change_id FROM retried
                      UNION ALL SELECT change_id FROM buried UNION ALL SELECT change_id FROM uncommitted),
                array(SELECT change_id FROM uncommitted)
         -- Read, so that it runs: a CTE without side effects is evaluated only if used.
         FROM async_commit"
    ))
    .bind(subscriber_id)
    .bind(token)
    .bind(&settlement.done)
    .bind(&retry_ids)
    .bind(&retry_delays)
    .bind(&retry_errors)
    .bind(&dead_ids)
    .bind(&dead_errors)
    .bind(&settlement.settled_in_tx)
    .bind(UNCOMMITTED)
    .persistent(db.prepared())
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok((row.get(0), row.get(1)))
}

/// [`settle`] of a journal batch (see `ddl::cursor`): moves the subscriber's cursor past
/// `upto` (the batch's last change) and writes what did not go well, in one call. Returns
/// whether the lease was still held (nothing was written otherwise) and the changes of
/// `settled_in_tx` whose transaction did not commit (released for another attempt).
pub(crate) async fn settle_journal(
    db: DbPool<'_>,
    subscriber_id: i32,
    token: i64,
    upto: i64,
    attempt: u32,
    settlement: &Settlement,
) -> Result<(bool, Vec<i64>)> {
    let Columns { retry_ids, retry_delays, retry_errors, dead_ids, dead_errors } = settlement.columns();
    let done: Vec<i64> = settlement.done.iter().chain(&settlement.settled_in_tx).copied().collect();
    let action = "record the outcome of a batch";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let row = sqlx::query(
        "SELECT held, uncommitted FROM db_listenable.settle_journal($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(subscriber_id)
    .bind(token)
    .bind(upto)
    .bind(i32::try_from(attempt).unwrap_or(i32::MAX))
    .bind(&done)
    .bind(&retry_ids)
    .bind(&retry_delays)
    .bind(&retry_errors)
    .bind(&dead_ids)
    .bind(&dead_errors)
    .bind(&settlement.settled_in_tx)
    .bind(UNCOMMITTED)
    .persistent(db.prepared())
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok((row.get(0), row.get(1)))
}

/// Marks the journal changes `ids` as settled inside the caller's transaction `tx` (a
/// processor's: [`Context::settle_in`](super::Context::settle_in)): a marker per change
/// in `db_listenable.settled`, written only while the batch's lease (`token`) is held on
/// the subscriber's cursor. The cursor row is locked `FOR KEY SHARE` until `tx` ends, so
/// no other worker can claim the batch before the markers are committed or gone (the
/// worker's own renewals and settlement do not conflict with that lock). Returns the ids
/// it marked: all of them, or none when the lease is lost.
pub(crate) async fn settle_journal_in(
    tx: &mut sqlx::PgConnection,
    prepared: bool,
    subscriber_id: i32,
    token: i64,
    ids: &[i64],
) -> Result<Vec<i64>> {
    sqlx::query_scalar(
        "WITH held AS (
             SELECT subscriber_id FROM db_listenable.cursors
             WHERE subscriber_id = $1 AND lease_token = $2 FOR KEY SHARE
         ), marked AS (
             INSERT INTO db_listenable.settled (subscriber_id, change_id)
             SELECT h.subscriber_id, i FROM held h CROSS JOIN unnest($3::bigint[]) AS i
             ON CONFLICT DO NOTHING
             RETURNING change_id
         )
         SELECT CASE WHEN EXISTS (SELECT FROM held) THEN $3::bigint[] ELSE '{}' END
         FROM (SELECT count(*) FROM marked) AS written",
    )
    .bind(subscriber_id)
    .bind(token)
    .bind(ids)
    .persistent(prepared)
    .fetch_one(tx)
    .await
    .map_err(Error::database("settle changes in the processor's transaction"))
}

/// [`settle`] of a batch whose every change is done, the common case: the statement with
/// only the CTEs it needs. Each settlement is planned anew (custom plans: its arrays
/// change every time), and planning the full statement, CTEs for retries, dead letters
/// and uncommitted transactions included, cost a batch of one change about 8 % of the
/// drain rate (BENCHMARKS.md).
async fn settle_done(db: DbPool<'_>, subscriber_id: i32, token: i64, done: &[i64]) -> Result<Vec<i64>> {
    let action = "record the outcome of a batch";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let settled = sqlx::query_scalar(concat!(
        "WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)), ",
        done_ctes!(),
        " SELECT array(SELECT change_id FROM done) FROM async_commit"
    ))
    .bind(subscriber_id)
    .bind(token)
    .bind(done)
    .persistent(db.prepared())
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok(settled)
}

/// Removes a subscriber for good: its registration, pending deliveries and dead letters.
/// For a consumer that is gone (a decommissioned search-index instance), whose deliveries
/// would otherwise pile up. Returns whether it existed.
///
/// When it was the last subscriber of its table, its pending changes (deliveries, and
/// the journal entries past its cursor) go to `db_listenable.unrouted` (as journal
/// entries, attempts forgotten), where the next subscriber of the table adopts them in
/// journal order, and that subscriber reads the journal from where this one stopped:
/// nothing committed is lost with a consumer. Its dead letters are deleted with it.
///
/// Takes the router lock first, like registration, so no round of the router runs
/// meanwhile: a partition is not emptied between reading the subscriber's pending
/// entries and keeping them.
///
/// # Errors
/// [`Error::Database`] if the rows cannot be deleted.
pub async fn remove_subscriber<'a>(db: impl Into<DbPool<'a>>, name: &str) -> Result<bool> {
    match remove_stale_subscriber(db, name, None).await {
        Ok(_) => Ok(true),
        Err(Error::UnknownSubscriber { .. }) => Ok(false),
        Err(error) => Err(error),
    }
}

/// What [`remove_stale_subscriber`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RemovedSubscriber {
    /// The subscriber.
    pub name: String,
    /// How long ago a runtime had last announced it.
    pub seen_ago: Duration,
    /// Its deliveries not yet processed, deleted with it.
    pub deliveries: u64,
    /// Of those, how many went back to `db_listenable.unrouted` because it was the last
    /// subscriber of its table: the table's next subscriber processes them.
    pub kept_unrouted: u64,
    /// Its dead letters, deleted with it.
    pub dead_letters: u64,
}

/// Removes a subscriber that no runtime serves any more (see [`remove_subscriber`] for
/// what happens to its deliveries), refusing one seen within `stale_after`: a runtime
/// may still serve it, and would go on claiming from a subscriber that no longer exists.
/// `None` removes it whenever it was seen. The check and the removal are one
/// transaction, under the router lock and the subscriber's row lock, so no heartbeat or
/// routing round slips in between.
///
/// # Errors
/// [`Error::UnknownSubscriber`] when no subscriber has that name;
/// [`Error::SubscriberInUse`] when it was seen within `stale_after` (nothing removed);
/// [`Error::Database`].
pub async fn remove_stale_subscriber<'a>(
    db: impl Into<DbPool<'a>>,
    name: &str,
    stale_after: Option<Duration>,
) -> Result<RemovedSubscriber> {
    let db = db.into();
    let action = || format!("remove subscriber `{name}`");
    let mut tx = db.pool().begin().await.map_err(Error::database(action()))?;
    hold_router_lock(&mut tx, db.prepared()).await.map_err(Error::database(action()))?;
    // A new statement, so a snapshot taken with the lock held.
    let seen_ago: Option<f64> = sqlx::query_scalar(
        "SELECT greatest(extract(epoch FROM now() - seen_at), 0)::float8
         FROM db_listenable.subscribers WHERE name = $1 FOR UPDATE",
    )
    .bind(name)
    .persistent(db.prepared())
    .fetch_optional(&mut *tx)
    .await
    .map_err(Error::database(action()))?;
    let Some(seen_ago) = seen_ago.map(Duration::from_secs_f64) else {
        return Err(Error::UnknownSubscriber { name: name.to_owned() });
    };
    if let Some(stale_after) = stale_after.filter(|stale_after| seen_ago < *stale_after) {
        return Err(Error::SubscriberInUse { name: name.to_owned(), seen_ago, stale_after });
    }
    // Every CTE reads the tables as they were before `gone`, hence the `id <>`. Its
    // pending changes are its deliveries and the journal entries past its cursor; when it
    // was its table's last subscriber they go to `unrouted`, and the table's next
    // subscriber starts reading the journal where this one stops (a resume point: the
    // entries of transactions still running now are read by the next subscriber, or kept
    // when their partition is emptied). The dead letters are deleted here rather than by
    // the foreign key's cascade, to count them; the cursor goes with the cascade.
    let row = sqlx::query(
        "WITH gone AS (DELETE FROM db_listenable.subscribers WHERE name = $1 RETURNING id, table_id),
              cur AS (SELECT c.* FROM db_listenable.cursors c JOIN gone g ON c.subscriber_id = g.id),
              last AS (
                  SELECT g.table_id FROM gone g
                  WHERE NOT EXISTS (SELECT FROM db_listenable.subscribers s WHERE s.table_id = g.table_id AND s.id <> g.id)
              ),
              backlog AS (
                  SELECT j.id, j.table_id, j.op, j.txid, j.captured_at, j.old_row, j.new_row
                  FROM gone g CROSS JOIN LATERAL db_listenable.pending_entries(g.id) j
              ),
              pending AS (
                  DELETE FROM db_listenable.deliveries WHERE subscriber_id IN (SELECT id FROM gone)
                  RETURNING change_id, table_id, op, txid, captured_at, old_row, new_row
              ),
              kept AS (
                  INSERT INTO db_listenable.unrouted (id, table_id, op, txid, captured_at, old_row, new_row)
                  SELECT p.change_id, p.table_id, p.op, p.txid, p.captured_at, p.old_row, p.new_row
                  FROM (SELECT * FROM pending UNION ALL SELECT * FROM backlog) p
                  WHERE EXISTS (SELECT FROM last)
                  ON CONFLICT (id) DO NOTHING
                  RETURNING 1
              ),
              resumed AS (
                  INSERT INTO db_listenable.resume_points (table_id, snap, lo)
                  SELECT l.table_id, pg_current_snapshot(), c.lo FROM last l CROSS JOIN cur c
                  ON CONFLICT (table_id) DO UPDATE SET snap = EXCLUDED.snap, lo = EXCLUDED.lo
                  RETURNING 1
              ),
              unmarked AS (
                  DELETE FROM db_listenable.settled WHERE subscriber_id IN (SELECT id FROM gone) RETURNING 1
              ),
              dead AS (
                  DELETE FROM db_listenable.dead_letters WHERE subscriber_id IN (SELECT id FROM gone) RETURNING 1
              )
         SELECT (SELECT count(*) FROM pending) + (SELECT count(*) FROM backlog), (SELECT count(*) FROM kept),
                (SELECT count(*) FROM dead)",
    )
    .bind(name)
    .persistent(db.prepared())
    .fetch_one(&mut *tx)
    .await
    .map_err(Error::database(action()))?;
    tx.commit().await.map_err(Error::database(action()))?;
    let count = |i: usize| u64::try_from(row.get::<i64, _>(i)).unwrap_or_default();
    Ok(RemovedSubscriber {
        name: name.to_owned(),
        seen_ago,
        deliveries: count(0),
        kept_unrouted: count(1),
        dead_letters: count(2),
    })
}

/// The heartbeat: `seen_at = now()` for the subscribers `ids`. Returns those that still
/// exist (one removed while the runtime runs is missing).
pub(crate) async fn seen(db: DbPool<'_>, ids: &[i32]) -> Result<Vec<i32>> {
    let action = "refresh the subscribers' seen_at";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let seen = sqlx::query_scalar(
        "UPDATE db_listenable.subscribers SET seen_at = now()
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
         WHERE id = ANY($1) RETURNING id",
    )
    .bind(ids)
    .persistent(db.prepared())
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok(seen)
}

/// Captured tables (with db-listenable triggers installed) that no subscriber consumes,
/// registered anywhere or about to be registered here (`own`), as `schema.table`.
pub(crate) async fn captured_tables_without_subscriber(db: DbPool<'_>, own: &[i32]) -> Result<Vec<String>> {
    let action = "look for captured tables without a processor";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let tables = sqlx::query_scalar(
        "SELECT t.schema_name || '.' || t.table_name
         FROM db_listenable.tables t
         WHERE NOT (t.id = ANY($1))
           AND NOT EXISTS (SELECT 1 FROM db_listenable.subscribers s WHERE s.table_id = t.id)
           AND EXISTS (
               SELECT 1 FROM pg_catalog.pg_trigger tg
               WHERE tg.tgrelid = to_regclass(quote_ident(t.schema_name) || '.' || quote_ident(t.table_name))
                 AND tg.tgname = $2)
         ORDER BY 1",
    )
    .bind(own)
    .bind(crate::ddl::TRUNCATE_TRIGGER)
    .persistent(db.prepared())
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok(tables)
}
