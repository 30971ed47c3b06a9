//! [`InsertRow`]: the ready-made operation that inserts one `serde`-serialisable row.

use std::fmt;

use serde::Serialize;

use crate::backend::Backend;
use crate::error::{BoxError, SlotError, ValueError};
use crate::operation::{BoxFuture, DbOperation};
use crate::slot::Slot;
use crate::sql;
use crate::statement::{SlotRead, SlotWrite};
use crate::value::{FromValue, Value};

/// Inserts one row built from any `serde::Serialize` struct: each field is a column.
///
/// The row travels as one `jsonb` parameter and PostgreSQL converts each field to its
/// column's type (`jsonb_populate_record`), so dates, numerics and enums need no binding
/// code, and this stays a row writer, not an ORM: no schema, no relations, no reads.
/// Columns missing from the struct keep their defaults. A column can take its value
/// from a [`Slot`] at run time (a foreign key assigned by an earlier operation), and
/// one column can be returned into a slot (the new id).
///
/// ```
/// use pg_changeset::{InsertRow, Slot};
///
/// #[derive(serde::Serialize)]
/// struct NewCharge { amount_cents: i64 }
///
/// let invoice_id: Slot<i64> = Slot::new("invoice.id");
/// let charge_id: Slot<i64> = Slot::new("charge.id");
/// let insert = InsertRow::new("charges", &NewCharge { amount_cents: 2_500 })?
///     .set_from_slot("invoice_id", &invoice_id)
///     .returning_into("id", &charge_id);
/// assert_eq!(
///     insert.sql(),
///     r#"INSERT INTO "charges" ("amount_cents", "invoice_id") SELECT "amount_cents", "invoice_id" FROM jsonb_populate_record(NULL::"charges", $1) RETURNING "id""#
/// );
/// # Ok::<(), pg_changeset::ValueError>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct InsertRow {
    table: String,
    row: serde_json::Map<String, serde_json::Value>,
    from_slots: Vec<(String, SlotRead)>,
    returning: Option<(String, SlotWrite)>,
}

impl InsertRow {
    /// A row for `table` (optionally `schema.table`; both parts are quoted).
    ///
    /// # Errors
    /// [`ValueError::Serialize`] if `row` fails to serialise, [`ValueError::NotAnObject`]
    /// if it is not a struct or map.
    pub fn new<T: Serialize + ?Sized>(table: impl Into<String>, row: &T) -> Result<Self, ValueError> {
        let table = table.into();
        let json = serde_json::to_value(row)
            .map_err(|e| ValueError::Serialize { table: table.clone(), message: e.to_string() })?;
        match json {
            serde_json::Value::Object(row) => Ok(InsertRow { table, row, from_slots: Vec::new(), returning: None }),
            other => Err(ValueError::NotAnObject { table, found: json_type(&other) }),
        }
    }

    /// Sets `column` to the value `slot` holds when the row is inserted (replacing a field
    /// of the same name from the struct).
    pub fn set_from_slot<T>(mut self, column: impl Into<String>, slot: &Slot<T>) -> Self
    where
        T: Clone + Into<Value> + Send + 'static,
    {
        let column = column.into();
        self.row.remove(&column);
        self.from_slots.retain(|(name, _)| *name != column);
        self.from_slots.push((column, SlotRead::new(slot)));
        self
    }

    /// Returns `column` of the inserted row into `slot` (`RETURNING column`).
    pub fn returning_into<T>(mut self, column: impl Into<String>, slot: &Slot<T>) -> Self
    where
        T: FromValue + Send + 'static,
    {
        self.returning = Some((column.into(), SlotWrite::new(slot)));
        self
    }

    /// The target table.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The fields taken from the struct.
    pub fn row(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.row
    }

    /// The SQL that runs (identifiers quoted; the row is parameter `$1`).
    pub fn sql(&self) -> String {
        let columns: Vec<String> =
            self.row.keys().cloned().chain(self.from_slots.iter().map(|(name, _)| name.clone())).collect();
        sql::insert_from_json(&self.table, &columns, self.returning.as_ref().map(|(column, _)| column.as_str()))
    }

    /// The `jsonb` parameter now: the struct's fields plus the slots' values.
    ///
    /// # Errors
    /// [`SlotError::Empty`] for a slot column that no operation has filled yet.
    pub fn resolve_row(&self) -> Result<serde_json::Value, SlotError> {
        let mut row = self.row.clone();
        for (column, read) in &self.from_slots {
            row.insert(column.clone(), read.read()?.to_json());
        }
        Ok(serde_json::Value::Object(row))
    }
}

impl<B: Backend> DbOperation<B> for InsertRow {
    fn execute<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let sql = self.sql();
            let empty = self.row.is_empty() && self.from_slots.is_empty();
            let params = if empty { Vec::new() } else { vec![Value::Json(self.resolve_row()?)] };
            let first = B::execute_sql(conn, &sql, &params, self.returning.is_some()).await?;
            if let Some((_, target)) = &self.returning {
                target.write(first)?;
            }
            Ok(())
        })
    }

    fn description(&self) -> String {
        format!("insert into `{}`", self.table)
    }
}

impl fmt::Debug for InsertRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InsertRow")
            .field("table", &self.table)
            .field("row", &self.row)
            .field("from_slots", &self.from_slots)
            .field("returning", &self.returning)
            .finish()
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Serialize)]
    struct Invoice {
        customer: String,
        amount_cents: i64,
    }

    #[test]
    fn rejects_rows_that_are_not_objects() {
        let err = InsertRow::new("t", &5).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(err, Err("the row for table `t` must serialise to a JSON object, got a number".into()));
    }

    #[test]
    fn slot_columns_replace_fields_and_resolve_late() {
        let customer: Slot<String> = Slot::new("customer");
        let row = InsertRow::new("invoices", &Invoice { customer: "ignored".into(), amount_cents: 10 })
            .expect("row")
            .set_from_slot("customer", &customer);
        assert_eq!(
            row.sql(),
            "INSERT INTO \"invoices\" (\"amount_cents\", \"customer\") SELECT \"amount_cents\", \"customer\" \
             FROM jsonb_populate_record(NULL::\"invoices\", $1)"
        );
        assert!(row.resolve_row().is_err());
        customer.set("ada".into());
        assert_eq!(row.resolve_row(), Ok(serde_json::json!({"amount_cents": 10, "customer": "ada"})));
    }

    #[test]
    fn equality_covers_table_row_and_slots() {
        let a = InsertRow::new("invoices", &Invoice { customer: "a".into(), amount_cents: 1 }).expect("row");
        let b = InsertRow::new("invoices", &Invoice { customer: "a".into(), amount_cents: 1 }).expect("row");
        assert_eq!(a, b);
        let id: Slot<i64> = Slot::new("invoice.id");
        assert_ne!(a.clone().returning_into("id", &id), b);
        assert_ne!(InsertRow::new("other", &Invoice { customer: "a".into(), amount_cents: 1 }).expect("row"), a);
    }
}
