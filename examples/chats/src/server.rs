//! One server instance: its data directory (instance id, search index), its runtime
//! (the shared counters and its own index subscriber) and its HTTP API.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use db_listenable::runtime::{Runtime, RuntimeBuilder, RuntimeConfig, SubscribeOptions};
use sqlx::PgPool;
use tokio::net::TcpListener;

use crate::api::rate_limit::RateLimiter;
use crate::api::{self, AppState};
use crate::counters::{CHATS_COUNT, ChatsCount, MESSAGES_COUNT, MessagesCount};
use crate::instance;
use crate::model::{Chat, Message};
use crate::search::{Opened, SearchIndex, SearchIndexer};

/// Where an instance keeps its data unless `--data-dir` says otherwise: next to the
/// embedded PostgreSQL's `./.data/pg`.
pub const DEFAULT_DATA_DIR: &str = ".data/chats-index";

/// The index's directory inside an instance's data directory.
pub fn index_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("index")
}

/// The runtime settings the example runs with: quick polling, so counters and the
/// index follow within a fraction of a second even when a wake-up is missed, and
/// batches of up to 1000 changes (the runtime's default, said here because it matters):
/// the index pays a tantivy commit and reader reload per batch (about 136 ms here,
/// BENCHMARKS.md), so at 100 it fell behind a sustained 2,000 messages/s. A small
/// backlog still goes in small batches.
pub fn runtime_config() -> RuntimeConfig {
    RuntimeConfig::default().poll_interval(Duration::from_millis(200)).batch_size(1000)
}

/// The processors of one instance, ready to start: the two counters, under names shared
/// by every instance (each change is counted once), and this instance's index, under
/// its own name (every instance's index sees every change).
///
/// All three are unordered: each recomputes from the database what the rows are now, so
/// the order of changes does not matter, and a batch may then hold several changes of
/// one row.
pub fn runtime(pool: &PgPool, config: RuntimeConfig, index: Arc<SearchIndex>, instance_id: &str) -> RuntimeBuilder {
    RuntimeBuilder::new(pool.clone())
        .config(config)
        .batch_processor_with::<Chat, _>(CHATS_COUNT, ChatsCount, SubscribeOptions::unordered())
        .batch_processor_with::<Message, _>(MESSAGES_COUNT, MessagesCount, SubscribeOptions::unordered())
        .batch_processor_with::<Message, _>(
            instance::search_subscriber(instance_id),
            SearchIndexer::new(index),
            SubscribeOptions::unordered(),
        )
}

/// Whether subscriber `name` is registered. A failed look-up counts as no (rebuilding
/// is always correct); a database without the journal fails at the runtime's start.
async fn subscriber_exists(pool: &PgPool, name: &str) -> bool {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM db_listenable.subscribers WHERE name = $1)")
        .bind(name)
        .fetch_one(pool)
        .await
        .unwrap_or(false)
}

/// How many connections the kernel queues for the server before it accepts them. A
/// burst of clients (300 opening at once in the tests) overflowed the default 128 and
/// had connections dropped and reset; the kernel caps this at `net.core.somaxconn`.
pub const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with [`LISTEN_BACKLOG`].
///
/// # Errors
/// The socket's I/O error (the address in use, say).
pub fn listen(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { tokio::net::TcpSocket::new_v4()? } else { tokio::net::TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// A running instance: its processors work; [`router`](Instance::router) serves its API.
#[derive(Debug)]
pub struct Instance {
    id: String,
    pool: PgPool,
    index: Arc<SearchIndex>,
    runtime: Runtime,
    /// Reindexes asked of this instance, per application.
    reindex_limit: Arc<RateLimiter>,
    /// The operations dashboard, mounted at [`ADMIN_PATH`] when set.
    admin: Option<Router>,
}

/// Where the operations dashboard is mounted.
pub const ADMIN_PATH: &str = "/admin/changes";

/// The environment variable holding the dashboard's bearer token.
pub const ADMIN_TOKEN_VAR: &str = "CHATS_ADMIN_TOKEN";

impl Instance {
    /// Starts an instance on `data_dir`: reads (or creates) its id, opens its index, starts
    /// its processors and, when the index was missing, corrupt or never completely built
    /// (or its subscriber unknown to the database), rebuilds it from the database. A
    /// rebuild that fails here commits nothing and leaves the index marked incomplete, so
    /// the next start rebuilds it again.
    ///
    /// The subscriber is registered before the rebuild reads the database, so every
    /// change is either in what the rebuild reads or delivered afterwards.
    ///
    /// # Errors
    /// The data directory or the index cannot be opened (another process holds its
    /// writer), the runtime refuses to start (see `RuntimeBuilder::start`), or the
    /// rebuild fails.
    pub async fn start(pool: &PgPool, data_dir: &Path, config: RuntimeConfig) -> anyhow::Result<Instance> {
        let id = instance::load_or_create(data_dir)?;
        let dir = index_dir(data_dir);
        let (index, opened) = SearchIndex::open_or_create(&dir)
            .with_context(|| format!("could not open the search index in {}", dir.display()))?;
        let index = Arc::new(index);
        // A subscriber registered now only receives changes routed from now on: an index
        // kept from before (the subscriber forgotten, the database replaced) may miss
        // changes, so it is rebuilt like a missing one.
        let rebuild = match opened {
            Opened::Created { reason } => Some(reason),
            Opened::Incomplete => Some("its last full rebuild did not complete".to_owned()),
            Opened::Existing if !subscriber_exists(pool, &instance::search_subscriber(&id)).await => {
                Some(format!("the database has no subscriber for instance {id}"))
            }
            Opened::Existing => None,
        };
        let runtime = runtime(pool, config, Arc::clone(&index), &id).start().await?;
        let reindex_limit = Arc::new(RateLimiter::reindex());
        let instance = Instance { id, pool: pool.clone(), index, runtime, reindex_limit, admin: None };
        if let Some(reason) = rebuild {
            tracing::info!(dir = %dir.display(), %reason, "rebuilding the search index from the database");
            match instance.index.rebuild(pool, None).await {
                Ok(count) => tracing::info!(messages = count, "search index rebuilt"),
                Err(error) => {
                    instance.shutdown().await;
                    return Err(error).context("could not rebuild the search index");
                }
            }
        }
        Ok(instance)
    }

    /// The instance id (its index subscriber is `search_index:<id>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Its search index.
    pub fn index(&self) -> &Arc<SearchIndex> {
        &self.index
    }

    /// Its runtime (stats, wake-ups).
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Mounts `admin` (a [`db_listenable::web::Dashboard`] router) at [`ADMIN_PATH`].
    pub fn with_admin(mut self, admin: Router) -> Self {
        self.admin = Some(admin);
        self
    }

    /// The API on this instance's pool and index (and the dashboard, when mounted).
    pub fn router(&self) -> Router {
        let api = api::router(AppState {
            pool: self.pool.clone(),
            index: Arc::clone(&self.index),
            reindex_limit: Arc::clone(&self.reindex_limit),
        });
        match &self.admin {
            Some(admin) => api.nest(ADMIN_PATH, admin.clone()),
            None => api,
        }
    }

    /// Serves the API on `listener` until `shutdown` completes and the requests in flight
    /// are answered, then stops the processors (they settle the batches in hand).
    ///
    /// # Errors
    /// The server's I/O error; the processors are stopped in every case.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let served = axum::serve(listener, self.router()).with_graceful_shutdown(shutdown).await;
        self.shutdown().await;
        served
    }

    /// Stops the processors; they finish and settle the batches in hand.
    pub async fn shutdown(self) {
        self.runtime.shutdown().await;
    }
}
