//! Putting a runtime together: processors, outbox catalogs, settings, state.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use serde::de::DeserializeOwned;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio::sync::{Notify, watch};

use super::config::{DriftPolicy, RuntimeConfig};
use super::handle::Runtime;
use super::processor::{BatchProcessor, ProcessError, Processor};
use super::row::ChangeRow;
use super::shared::{Counters, DeliveriesHint, JournalTurn, PickStart, Served, Shared};
use super::store;
use super::subscriber::{Batched, OutboxCatalog, Single, Subscriber};
use super::{heartbeat, wakeup, worker};
use crate::DbPool;
use crate::error::{ConfigError, Error, Result};

/// Per-subscription options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// Process the changes of one row one at a time, in commit order, across all workers
    /// (the default). The cost: a row's next change waits until the previous one is
    /// settled, so a batch holds at most one change per row, and a row in retry holds
    /// its later changes back. Off: changes run in any order and in parallel, for
    /// processors that do not care (an append-only audit log, a counter of inserts).
    pub ordered: bool,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions { ordered: true }
    }
}

impl SubscribeOptions {
    /// Changes of a row may run in any order and in parallel.
    pub fn unordered() -> Self {
        SubscribeOptions { ordered: false }
    }
}

type Dispatch = Arc<dyn Fn(pg_changeset::EventRecord) -> BoxFuture<'static, Result<(), ProcessError>> + Send + Sync>;

/// Builds a [`Runtime`]: register processors, then [`start`](RuntimeBuilder::start).
///
/// Each registration is a subscriber named by the application. The name is its
/// identity in the database (progress, retries, dead letters survive restarts under it),
/// shared by every process that registers it: workers of all those processes split its
/// deliveries. Give each independent consumer its own name: two search-index instances
/// that must each see every change are two names.
///
/// `S` is the application state every processor of this runtime receives in its
/// [`Context`](super::Context): `()` from [`new`](RuntimeBuilder::new), the given value
/// from [`with_state`](RuntimeBuilder::with_state). A processor whose state type is not
/// `S` does not compile when registered.
pub struct RuntimeBuilder<S = ()> {
    pool: PgPool,
    config: RuntimeConfig,
    subscribers: Vec<Arc<dyn Subscriber>>,
    state: Arc<S>,
    without_processor: BTreeSet<String>,
}

impl RuntimeBuilder {
    /// A runtime on `pool` with the default settings, no application state and no
    /// subscribers.
    ///
    /// The runtime shares the pool with the processors. Size it for at least
    /// [`recommended_connections`] plus what the processors use at once: the `LISTEN`
    /// task holds one connection for good, and each worker one per statement.
    pub fn new(pool: PgPool) -> Self {
        RuntimeBuilder::with_state(pool, ())
    }
}

