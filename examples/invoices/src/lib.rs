//! The invoices example: invoice totals that stay true, whoever edits the items.
//!
//! An invoice's `total_price_cents` is derived from its items. In the seed
//! application (Rails) a direct `UPDATE invoice_items ...` from `psql` left the total
//! wrong until a NOTIFY-based listener caught it, and changes made while the listener
//! was down were lost. Here [`model::InvoiceItem`] is captured by generated triggers
//! (`migrations/*_db_listenable.sql`), and [`totals::InvoiceTotals`] recomputes the totals
//! of every invoice a change touched: inserts, updates, deletes, items moved between
//! invoices, bulk statements, changes made while the listener was down. Creating an
//! invoice goes through a changeset ([`invoicing`]) whose `invoice_created` event takes
//! the durable outbox.
//!
//! `cargo run -p invoices` runs the demo; `cargo run -p invoices -- --help` lists the
//! commands (`migrate`, `seed`, `listen`, `serve`, `check`, `dead-letters`, `triggers`,
//! `db`). Without `DATABASE_URL`, data lives in a persistent cluster in `./.data/pg`.
//! `cargo run -p invoices -- serve` runs the listener behind a small JSON API ([`serve`]).
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let pool = sqlx::PgPool::connect("postgres://postgres@127.0.0.1:5432/invoices").await?;
//! invoices::migrate(&pool).await?;
//! let invoice = invoices::seed::create_sample_invoice(&pool).await?;
//! println!("{} totals {}", invoice.number, invoices::money::format_cents(invoice.total_price_cents));
//! let listener = invoices::listener::runtime(&pool, invoices::listener::config()).start().await?;
//! listener.run_until(db_listenable::runtime::shutdown_signal()).await;
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
pub mod serve;
pub mod totals;
pub mod triggers;

/// The database name the example uses on the embedded cluster.
pub const DATABASE_NAME: &str = "invoices";

/// Applies the example's migrations (idempotent: applied ones are skipped).
pub async fn migrate(pool: &sqlx::PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!("./migrations").run(pool).await
}
