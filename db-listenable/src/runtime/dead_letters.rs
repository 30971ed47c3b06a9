//! Dead letters: list them, requeue them, discard them.
//!
//! # Requeue policy: the original change, flagged
//!
//! A dead letter is an old change. While it lay dead, newer changes of the same row went
//! on being processed (a dead letter does not hold its row back: one poison change must
//! not stop the row for good). Requeued, it is therefore replayed after newer changes of
//! its row. db-listenable does not hide that, and does not rewrite history:
//!
//! - The requeued change keeps its journal id, operation, rows and `captured_at` (its
//!   original capture time): it is the same change, delivered again.
//! - The processor can tell it from a fresh one: [`Change::requeued`] is set, with when
//!   it died, when it was requeued, how many attempts it had made, and
//!   [`Requeued::newer_processed`]: how many newer changes of its row this subscriber
//!   processed since it died (counted for ordered subscribers, whose deliveries are
//!   grouped by row). Above 0, the change is not the row's latest state; a processor that
//!   mirrors rows should reread the row rather than apply `new` over newer work.
//! - Newer changes of the row that are still pending wait behind it (ordered
//!   subscribers): it goes back with its original id, and a row's deliveries are claimed
//!   lowest id first.
//! - The dashboard's requeue asks first, and says how many newer changes of the row were
//!   processed and how many are waiting ([`preview`]).
//!
//! The alternative, requeue as a new latest change, was rejected: it would claim a
//! capture time and an order that are not true, and a processor that mirrors rows would
//! silently overwrite newer state with old.
//!
//! [`Change::requeued`]: super::Change::requeued
//! [`Requeued::newer_processed`]: super::Requeued::newer_processed

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::Row;

use crate::DbPool;
use crate::ddl::ROUTED_CHANNEL;
use crate::error::{Error, Result};

/// A delivery that failed its last attempt or could not be decoded.
#[derive(Debug, Clone, PartialEq)]
pub struct DeadLetter {
    /// The subscriber that gave up.
    pub subscriber: String,
    /// The journal id of the change.
    pub change_id: i64,
    /// `schema.table`, or `outbox:<catalog>` for an outbox event.
    pub table: String,
    /// `INSERT`, `UPDATE`, `DELETE`, `TRUNCATE` or `EVENT`.
    pub op: String,
    /// Attempts made.
    pub attempts: i32,
    /// The last error's text (a decode error names the field).
    pub last_error: String,
    /// The row before the change, as captured.
    pub old_row: Option<Value>,
    /// The row after the change (an outbox event: the event record), as captured.
    pub new_row: Option<Value>,
    /// When it was dead-lettered.
    pub dead_at: SystemTime,
    /// When the change was captured.
    pub captured_at: SystemTime,
    /// Newer changes of the same row that the subscriber processed since (ordered
    /// subscribers; always 0 for an unordered one).
    pub newer_processed: u64,
    /// Newer changes of the same row still waiting for the subscriber (ordered
    /// subscribers): requeued, this change runs before them.
    pub newer_pending: u64,
    /// Whether the subscriber orders its changes by row (it has key columns). Without
    /// ordering, newer changes of the row may have run whatever `newer_processed` says.
    pub ordered: bool,
}

