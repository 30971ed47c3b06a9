//! The errors of building and pushing a changeset.
//!
//! Each failure a caller can act on has its own variant, and every variant names what
//! it is about (the operation, the event, the slot), so a log line is enough to find
//! the culprit. All enums are `#[non_exhaustive]`: adding a variant is not a breaking
//! change.

use std::error::Error as StdError;
use std::fmt;

/// Any error, boxed: what operations, payload closures and event handlers return.
///
/// Operations return database errors (`sqlx::Error`, `tokio_postgres::Error`) through
/// this box unchanged, so [`PushError::source`](StdError::source) can be downcast back
/// to the driver's error type.
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// A mistake found while a changeset is being built (before anything runs).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangesetError {
    /// A named event that its catalog does not know. Raised by
    /// [`Changeset::add_named_event`](crate::Changeset::add_named_event), at the line that
    /// added it, not later at push time.
    #[error("event `{event}` is not known to catalog `{catalog}`")]
    UnknownEvent {
        /// The catalog's name.
        catalog: String,
        /// The rejected event name.
        event: String,
    },
}

/// A [`Slot`](crate::Slot) was read before any operation filled it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SlotError {
    /// Nothing was written into the slot: the operation meant to fill it has not run,
    /// or ran without filling it.
    #[error("slot `{label}` is empty: no operation has filled it yet")]
    Empty {
        /// The slot's label.
        label: String,
    },
}

/// A [`Value`](crate::Value) that does not convert to the requested Rust type, or a
/// row that does not convert to a [`Value`](crate::Value).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The value has another type than the one asked for.
    #[error("expected a {expected} value, found {found}")]
    Mismatch {
        /// The requested type.
        expected: &'static str,
        /// What the value holds.
        found: String,
    },
    /// An integer does not fit the requested type.
    #[error("integer {value} does not fit in {target}")]
    OutOfRange {
        /// The integer.
        value: i64,
        /// The requested type.
        target: &'static str,
    },
    /// A value the requested Rust type cannot hold exactly (`infinity` into a `chrono`
    /// date, 38 digits into a `rust_decimal`, a network into an `IpAddr`), or a value
    /// PostgreSQL's type cannot hold (a prefix longer than the address).
    #[error("{value} cannot be represented exactly as {target}")]
    Unrepresentable {
        /// The value, as text.
        value: String,
        /// The target type.
        target: &'static str,
    },
    /// Text that is not a plain decimal number (see [`Numeric`](crate::Numeric)).
    #[error("`{text}` is not a decimal number (digits, an optional sign and fraction, NaN or Infinity)")]
    InvalidNumeric {
        /// The text.
        text: String,
    },
    /// The database sent bytes that are not a valid binary value of the column's type.
    #[error("malformed binary `{type_name}` value from the database: {reason}")]
    Malformed {
        /// The PostgreSQL type.
        type_name: &'static str,
        /// What is wrong.
        reason: &'static str,
    },
    /// The database returned a column type this crate does not map to a `Value`.
    #[error("column type `{type_name}` has no `Value` mapping; cast it in SQL (for example `RETURNING id::text`)")]
    UnsupportedColumn {
        /// The PostgreSQL type name.
        type_name: String,
    },
    /// A row for [`InsertRow`](crate::InsertRow) did not serialise to a JSON object.
    #[error("the row for table `{table}` must serialise to a JSON object, got {found}")]
    NotAnObject {
        /// The target table.
        table: String,
        /// What it serialised to.
        found: &'static str,
    },
    /// Serialising a row failed (serde's message is kept as text so the error stays
    /// `Clone` and `PartialEq`).
    #[error("could not serialise the row for table `{table}`: {message}")]
    Serialize {
        /// The target table.
        table: String,
        /// serde's message.
        message: String,
    },
}

