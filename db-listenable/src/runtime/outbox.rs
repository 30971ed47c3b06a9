//! The durable outbox: a push's events journalled inside its transaction.

use pg_changeset::{BoxError, BoxFuture, EventRecord, Outbox};
use serde_json::json;

use crate::ddl::topic_id;

/// The journal as a [`pg_changeset::Outbox`]: each event becomes a journal entry of its
/// catalog's topic, written in the push transaction (so it commits or rolls back with
/// the data), and the runtime dispatches it after the commit through the catalog
/// registered with [`RuntimeBuilder::outbox_catalog`](super::RuntimeBuilder::outbox_catalog)
/// or [`named_outbox_catalog`](super::RuntimeBuilder::named_outbox_catalog), with retries
/// and dead letters. A crash between the commit and the dispatch loses nothing.
///
/// Events of a catalog no runtime serves are kept (see [`Stats::unconsumed`](super::Stats::unconsumed)).
///
/// ```no_run
/// # async fn example(pool: sqlx::PgPool, changeset: pg_changeset::Changeset<pg_changeset::Sqlx>) -> Result<(), Box<dyn std::error::Error>> {
/// use pg_changeset::PushOptions;
/// use db_listenable::runtime::JournalOutbox;
///
/// changeset.push_with(&pool, &PushOptions::new().outbox(JournalOutbox)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct JournalOutbox;

/// The events as one JSON array of `{topic, event}`, in delivery order.
fn entries(events: &[EventRecord]) -> Result<serde_json::Value, BoxError> {
    let mut entries = Vec::with_capacity(events.len());
    for event in events {
        entries.push(json!({ "topic": topic_id(&event.catalog), "event": serde_json::to_value(event)? }));
    }
    Ok(serde_json::Value::Array(entries))
}

/// Journals the entries in array order (identity values follow it) and sends the gated
/// wake-up, through the one function that lets a role without write access to the journal
/// write events (see [`crate::ddl::Access::Outbox`]).
///
/// Sent unprepared (sqlx's unnamed statement, in the push's transaction), so that a push
/// works behind a pooler in transaction mode that does not track prepared statements
/// too; that costs one parse per push with events, beside its transaction's round trips.
const ENQUEUE_SQL: &str = "SELECT db_listenable.enqueue_events($1::jsonb)";

impl Outbox<pg_changeset::Sqlx> for JournalOutbox {
    fn write<'a>(
        &'a self,
        conn: &'a mut sqlx::PgConnection,
        events: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(write_sqlx(conn, events))
    }
}

impl Outbox<pg_changeset::SqlxUnprepared> for JournalOutbox {
    fn write<'a>(
        &'a self,
        conn: &'a mut sqlx::PgConnection,
        events: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(write_sqlx(conn, events))
    }
}

/// The write of both sqlx backends.
async fn write_sqlx(conn: &mut sqlx::PgConnection, events: &[EventRecord]) -> Result<(), BoxError> {
    sqlx::query(ENQUEUE_SQL).bind(entries(events)?).persistent(false).execute(conn).await?;
    Ok(())
}

#[cfg(feature = "tokio-postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "tokio-postgres")))]
impl Outbox<pg_changeset::TokioPostgres> for JournalOutbox {
    fn write<'a>(
        &'a self,
        conn: &'a mut tokio_postgres::Transaction<'_>,
        events: &'a [EventRecord],
    ) -> BoxFuture<'a, Result<(), BoxError>> {
        Box::pin(async move {
            let entries = entries(events)?;
            conn.execute(ENQUEUE_SQL, &[&entries]).await?;
            Ok(())
        })
    }
}
