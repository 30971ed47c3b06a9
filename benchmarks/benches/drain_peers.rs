//! Drain throughput against a peer: how fast a backlog is worked through with a real
//! processor, and how our no-op drain compares with graphile-worker's in the same run.
//!
//! 1. **Invoices.** The `invoices` example on a fresh database per cell: migrated, its
//!    runtime started and stopped once (so `invoice_totals` is registered and the
//!    backlog is routed to it by the measured runtime), then N committed inserts into
//!    `invoice_items` over 1,000 invoices (`INSERT ... SELECT` in chunks of 100,000)
//!    while no runtime runs; `VACUUM (ANALYZE)` and `CHECKPOINT`. By default each
//!    invoice's items are written together (N/1,000 consecutive items per invoice, as
//!    an application creating invoices writes them), so a batch touches few invoices;
//!    `DRAIN_PEERS_ITEMS=spread` deals them out round-robin instead, the processor's
//!    worst case (every batch of 1,000 recomputes every invoice). The example's
//!    runtime (`invoices::listener::runtime`: `InvoiceTotals`, a `BatchProcessor`
//!    subscribed unordered, plus the outbox catalog) is started with the cell's workers
//!    and batch size and timed until the journal and the deliveries are empty (polled
//!    every 20 ms on a connection of its own). Then every invoice's total is checked
//!    against the sum of its items (`invoices::check::mismatches`). Workers 1, 2, 4 x
//!    batch 1, 100, 1000; batch 1 drains N/10. Pool: `recommended_connections`.
//! 2. **Ours, no-op.** drain.rs's setup (an `items` table, statement capture, a
//!    subscriber registered before N inserts), drained by a no-op `Processor` with the
//!    runtime's defaults (2 workers, batch 1000, poll 1 s, ordered) and with the fastest
//!    setting of the drain bench (2 workers, batch 1000, poll 10 ms), ordered and
//!    unordered (graphile-worker's jobs outside a named queue have no order: the
//!    unordered row is the like-for-like one).
//! 3. **graphile-worker, no-op.** `benchmarks/peers/graphile` (graphile-worker pinned in
//!    its `package.json`) is installed into `target/bench-peers/graphile` (`npm install`
//!    when missing or when `package.json` changed); its script migrates a fresh database
//!    of the same cluster, adds N jobs of a no-op task with `addJobs` before any worker
//!    runs, vacuums and checkpoints, then runs a worker with the settings of
//!    graphile-worker's performance page (concurrentJobs 24, maxPoolSize 25, localQueue
//!    500, completion batching on) and times it. Skipped, with a notice, when `node` or
//!    `npm` is missing or the install fails.
//!
//! For the comparison, "processed" is the time from start until the handler (our
//! processor, their task) has been called N times; "settled" until the queue is empty
//! (our journal and deliveries; their jobs table), since both settle after the call.
//!
//! Runs on one private cluster with PostgreSQL's durable defaults. Prints tables; not a
//! test.
//!
//! `cargo bench -p benchmarks --bench drain_peers`. Knobs (environment):
//! - `BENCH_QUICK=1`: N = 10,000, for a smoke run (figures are then noisy).
//! - `DRAIN_PEERS_BACKLOG`: N, changes or jobs per drain (default 100,000).
//! - `DRAIN_PEERS_ITEMS`: `grouped` (the default) or `spread`, how the invoices
//!   backlog's items are laid over the invoices (see 1).
//! - `DRAIN_PEERS_PARTS`: which parts run, comma-separated (`invoices,noop,graphile`, the
//!   default).
//! - `DRAIN_BENCH_LONG_TXN=rr`, `=rr-xid` or `=rr,rr-xid` (the knob of drain.rs): after
//!   the comparison, parts 2 and 3 run again while another connection holds `BEGIN
//!   ISOLATION LEVEL REPEATABLE READ; SELECT count(*) FROM items;` (`rr-xid`: then
//!   `SELECT pg_current_xact_id()`, so it holds an xid too) open from before the runtime
//!   (or the graphile-worker runner) starts until the queue is empty; printed next to
//!   the plain drains of the same run, with the ratios. graphile-worker's database gets
//!   an `items` table for it (its script holds the transaction: `LONG_TXN`).
//! - `BENCH_DURABILITY=ephemeral`: the test cluster's settings (`fsync=off`).
//!
//! Our relations are found as every table of schema `db_listenable` (drain.rs's
//! `drain/our_relations.rs`, included here by path), except what "empty" and "drained"
//! mean, which name today's tables in one place each ([`queue_empty`],
//! `our_relations::assert_nothing_pending`).

