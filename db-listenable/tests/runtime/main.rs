//! The runtime against a real PostgreSQL: delivery, failure, ordering, outbox.

mod attributes;
#[cfg(feature = "cli")]
mod cli;
mod config;
mod cursors;
mod delivery;
mod failures;
mod lease;
mod lifecycle;
mod memory;
mod model;
mod ordering;
mod outbox;
mod outcomes;
mod plans;
mod pooler;
mod privileges;
mod recovery;
mod requeue;
mod rolling;
mod routing;
mod settle_in;
mod siblings;
mod startup;
mod state;
mod statistics;
#[cfg(feature = "cli")]
mod subscribers;
mod types;
mod versions;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::runtime::{Change, Context, ProcessError, Processor, RuntimeConfig};
use serde::Deserialize;
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;

/// The model most tests use.
#[derive(Debug, Clone, PartialEq, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "items")]
pub struct Item {
    /// Key.
    pub id: i64,
    /// Nullable in the table, so a NULL does not decode.
    pub name: String,
    /// Incremented by the ordering tests.
    pub qty: i32,
}

/// The `items` table.
pub const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)";

/// A fresh database with the journal and capture on `items`.
pub async fn items_db(capture: &CaptureConfig) -> (pg_harness::TestDb, PgPool) {
    let db = pg_harness::TestDb::create().await.expect("test database");
    let pool = pool(db.url(), 8).await;
    install(&pool, ITEMS_TABLE, &Item::MODEL, capture).await;
    (db, pool)
}

/// A fresh database with the journal and capture on `items`, on a cluster of its own: a
/// snapshot's `xmin` is the cluster's, so a transaction with an id left open by another
/// test (in another database) would hold the cursors' lower bound, and each new range
/// would re-read the entries since then, and its end would move their lower bound (a
/// cursor write) at any moment. Tests that count what claims read or write use it.
pub async fn private_items_db() -> (pg_harness::TestDb, sqlx::PgPool) {
    let settings = pg_harness::Settings::from_env();
    let cluster = std::sync::Arc::new(pg_harness::Cluster::start_temporary(&settings).expect("private cluster"));
    let db = pg_harness::TestDb::create_in(cluster).await.expect("database");
    let pool = pool(db.url(), 8).await;
    install(&pool, ITEMS_TABLE, &Item::MODEL, &CaptureConfig::default()).await;
    (db, pool)
}

/// A pool of at most `max` connections to `url`.
pub async fn pool(url: &str, max: u32) -> PgPool {
    PgPoolOptions::new().max_connections(max).connect(url).await.unwrap_or_else(|e| panic!("connect {url}: {e}"))
}

/// Creates the journal (idempotent), `table_sql`, and capture for `model`.
pub async fn install(pool: &PgPool, table_sql: &str, model: &db_listenable::Model, capture: &CaptureConfig) {
    let mut script = ddl::journal_script().statements().to_vec();
    script.push(table_sql.to_owned());
    script.extend(ddl::install_script(model, capture).statements().iter().cloned());
    for statement in script {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(pool).await.expect("install");
    }
}

/// Settings that make tests quick: short poll, short backoff. With `TEST_LOG` set (an
/// env-filter such as `db_listenable=debug`), the runtime's logs are printed.
pub fn fast() -> RuntimeConfig {
    if let Ok(filter) = std::env::var("TEST_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_test_writer().try_init();
    }
    RuntimeConfig::default()
        .poll_interval(Duration::from_millis(50))
        .initial_backoff(Duration::from_millis(10))
        .max_backoff(Duration::from_millis(50))
        .reconnect_backoff(Duration::from_millis(20))
}

