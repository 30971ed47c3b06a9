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

/// Makes a struct a listenable model: implements `DbListenable` (its `MODEL` constant
/// describes the table, key, columns and captured operations) and registers the model,
/// so `db_listenable::registry::models()` lists it.
///
/// Each named field is a column of the table, by its name:
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
/// The key columns, by column name (after any `rename`), in key order; the list form
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
/// ### `ignore`
///
/// The column is captured in every change, but an `UPDATE` that changes only ignored
/// columns emits no event (a `touched_at` or a cache column, say). A key column cannot
/// be ignored.
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// struct Message {
///     id: i64,
///     body: String,
///     #[db_listenable(ignore)]
///     read_count: i64,
/// }
/// assert_eq!(Message::MODEL.ignored_columns().collect::<Vec<_>>(), ["read_count"]);
/// ```
///
/// ### `rename = "..."`
///
/// The field's column name. Default: the field's name (without `r#`), or the name
/// serde decodes it by (see [serde](#serde)).
///
/// ```
/// # use db_listenable::DbListenable;
/// #[derive(DbListenable)]
/// struct Invoice {
///     id: i64,
///     #[db_listenable(rename = "total_price")]
///     total: i64,
/// }
/// let total = &Invoice::MODEL.columns[1];
/// assert_eq!((total.field, total.name), ("total", "total_price"));
/// ```
///
/// # Keys
///
/// Every model has a key: the columns that identify a row in each change. It is named
/// by `primary_key` on the struct or by `key` on fields; with neither, it is the column
/// of the field named `id`. A struct with none of them does not compile ("missing key
/// column").
///
/// # serde
///
/// The journal stores each row as a JSON object keyed by column name, and serde decodes
/// it into the struct by the names serde knows, so the derive takes its column names
/// from serde's attributes where they change those names:
///
/// - `#[serde(rename = "...")]` (or `rename(deserialize = "...")`) on a field is its
///   column name. With `#[db_listenable(rename = "...")]` as well, both must name the
///   same column (or the db_listenable name must be one of the field's
///   `#[serde(alias = "...")]`); different names are a compile error.
/// - `#[serde(rename_all = "...")]` on the struct applies to the column names of the
///   fields without a rename, exactly as serde applies it (`camelCase`, `snake_case`,
///   `PascalCase`, `SCREAMING_SNAKE_CASE`, `kebab-case`, ...). A
///   `#[db_listenable(rename = "...")]` that differs from the name `rename_all` gives is
///   a compile error, for the same reason.
/// - `#[serde(skip)]` and `#[serde(skip_deserializing)]` fields are not columns: they
///   are not in `MODEL.columns` and cannot be part of the key.
/// - `#[serde(flatten)]` is a compile error: a flattened field's columns cannot be known.
///
/// A `#[db_listenable(rename = "...")]` on a field without a serde rename is taken as it
/// is: the column has one name, serde knows the field by another. Each column records
/// both (`Column::name`, `Column::serde_key`), and `Model::row_for_serde` moves the
/// captured value to the key serde expects before decoding, so no matching
/// `#[serde(rename)]` is needed.
///
/// ```
/// # use db_listenable::DbListenable;
/// use serde::Deserialize;
///
/// #[derive(DbListenable, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct Invoice {
///     id: i64,
///     customer_name: String,
///     #[serde(rename = "total")]
///     total_price: i64,
///     #[serde(skip)]
///     cached_summary: Option<String>,
/// }
/// let names: Vec<_> = Invoice::MODEL.columns.iter().map(|c| c.name).collect();
/// assert_eq!(names, ["id", "customerName", "total"]);
/// ```
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
///   listed twice, a key column marked `ignore`, no key at all, two fields mapping the
///   same column;
/// - tuple structs, unit structs, enums, unions, and generic structs: a table has one
///   row type, so the struct takes no type, lifetime or const parameters.
///
/// Field types are not checked: serde decodes each column into its field at run time.
#[proc_macro_derive(DbListenable, attributes(db_listenable))]
pub fn derive_db_listenable(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
