//! Capture every insert, update and delete of a PostgreSQL table, lose none of them,
//! and hand each one, typed, to your code.
//!
//! An application keeps derived data (an invoice total, a counter, a search index)
//! next to its rows. Callbacks in the application miss every change made behind its
//! back: `psql`, a migration, another service. `db-listenable` moves the capture into
//! the database: a trigger generated from your model writes each changed row into a
//! durable journal in the same transaction, and a listener hands the committed changes
//! to typed processors, with retries and dead letters. Nothing committed is lost while
//! the listener is down; nothing rolled back is ever seen.
//!
//! This crate is being built in steps (see the repository's issues): the trait and the
//! derive name a model's table today; trigger DDL, the journal, migrations, the drift
//! check, the registry and the listener/worker pool follow. Identifier quoting for the
//! generated SQL is in place.
//!
//! ```
//! use db_listenable::DbListenable;
//!
//! #[derive(DbListenable)]
//! struct InvoiceItem {
//!     id: i64,
//!     quantity: i32,
//! }
//!
//! assert_eq!(InvoiceItem::MODEL.table, "invoice_items");
//! assert_eq!(InvoiceItem::MODEL.schema, "public");
//! assert_eq!(InvoiceItem::MODEL.key, ["id"]);
//! assert_eq!(db_listenable::ddl::qualified_table(&InvoiceItem::MODEL), r#""public"."invoice_items""#);
//! ```

#[cfg(feature = "cli")]
pub mod cli;
pub mod ddl;
pub mod drift;
mod error;
pub mod migrations;
mod model;
pub mod registry;

pub use error::{DriverError, Error, Result};
pub use model::{Column, DbListenable, Events, Model};

/// What generated code needs; not a public API, may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}

/// `#[derive(DbListenable)]`: see [`DbListenable`].
#[cfg(feature = "derive")]
pub use db_listenable_derive::DbListenable;
