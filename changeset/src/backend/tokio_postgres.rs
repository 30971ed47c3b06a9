//! The `tokio-postgres` backend (feature `tokio-postgres`): push through a
//! `&mut Client`; operations write through the push's `tokio_postgres::Transaction`.

use std::error::Error as StdError;

use bytes::BytesMut;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};
use tokio_postgres::{Client, Row, Transaction};

use crate::backend::{Backend, Connector, TransactionError, Work};
use crate::error::{BoxError, ValueError};
use crate::operation::BoxFuture;
use crate::value::{Value, wire};

/// The `tokio-postgres` backend: `Changeset<TokioPostgres>`. Operations receive the push
/// transaction (`tokio_postgres::Transaction`, which offers the `Client` query methods).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
pub struct TokioPostgres;

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
            let params: Vec<Param<'_>> = params.iter().map(Param::new).collect::<Result<_, _>>()?;
            let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                params.iter().map(|param| (param as &(dyn ToSql + Sync), param.ty.clone())).collect();
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

/// A [`Value`] as a tokio-postgres parameter: the crate's binary codec writes it,
/// declared with its type.
#[derive(Debug)]
struct Param<'v> {
    value: &'v Value,
    ty: Type,
}

impl<'v> Param<'v> {
    fn new(value: &'v Value) -> Result<Self, ValueError> {
        let oid = wire::type_oid(value.kind());
        // Every kind is a built-in type that tokio-postgres knows by OID; the error only
        // guards a kind added without one.
        let ty = Type::from_oid(oid)
            .ok_or_else(|| ValueError::UnsupportedColumn { type_name: value.kind().sql_type().to_owned() })?;
        Ok(Param { value, ty })
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, _ty: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        if self.value.is_null() {
            return Ok(IsNull::Yes);
        }
        let mut bytes = Vec::new();
        wire::encode(self.value, &mut bytes)?;
        out.extend_from_slice(&bytes);
        Ok(IsNull::No)
    }

    fn accepts(_ty: &Type) -> bool {
        // The type is the value's own, declared alongside it.
        true
    }

    to_sql_checked!();
}

/// A column's bytes, whatever its type; `None` for `NULL`.
struct Raw<'r>(Option<&'r [u8]>);

impl<'r> FromSql<'r> for Raw<'r> {
    fn from_sql(_ty: &Type, raw: &'r [u8]) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(Some(raw)))
    }

    fn from_sql_null(_ty: &Type) -> Result<Self, Box<dyn StdError + Sync + Send>> {
        Ok(Raw(None))
    }

    fn accepts(_ty: &Type) -> bool {
        true
    }
}

fn first_column(row: &Row) -> Result<Value, BoxError> {
    let Some(column) = row.columns().first() else {
        return Err(Box::new(ValueError::UnsupportedColumn { type_name: "(no column)".into() }));
    };
    let ty = column.type_();
    let Raw(bytes) = row.try_get::<_, Raw<'_>>(0)?;
    Ok(wire::decode(ty.oid(), ty.name(), bytes)?)
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
