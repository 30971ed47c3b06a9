//! [`Changeset`]: ordered operations plus a set of events, built now, pushed later.

use std::fmt;
use std::sync::Arc;

use crate::backend::Backend;
use crate::catalog::{Catalog, NamedCatalog};
use crate::error::{ChangesetError, EventError};
use crate::event::{self, EventRecord, PendingEvent, Resolved};
use crate::operation::{DbOperation, Operation};
use crate::payload::Payload;

/// A unit of work: database operations in the order they must run, and the events to
/// deliver once they are committed.
///
/// Building a changeset touches nothing: domain code returns one, callers merge
/// children into parents, and one [`push`](Changeset::push) at the end runs every
/// operation in one short transaction and then delivers the events. The type parameter
/// is the database [`Backend`] its operations are written for.
///
/// Adding methods take `&mut self` and return `&mut Self`, so they chain
/// (`cs.add_db_operation(a).add_event(&c, e)`) and also work in loops and branches.
///
/// Two changesets are equal when their operations are equal in order and their events
/// are equal in order (lazy payloads: same catalog and name, see
/// [`resolve_events`](Changeset::resolve_events) to compare their values), which is how
/// domain code is tested without a database.
///
/// A changeset returned by a function and then ignored is a compiler warning
/// (`unused_must_use`), not a silent no-op:
///
/// ```compile_fail
/// #![deny(unused_must_use)]
/// use pg_changeset::{Backend, Changeset, Statement};
///
/// fn archive<B: Backend>() -> Changeset<B> {
///     let mut changeset = Changeset::new();
///     changeset.add_db_operation(Statement::new("UPDATE invoices SET archived = true"));
///     changeset
/// }
///
/// fn forgetful<B: Backend>() {
///     archive::<B>(); // error: unused `Changeset` that must be used
/// }
/// ```
#[must_use = "a changeset does nothing until it is pushed"]
pub struct Changeset<B: Backend> {
    operations: Vec<Operation<B>>,
    events: Vec<PendingEvent>,
}

impl<B: Backend> Changeset<B> {
    /// An empty changeset.
    pub fn new() -> Self {
        Changeset { operations: Vec::new(), events: Vec::new() }
    }

    /// Appends one operation; operations run in the order they are added.
    pub fn add_db_operation<O>(&mut self, operation: O) -> &mut Self
    where
        O: DbOperation<B> + PartialEq,
    {
        self.operations.push(Operation::new(operation));
        self
    }

    /// Appends several operations, in iteration order. For operations of different
    /// types, wrap each in [`Operation::new`].
    pub fn add_db_operations<I>(&mut self, operations: I) -> &mut Self
    where
        I: IntoIterator,
        I::Item: DbOperation<B> + PartialEq,
    {
        self.operations.extend(operations.into_iter().map(Operation::new));
        self
    }

    /// Adds an event of a typed catalog, with its payload known now (pass the event) or
    /// computed after the operations ran (pass [`Payload::lazy`]). An event equal to one
    /// already added is ignored; lazy ones are compared once evaluated.
    pub fn add_event<C: Catalog>(&mut self, catalog: &Arc<C>, event: impl Into<Payload<C::Event>>) -> &mut Self {
        self.push_event(PendingEvent::typed(catalog, event.into()));
        self
    }

    /// Adds an event of a named catalog, checked now.
    ///
    /// # Errors
    /// [`ChangesetError::UnknownEvent`] when the catalog does not know `event`; nothing
    /// is added then.
    pub fn add_named_event<N: NamedCatalog>(
        &mut self,
        catalog: &Arc<N>,
        event: &str,
        payload: impl Into<Payload<serde_json::Value>>,
    ) -> Result<&mut Self, ChangesetError> {
        if !catalog.is_known(event) {
            return Err(ChangesetError::UnknownEvent { catalog: catalog.name().to_owned(), event: event.to_owned() });
        }
        let catalog: Arc<dyn NamedCatalog> = Arc::clone(catalog) as Arc<dyn NamedCatalog>;
        self.push_event(PendingEvent::named(catalog, event, payload.into()));
        Ok(self)
    }

