//! The `LISTEN` task: turns NOTIFYs into in-process wake-ups.

use std::sync::Arc;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use super::shared::Shared;
use super::worker::reconnect_delay;
use crate::ddl::{ROUTED_CHANNEL, WAKEUP_CHANNEL};

/// Listens on the capture and router channels until shutdown, reconnecting with backoff.
/// After each (re)connection the workers are woken once, since notifications sent while
/// disconnected are gone (the journal still has the changes; this only saves a poll).
pub(crate) async fn listen(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let mut failures: u32 = 0;
    loop {
        if *shutdown.borrow() {
            return;
        }
        match connect(&shared).await {
            Ok(mut listener) => {
                failures = 0;
                shared.wake.notify_waiters();
                loop {
                    tokio::select! {
                        received = listener.recv() => match received {
                            Ok(_) => shared.wake.notify_waiters(),
                            Err(error) => {
                                tracing::warn!(%error, "db-listenable: wake-up connection lost; polling until it is back");
                                break;
                            }
                        },
                        _ = shutdown.changed() => return,
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "db-listenable: could not LISTEN for wake-ups; polling meanwhile"),
        }
        failures = failures.saturating_add(1);
        tokio::select! {
            _ = tokio::time::sleep(reconnect_delay(shared.config.reconnect_backoff, failures)) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn connect(shared: &Shared) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(&shared.pool).await?;
    listener.listen_all([WAKEUP_CHANNEL, ROUTED_CHANNEL]).await?;
    Ok(listener)
}
