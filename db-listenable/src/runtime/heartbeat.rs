//! The heartbeat: a running runtime refreshes `seen_at` of the subscribers it serves, so
//! operators can tell a subscriber nobody runs any more (an instance gone for good, a
//! processor renamed) from a live one. Such a subscriber's cursor stays where it stopped,
//! so every later change of its table is pending for it, forever, and the journal
//! partitions it has not passed are never emptied: the dashboard marks it stale and
//! `subscribers remove` (see [`super::remove_stale_subscriber`]) removes it.
//!
//! A task of its own rather than a step of the worker loop: a worker can spend minutes
//! inside one batch (up to the processing timeout), and a live subscriber must not look
//! abandoned meanwhile.

use std::sync::Arc;

use tokio::sync::watch;

use super::shared::Shared;
use super::store;
use super::subscriber::error_text;

/// Refreshes `seen_at` every [`heartbeat_interval`](super::RuntimeConfig::heartbeat_interval)
/// until shutdown. A failed refresh is logged and tried at the next beat: missing a few
/// is what the staleness threshold allows for.
pub(crate) async fn beat(shared: Arc<Shared>, mut shutdown: watch::Receiver<bool>) {
    let ids: Vec<i32> = shared.served.iter().map(|served| served.id).collect();
    let mut warned_missing = false;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(shared.config.heartbeat_interval) => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
        match store::seen(shared.db(), &ids).await {
            Ok(refreshed) => {
                let missing: Vec<&str> = shared
                    .served
                    .iter()
                    .filter(|served| !refreshed.contains(&served.id))
                    .map(|served| served.subscriber.spec().name.as_str())
                    .collect();
                // Once: the state does not change until a restart registers them again.
                if !missing.is_empty() && !warned_missing {
                    tracing::warn!(
                        subscribers = ?missing,
                        "db-listenable: subscribers of this runtime were removed from the database while it runs \
                         (`subscribers remove --force`); they receive no new changes until the runtime restarts \
                         and registers them again"
                    );
                }
                warned_missing = !missing.is_empty();
            }
            Err(error) => {
                let error = error_text(&error);
                tracing::warn!(%error, "db-listenable: could not refresh the subscribers' seen_at; trying at the next beat");
            }
        }
    }
}
