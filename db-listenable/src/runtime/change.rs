//! One captured change, as a processor receives it.

use std::fmt;
use std::time::SystemTime;

/// The operation that made a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// A row was inserted: `new` is set.
    Insert,
    /// A row was updated: `old` and `new` are set (their keys differ when the key moved).
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

/// A committed change of a `T` row, decoded with serde.
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
    /// This delivery's attempt, from 1.
    pub attempt: u32,
}

impl<T> Change<T> {
    /// The row as it is now: `new` for inserts and updates, `old` for deletes.
    pub fn row(&self) -> Option<&T> {
        self.new.as_ref().or(self.old.as_ref())
    }
}
