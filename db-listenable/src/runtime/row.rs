//! How a processor's type is read from a captured row: with its `sqlx::FromRow`, or as
//! the captured JSON object ([`JsonRow`]).

use std::fmt;
use std::marker::PhantomData;

use serde_json::{Map, Value};
use sqlx::FromRow;
use sqlx::postgres::PgRow;

use crate::model::{DbListenable, Model};

/// A captured row, as the claim returned it.
#[doc(hidden)]
#[derive(Debug, Clone, Copy)]
pub enum RowData<'a> {
    /// A row of the table's row type.
    Typed(&'a PgRow),
    /// The captured JSON object.
    Json(&'a Value),
}

/// A type a processor receives captured rows as.
///
/// Implemented for every [`DbListenable`] model that derives (or implements)
/// `sqlx::FromRow`: the row reaches the processor exactly as that `FromRow` reads a
/// `SELECT` of the table (see the type table in the [`runtime`](super) docs). And for
/// [`JsonRow`], the row as the journal keeps it. Not meant to be implemented elsewhere.
pub trait ChangeRow: DbListenable + Sized + Send + Sync {
    /// Whether the claim returns the rows as the table's row type (`true`) or as the
    /// captured JSON (`false`).
    #[doc(hidden)]
    const TYPED: bool;

    /// Reads one row; the error says why it does not fit.
    #[doc(hidden)]
    fn from_captured(row: RowData<'_>) -> Result<Self, String>;
}

impl<T> ChangeRow for T
where
    T: DbListenable + for<'r> FromRow<'r, PgRow> + Send + Sync,
{
    const TYPED: bool = true;

    fn from_captured(row: RowData<'_>) -> Result<Self, String> {
        match row {
            RowData::Typed(row) => T::from_row(row).map_err(|error| error.to_string()),
            RowData::Json(_) => Err("the row was claimed as JSON, not as the table's row type".to_owned()),
        }
    }
}

/// A row of `T`'s table as the journal keeps it: the JSON object of `to_jsonb(row)`,
/// keyed by column name, every column of the table (but excluded ones).
///
/// For processors that handle rows generically (an audit log, a copy to another
/// system) rather than as a struct. Numbers keep every digit only as far as
/// `serde_json::Value` does (an `f64` beyond 17 significant digits, unless serde_json's
/// `arbitrary_precision` is on), and values are in PostgreSQL's JSON form (`bytea` as a
/// `"\\x..."` string, timestamps as ISO 8601 strings); a typed model reads them exactly.
///
/// ```no_run
/// use db_listenable::DbListenable;
/// use db_listenable::runtime::{Change, Context, JsonRow, ProcessError, Processor};
///
/// #[derive(DbListenable, sqlx::FromRow)]
/// struct Invoice { id: i64 }
///
/// struct Audit;
///
/// impl Processor<JsonRow<Invoice>> for Audit {
///     async fn process(&self, ctx: &Context<'_>, change: &Change<JsonRow<Invoice>>) -> Result<(), ProcessError> {
///         let row = change.row().map(|row| serde_json::Value::Object(row.object().clone()));
///         sqlx::query("INSERT INTO audit (change_id, op, row) VALUES ($1, $2, $3)")
///             .bind(change.id)
///             .bind(change.op.as_sql())
///             .bind(row)
///             .execute(ctx.db())
///             .await?;
///         Ok(())
///     }
/// }
/// ```
pub struct JsonRow<T> {
    object: Map<String, Value>,
    model: PhantomData<fn() -> T>,
}

impl<T> JsonRow<T> {
    /// The row's columns by name.
    pub fn object(&self) -> &Map<String, Value> {
        &self.object
    }

    /// The row's columns by name, owned.
    pub fn into_object(self) -> Map<String, Value> {
        self.object
    }

    /// One column's value (`None` when the row has no such column).
    pub fn get(&self, column: &str) -> Option<&Value> {
        self.object.get(column)
    }
}

impl<T> Clone for JsonRow<T> {
    fn clone(&self) -> Self {
        JsonRow { object: self.object.clone(), model: PhantomData }
    }
}

impl<T> PartialEq for JsonRow<T> {
    fn eq(&self, other: &Self) -> bool {
        self.object == other.object
    }
}

impl<T> fmt::Debug for JsonRow<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JsonRow").field(&self.object).finish()
    }
}

impl<T: DbListenable> DbListenable for JsonRow<T> {
    const MODEL: Model = T::MODEL;
}

impl<T: DbListenable> ChangeRow for JsonRow<T> {
    const TYPED: bool = false;

    fn from_captured(row: RowData<'_>) -> Result<Self, String> {
        match row {
            RowData::Json(Value::Object(object)) => Ok(JsonRow { object: object.clone(), model: PhantomData }),
            RowData::Json(other) => Err(format!("the captured row is not a JSON object: {other}")),
            RowData::Typed(_) => Err("the row was claimed as the table's row type, not as JSON".to_owned()),
        }
    }
}
