//! The captured model: invoice items. Their changes, whoever makes them, drive the totals.

use db_listenable::DbListenable;
use serde::{Deserialize, Serialize};

/// A row of `invoice_items`. Capture is generated from this struct
/// (`invoices triggers generate migrations`).
#[derive(Debug, Clone, PartialEq, Eq, DbListenable, Serialize, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "invoice_items")]
pub struct InvoiceItem {
    /// Key.
    pub id: i64,
    /// The invoice it belongs to; an UPDATE can move it to another one.
    pub invoice_id: i64,
    /// The product sold.
    pub product_id: i64,
    /// How many.
    pub quantity: i32,
    /// Price of one, in cents, as sold.
    pub unit_price_cents: i64,
}