#[path = "../../db-listenable/benches/drain/long_txn.rs"]
mod long_txn;
#[path = "../../db-listenable/benches/drain/our_relations.rs"]
mod our_relations;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use benchmarks::knobs;
use benchmarks::stats::thousands;
use db_listenable::DbListenable;
use db_listenable::ddl::{self, CaptureConfig};
use db_listenable::runtime::{
    Change, Context, ProcessError, Processor, RuntimeBuilder, RuntimeConfig, SubscribeOptions, recommended_connections,
};
use pg_harness::{Cluster, TestDb};
use serde::Deserialize;
use sqlx::postgres::{PgConnection, PgPoolOptions};
use sqlx::{Connection, PgPool};
use tokio::sync::Notify;

use crate::long_txn::{LongTransaction, LongTxn};

/// Rows per `INSERT ... SELECT` while building a backlog (as in drain.rs).
const FILL_CHUNK: u64 = 100_000;

/// Invoices the invoice items of the backlog are spread over.
const INVOICES: u64 = 1_000;

/// Products the items refer to.
const PRODUCTS: u64 = 10;

/// How often idle workers poll in the tuned settings (as in drain.rs).
const FAST_POLL: Duration = Duration::from_millis(10);

/// How often the bench looks whether the queue is empty.
const EMPTY_POLL: Duration = Duration::from_millis(20);

#[tokio::main]
async fn main() {
    let knobs = Knobs::from_env();
    let cluster = Arc::new(
        Cluster::start_temporary_with(&pg_harness::Settings::from_env(), knobs::durability())
            .expect("a private PostgreSQL cluster"),
    );
    knobs.print();
    if knobs.invoices {
        invoices_matrix(&cluster, knobs.backlog, knobs.layout).await;
    }
    let ours = if knobs.noop { noop_drains(&cluster, knobs.backlog, None).await } else { Vec::new() };
    let peer = if knobs.graphile { graphile(&cluster, knobs.backlog, None).await } else { None };
    if !ours.is_empty() || peer.is_some() {
        comparison(knobs.backlog, &ours, peer.as_ref());
    }
    for &variant in &knobs.long_txn {
        let ours_held = if knobs.noop { noop_drains(&cluster, knobs.backlog, Some(variant)).await } else { Vec::new() };
        let peer_held = if knobs.graphile { graphile(&cluster, knobs.backlog, Some(variant)).await } else { None };
        let plain: Vec<&Timing> = ours.iter().chain(&peer).collect();
        let held: Vec<&Timing> = ours_held.iter().chain(&peer_held).collect();
        long_txn_comparison(knobs.backlog, variant, &plain, &held);
    }
}

// ---------------------------------------------------------------------------------------
// Knobs

/// What to run and how big, from the environment (see the crate documentation).
struct Knobs {
    quick: bool,
    /// Changes (or jobs) per drain; a tenth of it at batch size 1.
    backlog: u64,
    invoices: bool,
    /// How the invoices backlog's items are laid over the invoices.
    layout: Layout,
    noop: bool,
    graphile: bool,
    /// The long transactions parts 2 and 3 are run again under.
    long_txn: Vec<LongTxn>,
}

impl Knobs {
    /// Reads `BENCH_QUICK`, `DRAIN_PEERS_BACKLOG` and `DRAIN_PEERS_PARTS`.
    fn from_env() -> Self {
        let parts = std::env::var("DRAIN_PEERS_PARTS").unwrap_or_else(|_| "invoices,noop,graphile".to_owned());
        let has = |part: &str| parts.split(',').any(|p| p.trim() == part);
        Knobs {
            quick: knobs::quick(),
            backlog: knobs::number("DRAIN_PEERS_BACKLOG", 100_000, 10_000).max(1),
            invoices: has("invoices"),
            layout: match std::env::var("DRAIN_PEERS_ITEMS").as_deref() {
                Ok("spread") => Layout::Spread,
                _ => Layout::Grouped,
            },
            noop: has("noop"),
            graphile: has("graphile"),
            long_txn: LongTxn::from_env(),
        }
    }