    /// Appends `child`'s operations after this changeset's operations (so far), and
    /// merges its events in (duplicates are dropped, first position kept). Operations
    /// added to `self` afterwards run after the child's.
    pub fn merge_child(&mut self, child: Changeset<B>) -> &mut Self {
        self.operations.extend(child.operations);
        for event in child.events {
            self.push_event(event);
        }
        self
    }

    /// The operations, in execution order.
    pub fn operations(&self) -> &[Operation<B>] {
        &self.operations
    }

    /// How many events are held (known duplicates already dropped; lazy payloads are
    /// deduplicated at push time and may shrink this).
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.operations.is_empty() && self.events.is_empty()
    }

    /// The events as the push would deliver them if it happened now: lazy payloads
    /// evaluated, duplicates dropped, first insertion order kept. For tests, after the
    /// slots the payloads read have been filled.
    ///
    /// # Errors
    /// [`EventError::Payload`] if a lazy payload fails (an empty slot),
    /// [`EventError::Serialize`] if an event does not serialise.
    pub fn resolve_events(&self) -> Result<Vec<EventRecord>, EventError> {
        self.resolved()?.iter().map(|resolved| resolved.event().record()).collect()
    }

    pub(crate) fn resolved(&self) -> Result<Vec<Resolved<'_>>, EventError> {
        event::resolve_all(&self.events)
    }

    fn push_event(&mut self, pending: PendingEvent) {
        if let PendingEvent::Ready(candidate) = &pending {
            let duplicate = self.events.iter().any(|existing| match existing {
                PendingEvent::Ready(existing) => {
                    existing.catalog() == candidate.catalog()
                        && existing.name() == candidate.name()
                        && existing.same(candidate.as_ref())
                }
                PendingEvent::Lazy(_) => false,
            });
            if duplicate {
                return;
            }
        }
        self.events.push(pending);
    }
}

impl<B: Backend> Default for Changeset<B> {
    fn default() -> Self {
        Changeset::new()
    }
}

impl<B: Backend> PartialEq for Changeset<B> {
    fn eq(&self, other: &Self) -> bool {
        self.operations == other.operations && self.events == other.events
    }
}

