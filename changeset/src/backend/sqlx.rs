//! The `sqlx` backend (feature `sqlx`): push through a `&PgPool` or a
//! `&mut PgConnection`; operations write through a `&mut PgConnection`.

use std::error::Error as StdError;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::{Arguments, AssertSqlSafe, Column, Connection, PgConnection, PgPool, Postgres, Row, TypeInfo};

use crate::backend::{Backend, Connector, TransactionError, Work};
use crate::error::{BoxError, ValueError};
use crate::operation::BoxFuture;
use crate::value::{Kind, Value};

/// The `sqlx` backend: `Changeset<Sqlx>`. Operations receive the push transaction's
/// `PgConnection`.
///
/// [`Statement`](crate::Statement)s run as sqlx's cached prepared statements, as
/// hand-written sqlx queries do: sqlx keys its cache by SQL text and keeps the parameter
/// types of the first use on a connection, so bind the same [`Kind`]s every time one SQL
/// text is used (an `Option` binds a typed `NULL`, which keeps this true for optional
/// values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Sqlx;

impl Backend for Sqlx {
    type Connection<'t> = PgConnection;

    fn execute_sql<'a>(
        conn: &'a mut PgConnection,
        sql: &'a str,
        params: &'a [Value],
        fetch: bool,
    ) -> BoxFuture<'a, Result<Option<Value>, BoxError>> {
        Box::pin(async move {
            let mut arguments = PgArguments::default();
            for param in params {
                bind(&mut arguments, param)?;
            }
            let query = sqlx::query_with(AssertSqlSafe(sql), arguments);
            if fetch {
                match query.fetch_optional(&mut *conn).await? {
                    Some(row) => Ok(Some(first_column(&row)?)),
                    None => Ok(None),
                }
            } else {
                query.execute(&mut *conn).await?;
                Ok(None)
            }
        })
    }

    fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        let error = error.downcast_ref::<sqlx::Error>()?;
        error.as_database_error()?.code().map(|code| code.into_owned())
    }
}

fn bind(arguments: &mut PgArguments, value: &Value) -> Result<(), BoxError> {
    match value {
        Value::Null(kind) => match kind {
            Kind::Bool => <PgArguments as Arguments>::add(arguments, None::<bool>),
            Kind::Int => <PgArguments as Arguments>::add(arguments, None::<i64>),
            Kind::Float => <PgArguments as Arguments>::add(arguments, None::<f64>),
            Kind::Text => <PgArguments as Arguments>::add(arguments, None::<String>),
            Kind::Json => <PgArguments as Arguments>::add(arguments, None::<serde_json::Value>),
            Kind::Bytes => <PgArguments as Arguments>::add(arguments, None::<Vec<u8>>),
        },
        Value::Bool(b) => <PgArguments as Arguments>::add(arguments, *b),
        Value::Int(i) => <PgArguments as Arguments>::add(arguments, *i),
        Value::Float(f) => <PgArguments as Arguments>::add(arguments, *f),
        Value::Text(s) => <PgArguments as Arguments>::add(arguments, s.as_str()),
        Value::Json(j) => <PgArguments as Arguments>::add(arguments, j),
        Value::Bytes(b) => <PgArguments as Arguments>::add(arguments, b.as_slice()),
    }
}

fn first_column(row: &PgRow) -> Result<Value, BoxError> {
    let column = row.try_column(0)?;
    let type_name = column.type_info().name().to_owned();
    let value = match type_name.as_str() {
        "BOOL" => row.try_get::<Option<bool>, _>(0)?.map_or(Value::Null(Kind::Bool), Value::Bool),
        "INT2" => row.try_get::<Option<i16>, _>(0)?.map_or(Value::Null(Kind::Int), |v| Value::Int(v.into())),
        "INT4" => row.try_get::<Option<i32>, _>(0)?.map_or(Value::Null(Kind::Int), |v| Value::Int(v.into())),
        "INT8" => row.try_get::<Option<i64>, _>(0)?.map_or(Value::Null(Kind::Int), Value::Int),
        "FLOAT4" => row.try_get::<Option<f32>, _>(0)?.map_or(Value::Null(Kind::Float), |v| Value::Float(v.into())),
        "FLOAT8" => row.try_get::<Option<f64>, _>(0)?.map_or(Value::Null(Kind::Float), Value::Float),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" => {
            row.try_get::<Option<String>, _>(0)?.map_or(Value::Null(Kind::Text), Value::Text)
        }
        "JSON" | "JSONB" => {
            row.try_get::<Option<serde_json::Value>, _>(0)?.map_or(Value::Null(Kind::Json), Value::Json)
        }
        "BYTEA" => row.try_get::<Option<Vec<u8>>, _>(0)?.map_or(Value::Null(Kind::Bytes), Value::Bytes),
        _ => return Err(Box::new(ValueError::UnsupportedColumn { type_name })),
    };
    Ok(value)
}

/// Each attempt takes a connection from the pool and returns it after the commit.
impl Connector<Sqlx> for &PgPool {
    fn in_transaction<'a>(&'a mut self, work: &'a mut dyn Work<Sqlx>) -> BoxFuture<'a, Result<(), TransactionError>> {
        let pool: &PgPool = self;
        Box::pin(async move {
            let transaction = pool.begin().await.map_err(|e| TransactionError::Begin(Box::new(e)))?;
            finish(transaction, work).await
        })
    }
}

/// Pushes on a connection you hold. If it is already inside a transaction, the push
/// runs in a savepoint of it (sqlx's nested `begin`), and nothing is durable until the
/// outer transaction commits: in-process dispatch would then run too early, so prefer an
/// outbox there.
impl Connector<Sqlx> for &mut PgConnection {
    fn in_transaction<'a>(&'a mut self, work: &'a mut dyn Work<Sqlx>) -> BoxFuture<'a, Result<(), TransactionError>> {
        let conn: &mut PgConnection = self;
        Box::pin(async move {
            let transaction = conn.begin().await.map_err(|e| TransactionError::Begin(Box::new(e)))?;
            finish(transaction, work).await
        })
    }
}

/// Runs the work, then commits, or rolls back if it failed.
async fn finish(
    mut transaction: sqlx::Transaction<'_, Postgres>,
    work: &mut dyn Work<Sqlx>,
) -> Result<(), TransactionError> {
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
