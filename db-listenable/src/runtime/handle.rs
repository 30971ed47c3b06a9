//! A running runtime: stats, wake-ups, graceful shutdown.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::shared::Shared;
use super::stats::{Stats, StatsHandle};
use crate::error::Result;

/// The workers of one process, started by [`RuntimeBuilder::start`](super::RuntimeBuilder::start).
///
/// Stop it with [`shutdown`](Runtime::shutdown) (or [`run_until`](Runtime::run_until)):
/// workers stop claiming, finish and settle the batch in hand, and return. Dropping it
/// without shutting down aborts the workers mid-batch: nothing is lost (their leases
/// run out and the batches are processed again), but work is repeated.
pub struct Runtime {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Runtime {
    pub(crate) fn new(shared: Arc<Shared>, stop: watch::Sender<bool>, tasks: Vec<JoinHandle<()>>) -> Self {
        Runtime { shared, stop, tasks }
    }

    /// Every subscriber's backlog in the database, with this process's processing rates.
    ///
    /// # Errors
    /// [`Error::Database`](crate::Error::Database) if the counts cannot be read.
    pub async fn stats(&self) -> Result<Stats> {
        self.stats_handle().stats().await
    }

    /// A handle on this runtime's figures that can be kept (a dashboard, a metrics
    /// endpoint) independently of the runtime's lifetime.
    pub fn stats_handle(&self) -> StatsHandle {
        StatsHandle::new(Arc::clone(&self.shared))
    }

    /// Makes idle workers look for work now (tests, or after writing to the journal by
    /// other means than the capture triggers).
    pub fn wake(&self) {
        self.shared.wake.notify_waiters();
    }

    /// The names of the subscribers this runtime serves.
    pub fn subscribers(&self) -> Vec<String> {
        self.shared.served.iter().map(|s| s.subscriber.spec().name.clone()).collect()
    }

    /// Stops claiming, lets each worker finish and settle its batch, and waits for them.
    pub async fn shutdown(mut self) {
        // Receivers may all be gone already (tasks ended); nothing to signal then.
        let _ = self.stop.send(true);
        for task in std::mem::take(&mut self.tasks) {
            if let Err(error) = task.await {
                tracing::error!(%error, "a db-listenable task ended abnormally");
            }
        }
    }

    /// Runs until `signal` completes (for example [`shutdown_signal`](super::shutdown_signal)),
    /// then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("db-listenable: stopping; finishing the batches in hand");
        self.shutdown().await;
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("subscribers", &self.subscribers()).finish_non_exhaustive()
    }
}

/// Completes on Ctrl-C (SIGINT) or, on Unix, SIGTERM: what a service stops on.
///
/// The handlers are installed when this function is called, not when the future is first
/// polled: call it before announcing readiness, so a signal sent right after the
/// announcement stops the service cleanly instead of killing it. A handler that cannot
/// be installed is left out (the other still works).
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        async fn received(stream: Option<Signal>) {
            match stream {
                Some(mut stream) => {
                    stream.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        }
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        async move {
            tokio::select! {
                () = received(terminate) => {}
                () = received(interrupt) => {}
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}
