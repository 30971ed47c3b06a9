//! The `tokio-postgres` backend (feature `tokio-postgres`): push through a
//! `&mut Client`; operations write through the push's `tokio_postgres::Transaction`.

use std::error::Error as StdError;

use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Row, Transaction};

use crate::backend::{Backend, Connector, TransactionError, Work};
use crate::error::{BoxError, ValueError};
use crate::operation::BoxFuture;
use crate::value::{Kind, Value};

/// The `tokio-postgres` backend: `Changeset<TokioPostgres>`. Operations receive the push
/// transaction (`tokio_postgres::Transaction`, which offers the `Client` query methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TokioPostgres;

const NULL_BOOL: Option<bool> = None;
const NULL_INT: Option<i64> = None;
const NULL_FLOAT: Option<f64> = None;
const NULL_TEXT: Option<String> = None;
const NULL_JSON: Option<serde_json::Value> = None;
const NULL_BYTES: Option<Vec<u8>> = None;

impl Backend for TokioPostgres {
    type Connection<'t> = Transaction<'t>;

    fn execute_sql<'a>(
        conn: &'a mut Transaction<'_>,
        sql: &'a str,
        params: &'a [Value],
        fetch: bool,
    ) -> BoxFuture<'a, Result<Option<Value>, BoxError>> {
        Box::pin(async move {
            // `query_typed` sends each parameter's type with it (like sqlx does), so the
            // server converts values exactly as it does for the sqlx backend, in one
            // round trip and without a named prepared statement.
            let typed: Vec<(&(dyn ToSql + Sync), Type)> = params.iter().map(typed_param).collect();
            let rows = conn.query_typed(sql, &typed).await?;
            match rows.first() {
                Some(row) if fetch => Ok(Some(first_column(row)?)),
                _ => Ok(None),
            }
        })
    }

    fn sqlstate(error: &(dyn StdError + 'static)) -> Option<String> {
        let error = error.downcast_ref::<tokio_postgres::Error>()?;
        error.code().map(|code| code.code().to_owned())
    }
}

fn typed_param(value: &Value) -> (&(dyn ToSql + Sync), Type) {
    match value {
        Value::Null(kind) => match kind {
            Kind::Bool => (&NULL_BOOL, Type::BOOL),
            Kind::Int => (&NULL_INT, Type::INT8),
            Kind::Float => (&NULL_FLOAT, Type::FLOAT8),
            Kind::Text => (&NULL_TEXT, Type::TEXT),
            Kind::Json => (&NULL_JSON, Type::JSONB),
            Kind::Bytes => (&NULL_BYTES, Type::BYTEA),
        },
        Value::Bool(b) => (b, Type::BOOL),
        Value::Int(i) => (i, Type::INT8),
        Value::Float(f) => (f, Type::FLOAT8),
        Value::Text(s) => (s, Type::TEXT),
        Value::Json(j) => (j, Type::JSONB),
        Value::Bytes(b) => (b, Type::BYTEA),
    }
}

fn first_column(row: &Row) -> Result<Value, BoxError> {
    let Some(column) = row.columns().first() else {
        return Err(Box::new(ValueError::UnsupportedColumn { type_name: "(no column)".into() }));
    };
    let ty = column.type_();
    let value = if *ty == Type::BOOL {
        row.try_get::<_, Option<bool>>(0)?.map_or(Value::Null(Kind::Bool), Value::Bool)
    } else if *ty == Type::INT2 {
        row.try_get::<_, Option<i16>>(0)?.map_or(Value::Null(Kind::Int), |v| Value::Int(v.into()))
    } else if *ty == Type::INT4 {
        row.try_get::<_, Option<i32>>(0)?.map_or(Value::Null(Kind::Int), |v| Value::Int(v.into()))
    } else if *ty == Type::INT8 {
        row.try_get::<_, Option<i64>>(0)?.map_or(Value::Null(Kind::Int), Value::Int)
    } else if *ty == Type::FLOAT4 {
        row.try_get::<_, Option<f32>>(0)?.map_or(Value::Null(Kind::Float), |v| Value::Float(v.into()))
    } else if *ty == Type::FLOAT8 {
        row.try_get::<_, Option<f64>>(0)?.map_or(Value::Null(Kind::Float), Value::Float)
    } else if [Type::TEXT, Type::VARCHAR, Type::BPCHAR, Type::NAME].contains(ty) {
        row.try_get::<_, Option<String>>(0)?.map_or(Value::Null(Kind::Text), Value::Text)
    } else if *ty == Type::JSON || *ty == Type::JSONB {
        row.try_get::<_, Option<serde_json::Value>>(0)?.map_or(Value::Null(Kind::Json), Value::Json)
    } else if *ty == Type::BYTEA {
        row.try_get::<_, Option<Vec<u8>>>(0)?.map_or(Value::Null(Kind::Bytes), Value::Bytes)
    } else {
        return Err(Box::new(ValueError::UnsupportedColumn { type_name: ty.name().to_owned() }));
    };
    Ok(value)
}

/// Each attempt is a transaction on the client; `&mut` guarantees no other query of
/// yours slips into it.
impl Connector<TokioPostgres> for &mut Client {
    fn in_transaction<'a>(
        &'a mut self,
        work: &'a mut dyn Work<TokioPostgres>,
    ) -> BoxFuture<'a, Result<(), TransactionError>> {
        let client: &mut Client = self;
        Box::pin(async move {
            let mut transaction = client.transaction().await.map_err(|e| TransactionError::Begin(Box::new(e)))?;
            match work.run(&mut transaction).await {
                Ok(()) => transaction.commit().await.map_err(|e| TransactionError::Commit(Box::new(e))),
                Err(failed) => {
                    if let Err(error) = transaction.rollback().await {
                        // The work's failure is the one to report; a connection that
                        // cannot roll back is broken, which ends the transaction anyway.
                        tracing::warn!(%error, "rollback after a failed push attempt failed");
                    }
                    Err(TransactionError::Work(failed))
                }
            }
        })
    }
}
