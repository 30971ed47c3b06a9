//! A running runtime: stats, wake-ups, graceful shutdown.

use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::shared::Shared;
use super::stats::{Stats, StatsHandle};
use crate::error::Result;

/// The workers of one process, started by [`RuntimeBuilder::start`](super::RuntimeBuilder::start).
///
/// A cheap handle: clones share the same workers, so any part of an application (an HTTP
/// handler, a signal task) can read [`stats`](Runtime::stats) and
/// [`health`](Runtime::health) or call [`shutdown`](Runtime::shutdown). Shutting down
/// stops claiming, lets each worker finish and settle the batch in hand, and waits for
/// them. Dropping the last clone without shutting down aborts the workers mid-batch:
/// nothing is lost (their leases run out and the batches are processed again), but work
/// is repeated, hence `#[must_use]`.
#[derive(Clone)]
#[must_use = "dropping the last clone of a Runtime aborts its workers: keep it, or call run_until / shutdown"]
pub struct Runtime {
    inner: Arc<Inner>,
}

/// What the clones of a [`Runtime`] share.
struct Inner {
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// Taken by the first [`Runtime::shutdown`].
    tasks: Mutex<Vec<JoinHandle<()>>>,
    /// How many of the runtime's tasks are still running (see [`Alive`]).
    live: watch::Sender<usize>,
    started: usize,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let tasks = self.tasks.get_mut().unwrap_or_else(std::sync::PoisonError::into_inner);
        for task in tasks.iter() {
            task.abort();
        }
    }
}

/// Held by each task of a runtime and dropped when the task ends, however it ends
/// (returns, panics, or is aborted before or after it first ran): counts live tasks.
pub(crate) struct Alive(watch::Sender<usize>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.send_modify(|live| *live = live.saturating_sub(1));
    }
}

/// A runtime's state for probes, from [`Runtime::health`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// Tasks started (workers, the wake-up listener when enabled, and the heartbeat).
    pub tasks: usize,
    /// Tasks still running: fewer than `tasks` after a shutdown, or if a task died.
    pub running: usize,
    /// Whether a shutdown was asked for.
    pub stopping: bool,
}

impl Health {
    /// Ready to process: not stopping, and every task running. For a readiness probe
    /// (the database's reachability is the stats' business: [`Runtime::stats`]).
    pub fn is_ready(&self) -> bool {
        !self.stopping && self.running == self.tasks
    }
}

impl Runtime {
    /// Starts counting `tasks` live tasks; each must hold one of the [`Alive`] guards
    /// returned (moved into the task's future before it is spawned).
    pub(crate) fn guards(tasks: usize) -> (watch::Sender<usize>, Vec<Alive>) {
        let (live, _) = watch::channel(tasks);
        let guards = (0..tasks).map(|_| Alive(live.clone())).collect();
        (live, guards)
    }

    pub(crate) fn new(
        shared: Arc<Shared>,
        stop: watch::Sender<bool>,
        tasks: Vec<JoinHandle<()>>,
        live: watch::Sender<usize>,
    ) -> Self {
        let started = tasks.len();
        Runtime { inner: Arc::new(Inner { shared, stop, tasks: Mutex::new(tasks), live, started }) }
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
        StatsHandle::new(Arc::clone(&self.inner.shared))
    }

    /// Whether the runtime runs: tasks started and still running, and whether it is
    /// stopping. Reads no database.
    pub fn health(&self) -> Health {
        Health { tasks: self.inner.started, running: *self.inner.live.borrow(), stopping: *self.inner.stop.borrow() }
    }

    /// Makes idle workers look for work now (tests, or after writing to the journal by
    /// other means than the capture triggers).
    pub fn wake(&self) {
        self.inner.shared.wake.notify_waiters();
    }

    /// The names of the subscribers this runtime serves.
    pub fn subscribers(&self) -> Vec<String> {
        self.inner.shared.served.iter().map(|s| s.subscriber.spec().name.clone()).collect()
    }

    /// Stops claiming, lets each worker finish and settle its batch, and waits until every
    /// task of the runtime has stopped. Any clone may call it, as often as it likes: each
    /// call returns once the runtime has stopped.
    pub async fn shutdown(&self) {
        self.inner.stop.send_replace(true);
        let tasks = std::mem::take(&mut *self.inner.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for task in tasks {
            if let Err(error) = task.await {
                tracing::error!(%error, "a db-listenable task ended abnormally");
            }
        }
        // Tasks another call took: their guards count them down as they end.
        let mut live = self.inner.live.subscribe();
        let _ = live.wait_for(|running| *running == 0).await;
    }

    /// Runs until `signal` completes (for example [`shutdown_signal`](super::shutdown_signal)),
    /// then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) {
        signal.await;
        tracing::info!("db-listenable: stopping; finishing the batches in hand");
        self.shutdown().await;
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
