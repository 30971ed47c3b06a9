//! What the application implements: a processor of one model's changes.

use std::any::Any;
use std::future::Future;

use serde::de::DeserializeOwned;
use sqlx::PgPool;

use super::change::Change;
use super::settle_in::SettleScope;
use crate::model::DbListenable;

/// The error a processor returns; its `Display` text is kept as the delivery's last
/// error and shown in dead letters.
pub type ProcessError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Handles the changes of one model, one change at a time.
///
/// Each processor registered with the runtime is an independent subscriber with its own
/// progress, retries and dead letters. An error or a panic fails the change: it is
/// retried with backoff, and dead-lettered after the last attempt. Delivery is at least
/// once, so make the processor idempotent, or, when its effect lives only in this
/// database, settle the change in its own transaction ([`Context::settle_in`]): then it
/// is applied exactly once.
///
/// To end a change otherwise, return one of the errors of [`outcome`](super::outcome):
/// [`Permanent`](super::Permanent) (dead-letter now), [`RetryAfter`](super::RetryAfter)
/// (try again after the processor's delay) or [`Skip`](super::Skip) (done, without
/// effect), each with a reason (see [Processor control](super#processor-control)).
///
/// ```
/// use db_listenable::DbListenable;
/// use db_listenable::runtime::{Change, Context, ProcessError, Processor};
///
/// #[derive(DbListenable, serde::Deserialize)]
/// struct InvoiceItem { id: i64, invoice_id: i64, quantity: i32 }
///
/// struct InvoiceTotals;
///
/// impl Processor<InvoiceItem> for InvoiceTotals {
///     async fn process(&self, ctx: &Context<'_>, change: &Change<InvoiceItem>) -> Result<(), ProcessError> {
///         // Both invoices when an item moved: recompute each from its items.
///         for item in change.old.iter().chain(change.new.iter()) {
///             sqlx::query("UPDATE invoices SET total = (SELECT coalesce(sum(quantity), 0) FROM invoice_items WHERE invoice_id = $1) WHERE id = $1")
///                 .bind(item.invoice_id)
///                 .execute(ctx.db())
///                 .await?;
///         }
///         Ok(())
///     }
/// }
/// ```
pub trait Processor<T>: Send + Sync + 'static
where
    T: DbListenable + DeserializeOwned + Send + Sync,
{
    /// Handles one change. Changes of one row arrive in commit order (unless the
    /// subscription opted out of ordering), never two at a time.
    fn process(&self, ctx: &Context<'_>, change: &Change<T>) -> impl Future<Output = Result<(), ProcessError>> + Send;
}

/// Handles the changes of one model a batch at a time, for throughput (one statement
/// for a whole batch, one index commit).
///
/// A batch holds at most one change per row when ordering is on (the next change of a
/// row waits for the previous one), in journal order. If the batch fails, each of its
/// changes is retried alone (a batch of one), so one bad change cannot hold the others back.
/// An outcome of [`outcome`](super::outcome) returned by `process_batch` applies to every
/// change of the batch, and [`Context::settle_in`] settles the whole batch.
pub trait BatchProcessor<T>: Send + Sync + 'static
where
    T: DbListenable + DeserializeOwned + Send + Sync,
{
    /// Handles `changes` (never empty) as a whole: `Ok` marks them all done.
    fn process_batch(
        &self,
        ctx: &Context<'_>,
        changes: &[Change<T>],
    ) -> impl Future<Output = Result<(), ProcessError>> + Send;
}

/// What a processor gets besides the change: the database and the application's state.
pub struct Context<'a> {
    pub(crate) pool: &'a PgPool,
    pub(crate) subscriber: &'a str,
    pub(crate) state: &'a (dyn Any + Send + Sync),
    /// The batch's lease and the changes in hand: what [`Context::settle_in`] settles.
    pub(crate) settle: SettleScope<'a>,
}

impl<'a> Context<'a> {
    /// The runtime's connection pool.
    pub fn db(&self) -> &'a PgPool {
        self.pool
    }

    /// The name of the subscriber (processor registration) being served.
    pub fn subscriber(&self) -> &'a str {
        self.subscriber
    }

    /// The application state given to [`RuntimeBuilder::state`](super::RuntimeBuilder::state),
    /// if it is an `S`.
    pub fn state<S: Any>(&self) -> Option<&'a S> {
        self.state.downcast_ref::<S>()
    }
}

impl std::fmt::Debug for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("subscriber", &self.subscriber).finish_non_exhaustive()
    }
}