    /// The run's header lines.
    fn print(&self) {
        let mode = if self.quick { "QUICK run (BENCH_QUICK): small backlog, figures are noisy" } else { "full run" };
        let parts: Vec<&str> = [(self.invoices, "invoices"), (self.noop, "noop"), (self.graphile, "graphile")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        println!("drain_peers bench: {mode}; {:?} cluster", knobs::durability());
        let held: Vec<&str> = self.long_txn.iter().map(|variant| variant.name()).collect();
        println!(
            "parts: {}; backlog {} per drain; invoices {:?}; long transactions: {}",
            parts.join(","),
            thousands(self.backlog as f64),
            self.layout,
            if held.is_empty() { "none".to_owned() } else { held.join(",") }
        );
    }
}

// ---------------------------------------------------------------------------------------
// Shared: completion and checks

/// Whether nothing is left to deliver (one snapshot): "settled"
/// (`our_relations::NOTHING_PENDING_SQL`).
async fn queue_empty(conn: &mut PgConnection) -> bool {
    sqlx::query_scalar(our_relations::NOTHING_PENDING_SQL)
        .fetch_one(conn)
        .await
        .expect("look at the journal and the deliveries")
}

/// Polls until the journal and the deliveries are empty; panics past `limit` (measured
/// from `started`).
async fn wait_until_empty(conn: &mut PgConnection, started: Instant, limit: Duration) {
    while !queue_empty(conn).await {
        if started.elapsed() > limit {
            panic!("the drain did not finish in {limit:?}");
        }
        tokio::time::sleep(EMPTY_POLL).await;
    }
}

/// Leaves the database as a backlog that built up over time would be: our tables and
/// the application's `tables` vacuumed and analysed (autovacuum's job, not the
/// drain's), its pages written by a checkpoint now rather than during the measured
/// drain.
async fn prepare_for_timing(pool: &PgPool, tables: &[&str]) {
    our_relations::vacuum_analyze(pool).await;
    for table in tables {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("VACUUM (ANALYZE) {table}")))
            .execute(pool)
            .await
            .expect("vacuum before timing");
    }
    sqlx::raw_sql("CHECKPOINT").execute(pool).await.expect("checkpoint before timing");
}

/// A size as PostgreSQL's `bigint`.
fn sql_int(n: u64) -> i64 {
    i64::try_from(n).expect("a backlog size fits bigint")
}

/// A fresh database with a pool sized for `workers` runtime workers.
async fn fresh_database(cluster: &Arc<Cluster>, config: &RuntimeConfig) -> (TestDb, PgPool) {
    let db = TestDb::create_in(Arc::clone(cluster)).await.expect("a fresh database");
    let pool =
        PgPoolOptions::new().max_connections(recommended_connections(config)).connect(db.url()).await.expect("connect");
    (db, pool)
}

// ---------------------------------------------------------------------------------------
// Part 1: the invoices processor

/// How the items of the invoices backlog are laid over the invoices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Each invoice's items consecutive: a batch touches few invoices.
    Grouped,
    /// Round-robin: a batch of 1,000 touches every invoice (the processor's worst case).
    Spread,
}

impl Layout {
    /// The invoice of item `g` (0-based) of `changes`, as SQL over `g` and `$3` (invoices).
    fn invoice_sql(self, changes: u64) -> String {
        match self {
            Layout::Grouped => format!("1 + (g * $3) / {changes}"),
            Layout::Spread => "1 + g % $3".to_owned(),
        }
    }

    /// For the table's title.
    fn describe(self) -> &'static str {
        match self {
            Layout::Grouped => "items grouped by invoice",
            Layout::Spread => "items spread round-robin over the invoices",
        }
    }
}