/// Polls `condition` every 20 ms until it holds; panics with `what` after `deadline`.
pub async fn wait_for<F, Fut>(what: &str, deadline: Duration, mut condition: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let started = std::time::Instant::now();
    while !condition().await {
        assert!(started.elapsed() < deadline, "timed out after {deadline:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to 30 s) until every other session of `conn`'s database has ended: a
/// backend publishes its statistics (index entries read, function calls) as it exits.
pub async fn other_sessions_gone(conn: &mut sqlx::PgConnection) {
    let others = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()";
    let started = std::time::Instant::now();
    while sqlx::query_scalar::<_, i64>(others).fetch_one(&mut *conn).await.expect("sessions") > 0 {
        assert!(started.elapsed() < Duration::from_secs(30), "other sessions still open after 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// What a recording processor saw: every delivery, in the order it ran.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// The journal id.
    pub change: i64,
    /// The operation.
    pub op: db_listenable::runtime::Op,
    /// The row before.
    pub old: Option<Item>,
    /// The row after.
    pub new: Option<Item>,
    /// The attempt that delivered it.
    pub attempt: u32,
}

/// Records every change it is given.
#[derive(Clone, Default)]
pub struct Recorder {
    /// Every delivery so far.
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    /// Every delivery so far, in order.
    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().expect("recorder").clone()
    }

    /// How many deliveries so far.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.seen.lock().expect("recorder").len()
    }

    /// How many times each change id was seen.
    pub fn counts(&self) -> BTreeMap<i64, usize> {
        let mut counts = BTreeMap::new();
        for seen in self.all() {
            *counts.entry(seen.change).or_default() += 1;
        }
        counts
    }
}

/// Under any application state, so processors with one can delegate to it.
impl<S: Sync> Processor<Item, S> for Recorder {
    async fn process(&self, _ctx: &Context<'_, S>, change: &Change<Item>) -> Result<(), ProcessError> {
        self.seen.lock().expect("recorder").push(Seen {
            change: change.id,
            op: change.op,
            old: change.old.clone(),
            new: change.new.clone(),
            attempt: change.attempt,
        });
        Ok(())
    }
}

/// Inserts items `ids` (name `item <id>`), one statement each, each its own transaction.
pub async fn insert_items(pool: &PgPool, ids: impl IntoIterator<Item = i64>) {
    for id in ids {
        sqlx::query("INSERT INTO items (id, name) VALUES ($1, 'item ' || $1)")
            .bind(id)
            .execute(pool)
            .await
            .expect("insert item");
    }
}

/// Registers subscriber `name` of `items` by hand, its cursor at the journal's beginning,
/// as a runtime's registration would for a table's first subscriber; its id.
pub async fn subscriber_at_start(pool: &PgPool, name: &str) -> i32 {
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO db_listenable.subscribers (name, table_id, key_columns) VALUES ($1, $2, '{id}') RETURNING id",
    )
    .bind(name)
    .bind(ddl::table_id(&Item::MODEL))
    .fetch_one(pool)
    .await
    .expect("subscriber");
    sqlx::query("INSERT INTO db_listenable.cursors (subscriber_id, snap, lo, pos, hi) VALUES ($1, '1:1:', 0, 0, 0)")
        .bind(id)
        .execute(pool)
        .await
        .expect("cursor");
    id
}

/// Changes the subscribers still have to process (in flight included): their
/// deliveries, and the committed journal entries past their cursors.
pub async fn pending(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM db_listenable.deliveries)
              + (SELECT count(*) FROM db_listenable.subscribers s
                 CROSS JOIN LATERAL db_listenable.pending_entries(s.id) e)",
    )
    .fetch_one(pool)
    .await
    .expect("count what is pending")
}

/// Change ids a subscriber still has to process, in order: its deliveries, and the
/// committed journal entries past its cursor.
pub async fn pending_of(pool: &PgPool, subscriber: &str) -> Vec<i64> {
    sqlx::query_scalar(
        "SELECT d.change_id FROM db_listenable.deliveries d JOIN db_listenable.subscribers s ON s.id = d.subscriber_id
         WHERE s.name = $1
         UNION
         SELECT e.id FROM db_listenable.subscribers s CROSS JOIN LATERAL db_listenable.pending_entries(s.id) e
         WHERE s.name = $1
         ORDER BY 1",
    )
    .bind(subscriber)
    .fetch_all(pool)
    .await
    .expect("pending changes of a subscriber")
}

/// Changes claimed under a lease that has not been settled: deliveries, and the journal
/// batches held on cursors.
pub async fn leased(pool: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM db_listenable.deliveries WHERE lease_token IS NOT NULL)
              + (SELECT coalesce(sum(in_flight), 0) FROM db_listenable.cursors WHERE lease_token IS NOT NULL)",
    )
    .fetch_one(pool)
    .await
    .expect("count what is leased")
}

/// Rows left in a delivery table.
pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM db_listenable.{table}")))
        .fetch_one(pool)
        .await
        .expect("count")
}