impl<S: Send + Sync + 'static> RuntimeBuilder<S> {
    /// [`new`](RuntimeBuilder::new) with application state: every processor registered
    /// here reads it with [`Context::state`](super::Context::state) as an `&S`. Share
    /// what the application keeps elsewhere too by passing an `Arc` (or a struct of
    /// them); the runtime keeps `state` until its workers stop.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicU64, Ordering};
    ///
    /// use db_listenable::DbListenable;
    /// use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeBuilder};
    ///
    /// #[derive(DbListenable, sqlx::FromRow)]
    /// struct Message { id: i64, body: String }
    ///
    /// struct AppState { indexed: AtomicU64 }
    ///
    /// /// Reads the application's state.
    /// struct Indexer;
    ///
    /// impl Processor<Message, Arc<AppState>> for Indexer {
    ///     async fn process(&self, ctx: &Context<'_, Arc<AppState>>, _change: &Change<Message>) -> Result<(), ProcessError> {
    ///         ctx.state().indexed.fetch_add(1, Ordering::Relaxed);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// /// Needs no state, so runs under any.
    /// struct Log;
    ///
    /// impl<S: Sync> Processor<Message, S> for Log {
    ///     async fn process(&self, _ctx: &Context<'_, S>, change: &Change<Message>) -> Result<(), ProcessError> {
    ///         println!("{} message {:?}", change.op, change.row().map(|m| m.id));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// fn runtime(pool: sqlx::PgPool, state: Arc<AppState>) -> RuntimeBuilder<Arc<AppState>> {
    ///     RuntimeBuilder::with_state(pool, state)
    ///         .processor::<Message, _>("message_index", Indexer)
    ///         .processor::<Message, _>("message_log", Log)
    /// }
    /// ```
    pub fn with_state(pool: PgPool, state: S) -> Self {
        RuntimeBuilder {
            pool,
            config: RuntimeConfig::default(),
            subscribers: Vec::new(),
            state: Arc::new(state),
            without_processor: BTreeSet::new(),
        }
    }

    /// Replaces the settings (checked by [`start`](RuntimeBuilder::start)).
    pub fn config(mut self, config: RuntimeConfig) -> Self {
        self.config = config;
        self
    }

    /// Subscribes `processor` to `T`'s changes under `name`, in per-row order.
    pub fn processor<T, P>(self, name: impl Into<String>, processor: P) -> Self
    where
        T: ChangeRow,
        P: Processor<T, S>,
    {
        self.processor_with(name, processor, SubscribeOptions::default())
    }

    /// [`processor`](RuntimeBuilder::processor) with options.
    pub fn processor_with<T, P>(mut self, name: impl Into<String>, processor: P, options: SubscribeOptions) -> Self
    where
        T: ChangeRow,
        P: Processor<T, S>,
    {
        let state = Arc::clone(&self.state);
        self.subscribers.push(Arc::new(Single::<T, P, S>::new(name.into(), processor, state, options.ordered)));
        self
    }

    /// Subscribes a [`BatchProcessor`] to `T`'s changes under `name`, in per-row order.
    pub fn batch_processor<T, P>(self, name: impl Into<String>, processor: P) -> Self
    where
        T: ChangeRow,
        P: BatchProcessor<T, S>,
    {
        self.batch_processor_with(name, processor, SubscribeOptions::default())
    }

    /// [`batch_processor`](RuntimeBuilder::batch_processor) with options.
    pub fn batch_processor_with<T, P>(
        mut self,
        name: impl Into<String>,
        processor: P,
        options: SubscribeOptions,
    ) -> Self
    where
        T: ChangeRow,
        P: BatchProcessor<T, S>,
    {
        let state = Arc::clone(&self.state);
        self.subscribers.push(Arc::new(Batched::<T, P, S>::new(name.into(), processor, state, options.ordered)));
        self
    }

    /// Dispatches the outbox events of the typed catalog `C` (written by pushes with
    /// [`JournalOutbox`](super::JournalOutbox)) through `catalog`, as subscriber
    /// `outbox:<C::NAME>`.
    pub fn outbox_catalog<C: pg_changeset::Catalog>(mut self, catalog: Arc<C>) -> Self
    where
        C::Event: DeserializeOwned,
    {
        let dispatch: Dispatch = Arc::new(move |record: pg_changeset::EventRecord| {
            let catalog = Arc::clone(&catalog);
            Box::pin(async move {
                let event: C::Event = record.decode().map_err(|error| {
                    format!("could not decode event `{}` of catalog `{}`: {error}", record.name, C::NAME)
                })?;
                catalog.dispatch(&event).await
            })
        });
        let name = crate::ddl::topic_label(C::NAME);
        self.subscribers.push(Arc::new(OutboxCatalog::new(name, C::NAME, dispatch)));
        self
    }

    /// Dispatches the outbox events of a named catalog (such as
    /// [`pg_changeset::FnCatalog`]), as subscriber `outbox:<name>`.
    pub fn named_outbox_catalog(mut self, catalog: Arc<dyn pg_changeset::NamedCatalog>) -> Self {
        let catalog_name = catalog.name().to_owned();
        let dispatch: Dispatch = Arc::new(move |record: pg_changeset::EventRecord| {
            let catalog = Arc::clone(&catalog);
            Box::pin(async move {
                let event = pg_changeset::NamedEvent::new(record.name, record.payload);
                catalog.dispatch(&event).await
            })
        });
        let name = crate::ddl::topic_label(&catalog_name);
        self.subscribers.push(Arc::new(OutboxCatalog::new(name, &catalog_name, dispatch)));
        self
    }

    /// Accepts that `table` (`schema.table`) is captured with no processor anywhere;
    /// without this, [`start`](RuntimeBuilder::start) refuses such a table by name. Its
    /// changes are kept until a subscriber registers for it.
    pub fn without_processor(mut self, table: impl Into<String>) -> Self {
        self.without_processor.insert(table.into());
        self
    }

    /// Checks the database, registers the subscribers and starts the workers (and the
    /// `LISTEN` task unless wake-ups are off).
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without the journal tables; [`Error::SchemaOutdated`] for a
    /// journal schema older than this code's and [`Error::SchemaTooNew`] for a newer one
    /// that does not run it (whatever the drift policy); [`Error::Config`] for settings
    /// that cannot work ([`RuntimeConfig::validate`]) and for registrations that cannot
    /// (none at all, a subscriber name used twice);
    /// [`Error::CaptureConflict`] when models of one table disagree on its capture;
    /// [`Error::Columns`] when a model's table lacks columns it needs (whatever the drift
    /// policy); [`Error::Drift`] when the drift policy refuses; [`Error::NoProcessor`] naming each
    /// captured table nobody processes; [`Error::Database`] naming the step that failed.
    pub async fn start(self) -> Result<Runtime> {
        let RuntimeBuilder { pool, config, subscribers, state: _, without_processor } = self;
        validate(&config, &subscribers)?;
        let db = DbPool::with_prepared_statements(&pool, config.prepared_statements);
        store::ensure_installed(db).await?;
        check_schema_version(db).await?;
        let models: Vec<crate::Model> = subscribers.iter().filter_map(|s| s.spec().model).collect();
        crate::drift::check_models_sqlx(db, &models).await?;
        check_drift(db, &config, &subscribers).await?;
        let own: Vec<i32> = subscribers.iter().map(|s| s.spec().table_id).collect();
        let orphans: Vec<String> = store::captured_tables_without_subscriber(db, &own)
            .await?
            .into_iter()
            .filter(|table| !without_processor.contains(table))
            .collect();
        if !orphans.is_empty() {
            return Err(Error::NoProcessor { tables: orphans });
        }
        let mut served = Vec::with_capacity(subscribers.len());
        for subscriber in subscribers {
            let id = store::register(db, subscriber.spec()).await?;
            tracing::info!(subscriber = %subscriber.spec().name, table = %subscriber.spec().label, "subscriber registered");
            served.push(Served {
                subscriber,
                id,
                counters: Counters::default(),
                pick: PickStart::default(),
                deliveries: DeliveriesHint::default(),
                journal: JournalTurn::default(),
            });
        }
        let wanted = recommended_connections(&config);
        if pool.options().get_max_connections() < wanted {
            tracing::warn!(
                max_connections = pool.options().get_max_connections(),
                recommended = wanted,
                "db-listenable: the pool is small for the runtime's workers; changes will wait for connections"
            );
        }
        let lease_pool = lease_pool(&pool, &config);
        let shared = Arc::new(Shared {
            pool,
            lease_pool,
            config,
            served,
            wake: Notify::new(),
            maintained_at: std::sync::Mutex::new(None),
        });
        let (stop, stopped) = watch::channel(false);
        let count = shared.config.workers + usize::from(shared.config.wakeups) + 1;
        let (live, mut guards) = Runtime::guards(count);
        let mut tasks = Vec::new();
        for n in 0..shared.config.workers {
            let (alive, work) = (guards.pop(), worker::run(Arc::clone(&shared), n, stopped.clone()));
            tasks.push(tokio::spawn(async move {
                let _alive = alive;
                work.await;
            }));
        }
        if shared.config.wakeups {
            let (alive, work) = (guards.pop(), wakeup::listen(Arc::clone(&shared), stopped.clone()));
            tasks.push(tokio::spawn(async move {
                let _alive = alive;
                work.await;
            }));
        }
        let (alive, work) = (guards.pop(), heartbeat::beat(Arc::clone(&shared), stopped.clone()));
        tasks.push(tokio::spawn(async move {
            let _alive = alive;
            work.await;
        }));
        Ok(Runtime::new(shared, stop, tasks, live))
    }
}

