//! The demo `cargo run -p invoices` runs.

use std::path::Path;

use pg_harness::Lifetime;

use crate::{database, money::format_cents, report, seed};

/// Starts (or attaches to) the database, migrates, adds an invoice and prints them all.
pub async fn run(data_dir: Option<&Path>) -> anyhow::Result<()> {
    let db = database::open(data_dir, Lifetime::StopWhenDropped).await?;
    match (&db.data_dir, db.started_here) {
        (Some(dir), true) => println!("PostgreSQL: embedded cluster in {} (started for this run)", dir.display()),
        (Some(dir), false) => println!("PostgreSQL: embedded cluster in {} (already running)", dir.display()),
        (None, _) => println!("PostgreSQL: the server named by DATABASE_URL"),
    }
    crate::migrate(&db.pool).await?;
    println!("Schema: migrated (users, products, invoices, invoice_items)");

    let created = seed::create_sample_invoice(&db.pool).await?;
    println!(
        "Created {} with {} items, total {}\n",
        created.number,
        created.items,
        format_cents(created.total_price_cents)
    );
    let lines = report::invoice_lines(&db.pool).await?;
    print!("{}", report::render(&lines));

    println!("\nConnect: psql '{}'", db.url);
    if db.started_here {
        println!(
            "The server stops when this program exits; keep it running with \
             `cargo run -p invoices -- db start` (and `db stop` later)."
        );
    }
    db.pool.close().await;
    Ok(())
}
