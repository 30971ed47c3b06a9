//! A unit of work for PostgreSQL: database operations in order, merged from any depth
//! of helper functions, run in **one short transaction**, and events delivered **after
//! the commit**, deduplicated.
//!
//! # Why
//!
//! Charging a customer takes two inserts that must succeed or fail together, and then a
//! background job:
//!
//! ```text
//! fn charge(customer, amount):
//!     BEGIN
//!       invoice = INSERT invoice
//!       charge  = INSERT charge (invoice)
//!       enqueue ChargeJob(charge.id)        -- inside or outside the transaction?
//!     COMMIT
//! ```
//!
//! Soon `charge` is reused by `appointment_attended`, which also creates an insurance
//! claim in its own transaction, so transactions nest (savepoints), and each layer
//! enqueues jobs of its own. Nesting does not make anything better:
//!
//! - the outer transaction grows with every layer and holds its locks longer: lock
//!   waits, timeouts, deadlocks;
//! - a job enqueued inside the transaction can run before the commit and find no row,
//!   or after a rollback and act on a row that never existed; enqueued after the
//!   commit, it is lost if the process dies in between;
//! - no layer knows whether it is the outermost one, so none knows when data is
//!   really committed.
//!
//! With changesets, helpers do not write: they *return* what to write. `charge` returns
//! a changeset with two insert operations and a `customer_charged` event whose payload
//! (the charge id) is computed once the insert ran; `appointment_attended` merges the
//! changesets of `charge` and `create_insurance_claim` and adds its own event. The
//! caller pushes once: one transaction with every insert in the order they were added,
//! a commit, and then each distinct event, once.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//!
//! use pg_changeset::{Backend, BoxError, BoxFuture, Catalog, Changeset, Connector, Event, Payload, Slot, Statement};
//!
//! /// The events of the billing catalog: an unknown event does not compile.
//! #[derive(Debug, PartialEq, serde::Serialize)]
//! enum Billing {
//!     CustomerCharged { id: i64 },
//! }
//!
//! impl Event for Billing {
//!     fn name(&self) -> &'static str {
//!         "customer_charged"
//!     }
//! }
//!
//! /// How billing events are dispatched (enqueue a job, publish a message...).
//! struct Jobs;
//!
//! impl Catalog for Jobs {
//!     const NAME: &'static str = "billing";
//!     type Event = Billing;
//!
//!     fn dispatch<'a>(&'a self, event: &'a Billing) -> BoxFuture<'a, Result<(), BoxError>> {
//!         Box::pin(async move {
//!             let Billing::CustomerCharged { id } = event;
//!             println!("enqueue ChargeJob({id})");
//!             Ok(())
//!         })
//!     }
//! }
//!
//! /// Domain code: builds what to write, writes nothing.
//! fn charge<B: Backend>(jobs: &Arc<Jobs>, customer: &str, amount_cents: i64) -> Changeset<B> {
//!     let invoice_id: Slot<i64> = Slot::new("invoice.id");
//!     let charge_id: Slot<i64> = Slot::new("charge.id");
//!     let mut changeset = Changeset::new();
//!     changeset
//!         .add_db_operation(
//!             Statement::new("INSERT INTO invoices (customer, amount_cents) VALUES ($1, $2) RETURNING id")
//!                 .bind(customer)
//!                 .bind(amount_cents)
//!                 .returning_into(&invoice_id),
//!         )
//!         .add_db_operation(
//!             Statement::new("INSERT INTO charges (invoice_id, amount_cents) VALUES ($1, $2) RETURNING id")
//!                 .bind_slot(&invoice_id)
//!                 .bind(amount_cents)
//!                 .returning_into(&charge_id),
//!         )
//!         // The id is assigned by the database: the payload is computed after the inserts.
//!         .add_event(jobs, Payload::lazy(move || Ok(Billing::CustomerCharged { id: charge_id.get()? })));
//!     changeset
//! }
//!
//! /// The caller decides when to write: `connector` is `&pool` (sqlx) or `&mut client`
//! /// (tokio-postgres).
//! async fn checkout<B: Backend, C: Connector<B>>(connector: C) -> Result<(), Box<dyn std::error::Error>> {
//!     let jobs = Arc::new(Jobs);
//!     let mut changeset = Changeset::new();
//!     changeset.merge_child(charge(&jobs, "ada", 2_500)).merge_child(charge(&jobs, "bob", 900));
//!     let outcome = changeset.push(connector).await?;
//!     for failure in outcome.failures() {
//!         eprintln!("committed, but {failure}");
//!     }
//!     Ok(())
//! }
//!
//! // In a unit test, without a database: compare with the expected changeset.
//! # #[cfg(feature = "sqlx")] {
//! let jobs = Arc::new(Jobs);
//! let a: Changeset<pg_changeset::Sqlx> = charge(&jobs, "ada", 2_500);
//! assert_eq!(a, charge(&jobs, "ada", 2_500));
//! assert_ne!(a, charge(&jobs, "ada", 2_600));
//! # }
//! ```
//!
//! A complete program is `examples/appointments` (`cargo run -p pg-changeset --example
//! appointments`): the seed's appointment, charge and insurance claim.
//!
//! # The pieces
//!
//! - [`Changeset`], with [`add_db_operation`](Changeset::add_db_operation),
//!   [`add_db_operations`](Changeset::add_db_operations),
//!   [`add_event`](Changeset::add_event), [`add_named_event`](Changeset::add_named_event),
//!   [`merge_child`](Changeset::merge_child), all chainable. Operations run exactly in
//!   the order added, across any depth of merges. `#[must_use]`: dropping one unpushed
//!   is a compiler warning.
//! - [`DbOperation`]: the seed's persistence interface, one method that writes through
//!   the transaction it is given. Ready-made: [`Statement`] (one SQL statement, bound
//!   parameters) and [`InsertRow`] (one `serde` row).
//! - [`Slot`]: a typed cell an operation fills (an id from `RETURNING`) and a later
//!   operation or a [`Payload::lazy`] closure reads. No globals, no `unsafe`.
//! - [`Value`]: a parameter or returned column, exact for the common PostgreSQL types
//!   (`numeric`, dates and times, `interval`, `uuid`, `inet`, arrays...); the features
//!   `uuid`, `chrono`, `time`, `rust_decimal`, `bigdecimal` and `ipnetwork` convert to
//!   those crates' types, so a `Slot<uuid::Uuid>` takes `RETURNING id`. The table of
//!   types is on [`Value`].
//! - Catalogs decide which events exist and how they are dispatched: typed
//!   ([`Catalog`], [`Event`]: unknown events do not compile) or named ([`NamedCatalog`],
//!   [`FnCatalog`]: unknown names are an error when added). One changeset can hold
//!   events of several catalogs.
//! - Deduplication: an event is unique by (catalog, name, payload); lazy payloads are
//!   compared once evaluated; the first insertion's position is kept.
//! - [`Changeset::push`] / [`push_with`](Changeset::push_with) and [`PushOptions`]:
//!   optional [`Retry`] on SQLSTATE 40001/40P01, optional [`Isolation`], the
//!   [`Delivery`] mode. An operation failure rolls back, dispatches nothing, and returns
//!   [`PushError::Operation`] naming the operation, with the driver error as `source`.
//!   A handler failure never undoes the commit; it is reported in
//!   [`PushOutcome::failures`].
//!
//! # Delivery guarantees
//!
//! - **In-process** ([`Delivery::InProcess`], the default): after `COMMIT`, from memory,
//!   in order. **At most once**: if the process dies between the commit and the
//!   dispatch, the events are lost, and a failed handler is reported, not retried.
//! - **Outbox** ([`Delivery::Outbox`], [`Outbox`]): the events are written inside the
//!   push transaction and a worker dispatches them later. **At least once**: nothing is
//!   lost by a crash; handlers must tolerate a repeat. The durable outbox and its worker
//!   are provided by the `db-listenable` crate.
//!
//! Neither mode dispatches anything of a transaction that rolled back, and lazy payloads
//! are evaluated before the commit, so a payload that cannot be computed rolls the push
//! back instead of committing data whose event is lost.
//!
//! # Backends
//!
//! The core has no database dependency. Backends, each behind a cargo feature: `sqlx`
//! ([`Sqlx`]; push on `&PgPool` or `&mut PgConnection`; on by default) and
//! `tokio-postgres` ([`TokioPostgres`]; push on `&mut tokio_postgres::Client`). Other
//! drivers implement [`Backend`] and [`Connector`].
//!
//! Behind a connection pooler in transaction mode that does not track prepared
//! statements (PgBouncer before 1.21), use [`SqlxUnprepared`] instead of [`Sqlx`]:
//! `Changeset<SqlxUnprepared>`, pushed with [`Unprepared`]`(&pool)`, sends its statements
//! unprepared.
//!
//! # Features
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `sqlx` | yes | the [`Sqlx`] backend (of sqlx, only its `postgres` feature) |
//! | `tokio-postgres` | no | the [`TokioPostgres`] backend (no default feature of tokio-postgres) |
//! | `uuid`, `chrono`, `time`, `rust_decimal`, `bigdecimal`, `ipnetwork` | no | conversions between [`Value`] and those crates' types (the table is on [`Value`]); they work with either backend, which bind with the crate's own codecs |
//!
//! The crate does not choose an async runtime or TLS for sqlx: the application does.
//! Each of these combinations builds and is checked: no features, each feature alone,
//! the defaults, and all features.