/// The example's settings with the cell's workers and batch size and a short poll.
fn invoices_config(workers: usize, batch_size: usize) -> RuntimeConfig {
    invoices::listener::config().workers(workers).batch_size(batch_size).poll_interval(FAST_POLL)
}

/// Workers 1, 2, 4 x batch 1, 100, 1000: prints a row per cell as it is measured.
async fn invoices_matrix(cluster: &Arc<Cluster>, backlog: u64, layout: Layout) {
    println!(
        "\ninvoices: InvoiceTotals (BatchProcessor, unordered) over {} invoices ({}), route batch {}, poll {} ms; \
         timed until journal and deliveries are empty, then every total checked",
        thousands(INVOICES as f64),
        layout.describe(),
        RuntimeConfig::default().get_route_batch_size(),
        FAST_POLL.as_millis()
    );
    println!("{:>7} {:>6} {:>10} {:>9} {:>11} {:>10}", "workers", "batch", "backlog", "seconds", "changes/s", "totals");
    for workers in [1, 2, 4] {
        for batch_size in [1, 100, 1000] {
            let shrunk = batch_size == 1;
            let changes = if shrunk { (backlog / 10).max(1) } else { backlog };
            let (seconds, checked) = invoices_drain(cluster, workers, batch_size, changes, layout).await;
            println!(
                "{:>7} {:>6} {:>10} {:>9.2} {:>11} {:>10}",
                workers,
                batch_size,
                format!("{}{}", thousands(changes as f64), if shrunk { "*" } else { "" }),
                seconds,
                thousands(changes as f64 / seconds),
                format!("{checked} ok")
            );
        }
    }
    println!("* batch size 1 drains a tenth of the backlog (one claim, one recompute, one settle per change)");
}

/// One invoices cell on a fresh database: the drain's seconds, and the invoices checked.
async fn invoices_drain(
    cluster: &Arc<Cluster>,
    workers: usize,
    batch_size: usize,
    changes: u64,
    layout: Layout,
) -> (f64, i64) {
    let config = invoices_config(workers, batch_size);
    let (db, pool) = fresh_database(cluster, &config).await;
    invoices::migrate(&pool).await.expect("migrate the invoices schema");
    // Registers `invoice_totals` (and the outbox topic): the backlog written next is
    // routed to it by the measured runtime.
    invoices::listener::runtime(&pool, config.clone())
        .start()
        .await
        .expect("start the invoices runtime to register its subscribers")
        .shutdown()
        .await;
    fill_invoices(&pool, changes, layout).await;
    prepare_for_timing(&pool, &["invoice_items", "invoices"]).await;
    let mut watcher = PgConnection::connect(db.url()).await.expect("connect the watcher");

    let started = Instant::now();
    let runtime = invoices::listener::runtime(&pool, config).start().await.expect("start the invoices runtime");
    wait_until_empty(&mut watcher, started, Duration::from_secs(300 + changes / 20)).await;
    let seconds = started.elapsed().as_secs_f64();
    runtime.shutdown().await;

    our_relations::assert_nothing_pending(&pool).await;
    let wrong = invoices::check::mismatches(&pool).await.expect("check the totals");
    assert!(wrong.is_empty(), "{} invoices have a wrong total after the drain, first: {:?}", wrong.len(), wrong[0]);
    let checked = invoices::check::invoice_count(&pool).await.expect("count the invoices");
    let with_total: i64 = sqlx::query_scalar("SELECT count(*) FROM invoices WHERE total_price_cents > 0")
        .fetch_one(&pool)
        .await
        .expect("count the invoices with a total");
    let expected = i64::try_from(changes.min(INVOICES)).expect("a few invoices");
    assert_eq!(with_total, expected, "every invoice that got items has its total");
    watcher.close().await.expect("close the watcher");
    pool.close().await;
    drop(db);
    (seconds, checked)
}

