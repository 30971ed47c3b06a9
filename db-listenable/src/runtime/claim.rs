//! Claiming a batch (from the journal behind the subscriber's cursor, or from its
//! deliveries), and the rows it hands to processors.
//!
//! # Rows as `sqlx::FromRow` reads them
//!
//! The journal keeps each row as `jsonb` (`to_jsonb` of the row, written by the capture
//! trigger), which is what deliveries, the dashboard and dead letters read. A processor gets
//! the row back as PostgreSQL's own row type: once a model's subscriber has claimed a
//! batch, a second statement turns each of its rows into the table's row type with
//! `jsonb_populate_record` and returns real columns, which the model reads with its
//! `sqlx::FromRow`. So every column type decodes exactly as the model decodes a `SELECT`
//! of the table: `numeric` to 38 digits and beyond, `bytea`, timestamps, `interval`,
//! enums, domains, arrays, NaN and infinities.
//!
//! The trip through `jsonb` is lossless for the built-in types: `to_jsonb` writes
//! `numeric` exactly and every other type with its output function, which its input
//! function reads back. Floats are the exception PostgreSQL leaves to a setting
//! (`extra_float_digits`, which a session may lower to round them): the capture function
//! pins it (see [`crate::ddl::capture`]). What does not come back the same: a `json`
//! column (not `jsonb`) comes back normalised as `jsonb` (whitespace, key order and
//! duplicate keys are not kept; the value is the same), and `money` is read back in the
//! reading session's `lc_monetary`.
//!
//! Why a second statement rather than the conversion inside the claim: naming the table's
//! row type makes a statement take the table's `ACCESS SHARE` lock when it is planned
//! (PostgreSQL opens the relation to describe its row type), so every claim, even one
//! that finds nothing, would wait behind whoever holds the table locked (a migration's
//! `ALTER TABLE`, a `LOCK TABLE`), and a runtime asked to stop would wait with it. The
//! claim itself touches only our tables; the conversion runs when there are
//! rows, like a processor's own queries. It costs a round trip per non-empty batch
//! (measured in BENCHMARKS.md).
//!
//! A row that cannot be turned back into the table's type (a column's type changed in a
//! way its old values do not fit, a domain's check tightened) makes the conversion fail
//! as a whole; each row of the batch is then converted alone, so only the rows that do
//! not fit are dead-lettered, with PostgreSQL's error.

use std::time::{Duration, UNIX_EPOCH};

// `row_type` is a quoted identifier built from the model's constants, never user input.
use sqlx::{AssertSqlSafe, Row};

use crate::DbPool;

use super::subscriber::{Claimed, Rows};
use crate::error::{Error, Result};

/// What a claim asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClaimRequest<'a> {
    pub subscriber_id: i32,
    /// Per-row order (see [`claim`]).
    pub ordered: bool,
    /// The change id the pick starts at (`shared::PickStart`).
    pub from: i64,
    pub limit: i64,
    /// `RuntimeConfig::claim_bytes`.
    pub budget: i64,
    pub lease: Duration,
    pub token: i64,
    /// The table whose row type the rows are returned as (`"schema"."table"`, quoted), or
    /// `None` for the rows as `jsonb` (outbox events).
    pub row_type: Option<&'a str>,
    /// The subscriber's table (or topic) id: journal entries are read by it.
    pub table_id: i32,
    /// The columns that identify a row, for ordered subscribers: a typed change gets a
    /// hash of them ([`Claimed::row`]).
    pub key_columns: &'a [String],
}

/// Where a batch was claimed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// The journal, behind the subscriber's cursor (see `ddl::cursor`): the happy path.
    Journal,
    /// `db_listenable.deliveries`: retries, changes waiting behind a failed change of their
    /// row, requeued dead letters, adopted kept entries.
    Deliveries,
}

