//! [`DbOperation`]: the seed's `PersistenceInterface`, one unit of writes.
//!
//! An operation is a value built by domain code ("insert this invoice") that performs
//! its writes when the push hands it the open transaction. It holds no connection and
//! starts no transaction of its own; that is what lets changesets nest without nested
//! transactions.

use std::any::{Any, type_name};
use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::backend::Backend;
use crate::error::BoxError;

/// A boxed, `Send` future: the return type of trait methods that must stay
/// object-safe (operations are stored as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One step of writes, run inside the push transaction in the order it was added.
///
/// Implement it for your own types (the seed's persistence handlers) when a
/// [`Statement`](crate::Statement) or [`InsertRow`](crate::InsertRow) is not enough.
/// To be added to a changeset the type must also implement `PartialEq`, so that tests
/// can compare changesets without a database.
///
/// ```
/// # #[cfg(feature = "sqlx")]
/// # mod example {
/// use pg_changeset::{BoxError, BoxFuture, DbOperation, Sqlx};
///
/// #[derive(Debug, PartialEq)]
/// struct ArchiveInvoice { id: i64 }
///
/// impl DbOperation<Sqlx> for ArchiveInvoice {
///     fn execute<'a>(&'a self, conn: &'a mut sqlx::PgConnection) -> BoxFuture<'a, Result<(), BoxError>> {
///         Box::pin(async move {
///             sqlx::query("UPDATE invoices SET archived = true WHERE id = $1")
///                 .bind(self.id)
///                 .execute(&mut *conn)
///                 .await?;
///             Ok(())
///         })
///     }
///
///     fn description(&self) -> String {
///         format!("archive invoice {}", self.id)
///     }
/// }
/// # }
/// ```
pub trait DbOperation<B: Backend>: fmt::Debug + Send + Sync + 'static {
    /// Performs the writes through `conn`, which is inside the push transaction.
    ///
    /// Return driver errors unchanged (`?` boxes them): the push reads their SQLSTATE to
    /// report it and to decide whether a retry may help. Do not commit, roll back or
    /// open a transaction here; a savepoint is fine if the operation needs one.
    fn execute<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>>;

    /// A short human description for error messages. Defaults to the type's name.
    fn description(&self) -> String {
        short_type_name::<Self>().to_owned()
    }
}

/// `a::b::Foo<c::Bar>` -> `Foo<c::Bar>`: enough to recognise the operation.
fn short_type_name<T: ?Sized>() -> &'static str {
    let full = type_name::<T>();
    let generic_start = full.find('<').unwrap_or(full.len());
    match full[..generic_start].rfind("::") {
        Some(pos) => &full[pos + 2..],
        None => full,
    }
}

/// An operation of any type, boxed so a changeset can hold operations of many types in
/// order. Build one with [`Operation::new`] to pass mixed types to
/// [`Changeset::add_db_operations`](crate::Changeset::add_db_operations).
pub struct Operation<B: Backend> {
    inner: Box<dyn ErasedOperation<B>>,
}

impl<B: Backend> Operation<B> {
    /// Boxes `operation`. Boxing an `Operation` again returns it unchanged, so a
    /// boxed operation compares equal to the same operation added directly.
    pub fn new<O: DbOperation<B> + PartialEq>(operation: O) -> Self {
        let any: Box<dyn Any> = Box::new(operation);
        match any.downcast::<Operation<B>>() {
            Ok(already) => *already,
            Err(any) => match any.downcast::<O>() {
                Ok(operation) => Operation { inner: operation },
                // `any` was built from an `O` two lines above.
                Err(_) => unreachable!("a Box<dyn Any> built from O downcasts to O"),
            },
        }
    }

    /// The description of the operation ([`DbOperation::description`]).
    pub fn description(&self) -> String {
        self.inner.erased_description()
    }

    /// The operation, if it is an `O`: lets tests inspect what domain code added.
    pub fn downcast_ref<O: DbOperation<B>>(&self) -> Option<&O> {
        self.inner.as_any().downcast_ref::<O>()
    }

    pub(crate) fn run<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        self.inner.erased_execute(conn)
    }
}

impl<B: Backend> fmt::Debug for Operation<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.erased_debug(f)
    }
}

/// Same concrete type and equal by that type's `PartialEq`.
impl<B: Backend> PartialEq for Operation<B> {
    fn eq(&self, other: &Self) -> bool {
        self.inner.erased_eq(other.inner.as_any())
    }
}

impl<B: Backend> DbOperation<B> for Operation<B> {
    fn execute<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        self.run(conn)
    }

    fn description(&self) -> String {
        self.inner.erased_description()
    }
}

/// The object-safe face of `DbOperation + PartialEq + Debug`.
trait ErasedOperation<B: Backend>: Send + Sync {
    fn erased_execute<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>>;
    fn erased_description(&self) -> String;
    fn erased_debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
    fn erased_eq(&self, other: &dyn Any) -> bool;
    fn as_any(&self) -> &dyn Any;
}

impl<B: Backend, O: DbOperation<B> + PartialEq> ErasedOperation<B> for O {
    fn erased_execute<'a>(&'a self, conn: &'a mut B::Connection<'_>) -> BoxFuture<'a, Result<(), BoxError>> {
        self.execute(conn)
    }

    fn erased_description(&self) -> String {
        self.description()
    }

    fn erased_debug(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }

    fn erased_eq(&self, other: &dyn Any) -> bool {
        other.downcast_ref::<O>().is_some_and(|other| self == other)
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_the_path() {
        assert_eq!(
            short_type_name::<Operation<crate::test_support::NoDb>>(),
            "Operation<pg_changeset::test_support::NoDb>"
        );
        assert_eq!(short_type_name::<String>(), "String");
    }
}