/// A user, [`PRODUCTS`] products and [`INVOICES`] invoices (not captured), then `changes`
/// committed inserts into `invoice_items` laid over the invoices as `layout` says.
async fn fill_invoices(pool: &PgPool, changes: u64, layout: Layout) {
    let setup = format!(
        "INSERT INTO users (id, name, email) VALUES (1, 'Bench', 'bench@example.com');
         INSERT INTO products (id, name, unit_price_cents)
             SELECT g, 'product ' || g, 100 * g FROM generate_series(1, {PRODUCTS}) g;
         INSERT INTO invoices (id, number, user_id)
             SELECT g, 'INV-' || lpad(g::text, 5, '0'), 1 FROM generate_series(1, {INVOICES}) g;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(setup)).execute(pool).await.expect("users, products and invoices");
    let entries_before = our_relations::journal_entries(pool).await;
    let mut written = 0;
    while written < changes {
        let last = (written + FILL_CHUNK).min(changes);
        let insert = format!(
            "INSERT INTO invoice_items (invoice_id, product_id, quantity, unit_price_cents)
             SELECT {}, 1 + g % $4, 1 + (g % 5)::int, 100 + g % 900
             FROM generate_series($1::bigint, $2::bigint) g",
            layout.invoice_sql(changes)
        );
        sqlx::query(sqlx::AssertSqlSafe(insert))
            .bind(sql_int(written))
            .bind(sql_int(last - 1))
            .bind(sql_int(INVOICES))
            .bind(sql_int(PRODUCTS))
            .execute(pool)
            .await
            .expect("build the invoice items backlog");
        written = last;
    }
    let entries_after = our_relations::journal_entries(pool).await;
    assert_eq!(entries_after.checked_sub(entries_before), Some(changes), "one journal entry per inserted item");
}

// ---------------------------------------------------------------------------------------
// Part 2: our no-op drain

/// The captured table, shaped like drain.rs's `items`.
#[derive(Debug, DbListenable, Deserialize, sqlx::FromRow)]
#[db_listenable(table = "items")]
#[expect(dead_code, reason = "decoded by the runtime (part of what is measured), never read by the no-op processor")]
struct Item {
    id: i64,
    name: String,
    qty: i32,
}

const ITEMS_TABLE: &str = "CREATE TABLE items (id bigint PRIMARY KEY, name text, qty int NOT NULL DEFAULT 0)";

/// The no-op subscriber.
const SUBSCRIBER: &str = "drain_peers_noop";

/// How many changes the processor has seen, and a signal once it has seen the backlog.
struct Progress {
    seen: AtomicU64,
    target: u64,
    done: Notify,
}

impl Progress {
    /// Waits for `target` changes.
    fn new(target: u64) -> Arc<Self> {
        Arc::new(Progress { seen: AtomicU64::new(0), target, done: Notify::new() })
    }

    /// Counts one more change as seen.
    fn record(&self) {
        let before = self.seen.fetch_add(1, Ordering::Relaxed);
        // `notify_one` keeps the permit if nobody waits yet.
        if before + 1 == self.target {
            self.done.notify_one();
        }
    }

    /// Changes seen so far.
    fn seen(&self) -> u64 {
        self.seen.load(Ordering::Relaxed)
    }
}

/// Counts and returns: the figures are the runtime's own cost.
#[derive(Clone)]
struct NoOp(Arc<Progress>);

impl Processor<Item> for NoOp {
    async fn process(&self, _ctx: &Context<'_>, _change: &Change<Item>) -> Result<(), ProcessError> {
        self.0.record();
        Ok(())
    }
}

/// One of our settings in the comparison.
struct OurSetting {
    label: &'static str,
    config: RuntimeConfig,
    /// Ordered (the default) or not: graphile-worker's jobs outside a named queue have
    /// no order, so the unordered row is the like-for-like one.
    options: SubscribeOptions,
}

impl OurSetting {
    /// `2 workers, batch 100, poll 1000 ms, ordered`.
    fn describe(&self) -> String {
        format!(
            "{} workers, batch {}, poll {} ms, {}",
            self.config.get_workers(),
            self.config.get_batch_size(),
            self.config.get_poll_interval().as_millis(),
            if self.options.ordered { "ordered" } else { "unordered" }
        )
    }
}

