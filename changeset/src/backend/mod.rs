//! The seam between the core and a database driver.
//!
//! The core (changesets, events, dispatch, the push algorithm) has no database
//! dependency. A driver plugs in with two traits:
//!
//! - [`Backend`], a marker type per driver ([`Sqlx`], [`TokioPostgres`]): what an
//!   operation writes through ([`Backend::Connection`]), how a
//!   [`Statement`](crate::Statement) runs, and how to read a SQLSTATE out of the
//!   driver's error. A `Changeset<B>` and its operations are typed by the backend, not
//!   by a connection, so domain code holds no borrowed connection and no lifetime.
//! - [`Connector`], for whatever a push opens its transaction on: a `&PgPool`, a
//!   `&mut PgConnection`, a `&mut tokio_postgres::Client`.
//!
//! Other drivers can implement both traits; the two built-in backends are behind the
//! `sqlx` and `tokio-postgres` cargo features.

use std::error::Error as StdError;

use crate::error::BoxError;
use crate::operation::BoxFuture;
use crate::value::Value;

#[cfg(feature = "sqlx")]
pub mod sqlx;
#[cfg(feature = "tokio-postgres")]
pub mod tokio_postgres;

#[cfg(feature = "sqlx")]
pub use self::sqlx::{Sqlx, SqlxUnprepared, Unprepared};
#[cfg(feature = "tokio-postgres")]
pub use self::tokio_postgres::TokioPostgres;

/// A database driver, as seen by operations. Implemented by marker types.
pub trait Backend: Send + Sync + 'static {
    /// What an operation writes through while the push transaction is open: for `sqlx`
    /// a `PgConnection` (inside a transaction), for `tokio-postgres` a
    /// `tokio_postgres::Transaction`.
    type Connection<'t>: Send;

    /// Runs one SQL statement with `params` bound to `$1, $2, ...`; when `fetch` is set,
    /// returns the first column of the first row (`None` when no row came back).
    ///
    /// Each parameter is sent with the PostgreSQL type of its [`Value`] variant, so both
    /// backends accept and reject the same statements.
    fn execute_sql<'a>(
        conn: &'a mut Self::Connection<'_>,
        sql: &'a str,
        params: &'a [Value],
        fetch: bool,
    ) -> BoxFuture<'a, Result<Option<Value>, BoxError>>;

    /// The SQLSTATE carried by `error`, if it is this driver's error for a server
    /// response. The core walks the `source()` chain and asks at each link.
    fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String>;
}

/// Something a push can open its transaction on: `&PgPool`, `&mut PgConnection`,
/// `&mut tokio_postgres::Client`.
///
/// `push` takes the connector by value and calls
/// [`in_transaction`](Connector::in_transaction) once per attempt. The whole transaction
/// is one call on purpose: the driver's transaction type stays inside the concrete
/// implementation, so the generic push future is `Send` without asking the compiler to
/// prove it for a borrowed, driver-specific transaction type (a known limitation of
/// generic associated types in `Send` checks).
pub trait Connector<B: Backend>: Send {
    /// Begins a transaction, runs `work` with its connection, commits if `work`
    /// succeeded and rolls back otherwise.
    ///
    /// If the returned future is dropped midway, the driver rolls the open transaction
    /// back (both built-in drivers do so when their transaction value is dropped).
    fn in_transaction<'a>(&'a mut self, work: &'a mut dyn Work<B>) -> BoxFuture<'a, Result<(), TransactionError>>;
}

/// What a [`Connector`] runs inside its transaction. The push implements it; a
/// connector only calls [`run`](Work::run) once with the transaction's connection.
pub trait Work<B: Backend>: Send {
    /// Runs the push's operations (and outbox writes) through `conn`.
    fn run<'a>(&'a mut self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), WorkFailed>>;
}

/// The [`Work`] failed and kept the reason itself; the connector must roll back and
/// return [`TransactionError::Work`] with this value.
#[derive(Debug)]
pub struct WorkFailed {
    _private: (),
}

impl WorkFailed {
    pub(crate) fn new() -> Self {
        WorkFailed { _private: () }
    }
}

/// Why [`Connector::in_transaction`] did not commit.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransactionError {
    /// `BEGIN` (or getting a connection) failed; the work did not run.
    #[error("could not begin a transaction")]
    Begin(#[source] BoxError),
    /// The work failed; the transaction was rolled back.
    #[error("the transaction's work failed")]
    Work(WorkFailed),
    /// `COMMIT` failed.
    #[error("could not commit")]
    Commit(#[source] BoxError),
}

/// The SQLSTATE of the first link in `error`'s source chain that `B` recognises.
pub(crate) fn find_sqlstate<B: Backend>(error: &(dyn StdError + 'static)) -> Option<String> {
    let mut link = Some(error);
    while let Some(current) = link {
        if let Some(code) = B::sqlstate(current) {
            return Some(code);
        }
        link = current.source();
    }
    None
}