/// Claims up to `limit` deliveries of a subscriber under a lease identified by `token`,
/// and no more row data than `budget` bytes (`RuntimeConfig::claim_bytes`): the claim
/// stops before the delivery that would pass it, except that the first delivery is always
/// taken, however large, so nothing gets stuck. Returns them sorted by change id.
///
/// With `ordered`, a delivery is claimable only when no earlier delivery of the same row
/// is left (in flight, waiting for a retry, or not yet processed), so the changes of a row
/// run one at a time in journal order across all workers. The check reads the table as it
/// was when the statement started, so it can only be too careful, never too eager.
///
/// The pick is an `ANY(ARRAY(...))` sub-select ordered like the primary key, so it stays
/// one index-ordered scan that stops after `limit` rows; as a join, the planner read every
/// pending delivery and sorted them, which grew with the backlog. The ordering rule is a
/// scalar `min()` per candidate (one probe of `deliveries_row_key`): written as `NOT
/// EXISTS`, PostgreSQL may turn it into an anti-join over the whole subscriber backlog.
/// The scan starts at change id `from` (see `shared::PickStart`); the ordering rule still
/// looks at every delivery of the row, below `from` too.
///
/// The byte budget is a running sum over the picked rows, outside the locking level
/// (`FOR UPDATE` is not allowed with window functions in one query level). The sizes
/// are `pg_column_size`, the stored size, which reads TOAST pointers without fetching or
/// decompressing the values. Picked rows past the budget stay locked only until the
/// statement commits, and are left as they were.
///
/// With a `row_type`, the rows are then read as that table's columns (see the module
/// docs); when one of them does not convert, each row is converted on its own.
pub(crate) async fn claim(db: DbPool<'_>, request: &ClaimRequest<'_>, source: Source) -> Result<Vec<Claimed>> {
    let typed = request.row_type.is_some();
    let mut claimed = match source {
        Source::Deliveries => claim_as(db, request, if typed { RETURNING_KEYS } else { RETURNING }).await?,
        Source::Journal => claim_journal(db, request).await?,
    };
    if let Some(row_type) = request.row_type
        && !claimed.is_empty()
    {
        read_typed(db, request, source, row_type, &mut claimed).await?;
    }
    if !request.key_columns.is_empty() {
        for delivery in &mut claimed {
            delivery.row = row_identity(&delivery.rows, request.key_columns);
        }
    }
    Ok(claimed)
}

/// Fills in the rows of a typed batch (see the module docs).
async fn read_typed(
    db: DbPool<'_>,
    request: &ClaimRequest<'_>,
    source: Source,
    row_type: &str,
    claimed: &mut [Claimed],
) -> Result<()> {
    let mut ids: Vec<i64> = claimed.iter().map(|c| c.change_id).collect();
    ids.sort_unstable();
    let (from, key) = claimed_rows(source, request, Ids::Sorted);
    let sql = format!(
        "SELECT d.change_id, v.side, r.*
         FROM {from}
         CROSS JOIN LATERAL (VALUES (1::int2, d.old_row), (2::int2, d.new_row)) AS v(side, row)
         CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(NULL::{row_type}, v.row) AS r
         WHERE v.row IS NOT NULL
         ORDER BY d.change_id, v.side"
    );
    let read = async {
        let mut conn = db.one_statement().await?;
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(key)
            .bind(request.token)
            .bind(&ids)
            .persistent(db.prepared())
            .fetch_all(&mut *conn)
            .await?;
        conn.finish().await?;
        Ok::<_, sqlx::Error>(rows)
    };
    let rows = match read.await {
        Ok(rows) => rows,
        Err(error) if is_data_error(&error) => {
            tracing::warn!(
                table = row_type,
                error = %error,
                "a captured row does not fit its table's row type any more; converting the batch row by row"
            );
            convert_each(db, request, source, row_type, claimed).await?;
            return Ok(());
        }
        Err(error) => return Err(Error::database("read claimed rows as their table's row type")(error)),
    };
    // Both sorted by change id: walk them together.
    let mut deliveries = claimed.iter_mut().peekable();
    for row in rows {
        let change_id: i64 = row.get(0);
        let side: i16 = row.get(1);
        while deliveries.next_if(|delivery| delivery.change_id < change_id).is_some() {}
        if let Some(delivery) = deliveries.peek_mut()
            && delivery.change_id == change_id
            && let Rows::Typed { old, new } = &mut delivery.rows
        {
            if side == 1 {
                *old = Some(row);
            } else {
                *new = Some(row);
            }
        }
    }
    for delivery in claimed.iter_mut() {
        if let Rows::Typed { old, new } = &delivery.rows
            && missing_side(delivery.op, old.is_some(), new.is_some())
        {
            // Read under the lease only: a row missing here was taken by another worker
            // between the claim and this read (a lease shorter than a round trip).
            delivery.rows = Rows::Unavailable(format!(
                "the rows of change {} could not be read under this worker's lease",
                delivery.change_id
            ));
        }
    }
    Ok(())
}