/// The runtime's defaults, drain.rs's fastest ordered cell, and the same unordered.
fn our_settings() -> Vec<OurSetting> {
    let fastest = RuntimeConfig::default().workers(2).batch_size(1000).poll_interval(FAST_POLL);
    vec![
        OurSetting { label: "ours, defaults", config: RuntimeConfig::default(), options: SubscribeOptions::default() },
        OurSetting { label: "ours, tuned", config: fastest.clone(), options: SubscribeOptions::default() },
        OurSetting { label: "ours, unordered", config: fastest, options: SubscribeOptions::unordered() },
    ]
}

/// A drain of N no-op changes or jobs.
struct Timing {
    label: String,
    settings: String,
    /// Start until the handler had been called N times.
    processed: f64,
    /// Start until the queue was empty.
    settled: f64,
}

/// Part 2: drains `backlog` no-op changes with each of [`our_settings`], while `hold`
/// is held when given.
async fn noop_drains(cluster: &Arc<Cluster>, backlog: u64, hold: Option<LongTxn>) -> Vec<Timing> {
    println!("\nours, no-op Processor, {} changes{}:", thousands(backlog as f64), held_label(hold));
    let mut timings = Vec::new();
    for setting in our_settings() {
        let timing = noop_drain(cluster, &setting, backlog, hold).await;
        println!(
            "  {:<16} {:<47} processed {:>7.2} s, settled {:>7.2} s ({}/s)",
            setting.label,
            timing.settings,
            timing.processed,
            timing.settled,
            thousands(backlog as f64 / timing.settled)
        );
        timings.push(timing);
    }
    timings
}

/// `, long transaction rr held` (or nothing), for titles.
fn held_label(hold: Option<LongTxn>) -> String {
    hold.map(|variant| format!(", long transaction {} held", variant.name())).unwrap_or_default()
}

/// One no-op drain on a fresh database; `hold` is opened before the runtime starts and
/// ended once the queue is empty.
async fn noop_drain(cluster: &Arc<Cluster>, setting: &OurSetting, changes: u64, hold: Option<LongTxn>) -> Timing {
    let (db, pool) = fresh_database(cluster, &setting.config).await;
    let mut script = ddl::journal_script().statements().to_vec();
    script.push(ITEMS_TABLE.to_owned());
    script.extend(ddl::install_script(&Item::MODEL, &CaptureConfig::default()).statements().iter().cloned());
    for statement in script {
        sqlx::raw_sql(sqlx::AssertSqlSafe(statement)).execute(&pool).await.expect("install capture");
    }
    // Registered before the backlog is written, so the measured runtime routes it.
    RuntimeBuilder::new(pool.clone())
        .config(setting.config.clone())
        .processor_with::<Item, _>(SUBSCRIBER, NoOp(Progress::new(u64::MAX)), setting.options)
        .start()
        .await
        .expect("start a runtime to register the subscriber")
        .shutdown()
        .await;
    let entries_before = our_relations::journal_entries(&pool).await;
    let mut written = 0;
    while written < changes {
        let last = (written + FILL_CHUNK).min(changes);
        sqlx::query(
            "INSERT INTO items (id, name) SELECT g, 'item ' || g FROM generate_series($1::bigint, $2::bigint) g",
        )
        .bind(sql_int(written + 1))
        .bind(sql_int(last))
        .execute(&pool)
        .await
        .expect("build the backlog");
        written = last;
    }
    let entries_after = our_relations::journal_entries(&pool).await;
    assert_eq!(entries_after.checked_sub(entries_before), Some(changes), "one journal entry per inserted row");
    prepare_for_timing(&pool, &[]).await;
    let mut watcher = PgConnection::connect(db.url()).await.expect("connect the watcher");

    let held = match hold {
        Some(variant) => Some(LongTransaction::open(db.url(), variant).await),
        None => None,
    };
    let progress = Progress::new(changes);
    let limit = Duration::from_secs(120 + changes / 20);
    let started = Instant::now();
    let runtime = RuntimeBuilder::new(pool.clone())
        .config(setting.config.clone())
        .processor_with::<Item, _>(SUBSCRIBER, NoOp(Arc::clone(&progress)), setting.options)
        .start()
        .await
        .expect("start the runtime");
    if tokio::time::timeout(limit, progress.done.notified()).await.is_err() {
        panic!("the drain did not finish in {limit:?}: {} of {changes} changes seen", progress.seen());
    }
    let processed = started.elapsed().as_secs_f64();
    wait_until_empty(&mut watcher, started, limit).await;
    let settled = started.elapsed().as_secs_f64();
    if let Some(held) = held {
        held.end().await;
    }
    runtime.shutdown().await;

    assert_eq!(progress.seen(), changes, "each change processed once (a lease ran out?)");
    our_relations::assert_nothing_pending(&pool).await;
    watcher.close().await.expect("close the watcher");
    pool.close().await;
    drop(db);
    Timing { label: setting.label.to_owned(), settings: setting.describe(), processed, settled }
}

