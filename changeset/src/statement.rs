//! [`Statement`]: the ready-made operation that runs one SQL statement.

use std::any::{TypeId, type_name};
use std::fmt;
use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{BoxError, SlotError, StatementError};
use crate::operation::{BoxFuture, DbOperation};
use crate::slot::Slot;
use crate::value::{FromValue, Value};

/// One SQL statement with bound parameters, run as an operation.
///
/// Parameters are `$1, $2, ...` in the order of the `bind` calls. A parameter may come
/// from a [`Slot`] filled by an earlier operation (the invoice id a charge refers to),
/// and the statement may fill a slot from the first column of its first row (an id
/// from `RETURNING id`). It works with every backend, so domain code that builds it does
/// not depend on a driver, and tests can compare it.
///
/// ```
/// use pg_changeset::{Slot, Statement};
///
/// let invoice_id: Slot<i64> = Slot::new("invoice.id");
/// let charge_id: Slot<i64> = Slot::new("charge.id");
/// let insert_charge = Statement::new("INSERT INTO charges (invoice_id, amount_cents) VALUES ($1, $2) RETURNING id")
///     .bind_slot(&invoice_id)
///     .bind(2_500_i64)
///     .returning_into(&charge_id);
/// assert_eq!(insert_charge.sql(), "INSERT INTO charges (invoice_id, amount_cents) VALUES ($1, $2) RETURNING id");
/// ```
#[derive(Clone)]
pub struct Statement {
    sql: Arc<str>,
    params: Vec<Param>,
    returning: Option<SlotWrite>,
}

impl Statement {
    /// A statement from SQL text written in the program. Taking `&'static str` keeps
    /// run-time text (user input) out of SQL: values go through [`bind`](Self::bind).
    pub fn new(sql: &'static str) -> Self {
        Statement { sql: Arc::from(sql), params: Vec::new(), returning: None }
    }

    /// A statement from SQL text built at run time. You assert that it contains no
    /// untrusted text: quote identifiers yourself and bind every value.
    pub fn from_string(sql: impl Into<String>) -> Self {
        Statement { sql: Arc::from(sql.into()), params: Vec::new(), returning: None }
    }

    /// Binds the next parameter.
    pub fn bind(mut self, value: impl Into<Value>) -> Self {
        self.params.push(Param::Value(value.into()));
        self
    }

    /// Binds the next parameter to the value `slot` holds when the statement runs. An
    /// empty slot fails the operation with [`SlotError::Empty`].
    pub fn bind_slot<T>(mut self, slot: &Slot<T>) -> Self
    where
        T: Clone + Into<Value> + Send + 'static,
    {
        self.params.push(Param::Slot(SlotRead::new(slot)));
        self
    }

    /// Stores the first column of the first returned row into `slot` (use
    /// `RETURNING ...`). No row fails the operation with [`StatementError::NoRow`].
    pub fn returning_into<T>(mut self, slot: &Slot<T>) -> Self
    where
        T: FromValue + Send + 'static,
    {
        self.returning = Some(SlotWrite::new(slot));
        self
    }

    /// The SQL text.
    pub fn sql(&self) -> &str {
        &self.sql
    }

    /// The values of the parameters now, reading slots.
    ///
    /// # Errors
    /// [`SlotError::Empty`] for a slot parameter that no operation has filled yet.
    pub fn resolve_params(&self) -> Result<Vec<Value>, SlotError> {
        self.params
            .iter()
            .map(|param| match param {
                Param::Value(value) => Ok(value.clone()),
                Param::Slot(read) => read.read(),
            })
            .collect()
    }
}

impl<B: Backend> DbOperation<B> for Statement {
    fn execute<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let params = self.resolve_params()?;
            let first = B::execute_sql(conn, &self.sql, &params, self.returning.is_some()).await?;
            if let Some(target) = &self.returning {
                target.write(first)?;
            }
            Ok(())
        })
    }

    fn description(&self) -> String {
        format!("statement `{}`", abbreviate(&self.sql, 80))
    }
}

impl PartialEq for Statement {
    fn eq(&self, other: &Self) -> bool {
        self.sql == other.sql && self.params == other.params && self.returning == other.returning
    }
}

impl fmt::Debug for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Statement")
            .field("sql", &self.sql)
            .field("params", &self.params)
            .field("returning", &self.returning)
            .finish()
    }
}

/// The first `max` characters of `sql` on one line, for messages.
pub(crate) fn abbreviate(sql: &str, max: usize) -> String {
    let one_line = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}...", &one_line[..cut]),
        None => one_line,
    }
}

