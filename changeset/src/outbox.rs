//! [`Outbox`]: the hook that makes event delivery durable.
//!
//! In-process dispatch happens after the commit, from memory: if the process dies
//! between the commit and the dispatch, the events are gone (the seed's weakness). An
//! outbox instead writes the events *inside* the push transaction, so they commit or
//! roll back with the data, and a worker delivers them afterwards from the table. The
//! durable implementation (journal table, claiming worker, retries, dead letters) lives
//! in the `db-listenable` crate and plugs in here through this trait.

use crate::backend::Backend;
use crate::error::BoxError;
use crate::event::EventRecord;
use crate::operation::BoxFuture;

/// Writes a push's events inside its transaction, after every operation ran.
///
/// Selected with [`PushOptions::outbox`](crate::PushOptions::outbox). An error rolls
/// the whole push back, so data is never committed without its events.
///
/// ```
/// # #[cfg(feature = "sqlx")]
/// # mod example {
/// use pg_changeset::{BoxError, BoxFuture, EventRecord, Outbox, Sqlx};
///
/// /// Writes events into an `outbox (catalog text, name text, payload jsonb)` table.
/// struct TableOutbox;
///
/// impl Outbox<Sqlx> for TableOutbox {
///     fn write<'a>(
///         &'a self,
///         conn: &'a mut sqlx::PgConnection,
///         events: &'a [EventRecord],
///     ) -> BoxFuture<'a, Result<(), BoxError>> {
///         Box::pin(async move {
///             sqlx::query("INSERT INTO outbox (catalog, name, payload) SELECT * FROM jsonb_to_recordset($1) AS e(catalog text, name text, payload jsonb)")
///                 .bind(serde_json::to_value(events)?)
///                 .execute(&mut *conn)
///                 .await?;
///             Ok(())
///         })
///     }
/// }
/// # }
/// ```
pub trait Outbox<B: Backend>: Send + Sync + 'static {
    /// Stores `events` (already deduplicated, in delivery order) through `conn`, inside
    /// the push transaction. Called only when there is at least one event.
    fn write<'a>(
        &'a self,
        conn: &'a mut B::Connection<'_>,
        events: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), BoxError>>;
}