/// Why [`Changeset::push`](crate::Changeset::push) failed. In every case the transaction
/// was rolled back (or never committed) and no event was dispatched.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PushError {
    /// No transaction could be opened (connection refused, pool closed, ...).
    #[error("could not begin the push transaction (attempt {attempts})")]
    Begin {
        /// Attempts made, this one included.
        attempts: u32,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
    /// An operation failed; the transaction was rolled back.
    #[error(
        "operation at index {index} ({description}) failed{}; the transaction was rolled back after {attempts} attempt(s)",
        fmt_sqlstate(.sqlstate)
    )]
    Operation {
        /// The operation's position in execution order (0-based, across merged children).
        index: usize,
        /// The operation's [`description`](crate::DbOperation::description).
        description: String,
        /// The SQLSTATE the server sent, when the failure came from the server.
        sqlstate: Option<String>,
        /// Attempts made, this one included.
        attempts: u32,
        /// The operation's error: the driver's error for a database failure.
        #[source]
        source: BoxError,
    },
    /// A lazy payload could not be computed (usually an empty slot); the transaction was
    /// rolled back, since the events it should have produced cannot be delivered.
    #[error("the lazy payload of a `{catalog}` event could not be computed; the transaction was rolled back")]
    Payload {
        /// The event's catalog.
        catalog: String,
        /// The event name, when it was given up front (named events).
        event: Option<String>,
        /// The closure's error.
        #[source]
        source: BoxError,
    },
    /// The events could not be serialised or written to the outbox; the transaction was
    /// rolled back.
    #[error("could not write {count} event(s) to the outbox{}; the transaction was rolled back", fmt_sqlstate(.sqlstate))]
    Outbox {
        /// How many events were to be written.
        count: usize,
        /// The SQLSTATE the server sent, if any.
        sqlstate: Option<String>,
        /// The outbox's error.
        #[source]
        source: BoxError,
    },
    /// `COMMIT` failed. With a SQLSTATE the server refused the commit (nothing was
    /// written); without one the connection broke and the outcome is unknown.
    #[error("commit failed{} after {attempts} attempt(s)", fmt_sqlstate(.sqlstate))]
    Commit {
        /// The SQLSTATE the server sent, if any.
        sqlstate: Option<String>,
        /// Attempts made, this one included.
        attempts: u32,
        /// The driver's error.
        #[source]
        source: BoxError,
    },
}

impl PushError {
    /// The SQLSTATE the server sent, if this failure came from the server.
    pub fn sqlstate(&self) -> Option<&str> {
        match self {
            PushError::Operation { sqlstate, .. }
            | PushError::Outbox { sqlstate, .. }
            | PushError::Commit { sqlstate, .. } => sqlstate.as_deref(),
            _ => None,
        }
    }

    /// The index of the failing operation, for [`PushError::Operation`].
    pub fn operation_index(&self) -> Option<usize> {
        match self {
            PushError::Operation { index, .. } => Some(*index),
            _ => None,
        }
    }
}

fn fmt_sqlstate(sqlstate: &Option<String>) -> SqlStateSuffix<'_> {
    SqlStateSuffix(sqlstate.as_deref())
}

struct SqlStateSuffix<'a>(Option<&'a str>);

impl fmt::Display for SqlStateSuffix<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(code) => write!(f, " with SQLSTATE {code}"),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_operation_and_sqlstate() {
        let err = PushError::Operation {
            index: 2,
            description: "insert into `items`".into(),
            sqlstate: Some("23505".into()),
            attempts: 1,
            source: "duplicate key".into(),
        };
        assert_eq!(
            err.to_string(),
            "operation at index 2 (insert into `items`) failed with SQLSTATE 23505; \
             the transaction was rolled back after 1 attempt(s)"
        );
        assert_eq!(err.sqlstate(), Some("23505"));
        assert_eq!(err.operation_index(), Some(2));
        assert_eq!(err.source().map(ToString::to_string), Some("duplicate key".to_owned()));
    }

    #[test]
    fn unknown_event_names_catalog_and_event() {
        let err = ChangesetError::UnknownEvent { catalog: "planning".into(), event: "planing_updated".into() };
        assert_eq!(err.to_string(), "event `planing_updated` is not known to catalog `planning`");
    }
}

/// A ready-made operation ([`Statement`](crate::Statement),
/// [`InsertRow`](crate::InsertRow)) could not do what it was built to do.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum StatementError {
    /// The statement should fill a slot from its first row, and returned no row.
    #[error("the statement returned no row to fill slot `{label}`")]
    NoRow {
        /// The slot's label.
        label: String,
    },
    /// A returned value did not convert into the slot's type.
    #[error("the value returned for slot `{label}` does not fit it")]
    Convert {
        /// The slot's label.
        label: String,
        /// Why.
        #[source]
        source: ValueError,
    },
}

/// An event could not be turned into what is delivered: its lazy payload failed, or it
/// did not serialise for the outbox.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The lazy payload's closure failed (usually: it read an empty slot).
    #[error("the lazy payload of a `{catalog}` event{} could not be computed", fmt_event(.event))]
    Payload {
        /// The event's catalog.
        catalog: String,
        /// The event name, when it was given up front (named events).
        event: Option<String>,
        /// The closure's error.
        #[source]
        source: BoxError,
    },
    /// The event did not serialise to JSON.
    #[error("event `{event}` of catalog `{catalog}` could not be serialised")]
    Serialize {
        /// The event's catalog.
        catalog: String,
        /// The event's name.
        event: String,
        /// serde's error.
        #[source]
        source: serde_json::Error,
    },
}

fn fmt_event(event: &Option<String>) -> String {
    event.as_ref().map(|name| format!(" `{name}`")).unwrap_or_default()
}