/// Connections for lease renewals, apart from the application's pool: with processors
/// holding every connection of that pool (long transactions, or simply more processors'
/// queries than connections), a renewal waiting its turn there outlives the lease, and
/// the batch runs twice at once. Renewing on the connection a processor holds is not
/// possible: processors take connections from the pool as they please, and hold none
/// while they wait on anything else. So the runtime opens its own, from the same connect
/// options (the pool's `after_connect` hook does not run on them; renewal statements name
/// their schema): at most one per worker, since each worker renews one batch at a time,
/// opened only when a batch outlives a third of its lease and closed after a minute idle.
fn lease_pool(pool: &PgPool, config: &RuntimeConfig) -> PgPool {
    let options = (*pool.connect_options()).clone();
    PgPoolOptions::new()
        .max_connections(u32::try_from(config.workers).unwrap_or(u32::MAX).max(1))
        .min_connections(0)
        .idle_timeout(Duration::from_secs(60))
        // A renewal that cannot get a connection within the lease is too late anyway.
        .acquire_timeout(config.lease)
        .connect_lazy_with(options)
}

/// The smallest pool that does not make the runtime's own statements wait for a
/// connection: `2 * workers + 4` (the `LISTEN` connection, and room for each worker's
/// statement while another's is being returned). Processors' own use comes on top. Lease
/// renewals do not count: they have connections of their own (up to one per worker).
pub fn recommended_connections(config: &RuntimeConfig) -> u32 {
    u32::try_from(config.workers.saturating_mul(2).saturating_add(4)).unwrap_or(u32::MAX)
}

