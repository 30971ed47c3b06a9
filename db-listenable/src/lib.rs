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
//! # Guide
//!
//! 1. **Describe the model.** `#[derive(DbListenable)]` on the struct that mirrors a
//!    table gives its [`Model`]: table, key, columns, captured events. The derive also
//!    registers it, so [`registry::models`] lists every model of the program. Its
//!    attributes, in short (the derive's documentation has one example each):
//!
//!    | attribute | what it does |
//!    |---|---|
//!    | `#[db_listenable(table = "...", schema = "...")]` | the table (default: snake_case plural of the struct, in `public`) |
//!    | `#[db_listenable(events(insert, update, delete, truncate))]` | the operations captured |
//!    | `#[db_listenable(primary_key(...))]`, field `#[db_listenable(key)]` | the key columns (default: the `id` field) |
//!    | `#[db_listenable(exclude("password_hash"))]` | columns never journalled: in no delivery, dead letter or dashboard page |
//!    | `#[db_listenable(quiet("touched_at"))]`, field `#[db_listenable(quiet)]` | journalled, but an UPDATE changing only them emits nothing |
//!    | `#[sqlx(rename, rename_all, skip, json, try_from, default)]` | column names and presence exactly as `sqlx::FromRow` reads them; `flatten` is refused |
//!
//!    A table has one capture: several models of one table (a full and a narrow view)
//!    must agree on key, events, excluded and quiet columns, or generation and the
//!    runtime's start refuse them by name. The columns a model needs are checked
//!    against the live table by the generated migration, the drift check and the
//!    runtime's start.
//! 2. **Install capture.** [`migrations::write_migration_as`] (or
//!    `<app> triggers generate <dir> --format sqlx|refinery|diesel|sql` through `cli`)
//!    writes a migration with the journal ([`ddl::journal_script`]) and each model's
//!    triggers ([`ddl::install_script`]) in your migration tool's layout; apply it with
//!    that tool. A new file is written only when the SQL changed. It waits at most
//!    [`ddl::CaptureConfig::lock_timeout`] for each table's lock.
//!    [`ddl::uninstall_all_script`] (`triggers uninstall`) removes it all again.
//! 3. **Check drift.** [`drift::check_sqlx`] or [`drift::check_tokio_postgres`] (or
//!    `<app> triggers check`) compares the triggers in a live database with what the code
//!    generates, by fingerprint, and names each missing, outdated or extra table, a
//!    capture installed by other code that still covers a model
//!    ([`drift::Drift::Compatible`], which the runtime starts on), and a journal schema
//!    of another layout version ([`ddl::SchemaVersion`]).
//! 4. **Process changes.** [`runtime::RuntimeBuilder`] binds typed processors to models
//!    (compile-time types, several independent processors per model) and starts workers
//!    that claim committed changes, call the processors, retry failures with backoff and
//!    dead-letter what keeps failing. It also delivers `changeset` outbox events
//!    ([`runtime::JournalOutbox`]). See [`runtime`] for how a change travels.
//! 5. **Watch and act.** `web::Dashboard` (feature `web`) is an `axum::Router` to mount:
//!    backlog per table and subscriber, processing rates and times, dead letters with
//!    requeue and discard, drift status, and Prometheus text at `/metrics`.
//!
//! # What the triggers do
//!
//! Capture runs at statement level by default: one `INSERT ... SELECT` into
//! `db_listenable.changes` per statement, from PostgreSQL's transition tables, with the
//! old and new rows as `jsonb` (so NOTIFY's 8000-byte limit never applies: a 1 MB row is
//! journalled whole). UPDATE pairs old and new rows by the model's key, so the key must
//! identify rows (NOT NULL, covered by a unique index: a primary key does); installation
//! refuses other keys with a hint to use [`ddl::Granularity::Row`]. An UPDATE that
//! changes a key is paired by a row-level trigger that fires only for such rows. `INSERT ... ON CONFLICT`, `COPY` and `MERGE` are captured;
//! an UPDATE that changes only quiet (or excluded) columns, or nothing, emits nothing;
//! excluded columns are never journalled at all; TRUNCATE is
//! captured when the model asks for it and refused otherwise, never silently missed.
//! Everything happens in the writing transaction: a rollback leaves no journal entry.
//! The optional wake-up is a `pg_notify` with an empty payload, gated so that at most one
//! transaction at a time pays NOTIFY's commit lock ([`ddl::Wakeup`]).
//!
//! Requires PostgreSQL 14 or newer (`CREATE OR REPLACE TRIGGER`).
//!
//! # Features
//!
//! The defaults are what an sqlx application needs; the rest is opt-in.
//!
//! | feature | default | what it adds |
//! |---|---|---|
//! | `derive` | yes | `#[derive(DbListenable)]` |
//! | `sqlx` | yes | database access through `sqlx`: [`drift::check_sqlx`], [`drift::check_models_sqlx`] |
//! | `runtime` | yes | [`runtime`]: processors, workers, retries, dead letters, the outbox (turns on `sqlx`, and sqlx's `runtime-tokio` and `json`) |
//! | `tokio-postgres` | no | [`drift::check_tokio_postgres`], and the outbox for a `tokio-postgres` push when `runtime` is on |
//! | `cli` | no | [`cli`]: `triggers` and `dead-letters` subcommands for a `clap` command line (turns on `runtime`) |
//! | `web` | no | [`web`]: the dashboard and `/metrics` as an `axum::Router` (turns on `runtime`) |
//!
//! Without any feature the crate still describes models ([`Model`]), generates the SQL
//! ([`ddl`], [`migrations`]) and lists the registered models ([`registry`]), with no
//! database client at all. Of sqlx the crate asks only for `postgres` (plus
//! `runtime-tokio` and `json` with `runtime`); TLS and the other sqlx features are the
//! application's choice. Of tokio it uses `rt`, `macros`, `sync`, `time` and `signal`.
//! Each of these combinations builds and is checked: no features, each feature alone,
//! the defaults, and all features.
//!
//! # Example
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
//! let sql = db_listenable::ddl::install_script(&InvoiceItem::MODEL, &Default::default());
//! assert!(sql.to_string().contains(r#"ON "public"."invoice_items""#));
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]
// The guide links to items of every feature; they resolve in the documentation built with
// all features (docs.rs, CI's `cargo doc -D warnings`), and are plain text without them.
#![cfg_attr(
    not(all(feature = "cli", feature = "web", feature = "tokio-postgres")),
    allow(rustdoc::broken_intra_doc_links)
)]

/// The crate README's example compiles (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

#[cfg(feature = "cli")]
#[cfg_attr(docsrs, doc(cfg(feature = "cli")))]
pub mod cli;
#[cfg(feature = "sqlx")]
mod db_pool;
pub mod ddl;
pub mod drift;
mod error;
pub mod migrations;
mod model;
pub mod registry;
#[cfg(feature = "runtime")]
#[cfg_attr(docsrs, doc(cfg(feature = "runtime")))]
pub mod runtime;
#[cfg(feature = "web")]
#[cfg_attr(docsrs, doc(cfg(feature = "web")))]
pub mod web;

#[cfg(feature = "sqlx")]
pub use db_pool::DbPool;
pub use error::{ConfigError, DriverError, Error, Result};
pub use model::{CaptureSettings, Column, DbListenable, Events, Model};

/// What generated code needs; not a public API, may change in any release.
#[doc(hidden)]
pub mod __private {
    pub use inventory;
}

/// `#[derive(DbListenable)]`: see [`DbListenable`].
#[cfg(feature = "derive")]
#[cfg_attr(docsrs, doc(cfg(feature = "derive")))]
pub use db_listenable_derive::DbListenable;
