//! Dead letters: list them, requeue them, discard them.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sqlx::{PgPool, Row};

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
}

/// Dead letters, oldest first, of one subscriber or of all (`None`); at most `limit`.
///
/// # Errors
/// [`Error::Database`] if they cannot be read.
pub async fn list(pool: &PgPool, subscriber: Option<&str>, limit: i64) -> Result<Vec<DeadLetter>> {
    let rows = sqlx::query(
        "SELECT s.name, x.change_id,
                coalesce(t.schema_name || '.' || t.table_name, CASE WHEN x.op = 'E' THEN x.new_row ->> 'catalog' END,
                         'table id ' || x.table_id),
                x.op::text, x.attempts, x.last_error, x.old_row, x.new_row, extract(epoch FROM x.dead_at)::float8
         FROM db_listenable.dead_letters x
         JOIN db_listenable.subscribers s ON s.id = x.subscriber_id
         LEFT JOIN db_listenable.tables t ON t.id = x.table_id
         WHERE $1::text IS NULL OR s.name = $1
         ORDER BY x.dead_at, x.change_id
         LIMIT $2",
    )
    .bind(subscriber)
    .bind(limit)
    .fetch_all(pool)
    .await
    .map_err(Error::database("list dead letters"))?;
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
                dead_at: UNIX_EPOCH + Duration::from_secs_f64(row.get::<f64, _>(8).max(0.0)),
            }
        })
        .collect())
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
/// # Errors
/// [`Error::UnknownSubscriber`] if no subscriber has that name; [`Error::Database`].
pub async fn requeue(pool: &PgPool, subscriber: &str, change_id: Option<i64>) -> Result<u64> {
    let action = format!("requeue dead letters of `{subscriber}`");
    let mut tx = pool.begin().await.map_err(Error::database(action.clone()))?;
    let id = subscriber_id(&mut tx, subscriber).await?;
    let moved = sqlx::query(
        "WITH back AS (
             DELETE FROM db_listenable.dead_letters
             WHERE subscriber_id = $1 AND ($2::bigint IS NULL OR change_id = $2)
             RETURNING *
         )
         INSERT INTO db_listenable.deliveries
             (subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, last_error)
         SELECT subscriber_id, change_id, table_id, op, txid, captured_at, old_row, new_row, row_key, last_error
         FROM back",
    )
    .bind(id)
    .bind(change_id)
    .execute(&mut *tx)
    .await
    .map_err(Error::database(action.clone()))?
    .rows_affected();
    if moved > 0 {
        sqlx::query("SELECT pg_notify($1, '')")
            .bind(ROUTED_CHANNEL)
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
pub async fn discard(pool: &PgPool, subscriber: &str, change_id: Option<i64>) -> Result<u64> {
    let action = format!("discard dead letters of `{subscriber}`");
    let mut tx = pool.begin().await.map_err(Error::database(action.clone()))?;
    let id = subscriber_id(&mut tx, subscriber).await?;
    let gone = sqlx::query(
        "DELETE FROM db_listenable.dead_letters WHERE subscriber_id = $1 AND ($2::bigint IS NULL OR change_id = $2)",
    )
    .bind(id)
    .bind(change_id)
    .execute(&mut *tx)
    .await
    .map_err(Error::database(action.clone()))?
    .rows_affected();
    tx.commit().await.map_err(Error::database(action))?;
    Ok(gone)
}

async fn subscriber_id(conn: &mut sqlx::PgConnection, name: &str) -> Result<i32> {
    sqlx::query_scalar("SELECT id FROM db_listenable.subscribers WHERE name = $1")
        .bind(name)
        .fetch_optional(conn)
        .await
        .map_err(Error::database(format!("look up subscriber `{name}`")))?
        .ok_or_else(|| Error::UnknownSubscriber { name: name.to_owned() })
}
