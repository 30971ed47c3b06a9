//! `#[derive(DbListenable)]`, the derive behind `db_listenable::DbListenable`.
//!
//! Use it through `db-listenable` (feature `derive`, on by default); never depend on
//! this crate directly. The attributes are documented on the derive itself.
//!
//! One phase per module, as in thiserror and serde_derive: `attr` reads the attributes,
//! `ast` turns the input into our structs and names, `valid` checks them across fields,
//! `expand` generates the impl and the registration; every phase records its errors in
//! a `ctxt::Ctxt`, so all of them are reported at once.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod naming;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// The crate README's example compiles (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

/// Makes a struct a listenable model: implements `DbListenable` (its `MODEL` constant
/// describes the table, key, columns and how the table is captured) and registers the
/// model, so `db_listenable::registry::models()` lists it.
///
/// Each named field is a column of the table, by the name `sqlx::FromRow` reads it by:
///
/// ```
/// use db_listenable::DbListenable;
///
/// #[derive(DbListenable)]
/// struct InvoiceItem {
///     id: i64,
///     invoice_id: i64,
///     quantity: i32,
/// }
///
/// let model = InvoiceItem::MODEL;
/// assert_eq!((model.schema, model.table), ("public", "invoice_items"));
/// assert_eq!(model.key, ["id"]);
/// assert_eq!(model.columns.iter().map(|c| c.name).collect::<Vec<_>>(), ["id", "invoice_id", "quantity"]);
/// assert!(model.events.insert && model.events.update && model.events.delete && !model.events.truncate);
/// ```
///
/// # Attributes at a glance
///
/// | attribute | on | what it does |
/// |---|---|---|
/// | `table = "..."` | struct | the table (default: snake_case plural of the struct name) |
/// | `schema = "..."` | struct | the table's schema (default `public`) |
/// | `events(insert, update, delete, truncate)` | struct | the operations captured (default: insert, update, delete) |
/// | `primary_key("...", ...)` | struct | the key columns, by column name |
/// | `exclude("...", ...)` | struct | columns never written to the journal (secrets, large values) |
/// | `quiet("...", ...)` | struct | columns journalled, but an UPDATE changing only them emits nothing |
/// | `crate = "..."` | struct | the path of `db_listenable` in generated code |
/// | `key` | field | the field's column is (part of) the key |
/// | `quiet` | field | as struct-level `quiet`, for the field's column |
/// | `#[sqlx(rename = "...")]`, `#[sqlx(rename_all = "...")]` | field, struct | the column name, exactly as `sqlx::FromRow` reads it |
/// | `#[sqlx(skip)]` | field | not a column |
/// | `#[sqlx(json)]`, `#[sqlx(try_from = "...")]` | field | an ordinary column (only its decoding differs) |
/// | `#[sqlx(default)]` | field, struct | the column may be missing from the table (never for a key column) |
/// | `#[sqlx(flatten)]` | field | refused: the nested struct's columns cannot be known |
///
/// `#[db_listenable(ignore)]` and `#[db_listenable(rename)]` no longer exist and are
/// compile errors saying what replaced them (`exclude` or `quiet`; `#[sqlx(rename)]`).
///
/// # Struct attributes
///
/// All written `#[db_listenable(...)]` on the struct; settings can share one attribute,
/// separated by commas, or use several. Names are given as they are in PostgreSQL: the
/// generated SQL quotes them, so case and spelling are kept exactly.
///
/// ### `table = "..."`
///
/// The table. Default: the snake_case plural of the struct's name (`InvoiceItem` ->
/// `invoice_items`, `Category` -> `categories`, `Address` -> `addresses`).
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// #[db_listenable(table = "line_items")]
/// struct InvoiceItem {
///     id: i64,
/// }
/// assert_eq!(InvoiceItem::MODEL.table, "line_items");
/// ```
///
/// ### `schema = "..."`
///
/// The table's schema. Default: `public`.
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// #[db_listenable(schema = "billing")]
/// struct Invoice {
///     id: i64,
/// }
/// assert_eq!((Invoice::MODEL.schema, Invoice::MODEL.table), ("billing", "invoices"));
/// ```
///
/// ### `events(insert, update, delete, truncate)`
///
/// The operations captured, any non-empty subset. Default: `insert`, `update` and
/// `delete`. `TRUNCATE` removes rows without firing row triggers, so it is captured
/// only when `truncate` is listed (as one event for the whole table); for a model that
/// does not list it, the generated trigger refuses `TRUNCATE` on the table with an
/// error rather than letting it delete rows unseen.
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// #[db_listenable(events(insert, truncate))]
/// struct AuditEntry {
///     id: i64,
/// }
/// let events = AuditEntry::MODEL.events;
/// assert!(events.insert && events.truncate && !events.update && !events.delete);
/// ```
///
/// ### `primary_key = "..."` or `primary_key("...", "...")`
///
/// The key columns, by column name (after any `#[sqlx(rename)]`), in key order; the list form
/// names a composite key. An alternative to `#[db_listenable(key)]` on fields; use one
/// or the other. See [Keys](#keys).
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// #[db_listenable(primary_key("invoice_id", "line"))]
/// struct InvoiceLine {
///     invoice_id: i64,
///     line: i32,
///     text: String,
/// }
/// assert_eq!(InvoiceLine::MODEL.key, ["invoice_id", "line"]);
/// ```
///
/// ### `crate = "..."`
///
/// The path the generated code names `db_listenable` by. Default: `::db_listenable`.
/// Needed only when the derive is used through a crate that re-exports `db_listenable`
/// and the user's crate does not depend on `db_listenable` itself.
///
/// ```
/// # mod my_framework { pub use db_listenable; }
/// #[derive(my_framework::db_listenable::DbListenable)]
/// #[db_listenable(crate = "my_framework::db_listenable")]
/// struct Invoice {
///     id: i64,
/// }
/// # use my_framework::db_listenable::DbListenable;
/// # assert_eq!(Invoice::MODEL.table, "invoices");
/// ```
///
/// ### `exclude("...", ...)` (or `exclude = "..."`)
///
/// Columns that never reach the journal: the capture trigger removes them from every
/// row it writes (`to_jsonb(row) - ARRAY[...]`), so they are in no delivery, dead letter
/// or dashboard page. For secrets (`password_hash`) and large values (`avatar`). They
/// name table columns the struct does not map: a field reading an excluded column could
/// never be filled, so it is a compile error, and so is excluding a key column. An
/// UPDATE that changes only excluded columns emits nothing (its entry would show no
/// difference). The table must have them: an exclusion naming no column would journal
/// the column it meant to keep out, so the column checks refuse it.
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// #[db_listenable(exclude("password_hash", "avatar"))]
/// struct Account {
///     id: i64,
///     email: String,
/// }
/// assert_eq!(Account::MODEL.exclude, ["avatar", "password_hash"]);
/// ```
///
/// ### `quiet("...", ...)` (or `quiet = "..."`)
///
/// Columns whose changes alone are not worth an event: they are journalled with every
/// change, but an UPDATE that changes only quiet columns emits nothing (a `touched_at`
/// or a counter maintained by the processors themselves). Named on the struct, they need
/// no field, so a narrow model of a table can agree with a full one (see
/// [Several models of one table](#several-models-of-one-table)). A key column cannot be
/// quiet. Quiet is not secret: use `exclude` to keep a column out of the journal.
///
/// # Field attributes
///
/// ### `key`
///
/// Marks a key column. Several marked fields make a composite key, in field order.
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// struct Membership {
///     #[db_listenable(key)]
///     chat_id: i64,
///     #[db_listenable(key)]
///     user_id: i64,
///     role: String,
/// }
/// assert_eq!(Membership::MODEL.key, ["chat_id", "user_id"]);
/// ```
///
/// ### `quiet`
///
/// The field's column is quiet (see the struct-level `quiet`).
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// struct Message {
///     id: i64,
///     body: String,
///     #[db_listenable(quiet)]
///     read_count: i64,
/// }
/// assert_eq!(Message::MODEL.quiet, ["read_count"]);
/// ```
///
/// # Column names: `#[sqlx(...)]`
///
/// Processors receive rows decoded by the model's `sqlx::FromRow`, so a field's column
/// is the one FromRow reads, computed here exactly as sqlx's derive computes it:
///
/// - `#[sqlx(rename = "...")]` on a field is its column;
/// - otherwise `#[sqlx(rename_all = "...")]` on the struct applied to the field's name
///   (`lowercase`, `snake_case`, `UPPERCASE`, `SCREAMING_SNAKE_CASE`, `kebab-case`,
///   `camelCase`, `PascalCase`, with the same case conversion sqlx uses);
/// - otherwise the field's name, without `r#` (`r#type` is the column `type`).
///
/// The other sqlx attributes:
///
/// - `#[sqlx(skip)]`: FromRow fills the field with its default; not a column, cannot be
///   `key` or `quiet`.
/// - `#[sqlx(json)]`, `#[sqlx(json(nullable))]`, `#[sqlx(try_from = "...")]`: only
///   change how the column's value is decoded; the field is an ordinary column.
/// - `#[sqlx(default)]` on a field (or on the struct, for every non-key field): FromRow
///   accepts a table without the column, so the column checks do not require it
///   (`Column::optional`). A key field cannot be `default`: the table must have it.
/// - `#[sqlx(flatten)]`: a compile error; the nested struct's columns are unknown here,
///   so they could be neither checked nor captured. List them as fields instead.
///
/// serde's attributes do not name columns.
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable, sqlx::FromRow)]
/// #[sqlx(rename_all = "camelCase")]
/// struct Invoice {
///     id: i64,
///     customer_name: String,
///     #[sqlx(rename = "total")]
///     total_price: i64,
///     #[sqlx(skip)]
///     cached_summary: Option<String>,
/// }
/// let names: Vec<_> = Invoice::MODEL.columns.iter().map(|c| c.name).collect();
/// assert_eq!(names, ["id", "customerName", "total"]);
/// ```
///
/// # Keys
///
/// Every model has a key: the columns that identify a row in each change. It is named
/// by `primary_key` on the struct or by `key` on fields; with neither, it is the column
/// of the field named `id`. A struct with none of them does not compile ("missing key
/// column").
///
/// # Several models of one table
///
/// A table has one capture (one set of triggers), made of its key, events, excluded and
/// quiet columns and nothing else of the struct: two models of one table (a full and a
/// narrow view of its rows) share it when they agree on those settings, and
/// `triggers generate` installs it once. Models that disagree are refused by
/// `triggers generate` and at the runtime's start, naming both and what differs.
///
/// # Checked against the table
///
/// The migration `triggers generate` writes refuses to install when the table lacks a
/// column a model needs (every mapped column that is not `#[sqlx(default)]`, the key
/// and the excluded columns), naming the model, the table and each missing column; the
/// drift check and the runtime's start report the same.
///
/// # Checked at compile time
///
/// Every mistake below is a compile error pointing at the offending attribute or field,
/// and all of them are reported in one compile:
///
/// - table, schema and column names must be non-empty, without NUL and at most 63 bytes
///   long (PostgreSQL truncates longer identifiers);
/// - raw SQL is not accepted from attributes (`when = "..."`, `filter = "..."` and the
///   like): only names reach the generated DDL, always quoted; filter in the processor;
/// - unknown settings, a setting given twice, a value of the wrong form, an empty
///   `events()`, an unknown or repeated event;
/// - `primary_key` together with `key`, a `primary_key` name that is not a column or is
///   listed twice, a quiet, excluded or `#[sqlx(default)]` key column, no key at all,
///   two fields mapping the same column;
/// - a field mapping an excluded column, a column both excluded and quiet, `key` or
///   `quiet` on a `#[sqlx(skip)]` field, `#[sqlx(flatten)]`;
/// - the retired `ignore` and `rename`, with what replaced them;
/// - tuple structs, unit structs, enums, unions, and generic structs: a table has one
///   row type, so the struct takes no type, lifetime or const parameters.
///
/// Field types are not checked here: `sqlx::FromRow` decodes each column into its field.
#[proc_macro_derive(DbListenable, attributes(db_listenable))]
pub fn derive_db_listenable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
