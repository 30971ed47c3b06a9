//! Sample data: a few customers and products, and invoices made of them.

use std::sync::Arc;

use sqlx::PgPool;

use crate::invoicing::{NewItem, Notifications, push_invoice};

/// Customers the demo bills: (name, email).
const USERS: [(&str, &str); 3] =
    [("Ada Lovelace", "ada@example.com"), ("Grace Hopper", "grace@example.com"), ("Alan Turing", "alan@example.com")];

/// Products with their unit price in cents.
const PRODUCTS: [(&str, i64); 4] =
    [("Notebook", 450), ("Fountain pen", 2_999), ("Ink cartridge (5)", 799), ("Desk lamp", 4_550)];

/// An invoice as created by [`create_sample_invoice`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedInvoice {
    /// Database id.
    pub id: i64,
    /// Human-readable number, e.g. `INV-0007`.
    pub number: String,
    /// Number of items.
    pub items: i64,
    /// The total as stored on the invoice.
    pub total_price_cents: i64,
}

/// Adds the sample customers and products unless they exist.
pub async fn ensure_catalog(pool: &PgPool) -> sqlx::Result<()> {
    for (name, email) in USERS {
        sqlx::query("INSERT INTO users (name, email) VALUES ($1, $2) ON CONFLICT (email) DO NOTHING")
            .bind(name)
            .bind(email)
            .execute(pool)
            .await?;
    }
    for (name, price) in PRODUCTS {
        sqlx::query("INSERT INTO products (name, unit_price_cents) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(price)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// Creates one invoice with a few items through the invoicing changeset (one
/// transaction, `invoice_created` through the durable outbox). Each call bills the next
/// customer, with a different mix of products.
pub async fn create_sample_invoice(pool: &PgPool) -> anyhow::Result<CreatedInvoice> {
    ensure_catalog(pool).await?;
    let existing: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices").fetch_one(pool).await?;
    let user_id: i64 =
        sqlx::query_scalar("SELECT id FROM users ORDER BY id OFFSET $1 % (SELECT count(*) FROM users) LIMIT 1")
            .bind(existing)
            .fetch_one(pool)
            .await?;
    let products: Vec<i64> = sqlx::query_scalar("SELECT id FROM products ORDER BY id").fetch_all(pool).await?;
    // Two or three products, starting at a different one for each invoice.
    let items: Vec<NewItem> = products
        .iter()
        .enumerate()
        .filter(|(i, _)| (*i as i64 + existing) % 4 != 3)
        .map(|(i, &product_id)| NewItem { product_id, quantity: 1 + ((i as i64 + existing) % 3) as i32 })
        .collect();
    let catalog = Arc::new(Notifications::new(pool.clone()));
    let (id, number) = push_invoice(pool, &catalog, user_id, &items).await?;
    let (items, total_price_cents): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM invoice_items WHERE invoice_id = $1), total_price_cents FROM invoices WHERE id = $1",
    )
    .bind(id)
    .fetch_one(pool)
    .await?;
    Ok(CreatedInvoice { id, number, items, total_price_cents })
}

/// `invoices seed`: migrates, then creates `count` sample invoices and prints them.
pub async fn run(count: u32, data_dir: Option<&std::path::Path>) -> anyhow::Result<()> {
    let db = crate::database::open(data_dir, pg_harness::Lifetime::StopWhenDropped).await?;
    crate::migrate(&db.pool).await?;
    for _ in 0..count {
        let invoice = create_sample_invoice(&db.pool).await?;
        println!(
            "created {} with {} items, total {}",
            invoice.number,
            invoice.items,
            crate::money::format_cents(invoice.total_price_cents)
        );
    }
    db.pool.close().await;
    Ok(())
}
