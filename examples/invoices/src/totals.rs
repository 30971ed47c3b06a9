//! The processor that keeps `invoices.total_price_cents` true.

use std::collections::BTreeSet;

use db_listenable::runtime::{BatchProcessor, Change, Context, ProcessError};
use sqlx::PgPool;

use crate::model::InvoiceItem;

/// Recomputes the totals of the invoices a batch of item changes touched: both the old
/// and the new invoice of an item that moved, every invoice of a bulk statement.
///
/// Idempotent by construction: each total is recomputed from the items, never adjusted
/// by a delta, so a change delivered twice (at-least-once delivery) changes nothing.
/// Subscribed without per-row ordering (the order of changes does not matter when each
/// run reads the current items), which lets batches hold many changes of one item.
#[derive(Debug, Clone, Copy, Default)]
pub struct InvoiceTotals;

/// The subscriber name of [`InvoiceTotals`].
pub const SUBSCRIBER: &str = "invoice_totals";

impl BatchProcessor<InvoiceItem> for InvoiceTotals {
    async fn process_batch(&self, ctx: &Context<'_>, changes: &[Change<InvoiceItem>]) -> Result<(), ProcessError> {
        let invoices: BTreeSet<i64> =
            changes.iter().flat_map(|c| c.old.iter().chain(c.new.iter())).map(|item| item.invoice_id).collect();
        recompute(ctx.db(), ctx.prepared_statements(), &invoices.into_iter().collect::<Vec<_>>()).await?;
        Ok(())
    }
}

/// Sets each invoice's total to the sum of its items; returns how many totals changed.
///
/// The invoices are locked first (in id order, so two runs cannot deadlock) and summed
/// by a second statement: under READ COMMITTED that statement's snapshot is taken after
/// the lock is granted, so a run that waited for another one sees every item the other
/// saw and more. Summing in the UPDATE itself could let a run with an older snapshot
/// commit last and write a stale total.
///
/// `prepared` says whether the statements may be prepared (named, cached per connection);
/// behind a pooler in transaction mode they must not be (the runtime's
/// `Context::prepared_statements`).
pub async fn recompute(pool: &PgPool, prepared: bool, invoice_ids: &[i64]) -> sqlx::Result<u64> {
    if invoice_ids.is_empty() {
        return Ok(0);
    }
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT id FROM invoices WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(invoice_ids)
        .persistent(prepared)
        .execute(&mut *tx)
        .await?;
    let changed = sqlx::query(
        "UPDATE invoices i
         SET total_price_cents = s.total
         FROM (SELECT i2.id, coalesce(sum(it.quantity * it.unit_price_cents), 0)::bigint AS total
               FROM invoices i2 LEFT JOIN invoice_items it ON it.invoice_id = i2.id
               WHERE i2.id = ANY($1)
               GROUP BY i2.id) s
         WHERE i.id = s.id AND i.total_price_cents IS DISTINCT FROM s.total",
    )
    .bind(invoice_ids)
    .persistent(prepared)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(changed)
}