impl<B: Backend> fmt::Debug for Changeset<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Changeset").field("operations", &self.operations).field("events", &self.events).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::catalog::FnCatalog;
    use crate::test_support::{Labels, NoDb, Step, Tree, billing, planning};
    use crate::{Slot, Statement};

    fn step(n: u32) -> Step {
        Step(n)
    }

    #[test]
    fn seed_merge_example_runs_1_to_5_and_dedups_events() {
        let planning = planning();
        let mut parent: Changeset<NoDb> = Changeset::new();
        parent
            .add_db_operations([step(1), step(2)])
            .add_named_event(&planning, "planning_updated", json!({"week": "2022W47"}))
            .expect("known event");
        let mut child = Changeset::new();
        child.add_db_operations([step(3), step(4)]);
        child
            .add_named_event(&planning, "planning_updated", json!({"week": "2022W47"}))
            .expect("known")
            .add_named_event(&planning, "planning_updated", json!({"week": "2022W48"}))
            .expect("known");
        parent.merge_child(child);
        parent.add_db_operation(step(5));

        assert_eq!(parent.labels(), vec![1, 2, 3, 4, 5]);
        let events = parent.resolve_events().expect("events");
        let weeks: Vec<_> = events.iter().map(|e| e.payload["week"].clone()).collect();
        assert_eq!(weeks, vec![json!("2022W47"), json!("2022W48")]);
    }

    proptest! {
        /// However changesets nest, operations run in depth-first add order: the order
        /// a reader sees in the code.
        #[test]
        fn order_across_random_merge_trees(tree in Tree::strategy()) {
            let (changeset, expected) = tree.build();
            prop_assert_eq!(changeset.labels(), expected);
        }
    }

    #[test]
    fn unknown_named_event_is_rejected_when_added() {
        let planning = planning();
        let mut changeset: Changeset<NoDb> = Changeset::new();
        let err =
            changeset.add_named_event(&planning, "planing_updated", json!({})).map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(err, Err("event `planing_updated` is not known to catalog `planning`".into()));
        assert_eq!(changeset.event_count(), 0);
    }

    #[test]
    fn lazy_payloads_dedup_after_evaluation_keeping_first_position() {
        let billing = billing();
        let planning = planning();
        let id: Slot<i64> = Slot::new("charge.id");
        let mut changeset: Changeset<NoDb> = Changeset::new();
        let (a, b) = (id.clone(), id.clone());
        changeset
            .add_event(&billing, Payload::lazy(move || Ok(crate::test_support::Billing::Charged { id: a.get()? })))
            .add_event(&billing, crate::test_support::Billing::Charged { id: 1 })
            .add_event(&billing, Payload::lazy(move || Ok(crate::test_support::Billing::Charged { id: b.get()? })));
        changeset.add_named_event(&planning, "planning_updated", json!({"week": "W1"})).expect("known");
        assert_eq!(changeset.event_count(), 4);
        assert!(changeset.resolve_events().is_err(), "the slot is empty");

        id.set(1);
        let events = changeset.resolve_events().expect("events");
        let names: Vec<_> = events.iter().map(|e| (e.catalog.as_str(), e.payload.clone())).collect();
        assert_eq!(names, vec![("billing", json!({"Charged": {"id": 1}})), ("planning", json!({"week": "W1"}))]);
    }

    #[test]
    fn same_name_in_different_catalogs_is_two_events() {
        let a = Arc::new(FnCatalog::new("a").on("e", |_| async { Ok(()) }));
        let b = Arc::new(FnCatalog::new("b").on("e", |_| async { Ok(()) }));
        let mut changeset: Changeset<NoDb> = Changeset::new();
        changeset.add_named_event(&a, "e", json!(1)).expect("known");
        changeset.add_named_event(&b, "e", json!(1)).expect("known");
        changeset.add_named_event(&a, "e", json!(1)).expect("known");
        assert_eq!(changeset.event_count(), 2);
    }

    /// The seed's testing story: domain code builds a changeset, the test builds the one
    /// it expects, and they are compared; no database, no async runtime.
    #[test]
    fn changesets_compare_without_a_database() {
        fn charge(customer: &str, amount: i64) -> (Slot<i64>, Changeset<NoDb>) {
            let invoice_id: Slot<i64> = Slot::new("invoice.id");
            let charge_id: Slot<i64> = Slot::new("charge.id");
            let mut changeset = Changeset::new();
            changeset
                .add_db_operation(
                    Statement::new("INSERT INTO invoices (customer, amount) VALUES ($1, $2) RETURNING id")
                        .bind(customer)
                        .bind(amount)
                        .returning_into(&invoice_id),
                )
                .add_db_operation(
                    Statement::new("INSERT INTO charges (invoice_id, amount) VALUES ($1, $2) RETURNING id")
                        .bind_slot(&invoice_id)
                        .bind(amount)
                        .returning_into(&charge_id),
                );
            let id = charge_id.clone();
            changeset.add_event(
                &billing(),
                Payload::lazy(move || Ok(crate::test_support::Billing::Charged { id: id.get()? })),
            );
            (charge_id, changeset)
        }

        let (_, actual) = charge("ada", 2500);
        let (_, same) = charge("ada", 2500);
        let (_, other_amount) = charge("ada", 2600);
        assert_eq!(actual, same);
        assert_ne!(actual, other_amount);

        let mut reordered: Changeset<NoDb> = Changeset::new();
        reordered.add_db_operation(actual.operations()[1].downcast_ref::<Statement>().expect("statement").clone());
        reordered.add_db_operation(actual.operations()[0].downcast_ref::<Statement>().expect("statement").clone());
        assert_ne!(actual, reordered, "order matters");

        let (charge_id, actual) = charge("ada", 2500);
        charge_id.set(77);
        assert_eq!(
            actual.resolve_events().expect("events"),
            vec![EventRecord {
                catalog: "billing".into(),
                name: "charged".into(),
                payload: json!({"Charged": {"id": 77}})
            }]
        );
    }

    #[test]
    fn boxed_operations_compare_equal_to_direct_ones() {
        let mut direct: Changeset<NoDb> = Changeset::new();
        direct.add_db_operation(step(1)).add_db_operation(Statement::new("SELECT 1"));
        let mut boxed: Changeset<NoDb> = Changeset::new();
        boxed.add_db_operations([Operation::new(step(1)), Operation::new(Statement::new("SELECT 1"))]);
        assert_eq!(direct, boxed);
        assert_eq!(format!("{direct:?}"), format!("{boxed:?}"));
    }
}