/// Which claimed changes [`claimed_rows`] reads: `$3`.
#[derive(Debug, Clone, Copy)]
enum Ids {
    /// The batch: `$3` is their ids, in ascending order.
    Sorted,
    /// One change: `$3` is its id.
    One,
}

/// The claimed changes `$3` ([`Ids`]) with their rows, as a `FROM` item `d`
/// (`change_id, old_row, new_row`), and the key to bind as `$1`; `$2` is the lease token.
/// The journal's entries never change, and a journal batch's lease is the cursor's: read
/// by id. Deliveries are read under the lease, which this worker may have lost meanwhile.
///
/// A batch's journal entries are also bounded by its first and last id. Without
/// statistics on the journal's partitions (autovacuum off, or not run yet) the planner
/// took `table_id = $1` alone as the index condition and filtered the ids out of every
/// entry of the table: the whole history in each read (`runtime::statistics`). With the
/// range, any plan reads the batch's span; and the span is one index range where the ids
/// were one index descent each into every partition.
///
/// The journal read takes its values through sub-selects (`(SELECT $1::integer)`),
/// which the planner cannot see into, so every plan of it is estimated alike and the
/// prepared statement keeps its generic plan after five executions. With the values in
/// sight, a custom plan estimated a batch of one as one row where the generic plan took
/// default selectivities, so PostgreSQL planned the read again at every batch: 0.13 ms
/// of planning for 0.03 ms of execution, a fifth of a change's cost at batch size 1, and
/// which plan won varied from run to run with the statistics of the moment
/// (`runtime::plans`).
fn claimed_rows(source: Source, request: &ClaimRequest<'_>, ids: Ids) -> (String, i32) {
    match (source, ids) {
        (Source::Journal, Ids::Sorted) => (
            "(SELECT j.id AS change_id, j.old_row, j.new_row FROM db_listenable.changes j
              WHERE j.table_id = (SELECT $1::integer)
                AND j.id >= (SELECT $3[1]) AND j.id <= (SELECT $3[pg_catalog.cardinality($3)])
                AND j.id = ANY ((SELECT $3)::bigint[]) AND $2::bigint IS NOT NULL) d"
                .to_owned(),
            request.table_id,
        ),
        (Source::Journal, Ids::One) => (
            "(SELECT j.id AS change_id, j.old_row, j.new_row FROM db_listenable.changes j
              WHERE j.table_id = $1 AND j.id = $3 AND $2::bigint IS NOT NULL) d"
                .to_owned(),
            request.table_id,
        ),
        (Source::Deliveries, ids) => (
            format!(
                "(SELECT x.change_id, x.old_row, x.new_row FROM db_listenable.deliveries x
                  WHERE x.subscriber_id = $1 AND x.lease_token = $2 AND x.change_id = {}) d",
                match ids {
                    Ids::Sorted => "ANY($3)",
                    Ids::One => "$3",
                }
            ),
            request.subscriber_id,
        ),
    }
}

/// A hash of the key columns of a change's row (the new row, else the old one: capture
/// journals the change of each key, so both share it): the values' bytes of a typed row,
/// the values' JSON of a `jsonb` one; `None` when a key column is missing or the rows
/// could not be read. Within one batch, equal hashes mean the same row (the values come
/// from one statement in one format), so the worker can keep a row's changes apart.
fn row_identity(rows: &Rows, key_columns: &[String]) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    match rows {
        Rows::Typed { old, new } => {
            let row = new.as_ref().or(old.as_ref())?;
            for column in key_columns {
                let value = row.try_get_raw(column.as_str()).ok()?;
                match sqlx::ValueRef::is_null(&value) {
                    true => 0_u8.hash(&mut hasher),
                    false => value.as_bytes().ok()?.hash(&mut hasher),
                }
            }
        }
        Rows::Json { old, new } => {
            let row = new.as_ref().or(old.as_ref())?;
            for column in key_columns {
                row.get(column.as_str())?.to_string().hash(&mut hasher);
            }
        }
        Rows::Unfit(_) | Rows::Unavailable(_) => return None,
    }
    Some(hasher.finish())
}

