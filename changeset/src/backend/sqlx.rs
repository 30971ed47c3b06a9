//! The `sqlx` backends (feature `sqlx`): push through a `&PgPool` or a
//! `&mut PgConnection`; operations write through a `&mut PgConnection`. [`Sqlx`] runs
//! statements prepared, [`SqlxUnprepared`] unprepared, for poolers in transaction mode
//! that do not track prepared statements.

use std::error::Error as StdError;

use sqlx::encode::IsNull;
use sqlx::postgres::types::Oid;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgRow, PgTypeInfo, PgValueFormat};
use sqlx::{Arguments, AssertSqlSafe, Connection, PgConnection, PgPool, Postgres, Row, TypeInfo, ValueRef};

use crate::backend::{Backend, Connector, TransactionError, Work};
use crate::error::{BoxError, ValueError};
use crate::operation::BoxFuture;
use crate::value::{Value, wire};

/// The `sqlx` backend: `Changeset<Sqlx>`. Operations receive the push transaction's
/// `PgConnection`.
///
/// [`Statement`](crate::Statement)s run as sqlx's cached prepared statements, as
/// hand-written sqlx queries do: sqlx keys its cache by SQL text and keeps the parameter
/// types of the first use on a connection, so bind the same [`Kind`](crate::Kind)s every
/// time one SQL text is used (an `Option` binds a typed `NULL`, which keeps this true for
/// optional values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub struct Sqlx;

/// The `sqlx` backend with unprepared statements: `Changeset<SqlxUnprepared>`, pushed
/// through a `&PgPool` or `&mut PgConnection` like [`Sqlx`].
///
/// Each [`Statement`](crate::Statement) is sent as sqlx's unnamed statement
/// (`persistent(false)`) instead of a named one cached on the connection. Behind a
/// connection pooler in transaction mode that does not track prepared statements
/// (PgBouncer before 1.21, or without `max_prepared_statements`), a connection's next
/// push may run on another server connection, where a cached statement is missing or
/// another client's (`prepared statement "sqlx_s_1" already exists`); a push is one
/// transaction, so its unnamed statements stay on one server connection. The price is a
/// parse and a round trip more per statement. Operations that run their own sqlx
/// queries should send them with `persistent(false)` there too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub struct SqlxUnprepared;

impl Backend for Sqlx {
    type Connection<'t> = PgConnection;

    fn execute_sql<'a>(
        conn: &'a mut PgConnection,
        sql: &'a str,
        params: &'a [Value],
        fetch: bool,
    ) -> BoxFuture<'a, Result<Option<Value>, BoxError>> {
        Box::pin(execute(conn, sql, params, fetch, true))
    }

    fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        sqlstate(error)
    }
}

impl Backend for SqlxUnprepared {
    type Connection<'t> = PgConnection;

    fn execute_sql<'a>(
        conn: &'a mut PgConnection,
        sql: &'a str,
        params: &'a [Value],
        fetch: bool,
    ) -> BoxFuture<'a, Result<Option<Value>, BoxError>> {
        Box::pin(execute(conn, sql, params, fetch, false))
    }

    fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        sqlstate(error)
    }
}

/// Runs one statement for either backend; `prepared` is sqlx's `persistent`.
async fn execute(
    conn: &mut PgConnection,
    sql: &str,
    params: &[Value],
    fetch: bool,
    prepared: bool,
) -> Result<Option<Value>, BoxError> {
    let mut arguments = PgArguments::default();
    for param in params {
        bind(&mut arguments, param)?;
    }
    let query = sqlx::query_with(AssertSqlSafe(sql), arguments).persistent(prepared);
    if fetch {
        match query.fetch_optional(&mut *conn).await? {
            Some(row) => Ok(Some(first_column(&row)?)),
            None => Ok(None),
        }
    } else {
        query.execute(&mut *conn).await?;
        Ok(None)
    }
}

fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
    let error = error.downcast_ref::<sqlx::Error>()?;
    error.as_database_error()?.code().map(|code| code.into_owned())
}

/// A [`Value`] as an sqlx argument: the crate's binary codec writes it, declared with
/// its type's OID.
struct Param<'v>(&'v Value);

