//! The SQL behind the invoice routes, and the rows they answer with.

use serde::Serialize;
use sqlx::PgPool;

use crate::invoicing::NewItem;
use crate::report::InvoiceLine;

/// One invoice of `GET /invoices`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceSummary {
    /// Invoice number.
    pub number: String,
    /// Customer name.
    pub customer: String,
    /// How many items it has (`items` is the list itself in `GET /invoices/{number}`).
    pub item_count: i64,
    /// The total stored on the invoice.
    pub total_price_cents: i64,
    /// The sum of its items now: differs from the total until the listener catches up.
    pub items_sum_cents: i64,
}

impl From<InvoiceLine> for InvoiceSummary {
    fn from(line: InvoiceLine) -> Self {
        InvoiceSummary {
            number: line.number,
            customer: line.customer,
            item_count: line.items,
            total_price_cents: line.total_price_cents,
            items_sum_cents: line.items_sum_cents,
        }
    }
}

/// An invoice with its items.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Invoice {
    /// Invoice number.
    pub number: String,
    /// The customer's id.
    pub user_id: i64,
    /// The customer's name.
    pub customer: String,
    /// The total stored on the invoice.
    pub total_price_cents: i64,
    /// The sum of its items, read in the same snapshot as the total.
    pub items_sum_cents: i64,
    /// Its items, oldest first.
    #[sqlx(skip)]
    pub items: Vec<Item>,
}

/// A line of an invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Item {
    /// Key.
    pub id: i64,
    /// The product sold.
    pub product_id: i64,
    /// How many.
    pub quantity: i32,
    /// Price of one, in cents, copied from the product when the item was added.
    pub unit_price_cents: i64,
}

/// Every invoice, oldest first.
pub async fn invoices(pool: &PgPool) -> sqlx::Result<Vec<InvoiceSummary>> {
    Ok(crate::report::invoice_lines(pool).await?.into_iter().map(InvoiceSummary::from).collect())
}

/// The invoice numbered `number` with its items, if there is one.
pub async fn invoice(pool: &PgPool, number: &str) -> sqlx::Result<Option<Invoice>> {
    // One snapshot for both statements: the listener may commit a new total between
    // them, and the answer should show a total and items that existed together.
    let mut tx = pool.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY").execute(&mut *tx).await?;
    let invoice: Option<(i64, Invoice)> = sqlx::query_as::<_, InvoiceRow>(
        "SELECT i.id, i.number, i.user_id, u.name AS customer, i.total_price_cents,
                (SELECT coalesce(sum(it.quantity * it.unit_price_cents), 0)::bigint
                 FROM invoice_items it WHERE it.invoice_id = i.id) AS items_sum_cents
         FROM invoices i JOIN users u ON u.id = i.user_id
         WHERE i.number = $1",
    )
    .bind(number)
    .fetch_optional(&mut *tx)
    .await?
    .map(|row| (row.id, row.invoice));
    let Some((id, mut invoice)) = invoice else {
        return Ok(None);
    };
    invoice.items = sqlx::query_as(
        "SELECT id, product_id, quantity, unit_price_cents FROM invoice_items WHERE invoice_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Some(invoice))
}

/// An invoice row with the id the item query needs (the API shows numbers, not ids).
#[derive(sqlx::FromRow)]
struct InvoiceRow {
    id: i64,
    #[sqlx(flatten)]
    invoice: Invoice,
}

/// The id of the invoice numbered `number`, if there is one.
pub async fn invoice_id(pool: &PgPool, number: &str) -> sqlx::Result<Option<i64>> {
    sqlx::query_scalar("SELECT id FROM invoices WHERE number = $1").bind(number).fetch_optional(pool).await
}

/// Whether user `id` exists.
pub async fn user_exists(pool: &PgPool, id: i64) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM users WHERE id = $1)").bind(id).fetch_one(pool).await
}

/// The ids among `ids` that name no product, ascending and without repeats.
pub async fn missing_products(pool: &PgPool, ids: &[i64]) -> sqlx::Result<Vec<i64>> {
    sqlx::query_scalar(
        "SELECT DISTINCT x.id FROM unnest($1::bigint[]) AS x(id)
         WHERE NOT EXISTS (SELECT 1 FROM products p WHERE p.id = x.id)
         ORDER BY x.id",
    )
    .bind(ids)
    .fetch_all(pool)
    .await
}

/// Adds `item` to invoice `invoice_id` at the product's current price, with a plain
/// `INSERT` that leaves the invoice's total to the listener. `None` if the product does
/// not exist (checked in the same statement, so a product deleted meanwhile is seen).
pub async fn insert_item(pool: &PgPool, invoice_id: i64, item: &NewItem) -> sqlx::Result<Option<Item>> {
    sqlx::query_as(
        "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents)
         SELECT $1, p.id, $3, p.unit_price_cents FROM products p WHERE p.id = $2
         RETURNING id, product_id, quantity, unit_price_cents",
    )
    .bind(invoice_id)
    .bind(item.product_id)
    .bind(item.quantity)
    .fetch_optional(pool)
    .await
}