/// Dead letters, oldest first, of one subscriber or of all (`None`); at most `limit`.
///
/// # Errors
/// [`Error::Database`] if they cannot be read.
pub async fn list<'a>(db: impl Into<DbPool<'a>>, subscriber: Option<&str>, limit: i64) -> Result<Vec<DeadLetter>> {
    let db = db.into();
    let action = "list dead letters";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let rows = sqlx::query(
        "SELECT s.name, x.change_id,
                coalesce(t.schema_name || '.' || t.table_name, CASE WHEN x.op = 'E' THEN x.new_row ->> 'catalog' END,
                         'table id ' || x.table_id),
                x.op::text, x.attempts, x.last_error, x.old_row, x.new_row, extract(epoch FROM x.dead_at)::float8,
                extract(epoch FROM x.captured_at)::float8, x.newer_processed,
                (SELECT count(*) FROM db_listenable.deliveries d
                 WHERE d.subscriber_id = x.subscriber_id AND d.row_key = x.row_key AND d.change_id > x.change_id),
                cardinality(s.key_columns) > 0
         FROM db_listenable.dead_letters x
         JOIN db_listenable.subscribers s ON s.id = x.subscriber_id
         LEFT JOIN db_listenable.tables t ON t.id = x.table_id
         WHERE $1::text IS NULL OR s.name = $1
         ORDER BY x.dead_at, x.change_id
         LIMIT $2",
    )
    .bind(subscriber)
    .bind(limit)
    .persistent(db.prepared())
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok(rows
        .into_iter()
        .map(|row| {
            let op: String = row.get(3);
            let table: String = row.get(2);
            let table = if op == "E" { crate::ddl::topic_label(&table) } else { table };
            DeadLetter {
                subscriber: row.get(0),
                change_id: row.get(1),
                table,
                op: op_name(&op).to_owned(),
                attempts: row.get(4),
                last_error: row.get(5),
                old_row: row.get(6),
                new_row: row.get(7),
                dead_at: epoch(row.get(8)),
                captured_at: epoch(row.get(9)),
                newer_processed: u64::try_from(row.get::<i32, _>(10)).unwrap_or_default(),
                newer_pending: u64::try_from(row.get::<i64, _>(11)).unwrap_or_default(),
                ordered: row.get(12),
            }
        })
        .collect())
}

fn epoch(seconds: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs_f64(if seconds.is_finite() { seconds.max(0.0) } else { 0.0 })
}

/// What a requeue would replay, for its confirmation: see the module's policy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequeuePreview {
    /// Dead letters that would be requeued.
    pub letters: u64,
    /// Of those, how many have newer changes of their row processed since they died.
    pub superseded: u64,
    /// Newer changes of their rows processed since, in all.
    pub newer_processed: u64,
    /// Newer changes of their rows still waiting; they will run after the requeued ones.
    pub newer_pending: u64,
    /// Whether the subscriber orders its changes by row (the counts above mean something).
    pub ordered: bool,
}

/// What [`requeue`] with the same arguments would replay, without doing it.
///
/// # Errors
/// [`Error::UnknownSubscriber`] if no subscriber has that name; [`Error::Database`].
pub async fn preview<'a>(
    db: impl Into<DbPool<'a>>,
    subscriber: &str,
    change_id: Option<i64>,
) -> Result<RequeuePreview> {
    let db = db.into();
    let action = format!("look at dead letters of `{subscriber}` before a requeue");
    let mut conn = db.one_statement().await.map_err(Error::database(action.clone()))?;
    let id = subscriber_id(&mut conn, db.prepared(), subscriber).await?;
    let row = sqlx::query(
        "SELECT count(*), count(*) FILTER (WHERE x.newer_processed > 0), coalesce(sum(x.newer_processed), 0)::bigint,
                coalesce(sum((SELECT count(*) FROM db_listenable.deliveries d
                              WHERE d.subscriber_id = x.subscriber_id AND d.row_key = x.row_key
                                AND d.change_id > x.change_id)), 0)::bigint,
                (SELECT cardinality(key_columns) > 0 FROM db_listenable.subscribers WHERE id = $1)
         FROM db_listenable.dead_letters x
         WHERE x.subscriber_id = $1 AND ($2::bigint IS NULL OR x.change_id = $2)",
    )
    .bind(id)
    .bind(change_id)
    .persistent(db.prepared())
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::database(action.clone()))?;
    conn.finish().await.map_err(Error::database(action))?;
    let count = |i: usize| u64::try_from(row.get::<i64, _>(i)).unwrap_or_default();
    Ok(RequeuePreview {
        letters: count(0),
        superseded: count(1),
        newer_processed: count(2),
        newer_pending: count(3),
        ordered: row.get::<Option<bool>, _>(4).unwrap_or(false),
    })
}

