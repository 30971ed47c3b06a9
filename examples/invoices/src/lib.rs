//! The invoices example: invoice totals that stay true, whoever edits the items.
//!
//! An invoice's `total_price_cents` is derived from its items. In the seed
//! application (Rails) a direct `UPDATE invoice_items ...` from `psql` left the total
//! wrong until a NOTIFY-based listener caught it, and changes made while the listener
//! was down were lost. This example grows, issue by issue, into the showcase of
//! `db-listenable`: captured changes, a durable journal and a processor that
//! recomputes totals. Today it runs the schema and the data on the embedded PostgreSQL.
//!
//! `cargo run -p invoices` runs the demo; `cargo run -p invoices -- --help` lists the
//! commands. Without `DATABASE_URL`, data lives in a persistent cluster in `./.data/pg`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/invoices").await?;
//! invoices::migrate(&pool).await?;
//! let invoice = invoices::seed::create_sample_invoice(&pool).await?;
//! println!("{} totals {}", invoice.number, invoices::money::format_cents(invoice.total_price_cents));
//! # Ok(()) }
//! ```

pub mod check;
pub mod cli;
pub mod database;
pub mod db_command;
pub mod dead_letters;
pub mod demo;
pub mod invoicing;
pub mod listener;
pub mod model;
pub mod money;
pub mod report;
pub mod seed;
pub mod totals;
pub mod triggers;

/// The database name the example uses on the embedded cluster.
pub const DATABASE_NAME: &str = "invoices";

/// Applies the example's migrations (idempotent: applied ones are skipped).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
