//! What the application implements: a processor of one model's changes.

use std::future::Future;

use sqlx::PgPool;

use crate::DbPool;

use super::change::Change;
use super::row::ChangeRow;
use super::settle_in::SettleScope;

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
/// `S` is the application state the processor reads through [`Context::state`]: the
/// runtime's state type ([`RuntimeBuilder::with_state`](super::RuntimeBuilder::with_state)),
/// checked by the compiler when the processor is registered. Processors without state
/// leave it out (`()`, the state of [`RuntimeBuilder::new`](super::RuntimeBuilder::new));
/// one that runs under any state is generic over it (`impl<S: Sync> Processor<T, S>`).
///
/// ```
/// use db_listenable::DbListenable;
/// use db_listenable::runtime::{Change, Context, ProcessError, Processor};
///
/// #[derive(DbListenable, sqlx::FromRow)]
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
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not process `{T}` changes as a `Processor` under application state `{S}`",
    label = "registered on a runtime whose state is `{S}`",
    note = "a processor reads the state of the runtime it is registered on (`()` from `RuntimeBuilder::new`, `S` from `RuntimeBuilder::with_state`): implement `Processor<{T}, {S}>`, or, for a processor that reads no state, `impl<S: Sync> Processor<{T}, S>`"
)]
pub trait Processor<T, S = ()>: Send + Sync + 'static
where
    T: ChangeRow,
{
    /// Handles one change. Changes of one row arrive in commit order (unless the
    /// subscription opted out of ordering), never two at a time.
    fn process(
        &self,
        ctx: &Context<'_, S>,
        change: &Change<T>,
    ) -> impl Future<Output = Result<(), ProcessError>> + Send;
}

/// Handles the changes of one model a batch at a time, for throughput (one statement
/// for a whole batch, one index commit).
///
/// A batch holds at most one change per row when ordering is on (the next change of a
/// row waits for the previous one), in journal order. If the batch fails, each of its
/// changes is retried alone (a batch of one), so one bad change cannot hold the others back.
///
/// An outcome of [`outcome`](super::outcome) returned by `process_batch` applies to every
/// change of the batch, and [`Context::settle_in`] settles the whole batch.
/// `S` is the application state, as for [`Processor`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not process `{T}` changes as a `BatchProcessor` under application state `{S}`",
    label = "registered on a runtime whose state is `{S}`",
    note = "a processor reads the state of the runtime it is registered on (`()` from `RuntimeBuilder::new`, `S` from `RuntimeBuilder::with_state`): implement `BatchProcessor<{T}, {S}>`, or, for a processor that reads no state, `impl<S: Sync> BatchProcessor<{T}, S>`"
)]
pub trait BatchProcessor<T, S = ()>: Send + Sync + 'static
where
    T: ChangeRow,
{
    /// Handles `changes` (never empty) as a whole: `Ok` marks them all done.
    fn process_batch(
        &self,
        ctx: &Context<'_, S>,
        changes: &[Change<T>],
    ) -> impl Future<Output = Result<(), ProcessError>> + Send;
}

/// What a processor gets besides the change: the database and the application's state
/// `S` (`()` when the runtime has none).
pub struct Context<'a, S = ()> {
    pub(crate) db: DbPool<'a>,
    pub(crate) subscriber: &'a str,
    pub(crate) state: &'a S,
    /// The batch's lease and the changes in hand: what [`Context::settle_in`] settles.
    pub(crate) settle: SettleScope<'a>,
}

impl<'a, S> Context<'a, S> {
    /// The runtime's connection pool.
    pub fn db(&self) -> &'a PgPool {
        self.db.pool()
    }

    /// Whether the runtime prepares its statements
    /// ([`RuntimeConfig::prepared_statements`](super::RuntimeConfig::prepared_statements)):
    /// the value for sqlx's `persistent(...)` of the processor's own statements, so that
    /// they too work behind a pooler that does not track prepared statements (run them in
    /// a transaction there, as [`DbPool::unprepared`](crate::DbPool::unprepared) explains).
    pub fn prepared_statements(&self) -> bool {
        self.db.prepared()
    }

    /// The name of the subscriber (processor registration) being served.
    pub fn subscriber(&self) -> &'a str {
        self.subscriber
    }

    /// The application state given to
    /// [`RuntimeBuilder::with_state`](super::RuntimeBuilder::with_state).
    pub fn state(&self) -> &'a S {
        self.state
    }

    /// This context with the state of the subscriber being served: the workers know
    /// no state type, each subscriber holds its own.
    pub(crate) fn with_state<T>(&self, state: &'a T) -> Context<'a, T> {
        Context { db: self.db, subscriber: self.subscriber, state, settle: self.settle }
    }
}

impl<S> std::fmt::Debug for Context<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context").field("subscriber", &self.subscriber).finish_non_exhaustive()
    }
}