#![cfg_attr(docsrs, feature(doc_cfg))]
// The guide links to items of every feature; they resolve in the documentation built with
// all features (docs.rs, CI's `cargo doc -D warnings`), and are plain text without them.
#![cfg_attr(not(all(feature = "sqlx", feature = "tokio-postgres")), allow(rustdoc::broken_intra_doc_links))]

mod backend;
mod catalog;
mod changeset;
mod dispatch;
mod error;
mod event;
mod insert;
mod operation;
mod outbox;
mod payload;
mod push;
mod slot;
mod sql;
mod statement;
mod value;

#[cfg(test)]
mod test_support;

#[cfg(feature = "tokio-postgres")]
pub use crate::backend::TokioPostgres;
pub use crate::backend::{Backend, Connector, TransactionError, Work, WorkFailed};
#[cfg(feature = "sqlx")]
pub use crate::backend::{Sqlx, SqlxUnprepared, Unprepared};
pub use crate::catalog::{Catalog, Event, FnCatalog, NamedCatalog, NamedEvent};
pub use crate::changeset::Changeset;
pub use crate::dispatch::{Delivery, DispatchFailure, HandlerPanicked};
pub use crate::error::{BoxError, ChangesetError, EventError, PushError, SlotError, StatementError, ValueError};
pub use crate::event::EventRecord;
pub use crate::insert::InsertRow;
pub use crate::operation::{BoxFuture, DbOperation, Operation};
pub use crate::outbox::Outbox;
pub use crate::payload::{Lazy, Payload};
pub use crate::push::{Isolation, PushOptions, PushOutcome, RETRYABLE_SQLSTATES, Retry};
pub use crate::slot::Slot;
pub use crate::statement::Statement;
pub use crate::value::{Array, Date, Element, FromValue, Inet, Interval, Kind, Numeric, Time, Timestamp, Value};
