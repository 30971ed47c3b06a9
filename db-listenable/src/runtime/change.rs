//! One captured change, as a processor receives it.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The operation that made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A row was inserted: `new` is set.
    Insert,
    /// A row was updated: `old` and `new` are set, with the same key. An UPDATE that
    /// changed a row's key arrives as the [`Op::Delete`] of the key it left and the
    /// [`Op::Insert`] of the key it took (when another row took the key it left in the
    /// same statement, that key's change is an `Update` to the other row).
    Update,
    /// A row was deleted: `old` is set.
    Delete,
    /// The table was truncated (models with `events(truncate)`): neither row is set.
    Truncate,
}

impl Op {
    /// The operation of a journal entry's one-byte code (`I`, `U`, `D`, `T`).
    pub fn from_code(code: i8) -> Option<Op> {
        match u8::try_from(code).ok()? {
            b'I' => Some(Op::Insert),
            b'U' => Some(Op::Update),
            b'D' => Some(Op::Delete),
            b'T' => Some(Op::Truncate),
            _ => None,
        }
    }

    /// `INSERT`, `UPDATE`, `DELETE` or `TRUNCATE`.
    pub fn as_sql(self) -> &'static str {
        match self {
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
            Op::Truncate => "TRUNCATE",
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_sql())
    }
}

/// A committed change of a `T` row, read with `T`'s `sqlx::FromRow` (see
/// [Column types](super#column-types)).
///
/// Delivery is at least once: a change can arrive again after a crash or a lost lease,
/// so a processor should be idempotent (recompute from the database rather than add a
/// delta blindly). [`Change::id`] identifies a change across deliveries.
#[derive(Debug, Clone, PartialEq)]
pub struct Change<T> {
    /// The journal id: unique, and increasing in commit order for changes of one row.
    pub id: i64,
    /// What happened.
    pub op: Op,
    /// The row before the change (update, delete).
    pub old: Option<T>,
    /// The row after the change (insert, update).
    pub new: Option<T>,
    /// The table, `schema.table`, unquoted.
    pub table: String,
    /// The id of the transaction that made the change (`pg_current_xact_id()`).
    pub txid: u64,
    /// When the change was captured (the writing statement's clock, shortly before its
    /// commit; PostgreSQL keeps commit times only with `track_commit_timestamp`).
    pub captured_at: SystemTime,
    /// This delivery's attempt, from 1 (a requeued change counts from 1 again).
    pub attempt: u32,
    /// Set when this change is a dead letter given back by
    /// [`dead_letters::requeue`](super::dead_letters::requeue): it keeps its id and its
    /// `captured_at`, and may be older than changes of the same row that already ran
    /// ([`Requeued::newer_processed`]). `None` for every other delivery.
    pub requeued: Option<Requeued>,
}

/// How a requeued change got here: it was dead-lettered, then requeued (see the policy in
/// [`dead_letters`](super::dead_letters)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeued {
    /// When it was dead-lettered.
    pub dead_at: SystemTime,
    /// When it was requeued.
    pub requeued_at: SystemTime,
    /// Attempts it had made before it was dead-lettered.
    pub previous_attempts: u32,
    /// Newer changes of the same row that this subscriber processed after this one was
    /// dead-lettered (ordered subscribers; an unordered one always reads 0, since it
    /// does not group changes by row). Above 0, this change is not the row's latest
    /// state: a processor that applies rows should look at the row as it is now rather
    /// than apply `new` over what the newer changes did.
    pub newer_processed: u64,
}

/// `deliveries.requeued` as the requeue writes it.
#[derive(serde::Deserialize)]
struct RequeuedRecord {
    dead_at: f64,
    requeued_at: f64,
    previous_attempts: i64,
    newer_processed: i64,
}

impl Requeued {
    /// Reads the record `dead_letters::requeue` writes into `deliveries.requeued`.
    pub(crate) fn from_json(value: &serde_json::Value) -> Result<Requeued, serde_json::Error> {
        let record: RequeuedRecord = serde::Deserialize::deserialize(value)?;
        let time =
            |epoch: f64| UNIX_EPOCH + Duration::from_secs_f64(if epoch.is_finite() { epoch.max(0.0) } else { 0.0 });
        Ok(Requeued {
            dead_at: time(record.dead_at),
            requeued_at: time(record.requeued_at),
            previous_attempts: u32::try_from(record.previous_attempts).unwrap_or_default(),
            newer_processed: u64::try_from(record.newer_processed).unwrap_or_default(),
        })
    }
}

impl<T> Change<T> {
    /// The row as it is now: `new` for inserts and updates, `old` for deletes.
    pub fn row(&self) -> Option<&T> {
        self.new.as_ref().or(self.old.as_ref())
    }
}
