//! The pool the library's statements go through, and whether they are prepared there.
//!
//! sqlx runs every query with bind parameters as a named prepared statement, cached per
//! connection (`sqlx_s_1`, `sqlx_s_2`, ...), even with `statement_cache_capacity(0)`.
//! Behind a connection pooler in transaction mode that does not track prepared
//! statements (PgBouncer before 1.21, or 1.21+ without `max_prepared_statements`), the
//! next transaction of a client connection may run on another server connection, which
//! lacks the statement, or holds another client's of the same name (`prepared statement
//! "sqlx_s_1" already exists`).
//!
//! Unprepared ([`DbPool::unprepared`]), each statement is sent as sqlx's unnamed
//! statement (`persistent(false)`) inside a transaction of its own. The transaction is
//! needed too: sqlx parses an unnamed statement and binds it in two exchanges, each ended
//! by a `Sync`, and a transaction-mode pooler may hand the second exchange to another
//! server connection between them, where it would find another client's unnamed
//! statement, or none. Statements the library already runs inside a transaction only
//! drop the name. The price is a parse per statement and the `BEGIN`/`COMMIT` round
//! trips (see OPERATIONS.md, "Connection poolers").

use std::ops::{Deref, DerefMut};

use sqlx::pool::PoolConnection;
use sqlx::{PgConnection, PgPool, Postgres, Transaction};

/// A pool and how the library sends its statements through it: prepared (sqlx's
/// default, cached per connection) or unprepared, for a pooler in transaction mode that
/// does not track prepared statements.
///
/// Functions that take `impl Into<DbPool>` accept a `&PgPool` (prepared). The runtime
/// builds its own from [`RuntimeConfig::prepared_statements`](crate::runtime::RuntimeConfig::prepared_statements).
///
/// ```no_run
/// # async fn demo(pool: sqlx::PgPool) -> db_listenable::Result<()> {
/// use db_listenable::DbPool;
/// use db_listenable::runtime::dead_letters;
///
/// // Through PgBouncer 1.18 in transaction mode.
/// let letters = dead_letters::list(DbPool::unprepared(&pool), None, 50).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct DbPool<'a> {
    pool: &'a PgPool,
    prepared: bool,
}

impl<'a> DbPool<'a> {
    /// `pool`, with statements prepared and cached per connection (sqlx's default).
    pub fn new(pool: &'a PgPool) -> Self {
        DbPool { pool, prepared: true }
    }

    /// `pool`, with every statement unprepared, each in a transaction of its own: for a
    /// pooler in transaction mode that does not track prepared statements.
    pub fn unprepared(pool: &'a PgPool) -> Self {
        DbPool { pool, prepared: false }
    }

    /// `pool`, prepared or not as `prepared` says.
    pub fn with_prepared_statements(pool: &'a PgPool, prepared: bool) -> Self {
        DbPool { pool, prepared }
    }

    /// The pool.
    pub fn pool(&self) -> &'a PgPool {
        self.pool
    }

    /// Whether statements are prepared: the value for sqlx's `persistent(...)` of a
    /// statement run on this pool.
    pub fn prepared(&self) -> bool {
        self.prepared
    }

    /// A connection for one statement: taken from the pool when statements are
    /// prepared, inside a transaction of its own when not. End it with
    /// [`OneStatement::finish`]; dropped unfinished, its transaction rolls back.
    pub(crate) async fn one_statement(&self) -> Result<OneStatement, sqlx::Error> {
        Ok(if self.prepared {
            OneStatement::Pooled(self.pool.acquire().await?)
        } else {
            OneStatement::Transaction(self.pool.begin().await?)
        })
    }
}

impl<'a> From<&'a PgPool> for DbPool<'a> {
    fn from(pool: &'a PgPool) -> Self {
        DbPool::new(pool)
    }
}

/// The connection one library statement runs on (see [`DbPool::one_statement`]).
pub(crate) enum OneStatement {
    Pooled(PoolConnection<Postgres>),
    Transaction(Transaction<'static, Postgres>),
}

impl OneStatement {
    /// Commits the statement's transaction, if it has one, and returns the connection.
    pub(crate) async fn finish(self) -> Result<(), sqlx::Error> {
        match self {
            OneStatement::Pooled(_) => Ok(()),
            OneStatement::Transaction(tx) => tx.commit().await,
        }
    }
}

impl Deref for OneStatement {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        match self {
            OneStatement::Pooled(conn) => conn,
            OneStatement::Transaction(tx) => tx,
        }
    }
}

impl DerefMut for OneStatement {
    fn deref_mut(&mut self) -> &mut PgConnection {
        match self {
            OneStatement::Pooled(conn) => conn,
            OneStatement::Transaction(tx) => tx,
        }
    }
}