/// The claim of a journal batch: one call of `db_listenable.claim_journal` (see
/// `ddl::cursor`), which leases the batch on the subscriber's cursor.
async fn claim_journal(db: DbPool<'_>, request: &ClaimRequest<'_>) -> Result<Vec<Claimed>> {
    let action = "claim journal entries";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let rows = sqlx::query(
        "SELECT change_id, op, txid::text, extract(epoch FROM captured_at)::float8, attempt, NULL::jsonb, old_row, new_row
         FROM db_listenable.claim_journal($1, $2, $3, $4, $5, $6)",
    )
    .bind(request.subscriber_id)
    .bind(i32::try_from(request.limit).unwrap_or(i32::MAX))
    .bind(request.budget)
    .bind(i64::try_from(request.lease.as_millis()).unwrap_or(i64::MAX))
    .bind(request.token)
    .bind(request.row_type.is_none())
    .persistent(db.prepared())
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    Ok(rows.into_iter().map(|row| claimed_from(&row, request.row_type.is_some())).collect())
}

/// A claimed delivery from a row of [`RETURNING`]'s shape.
fn claimed_from(row: &sqlx::postgres::PgRow, typed: bool) -> Claimed {
    let txid: String = row.get(2);
    let epoch: f64 = row.get(3);
    let attempts: i32 = row.get(4);
    Claimed {
        change_id: row.get(0),
        op: row.get(1),
        txid: txid.parse().unwrap_or_default(),
        captured_at: UNIX_EPOCH + Duration::from_secs_f64(epoch.max(0.0)),
        attempt: u32::try_from(attempts).unwrap_or(u32::MAX),
        requeued: row.get(5),
        rows: if typed {
            Rows::Typed { old: None, new: None }
        } else {
            Rows::Json { old: row.get(6), new: row.get(7) }
        },
        row: None,
    }
}

/// Whether a change of operation `op` lacks a row it must have: the old row of an update
/// or delete, the new row of an insert or update.
fn missing_side(op: i8, old: bool, new: bool) -> bool {
    match u8::try_from(op).unwrap_or_default() {
        b'I' => !new,
        b'U' => !old || !new,
        b'D' => !old,
        _ => false,
    }
}

/// The claim proper: leases the picked deliveries (see [`claim`]).
const UPDATE: &str = "UPDATE db_listenable.deliveries d
         SET attempts = d.attempts + 1,
             leased_until = now() + $4 * interval '1 millisecond',
             lease_token = $5
         FROM (SELECT set_config('synchronous_commit', 'off', true)) AS async_commit
         WHERE d.subscriber_id = $1 AND d.change_id = ANY(ARRAY(
             SELECT w.change_id FROM (
                 SELECT picked.change_id,
                        row_number() OVER (ORDER BY picked.change_id) AS n,
                        sum(picked.size) OVER (ORDER BY picked.change_id) AS running
                 FROM (
                     SELECT p.change_id,
                            coalesce(pg_column_size(p.old_row), 0) + coalesce(pg_column_size(p.new_row), 0) AS size
                     FROM db_listenable.deliveries p
                     WHERE p.subscriber_id = $1
                       AND p.change_id >= $6
                       AND p.available_at <= now()
                       AND (p.leased_until IS NULL OR p.leased_until < now())
                       AND (NOT $2 OR p.change_id = (
                           SELECT min(e.change_id) FROM db_listenable.deliveries e
                           WHERE e.subscriber_id = $1 AND e.row_key = p.row_key))
                     ORDER BY p.subscriber_id, p.change_id
                     LIMIT $3
                     FOR UPDATE SKIP LOCKED) picked
             ) w
             WHERE w.n = 1 OR w.running <= $7))";

/// What the claim returns of each delivery, in the order [`claim_as`] reads them.
const RETURNING: &str = "d.change_id, d.op, d.txid::text AS txid, extract(epoch FROM d.captured_at)::float8 AS captured, \
     d.attempts, d.requeued, d.old_row, d.new_row";

