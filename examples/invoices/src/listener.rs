//! The runtime of the example: the totals processor and the outbox's catalog.

use std::sync::Arc;
use std::time::Duration;

use db_listenable::runtime::{RuntimeBuilder, RuntimeConfig, SubscribeOptions};
use sqlx::PgPool;

use crate::invoicing::Notifications;
use crate::model::InvoiceItem;
use crate::totals::{InvoiceTotals, SUBSCRIBER};

/// The settings the example runs with: quick polling, so a demo never waits long
/// even with wake-ups lost.
pub fn config() -> RuntimeConfig {
    RuntimeConfig::default().poll_interval(Duration::from_millis(200))
}

/// [`config`] for a pooler in transaction mode (PgBouncer before 1.21): no `LISTEN` (a
/// session), statements unprepared.
pub fn config_behind_pooler() -> RuntimeConfig {
    config().wakeups(false).prepared_statements(false)
}

/// The example's runtime, ready to start: invoice totals, and the invoicing outbox.
pub fn runtime(pool: &PgPool, config: RuntimeConfig) -> RuntimeBuilder {
    let notifications = Notifications::new(pool.clone()).prepared_statements(config.get_prepared_statements());
    RuntimeBuilder::new(pool.clone())
        .config(config)
        .batch_processor_with::<InvoiceItem, _>(SUBSCRIBER, InvoiceTotals, SubscribeOptions::unordered())
        .outbox_catalog(Arc::new(notifications))
}

/// `invoices listen`: processes changes until Ctrl-C or SIGTERM, then finishes the batch
/// in hand and returns. `behind_pooler`: `DATABASE_URL` is a pooler in transaction mode;
/// the migrations (which hold a session lock) are left to a direct connection.
pub async fn listen(data_dir: Option<&std::path::Path>, behind_pooler: bool) -> anyhow::Result<()> {
    let db = crate::database::open_with(data_dir, pg_harness::Lifetime::StopWhenDropped, behind_pooler).await?;
    let config = if behind_pooler {
        config_behind_pooler()
    } else {
        crate::migrate(&db.pool).await?;
        config()
    };
    let runtime = runtime(&db.pool, config).start().await?;
    // Handlers installed before announcing readiness: a SIGTERM right after it stops cleanly.
    let stop = db_listenable::runtime::shutdown_signal();
    println!("listening for changes to invoice_items on {} (Ctrl-C to stop)", db.url);
    runtime.run_until(stop).await;
    println!("stopped");
    db.pool.close().await;
    Ok(())
}