fn op_name(code: &str) -> &'static str {
    match code {
        "I" => "INSERT",
        "U" => "UPDATE",
        "D" => "DELETE",
        "T" => "TRUNCATE",
        "E" => "EVENT",
        _ => "UNKNOWN",
    }
}

/// Gives a subscriber's dead letters (one, by change id, or all) a fresh set of attempts:
/// they go back to its deliveries, ready now, and workers are woken. Returns how many.
///
/// Each keeps its change id and capture time and is flagged ([`super::Change::requeued`],
/// with the newer changes of its row processed since): see the module's policy.
///
/// # Errors
/// [`Error::UnknownSubscriber`] if no subscriber has that name; [`Error::Database`].
pub async fn requeue<'a>(db: impl Into<DbPool<'a>>, subscriber: &str, change_id: Option<i64>) -> Result<u64> {
    let db = db.into();
    let action = format!("requeue dead letters of `{subscriber}`");
    let mut tx = db.pool().begin().await.map_err(Error::database(action.clone()))?;
    let id = subscriber_id(&mut tx, db.prepared(), subscriber).await?;
    let moved = sqlx::query(
        "WITH back AS (
             DELETE FROM db_listenable.dead_letters
             WHERE subscriber_id = $1 AND ($2::bigint IS NULL OR change_id = $2)
             RETURNING *
         )
         INSERT INTO db_listenable.deliveries
             (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, last_error, requeued)
         SELECT subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, last_error,
                jsonb_build_object('dead_at', extract(epoch FROM dead_at), 'requeued_at', extract(epoch FROM now()),
                                   'previous_attempts', attempts, 'newer_processed', newer_processed)
         FROM back",
    )
    .bind(id)
    .bind(change_id)
    .persistent(db.prepared())
    .execute(&mut *tx)
    .await
    .map_err(Error::database(action.clone()))?
    .rows_affected();
    if moved > 0 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ROUTED_CHANNEL)
            .persistent(db.prepared())
            .execute(&mut *tx)
            .await
            .map_err(Error::database(action.clone()))?;
    }
    tx.commit().await.map_err(Error::database(action))?;
    Ok(moved)
}

/// Deletes a subscriber's dead letters (one, by change id, or all). Returns how many.
///
/// # Errors
/// [`Error::UnknownSubscriber`] if no subscriber has that name; [`Error::Database`].
pub async fn discard<'a>(db: impl Into<DbPool<'a>>, subscriber: &str, change_id: Option<i64>) -> Result<u64> {
    let db = db.into();
    let action = format!("discard dead letters of `{subscriber}`");
    let mut tx = db.pool().begin().await.map_err(Error::database(action.clone()))?;
    let id = subscriber_id(&mut tx, db.prepared(), subscriber).await?;
    let gone = sqlx::query(
        "DELETE FROM db_listenable.dead_letters WHERE subscriber_id = $1 AND ($2::bigint IS NULL OR change_id = $2)",
    )
    .bind(id)
    .bind(change_id)
    .persistent(db.prepared())
    .execute(&mut *tx)
    .await
    .map_err(Error::database(action.clone()))?
    .rows_affected();
    tx.commit().await.map_err(Error::database(action))?;
    Ok(gone)
}

async fn subscriber_id(conn: &mut sqlx::PgConnection, prepared: bool, name: &str) -> Result<i32> {
    sqlx::query_scalar("SELECT id FROM db_listenable.subscribers WHERE name = $1")
        .bind(name)
        .persistent(prepared)
        .fetch_optional(conn)
        .await
        .map_err(Error::database(format!("look up subscriber `{name}`")))?
        .ok_or_else(|| Error::UnknownSubscriber { name: name.to_owned() })
}