/// The registrations and the settings: one place for every refusal of `start`.
fn validate(config: &RuntimeConfig, subscribers: &[Arc<dyn Subscriber>]) -> Result<(), ConfigError> {
    if subscribers.is_empty() {
        return Err(ConfigError::NoSubscriber);
    }
    let mut names = BTreeSet::new();
    for subscriber in subscribers {
        if !names.insert(subscriber.spec().name.as_str()) {
            return Err(ConfigError::DuplicateSubscriber { name: subscriber.spec().name.clone() });
        }
    }
    config.validate()
}

async fn check_drift(db: DbPool<'_>, config: &RuntimeConfig, subscribers: &[Arc<dyn Subscriber>]) -> Result<()> {
    if config.drift == DriftPolicy::Skip {
        return Ok(());
    }
    let mut models: Vec<crate::Model> = subscribers.iter().filter_map(|s| s.spec().model).collect();
    models.sort_by_key(|m| (m.schema, m.table));
    models.dedup();
    let mut report = crate::drift::check_sqlx(db, &models, &config.capture).await?;
    // Tables captured for models this runtime does not process are not its business here
    // (the no-processor check covers them).
    report.drifts.retain(|drift| !matches!(drift, crate::drift::Drift::Extra { .. }));
    if report.is_clean() {
        return Ok(());
    }
    match config.drift {
        DriftPolicy::Compatible if report.is_compatible() => {
            tracing::warn!(
                report = %report,
                "db-listenable: capture installed by other code provides what these models need; starting"
            );
            Ok(())
        }
        DriftPolicy::Compatible | DriftPolicy::Refuse => Err(Error::Drift { report }),
        DriftPolicy::Warn | DriftPolicy::Skip => {
            tracing::warn!(report = %report, "db-listenable: installed capture differs from the code; starting anyway");
            Ok(())
        }
    }
}

/// Refuses a journal layout this code cannot run against (see [`crate::ddl::SchemaVersion`]).
async fn check_schema_version(db: DbPool<'_>) -> Result<()> {
    match crate::drift::schema_version_sqlx(db).await? {
        Some(version) => version.check(),
        None => Err(Error::NotInstalled),
    }
}