// ---------------------------------------------------------------------------------------
// Part 3: graphile-worker

/// The peer's sources: `package.json` and the script.
fn peer_sources() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers").join("graphile")
}

/// Where the peer is installed: `<target>/bench-peers/graphile`.
fn peer_install_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("target"));
    target.join("bench-peers").join("graphile")
}

/// A program's `--version`, or why it could not be run.
fn version_of(program: &str) -> Result<String, String> {
    let output = Command::new(program).arg("--version").output().map_err(|e| format!("`{program}`: {e}"))?;
    if !output.status.success() {
        return Err(format!("`{program} --version` failed"));
    }
    Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
}

/// Copies the sources into the install directory and runs `npm install` when
/// `node_modules` is missing or `package.json` changed; returns the directory.
fn install_peer() -> Result<PathBuf, String> {
    let sources = peer_sources();
    let dir = peer_install_dir();
    std::fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    let wanted = std::fs::read(sources.join("package.json")).map_err(|e| format!("read package.json: {e}"))?;
    let installed = std::fs::read(dir.join("package.json")).ok();
    let has_modules = dir.join("node_modules").join("graphile-worker").join("package.json").is_file();
    std::fs::copy(sources.join("drain.js"), dir.join("drain.js")).map_err(|e| format!("copy drain.js: {e}"))?;
    if !has_modules || installed.as_deref() != Some(wanted.as_slice()) {
        std::fs::write(dir.join("package.json"), &wanted).map_err(|e| format!("write package.json: {e}"))?;
        println!("installing graphile-worker into {} (npm install)", dir.display());
        let output = Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&dir)
            .output()
            .map_err(|e| format!("run npm install: {e}"))?;
        if !output.status.success() {
            return Err(format!("npm install failed:\n{}", String::from_utf8_lossy(&output.stderr)));
        }
    }
    Ok(dir)
}

/// `key=value` of a `RESULT` line.
fn field(line: &str, key: &str) -> Option<f64> {
    line.split_whitespace().find_map(|pair| pair.strip_prefix(key)?.strip_prefix('=')?.parse().ok())
}