/// [`RETURNING`] without the rows, which a model's subscriber reads as the table's row
/// type in a second statement.
const RETURNING_KEYS: &str = "d.change_id, d.op, d.txid::text AS txid, extract(epoch FROM d.captured_at)::float8 AS captured, \
     d.attempts, d.requeued, NULL::jsonb, NULL::jsonb";

fn bind<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    request: &ClaimRequest<'_>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(request.subscriber_id)
        .bind(request.ordered)
        .bind(request.limit)
        .bind(i64::try_from(request.lease.as_millis()).unwrap_or(i64::MAX))
        .bind(request.token)
        .bind(request.from)
        .bind(request.budget)
}

/// The claim proper, returning `returning` ([`RETURNING`] or [`RETURNING_KEYS`]); with
/// the keys only, the rows are left to be filled in as [`Rows::Typed`].
async fn claim_as(db: DbPool<'_>, request: &ClaimRequest<'_>, returning: &str) -> Result<Vec<Claimed>> {
    let typed = returning == RETURNING_KEYS;
    let sql = format!("{UPDATE} RETURNING {returning}");
    let action = "claim deliveries";
    let mut conn = db.one_statement().await.map_err(Error::database(action))?;
    let rows = bind(sqlx::query(AssertSqlSafe(sql)), request)
        .persistent(db.prepared())
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::database(action))?;
    conn.finish().await.map_err(Error::database(action))?;
    let mut claimed: Vec<Claimed> = rows.iter().map(|row| claimed_from(row, typed)).collect();
    claimed.sort_by_key(|c| c.change_id);
    Ok(claimed)
}

/// The slow path of the typed read: converts each claimed row alone, so a row that does
/// not fit is that delivery's own failure.
async fn convert_each(
    db: DbPool<'_>,
    request: &ClaimRequest<'_>,
    source: Source,
    row_type: &str,
    claimed: &mut [Claimed],
) -> Result<()> {
    let (from, key) = claimed_rows(source, request, Ids::One);
    let sql = format!(
        "SELECT r.* FROM {from}
         CROSS JOIN LATERAL pg_catalog.jsonb_populate_record(
             NULL::{row_type}, CASE WHEN $4 = 1 THEN d.old_row ELSE d.new_row END) AS r
         WHERE (CASE WHEN $4 = 1 THEN d.old_row ELSE d.new_row END) IS NOT NULL"
    );
    for delivery in claimed.iter_mut() {
        let mut sides = [None, None];
        let mut failure = None;
        for (side, slot) in [1_i16, 2].into_iter().zip(sides.iter_mut()) {
            let read = async {
                let mut conn = db.one_statement().await?;
                let row = sqlx::query(AssertSqlSafe(sql.as_str()))
                    .bind(key)
                    .bind(request.token)
                    .bind(delivery.change_id)
                    .bind(side)
                    .persistent(db.prepared())
                    .fetch_optional(&mut *conn)
                    .await?;
                conn.finish().await?;
                Ok::<_, sqlx::Error>(row)
            };
            match read.await {
                Ok(row) => *slot = row,
                Err(error) => {
                    let text = format!("could not turn the captured row back into {row_type}: {error}");
                    failure = Some(if is_data_error(&error) { Rows::Unfit(text) } else { Rows::Unavailable(text) });
                    break;
                }
            }
        }
        let [old, new] = sides;
        delivery.rows = failure.unwrap_or(Rows::Typed { old, new });
    }
    Ok(())
}

/// A value PostgreSQL refused to convert (SQLSTATE classes 22, data exception, and 23,
/// e.g. a domain's check): the row's own problem, not the database's.
fn is_data_error(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|error| error.code())
        .is_some_and(|code| code.starts_with("22") || code.starts_with("23"))
}

#[cfg(test)]
mod tests {
    use super::missing_side;

    #[test]
    fn each_operation_needs_its_own_rows() {
        let code = |c: u8| i8::try_from(c).unwrap_or_default();
        assert!(!missing_side(code(b'I'), false, true));
        assert!(missing_side(code(b'I'), false, false));
        assert!(!missing_side(code(b'U'), true, true));
        assert!(missing_side(code(b'U'), true, false));
        assert!(missing_side(code(b'U'), false, true));
        assert!(!missing_side(code(b'D'), true, false));
        assert!(missing_side(code(b'D'), false, false));
        assert!(!missing_side(code(b'T'), false, false));
    }
}
