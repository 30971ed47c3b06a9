//! [`Payload`]: an event's data, known now or computed after the operations ran.

use std::fmt;
use std::sync::Arc;

use crate::error::BoxError;

/// An event's payload: a value known when the event is added, or a closure evaluated
/// after every operation of the push has run (inside the transaction, before commit),
/// when the values the database assigned are in their [`Slot`](crate::Slot)s.
///
/// A plain value converts into `Payload::Known` with `.into()`, which is what
/// [`Changeset::add_event`](crate::Changeset::add_event) does for you.
///
/// ```
/// use pg_changeset::{Payload, Slot};
///
/// let charge_id: Slot<i64> = Slot::new("charge.id");
/// let reader = charge_id.clone();
/// let lazy: Payload<serde_json::Value> = Payload::lazy(move || Ok(serde_json::json!({ "id": reader.get()? })));
/// assert!(lazy.evaluate().is_err()); // nothing has filled the slot yet
/// charge_id.set(7);
/// assert_eq!(lazy.evaluate().ok(), Some(serde_json::json!({ "id": 7 })));
/// ```
pub enum Payload<T> {
    /// Known when the event was added.
    Known(T),
    /// Computed after the operations ran. A closure that fails (usually because it
    /// read an empty slot) fails the push, which then rolls back.
    Lazy(Lazy<T>),
}

impl<T> Payload<T> {
    /// A payload computed by `compute` after the operations ran. It may run more than
    /// once (once per push attempt, and by [`Changeset::resolve_events`](crate::Changeset::resolve_events)),
    /// so it is `Fn`, and should only read.
    pub fn lazy<F>(compute: F) -> Self
    where
        F: Fn() -> Result<T, BoxError> + Send + Sync + 'static,
    {
        Payload::Lazy(Lazy { compute: Arc::new(compute) })
    }

    /// Whether this payload is computed later.
    pub fn is_lazy(&self) -> bool {
        matches!(self, Payload::Lazy(_))
    }

    /// The value now: a copy of the known value, or the closure's result.
    ///
    /// # Errors
    /// What the closure returned.
    pub fn evaluate(&self) -> Result<T, BoxError>
    where
        T: Clone,
    {
        match self {
            Payload::Known(value) => Ok(value.clone()),
            Payload::Lazy(lazy) => lazy.evaluate(),
        }
    }
}

impl<T> From<T> for Payload<T> {
    fn from(value: T) -> Self {
        Payload::Known(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for Payload<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Payload::Known(value) => f.debug_tuple("Known").field(value).finish(),
            Payload::Lazy(lazy) => fmt::Debug::fmt(lazy, f),
        }
    }
}

/// The closure of a [`Payload::Lazy`].
pub struct Lazy<T> {
    compute: Arc<dyn Fn() -> Result<T, BoxError> + Send + Sync>,
}

impl<T> Lazy<T> {
    /// Runs the closure.
    ///
    /// # Errors
    /// What the closure returned.
    pub fn evaluate(&self) -> Result<T, BoxError> {
        (self.compute)()
    }
}

impl<T> Clone for Lazy<T> {
    fn clone(&self) -> Self {
        Lazy { compute: Arc::clone(&self.compute) }
    }
}

impl<T> fmt::Debug for Lazy<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Lazy(..)")
    }
}
