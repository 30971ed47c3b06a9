//! Creating an invoice through a changeset, with its `invoice_created` event delivered
//! through the durable outbox.

use std::sync::Arc;

use db_listenable::runtime::JournalOutbox;
use pg_changeset::{BoxError, BoxFuture, Catalog, Changeset, Event, Payload, PushOptions, Slot, Sqlx, Statement};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

/// The events of invoicing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InvoiceEvent {
    /// An invoice and its items were committed.
    InvoiceCreated {
        /// The new invoice's id.
        invoice_id: i64,
    },
}

impl Event for InvoiceEvent {
    fn name(&self) -> &'static str {
        match self {
            InvoiceEvent::InvoiceCreated { .. } => "invoice_created",
        }
    }
}

/// Dispatches invoicing events: writes a notification row (where the seed enqueued a
/// Sidekiq job). Idempotent, as at-least-once delivery requires.
#[derive(Debug, Clone)]
pub struct Notifications {
    pool: PgPool,
    prepared: bool,
}

impl Notifications {
    /// Notifications written through `pool`.
    pub fn new(pool: PgPool) -> Self {
        Notifications { pool, prepared: true }
    }

    /// Whether its statement may be prepared (default yes): not behind a pooler in
    /// transaction mode (see [`crate::listener::config`]).
    pub fn prepared_statements(mut self, prepared: bool) -> Self {
        self.prepared = prepared;
        self
    }
}

impl Catalog for Notifications {
    const NAME: &'static str = "invoicing";
    type Event = InvoiceEvent;

    fn dispatch<'a>(&'a self, event: &'a InvoiceEvent) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let InvoiceEvent::InvoiceCreated { invoice_id } = event;
            // In a transaction: unprepared, sqlx parses and binds in two exchanges, which
            // a pooler in transaction mode could send to different server connections.
            let mut tx = self.pool.begin().await?;
            sqlx::query(
                "INSERT INTO notifications (invoice_id, kind) VALUES ($1, 'invoice_created')
                 ON CONFLICT (invoice_id, kind) DO NOTHING",
            )
            .bind(invoice_id)
            .persistent(self.prepared)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }
}

/// One line of a new invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewItem {
    /// The product; its current price is copied onto the item.
    pub product_id: i64,
    /// How many (at least 1).
    pub quantity: i32,
}

/// The changeset that creates an invoice for `user_id` with `items`: the invoice, its
/// items at the products' current prices, its total, and an `invoice_created` event.
/// Nothing is written until it is pushed; the returned slot holds the invoice's id after.
pub fn create_invoice(catalog: &Arc<Notifications>, user_id: i64, items: &[NewItem]) -> (Changeset<Sqlx>, Slot<i64>) {
    let invoice_id: Slot<i64> = Slot::new("invoice.id");
    let id_after_push = invoice_id.clone();
    let mut changeset = Changeset::new();
    changeset.add_db_operation(
        Statement::new(
            "INSERT INTO invoices (id, number, user_id)
             SELECT n, format('INV-%s', lpad(n::text, greatest(4, length(n::text)), '0')), $1
             FROM nextval('invoices_id_seq') AS n
             RETURNING id",
        )
        .bind(user_id)
        .returning_into(&invoice_id),
    );
    for item in items {
        changeset.add_db_operation(
            Statement::new(
                // An unknown product leaves the price NULL, which the NOT NULL column
                // refuses: the whole push rolls back rather than drop the line silently.
                "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents)
                 VALUES ($1, $2, $3, (SELECT unit_price_cents FROM products WHERE id = $2))",
            )
            .bind_slot(&invoice_id)
            .bind(item.product_id)
            .bind(i64::from(item.quantity)),
        );
    }
    // The total is right at commit; the processor confirms it from the captured inserts.
    changeset
        .add_db_operation(
            Statement::new(
                "UPDATE invoices SET total_price_cents =
                     (SELECT coalesce(sum(quantity * unit_price_cents), 0) FROM invoice_items WHERE invoice_id = $1)
                 WHERE id = $1",
            )
            .bind_slot(&invoice_id),
        )
        .add_event(catalog, Payload::lazy(move || Ok(InvoiceEvent::InvoiceCreated { invoice_id: invoice_id.get()? })));
    (changeset, id_after_push)
}

/// Pushes [`create_invoice`] with the journal outbox; returns the new invoice's id and number.
pub async fn push_invoice(
    pool: &PgPool,
    catalog: &Arc<Notifications>,
    user_id: i64,
    items: &[NewItem],
) -> anyhow::Result<(i64, String)> {
    let (changeset, invoice_id) = create_invoice(catalog, user_id, items);
    let outcome = changeset.push_with(pool, &PushOptions::new().outbox(JournalOutbox)).await?;
    debug_assert!(outcome.written_to_outbox());
    let id = invoice_id.get()?;
    let number: String =
        sqlx::query_scalar("SELECT number FROM invoices WHERE id = $1").bind(id).fetch_one(pool).await?;
    Ok((id, number))
}