#[derive(Clone, PartialEq)]
enum Param {
    Value(Value),
    Slot(SlotRead),
}

impl fmt::Debug for Param {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Param::Value(value) => fmt::Debug::fmt(value, f),
            Param::Slot(read) => fmt::Debug::fmt(read, f),
        }
    }
}

/// Reads a slot as a [`Value`], whatever its type. Compared by label and type.
#[derive(Clone)]
pub(crate) struct SlotRead {
    label: Arc<str>,
    type_id: TypeId,
    type_name: &'static str,
    read: Arc<dyn Fn() -> Result<Value, SlotError> + Send + Sync>,
}

impl SlotRead {
    pub(crate) fn new<T: Clone + Into<Value> + Send + 'static>(slot: &Slot<T>) -> Self {
        let slot = slot.clone();
        SlotRead {
            label: Arc::from(slot.label()),
            type_id: TypeId::of::<T>(),
            type_name: type_name::<T>(),
            read: Arc::new(move || slot.get().map(Into::into)),
        }
    }

    pub(crate) fn read(&self) -> Result<Value, SlotError> {
        (self.read)()
    }
}

impl PartialEq for SlotRead {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label && self.type_id == other.type_id
    }
}

impl fmt::Debug for SlotRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot<{}>({:?})", self.type_name, self.label)
    }
}

/// Writes a returned [`Value`] into a slot of any [`FromValue`] type.
#[derive(Clone)]
pub(crate) struct SlotWrite {
    label: Arc<str>,
    type_id: TypeId,
    type_name: &'static str,
    write: Arc<dyn Fn(Value) -> Result<(), StatementError> + Send + Sync>,
}

impl SlotWrite {
    pub(crate) fn new<T: FromValue + Send + 'static>(slot: &Slot<T>) -> Self {
        let slot = slot.clone();
        SlotWrite {
            label: Arc::from(slot.label()),
            type_id: TypeId::of::<T>(),
            type_name: type_name::<T>(),
            write: Arc::new(move |value| {
                let converted = T::from_value(value)
                    .map_err(|source| StatementError::Convert { label: slot.label().to_owned(), source })?;
                slot.set(converted);
                Ok(())
            }),
        }
    }

    pub(crate) fn write(&self, first: Option<Value>) -> Result<(), StatementError> {
        match first {
            Some(value) => (self.write)(value),
            None => Err(StatementError::NoRow { label: self.label.to_string() }),
        }
    }
}

impl PartialEq for SlotWrite {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label && self.type_id == other.type_id
    }
}

impl fmt::Debug for SlotWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Slot<{}>({:?})", self.type_name, self.label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Kind;

    #[test]
    fn statements_compare_by_sql_params_and_slot_labels() {
        let build = || {
            let invoice: Slot<i64> = Slot::new("invoice.id");
            let charge: Slot<i64> = Slot::new("charge.id");
            Statement::new("INSERT INTO charges (invoice_id, note) VALUES ($1, $2) RETURNING id")
                .bind_slot(&invoice)
                .bind(None::<String>)
                .returning_into(&charge)
        };
        assert_eq!(build(), build());
        let other_slot: Slot<i64> = Slot::new("other");
        assert_ne!(build(), build().returning_into(&other_slot));
        assert_ne!(build(), build().bind(1_i64));
    }

    #[test]
    fn params_resolve_from_slots_at_run_time() {
        let invoice: Slot<i64> = Slot::new("invoice.id");
        let statement = Statement::new("SELECT $1, $2").bind("x").bind_slot(&invoice);
        assert_eq!(statement.resolve_params(), Err(SlotError::Empty { label: "invoice.id".into() }));
        invoice.set(9);
        assert_eq!(statement.resolve_params(), Ok(vec![Value::Text("x".into()), Value::Int(9)]));
    }

    #[test]
    fn returning_checks_row_and_type() {
        let id: Slot<i32> = Slot::new("id");
        let write = SlotWrite::new(&id);
        assert_eq!(write.write(None), Err(StatementError::NoRow { label: "id".into() }));
        assert!(matches!(write.write(Some(Value::Null(Kind::Int))), Err(StatementError::Convert { .. })));
        assert_eq!(write.write(Some(Value::Int(4))), Ok(()));
        assert_eq!(id.get(), Ok(4));
    }

    #[test]
    fn descriptions_are_one_short_line() {
        assert_eq!(abbreviate("INSERT INTO t\n   VALUES ($1)", 80), "INSERT INTO t VALUES ($1)");
        assert_eq!(abbreviate("abcdef", 3), "abc...");
    }
}