impl sqlx::Type<Postgres> for Param<'_> {
    fn type_info() -> PgTypeInfo {
        // Each value declares its own type through `produces`; this is never used alone.
        PgTypeInfo::with_oid(Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for Param<'_> {
    fn encode_by_ref(&self, buf: &mut PgArgumentBuffer) -> Result<IsNull, sqlx::error::BoxDynError> {
        if self.0.is_null() {
            return Ok(IsNull::Yes);
        }
        wire::encode(self.0, buf)?;
        Ok(IsNull::No)
    }

    fn produces(&self) -> Option<PgTypeInfo> {
        Some(PgTypeInfo::with_oid(Oid(wire::type_oid(self.0.kind()))))
    }
}

fn bind(arguments: &mut PgArguments, value: &Value) -> Result<(), BoxError> {
    <PgArguments as Arguments>::add(arguments, Param(value))
}

fn first_column(row: &PgRow) -> Result<Value, BoxError> {
    let raw = row.try_get_raw(0)?;
    let type_info = raw.type_info();
    let type_name = type_info.name().to_owned();
    let Some(Oid(oid)) = type_info.oid() else {
        return Err(Box::new(ValueError::UnsupportedColumn { type_name }));
    };
    let bytes = if raw.is_null() {
        None
    } else {
        if raw.format() != PgValueFormat::Binary {
            // Prepared statements return binary columns; text would need another codec.
            return Err(Box::new(ValueError::UnsupportedColumn { type_name: format!("{type_name} (text format)") }));
        }
        Some(raw.as_bytes()?)
    };
    Ok(wire::decode(oid, &type_name, bytes)?)
}

/// Each attempt takes a connection from the pool and returns it after the commit.
impl Connector<Sqlx> for &PgPool {
    fn in_transaction<'a>(&'a mut self, work: &'a mut dyn Work<Sqlx>) -> BoxFuture<'a, Result<(), TransactionError>> {
        in_pool_transaction(self, work)
    }
}

/// A push of a `Changeset<SqlxUnprepared>`: `changeset.push_with(Unprepared(&pool), &options)`
/// (or `Unprepared(&mut conn)`), which runs like a push on the pool or connection itself.
/// A connector of its own, so that a push on a bare `&PgPool` keeps inferring [`Sqlx`].
#[derive(Debug)]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlx")))]
pub struct Unprepared<C>(pub C);

/// As a push on `&PgPool`.
impl Connector<SqlxUnprepared> for Unprepared<&PgPool> {
    fn in_transaction<'a>(
        &'a mut self,
        work: &'a mut dyn Work<SqlxUnprepared>,
    ) -> BoxFuture<'a, Result<(), TransactionError>> {
        in_pool_transaction(self.0, work)
    }
}

/// As a push on `&mut PgConnection`.
impl Connector<SqlxUnprepared> for Unprepared<&mut PgConnection> {
    fn in_transaction<'a>(
        &'a mut self,
        work: &'a mut dyn Work<SqlxUnprepared>,
    ) -> BoxFuture<'a, Result<(), TransactionError>> {
        in_connection_transaction(self.0, work)
    }
}

fn in_pool_transaction<'a, B>(
    pool: &'a PgPool,
    work: &'a mut dyn Work<B>,
) -> BoxFuture<'a, Result<(), TransactionError>>
where
    B: for<'t> Backend<Connection<'t> = PgConnection>,
{
    Box::pin(async move {
        let transaction = pool.begin().await.map_err(|e| TransactionError::Begin(Box::new(e)))?;
        finish(transaction, work).await
    })
}

/// Pushes on a connection you hold. If it is already inside a transaction, the push
/// runs in a savepoint of it (sqlx's nested `begin`), and nothing is durable until the
/// outer transaction commits: in-process dispatch would then run too early, so prefer an
/// outbox there.
impl Connector<Sqlx> for &mut PgConnection {
    fn in_transaction<'a>(&'a mut self, work: &'a mut dyn Work<Sqlx>) -> BoxFuture<'a, Result<(), TransactionError>> {
        in_connection_transaction(self, work)
    }
}

fn in_connection_transaction<'a, B>(
    conn: &'a mut PgConnection,
    work: &'a mut dyn Work<B>,
) -> BoxFuture<'a, Result<(), TransactionError>>
where
    B: for<'t> Backend<Connection<'t> = PgConnection>,
{
    Box::pin(async move {
        let transaction = conn.begin().await.map_err(|e| TransactionError::Begin(Box::new(e)))?;
        finish(transaction, work).await
    })
}

/// Runs the work, then commits, or rolls back if it failed.
async fn finish<B>(
    mut transaction: sqlx::Transaction<'_, Postgres>,
    work: &mut dyn Work<B>,
) -> Result<(), TransactionError>
where
    B: for<'t> Backend<Connection<'t> = PgConnection>,
{
    match work.run(&mut transaction).await {
        Ok(()) => transaction.commit().await.map_err(|e| TransactionError::Commit(Box::new(e))),
        Err(failed) => {
            if let Err(error) = transaction.rollback().await {
                // The work's failure is the one to report; a connection that cannot
                // roll back is broken, which ends the transaction anyway.
                tracing::warn!(%error, "rollback after a failed push attempt failed");
            }
            Err(TransactionError::Work(failed))
        }
    }
}
