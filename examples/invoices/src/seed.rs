//! Sample data: a few customers and products, and invoices made of them.

use sqlx::PgPool;

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

/// Creates one invoice with a few items in one transaction, its total computed from
/// the items. Each call bills the next customer, with a different mix of products.
pub async fn create_sample_invoice(pool: &PgPool) -> sqlx::Result<CreatedInvoice> {
    ensure_catalog(pool).await?;
    let mut tx = pool.begin().await?;
    let (id, number): (i64, String) = sqlx::query_as(
        "INSERT INTO invoices (id, number, user_id)
         SELECT n, format('INV-%s', lpad(n::text, 4, '0')),
                (SELECT id FROM users ORDER BY id OFFSET (n - 1) % (SELECT count(*) FROM users) LIMIT 1)
         FROM nextval('invoices_id_seq') AS n
         RETURNING id, number",
    )
    .fetch_one(&mut *tx)
    .await?;
    // Two or three products, starting at a different one for each invoice.
    sqlx::query(
        "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents)
         SELECT $1, p.id, 1 + (p.id + $1) % 3, p.unit_price_cents
         FROM products p
         WHERE (p.id + $1) % 4 <> 0",
    )
    .bind(id)
    .execute(&mut *tx)
    .await?;
    let (items, total_price_cents): (i64, i64) = sqlx::query_as(
        "UPDATE invoices i
         SET total_price_cents = s.total
         FROM (SELECT count(*) AS items, coalesce(sum(quantity * unit_price_cents), 0)::bigint AS total
               FROM invoice_items WHERE invoice_id = $1) s
         WHERE i.id = $1
         RETURNING s.items, i.total_price_cents",
    )
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(CreatedInvoice { id, number, items, total_price_cents })
}