/// Part 3: graphile-worker draining `jobs` no-op jobs, while `hold` is held (by its
/// script) when given; `None` (with a notice) when it cannot run.
async fn graphile(cluster: &Arc<Cluster>, jobs: u64, hold: Option<LongTxn>) -> Option<Timing> {
    println!("\ngraphile-worker, no-op task, {} jobs{}:", thousands(jobs as f64), held_label(hold));
    let skip = |why: String| {
        println!("  NOTICE: graphile-worker peer skipped: {why}");
        None
    };
    let node = match version_of("node") {
        Ok(version) => version,
        Err(why) => return skip(format!("Node.js is not available ({why})")),
    };
    if let Err(why) = version_of("npm") {
        return skip(format!("npm is not available ({why})"));
    }
    let dir = match install_peer() {
        Ok(dir) => dir,
        Err(why) => return skip(why),
    };
    let db = TestDb::create_in(Arc::clone(cluster)).await.expect("a fresh database");
    let output = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let url = db.url().to_owned();
        move || {
            Command::new("node")
                .arg("drain.js")
                .current_dir(&dir)
                .env("DATABASE_URL", url)
                .env("JOBS", jobs.to_string())
                .env("LONG_TXN", hold.map_or("", LongTxn::name))
                .output()
        }
    })
    .await
    .expect("the peer's thread");
    drop(db);
    let output = match output {
        Ok(output) => output,
        Err(error) => return skip(format!("could not run node: {error}")),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let settings =
        stdout.lines().find_map(|line| line.strip_prefix("SETTINGS ")).unwrap_or("(not reported)").to_owned();
    let result = stdout.lines().find(|line| line.starts_with("RESULT "));
    let (Some(line), true) = (result, output.status.success()) else {
        return skip(format!("the script failed ({}):\n{stdout}{stderr}", output.status));
    };
    let (Some(processed), Some(settled), Some(done)) =
        (field(line, "processed_seconds"), field(line, "settled_seconds"), field(line, "jobs"))
    else {
        return skip(format!("unreadable result line: {line}"));
    };
    if done as u64 != jobs {
        return skip(format!("the script drained {done} jobs, not {jobs}"));
    }
    println!("  {settings}");
    println!("  (the configuration of https://worker.graphile.org/docs/performance; other settings at their defaults)");
    if settings.contains("graphile-worker=0.18") && node.starts_with("v20") {
        println!("  (graphile-worker 0.18 declares Node >= 22.18 in `engines`; it ran on {node})");
    }
    println!(
        "  processed {processed:>7.2} s, settled {settled:>7.2} s ({}/s); jobs table empty afterwards",
        thousands(jobs as f64 / settled)
    );
    if !stderr.trim().is_empty() {
        println!("  (stderr: {})", stderr.trim());
    }
    Some(Timing { label: "graphile-worker".to_owned(), settings, processed, settled })
}

// ---------------------------------------------------------------------------------------
// The comparison

/// Prints ours against the peer, per second and as ratios.
fn comparison(jobs: u64, ours: &[Timing], peer: Option<&Timing>) {
    println!(
        "\ndrain of {} no-op changes/jobs: processed = handler called N times; settled = queue empty",
        thousands(jobs as f64)
    );
    println!(
        "{:<16} {:>13} {:>11} {:>13} {:>11}   settings",
        "system", "processed/s", "vs peer", "settled/s", "vs peer"
    );
    let rate = |seconds: f64| jobs as f64 / seconds;
    let ratio = |ours: f64, theirs: Option<f64>| {
        theirs.map_or_else(|| "n/a".to_owned(), |theirs| format!("{:.2}x", rate(ours) / rate(theirs)))
    };
    for timing in ours.iter().chain(peer) {
        println!(
            "{:<16} {:>13} {:>11} {:>13} {:>11}   {}",
            timing.label,
            thousands(rate(timing.processed)),
            ratio(timing.processed, peer.map(|p| p.processed)),
            thousands(rate(timing.settled)),
            ratio(timing.settled, peer.map(|p| p.settled)),
            timing.settings
        );
    }
    if peer.is_none() {
        println!("(graphile-worker did not run: no ratio)");
    }
    println!("vs peer: ours/graphile-worker (above 1 means ours is ahead); both on the same cluster, one run each");
}

/// Settled per second of each system without and with the long transaction `variant`,
/// and the ratio (1 means the transaction cost nothing; issue 18's target for ours is
/// at least 0.70).
fn long_txn_comparison(jobs: u64, variant: LongTxn, plain: &[&Timing], held: &[&Timing]) {
    println!(
        "\nlong transaction {} (REPEATABLE READ{}, held from before the start until the queue is empty), {} changes/jobs, settled/s",
        variant.name(),
        if variant == LongTxn::RepeatableReadXid { " with an xid" } else { "" },
        thousands(jobs as f64)
    );
    println!("{:<16} {:>11} {:>11} {:>11}", "system", "plain", "held", "held/plain");
    let rate = |seconds: f64| jobs as f64 / seconds;
    for held in held {
        let Some(plain) = plain.iter().find(|plain| plain.label == held.label) else {
            continue;
        };
        println!(
            "{:<16} {:>11} {:>11} {:>10.2}x",
            held.label,
            thousands(rate(plain.settled)),
            thousands(rate(held.settled)),
            plain.settled / held.settled
        );
    }
}
