//! [`Slot`]: how an operation publishes a value that is only known once it has run.
//!
//! The seed writes `-> { { id: charge.id } }`: a closure that reads an id the database
//! assigns during the push. In Rust the operation and the closure are separate values
//! that may be moved to other threads, so they share a small `Arc<Mutex<Option<T>>>`:
//! the operation writes into it, the payload closure (or a later operation's parameter)
//! reads from it. No globals and no `unsafe`; reading an empty slot is an error naming
//! the slot, not a panic and not a default value.

use std::any::type_name;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::SlotError;

/// A shared cell that one operation fills during the push and payload closures or later
/// operations read.
///
/// Clones share the same cell. A slot has a label, used in error messages
/// (`slot `charge.id` is empty`) and as its identity when changesets are compared in
/// tests: two slots are equal when their labels are equal, whatever their contents, so
/// a test can build its expected changeset with its own `Slot::new("charge.id")`.
///
/// ```
/// use pg_changeset::Slot;
///
/// let charge_id: Slot<i64> = Slot::new("charge.id");
/// let reader = charge_id.clone();
/// assert!(reader.get().is_err());
/// charge_id.set(42);
/// assert_eq!(reader.get().ok(), Some(42));
/// ```
pub struct Slot<T> {
    label: Arc<str>,
    cell: Arc<Mutex<Option<T>>>,
}

impl<T> Slot<T> {
    /// An empty slot with a label that says what it will hold (`"invoice.id"`).
    pub fn new(label: impl Into<Arc<str>>) -> Self {
        Slot { label: label.into(), cell: Arc::new(Mutex::new(None)) }
    }

    /// The label given at creation.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Stores `value`, replacing what was there. A retried push runs its operations
    /// again, and each run overwrites the value of the rolled-back attempt.
    pub fn set(&self, value: T) {
        *self.lock() = Some(value);
    }

    /// Whether a value has been stored.
    pub fn is_filled(&self) -> bool {
        self.lock().is_some()
    }

    /// Empties the slot and returns what it held.
    pub fn take(&self) -> Option<T> {
        self.lock().take()
    }

    /// Runs `read` on the stored value.
    ///
    /// # Errors
    /// [`SlotError::Empty`] when nothing was stored.
    pub fn with<R>(&self, read: impl FnOnce(&T) -> R) -> Result<R, SlotError> {
        match &*self.lock() {
            Some(value) => Ok(read(value)),
            None => Err(SlotError::Empty { label: self.label.to_string() }),
        }
    }

    /// A copy of the stored value.
    ///
    /// # Errors
    /// [`SlotError::Empty`] when nothing was stored.
    pub fn get(&self) -> Result<T, SlotError>
    where
        T: Clone,
    {
        self.with(T::clone)
    }

    fn lock(&self) -> MutexGuard<'_, Option<T>> {
        // A panic while the lock was held cannot leave an `Option` half-written, so a
        // poisoned lock still holds a valid value.
        self.cell.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<T> Clone for Slot<T> {
    fn clone(&self) -> Self {
        Slot { label: Arc::clone(&self.label), cell: Arc::clone(&self.cell) }
    }
}

/// Slots compare by label: a test builds its expected changeset with its own slots,
/// which can never be the same cells as the ones the code under test created.
impl<T> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.label == other.label
    }
}

impl<T> Eq for Slot<T> {}

impl<T: fmt::Debug> fmt::Debug for Slot<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Slot")
            .field("label", &self.label)
            .field("type", &type_name::<T>())
            .field("value", &*self.lock())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_slot_names_itself() {
        let slot: Slot<i64> = Slot::new("charge.id");
        assert_eq!(slot.get(), Err(SlotError::Empty { label: "charge.id".into() }));
        assert_eq!(
            slot.get().map_err(|e| e.to_string()),
            Err("slot `charge.id` is empty: no operation has filled it yet".into())
        );
    }

    #[test]
    fn clones_share_the_cell_and_set_overwrites() {
        let slot = Slot::new("x");
        let other = slot.clone();
        slot.set(1);
        other.set(2);
        assert_eq!(slot.get(), Ok(2));
        assert!(slot.is_filled());
        assert_eq!(other.take(), Some(2));
        assert!(!slot.is_filled());
    }

    #[test]
    fn equality_is_by_label() {
        let a: Slot<i64> = Slot::new("charge.id");
        let b: Slot<i64> = Slot::new("charge.id");
        a.set(5);
        assert_eq!(a, b);
        assert_ne!(a, Slot::new("invoice.id"));
    }

    #[test]
    fn slots_move_across_threads() {
        let slot: Slot<String> = Slot::new("t");
        let writer = slot.clone();
        std::thread::spawn(move || writer.set("written".into())).join().expect("thread");
        assert_eq!(slot.get().as_deref(), Ok("written"));
    }
}
